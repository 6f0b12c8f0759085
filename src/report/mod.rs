//! Report: writes what the run found. Every file goes to a temporary name in the output
//! directory first and is renamed into place only after all of them were written, so a run
//! that dies (or a full disk) leaves the previous reports as they were. Previous stage:
//! `meetings`.

pub mod audit;
pub mod readable;
pub mod summary;
pub mod tables;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// Removes temporary report files a killed run left behind (`.<report>.<random>.tmp`). Best
/// effort: what cannot be removed is left for the next run.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = [
            tables::ORGANIZERS,
            tables::ATTENDEES,
            tables::DISCONNECTIONS,
            summary::SUMMARY,
            audit::TRUNCATION,
            audit::COVERAGE,
            audit::ERRORS,
        ]
        .iter()
        .any(|r| name.starts_with(&format!(".{r}.")));
        if ours && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A report written to a temporary name next to its final one, waiting for [`commit`].
pub struct StagedFile {
    tmp: NamedTempFile,
    name: &'static str,
}

/// Writes one report to a temporary file in `dir`.
pub fn stage(
    dir: &Path,
    name: &'static str,
    body: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<StagedFile> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        // tempfile's default is 0600; reports should get the usual mode (the umask applies).
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        body(&mut w).with_context(|| format!("cannot write {name}"))?;
        w.flush().with_context(|| format!("cannot write {name}"))?;
    }
    // On disk before the rename, so a crash cannot leave a renamed but empty report.
    tmp.as_file().sync_all().with_context(|| format!("cannot write {name}"))?;
    Ok(StagedFile { tmp, name })
}

/// Renames every staged file into place, once all of them were written.
pub fn commit(dir: &Path, files: Vec<StagedFile>) -> Result<()> {
    for StagedFile { tmp, name } in files {
        let target = dir.join(name);
        tmp.persist(&target).with_context(|| format!("cannot replace {}", target.display()))?;
    }
    Ok(())
}
