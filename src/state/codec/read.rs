//! Reading partial-state files: the header checked on opening, sections read, checked and
//! decompressed on demand, and a set of partials loaded into one state with their files
//! renumbered into the sorted union of their tables.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use super::wire::*;
use super::{bucket_of, Meta, BUCKET_HASH, FORMAT_VERSION, MAGIC};
use crate::escape;
use crate::state::addr::Addr;
use crate::state::files::{
    Counts, ErrorRow, FileErrors, FileReport, FileState, FileStatus, Skip, Warn,
};
use crate::state::intern::{Interner, Sym};
use crate::state::partial::{
    position, Att, Entry, Partial, Rec, Records, Seen, MAX_FILES, OFFSET_BITS, RECORD_SHARDS,
};

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
                SectionKind::Files | SectionKind::Catalog | SectionKind::Users => None,
            })
            .collect()
    }

    /// Reads every section and checks its checksum (without decoding): what a cache checks
    /// before it trusts an entry.
    pub fn verify(&self) -> Result<()> {
        for info in &self.header.sections {
            self.packed(info)?;
        }
        Ok(())
    }

    /// A section's compressed bytes, read and checked against its checksum.
    fn packed(&self, info: &SectionInfo) -> Result<Vec<u8>> {
        let shown = escape::path(&self.path);
        let mut packed = vec![0u8; info.len as usize];
        self.file
            .read_exact_at(&mut packed, self.data_start + info.offset)
            .with_context(|| format!("cannot read partial {shown}"))?;
        if xxhash_rust::xxh3::xxh3_64(&packed) != info.checksum {
            let kind = info.kind;
            bail!("{shown}: partial state is damaged (checksum mismatch in section {kind:?})");
        }
        Ok(packed)
    }

    /// Reads, checks and decompresses one section.
    fn section(&self, kind: SectionKind) -> Result<Vec<u8>> {
        let shown = escape::path(&self.path);
        let Some(info) = self.header.sections.iter().find(|s| s.kind == kind) else {
            bail!("{shown}: partial state holds no section {kind:?}")
        };
        let packed = self.packed(info)?;
        // Streamed, not into a buffer of the length the header claims: a damaged or hostile
        // header could claim terabytes. Memory grows only with what the frame really holds,
        // and never past the claimed length.
        let mut raw = Vec::with_capacity((info.raw_len as usize).min(packed.len() * 8));
        let decoder = zstd::stream::read::Decoder::with_buffer(&packed[..])
            .with_context(|| format!("{shown}: partial state section {kind:?} cannot be read"))?;
        std::io::Read::read_to_end(&mut std::io::Read::take(decoder, info.raw_len + 1), &mut raw)
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

    /// The catalog of a one-file partial of a state directory (see [`WireCatalog`]).
    pub fn catalog(&self) -> Result<WireCatalog> {
        let shown = escape::path(&self.path);
        let raw = self.section(SectionKind::Catalog)?;
        let catalog: WireCatalog = postcard::from_bytes(&raw)
            .with_context(|| format!("{shown}: partial state's catalog cannot be decoded"))?;
        if !catalog.agrees() {
            bail!("{shown}: partial state is damaged (its catalog's columns do not agree)");
        }
        Ok(catalog)
    }

    /// The users-database pairs of a one-file partial of a state directory.
    pub fn users(&self) -> Result<Vec<WireUser>> {
        let raw = self.section(SectionKind::Users)?;
        postcard::from_bytes(&raw).with_context(|| {
            format!("{}: partial state's users cannot be decoded", escape::path(&self.path))
        })
    }

    /// The stored length of a bucket's section (0 if it has none).
    fn bucket_len(&self, bucket: u32) -> u64 {
        let sections = self.header.sections.iter();
        sections.filter(|s| s.kind == SectionKind::Bucket(bucket)).map(|s| s.len).sum()
    }

    /// A bucket's records, their columns checked to agree (see [`WireBucket::rows`]) and
    /// their strings to lie on character boundaries.
    pub fn bucket(&self, bucket: u32) -> Result<WireBucket> {
        let shown = escape::path(&self.path);
        let raw = self.section(SectionKind::Bucket(bucket))?;
        let wire: WireBucket = postcard::from_bytes(&raw).with_context(|| {
            format!("{shown}: partial state's bucket {bucket} cannot be decoded")
        })?;
        if wire.rows().is_none() || wire.strings().any(|s| s.is_none()) {
            bail!("{shown}: partial state is damaged (bucket {bucket}'s columns do not agree)");
        }
        Ok(wire)
    }
}

