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
//! and archive order is decided only when partials meet ([`read::load`]), from the sorted union of
//! their tables.

mod read;
mod wire;
mod write;

pub use read::{load, load_meetings, places, Loaded, PartialFile};
pub use wire::*;
pub use write::{encode, encode_cached, write_atomic, write_named};

/// The first bytes of every partial-state file.
pub const MAGIC: &[u8; 8] = b"TALAPRT\n";
/// Bumped whenever the wire types change.
pub const FORMAT_VERSION: u32 = 5;
/// How a record's bucket is chosen, written in the header so a partial bucketed another way is
/// refused.
pub const BUCKET_HASH: &str = "key: UUID bits, else xxh3-128 of the Id; bucket: xxh3-64 of the \
                               key's 16 little-endian bytes modulo the bucket count; no Id: 0";
/// zstd level of the sections. Measured on a 1 GB shard of the bench archive: level 1 encodes
/// in 1.3 s to 64.7 MB, level 3 in 1.75 s to 60.6 MB; a third of a partial is random bits that
/// no level compresses.
const ZSTD_LEVEL: i32 = 1;
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

/// A meeting's identity in a [`WireCatalog`]: xxh3-128 of its MeetingDetailId, fixed-width
/// where the ids are strings of any length.
pub fn meeting_key(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}
