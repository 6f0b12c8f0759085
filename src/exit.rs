//! Exit codes, shared by the binary and the integration tests so the README table, the code and
//! the tests cannot drift apart.

/// Everything read was used.
pub const SUCCESS: u8 = 0;
/// Reports written, but some rows or files were skipped (malformed, unreadable, not an export,
/// or cut short). The summary and the warnings say which.
pub const INPUT_PROBLEMS: u8 = 1;
/// The command line was wrong; nothing was read.
pub const USAGE: u8 = 2;
/// The run could not complete (e.g. the output directory is not writable); previous reports are
/// left as they were.
pub const FATAL: u8 = 3;

/// True when the error chain ends in a closed pipe, which is how `| head` stops us.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
