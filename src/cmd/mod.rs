//! Commands: one module per thing tala-bulk can be asked to do, each composing the stages.

pub mod reports;
pub mod show;
