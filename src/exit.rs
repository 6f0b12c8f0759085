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
/// No audit export was found in the input (no file, or none with an AuditData column): nothing
/// was written, and previous reports are left as they were.
pub const NOTHING_READ: u8 = 4;

/// The error of a run that found no export to read. Writing reports from nothing would replace
/// yesterday's good reports with empty ones (an unmounted share, a typo in a directory, an
/// empty shell variable), so the run stops instead, saying why.
#[derive(Debug)]
pub struct NothingRead(String);

impl NothingRead {
    /// `files`: the names of the files read, none of them an export.
    pub fn new(files: &[&str], had_out_dir: bool, out_dir: &std::path::Path) -> NothingRead {
        let found = match files {
            [] => "no file was found in the named paths".to_string(),
            ["-"] => "standard input held no audit export".to_string(),
            [name] => format!(
                "{name} is not an audit export with an AuditData column (see the warning above)"
            ),
            all => format!(
                "none of the {} files found is an audit export with an AuditData column \
                 (see the warnings above)",
                all.len()
            ),
        };
        let kept = if had_out_dir {
            format!("the reports in {} were left as they were", crate::escape::path(out_dir))
        } else {
            "nothing was printed".to_string()
        };
        NothingRead(format!("nothing to report: {found}; {kept}"))
    }
}

impl std::fmt::Display for NothingRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NothingRead {}

/// True when the error chain ends in a closed pipe, which is how `| head` stops us.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
