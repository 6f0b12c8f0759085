//! Partial: the state one worker builds from the records it read, and the merge that
//! combines partial states. Records are kept by their Id so duplicates across overlapping
//! exports collapse; each keeps its archive position so "first" means first in archive order
//! however the work was split. `merge` is commutative and associative (counts add, the record
//! with the smaller position wins, per-copy content hashes accumulate), so partials from threads
//! today, or from other machines tomorrow, combine into the same reports. The workers of one
//! run also share `claims::Claims`, an Id index that lets a later copy be counted instead of stored;
//! it saves memory and never changes the result. Previous stage: `extract`; next: `analyze::meetings`,
//! which turns the merged records into meetings.

use std::collections::BTreeMap;

use smallvec::SmallVec;

use crate::extract::auditdata::AuditRecord;
use crate::state::addr::Addr;
use crate::state::intern::{Hashed, Interner, Sym};
use crate::timestamp::{MaybeTs, Ts};

use super::claims::Claims;
use super::files::{Counts, FileReport, FileState};

/// Archive position: file index in the high 24 bits, byte offset of the row in the low 40.
/// Ordering positions is archive order (SPEC 2).
pub type Pos = u64;

pub const MAX_FILES: usize = 1 << 24;
pub const OFFSET_BITS: u32 = 40;

pub fn position(file: usize, offset: u64) -> Pos {
    ((file as u64) << OFFSET_BITS) | offset.min((1 << OFFSET_BITS) - 1)
}

/// The (file index, byte offset) a position was made of: [`position`]'s inverse.
pub fn file_and_offset(pos: Pos) -> (usize, u64) {
    ((pos >> OFFSET_BITS) as usize, pos & ((1 << OFFSET_BITS) - 1))
}

/// One attendee of a kept record, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Att {
    pub key: Sym,
    pub key_type: Sym,
    pub organization: Sym,
    pub upn: Sym,
    /// `key` is a UserObjectId.
    pub is_object_id: bool,
}

/// The part of a MeetingParticipantDetail record the reports use, interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub meeting: Sym,
    pub organizer_email: Sym,
    pub organizer_id: Sym,
    pub organizer_organization: Sym,
    pub meeting_type: Sym,
    pub join: MaybeTs,
    pub leave: MaybeTs,
    pub client_ip: Addr,
    pub device: Sym,
    pub property: Sym,
    /// The whole UserAgent, empty when the record has none: what `property` shortens, kept
    /// so that the clients report can tell a browser from the Teams app.
    pub user_agent: Sym,
    pub attendees: SmallVec<[Att; 1]>,
}

impl Rec {
    /// The time this record gives its meeting's first join: its JoinTime when it has
    /// attendees, since every attendee of a record is a connection joined then. A meeting's
    /// first join is the earliest of its records'.
    pub fn first_join(&self) -> Option<Ts> {
        self.join.get().filter(|_| !self.attendees.is_empty())
    }

    /// The UUID-email pairs the users database learns from this record, in their order within
    /// it: the organizer, then each attendee keyed by an object id.
    pub fn user_pairs(&self) -> impl Iterator<Item = (Sym, Sym)> + '_ {
        std::iter::once((self.organizer_id, self.organizer_email))
            .chain(self.attendees.iter().filter(|a| a.is_object_id).map(|a| (a.key, a.upn)))
    }

    fn remap(&mut self, map: &[Sym]) {
        let m = |s: &mut Sym| *s = map[*s as usize];
        m(&mut self.meeting);
        m(&mut self.organizer_email);
        m(&mut self.organizer_id);
        m(&mut self.organizer_organization);
        m(&mut self.meeting_type);
        self.client_ip = self.client_ip.remap(map);
        m(&mut self.device);
        m(&mut self.property);
        m(&mut self.user_agent);
        for a in &mut self.attendees {
            m(&mut a.key);
            m(&mut a.key_type);
            m(&mut a.organization);
            m(&mut a.upn);
        }
    }
}

/// One copy of a record as read: where it was and a hash of its AuditData text. Its position
/// identifies it, so the same copy met twice (a file's contribution merged twice) counts once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub pos: Pos,
    pub hash: u64,
}

/// A kept record and every copy of it seen so far.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Archive position of the copy whose record is held: the first in archive order once
    /// every copy has met.
    pub pos: Pos,
    /// Content hash (of the AuditData text) of that copy.
    pub hash: u64,
    /// Every copy seen, in archive order, the held one among them.
    pub copies: SmallVec<[Seen; 1]>,
    pub rec: Rec,
}