/// The format names truncation.csv can show, as `&'static str` again: a CSV export's, or a
/// JSON input's (`source::json::FORMATS`).
fn format_name(s: &str) -> Option<&'static str> {
    let csv = ["", "csv", "zst", "gz", "csv+utf16", "zst+utf16", "gz+utf16"];
    csv.into_iter().chain(crate::source::json::FORMATS).find(|f| *f == s)
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

/// Turns one section's wire records into entries (those `keep` marks, all without it).
/// `syms` maps the section's string numbers to the merged state's symbols; `remap` its file
/// numbers to the union table's.
fn rebuild(
    wire: &WireBucket,
    keep: Option<&[bool]>,
    (bucket, buckets): (u32, u32),
    syms: &[Sym],
    remap: &[usize],
    shown: &str,
) -> Result<Rebuilt> {
    let damaged = || anyhow::anyhow!("{shown}: partial state is damaged (a record)");
    let s = |n: u32| syms.get(n as usize).copied().ok_or_else(damaged);
    let rows = wire.rows().ok_or_else(damaged)?;
    // Room for an even share of the section's records in each shard, and a little more.
    let share = wire.held.len() / RECORD_SHARDS;
    let share = share + share / 8 + 16;
    let mut out = Rebuilt {
        keyed: (0..RECORD_SHARDS).map(|_| Vec::with_capacity(share)).collect(),
        unkeyed: Vec::new(),
    };
    for row in rows {
        if keep.is_some_and(|k| !k.get(row.index).copied().unwrap_or(true)) {
            continue;
        }
        let mut copies: smallvec::SmallVec<[Seen; 1]> = smallvec::SmallVec::new();
        let mut held = None;
        for (j, c) in row.copies.clone().map(|j| wire.seen(j)).enumerate() {
            let file = *remap.get(c.file as usize).ok_or_else(damaged)?;
            if c.offset >= 1 << OFFSET_BITS {
                return Err(damaged());
            }
            let seen = Seen { pos: position(file, c.offset), hash: c.hash };
            if j == row.held as usize {
                held = Some(seen);
            }
            copies.push(seen);
        }
        let held = held.ok_or_else(damaged)?;
        copies.sort_unstable();
        copies.dedup_by_key(|c| c.pos);
        let [meeting, email, id, organization, meeting_type, ip, device, property, agent] =
            wire.strings_of(row.index);
        let (join, leave) = wire.times_of(row.index);
        let rec = Rec {
            meeting: s(meeting)?,
            organizer_email: s(email)?,
            organizer_id: s(id)?,
            organizer_organization: s(organization)?,
            meeting_type: s(meeting_type)?,
            join,
            leave,
            client_ip: match wire.v4_of(row.index) {
                Some(bits) => Addr::from_ipv4(bits),
                // Text an IPv4 address reads back as is kept as one, as reading keeps it.
                None => match wire.string(ip).and_then(Addr::v4) {
                    Some(addr) => addr,
                    None => Addr::interned(s(ip)?),
                },
            },
            device: s(device)?,
            property: s(property)?,
            user_agent: s(agent)?,
            attendees: row
                .attendees
                .map(|j| {
                    let a = wire.att(j);
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
        let entry = Entry { pos: held.pos, hash: held.hash, copies, rec };
        // A record in the wrong bucket would be met by no merge of its own bucket.
        match row.key {
            Some(key) => {
                if bucket_of(key, buckets) != bucket {
                    return Err(damaged());
                }
                out.keyed[Records::shard(key)].push((key, entry));
            }
            None if bucket == 0 => out.unkeyed.push(entry),
            None => return Err(damaged()),
        }
    }
    Ok(out)
}

/// A decoded record section: its input, its bucket, its records, and with selected meetings,
/// which of its records and strings those meetings use.
struct Section {
    input: usize,
    bucket: u32,
    wire: WireBucket,
    selection: Option<Selection>,
}

/// The records of a section to keep, and the strings they use.
struct Selection {
    records: Vec<bool>,
    strings: Vec<bool>,
}

/// The symbols of each section's strings in `strings`, the strings that no kept record uses
/// left out: they get a symbol no record will ask for.
fn intern_sections(strings: &mut Interner, sections: &[Section]) -> Vec<Vec<Sym>> {
    sections
        .iter()
        .map(|section| {
            let used = section.selection.as_ref().map(|s| &s.strings);
            let used = |n: usize| used.is_none_or(|u| u.get(n).copied().unwrap_or(true));
            let sym = |(n, s): (usize, Option<&str>)| match s {
                Some(s) if used(n) => strings.intern(s),
                _ => 0,
            };
            section.wire.strings().enumerate().map(sym).collect()
        })
        .collect()
}

/// Which records of `wire` belong to `meetings` (any whose meeting number is out of range is
/// kept, for the rebuild to refuse), and which of its strings they use.
fn keep_meetings(wire: &WireBucket, meetings: &hashbrown::HashSet<u128>) -> Selection {
    let strings = wire.ends.len();
    let mut wanted: Vec<Option<bool>> = vec![None; strings];
    let mut keep = |n: u32| match (wanted.get_mut(n as usize), wire.string(n)) {
        (Some(slot), Some(id)) => {
            *slot.get_or_insert_with(|| meetings.contains(&super::meeting_key(id)))
        }
        _ => true,
    };
    let records: Vec<bool> = wire.meeting.iter().map(|&n| keep(n)).collect();
    let mut used = vec![false; strings];
    let mut mark = |n: u32| {
        if let Some(u) = used.get_mut(n as usize) {
            *u = true;
        }
    };
    // `bucket` checked the columns; a section that fails here is refused by the rebuild.
    for row in wire.rows().into_iter().flatten().filter(|r| records[r.index]) {
        wire.strings_of(row.index).into_iter().for_each(&mut mark);
        for a in row.attendees.map(|j| wire.att(j)) {
            [a.key, a.key_type, a.organization, a.upn].into_iter().for_each(&mut mark);
        }
    }
    Selection { records, strings: used }
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
    load_from(inputs, only, None)
}

/// Archive order across partials: the sorted union of their file tables, and for each input,
/// each of its files' place in it. Positions of loaded records number files by these places.
pub fn places(inputs: &[PartialFile]) -> Result<(Vec<WireFile>, Vec<Vec<usize>>)> {
    let mut union: Vec<WireFile> =
        inputs.iter().flat_map(|p| p.header.files.iter().cloned()).collect();
    union.sort_unstable();
    union.dedup();
    if union.len() >= MAX_FILES {
        bail!(
            "the partial states cover {} files; at most {} fit in one run",
            union.len(),
            MAX_FILES - 1
        );
    }
    let remaps: Vec<Vec<usize>> = inputs
        .iter()
        .map(|p| {
            p.header.files.iter().map(|f| union.binary_search(f).unwrap_or_default()).collect()
        })
        .collect();
    Ok((union, remaps))
}

/// [`load`] of every input's files, but only of the records of `meetings` (by
/// [`super::meeting_key`]), read from the inputs marked in `files`: a windowed run with
/// `--state` loads the files that hold the window's meetings. Positions are numbered in the
/// union of every input's table, as [`load`] numbers them.
pub fn load_meetings(
    inputs: &[PartialFile],
    files: &[bool],
    meetings: &hashbrown::HashSet<u128>,
) -> Result<Loaded> {
    load_from(inputs, None, Some((files, meetings)))
}

fn load_from(
    inputs: &[PartialFile],
    only: Option<u32>,
    selected: Option<(&[bool], &hashbrown::HashSet<u128>)>,
) -> Result<Loaded> {
    let records_of = selected.map(|(files, _)| files);
    let Some(first) = inputs.first() else { bail!("no partial state given") };
    let meta = Meta { options: first.header.options.clone(), buckets: first.header.buckets };
    let held: Vec<BTreeSet<u32>> = inputs.iter().map(PartialFile::buckets).collect();
    for (p, buckets) in inputs.iter().zip(&held) {
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
            if !buckets.contains(&b) {
                bail!("{shown}: partial state holds no bucket {b}");
            }
        }
    }
    let (union, remaps) = places(inputs)?;
    // Which buckets to read, and the check that each is complete.
    let wanted: BTreeSet<u32> = match only {
        Some(b) => [b].into(),
        None => held.iter().flatten().copied().collect(),
    };
    for &b in wanted.iter().filter(|_| records_of.is_none()) {
        let mut covered = vec![false; union.len()];
        for (buckets, remap) in held.iter().zip(&remaps) {
            if buckets.contains(&b) {
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
                escape::bytes(&union[missing].path)
            );
        }
    }
    // Files first (small), then the records of every (partial, bucket) section.
    let mut files = Partial::default();
    for (p, remap) in inputs.iter().zip(&remaps) {
        let shown = escape::path(&p.path);
        for (i, w) in p.file_states()?.into_iter().enumerate() {
            let index = remap[i];
            files.add_file(file_state(w, index, &union[index], &shown)?);
        }
    }
    let jobs: Vec<(usize, u32)> = held
        .iter()
        .enumerate()
        .filter(|(i, _)| records_of.is_none_or(|r| r.get(*i).copied().unwrap_or(false)))
        .flat_map(|(i, buckets)| buckets.intersection(&wanted).map(move |&b| (i, b)))
        .collect();
    // Decoded in parallel; the strings interned once, section by section, into one table;
    // the records rebuilt in parallel and put in place one task per record shard. No state is
    // merged into another: a record moves twice, a string is interned once per section.
    let started = std::time::Instant::now();
    let read_bytes: u64 = jobs.iter().map(|&(i, b)| inputs[i].bucket_len(b)).sum();
    // A few sections at a time (two per worker), each group decoded, interned, rebuilt and put
    // in place before the next is decoded: the memory of one group's wire records is reused
    // by the next, where decoding every section first held them all at once (the state run
    // spent a fifth of its time having fresh pages zeroed).
    let mut partial = files;
    let mut decoded = 0.0;
    let group = 2 * rayon::current_num_threads().max(1);
    // Turns a group's wire records into entries and puts them in place.
    let place = |records: &mut Records,
                 unkeyed: &mut Vec<Entry>,
                 sections: Vec<Section>,
                 syms: Vec<Vec<Sym>>|
     -> Result<()> {
        let rebuilt = sections
            .into_par_iter()
            .zip(syms)
            .map(|(section, syms)| {
                let Section { input, bucket, wire, selection } = section;
                let shown = escape::path(&inputs[input].path);
                let keep = selection.as_ref().map(|s| s.records.as_slice());
                rebuild(&wire, keep, (bucket, meta.buckets), &syms, &remaps[input], &shown)
            })
            .collect::<Result<Vec<Rebuilt>>>()?;
        let mut keyed = Vec::with_capacity(rebuilt.len());
        for part in rebuilt {
            keyed.push(part.keyed);
            unkeyed.extend(part.unkeyed);
        }
        records.absorb_parts(keyed);
        Ok(())
    };
    // The group decoded and interned last, placed while the next one is interned.
    let mut previous: Option<(Vec<Section>, Vec<Vec<Sym>>)> = None;
    let all_jobs = jobs.len();
    for jobs in jobs.chunks(group) {
        let clock = std::time::Instant::now();
        // With selected meetings, the other meetings' records are marked before anything is
        // interned, and only the strings the kept ones use are.
        let sections = jobs
            .par_iter()
            .map(|&(input, bucket)| {
                let wire = inputs[input].bucket(bucket)?;
                let selection = selected.map(|(_, meetings)| keep_meetings(&wire, meetings));
                Ok(Section { input, bucket, wire, selection })
            })
            .collect::<Result<Vec<Section>>>()?;
        decoded += clock.elapsed().as_secs_f64();
        if previous.is_none() {
            // The record shards sized once, for the records the first group's bytes suggest
            // all sections hold (copies across files make it an overestimate, which costs
            // address space, not memory): grown group by group, they moved every record
            // placed so far each time. A header's lengths are not checked yet, so the
            // estimate is held to four times what the group's records per section suggest.
            let bytes: u64 = jobs.iter().map(|&(i, b)| inputs[i].bucket_len(b)).sum();
            let records: usize = sections.iter().map(|s| s.wire.held.len()).sum();
            let per_section = records as f64 * all_jobs as f64 / jobs.len().max(1) as f64;
            if bytes > 0 {
                let estimate = records as f64 * read_bytes as f64 / bytes as f64;
                partial.records.reserve(estimate.min(4.0 * per_section) as usize);
            }
        }
        // Interning is one table, so one thread: it runs while the other workers rebuild and
        // place the previous group, which needs only that group's symbols.
        let Partial { strings, records, unkeyed, .. } = &mut partial;
        let (syms, placed) = rayon::join(
            || intern_sections(strings, &sections),
            || match previous.take() {
                Some((sections, syms)) => place(records, unkeyed, sections, syms),
                None => Ok(()),
            },
        );
        placed?;
        previous = Some((sections, syms));
    }
    if let Some((sections, syms)) = previous.take() {
        place(&mut partial.records, &mut partial.unkeyed, sections, syms)?;
    }
    partial.unkeyed.sort_by_key(|e| e.pos);
    partial.unkeyed.dedup_by_key(|e| e.pos);
    crate::messages::timing(format_args!(
        "partial states: {:.1} MB decoded in {decoded:.3} s, rebuilt in {:.3} s",
        read_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64() - decoded
    ));
    Ok(Loaded { partial, buckets: wanted, meta })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::addr::Addr;

    /// One record without Id per client address, each its only copy with no attendee; every
    /// other string is the empty one.
    fn section(strings: &[&str], client_ip: &[u32], client_v4: &[u32]) -> WireBucket {
        let n = client_ip.len();
        let mut ends = Vec::new();
        let mut text = String::new();
        for s in strings {
            text.push_str(s);
            ends.push(text.len() as u64);
        }
        WireBucket {
            text,
            ends,
            held: vec![0; n],
            copies: vec![1; n],
            copy_file: vec![0; n],
            copy_offset: (0..n as u64).collect(),
            copy_hash: vec![0; 8 * n],
            meeting: vec![0; n],
            organizer_email: vec![0; n],
            organizer_id: vec![0; n],
            organizer_organization: vec![0; n],
            meeting_type: vec![0; n],
            client_ip: client_ip.to_vec(),
            client_v4: client_v4.to_vec(),
            device: vec![0; n],
            property: vec![0; n],
            user_agent: vec![0; n],
            join: vec![0; 8 * n],
            leave: vec![0; 8 * n],
            attendees: vec![0; n],
            ..WireBucket::default()
        }
    }

    #[test]
    fn an_ipv4_address_is_bits_whether_written_as_bits_or_as_text() {
        let texts = ["", "10.0.0.1", "10.0.0.1:443"];
        let wire = section(&texts, &[1, CLIENT_V4, 2], &[0, 0x0a00_0001, 0]);
        let mut strings = Interner::new();
        let syms = strings.intern_all(texts.into_iter());
        let rebuilt = rebuild(&wire, None, (0, 1), &syms, &[0], "p.tbp").expect("a sound section");
        let addrs: Vec<Addr> = rebuilt.unkeyed.iter().map(|e| e.rec.client_ip).collect();
        assert_eq!(addrs[0], addrs[1], "one address, one value");
        assert_eq!(addrs[0].ipv4(), Some(0x0a00_0001));
        assert_eq!(addrs[2].sym(), Some(syms[2]));
    }
}
