//! The run's numbers: `summary.json` for machines, a few lines on stderr for people. The human
//! summary ends with tala's two "affected out of" lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::analyze::coverage::{Analysis, Reason};
use crate::analyze::meetings::Meetings;
use crate::escape;
use crate::extract::auditdata::MEETING_OPERATION;
use crate::flags::config::Config;
use crate::state::files::{FileStatus, Skip, Warn};
use crate::state::partial::Partial;
use crate::timestamp;

pub const SUMMARY: &str = "summary.json";

/// The options that shaped the results, so a summary read weeks later can be interpreted.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Options {
    pub row_cap: u64,
    pub audit_only: bool,
    /// `-i`: the regex client IPs had to match for the disconnection rule.
    pub ip_regex: Option<String>,
    /// `--cidr`: the networks client IPs had to be in.
    pub cidr: Vec<String>,
    pub max_gap_seconds: Option<i64>,
    /// `--since`, `--until`: the meeting reports cover meetings first joined in [since, until).
    pub since: Option<String>,
    pub until: Option<String>,
    /// `-u`, as given.
    pub users_database: Option<String>,
    pub excel_safe: bool,
    /// `--sites`, as given.
    pub sites: Option<String>,
    /// `--tz`: the zone of the timeline's hours.
    pub time_zone: String,
}

impl Options {
    pub fn of(config: &Config) -> Options {
        Options {
            row_cap: config.row_cap,
            audit_only: config.audit_only,
            ip_regex: config.filter.regex.as_ref().map(|r| r.as_str().to_string()),
            cidr: config.filter.nets.iter().map(|n| n.to_string()).collect(),
            max_gap_seconds: config.max_gap,
            since: config.since.map(timestamp::format),
            until: config.until.map(timestamp::format),
            users_database: config.users.as_deref().map(escape::path),
            excel_safe: config.excel_safe,
            sites: config.sites.as_deref().map(escape::path),
            time_zone: config.zone.name(),
        }
    }
}

/// The building file as loaded: what `--sites` gave.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SitesInfo {
    pub file: String,
    /// Usable network ranges.
    pub ranges: u64,
    /// Malformed lines, skipped (each was warned about, with its line number).
    pub bad_lines: u64,
    /// Ranges inside another range (the longest prefix wins).
    pub overlapping_ranges: u64,
    /// Busy networks no range matched (CQD's missing subnet report), busiest first: at most
    /// [`MISSING_SHOWN`] of them, each as `network (connections)`.
    pub missing_subnets: Vec<String>,
    /// How many such networks there are, listed or not.
    pub missing_subnets_total: u64,
}

/// How many missing subnets the summary lists.
pub const MISSING_SHOWN: usize = 20;

/// Where the drops are (SPEC 4), in numbers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DropsSummary {
    /// Reconnections: the rows of disconnections.csv after the first of each group.
    pub drops: u64,
    /// Drops whose ended connection has no LeaveTime, so in no hour of timeline.csv.
    pub drops_without_leave_time: u64,
    pub networks: u64,
    pub clients: u64,
    pub hours: u64,
    pub time_zone: String,
    pub sites: Option<SitesInfo>,
}