impl Entry {
    pub fn new(pos: Pos, hash: u64, rec: Rec) -> Entry {
        Entry { pos, hash, copies: smallvec::smallvec![Seen { pos, hash }], rec }
    }

    /// Adds a copy unless it is already here.
    fn add_copy(&mut self, seen: Seen) {
        if let Err(at) = self.copies.binary_search_by_key(&seen.pos, |s| s.pos) {
            self.copies.insert(at, seen);
        }
    }

    /// Takes in another entry of the same record: the union of their copies, and the record of
    /// the earlier held copy.
    fn absorb(&mut self, other: Entry) {
        if other.pos < self.pos {
            self.pos = other.pos;
            self.hash = other.hash;
            self.rec = other.rec;
        }
        for seen in other.copies {
            self.add_copy(seen);
        }
    }

    /// Copies beyond the kept one.
    pub fn duplicates(&self) -> u64 {
        self.copies.len().saturating_sub(1) as u64
    }

    /// Copies whose content differs from the kept one.
    pub fn conflicts(&self) -> u64 {
        self.copies.iter().filter(|s| s.hash != self.hash).count() as u64
    }
}

/// The record identity used for deduplication: a UUID as its 128 bits (so case and hyphen
/// style do not matter), any other Id as a 128-bit hash of its text.
pub fn record_key(id: &str) -> u128 {
    parse_uuid(id).unwrap_or_else(|| xxhash_rust::xxh3::xxh3_128(id.as_bytes()))
}

fn parse_uuid(s: &str) -> Option<u128> {
    let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
    if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    // 8-4-4 digits make the high half, 4-12 the low one. Every digit is looked up and any
    // invalid one marks `bad`, without a branch per digit: every record's Id passes here.
    let mut bad = 0u8;
    let mut half = |digits: &mut dyn Iterator<Item = &u8>| {
        digits.fold(0u64, |v, &c| {
            let d = HEX[usize::from(c)];
            bad |= d;
            (v << 4) | u64::from(d & 0x0f)
        })
    };
    let high = half(&mut b[0..8].iter().chain(&b[9..13]).chain(&b[14..18]));
    let low = half(&mut b[19..23].iter().chain(&b[24..36]));
    (bad & 0x80 == 0).then(|| (u128::from(high) << 64) | u128::from(low))
}

/// The value of each hexadecimal digit (either case); 0xff for any other byte.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// A record key as two u64s, for tables of many small entries: a u128 is 16-byte aligned and
/// would pad a 24-byte entry to 32 bytes.
pub(crate) fn split_key(key: u128) -> [u64; 2] {
    [key as u64, (key >> 64) as u64]
}

/// The record key [`split_key`] split.
pub(crate) fn join_key(halves: [u64; 2]) -> u128 {
    u128::from(halves[0]) | (u128::from(halves[1]) << 64)
}

/// Both halves of a key folded together, to pick a shard: UUID bits are random enough, and
/// folding takes in the whole of a hashed non-UUID Id too.
pub(crate) fn shard_bits(key: u128) -> usize {
    let [low, high] = split_key(key);
    (low ^ high) as usize
}

/// A copy of a record counted but not stored: its Id key (as `split_key` gives it), where it
/// was and its content hash. Only the workers of one run make these (see `claims`); the merge
/// of their states folds each into its record's entry, so a state that leaves the process
/// holds none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseCopy {
    key: [u64; 2],
    pub seen: Seen,
}

impl LooseCopy {
    pub fn new(key: u128, pos: Pos, hash: u64) -> LooseCopy {
        LooseCopy { key: split_key(key), seen: Seen { pos, hash } }
    }
    pub fn key(&self) -> u128 {
        join_key(self.key)
    }
}

/// Record shards: a merge of two states proceeds shard by shard on all workers (measured: the
/// merge of two 2 GB-archive halves took 0.75-1.0 s on one thread).
pub(crate) const RECORD_SHARDS: usize = 16;

/// One shard of records (see `shard`): a table of record numbers over records that never
/// move once stored.
type Shard = super::shard::Shard<Entry>;

/// Kept records by Id, spread over shards by the Id's bits.
pub struct Records {
    shards: Vec<Shard>,
}

impl Default for Records {
    fn default() -> Self {
        Records { shards: (0..RECORD_SHARDS).map(|_| Shard::default()).collect() }
    }
}

