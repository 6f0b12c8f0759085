//! tala-bulk: Microsoft 365 Teams `MeetingParticipantDetail` audit exports in, tala's meeting,
//! attendee and disconnection reports out, for archives of thousands of files.
//!
//! The pipeline runs one way, one folder per stage:
//! `source` (discover, open, CSV scan) → `extract` (AuditData) → `state` (partial states, their
//! merge and their file format) → `analyze` (meetings, coverage, users) → `report`. `read`
//! drives the first three on worker threads; `flags` turns the command line into a checked
//! `Config`; `cmd` holds one module per command, composing the stages: the local run
//! (`reports`) is plan → map → merge → finalize in one process, and `plan`, `map`, `merge` run
//! them apart over partial-state files (SPEC 3). The folders import each other without a
//! cycle: a stage imports the stages before it, `read` and `report` also `flags`. The leaves
//! (`timestamp`, `escape`, `lex`, `lock`, `messages`, `exit`, `testhook`) depend on nothing
//! above them.

pub mod analyze; // meetings, coverage, the users database, IP filters
pub mod cmd; // one module per command: the report run, show, the stages of a split run
pub mod escape; // untrusted text and file names made safe to print
pub mod exit; // exit codes
pub mod extract; // AuditData: the full parser, the learned layouts, --audit-only's reader
pub mod flags; // the command line → a checked Config
pub(crate) mod lex; // JSON strings: where a plain run stops, what an escape stands for
pub mod lock; // lock files: one run per output directory, one writer per users database
pub mod messages; // stderr: warnings above the progress bar
pub mod read; // files → partial states on worker threads, merged into one
pub mod report; // report writers, summary, the output directory's one-step replacement
pub mod source; // discovery, opening and decoding files, the CSV scanner
pub mod state; // the partial state: records, files, counts, their merge and file format
pub mod testhook; // TALA_BULK_CRASH_AT: stop a run at a named step, for crash tests
pub mod timestamp; // AuditData times as integers

use anyhow::Result;

pub use flags::{Config, Input, Mode, StdoutReport};
pub use report::summary::Summary;

/// What a completed run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Summary,
    /// Inputs `show` could not read (the report runs count theirs in the summary).
    pub unread: u64,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        if self.summary.input_problems() + self.unread > 0 {
            exit::INPUT_PROBLEMS
        } else {
            exit::SUCCESS
        }
    }
}

/// Runs the command `config` describes.
pub fn run(config: Config) -> Result<Outcome> {
    match config.mode {
        Mode::Show { oneline } => {
            let unread = cmd::show::run(&config, oneline)?;
            Ok(Outcome { unread, ..Outcome::default() })
        }
        Mode::Reports => cmd::reports::run(config),
        Mode::Plan { .. } => cmd::plan::run(&config),
        Mode::Map { .. } => cmd::map::run(&config),
        Mode::Merge { .. } => cmd::merge::merge(&config),
        Mode::Finalize { .. } => cmd::merge::finalize(&config),
        Mode::Dump { .. } => cmd::dump::run(&config),
        Mode::StateInfo { .. } | Mode::StatePrune { .. } => cmd::state::run(&config),
    }
}
