//! Row caps found in the archive itself. A collector that pages the audit log (a script's
//! `-ResultSize`, a connector's page size) stops its exports at a cap of its own, not at the
//! portal's 50,000 rows, and `--row-cap` is rarely set to it: such files came out `complete`.
//! The evidence is in the archive: several exports with exactly the same row count, each of
//! whose records fill only the later (or earlier) part of the window its name asks for, as
//! when an export keeps the newest (or oldest) records up to its cap.
//!
//! A complete export is marked capped here when all of these hold:
//! - its row count is a round number (a multiple of 100): the caps of real collectors are;
//! - at least [`MIN_FILES`] exports have exactly that row count;
//! - at least two of them leave [`UNCOVERED`] or more of their window uncovered at its start
//!   or at its end, and this file is one of them.
//!
//! Files of that count that fill their windows stay complete; so do files whose names give no
//! window. Applied when the reports are made (from every file's report, whatever piece of a
//! split run or night read it), and only with the default `--row-cap`: another cap given says
//! what the exports' cap is.

use std::collections::BTreeMap;

use crate::state::files::{FileReport, FileStatus};
use crate::timestamp::Ts;

/// Exports that must share a row count for it to be a cap.
pub const MIN_FILES: usize = 3;
/// The share of an export's window its records must leave uncovered at one end.
pub const UNCOVERED: f64 = 0.1;
/// Caps are round numbers: row counts that are not multiples of this are not one.
const ROUND: u64 = 100;

/// A cap found in the archive: its row count and the files now marked capped by it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InferredCap {
    pub rows: u64,
    pub files: u64,
}

/// Which end of its window a file's records leave uncovered, and by how many seconds.
enum Uncovered {
    Start(i64),
    End(i64),
}

fn uncovered(f: &FileReport) -> Option<Uncovered> {
    let ((start, end), earliest, latest) = (f.window?, f.earliest?, f.latest?);
    if end <= start {
        return None;
    }
    let length = (end - start + 1) as f64;
    let least = (length * UNCOVERED).ceil() as Ts;
    if earliest - start >= least {
        Some(Uncovered::Start(earliest - start))
    } else if end + 1 - latest >= least {
        // `end` is the window's last second: the window ends a second later.
        Some(Uncovered::End(end + 1 - latest))
    } else {
        None
    }
}

/// Marks the complete exports that a cap found in the archive stopped (see the module's
/// rules), in any order of `files`; returns the caps found, by row count.
pub fn infer<'a>(files: impl IntoIterator<Item = &'a mut FileReport>) -> Vec<InferredCap> {
    let mut by_rows: BTreeMap<u64, Vec<&mut FileReport>> = BTreeMap::new();
    for f in files {
        // The API's JSON has no row cap: only CSV exports can have been cut at one.
        let csv = !f.format.starts_with("json") && !f.format.starts_with("ndjson");
        if csv && f.export && f.rows >= ROUND && f.rows % ROUND == 0 {
            by_rows.entry(f.rows).or_default().push(f);
        }
    }
    let mut found = Vec::new();
    for (rows, group) in by_rows {
        if group.len() < MIN_FILES {
            continue;
        }
        let sharing = group.len();
        let late: Vec<(&mut FileReport, Uncovered)> = group
            .into_iter()
            .filter(|f| matches!(f.status, FileStatus::Complete | FileStatus::Capped))
            .filter_map(|f| uncovered(f).map(|u| (f, u)))
            .collect();
        if late.len() < 2 {
            continue;
        }
        let mut marked = 0;
        for (f, u) in late {
            if f.status != FileStatus::Complete {
                continue;
            }
            let (secs, which, kept) = match u {
                Uncovered::Start(s) => (s, "start {} after its window's start", "newest"),
                Uncovered::End(s) => (s, "end {} before its window's end", "oldest"),
            };
            f.status = FileStatus::Capped;
            f.detail = format!(
                "inferred cap: {rows} rows, as in {sharing} files of the archive, and its \
                 records {}: the export probably kept the {kept} records up to a cap",
                which.replace("{}", &duration(secs))
            );
            marked += 1;
        }
        if marked > 0 {
            found.push(InferredCap { rows, files: marked });
        }
    }
    found
}

