//! Report: writes what the run found. Every file goes to a temporary name in the output
//! directory first and is renamed into place only after all of them were written, so a run
//! that dies (or a full disk) leaves the previous reports as they were. Previous stage:
//! `meetings`.

pub mod summary;
pub mod tables;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// Report files staged in the output directory, renamed into place together by [`commit`].
pub struct Staged {
    dir: PathBuf,
    files: Vec<(NamedTempFile, &'static str)>,
}

impl Staged {
    pub fn new(dir: &Path) -> Staged {
        Staged { dir: dir.to_path_buf(), files: Vec::new() }
    }

    /// Writes one report to a temporary file next to its final name.
    pub fn write(
        &mut self,
        name: &'static str,
        body: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
    ) -> Result<()> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .with_context(|| format!("cannot create a file in {}", self.dir.display()))?;
        {
            let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
            body(&mut w).with_context(|| format!("cannot write {name}"))?;
            w.flush().with_context(|| format!("cannot write {name}"))?;
        }
        tmp.as_file().sync_all().with_context(|| format!("cannot write {name}"))?;
        self.files.push((tmp, name));
        Ok(())
    }

    /// Renames every staged file into place.
    pub fn commit(self) -> Result<()> {
        for (tmp, name) in self.files {
            let target = self.dir.join(name);
            tmp.persist(&target).with_context(|| format!("cannot replace {}", target.display()))?;
        }
        Ok(())
    }
}