impl DropsSummary {
    pub fn new(
        b: &crate::analyze::breakdown::Breakdowns<'_>,
        sites: Option<SitesInfo>,
        zone: &crate::analyze::zone::Zone,
    ) -> DropsSummary {
        let sites = sites.map(|mut info| {
            let missing = b.missing_subnets();
            info.missing_subnets_total = missing.len() as u64;
            info.missing_subnets = missing
                .iter()
                .take(MISSING_SHOWN)
                .map(|r| format!("{} ({})", r.cidr(), r.stat.connections))
                .collect();
            info
        });
        DropsSummary {
            drops: b.all.drops,
            drops_without_leave_time: b.drops_without_leave,
            networks: b.networks.len() as u64,
            clients: b.clients.len() as u64,
            hours: b.timeline.len() as u64,
            time_zone: zone.name(),
            sites,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub tala_bulk_version: &'static str,
    pub options: Options,
    pub files: BTreeMap<&'static str, u64>,
    pub bytes_on_disk: u64,
    pub bytes_csv: u64,
    pub rows: u64,
    pub records_by_operation: BTreeMap<String, u64>,
    pub meeting_records: u64,
    pub duplicates_dropped: u64,
    pub conflicting_duplicates: u64,
    pub rows_skipped: BTreeMap<&'static str, u64>,
    pub row_warnings: BTreeMap<&'static str, u64>,
    pub meetings: u64,
    pub attendees: u64,
    pub connections: u64,
    pub identical_connections_merged: u64,
    /// With `-i` or `--cidr`: the connections whose client IP passed the filter.
    pub connections_matching_ip_filter: Option<u64>,
    pub meetings_affected: u64,
    pub meetings_affected_percent: f64,
    pub attendees_affected: u64,
    pub attendees_affected_percent: f64,
    /// Windows of redownload.csv per reason: capped, gap, cut.
    pub redownload: BTreeMap<&'static str, u64>,
    /// Row caps found in the archive (`analyze::caps`): each with the files it marked capped.
    pub inferred_row_caps: Vec<crate::analyze::caps::InferredCap>,
    pub earliest_creation_time: Option<String>,
    pub latest_creation_time: Option<String>,
    pub jobs: usize,
    /// With `--state`: files read, reused from the state directory, and dropped since the
    /// last run. Like the timing, not part of what two runs over the same files share.
    pub state_files: Option<crate::read::cache::Counts>,
    /// With `--state`: the truncation problems (files capped, cut or unreadable; windows to
    /// export again) that the last completed run did not report.
    pub new_problems_since_last_run: Option<Vec<String>>,
    /// Drops per network, client and hour: absent with `--audit-only`.
    pub drops: Option<DropsSummary>,
    /// The only fields that vary between identical runs.
    pub elapsed_seconds: f64,
    pub mb_per_second: f64,
}

/// A percentage to one decimal, 0 when there is nothing to divide by. Rounded the way tala
/// (Python's `f"{x:.1f}"`) rounds, exact binary value with ties to even, which is also what
/// Rust's `{:.1}` does; so the number is formatted, then read back.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let text = format!("{:.1}", 100.0 * part as f64 / whole as f64);
    text.parse().unwrap_or(0.0)
}

impl Summary {
    pub fn new(
        partial: &Partial,
        meetings: &Meetings,
        coverage: &Analysis,
        config: &Config,
        elapsed_seconds: f64,
    ) -> Summary {
        let c = &partial.counts();
        let mut files: BTreeMap<&'static str, u64> = BTreeMap::new();
        files.insert("read", partial.files.len() as u64);
        for status in FileStatus::ALL {
            let n = partial.reports().filter(|f| f.status == status).count() as u64;
            files.insert(status.name(), n);
        }
        let meeting_records = c
            .by_operation
            .iter()
            .filter(|(op, _)| crate::extract::auditdata::is_meeting_operation(op))
            .map(|(_, n)| n)
            .sum();
        let mut summary = Summary {
            tala_bulk_version: env!("CARGO_PKG_VERSION"),
            options: Options::of(config),
            files,
            bytes_on_disk: c.disk_bytes,
            bytes_csv: c.csv_bytes,
            rows: c.rows,
            records_by_operation: c.by_operation.clone(),
            meeting_records,
            duplicates_dropped: partial.duplicates(),
            conflicting_duplicates: partial.conflicts(),
            rows_skipped: Skip::ALL.iter().map(|s| (s.name(), c.skipped[*s as usize])).collect(),
            row_warnings: Warn::ALL.iter().map(|w| (w.name(), c.warnings[*w as usize])).collect(),
            meetings: meetings.list.len() as u64,
            attendees: meetings.attendees(),
            connections: meetings.connections(),
            identical_connections_merged: meetings.merged_connections(),
            connections_matching_ip_filter: (!config.filter.is_empty())
                .then(|| meetings.connections_matching()),
            meetings_affected: meetings.meetings_affected(),
            meetings_affected_percent: percent(
                meetings.meetings_affected(),
                meetings.list.len() as u64,
            ),
            attendees_affected: meetings.attendees_affected(),
            attendees_affected_percent: percent(
                meetings.attendees_affected(),
                meetings.attendees(),
            ),
            redownload: Reason::ALL.iter().map(|r| (r.name(), coverage.count(*r))).collect(),
            inferred_row_caps: Vec::new(),
            earliest_creation_time: c.earliest.map(timestamp::format),
            latest_creation_time: c.latest.map(timestamp::format),
            jobs: config.jobs,
            state_files: None,
            new_problems_since_last_run: None,
            drops: None,
            elapsed_seconds: 0.0,
            mb_per_second: 0.0,
        };
        summary.clock(elapsed_seconds);
        summary
    }

