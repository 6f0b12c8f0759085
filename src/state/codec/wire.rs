//! The wire types of the partial-state file: what postcard writes. Independent of the
//! in-memory layout (`state::partial`), so that layout can change without changing the format;
//! a change here bumps [`super::FORMAT_VERSION`].

use serde::{Deserialize, Serialize};

use crate::timestamp::MaybeTs;

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
    /// Only in the one-file partials of a state directory: [`WireCatalog`], and the file's
    /// users-database pairs (`Vec<WireUser>`), apart because only `-u` reads them.
    Catalog,
    Users,
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

/// A bucket's records, column by column: each field of every record together, then the
/// next field. Decoding is a few tight loops over integer lists, not a visit of every field of
/// every record, and like values lie together for zstd. Read it through [`WireBucket::rows`],
/// which checks that the columns agree first.
///
/// Records are in key order, those without Id last (in position order); strings are numbers
/// into the section's own table, in order of first use.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct WireBucket {
    /// The section's strings one after another, and where each ends.
    pub text: String,
    pub ends: Vec<u64>,
    /// The keys of the records with an Id (they come first): 16 little-endian bytes each,
    /// fixed-width because their bits are random.
    #[serde(with = "serde_bytes")]
    pub keys: Vec<u8>,
    /// Per record: which of its copies is the held record's, and how many copies it has.
    pub held: Vec<u32>,
    pub copies: Vec<u32>,
    /// Per copy, record by record: its file (a place in the header's table), its offset, and
    /// its content hash (8 little-endian bytes each).
    pub copy_file: Vec<u32>,
    pub copy_offset: Vec<u64>,
    #[serde(with = "serde_bytes")]
    pub copy_hash: Vec<u8>,
    /// Per record, its strings.
    pub meeting: Vec<u32>,
    pub organizer_email: Vec<u32>,
    pub organizer_id: Vec<u32>,
    pub organizer_organization: Vec<u32>,
    pub meeting_type: Vec<u32>,
    /// [`CLIENT_V4`] for an IPv4 address kept in `client_v4`, else the address's string.
    pub client_ip: Vec<u32>,
    /// Per record, the IPv4 address `client_ip` points here for (0 otherwise): most
    /// addresses are met once or twice, and as strings they filled the table.
    pub client_v4: Vec<u32>,
    pub device: Vec<u32>,
    pub property: Vec<u32>,
    /// The whole UserAgent (the clients report classifies it).
    pub user_agent: Vec<u32>,
    /// Per record, JoinTime and LeaveTime: 8 little-endian bytes each, `i64::MIN` for none.
    #[serde(with = "serde_bytes")]
    pub join: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub leave: Vec<u8>,
    /// Per record, how many attendees it has; then per attendee, record by record, its
    /// strings and whether its key is a UserObjectId (a byte, 0 or 1).
    pub attendees: Vec<u32>,
    pub att_key: Vec<u32>,
    pub att_key_type: Vec<u32>,
    pub att_organization: Vec<u32>,
    pub att_upn: Vec<u32>,
    #[serde(with = "serde_bytes")]
    pub att_object_id: Vec<u8>,
}

