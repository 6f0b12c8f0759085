//! Users database (SPEC 2.2, tala's `-u FILE`): headerless `UUID,EMAIL` lines. Loaded before the
//! run (created if missing), it fills attendee_email; the run teaches it organizer
//! `UserKey → UserId` and attendee `UserObjectId → UPN`. It is written back only when something
//! new was learned, atomically (temp file + rename): existing lines keep their bytes and place,
//! malformed ones included; new pairs are appended sorted by UUID.
//!
//! The file is the admin's, so writing it back is careful: through symbolic links to the real
//! file, with its mode and owner; never over something that is not a regular file or that
//! looks like an audit export; and under a lock, re-reading the file first, so two runs that
//! share a database both add what they learned. A value that would break a line (a comma,
//! quote, line break or other control character) is never written.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hashbrown::HashMap;

use crate::escape;
use crate::lock::{Lock, LockError};
use crate::messages::Ui;
use crate::state::partial::{Partial, Pos};
use crate::testhook;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Malformed lines named one by one on stderr; the rest are counted in one line.
const MALFORMED_SHOWN: usize = 10;

pub struct UsersDb {
    /// The path as given, for messages.
    shown: String,
    /// The real file, symbolic links followed (it may not exist yet).
    path: PathBuf,
    known: HashMap<String, String>,
    learned: BTreeMap<String, String>,
    /// 1-based numbers of lines that are not `UUID,EMAIL`.
    pub malformed: Vec<usize>,
}

/// UUIDs compare case-insensitively.
fn normal(uuid: &str) -> String {
    uuid.trim().to_ascii_lowercase()
}

fn parse_line(line: &str) -> Option<(&str, &str)> {
    let (uuid, email) = line.trim_end_matches('\r').split_once(',')?;
    let (uuid, email) = (uuid.trim(), email.trim());
    let email = email.strip_prefix('"').and_then(|e| e.strip_suffix('"')).unwrap_or(email);
    (!uuid.is_empty() && !email.is_empty() && !email.contains(',')).then_some((uuid, email))
}

/// The pairs of a database's text, and the numbers of its malformed lines. A byte-order mark
/// at the start belongs to no UUID.
pub fn parse(bytes: &[u8]) -> (Vec<(String, String)>, Vec<usize>) {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    let (mut pairs, mut malformed) = (Vec::new(), Vec::new());
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some((uuid, email)) => pairs.push((normal(uuid), email.to_string())),
            None => malformed.push(i + 1),
        }
    }
    (pairs, malformed)
}

/// A value that can be written as it is and read back the same: no comma or quote (the field
/// separator and CSV quoting), no line break or other control character, no blanks around it
/// (the reader trims them), no byte-order mark (read as none at the start of the file; found
/// by fuzzing).
pub fn storable(s: &str) -> bool {
    !s.is_empty()
        && s.trim() == s
        && !s.contains([',', '"', '\u{feff}'])
        && !s.chars().any(char::is_control)
}

/// Follows symbolic links from `path` to the file they lead to, which may not exist yet (a link
/// to a database still to be created).
fn resolve(path: &Path) -> Result<PathBuf> {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&at)?;
                at = match at.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(at),
        }
    }
    bail!("too many levels of symbolic links")
}

/// Why the file at `path` cannot serve as a users database, if it cannot.
fn refuse(meta: &std::fs::Metadata, head: &[u8]) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Some("is a directory");
    }
    if kind.is_char_device() || kind.is_block_device() {
        return Some("is a device, not a regular file");
    }
    if !kind.is_file() {
        return Some("is not a regular file");
    }
    let head = head.strip_prefix(BOM).unwrap_or(head);
    if crate::source::input::Format::sniff(head) != crate::source::input::Format::Csv
        || head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xFE\xFF")
        || head.contains(&0)
    {
        return Some("is compressed or binary, not UUID,EMAIL lines");
    }
    let first = head.split(|&b| b == b'\n').find(|l| !l.trim_ascii().is_empty()).unwrap_or(b"");
    let is_export = first
        .split(|&b| b == b',')
        .map(|f| f.trim_ascii())
        .map(|f| f.strip_prefix(b"\"").unwrap_or(f))
        .map(|f| f.strip_suffix(b"\"").unwrap_or(f))
        .any(|f| f.eq_ignore_ascii_case(b"AuditData"));
    is_export
        .then_some("looks like an audit export (it has an AuditData column), not UUID,EMAIL lines")
}

