//! Lock files: one run at a time on an output directory, one writer at a time on a users
//! database. An advisory `flock` on a small file next to what it guards; the kernel releases it
//! when the process ends, however it ends, so a killed run never leaves a lock behind. The file
//! holds the holder's process id, for the message another run prints. It is removed when the
//! lock is released; a run that finds the file but not the lock simply takes it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A held lock; released (and its file removed) when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; its process id when the lock file says.
    Held(Option<u32>),
    Io(std::io::Error),
}

impl Lock {
    /// Takes the lock at `path` (creating the file), or says who holds it; never waits.
    pub fn try_acquire(path: &Path) -> Result<Lock, LockError> {
        Lock::acquire(path, false)
    }

    /// Takes the lock at `path`, waiting while another process holds it.
    pub fn wait(path: &Path) -> Result<Lock, LockError> {
        Lock::acquire(path, true)
    }

    fn acquire(path: &Path, wait: bool) -> Result<Lock, LockError> {
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(LockError::Io)?;
            let locked = if wait {
                file.lock().map_err(LockError::Io)
            } else {
                match file.try_lock() {
                    Ok(()) => Ok(()),
                    Err(TryLockError::WouldBlock) => {
                        let mut text = String::new();
                        let _ = file.read_to_string(&mut text);
                        return Err(LockError::Held(text.trim().parse().ok()));
                    }
                    Err(TryLockError::Error(e)) => Err(LockError::Io(e)),
                }
            };
            locked?;
            // The holder we waited for removes the file as it lets go, and a third process
            // may have created a new one meanwhile: the lock counts only on the file that is
            // still at `path`.
            let same = match (file.metadata(), std::fs::metadata(path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                continue;
            }
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "{}", std::process::id());
            return Ok(Lock { file, path: path.to_path_buf() });
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held, so nobody can take a lock on a file about to disappear;
        // closing the file then releases the lock.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_with_the_holders_pid_and_free_again_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".x.lock");
        let held = Lock::try_acquire(&path).unwrap();
        match Lock::try_acquire(&path) {
            Err(LockError::Held(pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(!path.exists(), "the lock file goes with the lock");
        // A file left by a killed holder carries no lock.
        std::fs::write(&path, "12345").unwrap();
        let again = Lock::try_acquire(&path).unwrap();
        drop(again);
    }
}