/// One record of a [`WireBucket`], as [`WireBucket::rows`] gives it: its place in the
/// per-record columns, and the ranges of its copies and attendees in theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRow {
    pub index: usize,
    pub key: Option<u128>,
    pub held: u32,
    pub copies: std::ops::Range<usize>,
    pub attendees: std::ops::Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireSeen {
    pub file: u32,
    pub offset: u64,
    pub hash: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireAtt {
    pub key: u32,
    pub key_type: u32,
    pub organization: u32,
    pub upn: u32,
    pub is_object_id: bool,
}

/// The string fields of a record, in the order [`WireBucket::strings_of`] gives them.
pub const REC_STRINGS: usize = 9;

/// A record's `client_ip` that is no string: its IPv4 address is in `client_v4`.
pub const CLIENT_V4: u32 = u32::MAX;

fn le_u64(bytes: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = bytes.get(8 * i..8 * i + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

fn le_u128(bytes: &[u8], i: usize) -> u128 {
    let mut b = [0u8; 16];
    if let Some(s) = bytes.get(16 * i..16 * i + 16) {
        b.copy_from_slice(s);
    }
    u128::from_le_bytes(b)
}

impl WireBucket {
    /// The records, once every column is checked to agree with the others (`None` if any
    /// does not: a damaged section). Indexing the columns with what it yields stays in bounds.
    pub fn rows(&self) -> Option<impl Iterator<Item = WireRow> + '_> {
        let n = self.held.len();
        let per_record = [
            self.copies.len(),
            self.attendees.len(),
            self.meeting.len(),
            self.organizer_email.len(),
            self.organizer_id.len(),
            self.organizer_organization.len(),
            self.meeting_type.len(),
            self.client_ip.len(),
            self.client_v4.len(),
            self.device.len(),
            self.property.len(),
            self.user_agent.len(),
            self.join.len() / 8,
            self.leave.len() / 8,
        ];
        let whole = [&self.keys, &self.join, &self.leave, &self.copy_hash];
        if per_record.iter().any(|&l| l != n) || whole.iter().any(|b| !b.len().is_multiple_of(8)) {
            return None;
        }
        let keyed = self.keys.len() / 16;
        if !self.keys.len().is_multiple_of(16) || keyed > n {
            return None;
        }
        let copies: u64 = self.copies.iter().map(|&c| u64::from(c)).sum();
        let per_copy = [self.copy_file.len(), self.copy_offset.len(), self.copy_hash.len() / 8];
        if per_copy.iter().any(|&l| l as u64 != copies) {
            return None;
        }
        let attendees: u64 = self.attendees.iter().map(|&c| u64::from(c)).sum();
        let per_att = [
            self.att_key.len(),
            self.att_key_type.len(),
            self.att_organization.len(),
            self.att_upn.len(),
            self.att_object_id.len(),
        ];
        if per_att.iter().any(|&l| l as u64 != attendees)
            || self.att_object_id.iter().any(|&b| b > 1)
        {
            return None;
        }
        let (mut copy, mut att) = (0usize, 0usize);
        Some((0..n).map(move |index| {
            let key = (index < keyed).then(|| le_u128(&self.keys, index));
            let copies = copy..copy + self.copies[index] as usize;
            let attendees = att..att + self.attendees[index] as usize;
            (copy, att) = (copies.end, attendees.end);
            WireRow { index, key, held: self.held[index], copies, attendees }
        }))
    }

    /// String `n` of the section's table.
    pub fn string(&self, n: u32) -> Option<&str> {
        let n = n as usize;
        let end = *self.ends.get(n)? as usize;
        let start = if n == 0 { 0 } else { *self.ends.get(n - 1)? as usize };
        self.text.get(start..end)
    }

    /// Every string of the section's table in order, `None` for an end that does not fall
    /// on a character boundary after the string before it.
    pub fn strings(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let s = self.text.get(start..end as usize);
            start = end as usize;
            s
        })
    }

    /// A record's strings (by a [`WireRow`]'s index): meeting, organizer email, id and
    /// organization, meeting type, client IP, device, property and user agent.
    pub fn strings_of(&self, i: usize) -> [u32; REC_STRINGS] {
        [
            self.meeting[i],
            self.organizer_email[i],
            self.organizer_id[i],
            self.organizer_organization[i],
            self.meeting_type[i],
            self.client_ip[i],
            self.device[i],
            self.property[i],
            self.user_agent[i],
        ]
    }

    /// A record's IPv4 client address (by a [`WireRow`]'s index), when its `client_ip` is
    /// [`CLIENT_V4`] rather than a string.
    pub fn v4_of(&self, i: usize) -> Option<u32> {
        (self.client_ip[i] == CLIENT_V4).then(|| self.client_v4[i])
    }

    /// A record's JoinTime and LeaveTime (by a [`WireRow`]'s index).
    pub fn times_of(&self, i: usize) -> (MaybeTs, MaybeTs) {
        let time = |column: &[u8]| MaybeTs::from_raw(le_u64(column, i) as i64);
        (time(&self.join), time(&self.leave))
    }

    /// Copy `j` (in a [`WireRow`]'s `copies`).
    pub fn seen(&self, j: usize) -> WireSeen {
        WireSeen {
            file: self.copy_file[j],
            offset: self.copy_offset[j],
            hash: le_u64(&self.copy_hash, j),
        }
    }

    /// Attendee `j` (in a [`WireRow`]'s `attendees`).
    pub fn att(&self, j: usize) -> WireAtt {
        WireAtt {
            key: self.att_key[j],
            key_type: self.att_key_type[j],
            organization: self.att_organization[j],
            upn: self.att_upn[j],
            is_object_id: self.att_object_id[j] == 1,
        }
    }
}

