//! `tala-bulk partial dump FILE`: a partial state as JSON lines, for debugging: the header,
//! then one line per file, then one line per record, bucket by bucket, with its strings
//! resolved.

use std::io::Write;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::escape;
use crate::flags::{Config, Mode};
use crate::state::codec::{PartialFile, WireRec};
use crate::Outcome;

pub fn run(config: &Config) -> Result<Outcome> {
    let Mode::Dump { partial } = &config.mode else { bail!("internal error: not dump") };
    let file = PartialFile::open(partial, None)?;
    let h = &file.header;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = |value: serde_json::Value| -> Result<()> {
        let mut text = serde_json::to_vec(&value)?;
        text.push(b'\n');
        // An io::Error in the chain: a closed pipe (`| head`) ends quietly.
        out.write_all(&text).context("cannot write to standard output")
    };
    line(json!({"header": {
        "format_version": h.format_version,
        "tool_version": h.tool_version,
        "options": h.options,
        "bucket_hash": h.bucket_hash,
        "buckets": h.buckets,
        "files": h.files.len(),
        "sections": h.sections.iter().map(|s| json!({
            "kind": format!("{:?}", s.kind), "bytes": s.len, "raw_bytes": s.raw_len,
            "checksum": format!("{:016x}", s.checksum),
        })).collect::<Vec<_>>(),
    }}))?;
    for (i, (id, state)) in h.files.iter().zip(file.file_states()?).enumerate() {
        line(json!({"file": i, "path": escape::bytes(&id.path),
                    "content": format!("{:016x}", id.content), "state": state}))?;
    }
    for bucket in file.buckets() {
        let wire = file.bucket(bucket)?;
        let s = |n: u32| wire.strings.get(n as usize).map_or("?", String::as_str);
        let rec = |r: &WireRec| {
            json!({
                "meeting": s(r.meeting), "organizer_email": s(r.organizer_email),
                "organizer_id": s(r.organizer_id),
                "organizer_organization": s(r.organizer_organization),
                "meeting_type": s(r.meeting_type), "join": r.join, "leave": r.leave,
                "client_ip": s(r.client_ip), "device": s(r.device), "property": s(r.property), "user_agent": s(r.user_agent),
                "attendees": r.attendees.iter().map(|a| json!({
                    "key": s(a.key), "key_type": s(a.key_type),
                    "organization": s(a.organization), "upn": s(a.upn),
                    "is_object_id": a.is_object_id,
                })).collect::<Vec<_>>(),
            })
        };
        for e in &wire.entries {
            line(json!({
                "bucket": bucket,
                "key": e.key.map(|k| format!("{:032x}", u128::from_le_bytes(k))),
                "held": e.held,
                "copies": e.copies.iter().map(|c| json!({
                    "file": c.file, "offset": c.offset, "hash": format!("{:016x}", c.hash),
                })).collect::<Vec<_>>(),
                "record": rec(&e.rec),
            }))?;
        }
    }
    out.flush().context("cannot write to standard output")?;
    Ok(Outcome::default())
}
