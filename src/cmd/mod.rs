//! Commands: one module per thing tala-bulk can be asked to do, each composing the stages.

pub mod dump; // partial dump: a partial state as JSON lines
pub mod map; // map: one shard of a plan → a partial state
pub mod merge; // merge and finalize: partial states → one, → the reports
pub mod plan; // plan: the archive's files shared out into shards
pub mod reports; // the local run: plan → map → merge → finalize in one process
pub mod show; // show: each record readably
pub mod state; // state info, state prune: the --state directory