/// `1 h 05 min`, `12 min`, `40 s`.
fn duration(secs: i64) -> String {
    match secs {
        s if s >= 3600 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse;

    fn t(s: &str) -> Ts {
        parse(s.as_bytes()).unwrap()
    }

    /// An export of the 6-hour window from `hour`, with `rows` rows from `from` to `to`
    /// (minutes into the window).
    fn export(hour: u32, rows: u64, from: i64, to: i64) -> FileReport {
        let start = t(&format!("2024-03-01T{hour:02}:00:00"));
        FileReport {
            index: hour as usize,
            name: format!("f{hour}"),
            format: "csv",
            disk_bytes: Some(1),
            csv_bytes: 1,
            rows,
            meeting_records: rows,
            earliest: Some(start + from * 60),
            latest: Some(start + to * 60),
            window: Some((start, start + 6 * 3600 - 1)),
            outside_window: 0,
            export: true,
            status: FileStatus::Complete,
            detail: String::new(),
        }
    }

    fn statuses(files: &[FileReport]) -> Vec<&'static str> {
        files.iter().map(|f| f.status.name()).collect()
    }

    #[test]
    fn a_shared_round_count_with_late_starts_is_a_cap_and_a_full_window_of_it_is_not() {
        let mut files = vec![
            // 2,000 rows from 4 h into the window: the newest records were kept.
            export(0, 2000, 240, 359),
            export(6, 2000, 200, 359),
            // The same count filling its window: complete.
            export(12, 2000, 1, 358),
            // Its records end 3 h before the window's end: the oldest were kept.
            export(18, 2000, 0, 180),
            export(1, 1234, 240, 359),
        ];
        let found = infer(files.iter_mut());
        assert_eq!(found, [InferredCap { rows: 2000, files: 3 }]);
        assert_eq!(statuses(&files), ["capped", "capped", "complete", "capped", "complete"]);
        assert_eq!(
            files[0].detail,
            "inferred cap: 2000 rows, as in 4 files of the archive, and its records start \
             4 h 00 min after its window's start: the export probably kept the newest records up \
             to a cap"
        );
        assert!(files[3].detail.contains("records end 3 h 00 min before its window's end"));
        assert!(files[3].detail.contains("kept the oldest records"));
    }

    #[test]
    fn too_few_files_odd_counts_and_files_without_windows_stay_complete() {
        // Two files share a count: not enough.
        let mut two = vec![export(0, 2000, 240, 359), export(6, 2000, 240, 359)];
        assert_eq!(infer(two.iter_mut()), []);
        // Three share a count that is not round.
        let mut odd =
            vec![export(0, 2001, 240, 359), export(6, 2001, 240, 359), export(12, 2001, 240, 359)];
        assert_eq!(infer(odd.iter_mut()), []);
        // Three share a round count, but only one leaves its window's start uncovered.
        let mut one =
            vec![export(0, 500, 240, 359), export(6, 500, 1, 359), export(12, 500, 0, 358)];
        assert_eq!(infer(one.iter_mut()), []);
        // A window that ends before it starts says nothing either.
        let mut reversed =
            vec![export(0, 500, 240, 359), export(6, 500, 240, 359), export(12, 500, 240, 359)];
        for f in &mut reversed {
            f.window = f.window.map(|(s, _)| (s - 1, s - 3600));
        }
        assert_eq!(infer(reversed.iter_mut()), []);
        // No window in the names: nothing to measure against.
        let mut unnamed =
            vec![export(0, 500, 240, 359), export(6, 500, 240, 359), export(12, 500, 240, 359)];
        for f in &mut unnamed {
            f.window = None;
        }
        assert_eq!(infer(unnamed.iter_mut()), []);
        for files in [&two, &odd, &one, &unnamed] {
            assert!(files.iter().all(|f| f.status == FileStatus::Complete));
        }
    }

    #[test]
    fn files_capped_at_the_row_cap_count_toward_the_pattern_and_stay_as_they_are() {
        let mut files =
            vec![export(0, 5000, 240, 359), export(6, 5000, 240, 359), export(12, 5000, 240, 359)];
        files[0].status = FileStatus::Capped;
        files[0].detail = "5000 rows, a known export cap".into();
        assert_eq!(infer(files.iter_mut()), [InferredCap { rows: 5000, files: 2 }]);
        assert_eq!(files[0].detail, "5000 rows, a known export cap");
        assert_eq!(statuses(&files), ["capped", "capped", "capped"]);
    }
}