impl Records {
    pub(crate) fn shard(key: u128) -> usize {
        shard_bits(key) % RECORD_SHARDS
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn values(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.shards.iter().flat_map(Shard::values)
    }

    /// The sum of `count` over every record, one task per shard: the summary's copy counts
    /// walk all 266 MB of the bench archive's records, 0.05 s on one thread.
    fn sum(&self, count: impl Fn(&Entry) -> u64 + Sync) -> u64 {
        use rayon::prelude::*;
        self.shards.par_iter().map(|s| s.values().map(&count).sum::<u64>()).sum()
    }

    fn absorb(map: &mut Shard, key: u128, entry: Entry) {
        map.add_or(key, entry, Entry::absorb);
    }

    /// Makes room for about `records` records in all, spread evenly over the shards as
    /// [`Records::shard`] spreads them, before many sources are absorbed. Only a hint: room
    /// the allocator refuses is left to grow as records come.
    pub(crate) fn reserve(&mut self, records: usize) {
        let each = records.div_ceil(RECORD_SHARDS);
        for map in &mut self.shards {
            map.try_reserve(each.saturating_sub(map.len()));
        }
    }

    /// Adds records from many sources, each already split by [`Records::shard`], one task per
    /// shard; a record met twice absorbs the other copy.
    pub(crate) fn absorb_parts(&mut self, parts: Vec<Vec<Vec<(u128, Entry)>>>) {
        use rayon::prelude::*;
        let mut by_shard: Vec<Vec<Vec<(u128, Entry)>>> =
            (0..RECORD_SHARDS).map(|_| Vec::with_capacity(parts.len())).collect();
        for source in parts {
            for (shard, entries) in source.into_iter().enumerate() {
                if let Some(list) = by_shard.get_mut(shard) {
                    list.push(entries);
                }
            }
        }
        self.shards.par_iter_mut().zip(by_shard).for_each(|(map, lists)| {
            // Grown by doubling: an exact reservation for each group of sections would build
            // the table again each time. (When records were kept in one vector, that moved
            // the whole shard into fresh pages: a fifth of a --state run.)
            let need: usize = lists.iter().map(Vec::len).sum();
            if map.room() < need {
                map.reserve(need.max(map.len()));
            }
            for (key, entry) in lists.into_iter().flatten() {
                Records::absorb(map, key, entry);
            }
        });
    }

    /// Every kept record with its key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, &Entry)> + '_ {
        self.shards.iter().flat_map(|s| s.iter())
    }

    pub(crate) fn add(&mut self, key: u128, entry: Entry) {
        Records::absorb(&mut self.shards[Records::shard(key)], key, entry);
    }

    /// Asks the CPU for where `key`'s lookup in its shard starts (see [`Partial::add`]).
    pub(crate) fn prefetch(&self, key: u128) {
        self.shards[Records::shard(key)].prefetch(key);
    }

    fn get(&self, key: u128) -> Option<&Entry> {
        self.shards[Records::shard(key)].get(key)
    }

    /// Adds each loose copy to its record's entry; returns those whose record is not here.
    /// One task per shard, each picking its shard's copies from the whole list (splitting
    /// the list by shard first would hold it twice: 55 MB more at the peak of a run over
    /// the bench archive and a copy of it): on the bench archive the merge of two workers'
    /// states spent a fifth of its time here on one thread.
    fn count_copies(&mut self, loose: Vec<LooseCopy>) -> Vec<LooseCopy> {
        use rayon::prelude::*;
        if loose.is_empty() {
            return loose;
        }
        let left: Vec<Vec<LooseCopy>> = self
            .shards
            .par_iter_mut()
            .enumerate()
            .map(|(k, shard)| {
                let mut left = Vec::new();
                for copy in loose.iter().filter(|c| Records::shard(c.key()) == k) {
                    match shard.get_mut(copy.key()) {
                        Some(entry) => entry.add_copy(copy.seen),
                        None => left.push(*copy),
                    }
                }
                left
            })
            .collect();
        left.into_iter().flatten().collect()
    }

    /// Moves `other`'s records in, remapping their symbols with `map`, one shard per task.
    fn merge_from(&mut self, other: Records, map: &[Sym]) {
        use rayon::prelude::*;
        self.shards.par_iter_mut().zip(other.shards.into_par_iter()).for_each(|(mine, theirs)| {
            mine.reserve(theirs.len());
            for (key, mut entry) in theirs {
                entry.rec.remap(map);
                Records::absorb(mine, key, entry);
            }
        });
    }
}