    /// Rows or files that could not be used: the reason for exit code 1.
    pub fn input_problems(&self) -> u64 {
        let bad_files: u64 = FileStatus::ALL
            .iter()
            .filter(|s| s.is_problem())
            .map(|s| self.files.get(s.name()).copied().unwrap_or(0))
            .sum();
        bad_files + self.rows_skipped.values().sum::<u64>()
    }

    /// The two lines tala prints.
    pub fn affected_lines(&self) -> String {
        format!(
            "{} meetings affected out of {} ({:.1}%)\n{} attendees affected out of {} ({:.1}%)\n",
            self.meetings_affected,
            self.meetings,
            self.meetings_affected_percent,
            self.attendees_affected,
            self.attendees,
            self.attendees_affected_percent
        )
    }

    /// File statuses and coverage findings: the audit part of the human summary.
    fn files_line(&self) -> String {
        let f = |k: &str| self.files.get(k).copied().unwrap_or(0);
        let g = |k: &str| self.redownload.get(k).copied().unwrap_or(0);
        let mut s = format!(
            "  files: {} complete, {} capped, {} cut, {} empty, {} unreadable, {} not an export\n\
             \x20 re-download: {} windows ({} capped, {} gaps, {} after cut files) \
             (redownload.csv, redownload.ps1)\n",
            f("complete"),
            f("capped"),
            f("cut"),
            f("empty"),
            f("unreadable"),
            f("not-an-export"),
            g("capped") + g("gap") + g("cut"),
            g("capped"),
            g("gap"),
            g("cut")
        );
        for cap in &self.inferred_row_caps {
            let _ = writeln!(
                s,
                "  row cap found in the archive: {} rows; {} files of that count whose records \
                 leave part of their window uncovered are counted as capped",
                cap.rows, cap.files
            );
        }
        if let Some(st) = &self.state_files {
            let _ = writeln!(
                s,
                "  state: {} files read, {} reused, {} gone since the last run{}{}",
                st.read,
                st.reused,
                st.dropped,
                match st.records_loaded_from {
                    Some(n) if n < st.read + st.reused => {
                        format!("; the window's meetings' records loaded from {n} files")
                    }
                    _ => String::new(),
                },
                match st.meetings_rows_reused {
                    Some(n) if n > 0 => {
                        format!("; the rows of {n} meetings copied from the previous reports")
                    }
                    _ => String::new(),
                }
            );
        }
        if let Some(new) = &self.new_problems_since_last_run {
            let _ = writeln!(s, "  new since the last run: {} truncation problems", new.len());
            for problem in new.iter().take(10) {
                let _ = writeln!(s, "    {problem}");
            }
            if new.len() > 10 {
                let _ = writeln!(s, "    ... and {} more (summary.json)", new.len() - 10);
            }
        }
        s
    }

    /// The human summary of `--audit-only`; `written` says where the reports went.
    pub fn human_audit(&self, written: &str) -> String {
        let mut s = format!(
            "tala-bulk: audit of {} files, {:.1} MB, {} rows in {:.2} s\n",
            self.files.get("read").copied().unwrap_or(0),
            self.bytes_csv as f64 / 1e6,
            self.rows,
            self.elapsed_seconds
        );
        s.push_str(&self.files_line());
        let _ = writeln!(s, "  {written}");
        s
    }

    /// Sets the elapsed time (to the millisecond) and the speed: of every CSV byte, or with
    /// `--state` of the bytes this run read.
    pub fn clock(&mut self, seconds: f64) {
        self.elapsed_seconds = (seconds * 1000.0).round() / 1000.0;
        let bytes = self.state_files.as_ref().map_or(self.bytes_csv, |st| st.csv_bytes_read);
        self.mb_per_second =
            if seconds > 0.0 { (bytes as f64 / 1e6 / seconds).round() } else { 0.0 };
    }

