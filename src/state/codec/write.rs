//! Writing a partial-state file: a [`Partial`] turned into wire types in a canonical order,
//! compressed section by section, and written under a name made from its content.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;

use super::wire::*;
use super::{bucket_of, Meta, BUCKET_HASH, FORMAT_VERSION, MAGIC, SUFFIX, ZSTD_LEVEL};
use crate::analyze::users;
use crate::escape;
use crate::state::addr::Kind;
use crate::state::files::FileState;
use crate::state::intern::{Interner, Sym};
use crate::state::partial::{file_and_offset, Entry, Partial};

/// Numbers strings in order of first use, for one section, laid out as a [`WireBucket`]
/// holds them. A table indexed by symbol, not a hash map: symbols are dense, and hashing them
/// took a sixth of encoding's time.
struct Numbering<'a> {
    from: &'a Interner,
    number: Vec<u32>,
    text: String,
    ends: Vec<u64>,
}

impl<'a> Numbering<'a> {
    const NONE: u32 = u32::MAX;

    fn new(from: &'a Interner) -> Numbering<'a> {
        Numbering {
            from,
            number: vec![Numbering::NONE; from.len()],
            text: String::new(),
            ends: Vec::new(),
        }
    }

    fn of(&mut self, sym: Sym) -> u32 {
        let Some(slot) = self.number.get_mut(sym as usize) else { return 0 };
        if *slot == Numbering::NONE {
            *slot = self.ends.len() as u32;
            self.text.push_str(self.from.get(sym));
            self.ends.push(self.text.len() as u64);
        }
        *slot
    }
}

/// The partial's files in index order, and each in-memory file index's place among them.
fn file_table(partial: &Partial) -> (Vec<WireFile>, Vec<u32>) {
    let mut table = Vec::with_capacity(partial.files.len());
    let last = partial.files.keys().next_back().map_or(0, |i| i + 1);
    let mut place = vec![u32::MAX; last];
    for (i, (index, file)) in partial.files.iter().enumerate() {
        table.push(WireFile { path: file.path.clone(), content: file.content });
        place[*index] = i as u32;
    }
    (table, place)
}

/// Adds a record to the section's columns.
fn push_entry(
    out: &mut WireBucket,
    key: Option<u128>,
    entry: &Entry,
    numbering: &mut Numbering<'_>,
    place: &[u32],
) -> Result<()> {
    if let Some(key) = key {
        out.keys.extend_from_slice(&key.to_le_bytes());
    }
    let held = entry.copies.iter().position(|s| s.pos == entry.pos).unwrap_or(0) as u32;
    out.held.push(held);
    out.copies.push(entry.copies.len() as u32);
    for seen in &entry.copies {
        let (file, offset) = file_and_offset(seen.pos);
        let Some(&file) = place.get(file).filter(|f| **f != u32::MAX) else {
            bail!("internal error: a record's position names a file the state does not hold")
        };
        out.copy_file.push(file);
        out.copy_offset.push(offset);
        out.copy_hash.extend_from_slice(&seen.hash.to_le_bytes());
    }
    let r = &entry.rec;
    let mut n = |s: Sym| numbering.of(s);
    out.meeting.push(n(r.meeting));
    out.organizer_email.push(n(r.organizer_email));
    out.organizer_id.push(n(r.organizer_id));
    out.organizer_organization.push(n(r.organizer_organization));
    out.meeting_type.push(n(r.meeting_type));
    let (ip, v4) = match r.client_ip.kind() {
        Kind::Ipv4(bits) => (CLIENT_V4, bits),
        Kind::Interned(sym) => (n(sym), 0),
    };
    out.client_ip.push(ip);
    out.client_v4.push(v4);
    out.device.push(n(r.device));
    out.property.push(n(r.property));
    out.user_agent.push(n(r.user_agent));
    out.join.extend_from_slice(&r.join.raw().to_le_bytes());
    out.leave.extend_from_slice(&r.leave.raw().to_le_bytes());
    out.attendees.push(r.attendees.len() as u32);
    for a in &r.attendees {
        out.att_key.push(n(a.key));
        out.att_key_type.push(n(a.key_type));
        out.att_organization.push(n(a.organization));
        out.att_upn.push(n(a.upn));
        out.att_object_id.push(u8::from(a.is_object_id));
    }
    Ok(())
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
    encode_sections(partial, meta, buckets, false)
}

/// Encodes the state of one file for a state directory: with every bucket and a
/// [`WireCatalog`].
pub fn encode_cached(partial: &Partial, meta: &Meta) -> Result<Vec<u8>> {
    encode_sections(partial, meta, None, true)
}

/// The catalog of a one-file state: its records' keys and content and its meetings' first
/// joins, each in key order; and its users-database pairs.
fn catalog(partial: &Partial) -> Result<(WireCatalog, Vec<WireUser>)> {
    if partial.files.len() != 1 || !partial.loose_copies.is_empty() {
        bail!("internal error: a catalog is made of one file's state, read on its own");
    }
    let mut records: Vec<WireKept> =
        partial.records.iter().map(|(key, entry)| WireKept { key, hash: entry.hash }).collect();
    let copies = partial.records.values().map(|e| e.copies.len() as u64).sum();
    let conflicts = partial.records.values().map(|e| e.conflicts()).sum();
    records.sort_unstable_by_key(|r| r.key);
    let mut first: hashbrown::HashMap<Sym, Option<i64>> = hashbrown::HashMap::new();
    for entry in partial.entries() {
        let slot = first.entry(entry.rec.meeting).or_insert(None);
        if let Some(join) = entry.rec.first_join() {
            *slot = Some(slot.map_or(join, |t| t.min(join)));
        }
    }
    let mut meetings: Vec<WireMeetingKey> = first
        .into_iter()
        .map(|(sym, first_join)| WireMeetingKey {
            key: super::meeting_key(partial.strings.get(sym)),
            first_join,
        })
        .collect();
    meetings.sort_unstable_by_key(|m| m.key);
    // As `UsersDb::learn` takes them: the earliest record wins, the first pair of a record on a
    // tie.
    let s = &partial.strings;
    let mut first: hashbrown::HashMap<&str, ((u64, u32), &str)> = hashbrown::HashMap::new();
    for entry in partial.entries() {
        let (_, offset) = file_and_offset(entry.pos);
        for (place, (uuid, email)) in entry.rec.user_pairs().enumerate() {
            let (uuid, email) = (s.get(uuid), s.get(email));
            if !users::storable(uuid) || !users::storable(email) {
                continue;
            }
            let at = (offset, place as u32);
            let slot = first.entry(uuid).or_insert((at, email));
            if at < slot.0 {
                *slot = (at, email);
            }
        }
    }
    let mut users: Vec<WireUser> = first
        .into_iter()
        .map(|(uuid, ((offset, place), email))| WireUser {
            uuid: uuid.to_string(),
            email: email.to_string(),
            offset,
            place,
        })
        .collect();
    users.sort_unstable_by(|a, b| a.uuid.cmp(&b.uuid));
    Ok((WireCatalog::new(&records, copies, conflicts, &meetings), users))
}

fn encode_sections(
    partial: &Partial,
    meta: &Meta,
    buckets: Option<&BTreeSet<u32>>,
    with_catalog: bool,
) -> Result<Vec<u8>> {
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
    let records = || -> Result<Vec<(SectionKind, u64, Vec<u8>)>> {
        grouped
            .into_par_iter()
            .map(|(bucket, mut group)| {
                group.sort_unstable_by_key(|(key, entry)| (key.is_none(), *key, entry.pos));
                let mut numbering = Numbering::new(strings);
                let mut wire = WireBucket::default();
                for (key, entry) in &group {
                    push_entry(&mut wire, *key, entry, &mut numbering, &place)?;
                }
                (wire.text, wire.ends) = (numbering.text, numbering.ends);
                compress(SectionKind::Bucket(bucket), &wire)
            })
            .collect()
    };
    // A state directory's partial has one bucket: its catalog is made beside it.
    let catalogs = || -> Result<Vec<(SectionKind, u64, Vec<u8>)>> {
        if !with_catalog {
            return Ok(Vec::new());
        }
        let (catalog, users) = catalog(partial)?;
        Ok(vec![compress(SectionKind::Catalog, &catalog)?, compress(SectionKind::Users, &users)?])
    };
    let (records, catalogs) = rayon::join(records, catalogs);
    let file_states: Vec<WireFileState> = partial.files.values().map(wire_file_state).collect();
    let mut sections = vec![compress(SectionKind::Files, &file_states)?];
    sections.extend(records?);
    sections.extend(catalogs?);
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
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", escape::path(dir)))?;
    write_atomic(dir, &name, bytes)
}

/// Writes `bytes` to `dir/name` through `.name.tmp-PID`, synced, then renamed, and syncs the
/// directory: a reader finds the old file or the whole new one, after a crash too.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
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
