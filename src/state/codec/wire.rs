//! The wire types of the partial-state file: what postcard writes. Independent of the
//! in-memory layout (`state::partial`), so that layout can change without changing the format;
//! a change here bumps [`super::FORMAT_VERSION`].

use serde::{Deserialize, Serialize};

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
    /// Most records have one copy and one attendee: inline, not a heap allocation each
    /// (the same bytes on the wire as a Vec).
    pub copies: smallvec::SmallVec<[WireSeen; 1]>,
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
    /// The whole UserAgent (the clients report classifies it).
    pub user_agent: u32,
    pub attendees: smallvec::SmallVec<[WireAtt; 1]>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireAtt {
    pub key: u32,
    pub key_type: u32,
    pub organization: u32,
    pub upn: u32,
    pub is_object_id: bool,
}

/// What a run with `--state` and a meeting window (`--since`, `--until`) needs to know of a
/// one-file partial without decoding its records: which records it holds (to count duplicates
/// across files and to check that every file kept the same content for an Id) and which
/// meetings (to find the meetings of the window and the files that hold their records).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct WireCatalog {
    /// One per record with an Id, in key order.
    pub records: Vec<WireKept>,
    /// Copies of those records in the file, and the copies whose content differs from the
    /// copy the file keeps.
    pub copies: u64,
    pub conflicts: u64,
    /// One per meeting with a record in the file, in key order.
    pub meetings: Vec<WireMeetingKey>,
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

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireKept {
    #[serde(with = "postcard::fixint::le")]
    pub key: u128,
    /// Content hash of the copy the file keeps (its first).
    #[serde(with = "postcard::fixint::le")]
    pub hash: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireMeetingKey {
    /// xxh3-128 of the MeetingDetailId ([`super::meeting_key`]).
    #[serde(with = "postcard::fixint::le")]
    pub key: u128,
    /// The earliest JoinTime of the file's records of the meeting that have attendees.
    pub first_join: Option<i64>,
}
