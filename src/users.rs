//! Users database (SPEC 2.2, tala's `-u FILE`): headerless `UUID,EMAIL` lines. Loaded before the
//! run (created if missing), it fills attendee_email; the run teaches it organizer
//! `UserKey → UserId` and attendee `UserObjectId → UPN`. It is written back only when something
//! new was learned, atomically (temp file + rename): existing lines keep their bytes and place,
//! malformed ones included; new pairs are appended sorted by UUID.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hashbrown::HashMap;

use crate::aggregate::Partial;
use crate::messages::Ui;

pub struct UsersDb {
    path: PathBuf,
    /// The file as it was read, written back unchanged before any new line.
    original: Vec<u8>,
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

impl UsersDb {
    /// Reads the database; a missing file is an empty database (created on save).
    pub fn load(path: &Path, ui: &Ui) -> Result<UsersDb> {
        let original = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read users database {}", path.display()))
            }
        };
        let mut db = UsersDb {
            path: path.to_path_buf(),
            original,
            known: HashMap::new(),
            learned: BTreeMap::new(),
            malformed: Vec::new(),
        };
        let text = String::from_utf8_lossy(&db.original).into_owned();
        for (i, line) in text.split('\n').enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Some((uuid, email)) => {
                    db.known.entry(normal(uuid)).or_insert_with(|| email.to_string());
                }
                None => {
                    db.malformed.push(i + 1);
                    ui.warn(format_args!(
                        "{}: line {}: not UUID,EMAIL; kept as it is",
                        path.display(),
                        i + 1
                    ));
                }
            }
        }
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
    /// record in archive order wins. Known UUIDs keep their email.
    pub fn learn(&mut self, partial: &Partial) {
        let s = &partial.strings;
        let mut found: HashMap<String, (u64, &str)> = HashMap::new();
        for entry in partial.entries() {
            let r = &entry.rec;
            let pairs = std::iter::once((r.organizer_id, r.organizer_email))
                .chain(r.attendees.iter().filter(|a| a.is_object_id).map(|a| (a.key, a.upn)));
            for (uuid, email) in pairs {
                let (uuid, email) = (s.get(uuid), s.get(email));
                if uuid.is_empty() || email.is_empty() || email.contains([',', '\n', '\r']) {
                    continue;
                }
                let uuid = normal(uuid);
                if self.known.contains_key(&uuid) {
                    continue;
                }
                let slot = found.entry(uuid).or_insert((entry.pos, email));
                if entry.pos < slot.0 {
                    *slot = (entry.pos, email);
                }
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

    /// Writes the database back if something was learned: old bytes first, then the new pairs.
    pub fn save(&self) -> Result<bool> {
        if self.learned.is_empty() {
            return Ok(false);
        }
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let context = || format!("cannot write users database {}", self.path.display());
        let tmp = tempfile::Builder::new()
            .prefix(".users.")
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .with_context(context)?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file());
            w.write_all(&self.original).with_context(context)?;
            if !self.original.is_empty() && !self.original.ends_with(b"\n") {
                w.write_all(b"\n").with_context(context)?;
            }
            for (uuid, email) in &self.learned {
                writeln!(w, "{uuid},{email}").with_context(context)?;
            }
            w.flush().with_context(context)?;
        }
        tmp.as_file().sync_all().with_context(context)?;
        tmp.persist(&self.path).with_context(context)?;
        Ok(true)
    }
}
