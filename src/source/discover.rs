//! Discover: turns the PATHs of the command line into the archive's file list, in archive order
//! (SPEC 2: files sorted by path, byte order). Directories are walked recursively; anything that
//! cannot be walked becomes an entry carrying its error, so it still gets a line in the audit.
//! Next stage: `source::input` opens each entry.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::escape;
use crate::timestamp::{self, Ts};

/// One thing named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file, or a directory walked recursively.
    Path(PathBuf),
    /// Standard input, read as one export.
    Stdin,
}

/// A path as text when it is UTF-8, else as its bytes: JSON holds only text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum PathText {
    Text(String),
    Bytes { bytes: Vec<u8> },
}

impl PathText {
    pub fn of(raw: &[u8]) -> PathText {
        match std::str::from_utf8(raw) {
            Ok(text) => PathText::Text(text.to_string()),
            Err(_) => PathText::Bytes { bytes: raw.to_vec() },
        }
    }
    pub fn raw(&self) -> &[u8] {
        match self {
            PathText::Text(text) => text.as_bytes(),
            PathText::Bytes { bytes } => bytes,
        }
    }
    /// The path it names.
    pub fn path(&self) -> &Path {
        raw_path(self.raw())
    }
}

/// A path from its bytes as the system gives them (an [`ArchiveFile::key`]).
pub fn raw_path(raw: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(raw))
}

/// What one archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Stdin,
    /// Found while walking but not readable (dangling link, permission denied, link loop).
    Broken(String),
}

/// One file of the archive, with its place in archive order given by its index in the list.
#[derive(Debug, Clone)]
pub struct ArchiveFile {
    /// Path as the user will recognise it in warnings and the audit, escaped where it is not
    /// printable UTF-8 ([`escape::path`]), so two files never share a name.
    pub name: String,
    /// The path's bytes as the system gives them (`-` for stdin): what archive order sorts,
    /// and with the content what identifies the file when partial states meet (SPEC 3).
    pub key: Vec<u8>,
    pub origin: Origin,
    /// The time window the export was requested for, when its file name says so
    /// (`UAL-20240301000000-20240301060000.csv`, SPEC 1.1): start and end, inclusive.
    pub window: Option<(Ts, Ts)>,
}

impl ArchiveFile {
    pub fn new(name: String, origin: Origin) -> ArchiveFile {
        let window = window_from_name(&name);
        let key = match &origin {
            Origin::File(path) => raw(path),
            Origin::Stdin => b"-".to_vec(),
            Origin::Broken(_) => name.as_bytes().to_vec(),
        };
        ArchiveFile { name, key, origin, window }
    }

    /// An entry with a known raw path (a walk's, or a plan's).
    pub fn with_key(name: String, key: Vec<u8>, origin: Origin) -> ArchiveFile {
        ArchiveFile { key, ..ArchiveFile::new(name, origin) }
    }
}

/// Two 14-digit `YYYYMMDDhhmmss` stamps joined by `-` or `_` in the file name (not in the
/// directories above it), the first not after the second.
pub fn window_from_name(path: &str) -> Option<(Ts, Ts)> {
    static PATTERN: OnceLock<Option<Regex>> = OnceLock::new();
    let re = PATTERN
        .get_or_init(|| Regex::new(r"(?:^|[^0-9])([0-9]{14})[-_]([0-9]{14})(?:[^0-9]|$)").ok())
        .as_ref()?;
    let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let caps = re.captures(file_name)?;
    let stamp = |s: &str| {
        let iso = format!(
            "{}-{}-{}T{}:{}:{}",
            &s[0..4],
            &s[4..6],
            &s[6..8],
            &s[8..10],
            &s[10..12],
            &s[12..14]
        );
        timestamp::parse(iso.as_bytes())
    };
    let (start, end) = (stamp(caps.get(1)?.as_str())?, stamp(caps.get(2)?.as_str())?);
    (start <= end).then_some((start, end))
}