impl UsersDb {
    /// Opens the database at `path` (following links; a missing file is an empty database,
    /// created on save). Refuses, before the archive is read, what must not be written over
    /// or could not be written: a device, a directory, an audit export, an unwritable
    /// directory.
    pub fn load(path: &Path, ui: &Ui) -> Result<UsersDb> {
        let shown = escape::path(path);
        let real = resolve(path).with_context(|| format!("cannot read users database {shown}"))?;
        let original = match std::fs::metadata(&real) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read users database {shown}")),
            Ok(meta) => {
                // Checked before reading: a device such as /dev/zero could not be read whole.
                let mut head = Vec::new();
                if meta.is_file() {
                    use std::io::Read;
                    let file = std::fs::File::open(&real)
                        .with_context(|| format!("cannot read users database {shown}"))?;
                    let _ = file.take(64 * 1024).read_to_end(&mut head);
                }
                if let Some(why) = refuse(&meta, &head) {
                    bail!("users database {shown} {why}; give -u a UUID,EMAIL file");
                }
                std::fs::read(&real)
                    .with_context(|| format!("cannot read users database {shown}"))?
            }
        };
        let (pairs, malformed) = parse(&original);
        let mut db = UsersDb {
            shown,
            path: real,
            known: HashMap::new(),
            learned: BTreeMap::new(),
            malformed: Vec::new(),
        };
        let dir = directory_of(&db.path);
        // Found now, not after the whole archive was read. Named like the database's
        // temporaries, so a probe left by a run killed at this moment is cleaned up below.
        tempfile::Builder::new()
            .prefix(&format!("{}probe.", db.temp_prefix()))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .with_context(|| {
                format!(
                    "cannot write users database {}: its directory {} is not writable",
                    db.shown,
                    escape::path(&dir)
                )
            })?;
        // What killed runs left: removed under the lock, so nothing of a live run goes (a live
        // run's probe may, which costs it nothing: only creating it mattered).
        if let Ok(_lock) = db.lock() {
            remove_stale_temporaries(&dir, &db.temp_prefix());
        }
        let shown = &db.shown;
        // The first few, as for rows: a file given by mistake could have millions.
        for line in malformed.iter().take(MALFORMED_SHOWN) {
            ui.warn(format_args!("{shown}: line {line}: not UUID,EMAIL; kept as it is"));
        }
        if malformed.len() > MALFORMED_SHOWN {
            let more = malformed.len() - MALFORMED_SHOWN;
            ui.warn(format_args!("{shown}: {more} more lines that are not UUID,EMAIL; kept"));
        }
        let mut known = HashMap::new();
        for (uuid, email) in pairs {
            known.entry(uuid).or_insert(email);
        }
        db.known = known;
        db.malformed = malformed;
        Ok(db)
    }

    /// The email for an attendee key, if the database (or this run) knows it.
    pub fn email(&self, key: &str) -> Option<&str> {
        if key.is_empty() {
            return None;
        }
        let found = if key.bytes().any(|b| b.is_ascii_uppercase() || b == b' ') {
            self.known.get(&normal(key))
        } else {
            self.known.get(key)
        };
        found.map(String::as_str)
    }

    /// Learns the pairs the archive carries; for a UUID seen with several emails, the first
    /// record in archive order wins. Known UUIDs keep their email. Pairs that could not be
    /// written as one line and read back the same are not learned.
    pub fn learn(&mut self, partial: &Partial) {
        // A state loaded for a window's meetings holds their records only; the pairs of every
        // file came with it, from the files' catalogs.
        if let Some(subset) = &partial.subset {
            let pairs = subset.users.iter().map(|(at, uuid, email)| (*at, &**uuid, &**email));
            return self.learn_pairs(pairs);
        }
        let s = &partial.strings;
        let pairs = partial.entries().flat_map(|entry| {
            let at = move |k: usize| (entry.pos, k as u32);
            let pairs = entry.rec.user_pairs().enumerate();
            pairs.map(move |(k, (uuid, email))| (at(k), s.get(uuid), s.get(email)))
        });
        self.learn_pairs(pairs)
    }

    /// [`UsersDb::learn`] from (where, UUID, email) pairs, in any order: where is the record's
    /// archive position and the pair's place in it (the organizer first, then the attendees).
    pub fn learn_pairs<'a>(&mut self, pairs: impl Iterator<Item = ((Pos, u32), &'a str, &'a str)>) {
        let mut found: HashMap<String, ((Pos, u32), &str)> = HashMap::new();
        for (pos, uuid, email) in pairs {
            if !storable(uuid) || !storable(email) {
                continue;
            }
            let uuid = normal(uuid);
            if self.known.contains_key(&uuid) {
                continue;
            }
            let slot = found.entry(uuid).or_insert((pos, email));
            if pos < slot.0 {
                *slot = (pos, email);
            }
        }
        for (uuid, (_, email)) in found {
            self.known.insert(uuid.clone(), email.to_string());
            self.learned.insert(uuid, email.to_string());
        }
    }

    pub fn learned(&self) -> usize {
        self.learned.len()
    }

    /// Writes the database back if something was learned: the file's bytes as they are now,
    /// then the pairs it does not know yet. Returns how many were added.
    pub fn save(&self, ui: &Ui) -> Result<usize> {
        if self.learned.is_empty() {
            return Ok(0);
        }
        let shown = &self.shown;
        let context = || format!("cannot write users database {shown}");
        let dir = directory_of(&self.path);
        // Another run may be saving the same database: wait for it, then add to what it wrote.
        let _lock = self.lock().with_context(context)?;
        let temp_prefix = self.temp_prefix();
        remove_stale_temporaries(&dir, &temp_prefix);
        let (current, meta) = match std::fs::read(&self.path) {
            Ok(bytes) => (bytes, std::fs::metadata(&self.path).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(e) => return Err(e).with_context(context),
        };
        if let Some(meta) = &meta {
            if let Some(why) = refuse(meta, &current[..current.len().min(64 * 1024)]) {
                bail!("{}: it {why} now", context());
            }
        }
        let known_now: hashbrown::HashSet<String> =
            parse(&current).0.into_iter().map(|(uuid, _)| uuid).collect();
        let new: Vec<(&String, &String)> =
            self.learned.iter().filter(|(uuid, _)| !known_now.contains(*uuid)).collect();
        if new.is_empty() {
            return Ok(0);
        }
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix)
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .with_context(context)?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file());
            w.write_all(&current).with_context(context)?;
            if !current.is_empty() && !current.ends_with(b"\n") {
                w.write_all(b"\n").with_context(context)?;
            }
            for (uuid, email) in &new {
                writeln!(w, "{uuid},{email}").with_context(context)?;
            }
            w.flush().with_context(context)?;
        }
        if let Some(meta) = &meta {
            // The admin's file keeps its mode (not reduced by the umask) and, where this
            // process may set it, its owner.
            let file = tmp.as_file();
            file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                .with_context(context)?;
            let mine = file.metadata().with_context(context)?;
            if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid())
                && std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())).is_err()
            {
                ui.warn(format_args!(
                    "users database {shown}: cannot keep its owner (uid {}, gid {}); it now \
                     belongs to the user running tala-bulk",
                    meta.uid(),
                    meta.gid()
                ));
            }
        }
        tmp.as_file().sync_all().with_context(context)?;
        testhook::crash_point("users-staged");
        tmp.persist(&self.path).with_context(context)?;
        let _ = std::fs::File::open(&dir).and_then(|d| d.sync_all());
        Ok(new.len())
    }
}