/// A worker's (or a merge's) aggregation state: a value, not tied to any thread.
#[derive(Default)]
pub struct Partial {
    pub strings: Interner,
    pub records: Records,
    /// Records without an Id cannot be deduplicated; each is kept (once: by its position).
    pub unkeyed: Vec<Entry>,
    /// Copies counted but not stored, because `Claims` knew of an earlier copy. The merge
    /// adds each to its record's entry once both meet.
    pub loose_copies: Vec<LooseCopy>,
    /// What each file contributed besides records, by its place in archive order.
    pub files: BTreeMap<usize, FileState>,
    /// Set when only some meetings' records were loaded (see [`Subset`]).
    pub subset: Option<Subset>,
}

/// A state that holds the records of some meetings only: a run with `--state` and a meeting
/// window loads the records of the window's meetings (`state::window`), so the archive's
/// duplicates are those counted from every file's catalog.
#[derive(Debug, Clone, Default)]
pub struct Subset {
    /// The meetings whose records these are, by `codec::meeting_key`.
    pub meetings: hashbrown::HashSet<u128>,
    pub duplicates: u64,
    pub conflicts: u64,
    /// The pairs every file's records carry, for the users database: the first of each UUID
    /// in its file, and only pairs the database can store.
    pub users: Vec<UserPair>,
}

/// A UUID-email pair where it was: (the record's position, the pair's place in the record:
/// the organizer first, then the attendees), UUID, email.
pub type UserPair = ((Pos, u32), String, String);

impl Partial {
    /// Interns a meeting record and adds it, deduplicating by Id. `rec.meeting_id` must be set.
    /// With `claims`, a copy later than one already read anywhere is only counted.
    pub fn add(
        &mut self,
        rec: &AuditRecord<'_>,
        pos: Pos,
        content_hash: u64,
        claims: Option<&Claims>,
    ) {
        let key = rec.id.as_deref().map(record_key);
        // The claim's slot in the shared Id index and the record's slot in its shard are
        // prefetched first and every string of the record hashed and its slot prefetched
        // before anything is looked up, so that their cache misses overlap (see `claims`,
        // `shard` and `intern`). The strings of a copy that is only counted (a tenth of the
        // bench archive's records) are hashed for nothing.
        let claims = key.zip(claims);
        if let Some((key, claims)) = claims {
            claims.prefetch(key);
        }
        if let Some(key) = key {
            self.records.prefetch(key);
        }
        let s = &mut self.strings;
        // An IPv4 client address is kept as its bits (`addr`); any other is interned here.
        let ipv4 = Addr::v4(&rec.client_ip);
        let fields: [&str; 9] = [
            rec.meeting_id.as_deref().unwrap_or_default(),
            &rec.organizer_email,
            &rec.organizer_id,
            &rec.organizer_organization,
            &rec.meeting_type,
            if ipv4.is_some() { "" } else { &rec.client_ip },
            &rec.device,
            &rec.property,
            &rec.user_agent,
        ];
        let hashes = fields.map(|f| s.hash(f));
        let people: SmallVec<[([&str; 4], [Hashed; 4]); 1]> = rec
            .attendees
            .iter()
            .map(|a| {
                let texts: [&str; 4] = [&a.key, &a.key_type, &a.organization, &a.upn];
                (texts, texts.map(|t| s.hash(t)))
            })
            .collect();
        for &hash in hashes.iter().chain(people.iter().flat_map(|(_, h)| h)) {
            s.prefetch(hash);
        }
        if let Some((key, claims)) = claims {
            if !claims.claim(key, pos) {
                self.loose_copies.push(LooseCopy::new(key, pos, content_hash));
                return;
            }
        }
        let [meeting, organizer_email, organizer_id, organizer_organization, meeting_type, client_ip, device, property, user_agent] =
            std::array::from_fn(|k| s.intern_hashed(fields[k], hashes[k]));
        let rec_out = Rec {
            meeting,
            organizer_email,
            organizer_id,
            organizer_organization,
            meeting_type,
            join: rec.join.and_then(|t| t.ts()).into(),
            leave: rec.leave.and_then(|t| t.ts()).into(),
            client_ip: ipv4.unwrap_or(Addr::interned(client_ip)),
            device,
            property,
            user_agent,
            attendees: rec
                .attendees
                .iter()
                .zip(&people)
                .map(|(a, (texts, hashes))| {
                    let [key, key_type, organization, upn] =
                        std::array::from_fn(|k| s.intern_hashed(texts[k], hashes[k]));
                    Att { key, key_type, organization, upn, is_object_id: a.is_object_id }
                })
                .collect(),
        };
        let entry = Entry::new(pos, content_hash, rec_out);
        match key {
            Some(key) => self.records.add(key, entry),
            None => self.unkeyed.push(entry),
        }
    }

