//! The partial-state file (SPEC 3): a [`Partial`] written to disk and read back, so a set of
//! input files can be read on one machine and merged on another.
//!
//! Layout: the magic bytes, a header (postcard, its length before it, an xxh3 checksum after
//! it), then sections, each a zstd frame of postcard data with its own checksum in the header:
//! one for the files' contributions and one per record bucket, so a merge task reads only its
//! bucket. The header names the format and tool versions, the options that change results,
//! the hash that picks a record's bucket and the bucket count; a file that disagrees is refused
//! with its path named, never mixed in.
//!
//! The wire types here are not the in-memory ones: positions are written as (file, offset)
//! with the file as its place in the partial's own table of (path, content fingerprint), sorted,
//! and strings as numbers into a per-section table in order of first use. Records are written
//! in key order. So the same inputs and options give the same bytes, whatever the thread count,
//! and archive order is decided only when partials meet ([`load`]), from the sorted union of
//! their tables.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::files::{Counts, ErrorRow, FileErrors, FileReport, FileState, FileStatus, Skip, Warn};
use super::intern::{Interner, Sym};
use super::partial::{
    position, Att, Entry, Partial, Rec, Records, Seen, OFFSET_BITS, RECORD_SHARDS,
};
use crate::escape;

/// The first bytes of every partial-state file.
pub const MAGIC: &[u8; 8] = b"TALAPRT\n";
/// Bumped whenever the wire types change.
pub const FORMAT_VERSION: u32 = 1;
/// How a record's bucket is chosen, written in the header so a partial bucketed another way is
/// refused.
pub const BUCKET_HASH: &str = "key: UUID bits, else xxh3-128 of the Id; bucket: xxh3-64 of the \
                               key's 16 little-endian bytes modulo the bucket count; no Id: 0";
/// zstd level of the sections: level 3 compressed the bench archive's partial to within a few
/// percent of level 9 at several times the speed.
const ZSTD_LEVEL: i32 = 3;
/// File name suffix of partial-state files.
pub const SUFFIX: &str = ".tbp";

/// The bucket of a record key (see [`BUCKET_HASH`]).
pub fn bucket_of(key: u128, buckets: u32) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(&key.to_le_bytes()) % u64::from(buckets.max(1))) as u32
}

