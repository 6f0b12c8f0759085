//! The state directory (`--state DIR`): one partial-state file per input file, kept between
//! runs, so a nightly run reads only the files that are new or changed and takes the others'
//! contributions from the directory. The reports are those of a run without it (SPEC 3): each
//! file's partial stands alone (no Id index shared between files), and the partials meet
//! through the same load as a split run's.
//!
//! A cached file is reused when its path, size, modification and change times, device and
//! inode are those recorded, and its content fingerprint (size and a hash of its first and last
//! 64 KiB) is too. The change time cannot be set back by a user, so a file rewritten in place,
//! even to the same size and modification time, does not pass. When only the change time,
//! device or inode moved (a hard link, a chmod, a move, a backup tool's snapshot), a hash of
//! the whole file, taken when it was cached, decides: the same content is reused, other
//! content is read again.
//!
//! Layout: `files/` holds the partials, named by a hash of their path and their content;
//! `index.json` names, for each input file, its stat and its partial. New partials are written
//! (each through a temporary name and a rename) before the index, and the index (the same
//! way) before partials no longer named are removed, so a run killed at any moment leaves an
//! index whose partials all exist. `.lock` keeps a second run out.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::escape;
use crate::flags::Config;
use crate::lock::{Lock, LockError};
use crate::messages::Ui;
use crate::read;
use crate::source::discover::{raw_path, ArchiveFile, Origin, PathText};
use crate::source::input;
use crate::state::codec::{self, Meta, PartialFile, WireFile};
use crate::state::files::{FileState, FileStatus};
use crate::state::partial::Partial;
use crate::state::window;

const INDEX: &str = "index.json";
/// The truncation problems the last completed run reported, to tell the next run's new ones.
const PROBLEMS: &str = "problems.json";
const FILES: &str = "files";
/// Bumped when the index's fields change.
const FORMAT: u32 = 3;

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct Index {
    tala_bulk_state: u32,
    /// The format of the partials in `files/` ([`codec::FORMAT_VERSION`]): when it changed,
    /// the run says so once, rather than once per file as each partial is refused. (0 in an
    /// index from before it was written.)
    #[serde(default)]
    partial_format: u32,
    tool_version: String,
    /// The result options the partials were made with ([`Config::result_options`]).
    options: String,
    entries: Vec<Entry>,
    last_run: Option<LastRun>,
}

/// One input file as the last run saw it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: PathText,
    #[serde(flatten)]
    stat: Stat,
    content: u64,
    /// xxh3-128 of the whole file, in hex: checked instead of reading the file again when only
    /// its change time, device or inode moved (a hard link, a chmod, a move, a backup tool).
    #[serde(default)]
    hash: String,
    /// The partial's file name in `files/`.
    partial: String,
}

/// What is compared before a file's fingerprint is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    dev: u64,
    ino: u64,
}

impl Stat {
    /// Same size and modification time: the content may be the same though the inode's
    /// metadata moved.
    fn same_times(&self, other: &Stat) -> bool {
        self.size == other.size && self.mtime_ns == other.mtime_ns
    }

