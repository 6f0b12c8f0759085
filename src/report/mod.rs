//! Report: writes what the run found. Every report is written into a new directory, and that
//! directory takes the place of `--out` in one step once all of them are complete
//! ([`outdir`]), so a run that dies (or a full disk) leaves the previous reports as they were.
//! Previous stage: `analyze`.

pub mod audit;
pub mod outdir;
pub mod readable;
pub mod summary;
pub mod tables;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

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
    body: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<&'static str> {
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("cannot create {name}"))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        body(&mut w).with_context(|| format!("cannot write {name}"))?;
        w.flush().with_context(|| format!("cannot write {name}"))?;
    }
    // On disk before the swap, so a crash cannot leave a complete-looking but empty report.
    file.sync_all().with_context(|| format!("cannot write {name}"))?;
    Ok(name)
}