    /// Adds what a file contributed besides its records, once its reading is complete.
    pub fn add_file(&mut self, file: FileState) {
        self.files.entry(file.report.index).or_insert(file);
    }

    /// Combines two partial states: the one step that combines them, whether they come from
    /// two threads or two machines. Commutative and associative up to symbol numbering, which
    /// never reaches the reports (they compare and print strings), and idempotent per file: a
    /// file's contribution met twice (its records' copies identified by position, its
    /// `FileState` by its place) counts once.
    pub fn merge(mut self, mut other: Partial) -> Partial {
        if other.records.len() + other.unkeyed.len() > self.records.len() + self.unkeyed.len() {
            std::mem::swap(&mut self, &mut other);
        }
        // Loose copies are folded into whichever side holds their entry before the records
        // are merged, so their memory is free again when the merge needs its most.
        let mine = other.records.count_copies(std::mem::take(&mut self.loose_copies));
        let theirs = self.records.count_copies(std::mem::take(&mut other.loose_copies));
        let mut left = self.records.count_copies(mine);
        left.extend(other.records.count_copies(theirs));
        self.loose_copies = left;
        let map: Vec<Sym> = self.strings.intern_all(other.strings.iter());
        self.records.merge_from(other.records, &map);
        if !other.unkeyed.is_empty() {
            for mut entry in other.unkeyed {
                entry.rec.remap(&map);
                self.unkeyed.push(entry);
            }
            self.unkeyed.sort_by_key(|e| e.pos);
            self.unkeyed.dedup_by_key(|e| e.pos);
        }
        for (index, file) in other.files {
            self.files.entry(index).or_insert(file);
        }
        self
    }

    /// The counts of every file added up.
    pub fn counts(&self) -> Counts {
        let mut all = Counts::default();
        for file in self.files.values() {
            all.add(&file.counts);
        }
        all
    }