    fn of(path: &Path) -> Option<Stat> {
        let m = std::fs::metadata(path).ok()?;
        m.is_file().then(|| Stat {
            size: m.len(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec()),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000).saturating_add(m.ctime_nsec()),
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    /// When its index was written (UTC).
    pub at: String,
    pub files: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// How a run used the state directory: summary.json's `state_files`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Files read (new, changed, or not reusable).
    pub read: u64,
    /// Files whose contribution came from the state directory.
    pub reused: u64,
    /// Files of the last run that are gone from the archive.
    pub dropped: u64,
    /// CSV bytes of the files read (what the run's MB/s is measured over).
    #[serde(default)]
    pub csv_bytes_read: u64,
    /// Files whose records this run loaded: every file, unless a meeting window let it load
    /// only those that hold the window's meetings. Not kept in the index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_loaded_from: Option<u64>,
    /// Meetings whose rows were copied from the previous run's reports in every table written
    /// by meeting, not formatted again (`report::reuse`); absent when the run could not reuse
    /// rows (a meeting window, a users database). Not kept in the index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meetings_rows_reused: Option<u64>,
}

/// The archive's files sorted by [`StateDir::triage`].
struct Triage {
    /// Files whose cached partial is used, with their index entry.
    reused: Vec<(Entry, PartialFile)>,
    /// Files to read (their index in the archive), with their stat taken before reading.
    to_read: Vec<(usize, Option<Stat>)>,
}

/// A state directory held by this run.
pub struct StateDir {
    dir: PathBuf,
    index: Index,
    _lock: Lock,
}

impl StateDir {
    /// Takes `dir` (created if missing) for this run, or says which run holds it. `options`:
    /// this run's result options; a state made with others is rebuilt (`None` takes it as it is).
    pub fn open(dir: &Path, options: Option<&str>, ui: &Ui) -> Result<StateDir> {
        let shown = escape::path(dir);
        std::fs::create_dir_all(dir.join(FILES))
            .with_context(|| format!("cannot create the state directory {shown}"))?;
        let lock = match Lock::try_acquire(&dir.join(".lock")) {
            Ok(lock) => lock,
            Err(LockError::Held(pid)) => bail!(
                "the state directory {shown} is in use by another tala-bulk run{}; two runs \
                 on one state directory are not allowed",
                pid.map(|p| format!(" (process {p})")).unwrap_or_default()
            ),
            Err(LockError::Io(err)) => {
                return Err(err).with_context(|| format!("cannot lock the state directory {shown}"))
            }
        };
        let index = match std::fs::read(dir.join(INDEX)) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(err) => return Err(err).with_context(|| format!("cannot read {shown}/{INDEX}")),
            Ok(bytes) => match serde_json::from_slice::<Index>(&bytes) {
                Ok(index)
                    if index.tala_bulk_state != FORMAT
                        || index.partial_format != codec::FORMAT_VERSION =>
                {
                    ui.warn(format_args!(
                        "{shown}: a state of another format; every file is read again"
                    ));
                    Index::default()
                }
                Ok(index) if index.tool_version != env!("CARGO_PKG_VERSION") => {
                    ui.warn(format_args!(
                        "{shown}: state of tala-bulk {}; every file is read again",
                        escape::text(&index.tool_version)
                    ));
                    Index::default()
                }
                Ok(index) if options.is_some_and(|o| o != index.options) => {
                    ui.warn(format_args!(
                        "{shown}: state made with other options; every file is read again"
                    ));
                    Index::default()
                }
                Ok(index) => index,
                Err(err) => {
                    ui.warn(format_args!(
                        "{shown}/{INDEX} is damaged ({err}); every file is read again"
                    ));
                    Index::default()
                }
            },
        };
        Ok(StateDir { dir: dir.to_path_buf(), index, _lock: lock })
    }

    /// The archive's state: the files that can be reused from the directory, the others read
    /// (and cached when they are regular files that could be read), all loaded into one state.
    pub fn read(
        &self,
        pool: &rayon::ThreadPool,
        files: &[ArchiveFile],
        sizes: &[u64],
        config: &Config,
        ui: &Ui,
    ) -> Result<(Partial, Counts)> {
        let options = config.result_options();
        let clock = std::time::Instant::now();
        let Triage { reused, to_read } = pool.install(|| self.triage(files, &options, ui));
        timing("files checked", clock);
        let dropped = {
            let current: std::collections::HashSet<&[u8]> =
                files.iter().map(|f| f.key.as_slice()).collect();
            self.index.entries.iter().filter(|e| !current.contains(e.path.raw())).count() as u64
        };
        if let Some((cached, given)) = self.moved_paths(files, reused.is_empty()) {
            ui.warn(format_args!(
                "{}: no file was given by the path it was cached under ({} was cached as {}): \
                 every file is read again; give the same paths every run (both relative from \
                 the same directory, or both absolute)",
                escape::path(&self.dir),
                escape::bytes(given),
                escape::bytes(cached)
            ));
        }
        // The files to read, as an archive of their own: positions are local to each file's
        // partial, renumbered when the partials meet.
        let reading: Vec<ArchiveFile> = to_read.iter().map(|(i, _)| files[*i].clone()).collect();
        let reading_sizes: Vec<u64> = to_read.iter().map(|(i, _)| sizes[*i]).collect();
        ui.advance(reused.iter().map(|(e, _)| e.stat.size).sum());
        let clock = std::time::Instant::now();
        let states = read::read_per_file(pool, &reading, &reading_sizes, config, ui);
        timing("new and changed files read", clock);
        let csv_bytes_read: u64 = states.iter().map(|s| s.counts().csv_bytes).sum();
        let clock = std::time::Instant::now();
        let meta = Meta { options: options.clone(), buckets: 1 };
        let run_dir = self.dir.join(format!(".run-{}", std::process::id()));
        let reused_count = reused.len() as u64;
        let mut entries: Vec<Entry> = reused.iter().map(|(e, _)| e.clone()).collect();
        let mut loaded: Vec<PartialFile> = reused.into_iter().map(|(_, p)| p).collect();
        let encoded: Vec<Result<Vec<u8>>> = {
            use rayon::prelude::*;
            pool.install(|| states.par_iter().map(|s| codec::encode_cached(s, &meta)).collect())
        };
        for (((_, stat), state), bytes) in to_read.iter().zip(&states).zip(encoded) {
            let Some(file) = state.files.values().next() else { continue };
            let (path, entry) = self.store(file, *stat, &bytes?, &run_dir)?;
            entries.extend(entry);
            loaded.push(PartialFile::open(&path, Some(&options))?);
        }
        drop(states);
        entries.sort_by(|a, b| a.path.raw().cmp(b.path.raw()));
        let mut counts = Counts {
            read: to_read.len() as u64,
            reused: reused_count,
            dropped,
            csv_bytes_read,
            records_loaded_from: None,
            meetings_rows_reused: None,
        };
        let index = Index {
            tala_bulk_state: FORMAT,
            partial_format: codec::FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            options,
            entries,
            last_run: Some(LastRun {
                at: now_utc(),
                files: files.len() as u64,
                counts: counts.clone(),
            }),
        };
        timing("their partials written", clock);
        crate::testhook::crash_point("state-files-written");
        write_atomic(&self.dir, INDEX, &index)?;
        crate::testhook::crash_point("state-indexed");
        let (partial, from) = if loaded.is_empty() {
            (Partial::default(), 0)
        } else {
            pool.install(|| load(&loaded, config, ui))?
        };
        counts.records_loaded_from = Some(from);
        drop(loaded);
        self.remove_unnamed(&index);
        Ok((partial, counts))
    }

    /// When no cached file was given by its cached path but one was given by another path that
    /// ends in the same file name (the state is keyed by the paths as given, so a relative
    /// path from another directory, or an absolute one, misses it): that cached path and the
    /// path given.
    fn moved_paths<'a>(
        &'a self,
        files: &'a [ArchiveFile],
        none_reused: bool,
    ) -> Option<(&'a [u8], &'a [u8])> {
        if !none_reused || self.index.entries.is_empty() {
            return None;
        }
        let name = |p: &'a [u8]| p.rsplit(|b| *b == b'/').next().unwrap_or(p);
        let cached: HashMap<&[u8], &[u8]> =
            self.index.entries.iter().map(|e| (name(e.path.raw()), e.path.raw())).collect();
        files.iter().find_map(|f| {
            let given = f.key.as_slice();
            cached.get(name(given)).filter(|c| **c != given).map(|c| (*c, given))
        })
    }

