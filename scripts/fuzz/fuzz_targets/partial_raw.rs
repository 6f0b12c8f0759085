//! The fuzzing form of a partial-state file: the same layout with each section's postcard
//! bytes stored raw instead of as zstd frames, so the fuzzer's mutations reach the decoders
//! instead of dying in a checksum or a zstd frame. `from_raw` compresses the sections and sets
//! lengths, offsets and checksums as `codec::encode` would; `to_raw` makes seeds from real
//! partials. Bytes that do not parse as this form are passed through unchanged, so damaged
//! headers are fuzzed too.

use tala_bulk::state::codec::{Header, MAGIC};

fn split(data: &[u8]) -> Option<(Header, &[u8])> {
    if data.len() < 24 || &data[..8] != MAGIC {
        return None;
    }
    let len = u64::from_le_bytes(data[8..16].try_into().ok()?) as usize;
    let head = data.get(16..16usize.checked_add(len)?)?;
    let header: Header = postcard::from_bytes(head).ok()?;
    let body = data.get(24usize.checked_add(len)?..)?;
    Some((header, body))
}

fn join(header: &Header, body: &[u8]) -> Vec<u8> {
    let head = postcard::to_stdvec(header).expect("header");
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&head).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Raw sections → a partial-state file.
#[allow(dead_code)]
pub fn from_raw(data: &[u8]) -> Vec<u8> {
    let Some((mut header, body)) = split(data) else { return data.to_vec() };
    let mut out = Vec::new();
    for s in &mut header.sections {
        let Some(raw) = usize::try_from(s.offset)
            .ok()
            .zip(usize::try_from(s.offset.saturating_add(s.len)).ok())
            .and_then(|(a, b)| body.get(a..b))
        else {
            return data.to_vec();
        };
        let packed = zstd::bulk::compress(raw, 1).expect("zstd");
        s.raw_len = raw.len() as u64;
        s.offset = out.len() as u64;
        s.len = packed.len() as u64;
        s.checksum = xxhash_rust::xxh3::xxh3_64(&packed);
        out.extend_from_slice(&packed);
    }
    join(&header, &out)
}

/// A partial-state file → raw sections (for seeds).
#[allow(dead_code)]
pub fn to_raw(data: &[u8]) -> Option<Vec<u8>> {
    let (mut header, body) = split(data)?;
    let mut out = Vec::new();
    for s in &mut header.sections {
        let packed = body.get(s.offset as usize..(s.offset + s.len) as usize)?;
        let raw = zstd::bulk::decompress(packed, s.raw_len as usize).ok()?;
        s.offset = out.len() as u64;
        s.len = raw.len() as u64;
        out.extend_from_slice(&raw);
    }
    Some(join(&header, &out))
}
