//! The output directory (`--out`): one run at a time, and the whole set of reports replaced in
//! one step, so nobody ever reads organizers.csv from one run beside attendees.csv from another.
//!
//! A run writes its reports into a new directory next to `--out`
//! (`.NAME.tala-bulk-new-PID`), syncs them, and then swaps that directory with `--out` in one
//! `renameat2(RENAME_EXCHANGE)`. The old set ends up under the new directory's name and is
//! removed. Files in `--out` that the run does not write (a users database kept there, the
//! reports of a full run beside a later `--audit-only`) are carried into the new directory
//! first, as hard links (symbolic links as copies), so nothing is moved out of the live
//! directory before the swap. A directory or other special file in `--out` cannot be carried
//! that way: such an `--out` is refused before anything is read.
//!
//! Where the file system cannot swap (NFS, for one), the old directory is renamed aside and
//! the new one into place: readers may find no `--out` for an instant, never a mix.
//!
//! A lock file beside `--out` (`.NAME.tala-bulk-lock`) keeps a second run away. Whatever a
//! killed run left next to `--out` is put right by the next run, under the lock: a complete
//! new set whose swap was interrupted is moved into place, anything else is folded back
//! (files of ours removed, other files returned to `--out`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::escape;
use crate::lock::{Lock, LockError};
use crate::messages::Ui;
use crate::testhook;

/// The names of every file tala-bulk writes into `--out`. A file of these names found in a
/// leftover directory is ours to remove, never a user's to keep.
pub const REPORT_NAMES: [&str; super::Report::ALL.len()] = super::Report::NAMES;

/// An output directory held by this run.
pub struct OutDir {
    /// `--out` as given, for messages.
    shown: String,
    /// The real directory (links resolved) and the directory that holds it.
    live: PathBuf,
    parent: PathBuf,
    name: OsString,
    /// Where this run writes its reports before the swap.
    staging: PathBuf,
    committed: bool,
    _lock: Lock,
}

/// The sibling of `--out` named `.NAME.tala-bulk-KIND`.
fn sibling(parent: &Path, name: &OsStr, kind: &str) -> PathBuf {
    let mut n = OsString::from(".");
    n.push(name);
    n.push(".tala-bulk-");
    n.push(kind);
    parent.join(n)
}

