//! Hooks for the tests of crash safety: with `TALA_BULK_CRASH_AT=NAME` in the environment, the
//! process aborts at the point of that name, as abruptly as a `kill -9` there would stop it
//! (no destructor runs, nothing is flushed). The tests use it to stop a run at each step of
//! replacing the reports and the users database and check what the next run finds. Without the
//! variable it costs one lookup per run.

use std::sync::OnceLock;

/// Aborts the process if `TALA_BULK_CRASH_AT` names this point.
pub fn crash_point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("TALA_BULK_CRASH_AT").ok());
    if at.as_deref() == Some(name) {
        std::process::abort();
    }
}

/// True if `TALA_BULK_TEST_FORCE` (a comma-separated list) names `what`: the tests use it to
/// take a path the machine would not take on its own, such as the two-rename replacement of
/// `--out` on file systems that cannot swap directories.
pub fn forced(what: &str) -> bool {
    static FORCED: OnceLock<Vec<String>> = OnceLock::new();
    FORCED
        .get_or_init(|| {
            std::env::var("TALA_BULK_TEST_FORCE")
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        })
        .iter()
        .any(|f| f == what)
}