/// Expands `inputs` into the sorted archive file list. Nothing in `skip` (the output directory,
/// the users database) is read as input when a directory walk meets it, so reports and the
/// database kept inside an archive are not read back. Only walks skip: a path named on the
/// command line is always read.
pub fn discover(inputs: &[Input], skip: &[&Path]) -> Vec<ArchiveFile> {
    // Compared by device and inode, not by canonical path: canonicalizing every entry costs
    // a lookup of each of its ancestors, which made a deep tree's walk cubic in its depth.
    let skip: Vec<(u64, u64)> =
        skip.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| (m.dev(), m.ino())).collect();
    let mut found: Vec<(Vec<u8>, ArchiveFile)> = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                found.push((b"-".to_vec(), ArchiveFile::new("-".into(), Origin::Stdin)))
            }
            Input::Path(path) => walk(path, &skip, &mut found),
        }
    }
    // Byte order of the path as the system gives it (SPEC 2's archive order), not of its
    // printed form: names that differ only in bytes that are not UTF-8 still have one order
    // whatever the order of the arguments. A path named twice (or met by two walks) is one
    // file, read once: a file's contribution counts once (SPEC 3).
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.dedup_by(|a, b| a.0 == b.0);
    found.into_iter().map(|(_, file)| file).collect()
}

fn raw(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

fn walk(root: &Path, skip: &[(u64, u64)], found: &mut Vec<(Vec<u8>, ArchiveFile)>) {
    let mut push = |path: &Path, origin: Origin| {
        let key = raw(path);
        found.push((key.clone(), ArchiveFile::with_key(escape::path(path), key, origin)));
    };
    match std::fs::metadata(root) {
        Ok(meta) if !meta.is_dir() => return push(root, Origin::File(root.into())),
        Ok(_) => {}
        Err(err) => return push(root, Origin::Broken(err.to_string())),
    }
    // walkdir follows links and detects loops, reporting each as an error we keep as an entry.
    let walker = walkdir::WalkDir::new(root).follow_links(true).into_iter().filter_entry(|e| {
        let hidden = e.depth() > 0 && e.file_name().as_bytes().starts_with(b".");
        let is_skip = e.depth() > 0
            && !skip.is_empty()
            && e.metadata().is_ok_and(|m| skip.contains(&(m.dev(), m.ino())));
        !hidden && !is_skip
    });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => push(e.path(), Origin::File(e.path().into())),
            Ok(e) if e.file_type().is_dir() => {}
            // A FIFO could block the walk forever, and a device or socket is no export; they
            // are listed, not read. Named on the command line, a FIFO is read (`<(zstd -dc …)`).
            Ok(e) => push(e.path(), Origin::Broken(special_file(e.file_type()))),
            Err(err) => {
                let path = err.path().unwrap_or(root).to_path_buf();
                let why = match err.io_error() {
                    Some(io) => io.to_string(),
                    None => err.to_string(),
                };
                push(&path, Origin::Broken(why));
            }
        }
    }
}

/// Why a special file met in a directory walk is not read.
fn special_file(kind: std::fs::FileType) -> String {
    let what = if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    format!("{what}, not read in a directory walk (name it on the command line to read it)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_path_bytes_and_walks_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/inner")).unwrap();
        for f in ["b/inner/z.csv", "b/a.csv", "B.csv", "a.csv", ".hidden.csv"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let out = root.join("report");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("organizers.csv"), "x").unwrap();
        std::fs::write(root.join("b/users.csv"), "u,e@x\n").unwrap();
        let files = discover(&[Input::Path(root.into())], &[&out, &root.join("b/users.csv")]);
        let names: Vec<String> = files
            .iter()
            .map(|f| f.name.strip_prefix(&*root.to_string_lossy()).unwrap().to_string())
            .collect();
        assert_eq!(names, ["/B.csv", "/a.csv", "/b/a.csv", "/b/inner/z.csv"]);
    }

    #[test]
    fn window_from_the_file_name() {
        let w = window_from_name("x/2024/UAL-20240301000000-20240301060000.csv.zst").unwrap();
        assert_eq!(timestamp::format(w.0), "2024-03-01T00:00:00");
        assert_eq!(timestamp::format(w.1), "2024-03-01T06:00:00");
        assert_eq!(window_from_name("20240301000000-20240301060000/export.csv"), None);
        assert_eq!(window_from_name("UAL-20240301060000-20240301000000.csv"), None);
        assert_eq!(window_from_name("UAL-20241301000000-20241301060000.csv"), None);
        assert_eq!(window_from_name("a-120240301000000-20240301060000.csv"), None);
    }

    #[test]
    fn missing_path_is_an_entry_with_its_error() {
        let files = discover(&[Input::Path("/nonexistent/x.csv".into()), Input::Stdin], &[]);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].origin, Origin::Stdin);
        assert!(matches!(&files[1].origin, Origin::Broken(e) if e.contains("No such file")));
    }
}