/// What a partial is about besides its data: the options that change results, as canonical
/// text, and the bucket count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub options: String,
    pub buckets: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub format_version: u32,
    pub tool_version: String,
    pub options: String,
    pub bucket_hash: String,
    pub buckets: u32,
    /// The files whose contributions this partial holds, sorted by path bytes then content.
    pub files: Vec<WireFile>,
    pub sections: Vec<SectionInfo>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WireFile {
    pub path: Vec<u8>,
    pub content: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SectionKind {
    Files,
    Bucket(u32),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub kind: SectionKind,
    /// From the end of the header's checksum.
    pub offset: u64,
    pub len: u64,
    /// Decompressed length: the bound of the buffer it is decompressed into.
    pub raw_len: u64,
    /// xxh3-64 of the compressed bytes.
    pub checksum: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireFileState {
    pub name: String,
    pub format: String,
    pub disk_bytes: Option<u64>,
    pub csv_bytes: u64,
    pub rows: u64,
    pub meeting_records: u64,
    pub earliest: Option<i64>,
    pub latest: Option<i64>,
    pub window: Option<(i64, i64)>,
    pub outside_window: u64,
    pub export: bool,
    pub status: String,
    pub detail: String,
    pub counts_disk_bytes: u64,
    pub counts_csv_bytes: u64,
    pub counts_rows: u64,
    pub by_operation: Vec<(String, u64)>,
    pub skipped: Vec<u64>,
    pub warnings: Vec<u64>,
    pub counts_earliest: Option<i64>,
    pub counts_latest: Option<i64>,
    pub error_whole: Option<(String, String)>,
    pub error_rows: Vec<(u64, String, String)>,
    pub errors_unlisted: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireBucket {
    pub strings: Vec<String>,
    pub entries: Vec<WireEntry>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireEntry {
    /// The record key (None for a record without Id), fixed-width: its bits are random.
    pub key: Option<[u8; 16]>,
    /// Which of `copies` is the held record's.
    pub held: u32,
    pub copies: Vec<WireSeen>,
    pub rec: WireRec,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireSeen {
    pub file: u32,
    pub offset: u64,
    #[serde(with = "postcard::fixint::le")]
    pub hash: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireRec {
    pub meeting: u32,
    pub organizer_email: u32,
    pub organizer_id: u32,
    pub organizer_organization: u32,
    pub meeting_type: u32,
    pub join: Option<i64>,
    pub leave: Option<i64>,
    pub client_ip: u32,
    pub device: u32,
    pub property: u32,
    pub attendees: Vec<WireAtt>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireAtt {
    pub key: u32,
    pub key_type: u32,
    pub organization: u32,
    pub upn: u32,
    pub is_object_id: bool,
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Numbers strings in order of first use, for one section.
#[derive(Default)]
struct Numbering {
    map: hashbrown::HashMap<Sym, u32>,
    strings: Vec<String>,
}

impl Numbering {
    fn of(&mut self, sym: Sym, from: &Interner) -> u32 {
        let next = self.strings.len() as u32;
        *self.map.entry(sym).or_insert_with(|| {
            self.strings.push(from.get(sym).to_string());
            next
        })
    }
}

/// The partial's files in index order, and each in-memory file index's place among them.
fn file_table(partial: &Partial) -> (Vec<WireFile>, BTreeMap<usize, u32>) {
    let mut table = Vec::with_capacity(partial.files.len());
    let mut place = BTreeMap::new();
    for (i, (index, file)) in partial.files.iter().enumerate() {
        table.push(WireFile { path: file.path.clone(), content: file.content });
        place.insert(*index, i as u32);
    }
    (table, place)
}

fn wire_seen(seen: Seen, place: &BTreeMap<usize, u32>) -> Result<WireSeen> {
    let file = (seen.pos >> OFFSET_BITS) as usize;
    let Some(&file) = place.get(&file) else {
        bail!("internal error: a record's position names a file the state does not hold")
    };
    Ok(WireSeen { file, offset: seen.pos & ((1 << OFFSET_BITS) - 1), hash: seen.hash })
}

fn wire_entry(
    key: Option<u128>,
    entry: &Entry,
    strings: &Interner,
    numbering: &mut Numbering,
    place: &BTreeMap<usize, u32>,
) -> Result<WireEntry> {
    let copies = entry.copies.iter().map(|s| wire_seen(*s, place)).collect::<Result<Vec<_>>>()?;
    let held = entry.copies.iter().position(|s| s.pos == entry.pos).unwrap_or(0) as u32;
    let r = &entry.rec;
    let mut n = |s: Sym| numbering.of(s, strings);
    let rec = WireRec {
        meeting: n(r.meeting),
        organizer_email: n(r.organizer_email),
        organizer_id: n(r.organizer_id),
        organizer_organization: n(r.organizer_organization),
        meeting_type: n(r.meeting_type),
        join: r.join,
        leave: r.leave,
        client_ip: n(r.client_ip),
        device: n(r.device),
        property: n(r.property),
        attendees: r
            .attendees
            .iter()
            .map(|a| WireAtt {
                key: n(a.key),
                key_type: n(a.key_type),
                organization: n(a.organization),
                upn: n(a.upn),
                is_object_id: a.is_object_id,
            })
            .collect(),
    };
    Ok(WireEntry { key: key.map(u128::to_le_bytes), held, copies, rec })
}

fn wire_file_state(f: &FileState) -> WireFileState {
    let (r, c, e) = (&f.report, &f.counts, &f.errors);
    WireFileState {
        name: r.name.clone(),
        format: r.format.to_string(),
        disk_bytes: r.disk_bytes,
        csv_bytes: r.csv_bytes,
        rows: r.rows,
        meeting_records: r.meeting_records,
        earliest: r.earliest,
        latest: r.latest,
        window: r.window,
        outside_window: r.outside_window,
        export: r.export,
        status: r.status.name().to_string(),
        detail: r.detail.clone(),
        counts_disk_bytes: c.disk_bytes,
        counts_csv_bytes: c.csv_bytes,
        counts_rows: c.rows,
        by_operation: c.by_operation.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        skipped: c.skipped.to_vec(),
        warnings: c.warnings.to_vec(),
        counts_earliest: c.earliest,
        counts_latest: c.latest,
        error_whole: e.whole.as_ref().map(|(s, d)| (s.to_string(), d.clone())),
        error_rows: e
            .rows
            .iter()
            .map(|r| (r.row, r.reason.to_string(), r.excerpt.clone()))
            .collect(),
        errors_unlisted: e.unlisted,
    }
}

fn compress<T: Serialize>(kind: SectionKind, value: &T) -> Result<(SectionKind, u64, Vec<u8>)> {
    let raw = postcard::to_stdvec(value).context("cannot encode a partial state")?;
    let packed =
        zstd::bulk::compress(&raw, ZSTD_LEVEL).context("cannot compress a partial state")?;
    Ok((kind, raw.len() as u64, packed))
}

/// Encodes `partial` with the sections of `buckets` (all of `meta.buckets` when `None`).
pub fn encode(partial: &Partial, meta: &Meta, buckets: Option<&BTreeSet<u32>>) -> Result<Vec<u8>> {
    let (files, place) = file_table(partial);
    let all: BTreeSet<u32> = (0..meta.buckets).collect();
    let buckets = buckets.unwrap_or(&all);
    // Records grouped by bucket, each group in key order (records without Id: position order,
    // in bucket 0).
    let mut grouped: BTreeMap<u32, Vec<(Option<u128>, &Entry)>> =
        buckets.iter().map(|b| (*b, Vec::new())).collect();
    for (key, entry) in partial.records.iter() {
        let b = bucket_of(key, meta.buckets);
        match grouped.get_mut(&b) {
            Some(group) => group.push((Some(key), entry)),
            None => bail!("internal error: a record of bucket {b}, which this state does not hold"),
        }
    }
    if !partial.unkeyed.is_empty() {
        match grouped.get_mut(&0) {
            Some(group) => group.extend(partial.unkeyed.iter().map(|e| (None, e))),
            None => bail!("internal error: records without Id in a state without bucket 0"),
        }
    }
    let strings = &partial.strings;
    let mut sections: Vec<(SectionKind, u64, Vec<u8>)> = grouped
        .into_par_iter()
        .map(|(bucket, mut group)| {
            group.sort_unstable_by_key(|(key, entry)| (key.is_none(), *key, entry.pos));
            let mut numbering = Numbering::default();
            let entries = group
                .iter()
                .map(|(key, entry)| wire_entry(*key, entry, strings, &mut numbering, &place))
                .collect::<Result<Vec<_>>>()?;
            compress(
                SectionKind::Bucket(bucket),
                &WireBucket { strings: numbering.strings, entries },
            )
        })
        .collect::<Result<_>>()?;
    let file_states: Vec<WireFileState> = partial.files.values().map(wire_file_state).collect();
    sections.insert(0, compress(SectionKind::Files, &file_states)?);
    let mut infos = Vec::with_capacity(sections.len());
    let mut offset = 0;
    for (kind, raw_len, packed) in &sections {
        let len = packed.len() as u64;
        let checksum = xxhash_rust::xxh3::xxh3_64(packed);
        infos.push(SectionInfo { kind: *kind, offset, len, raw_len: *raw_len, checksum });
        offset += len;
    }
    let header = Header {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        options: meta.options.clone(),
        bucket_hash: BUCKET_HASH.to_string(),
        buckets: meta.buckets,
        files,
        sections: infos,
    };
    let head = postcard::to_stdvec(&header).context("cannot encode a partial state's header")?;
    let mut out = Vec::with_capacity(head.len() + offset as usize + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&head).to_le_bytes());
    for (_, _, packed) in sections {
        out.extend_from_slice(&packed);
    }
    Ok(out)
}

/// Writes encoded partial bytes into `dir` under a name made of `stem` and a hash of the
/// bytes, through a temporary name, synced, then renamed: a retried or speculative task that
/// writes the same partial writes the same name and the same bytes. Returns the path.
pub fn write_named(dir: &Path, stem: &str, bytes: &[u8]) -> Result<PathBuf> {
    let name = format!("{stem}-{:016x}{SUFFIX}", xxhash_rust::xxh3::xxh3_64(bytes));
    let path = dir.join(&name);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", escape::path(dir)))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("cannot write {}", escape::path(&path)));
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// An opened partial-state file whose header has been checked.
pub struct PartialFile {
    pub path: PathBuf,
    pub header: Header,
    file: File,
    data_start: u64,
}

/// Header bytes larger than this are refused before they are allocated (a header holds one
/// path per file: a million files of 4 KiB paths stay under it).
const MAX_HEADER: u64 = 4 << 30;

impl PartialFile {
    /// Opens `path` and checks its magic, header checksum, versions and bucket hash. `options`,
    /// when given, must equal the partial's.
    pub fn open(path: &Path, options: Option<&str>) -> Result<PartialFile> {
        let shown = escape::path(path);
        let file = File::open(path).with_context(|| format!("cannot open partial {shown}"))?;
        let size = file.metadata().with_context(|| format!("cannot read partial {shown}"))?.len();
        let mut start = [0u8; 16];
        if size < 16 || file.read_exact_at(&mut start, 0).is_err() || &start[..8] != MAGIC {
            bail!("{shown} is not a tala-bulk partial state (no magic bytes)");
        }
        let len = u64::from_le_bytes(start[8..16].try_into().unwrap_or_default());
        if len > MAX_HEADER || len.saturating_add(24) > size {
            bail!("{shown}: partial state is truncated or damaged (header length {len})");
        }
        let mut head = vec![0u8; len as usize + 8];
        file.read_exact_at(&mut head, 16)
            .with_context(|| format!("cannot read partial {shown}"))?;
        let (head, sum) = head.split_at(len as usize);
        if xxhash_rust::xxh3::xxh3_64(head).to_le_bytes() != sum {
            bail!("{shown}: partial state is damaged (header checksum mismatch)");
        }
        let header: Header = postcard::from_bytes(head)
            .with_context(|| format!("{shown}: partial state header cannot be decoded"))?;
        if header.format_version != FORMAT_VERSION {
            bail!(
                "{shown}: partial state format {} (this tala-bulk reads format {FORMAT_VERSION})",
                header.format_version
            );
        }
        let ours = env!("CARGO_PKG_VERSION");
        if header.tool_version != ours {
            bail!(
                "{shown}: partial state written by tala-bulk {}, not {ours}: partials of \
                 different versions are never mixed; map the archive again",
                escape::text(&header.tool_version)
            );
        }
        if header.bucket_hash != BUCKET_HASH || header.buckets == 0 {
            bail!("{shown}: partial state buckets its records another way");
        }
        if let Some(want) = options {
            if header.options != want {
                bail!(
                    "{shown}: partial state made with other options ({}) than this run's ({}); \
                     give every stage the same options",
                    escape::text(&header.options),
                    escape::text(want)
                );
            }
        }
        let data_start = 24 + len;
        let data = size - data_start;
        let mut seen = BTreeSet::new();
        for s in &header.sections {
            if s.offset.checked_add(s.len).is_none_or(|end| end > data) {
                bail!("{shown}: partial state is truncated (a section ends past the file's end)");
            }
            if !seen.insert(s.kind) {
                bail!("{shown}: partial state is damaged (a section appears twice)");
            }
            if let SectionKind::Bucket(b) = s.kind {
                if b >= header.buckets {
                    bail!("{shown}: partial state is damaged (bucket {b} out of range)");
                }
            }
        }
        if !seen.contains(&SectionKind::Files) {
            bail!("{shown}: partial state is damaged (no files section)");
        }
        if !header.files.windows(2).all(|w| w[0] < w[1]) {
            bail!("{shown}: partial state is damaged (its file table is not sorted)");
        }
        Ok(PartialFile { path: path.to_path_buf(), header, file, data_start })
    }

    /// The record buckets this partial holds.
    pub fn buckets(&self) -> BTreeSet<u32> {
        self.header
            .sections
            .iter()
            .filter_map(|s| match s.kind {
                SectionKind::Bucket(b) => Some(b),
                SectionKind::Files => None,
            })
            .collect()
    }

    /// Reads, checks and decompresses one section.
    fn section(&self, kind: SectionKind) -> Result<Vec<u8>> {
        let shown = escape::path(&self.path);
        let Some(info) = self.header.sections.iter().find(|s| s.kind == kind) else {
            bail!("{shown}: partial state holds no section {kind:?}")
        };
        let mut packed = vec![0u8; info.len as usize];
        self.file
            .read_exact_at(&mut packed, self.data_start + info.offset)
            .with_context(|| format!("cannot read partial {shown}"))?;
        if xxhash_rust::xxh3::xxh3_64(&packed) != info.checksum {
            bail!("{shown}: partial state is damaged (checksum mismatch in section {kind:?})");
        }
        let raw = zstd::bulk::decompress(&packed, info.raw_len as usize)
            .with_context(|| format!("{shown}: partial state section {kind:?} cannot be read"))?;
        if raw.len() as u64 != info.raw_len {
            bail!("{shown}: partial state is damaged (section {kind:?} has the wrong length)");
        }
        Ok(raw)
    }

    pub fn file_states(&self) -> Result<Vec<WireFileState>> {
        let raw = self.section(SectionKind::Files)?;
        let states: Vec<WireFileState> = postcard::from_bytes(&raw).with_context(|| {
            format!("{}: partial state's files cannot be decoded", escape::path(&self.path))
        })?;
        if states.len() != self.header.files.len() {
            bail!("{}: partial state is damaged (files section)", escape::path(&self.path));
        }
        Ok(states)
    }

    pub fn bucket(&self, bucket: u32) -> Result<WireBucket> {
        let raw = self.section(SectionKind::Bucket(bucket))?;
        postcard::from_bytes(&raw).with_context(|| {
            format!(
                "{}: partial state's bucket {bucket} cannot be decoded",
                escape::path(&self.path)
            )
        })
    }
}

fn format_name(s: &str) -> Option<&'static str> {
    ["", "csv", "zst", "gz", "csv+utf16", "zst+utf16", "gz+utf16"].into_iter().find(|f| *f == s)
}

fn status_of(s: &str) -> Option<FileStatus> {
    FileStatus::ALL.into_iter().find(|f| f.name() == s)
}

fn reason_name(s: &str) -> Option<&'static str> {
    Skip::ALL.into_iter().map(Skip::name).find(|r| *r == s)
}

fn file_state(w: WireFileState, index: usize, id: &WireFile, shown: &str) -> Result<FileState> {
    let damaged = || anyhow::anyhow!("{shown}: partial state is damaged (a file's state)");
    let status = status_of(&w.status).ok_or_else(damaged)?;
    let skipped: [u64; Skip::ALL.len()] = w.skipped.try_into().map_err(|_| damaged())?;
    let warnings: [u64; Warn::ALL.len()] = w.warnings.try_into().map_err(|_| damaged())?;
    let whole = match w.error_whole {
        None => None,
        Some((s, d)) => Some((status_of(&s).ok_or_else(damaged)?.name(), d)),
    };
    let rows = w
        .error_rows
        .into_iter()
        .map(|(row, reason, excerpt)| {
            Ok(ErrorRow { row, reason: reason_name(&reason).ok_or_else(damaged)?, excerpt })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(FileState {
        report: FileReport {
            index,
            name: w.name,
            format: format_name(&w.format).ok_or_else(damaged)?,
            disk_bytes: w.disk_bytes,
            csv_bytes: w.csv_bytes,
            rows: w.rows,
            meeting_records: w.meeting_records,
            earliest: w.earliest,
            latest: w.latest,
            window: w.window,
            outside_window: w.outside_window,
            export: w.export,
            status,
            detail: w.detail,
        },
        counts: Counts {
            disk_bytes: w.counts_disk_bytes,
            csv_bytes: w.counts_csv_bytes,
            rows: w.counts_rows,
            by_operation: w.by_operation.into_iter().collect(),
            skipped,
            warnings,
            earliest: w.counts_earliest,
            latest: w.counts_latest,
        },
        errors: FileErrors { whole, rows, unlisted: w.errors_unlisted },
        path: id.path.clone(),
        content: id.content,
    })
}

/// One decoded section's records, with the union's file numbers and the merged state's
/// symbols, split by record shard (keyed) or kept aside (no Id).
struct Rebuilt {
    keyed: Vec<Vec<(u128, Entry)>>,
    unkeyed: Vec<Entry>,
}

/// Turns one section's wire records into entries. `syms` maps the section's string numbers to
/// the merged state's symbols; `remap` its file numbers to the union table's.
fn rebuild(wire: WireBucket, syms: &[Sym], remap: &[usize], shown: &str) -> Result<Rebuilt> {
    let damaged = || anyhow::anyhow!("{shown}: partial state is damaged (a record)");
    let s = |n: u32| syms.get(n as usize).copied().ok_or_else(damaged);
    let mut out =
        Rebuilt { keyed: (0..RECORD_SHARDS).map(|_| Vec::new()).collect(), unkeyed: Vec::new() };
    for w in wire.entries {
        let mut copies: smallvec::SmallVec<[Seen; 1]> = smallvec::SmallVec::new();
        for c in &w.copies {
            let file = *remap.get(c.file as usize).ok_or_else(damaged)?;
            if c.offset >= 1 << OFFSET_BITS {
                return Err(damaged());
            }
            copies.push(Seen { pos: position(file, c.offset), hash: c.hash });
        }
        copies.sort_unstable();
        copies.dedup_by_key(|c| c.pos);
        let held = *w.copies.get(w.held as usize).ok_or_else(damaged)?;
        let held_pos = position(*remap.get(held.file as usize).ok_or_else(damaged)?, held.offset);
        let r = &w.rec;
        let rec = Rec {
            meeting: s(r.meeting)?,
            organizer_email: s(r.organizer_email)?,
            organizer_id: s(r.organizer_id)?,
            organizer_organization: s(r.organizer_organization)?,
            meeting_type: s(r.meeting_type)?,
            join: r.join,
            leave: r.leave,
            client_ip: s(r.client_ip)?,
            device: s(r.device)?,
            property: s(r.property)?,
            attendees: r
                .attendees
                .iter()
                .map(|a| {
                    Ok(Att {
                        key: s(a.key)?,
                        key_type: s(a.key_type)?,
                        organization: s(a.organization)?,
                        upn: s(a.upn)?,
                        is_object_id: a.is_object_id,
                    })
                })
                .collect::<Result<_>>()?,
        };
        let entry = Entry { pos: held_pos, hash: held.hash, copies, rec };
        match w.key {
            Some(key) => {
                let key = u128::from_le_bytes(key);
                out.keyed[Records::shard(key)].push((key, entry));
            }
            None => out.unkeyed.push(entry),
        }
    }
    Ok(out)
}

/// Partials read back and merged into one state.
pub struct Loaded {
    pub partial: Partial,
    pub buckets: BTreeSet<u32>,
    pub meta: Meta,
}

/// Reads `inputs` and merges them into one state, with the record buckets in `only` (every
/// bucket the inputs hold when `None`). File positions are renumbered into the sorted union of
/// the inputs' file tables, so archive order is the same whichever partial a file came in. Each
/// section must cover every file of the union: a merge of merges that left a partial out of one
/// bucket is refused, not reported short.
pub fn load(inputs: &[PartialFile], only: Option<u32>) -> Result<Loaded> {
    let Some(first) = inputs.first() else { bail!("no partial state given") };
    let meta = Meta { options: first.header.options.clone(), buckets: first.header.buckets };
    for p in inputs {
        let shown = escape::path(&p.path);
        if p.header.options != meta.options {
            bail!(
                "{shown}: partial state made with other options ({}) than {} ({})",
                escape::text(&p.header.options),
                escape::path(&first.path),
                escape::text(&meta.options)
            );
        }
        if p.header.buckets != meta.buckets {
            bail!(
                "{shown}: partial state has {} buckets, {} has {}",
                p.header.buckets,
                escape::path(&first.path),
                meta.buckets
            );
        }
        if let Some(b) = only {
            if b >= meta.buckets {
                bail!("bucket {b} does not exist: the partials have {} buckets", meta.buckets);
            }
            if !p.buckets().contains(&b) {
                bail!("{shown}: partial state holds no bucket {b}");
            }
        }
    }
    let mut union: Vec<WireFile> =
        inputs.iter().flat_map(|p| p.header.files.iter().cloned()).collect();
    union.sort_unstable();
    union.dedup();
    let remaps: Vec<Vec<usize>> = inputs
        .iter()
        .map(|p| {
            p.header.files.iter().map(|f| union.binary_search(f).unwrap_or_default()).collect()
        })
        .collect();
    // Which buckets to read, and the check that each is complete.
    let wanted: BTreeSet<u32> = match only {
        Some(b) => [b].into(),
        None => inputs.iter().flat_map(PartialFile::buckets).collect(),
    };
    for &b in &wanted {
        let mut covered = vec![false; union.len()];
        for (p, remap) in inputs.iter().zip(&remaps) {
            if p.buckets().contains(&b) {
                for &i in remap {
                    covered[i] = true;
                }
            }
        }
        if let Some(missing) = covered.iter().position(|c| !c) {
            bail!(
                "the partial states do not fit together: bucket {b} lacks the records of {} \
                 (and maybe more files); give merge every map partial, and finalize one merge \
                 per bucket",
                escape::text(&String::from_utf8_lossy(&union[missing].path))
            );
        }
    }
    // Files first (small), then every (partial, bucket) section decoded on its own thread and
    // merged as they come.
    let mut files = Partial::default();
    for (p, remap) in inputs.iter().zip(&remaps) {
        let shown = escape::path(&p.path);
        for (i, w) in p.file_states()?.into_iter().enumerate() {
            let index = remap[i];
            files.add_file(file_state(w, index, &union[index], &shown)?);
        }
    }
    let jobs: Vec<(usize, u32)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.buckets().into_iter().filter(|b| wanted.contains(b)).map(move |b| (i, b))
        })
        .collect();
    // Decoded in parallel; the strings interned once, section by section, into one table;
    // the records rebuilt in parallel and put in place one task per record shard. No state is
    // merged into another: a record moves twice, a string is interned once per section.
    let started = std::time::Instant::now();
    let wire = jobs
        .into_par_iter()
        .map(|(i, b)| Ok((i, inputs[i].bucket(b)?)))
        .collect::<Result<Vec<(usize, WireBucket)>>>()?;
    let decoded = started.elapsed().as_secs_f64();
    let mut partial = files;
    let syms: Vec<Vec<Sym>> = wire
        .iter()
        .map(|(_, w)| w.strings.iter().map(|s| partial.strings.intern(s)).collect())
        .collect();
    let rebuilt = wire
        .into_par_iter()
        .zip(syms)
        .map(|((i, w), syms)| rebuild(w, &syms, &remaps[i], &escape::path(&inputs[i].path)))
        .collect::<Result<Vec<Rebuilt>>>()?;
    let mut keyed = Vec::with_capacity(rebuilt.len());
    for part in rebuilt {
        keyed.push(part.keyed);
        partial.unkeyed.extend(part.unkeyed);
    }
    partial.unkeyed.sort_by_key(|e| e.pos);
    partial.unkeyed.dedup_by_key(|e| e.pos);
    partial.records = Records::from_parts(keyed);
    if std::env::var_os("TALA_BULK_TIMINGS").is_some() {
        let bytes: u64 =
            inputs.iter().map(|p| p.header.sections.iter().map(|s| s.len).sum::<u64>()).sum();
        eprintln!(
            "tala-bulk: timing: partial states: {:.1} MB decoded in {decoded:.3} s, rebuilt in \
             {:.3} s",
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64() - decoded
        );
    }
    Ok(Loaded { partial, buckets: wanted, meta })
}
