//! The three CSV reports, with tala's columns (SPEC 2.1). Real CSV: fields holding commas,
//! quotes or newlines are quoted by the csv crate, never altered.

use std::io::Write;

use anyhow::Result;
use rayon::prelude::*;

use crate::intern::Interner;
use crate::meetings::{device_label, Connection, Meeting, Meetings};
use crate::timestamp::{self, Ts};
use crate::users::UsersDb;

pub const ORGANIZERS: &str = "organizers.csv";
pub const ATTENDEES: &str = "attendees.csv";
pub const DISCONNECTIONS: &str = "disconnections.csv";

pub const ORGANIZERS_HEADER: [&str; 8] = [
    "meeting_id",
    "organizer_email",
    "organizer_id",
    "organizer_organization",
    "meeting_type",
    "first_join",
    "last_leave",
    "number_attendees",
];

pub const ATTENDEES_HEADER: [&str; 10] = [
    "meeting_id",
    "attendee_key",
    "attendee_email",
    "key_type",
    "attendee_organization",
    "join_time",
    "leave_time",
    "client_ip",
    "device",
    "property",
];

pub const DISCONNECTIONS_HEADER: [&str; 13] = [
    "meeting_id",
    "attendee_key",
    "attendee_email",
    "key_type",
    "attendee_organization",
    "device",
    "connection",
    "connections",
    "join_time",
    "leave_time",
    "gap_seconds",
    "client_ip",
    "property",
];

/// attendee_email: from the users database when it knows the key, else the record's UPN.
pub fn email<'a>(strings: &'a Interner, users: Option<&'a UsersDb>, c: &Connection) -> &'a str {
    users.and_then(|db| db.email(strings.get(c.conn.key))).unwrap_or_else(|| strings.get(c.upn))
}

/// The columns attendees.csv and disconnections.csv both start with: meeting, attendee key,
/// email, key type, organization.
fn who<'a>(
    strings: &'a Interner,
    users: Option<&'a UsersDb>,
    m: &Meeting,
    c: &Connection,
) -> [&'a str; 5] {
    [
        strings.get(m.id),
        strings.get(c.conn.key),
        email(strings, users, c),
        strings.get(c.conn.key_type),
        strings.get(c.conn.organization),
    ]
}

/// Formats optional timestamps into reusable buffers (empty when missing).
#[derive(Default)]
struct Times {
    a: String,
    b: String,
}

impl Times {
    fn set(&mut self, a: Option<Ts>, b: Option<Ts>) -> (&str, &str) {
        match a {
            Some(t) => timestamp::format_into(t, &mut self.a),
            None => self.a.clear(),
        }
        match b {
            Some(t) => timestamp::format_into(t, &mut self.b),
            None => self.b.clear(),
        }
        (&self.a, &self.b)
    }
}

fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().has_headers(false).from_writer(out)
}

/// Meetings formatted per parallel batch item; batches of `BATCH` items are formatted on all
/// workers, then written in order, so output order is fixed and memory stays bounded.
const MEETINGS_PER_ITEM: usize = 2_000;
const BATCH: usize = 16;

/// Writes `header`, then every meeting's rows as `rows` formats them, in meeting order.
/// Formatting CSV is the expensive part of writing a report, so it runs in parallel.
fn write_rows<W: Write>(
    mut out: W,
    header: &[&str],
    meetings: &Meetings,
    rows: impl Fn(&mut csv::Writer<&mut Vec<u8>>, &Meeting, &mut Times) -> csv::Result<()> + Sync,
) -> Result<()> {
    let mut head = Vec::new();
    {
        let mut w = writer(&mut head);
        w.write_record(header)?;
        w.flush()?;
    }
    out.write_all(&head)?;
    let items: Vec<&[Meeting]> = meetings.list.chunks(MEETINGS_PER_ITEM).collect();
    // The buffers are reused from batch to batch: fresh ones would be new memory each time,
    // and the kernel zeroing those pages cost more than the formatting.
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    for batch in items.chunks(BATCH) {
        batch.par_iter().zip(buffers.par_iter_mut()).try_for_each(|(ms, buf)| {
            buf.clear();
            let mut times = Times::default();
            let mut w = writer(&mut *buf);
            for m in *ms {
                rows(&mut w, m, &mut times)?;
            }
            w.flush()
        })?;
        for buf in &buffers[..batch.len()] {
            out.write_all(buf)?;
        }
    }
    out.flush()?;
    Ok(())
}

pub fn write_organizers(out: impl Write, strings: &Interner, meetings: &Meetings) -> Result<()> {
    write_rows(out, &ORGANIZERS_HEADER, meetings, |w, m, times| {
        let (first, last) = times.set(m.first_join, m.last_leave);
        w.write_record([
            strings.get(m.id),
            strings.get(m.organizer_email),
            strings.get(m.organizer_id),
            strings.get(m.organizer_organization),
            strings.get(m.meeting_type),
            first,
            last,
            &m.number_attendees.to_string(),
        ])
    })
}

pub fn write_attendees(
    out: impl Write,
    strings: &Interner,
    users: Option<&UsersDb>,
    meetings: &Meetings,
) -> Result<()> {
    write_rows(out, &ATTENDEES_HEADER, meetings, |w, m, times| {
        for c in &m.connections {
            let (join, leave) = times.set(c.conn.join, c.conn.leave);
            let rest = [
                join,
                leave,
                strings.get(c.conn.client_ip),
                strings.get(c.conn.device),
                strings.get(c.conn.property),
            ];
            w.write_record(who(strings, users, m, c).into_iter().chain(rest))?;
        }
        Ok(())
    })
}

pub fn write_disconnections(
    out: impl Write,
    strings: &Interner,
    users: Option<&UsersDb>,
    meetings: &Meetings,
) -> Result<()> {
    write_rows(out, &DISCONNECTIONS_HEADER, meetings, |w, m, times| {
        write_meeting_disconnections(w, strings, users, m, times)
    })
}

fn write_meeting_disconnections(
    w: &mut csv::Writer<&mut Vec<u8>>,
    strings: &Interner,
    users: Option<&UsersDb>,
    m: &Meeting,
    times: &mut Times,
) -> csv::Result<()> {
    for group in &m.groups {
        let total = group.members.len().to_string();
        let mut prev_leave: Option<Option<Ts>> = None;
        for (n, &i) in group.members.iter().enumerate() {
            let c = &m.connections[i];
            let gap = match (prev_leave, c.conn.join) {
                (Some(Some(leave)), Some(join)) => (join - leave).to_string(),
                _ => String::new(),
            };
            prev_leave = Some(c.conn.leave);
            let (join, leave) = times.set(c.conn.join, c.conn.leave);
            let rest = [
                device_label(strings, c.conn.device),
                &(n + 1).to_string(),
                &total,
                join,
                leave,
                &gap,
                strings.get(c.conn.client_ip),
                strings.get(c.conn.property),
            ];
            w.write_record(who(strings, users, m, c).into_iter().chain(rest))?;
        }
    }
    Ok(())
}