/// What a run with `--state` and a meeting window (`--since`, `--until`) needs to know of a
/// one-file partial without decoding its records: which records it holds (to count duplicates
/// across files and to check that every file kept the same content for an Id) and which
/// meetings (to find the meetings of the window and the files that hold their records).
/// Fixed-width columns, read through [`WireCatalog::record`] and [`WireCatalog::meetings`]:
/// a catalog holds a key per record of its file, and decoding them one by one took half of a
/// windowed run's CPU time.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct WireCatalog {
    /// One per record with an Id, in key order: its key (16 little-endian bytes), and the
    /// content hash of the copy the file keeps, its first (8).
    #[serde(with = "serde_bytes")]
    keys: Vec<u8>,
    #[serde(with = "serde_bytes")]
    hashes: Vec<u8>,
    /// Copies of those records in the file, and the copies whose content differs from the
    /// copy the file keeps.
    pub copies: u64,
    pub conflicts: u64,
    /// One per meeting with a record in the file, in key order: its key (16 little-endian
    /// bytes), and the earliest JoinTime of the file's records of the meeting that have
    /// attendees (8, `i64::MIN` for none).
    #[serde(with = "serde_bytes")]
    meeting_keys: Vec<u8>,
    #[serde(with = "serde_bytes")]
    first_joins: Vec<u8>,
}

impl WireCatalog {
    pub fn new(
        records: &[WireKept],
        copies: u64,
        conflicts: u64,
        meetings: &[WireMeetingKey],
    ) -> WireCatalog {
        WireCatalog {
            keys: records.iter().flat_map(|r| r.key.to_le_bytes()).collect(),
            hashes: records.iter().flat_map(|r| r.hash.to_le_bytes()).collect(),
            copies,
            conflicts,
            meeting_keys: meetings.iter().flat_map(|m| m.key.to_le_bytes()).collect(),
            first_joins: meetings
                .iter()
                .flat_map(|m| MaybeTs::from(m.first_join).raw().to_le_bytes())
                .collect(),
        }
    }

    /// Whether the columns agree in length: checked once, when the catalog is read.
    pub fn agrees(&self) -> bool {
        self.keys.len().is_multiple_of(16)
            && self.hashes.len() * 2 == self.keys.len()
            && self.meeting_keys.len().is_multiple_of(16)
            && self.first_joins.len() * 2 == self.meeting_keys.len()
    }

    pub fn records(&self) -> usize {
        self.keys.len() / 16
    }

    pub fn record(&self, i: usize) -> WireKept {
        WireKept { key: le_u128(&self.keys, i), hash: le_u64(&self.hashes, i) }
    }

    /// The first record whose key is `key` or after it (`records()` if none is).
    pub fn first_record_from(&self, key: u128) -> usize {
        let (mut low, mut high) = (0, self.records());
        while low < high {
            let mid = low + (high - low) / 2;
            if le_u128(&self.keys, mid) < key {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    pub fn meetings(&self) -> impl Iterator<Item = WireMeetingKey> + '_ {
        (0..self.meeting_keys.len() / 16).map(|i| WireMeetingKey {
            key: le_u128(&self.meeting_keys, i),
            first_join: MaybeTs::from_raw(le_u64(&self.first_joins, i) as i64).get(),
        })
    }
}

/// For the users database: a UUID's email from the file's first record that pairs them, pairs
/// the database could not store left out. A `Users` section holds them in UUID order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireUser {
    pub uuid: String,
    pub email: String,
    /// The record's offset, and the pair's place in it (the organizer 0, then the attendees).
    pub offset: u64,
    pub place: u32,
}

/// A record of a [`WireCatalog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireKept {
    pub key: u128,
    /// Content hash of the copy the file keeps (its first).
    pub hash: u64,
}