impl OutDir {
    /// Takes `out` for this run: resolves it, takes its lock (refusing if another run holds
    /// it), puts right what a killed run left, creates it if needed, and makes sure the swap
    /// can happen, all before anything is read.
    pub fn prepare(out: &Path, ui: &Ui) -> Result<OutDir> {
        let shown = escape::path(out);
        let cannot_create = {
            let shown = shown.clone();
            move || format!("cannot create output directory {shown}")
        };
        let absolute = if out.exists() {
            std::fs::canonicalize(out).with_context(&cannot_create)?
        } else {
            let name = out.file_name().ok_or_else(|| anyhow!("{shown}: not a directory name"))?;
            let parent = match out.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::create_dir_all(parent).with_context(&cannot_create)?;
            std::fs::canonicalize(parent).with_context(&cannot_create)?.join(name)
        };
        let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) else {
            bail!("{shown} cannot be the output directory: reports replace it as a whole");
        };
        let (parent, name) = (parent.to_path_buf(), name.to_os_string());
        let lock_path = sibling(&parent, &name, "lock");
        let lock = match Lock::try_acquire(&lock_path) {
            Ok(lock) => lock,
            Err(LockError::Held(pid)) => {
                let who = pid.map(|p| format!(" (process {p})")).unwrap_or_default();
                bail!(
                    "another tala-bulk run{who} is writing reports to {shown}; run again when it \
                     has finished (its lock: {})",
                    escape::path(&lock_path)
                )
            }
            Err(LockError::Io(e)) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot write in {}, the directory that holds {shown}: reports replace \
                         the output directory as a whole, next to it",
                        escape::path(&parent)
                    )
                })
            }
        };
        let staging = sibling(&parent, &name, &format!("new-{}", std::process::id()));
        let mut dir =
            OutDir { shown, live: absolute, parent, name, staging, committed: false, _lock: lock };
        dir.recover(ui)?;
        std::fs::create_dir_all(&dir.live).with_context(&cannot_create)?;
        if !std::fs::metadata(&dir.live).is_ok_and(|m| m.is_dir()) {
            bail!("{}: not a directory", dir.shown);
        }
        super::remove_stale_temporaries(&dir.live);
        dir.check_carry()?;
        dir.make_staging()?;
        Ok(dir)
    }

    /// Where the reports of this run are written before [`OutDir::commit`].
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// The directory the reports are in (until this run's replace them).
    pub fn live(&self) -> &Path {
        &self.live
    }

    /// The leftovers of killed runs, next to `--out`.
    fn leftovers(&self) -> Vec<PathBuf> {
        let mut prefix = OsString::from(".");
        prefix.push(&self.name);
        prefix.push(".tala-bulk-");
        let Ok(entries) = std::fs::read_dir(&self.parent) else { return Vec::new() };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.as_bytes().starts_with(prefix.as_bytes()))
            .filter(|n| !n.as_bytes().ends_with(b"-lock"))
            .map(|n| self.parent.join(n))
            .collect();
        found.sort();
        found
    }

    /// Puts right what a killed run left beside `--out` (we hold the lock, so no live run
    /// owns any of it). A complete set that never reached its place (killed between the two
    /// renames of the fallback) is moved there; everything else is folded back into `--out`.
    fn recover(&mut self, ui: &Ui) -> Result<()> {
        let leftovers = self.leftovers();
        if !self.live.exists() {
            let ready = leftovers.iter().find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.as_bytes();
                    n.windows(b".tala-bulk-ready-".len()).any(|w| w == b".tala-bulk-ready-")
                })
            });
            if let Some(ready) = ready {
                std::fs::rename(ready, &self.live).with_context(|| {
                    format!("cannot restore the reports of an interrupted run into {}", self.shown)
                })?;
            }
        }
        for left in self.leftovers() {
            if !self.live.exists() {
                std::fs::create_dir_all(&self.live)
                    .with_context(|| format!("cannot create output directory {}", self.shown))?;
            }
            fold(&left, &self.live, ui);
        }
        Ok(())
    }

    /// Files this run does not write are carried into the new set as hard links; a directory
    /// or a special file cannot be, and must not be moved out of `--out`, so such an `--out`
    /// is refused.
    fn check_carry(&self) -> Result<()> {
        let entries = std::fs::read_dir(&self.live)
            .with_context(|| format!("cannot read output directory {}", self.shown))?;
        for entry in entries.flatten() {
            let kind = entry.file_type().ok();
            if kind.is_some_and(|k| k.is_file() || k.is_symlink()) {
                continue;
            }
            bail!(
                "{} holds {}, which tala-bulk did not write: reports replace the output \
                 directory as a whole, so it may hold only files; choose another --out",
                self.shown,
                escape::path(Path::new(&entry.file_name()))
            );
        }
        Ok(())
    }

    fn make_staging(&self) -> Result<()> {
        let context = || {
            format!("cannot create {} next to the output directory", escape::path(&self.staging))
        };
        if self.staging.exists() {
            std::fs::remove_dir_all(&self.staging).with_context(context)?;
        }
        std::fs::create_dir(&self.staging).with_context(context)?;
        // The new directory replaces --out: it gets its mode, and its owner where we may.
        let live = std::fs::metadata(&self.live).with_context(context)?;
        let staged = std::fs::metadata(&self.staging).with_context(context)?;
        let _ = std::fs::set_permissions(
            &self.staging,
            std::fs::Permissions::from_mode(live.mode() & 0o7777),
        );
        if (staged.uid(), staged.gid()) != (live.uid(), live.gid()) {
            let _ = std::os::unix::fs::chown(&self.staging, Some(live.uid()), Some(live.gid()));
        }
        if staged.dev() != live.dev() {
            bail!(
                "{} is on another file system than the directory that holds it (a mount \
                 point?): reports replace the output directory as a whole, so choose a \
                 directory inside it",
                self.shown
            );
        }
        Ok(())
    }

    /// Replaces `--out` by the staged reports (`written`, already synced) in one step.
    pub fn commit(mut self, written: &[&str], ui: &Ui) -> Result<()> {
        let cannot = || format!("cannot replace the reports in {}", self.shown);
        self.carry_over(written).with_context(cannot)?;
        sync_dir(&self.staging).with_context(cannot)?;
        // Renamed once complete: after a crash, only a `ready` set may take the place of an
        // `--out` that went missing (see `recover`).
        let ready = sibling(&self.parent, &self.name, &format!("ready-{}", std::process::id()));
        std::fs::rename(&self.staging, &ready).with_context(cannot)?;
        self.staging = ready;
        testhook::crash_point("before-swap");
        let swapped = if testhook::forced("no-swap") {
            Err(std::io::Error::from_raw_os_error(libc::EINVAL))
        } else {
            exchange(&self.staging, &self.live)
        };
        match swapped {
            Ok(()) => {}
            Err(e) if swap_unsupported(&e) => {
                // Two renames: between them --out is missing, never half replaced.
                let old = sibling(&self.parent, &self.name, &format!("old-{}", std::process::id()));
                std::fs::rename(&self.live, &old).with_context(cannot)?;
                testhook::crash_point("between-renames");
                if let Err(e) = std::fs::rename(&self.staging, &self.live) {
                    let _ = std::fs::rename(&old, &self.live);
                    return Err(e).with_context(cannot);
                }
                self.staging = old;
            }
            Err(e) => return Err(e).with_context(cannot),
        }
        self.committed = true;
        let _ = sync_dir(&self.parent);
        testhook::crash_point("after-swap");
        // The staging name now holds the previous set.
        fold(&self.staging, &self.live, ui);
        Ok(())
    }

    /// Links every entry of `--out` that this run does not write into the staged set.
    fn carry_over(&self, written: &[&str]) -> Result<()> {
        for entry in std::fs::read_dir(&self.live)? {
            let entry = entry?;
            let name = entry.file_name();
            if written.iter().any(|w| OsStr::new(w) == name) {
                continue;
            }
            // The old set goes with the swap: a retired report is not carried into the new one.
            if super::audit::RETIRED.iter().any(|r| OsStr::new(r) == name) {
                continue;
            }
            let (from, to) = (entry.path(), self.staging.join(&name));
            let kind = entry.file_type()?;
            let shown = escape::path(Path::new(&name));
            if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)
                    .with_context(|| format!("cannot carry {shown} over"))?;
            } else if kind.is_file() {
                std::fs::hard_link(&from, &to)
                    .with_context(|| format!("cannot carry {shown} over"))?;
            } else {
                bail!("{shown} appeared in it and is not a file");
            }
        }
        Ok(())
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        // A run that stops before its swap leaves --out as it was. The staging directory holds
        // only our reports and links to files that stay in --out, so all of it can go.
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Moves what `dir` holds back into `live`, then removes `dir`: our reports and the links and
/// copies made by `carry_over` are removed; anything else goes back into `live` (a file created
/// in `--out` during the swap, or the original of a carried file) unless `live` already has
/// that name. What cannot be put back is left, with a warning.
fn fold(dir: &Path, live: &Path, ui: &Ui) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let path = entry.path();
        let target = live.join(&name);
        let ours = REPORT_NAMES.iter().chain(&super::audit::RETIRED).any(|r| OsStr::new(r) == name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let removable = match std::fs::symlink_metadata(&target) {
            Ok(there) => {
                let same_file = (there.dev(), there.ino()) == (meta.dev(), meta.ino());
                let same_link = there.file_type().is_symlink()
                    && meta.file_type().is_symlink()
                    && std::fs::read_link(&target).ok() == std::fs::read_link(&path).ok();
                (ours && !meta.is_dir()) || same_file || same_link
            }
            Err(_) if ours && !meta.is_dir() => true,
            Err(_) => {
                let _ = std::fs::rename(&path, &target);
                continue;
            }
        };
        if removable {
            let _ = std::fs::remove_file(&path);
        }
    }
    if std::fs::remove_dir(dir).is_err() && dir.exists() {
        ui.warn(format_args!(
            "{} holds files that could not be put back into {}; left as they are",
            escape::path(dir),
            escape::path(live)
        ));
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Swaps two directories in one step (Linux `renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both arguments are valid NUL-terminated paths that live across the call, and
    // renameat2 only reads them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The file system (or kernel) cannot swap directories: the two-rename fallback applies.
fn swap_unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP))
}
