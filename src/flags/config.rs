//! The checked configuration a run works from. Built by `cli`, or directly by tests and benches.

use std::path::PathBuf;

use crate::analyze::filter::IpFilter;
pub use crate::source::discover::Input;

/// The classic Purview portal export stops at this many data rows (SPEC 1).
pub const DEFAULT_ROW_CAP: u64 = 50_000;

/// What the run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Read the archive, write the reports.
    Reports,
    /// Print each record readably (`show`).
    Show {
        oneline: bool,
    },
    /// The stages of a split run (SPEC 3): plan, map one shard, merge partial states,
    /// finalize them into the reports.
    Plan {
        shards: Shards,
        buckets: u32,
    },
    Map {
        plan: PathBuf,
        shard: usize,
    },
    Merge {
        bucket: Option<u32>,
        partials: Vec<PathBuf>,
    },
    Finalize {
        partials: Vec<PathBuf>,
    },
    /// `partial dump`: a partial state as JSON lines.
    Dump {
        partial: PathBuf,
    },
    /// `state info`, `state prune`: the `--state` directory.
    StateInfo {
        dir: PathBuf,
    },
    StatePrune {
        dir: PathBuf,
    },
}

/// How `plan` sizes its shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shards {
    Count(usize),
    /// About this many input bytes each.
    Bytes(u64),
}

/// A report printed to stdout instead of writing `--out` (tala's `-o`, `-a`, `-d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdoutReport {
    Organizers,
    Attendees,
    /// The readable disconnection report.
    Disconnections,
    /// `networks.csv`.
    Networks,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub stdout_report: Option<StdoutReport>,
    /// The users database (`-u`).
    pub users: Option<PathBuf>,
    /// `--state`: the directory that keeps each file's partial state between runs.
    pub state_dir: Option<PathBuf>,
    /// Which connections count for disconnections (`-i`, `--cidr`).
    pub filter: IpFilter,
    /// `--max-gap`: seconds between a leave and the next join that still count.
    pub max_gap: Option<i64>,
    /// `--since`, `--until`: the meeting reports cover the meetings first joined in
    /// [since, until). Applied when the reports are written, so partial states do not depend
    /// on them.
    pub since: Option<crate::timestamp::Ts>,
    pub until: Option<crate::timestamp::Ts>,
    /// `--sites`: the building file that names the networks.
    pub sites: Option<PathBuf>,
    /// `--tz`: the time zone of the timeline.
    pub zone: crate::analyze::zone::Zone,
    pub inputs: Vec<Input>,
    pub out_dir: PathBuf,
    /// Worker threads, at least 1.
    pub jobs: usize,
    pub row_cap: u64,
    /// Only the truncation audit and coverage: row counts and CreationTime, no meeting reports.
    pub audit_only: bool,
    /// `--excel-safe`: text cells of the CSV reports that a spreadsheet would run as a formula
    /// get a leading `'`.
    pub excel_safe: bool,
    /// Suppresses the human summary on stderr.
    pub quiet: bool,
    /// Draws the progress bar (only when stderr is a terminal and not quiet).
    pub progress: bool,
}

/// The options that change results, as `summary.json` names them (the users database
/// aside: it is read when the reports are written, not when files are read).
#[derive(serde::Serialize)]
struct ResultOptions<'a> {
    row_cap: u64,
    audit_only: bool,
    ip_regex: Option<&'a str>,
    cidr: Vec<String>,
    max_gap_seconds: Option<i64>,
    excel_safe: bool,
}

impl Config {
    /// The options that change results as one line of canonical text: written into every
    /// partial state, and compared when partial states meet.
    pub fn result_options(&self) -> String {
        let options = ResultOptions {
            row_cap: self.row_cap,
            audit_only: self.audit_only,
            ip_regex: self.filter.regex.as_ref().map(|r| r.as_str()),
            cidr: self.filter.nets.iter().map(|n| n.to_string()).collect(),
            max_gap_seconds: self.max_gap,
            excel_safe: self.excel_safe,
        };
        serde_json::to_string(&options).unwrap_or_default()
    }

    /// A config for reading `inputs` into `out_dir` with defaults elsewhere; for tests and benches.
    pub fn new(inputs: Vec<Input>, out_dir: impl Into<PathBuf>) -> Config {
        Config {
            mode: Mode::Reports,
            stdout_report: None,
            users: None,
            state_dir: None,
            filter: IpFilter::default(),
            max_gap: None,
            since: None,
            until: None,
            sites: None,
            zone: crate::analyze::zone::Zone::default(),
            inputs,
            out_dir: out_dir.into(),
            jobs: 1,
            row_cap: DEFAULT_ROW_CAP,
            audit_only: false,
            excel_safe: false,
            quiet: true,
            progress: false,
        }
    }
}