impl UsersDb {
    fn temp_prefix(&self) -> String {
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned());
        format!(".{}.tala-bulk-", name.unwrap_or_default())
    }

    /// The lock on writing the database: a file beside it, held while it is re-read and
    /// replaced (a moment), so runs sharing the database wait for each other.
    fn lock(&self) -> std::io::Result<Lock> {
        let lock = directory_of(&self.path).join(format!("{}lock", self.temp_prefix()));
        match Lock::wait(&lock) {
            Ok(lock) => Ok(lock),
            Err(LockError::Io(e)) => Err(e),
            Err(LockError::Held(_)) => Err(std::io::Error::other("locked by another run")),
        }
    }
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Temporary files a killed run left (`.NAME.tala-bulk-XXXX.tmp`); removed under the lock, so
/// none belongs to a run still going.
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_is_not_part_of_the_first_uuid() {
        let (pairs, malformed) = parse(b"\xEF\xBB\xBFU-1,a@x\r\nnot a pair\n\nu-2, \"b@x\"\n");
        assert_eq!(
            pairs,
            [("u-1".to_string(), "a@x".to_string()), ("u-2".to_string(), "b@x".to_string())]
        );
        assert_eq!(malformed, [2]);
    }

    #[test]
    fn only_values_that_read_back_the_same_are_storable() {
        assert!(storable("u-1") && storable("ann@contoso.com"));
        for bad in ["", "a,b", "a\nb", "a\rb", "a\"b", " a", "a\u{0}", "a\u{85}", "\u{feff}a"] {
            assert!(!storable(bad), "{bad:?}");
        }
    }
}
