//! `tala-bulk partial dump FILE`: a partial state as JSON lines, for debugging: the header,
//! then one line per file, then one line per record, bucket by bucket, with its strings
//! resolved.

use std::io::Write;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::escape;
use crate::flags::{Config, Mode};
use crate::state::addr::write_v4;
use crate::state::codec::PartialFile;
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
        let s = |n: u32| wire.string(n).unwrap_or("?");
        let Some(rows) = wire.rows() else { bail!("bucket {bucket}'s columns do not agree") };
        for row in rows {
            let [meeting, email, id, organization, meeting_type, ip, device, property, agent] =
                wire.strings_of(row.index);
            let (join, leave) = wire.times_of(row.index);
            let client_ip = match wire.v4_of(row.index) {
                Some(bits) => write_v4(bits).as_str().to_string(),
                None => s(ip).to_string(),
            };
            let attendees = row.attendees.clone().map(|j| wire.att(j)).map(|a| {
                json!({
                    "key": s(a.key), "key_type": s(a.key_type),
                    "organization": s(a.organization), "upn": s(a.upn),
                    "is_object_id": a.is_object_id,
                })
            });
            let copies = row.copies.clone().map(|j| wire.seen(j)).map(
                |c| json!({"file": c.file, "offset": c.offset, "hash": format!("{:016x}", c.hash)}),
            );
            line(json!({
                "bucket": bucket,
                "key": row.key.map(|k| format!("{k:032x}")),
                "held": row.held,
                "copies": copies.collect::<Vec<_>>(),
                "record": {
                    "meeting": s(meeting), "organizer_email": s(email), "organizer_id": s(id),
                    "organizer_organization": s(organization), "meeting_type": s(meeting_type),
                    "join": join.get(), "leave": leave.get(), "client_ip": client_ip,
                    "device": s(device), "property": s(property), "user_agent": s(agent),
                    "attendees": attendees.collect::<Vec<_>>(),
                },
            }))?;
        }
    }
    out.flush().context("cannot write to standard output")?;
    Ok(Outcome::default())
}