    /// The human summary printed on stderr; `written` says where the reports went.
    pub fn human(&self, written: &str) -> String {
        let f = |k: &str| self.files.get(k).copied().unwrap_or(0);
        let mut s = String::new();
        // With --state, the speed is that of the files read, which the line says.
        let read = match &self.state_files {
            Some(st) => {
                format!("; {} of them read, {:.1} MB,", st.read, st.csv_bytes_read as f64 / 1e6)
            }
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "tala-bulk: {} files, {:.1} MB{read} in {:.2} s ({} MB/s, --jobs {})",
            f("read"),
            self.bytes_csv as f64 / 1e6,
            self.elapsed_seconds,
            self.mb_per_second,
            self.jobs
        );
        s.push_str(&self.files_line());
        let other: u64 = self
            .records_by_operation
            .iter()
            .filter(|(op, _)| !crate::extract::auditdata::is_meeting_operation(op))
            .map(|(_, n)| n)
            .sum();
        let skipped: u64 = self.rows_skipped.values().sum();
        let _ = writeln!(
            s,
            "  rows: {} read, {} {MEETING_OPERATION}, {} other operations, {} skipped",
            self.rows, self.meeting_records, other, skipped
        );
        let _ = writeln!(
            s,
            "  duplicates dropped: {} ({} with different content)",
            self.duplicates_dropped, self.conflicting_duplicates
        );
        let window = match (&self.options.since, &self.options.until) {
            (None, None) => String::new(),
            (Some(a), None) => format!(" first joined from {a}"),
            (None, Some(b)) => format!(" first joined before {b}"),
            (Some(a), Some(b)) => format!(" first joined from {a} to before {b}"),
        };
        let _ = writeln!(
            s,
            "  meetings{window}: {}, attendees: {}, connections: {} ({} identical merged)",
            self.meetings, self.attendees, self.connections, self.identical_connections_merged
        );
        if let Some(d) = &self.drops {
            let _ = writeln!(
                s,
                "  drops: {} reconnections, over {} networks, {} clients and {} hours ({})",
                d.drops, d.networks, d.clients, d.hours, d.time_zone
            );
            if let Some(sites) = &d.sites {
                let _ = writeln!(
                    s,
                    "  building file {}: {} ranges ({} inside another), {} bad lines; {} busy \
                     networks not in it{}",
                    sites.file,
                    sites.ranges,
                    sites.overlapping_ranges,
                    sites.bad_lines,
                    sites.missing_subnets_total,
                    match sites.missing_subnets.first() {
                        Some(top) => format!(", the busiest {top}"),
                        None => String::new(),
                    }
                );
            }
        }
        let _ = writeln!(s, "  {written}");
        s.push_str(&self.affected_lines());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::breakdown::{Breakdowns, NetworkRow, Stat};

    #[test]
    fn every_missing_subnet_is_counted_though_only_the_busiest_are_listed() {
        // 25 networks no range matched, each busy enough to count (10 + k connections).
        let networks: Vec<NetworkRow<'_>> = (0..25u64)
            .map(|k| NetworkRow {
                network: Some(format!("198.51.{k}.0/24").parse().unwrap()),
                site: None,
                stat: Stat { connections: 10 + k, ..Stat::default() },
            })
            .collect();
        let b = Breakdowns { networks, ..Breakdowns::default() };
        let info = SitesInfo { file: "sites.tsv".into(), ranges: 3, ..SitesInfo::default() };
        let d = DropsSummary::new(&b, Some(info), &crate::analyze::zone::Zone::Utc);
        let sites = d.sites.clone().unwrap();
        assert_eq!(sites.missing_subnets_total, 25);
        assert_eq!(sites.missing_subnets.len(), MISSING_SHOWN);
        assert_eq!(sites.missing_subnets[0], "198.51.24.0/24 (34)");
        let summary = Summary { drops: Some(d), ..Summary::default() };
        let human = summary.human("reports written to r");
        assert!(
            human.contains("0 bad lines; 25 busy networks not in it, the busiest 198.51.24.0/24"),
            "{human}"
        );
    }

    #[test]
    fn percent_to_one_decimal() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(7, 7), 100.0);
        // 6.25 and 31.25 are exact in binary: ties go to even, as in tala.
        assert_eq!(percent(1, 16), 6.2);
        assert_eq!(percent(5, 16), 31.2);
        assert_eq!(percent(3, 16), 18.8);
    }
}
