//! Report: writes what the run found. Every report is written into a new directory, and that
//! directory takes the place of `--out` in one step once all of them are complete
//! ([`outdir`]), so a run that dies (or a full disk) leaves the previous reports as they were.
//! Previous stage: `analyze`.

pub mod audit;
pub mod breakdowns;
pub mod html;
pub mod outdir;
pub mod page;
pub mod readable;
pub mod reuse;
pub mod summary;
pub mod tables;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::analyze::coverage::Window;
use crate::analyze::meetings::Meetings;
use crate::analyze::users::UsersDb;
use crate::state::files::FileReport;
use crate::state::partial::Partial;

/// Every report a run writes into `--out`, in one place: its file name and its writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Organizers,
    Attendees,
    Disconnections,
    Summary,
    Truncation,
    Redownload,
    RedownloadScript,
    Errors,
    Networks,
    Clients,
    Timeline,
    Html,
}

/// What the writers draw on.
pub struct Inputs<'a> {
    pub fields: &'a tables::Fields<'a>,
    pub users: Option<&'a UsersDb>,
    pub meetings: &'a Meetings,
    pub summary: &'a summary::Summary,
    pub files: &'a [FileReport],
    pub windows: &'a [Window],
    pub partial: &'a Partial,
    /// Where the drops are, and the page: for the reports that [`Report::needs_breakdowns`].
    pub breakdowns: Option<&'a crate::analyze::breakdown::Breakdowns<'a>>,
    pub page: Option<&'a PageOf<'a>>,
    pub excel_safe: bool,
    /// With `--state`: the rows of unchanged meetings, from the previous reports.
    pub reuse: Option<&'a reuse::Reuse>,
}

/// Builds the page from the breakdowns: called by the task that writes it.
pub type PageOf<'a> = dyn Fn(&crate::analyze::breakdown::Breakdowns<'_>) -> html::Page + Sync + 'a;

impl Report {
    pub const ALL: [Report; 12] = [
        Report::Organizers,
        Report::Attendees,
        Report::Disconnections,
        Report::Summary,
        Report::Truncation,
        Report::Redownload,
        Report::RedownloadScript,
        Report::Errors,
        Report::Networks,
        Report::Clients,
        Report::Timeline,
        Report::Html,
    ];

    pub const NAMES: [&'static str; 12] = [
        tables::ORGANIZERS,
        tables::ATTENDEES,
        tables::DISCONNECTIONS,
        summary::SUMMARY,
        audit::TRUNCATION,
        audit::REDOWNLOAD,
        audit::REDOWNLOAD_SCRIPT,
        audit::ERRORS,
        breakdowns::NETWORKS,
        breakdowns::CLIENTS,
        breakdowns::TIMELINE,
        html::REPORT_HTML,
    ];

    pub fn name(self) -> &'static str {
        Report::NAMES[self as usize]
    }

    /// The reports of a run: with `--audit-only`, the audit alone (its records were not kept).
    pub fn of_run(audit_only: bool) -> Vec<Report> {
        let audit =
            [Report::Truncation, Report::Redownload, Report::RedownloadScript, Report::Errors];
        if audit_only {
            audit.to_vec()
        } else {
            Report::ALL.to_vec()
        }
    }

    /// The reports drawn from the breakdowns (networks, clients, hours) and the page.
    pub fn needs_breakdowns(self) -> bool {
        matches!(self, Report::Networks | Report::Clients | Report::Timeline | Report::Html)
    }

    pub fn write(self, w: &mut BufWriter<Writeback<'_>>, i: &Inputs<'_>) -> Result<()> {
        let missing = || anyhow::anyhow!("{}: written without its data", self.name());
        let breakdowns = || i.breakdowns.ok_or_else(missing);
        let reuse = |name: &str| i.reuse.and_then(|r| r.table(name));
        match self {
            Report::Organizers => {
                tables::write_organizers(w, i.fields, i.meetings, reuse(tables::ORGANIZERS))
            }
            Report::Attendees => {
                tables::write_attendees(w, i.fields, i.users, i.meetings, reuse(tables::ATTENDEES))
            }
            Report::Disconnections => {
                let reuse = reuse(tables::DISCONNECTIONS);
                tables::write_disconnections(w, i.fields, i.users, i.meetings, reuse)
            }
            Report::Summary => {
                serde_json::to_writer_pretty(&mut *w, i.summary)?;
                Ok(w.write_all(b"\n")?)
            }
            Report::Truncation => audit::write_truncation(w, i.files, i.excel_safe),
            Report::Redownload => audit::write_redownload(w, i.windows, i.excel_safe),
            Report::RedownloadScript => {
                audit::write_script(w, i.windows, env!("CARGO_PKG_VERSION"))
            }
            Report::Errors => audit::write_errors(w, i.partial, i.excel_safe),
            Report::Networks => breakdowns::write_networks(w, breakdowns()?, i.excel_safe),
            Report::Clients => breakdowns::write_clients(w, breakdowns()?, i.excel_safe),
            Report::Timeline => breakdowns::write_timeline(w, breakdowns()?),
            Report::Html => {
                let page = i.page.ok_or_else(missing)?(breakdowns()?);
                Ok(w.write_all(html::render(&page).as_bytes())?)
            }
        }
    }
}

/// Removes the temporary report files that earlier versions left behind when killed
/// (`.<report>.<random>.tmp` inside `--out`). Best effort.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = outdir::REPORT_NAMES.iter().any(|r| name.starts_with(&format!(".{r}.")));
        if ours && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes one report into the staging directory of an [`outdir::OutDir`], synced, and returns
/// its name for the commit. The staging directory is not `--out` yet, so the report is written
/// under its final name.
pub fn stage(
    dir: &Path,
    name: &'static str,
    body: impl FnOnce(&mut BufWriter<Writeback<'_>>) -> Result<()>,
) -> Result<&'static str> {
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("cannot create {name}"))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, Writeback::new(&file));
        body(&mut w).with_context(|| format!("cannot write {name}"))?;
        w.flush().with_context(|| format!("cannot write {name}"))?;
    }
    // On disk before the swap, so a crash cannot leave a complete-looking but empty report.
    file.sync_all().with_context(|| format!("cannot write {name}"))?;
    Ok(name)
}

/// A report file that asks the kernel to start writing each few megabytes to disk as soon as
/// they are written, so the sync before the swap waits for the last few only: without it the
/// kernel keeps the whole report in memory until the sync (reports stay far below its
/// background threshold), and the run then waits for all of it at once.
pub struct Writeback<'f> {
    file: &'f File,
    written: u64,
    started: u64,
}

/// How much is written before the kernel is asked to start on it.
const WRITEBACK_STEP: u64 = 8 << 20;

impl<'f> Writeback<'f> {
    pub fn new(file: &'f File) -> Writeback<'f> {
        Writeback { file, written: 0, started: 0 }
    }

    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let (offset, len) = (self.started, self.written - self.started);
        // SAFETY: sync_file_range reads no memory of ours. A range or a file it cannot take
        // only returns an error, ignored: the sync before the swap makes the report durable,
        // this only makes that sync shorter.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.started = self.written;
    }
}

impl Write for Writeback<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (&mut &*self.file).write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_STEP {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