    /// Sorts the archive's files into those whose cached partial can be used and those to read
    /// (with their stat, taken before they are read).
    fn triage(&self, files: &[ArchiveFile], options: &str, ui: &Ui) -> Triage {
        use rayon::prelude::*;
        let known: HashMap<&[u8], &Entry> =
            self.index.entries.iter().map(|e| (e.path.raw(), e)).collect();
        // Each file on a worker: checking a cached partial reads it whole (its checksums), and
        // a file whose change time moved is hashed whole.
        // A miss carries the reason a cached partial was refused, warned of in archive order.
        type Miss = (usize, Option<Stat>, Option<String>);
        let checked: Vec<Result<(Entry, PartialFile), Miss>> = files
            .par_iter()
            .enumerate()
            .map(|(i, file)| {
                let Origin::File(path) = &file.origin else { return Err((i, None, None)) };
                let stat = Stat::of(path);
                let Some(now) = stat else { return Err((i, stat, None)) };
                let entry = known.get(file.key.as_slice()).filter(|e| e.stat.same_times(&now));
                // Only the change time, device or inode moved: the whole content is hashed to
                // tell a hard link, chmod or move (reused) from a rewrite in place (read again).
                let same_inode = entry.is_some_and(|e| e.stat == now);
                let unchanged = same_inode
                    || entry.is_some_and(|e| full_hash(path).is_some_and(|h| h == e.hash));
                match entry.filter(|_| unchanged) {
                    Some(entry) => match self.reuse(entry, &file.key, options, path) {
                        Ok(partial) => Ok((Entry { stat: now, ..(*entry).clone() }, partial)),
                        Err(why) => Err((i, stat, Some(why))),
                    },
                    None => Err((i, stat, None)),
                }
            })
            .collect();
        let mut reused = Vec::new();
        let mut to_read = Vec::new();
        for c in checked {
            match c {
                Ok(hit) => reused.push(hit),
                Err((i, stat, why)) => {
                    if let Some(why) = why {
                        ui.warn(format_args!("{}: {why}; read again", files[i].name));
                    }
                    to_read.push((i, stat));
                }
            }
        }
        Triage { reused, to_read }
    }