    /// Each file's truncation row, in archive order.
    pub fn reports(&self) -> impl Iterator<Item = &FileReport> + '_ {
        self.files.values().map(|f| &f.report)
    }

    /// Every kept record, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.records.values().chain(self.unkeyed.iter())
    }

    pub fn duplicates(&self) -> u64 {
        if let Some(subset) = &self.subset {
            return subset.duplicates;
        }
        // Loose copies not folded into an entry yet (see `conflicts`) are each a copy beyond
        // the stored one.
        self.records.sum(Entry::duplicates) + self.loose_copies.len() as u64
    }

    pub fn conflicts(&self) -> u64 {
        if let Some(subset) = &self.subset {
            return subset.conflicts;
        }
        // Loose copies are folded into their entries by `merge`; a state read by one worker
        // and never merged may still hold some next to their entry.
        let loose = self.loose_copies.iter().filter(|copy| {
            self.records.get(copy.key()).is_some_and(|entry| entry.hash != copy.seen.hash)
        });
        self.records.sum(Entry::conflicts) + loose.count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_key_splits_into_two_words_and_back() {
        for k in [0u128, 1, u128::MAX, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210] {
            assert_eq!(join_key(split_key(k)), k);
        }
        // What a shard stores per record: its key, in two 8-byte words, and its entry.
        assert_eq!(std::mem::size_of::<([u64; 2], Entry)>(), 144);
    }

    fn record(id: &str) -> AuditRecord<'_> {
        AuditRecord {
            id: Some(id.into()),
            meeting_id: Some("m".into()),
            client_ip: "10.0.0.1".into(),
            ..AuditRecord::default()
        }
    }

    const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    /// The first copy read into one state, two later ones (one with other content) into another.
    fn first_then_later() -> (Partial, Partial) {
        let claims = Claims::default();
        let (mut first, mut later) = (Partial::default(), Partial::default());
        first.add(&record(ID), position(0, 10), 7, Some(&claims));
        later.add(&record(ID), position(1, 10), 7, Some(&claims));
        later.add(&record(ID), position(2, 10), 8, Some(&claims));
        (first, later)
    }

    #[test]
    fn a_copy_later_than_a_claimed_one_is_counted_not_stored() {
        let (first, later) = first_then_later();
        assert_eq!((first.records.len(), later.records.len()), (1, 0));
        let loose = [
            LooseCopy::new(record_key(ID), position(1, 10), 7),
            LooseCopy::new(record_key(ID), position(2, 10), 8),
        ];
        assert_eq!(later.loose_copies, loose);
        // Read by one worker and never merged: the counts already hold.
        let claims = Claims::default();
        let mut one = Partial::default();
        for (file, hash) in [(0, 7), (1, 7), (2, 8)] {
            one.add(&record(ID), position(file, 10), hash, Some(&claims));
        }
        assert_eq!((one.records.len(), one.duplicates(), one.conflicts()), (1, 2, 1));
        // Either merge order folds the copies into the stored record.
        let (a, b) = first_then_later();
        let (c, d) = first_then_later();
        for merged in [a.merge(b), d.merge(c)] {
            assert_eq!(merged.records.len(), 1);
            assert!(merged.loose_copies.is_empty());
            assert_eq!((merged.duplicates(), merged.conflicts()), (2, 1));
            assert_eq!(merged.entries().next().map(|e| e.pos), Some(position(0, 10)));
        }
    }

    #[test]
    fn a_copy_earlier_than_the_claimed_one_is_stored_and_wins() {
        let claims = Claims::default();
        let (mut later, mut first) = (Partial::default(), Partial::default());
        later.add(&record(ID), position(3, 0), 9, Some(&claims));
        first.add(&record(ID), position(1, 0), 7, Some(&claims));
        assert_eq!((later.records.len(), first.records.len()), (1, 1));
        let merged = later.merge(first);
        assert_eq!((merged.duplicates(), merged.conflicts()), (1, 1));
        let kept = merged.entries().next().map(|e| (e.pos, e.hash));
        assert_eq!(kept, Some((position(1, 0), 7)));
    }

    #[test]
    fn a_state_merged_with_itself_counts_every_copy_once() {
        let claims = Claims::default();
        let mut one = Partial::default();
        for (file, hash) in [(0, 7), (1, 7), (2, 8)] {
            one.add(&record(ID), position(file, 10), hash, Some(&claims));
        }
        let mut unkeyed = record(ID);
        unkeyed.id = None;
        one.add(&unkeyed, position(3, 0), 5, None);
        let (a, b) = (one.merge(Partial::default()), Partial::default());
        let twice = |p: &Partial| {
            let mut copy = Partial::default();
            for (file, hash) in [(0, 7), (1, 7), (2, 8)] {
                copy.add(&record(ID), position(file, 10), hash, None);
            }
            copy.add(&unkeyed, position(3, 0), 5, None);
            (p.duplicates(), p.conflicts(), p.unkeyed.len(), copy)
        };
        let (dups, conflicts, loose_unkeyed, again) = twice(&a);
        let merged = a.merge(b).merge(again);
        assert_eq!((dups, conflicts, loose_unkeyed), (2, 1, 1));
        assert_eq!((merged.duplicates(), merged.conflicts(), merged.unkeyed.len()), (2, 1, 1));
    }

    #[test]
    fn uuid_keys_ignore_case_other_ids_hash() {
        let a = record_key("0f8fad5b-d9cb-469f-a165-70867728950e");
        assert_eq!(a, 0x0f8fad5b_d9cb_469f_a165_70867728950e);
        assert_eq!(record_key("0F8FAD5B-D9CB-469F-A165-70867728950E"), a);
        assert_ne!(record_key("not-a-uuid"), record_key("not-a-uuid2"));
        assert_eq!(parse_uuid("0f8fad5b-d9cb-469f-a165-70867728950g"), None);
        assert_eq!(parse_uuid("0f8fad5b-d9cb-469f-a165-70867728950\u{e9}"), None);
    }

    /// What `parse_uuid` computed digit by digit before it looked digits up in a table.
    fn parse_uuid_by_chars(s: &str) -> Option<u128> {
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return None;
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if !matches!(i, 8 | 13 | 18 | 23) {
                v = (v << 4) | u128::from((c as char).to_digit(16)?);
            }
        }
        Some(v)
    }

    proptest::proptest! {
        #[test]
        fn uuids_parse_as_digit_by_digit(s in "[0-9a-fA-FgG\\-é]{36}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-fA-F]{4}-[0-9a-f]{4}-[0-9a-fxX]{12}") {
            proptest::prop_assert_eq!(parse_uuid(&s), parse_uuid_by_chars(&s));
        }
    }
}