/// A meeting of a [`WireCatalog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireMeetingKey {
    /// xxh3-128 of the MeetingDetailId ([`super::meeting_key`]).
    pub key: u128,
    /// The earliest JoinTime of the file's records of the meeting that have attendees.
    pub first_join: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two records: one with an Id, two copies (the second held) and one attendee; one
    /// without Id, one copy and no attendee. Strings: "m", "é", "".
    fn bucket() -> WireBucket {
        let hash = |h: u64| h.to_le_bytes();
        WireBucket {
            text: "mé".to_string(),
            ends: vec![1, 3, 3],
            keys: 7u128.to_le_bytes().to_vec(),
            held: vec![1, 0],
            copies: vec![2, 1],
            copy_file: vec![0, 1, 1],
            copy_offset: vec![10, 20, 30],
            copy_hash: [hash(5), hash(6), hash(7)].concat(),
            meeting: vec![0, 0],
            organizer_email: vec![1, 2],
            organizer_id: vec![2, 2],
            organizer_organization: vec![2, 2],
            meeting_type: vec![2, 2],
            client_ip: vec![2, CLIENT_V4],
            client_v4: vec![0, 0x0a00_0001],
            device: vec![2, 2],
            property: vec![2, 2],
            user_agent: vec![2, 2],
            join: [100i64.to_le_bytes(), i64::MIN.to_le_bytes()].concat(),
            leave: [200i64.to_le_bytes(), 300i64.to_le_bytes()].concat(),
            attendees: vec![1, 0],
            att_key: vec![1],
            att_key_type: vec![2],
            att_organization: vec![2],
            att_upn: vec![0],
            att_object_id: vec![1],
        }
    }

    #[test]
    fn rows_give_each_records_key_copies_and_attendees() {
        let b = bucket();
        let rows: Vec<WireRow> = b.rows().expect("columns agree").collect();
        assert_eq!(
            rows,
            [
                WireRow { index: 0, key: Some(7), held: 1, copies: 0..2, attendees: 0..1 },
                WireRow { index: 1, key: None, held: 0, copies: 2..3, attendees: 1..1 },
            ]
        );
        assert_eq!(b.seen(1), WireSeen { file: 1, offset: 20, hash: 6 });
        let att = WireAtt { key: 1, key_type: 2, organization: 2, upn: 0, is_object_id: true };
        assert_eq!(b.att(0), att);
        assert_eq!(b.strings_of(0), [0, 1, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!((b.v4_of(0), b.v4_of(1)), (None, Some(0x0a00_0001)));
        assert_eq!(b.times_of(1), (MaybeTs::NONE, MaybeTs::from(Some(300))));
        let strings: Vec<Option<&str>> = b.strings().collect();
        assert_eq!(strings, [Some("m"), Some("é"), Some("")]);
        assert_eq!(b.string(1), Some("é"));
        assert_eq!(b.string(3), None);
    }

    #[test]
    fn columns_that_disagree_are_refused() {
        type Damage = fn(&mut WireBucket);
        let breaks: [(&str, Damage); 9] = [
            ("a string column short", |b| {
                b.device.pop();
            }),
            ("the IPv4 column short", |b| {
                b.client_v4.pop();
            }),
            ("a time cut", |b| {
                b.leave.pop();
            }),
            ("more copies counted than listed", |b| b.copies[1] = 2),
            ("an attendee column short", |b| {
                b.att_upn.pop();
            }),
            ("an object-id flag that is not 0 or 1", |b| b.att_object_id[0] = 2),
            ("a key cut", |b| {
                b.keys.pop();
            }),
            ("more keys than records", |b| b.keys.extend_from_slice(&[1; 32])),
            ("a copy hash cut", |b| {
                b.copy_hash.pop();
            }),
        ];
        for (what, damage) in breaks {
            let mut b = bucket();
            damage(&mut b);
            assert!(b.rows().is_none(), "{what}: accepted");
        }
    }

    #[test]
    fn a_string_end_inside_a_character_or_before_its_start_is_refused() {
        let mut b = bucket();
        b.ends = vec![2, 3, 3];
        assert_eq!(b.strings().collect::<Vec<_>>(), [None, None, Some("")]);
        b.ends = vec![3, 1, 3];
        assert_eq!(b.strings().collect::<Vec<_>>(), [Some("mé"), None, Some("é")]);
    }
}

#[cfg(test)]
mod catalog_tests {
    use super::*;

    #[test]
    fn a_catalog_gives_back_its_records_and_meetings_and_finds_a_key() {
        let records = [WireKept { key: 3, hash: 30 }, WireKept { key: 1 << 100, hash: 31 }];
        let meetings = [
            WireMeetingKey { key: 9, first_join: Some(-5) },
            WireMeetingKey { key: 10, first_join: None },
        ];
        let c = WireCatalog::new(&records, 4, 1, &meetings);
        assert!(c.agrees());
        assert_eq!((c.records(), c.record(1)), (2, records[1]));
        assert_eq!(c.meetings().collect::<Vec<_>>(), meetings);
        let found: Vec<usize> =
            [0, 3, 4, 1 << 100, u128::MAX].iter().map(|&k| c.first_record_from(k)).collect();
        assert_eq!(found, [0, 0, 1, 1, 2]);
        let mut cut = c.clone();
        cut.hashes.pop();
        assert!(!cut.agrees());
        let mut cut = c;
        cut.meeting_keys.truncate(20);
        assert!(!cut.agrees());
    }
}