    /// Writes a file just read: into `files/` with its index entry, or, when it must not be
    /// cached (not a regular file, or not readable this time, which may change), into this
    /// run's own directory, removed at its end.
    fn store(
        &self,
        file: &FileState,
        stat: Option<Stat>,
        bytes: &[u8],
        run_dir: &Path,
    ) -> Result<(PathBuf, Option<Entry>)> {
        // The whole file is hashed now, while it is in the page cache, and cached only if it
        // did not change while it was read and hashed.
        let os_path = raw_path(&file.path);
        let hash = stat
            .filter(|_| file.report.status != FileStatus::Unreadable)
            .and_then(|before| full_hash(os_path).filter(|_| Stat::of(os_path) == Some(before)));
        match (stat, hash) {
            (Some(stat), Some(hash)) => {
                let stem = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&file.path));
                let written = codec::write_named(&self.dir.join(FILES), &stem, bytes)?;
                let entry = Entry {
                    path: PathText::of(&file.path),
                    stat,
                    content: file.content,
                    hash,
                    partial: file_name(&written),
                };
                Ok((written, Some(entry)))
            }
            _ => Ok((codec::write_named(run_dir, "uncached", bytes)?, None)),
        }
    }

    /// The cached partial of a file whose stat matches, once its fingerprint and the partial
    /// itself check out.
    fn reuse(
        &self,
        entry: &Entry,
        key: &[u8],
        options: &str,
        path: &Path,
    ) -> Result<PartialFile, String> {
        if input::fingerprint_path(path) != Some(entry.content) {
            return Err("its content changed though its times did not".into());
        }
        let file = PartialFile::open(&self.dir.join(FILES).join(&entry.partial), Some(options))
            .and_then(|file| file.verify().map(|()| file))
            .map_err(|e| format!("its cached state is unusable ({e:#})"))?;
        let id = WireFile { path: key.to_vec(), content: entry.content };
        if file.header.files != [id] || file.header.buckets != 1 {
            return Err("its cached state belongs to another file".into());
        }
        Ok(file)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The problems the last completed run reported (`None` before the first).
    pub fn previous_problems(&self) -> Option<Vec<String>> {
        let bytes = std::fs::read(self.dir.join(PROBLEMS)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records this run's problems, once its reports are written.
    pub fn save_problems(&self, problems: &[String]) -> Result<()> {
        write_atomic(&self.dir, PROBLEMS, &problems)
    }

    /// Removes the partials the index no longer names and the leftovers of killed runs (this
    /// run holds the lock: no other is writing). Best effort: what stays is only space.
    fn remove_unnamed(&self, index: &Index) {
        if let Ok(list) = std::fs::read_dir(&self.dir) {
            for entry in list.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(".run-") {
                    let _ = std::fs::remove_dir_all(entry.path());
                } else if [INDEX, PROBLEMS, crate::report::reuse::FILE]
                    .iter()
                    .any(|file| name.starts_with(&format!(".{file}.tmp-")))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let named: std::collections::HashSet<&str> =
            index.entries.iter().map(|e| e.partial.as_str()).collect();
        if let Ok(list) = std::fs::read_dir(self.dir.join(FILES)) {
            for entry in list.flatten() {
                let name = entry.file_name();
                if !named.contains(name.to_string_lossy().as_ref()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// The state of every file: each file's contribution and, with a meeting window, only the
/// records of the window's meetings, from the files that hold them (see `state::window`),
/// with every file's users-database pairs when `-u` asks for them. Every record is loaded
/// without a window, with `--audit-only`, and when two files kept different content for one
/// record Id. Returns the state and the number of files whose records it holds.
fn load(loaded: &[PartialFile], config: &Config, ui: &Ui) -> Result<(Partial, u64)> {
    use rayon::prelude::*;
    let windowed = (config.since.is_some() || config.until.is_some()) && !config.audit_only;
    if windowed {
        let clock = std::time::Instant::now();
        let selected = loaded
            .par_iter()
            .map(PartialFile::catalog)
            .collect::<Result<Vec<_>>>()
            .map(|catalogs| window::select(&catalogs, config.since, config.until));
        timing("catalogs read, the window's meetings found", clock);
        let with_users = |mut selection: window::Selection| -> Result<window::Selection> {
            if config.users.is_some() {
                selection.subset.users = users_of(loaded)?;
            }
            Ok(selection)
        };
        match selected.and_then(|s| s.map(with_users).transpose()) {
            Ok(Some(selection)) => {
                let (files, meetings) = (&selection.files, &selection.subset.meetings);
                let mut partial = codec::load_meetings(loaded, files, meetings)?.partial;
                let from = files.iter().filter(|f| **f).count() as u64;
                partial.subset = Some(selection.subset);
                return Ok((partial, from));
            }
            Ok(None) => {}
            Err(err) => ui.warn(format_args!("{err:#}; every record is loaded")),
        }
    }
    Ok((codec::load(loaded, None)?.partial, loaded.len() as u64))
}

/// The users database's pairs from every file's catalog, placed in archive order as `load`
/// places the files' records ([`codec::places`]).
fn users_of(loaded: &[PartialFile]) -> Result<Vec<crate::state::partial::UserPair>> {
    use rayon::prelude::*;
    let (_, places) = codec::places(loaded)?;
    let each = loaded.par_iter().map(PartialFile::users).collect::<Result<Vec<_>>>()?;
    let mut users = Vec::new();
    for (pairs, place) in each.into_iter().zip(places) {
        // A state directory's partials hold one file each.
        let Some(&file) = place.first() else { continue };
        for u in pairs {
            let at = (crate::state::partial::position(file, u.offset), u.place);
            users.push((at, u.uuid, u.email));
        }
    }
    Ok(users)
}

/// With `TALA_BULK_TIMINGS`: how long a step of the state directory's work took.
fn timing(what: &str, from: std::time::Instant) {
    let secs = from.elapsed().as_secs_f64();
    crate::messages::timing(format_args!("state: {what}: {secs:.3} s"));
}

/// Writes `value` as JSON to `dir/name`, atomically.
fn write_atomic<T: Serialize + ?Sized>(dir: &Path, name: &str, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).context("cannot encode the state")?;
    codec::write_atomic(dir, name, &text).map(drop)
}

/// xxh3-128 of a whole regular file, in hex; `None` if it cannot be read.
fn full_hash(path: &Path) -> Option<String> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(format!("{:032x}", hasher.digest128()))
}

/// Now, as summary.json writes times.
fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    crate::timestamp::format(secs)
}

/// `tala-bulk state info DIR`: what the state directory holds, as JSON.
pub fn info(dir: &Path) -> Result<serde_json::Value> {
    let shown = escape::path(dir);
    let bytes = std::fs::read(dir.join(INDEX))
        .with_context(|| format!("{shown} is not a tala-bulk state directory (no {INDEX})"))?;
    let index: Index =
        serde_json::from_slice(&bytes).with_context(|| format!("{shown}/{INDEX} is damaged"))?;
    let mut stored = 0u64;
    let mut partials = 0u64;
    for entry in std::fs::read_dir(dir.join(FILES)).into_iter().flatten().flatten() {
        stored += entry.metadata().map_or(0, |m| m.len());
        partials += 1;
    }
    let gone = index.entries.iter().filter(|e| !e.path.path().exists()).count();
    let rows = std::fs::metadata(dir.join(crate::report::reuse::FILE)).map_or(0, |m| m.len());
    Ok(serde_json::json!({
        "state_directory": shown,
        "tool_version": index.tool_version,
        "options": index.options,
        "files": index.entries.len(),
        "files_gone_from_disk": gone,
        "partials": partials,
        "bytes": stored,
        // Where the last run's report rows lie (`report::reuse`), apart from the partials.
        "report_rows_bytes": rows,
        "last_run": index.last_run,
    }))
}

/// `tala-bulk state prune DIR`: forgets the files that no longer exist on disk and removes
/// every partial the index does not name. Takes the lock, as a run does. Returns the files
/// forgotten and the partials removed.
pub fn prune(dir: &Path, ui: &Ui) -> Result<(usize, usize)> {
    let shown = escape::path(dir);
    if !dir.join(INDEX).exists() {
        bail!("{shown} is not a tala-bulk state directory (no {INDEX})");
    }
    let mut state = StateDir::open(dir, None, ui)?;
    let before = state.index.entries.len();
    state.index.entries.retain(|e| e.path.path().exists());
    let forgotten = before - state.index.entries.len();
    write_atomic(&state.dir, INDEX, &state.index)?;
    let count = || std::fs::read_dir(dir.join(FILES)).map_or(0, |d| d.count());
    let partials = count();
    state.remove_unnamed(&state.index);
    Ok((forgotten, partials - count()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
