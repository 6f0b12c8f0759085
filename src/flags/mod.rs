//! Flags: the command line as clap parses it (`args`), turned into the checked [`Config`] a run
//! works from (`config`), as ripgrep splits its low-level and high-level arguments.

pub mod args;
pub mod config;

pub use args::{parse_args, ArgsOutcome};
pub use config::{Config, Input, Mode, Shards, StdoutReport, DEFAULT_ROW_CAP};
