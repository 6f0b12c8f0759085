//! The three CSV reports, with tala's columns (SPEC 2.1). Real CSV: fields holding commas,
//! quotes or newlines are quoted by csv-core, never altered. Each distinct string is escaped
//! once ([`Fields`]) and rows are assembled from the escaped bytes, since the same meeting ids,
//! keys and IPs fill many rows and per-row quoting checks were most of the formatting time.

use std::borrow::Cow;
use std::io::Write;

use anyhow::Result;
use rayon::prelude::*;

use crate::analyze::meetings::{reconnection_gap, Connection, Meeting, Meetings, NO_DEVICE};
use crate::analyze::users::UsersDb;
use crate::escape;
use crate::report::reuse::{Span, TableReuse};
use crate::state::addr::{write_v4, Addr, Kind};
use crate::state::intern::{Interner, Sym};
use crate::timestamp::{self, Ts};

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
    known_email(strings, users, c).unwrap_or_else(|| strings.get(c.upn))
}

/// The users database's email for the connection's key, if it has one.
fn known_email<'a>(
    strings: &Interner,
    users: Option<&'a UsersDb>,
    c: &Connection,
) -> Option<&'a str> {
    users.and_then(|db| db.email(strings.get(c.conn.key)))
}

/// Appends `s` as one CSV field, quoted by csv-core's rules (the csv crate's defaults) when it
/// holds a comma, quote, CR or LF.
pub(crate) fn escape_into(writer: &mut csv_core::Writer, s: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    // Room for the worst case: every byte a doubled quote, two enclosing quotes, a delimiter.
    out.resize(start + 2 * s.len() + 3, 0);
    let (_, _, n) = writer.field(s, &mut out[start..]);
    // The delimiter closes the quotes (if any) and resets the writer for the next field.
    let (_, d) = writer.delimiter(&mut out[start + n..]);
    out.truncate(start + n + d.saturating_sub(1));
}

/// Every string of an interner as a CSV field. Most strings are their own field: only those
/// that are not (quoted, or given a leading `'` by `--excel-safe`) are escaped, once, and kept
/// here. Copying every string escaped was 50 MB of fresh memory on the bench archive, made on
/// one thread before any report could start.
pub struct Fields<'a> {
    pub strings: &'a Interner,
    /// A bit per symbol: set when its field is kept in `escaped`.
    marked: Vec<u64>,
    /// The marked symbols in order, each with the end of its field in `bytes`.
    escaped: Vec<(Sym, usize)>,
    bytes: Vec<u8>,
    /// `--excel-safe`: text that a spreadsheet would run gets a leading `'`.
    excel_safe: bool,
}

impl<'a> Fields<'a> {
    pub fn new(strings: &'a Interner, excel_safe: bool) -> Fields<'a> {
        let quoting = csv_core::Writer::new();
        let changed: Vec<(Sym, Vec<u8>)> = (0..strings.len() as Sym)
            .into_par_iter()
            .filter_map(|sym| {
                let s = strings.get(sym);
                let cell = escape::excel_cell(s, excel_safe);
                if matches!(cell, Cow::Borrowed(_)) && !quoting.should_quote(s.as_bytes()) {
                    return None;
                }
                let mut field = Vec::new();
                escape_into(&mut csv_core::Writer::new(), cell.as_bytes(), &mut field);
                Some((sym, field))
            })
            .collect();
        let mut marked = vec![0u64; strings.len().div_ceil(64)];
        let mut escaped = Vec::with_capacity(changed.len());
        let mut bytes = Vec::new();
        for (sym, field) in changed {
            if let Some(word) = marked.get_mut(sym as usize / 64) {
                *word |= 1 << (sym % 64);
            }
            bytes.extend_from_slice(&field);
            escaped.push((sym, bytes.len()));
        }
        Fields { strings, marked, escaped, bytes, excel_safe }
    }

    fn get(&self, sym: Sym) -> &[u8] {
        let marked = self.marked.get(sym as usize / 64).is_some_and(|w| w >> (sym % 64) & 1 == 1);
        if !marked {
            return self.strings.get(sym).as_bytes();
        }
        let Ok(i) = self.escaped.binary_search_by_key(&sym, |e| e.0) else { return b"" };
        let start = if i == 0 { 0 } else { self.escaped[i - 1].1 };
        self.bytes.get(start..self.escaped[i].1).unwrap_or_default()
    }
}

/// One report row being appended to a buffer.
struct Row<'b> {
    out: &'b mut Vec<u8>,
    writer: &'b mut csv_core::Writer,
    times: &'b mut timestamp::Formatter,
    first: bool,
}

impl Row<'_> {
    fn next(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
    }
    /// A client address: an IPv4 address written from its bits (its text never needs
    /// escaping: digits and dots), any other escaped in advance.
    fn addr(&mut self, fields: &Fields<'_>, addr: Addr) {
        match addr.kind() {
            Kind::Ipv4(bits) => {
                self.next();
                self.out.extend_from_slice(write_v4(bits).as_bytes());
            }
            Kind::Interned(sym) => self.sym(fields, sym),
        }
    }
    /// An interned string, escaped in advance.
    fn sym(&mut self, fields: &Fields<'_>, sym: Sym) {
        self.next();
        self.out.extend_from_slice(fields.get(sym));
    }
    /// Any other text, escaped now.
    fn text(&mut self, s: &str) {
        self.next();
        escape_into(self.writer, s.as_bytes(), self.out);
    }
    /// A timestamp (digits, `-`, `:` and `T`: never quoted), empty when missing.
    fn time(&mut self, t: Option<Ts>) {
        self.next();
        if let Some(t) = t {
            self.times.format_into(t, self.out);
        }
    }
    /// A number (never quoted).
    fn number(&mut self, n: impl std::fmt::Display) {
        self.next();
        let _ = write!(self.out, "{n}");
    }
    fn end(&mut self) {
        self.out.push(b'\n');
        self.first = true;
    }
}

/// The columns attendees.csv and disconnections.csv both start with: meeting, attendee key,
/// email, key type, organization.
fn who(row: &mut Row<'_>, f: &Fields<'_>, users: Option<&UsersDb>, m: &Meeting, c: &Connection) {
    row.sym(f, m.id);
    row.sym(f, c.conn.key);
    // As `email`, but the UPN escaped in advance.
    match known_email(f.strings, users, c) {
        Some(known) => row.text(&escape::excel_cell(known, f.excel_safe)),
        None => row.sym(f, c.upn),
    }
    row.sym(f, c.conn.key_type);
    row.sym(f, c.conn.organization);
}

/// Asks the CPU for the texts of the attendee keys and UPNs of `people` before their rows are
/// formatted. They are the rows' strings that are seldom in cache (hundreds of thousands,
/// spread over the interner), and fetching each when its field is written was a third of
/// the formatting's time, one miss after another. Asked for all at once, first where each
/// text lies, then its bytes, the misses overlap.
fn prefetch_people<'c>(f: &Fields<'_>, people: impl Iterator<Item = &'c Connection> + Clone) {
    for c in people.clone() {
        f.strings.prefetch_bounds(c.conn.key);
        f.strings.prefetch_bounds(c.upn);
    }
    for c in people {
        f.strings.prefetch_text(c.conn.key);
        f.strings.prefetch_text(c.upn);
    }
}

/// Meetings formatted per parallel batch item; batches of two items per worker (at least 4,
/// at most `MAX_BATCH`) are formatted on all workers, then written in order, so output order
/// is fixed and memory stays bounded (two batches: one being written, one being formatted).
/// Batches of 16 items on two workers held 32 items of attendees.csv at once, 3 MB each (6 MB
/// with --state, the previous report's rows beside them): fresh memory that the kernel
/// zeroed, for no more parallelism.
const MEETINGS_PER_ITEM: usize = 1_000;
const MAX_BATCH: usize = 16;

/// Writes `header`, then every meeting's rows as `rows` formats them (or, with `reuse`, as the
/// previous report holds them, where they did not change), in meeting order.
/// Formatting CSV is the expensive part of writing a report, so it runs in parallel, and each
/// batch is written while the next is formatted: the write is the kernel copying the batch
/// into the page cache (in a profile of the bench archive's reports on ext4, about half the
/// formatting's CPU time), time the workers spent waiting when it ran between batches.
fn write_rows<W: Write + Send>(
    mut out: W,
    header: &[&str],
    meetings: &Meetings,
    reuse: Option<TableReuse<'_>>,
    rows: impl Fn(&mut Row<'_>, &Meeting) + Sync,
) -> Result<()> {
    let mut head = Vec::new();
    {
        let mut writer = csv_core::Writer::new();
        let mut times = timestamp::Formatter::default();
        let mut row = Row { out: &mut head, writer: &mut writer, times: &mut times, first: true };
        for name in header {
            row.text(name);
        }
        row.end();
    }
    out.write_all(&head)?;
    let items: Vec<&[Meeting]> = meetings.list.chunks(MEETINGS_PER_ITEM).collect();
    // Each item's meetings formatted, or with --state copied from the previous report where
    // they did not change (`reuse`); each meeting's span of the output kept for the next run.
    let format = |first: usize, batch: &[&[Meeting]], buffers: &mut [Item]| {
        batch.par_iter().zip(buffers.par_iter_mut()).enumerate().for_each(|(k, (ms, item))| {
            let Item { buf, spans, previous } = item;
            buf.clear();
            spans.clear();
            let start = (first + k) * MEETINGS_PER_ITEM;
            // Where no meeting of the item changed, its rows are read in one piece as the
            // item's output: no copy of them from one buffer to another.
            if reuse.is_some_and(|reuse| reuse.read_whole(start, ms.len(), buf, spans)) {
                return;
            }
            let mut writer = csv_core::Writer::new();
            let mut times = timestamp::Formatter::default();
            let mut row = Row { out: buf, writer: &mut writer, times: &mut times, first: true };
            let Some(reuse) = reuse else {
                for m in *ms {
                    rows(&mut row, m);
                }
                return;
            };
            reuse.for_each(start, ms.len(), previous, |j, copied| {
                if let Some((copied, hash)) = copied {
                    row.out.extend_from_slice(copied);
                    spans.push((copied.len() as u64, hash));
                    return;
                }
                let at = row.out.len();
                if let Some(m) = ms.get(j) {
                    rows(&mut row, m);
                }
                let written = &row.out[at..];
                spans.push((written.len() as u64, xxhash_rust::xxh3::xxh3_64(written)));
            });
        })
    };
    // The buffers are reused from batch to batch: fresh ones would be new memory each time,
    // and the kernel zeroing those pages cost more than the formatting.
    let batch_len = (2 * rayon::current_num_threads()).clamp(4, MAX_BATCH);
    let mut formatted: Vec<Item> = (0..batch_len).map(|_| Item::default()).collect();
    let mut formatting: Vec<Item> = (0..batch_len).map(|_| Item::default()).collect();
    let mut spans: Vec<Span> = Vec::new();
    // How many of `formatted` hold the previous batch, still to be written.
    let mut ready = 0;
    for (b, batch) in items.chunks(batch_len).enumerate() {
        let to_write = &formatted[..ready];
        let (written, ()) = rayon::join(
            || to_write.iter().try_for_each(|item| out.write_all(&item.buf)),
            || format(b * batch_len, batch, &mut formatting),
        );
        written?;
        spans.extend(to_write.iter().flat_map(|item| item.spans.iter().copied()));
        std::mem::swap(&mut formatted, &mut formatting);
        ready = batch.len();
    }
    for item in &formatted[..ready] {
        out.write_all(&item.buf)?;
        spans.extend(item.spans.iter().copied());
    }
    out.flush()?;
    if let Some(reuse) = reuse {
        reuse.wrote(head.len() as u64, spans);
    }
    Ok(())
}

/// One parallel item's output, kept from batch to batch: its bytes, with `--state` each
/// meeting's span of them, and the previous report's rows read for it.
#[derive(Default)]
struct Item {
    buf: Vec<u8>,
    spans: Vec<Span>,
    previous: Vec<u8>,
}

pub fn write_organizers(
    out: impl Write + Send,
    f: &Fields<'_>,
    meetings: &Meetings,
    reuse: Option<TableReuse<'_>>,
) -> Result<()> {
    write_rows(out, &ORGANIZERS_HEADER, meetings, reuse, |row, m| {
        row.sym(f, m.id);
        row.sym(f, m.organizer_email);
        row.sym(f, m.organizer_id);
        row.sym(f, m.organizer_organization);
        row.sym(f, m.meeting_type);
        row.time(m.first_join);
        row.time(m.last_leave);
        row.number(m.number_attendees);
        row.end();
    })
}

pub fn write_attendees(
    out: impl Write + Send,
    f: &Fields<'_>,
    users: Option<&UsersDb>,
    meetings: &Meetings,
    reuse: Option<TableReuse<'_>>,
) -> Result<()> {
    write_rows(out, &ATTENDEES_HEADER, meetings, reuse, |row, m| {
        prefetch_people(f, m.connections.iter());
        for c in &m.connections {
            who(row, f, users, m, c);
            row.time(c.conn.join.get());
            row.time(c.conn.leave.get());
            row.addr(f, c.conn.client_ip);
            row.sym(f, c.conn.device);
            row.sym(f, c.conn.property);
            row.end();
        }
    })
}

pub fn write_disconnections(
    out: impl Write + Send,
    f: &Fields<'_>,
    users: Option<&UsersDb>,
    meetings: &Meetings,
    reuse: Option<TableReuse<'_>>,
) -> Result<()> {
    write_rows(out, &DISCONNECTIONS_HEADER, meetings, reuse, |row, m| {
        for group in &m.groups {
            let members = || group.members.iter().filter_map(|&i| m.connections.get(i));
            prefetch_people(f, members());
            let total = group.members.len();
            let mut prev: Option<&Connection> = None;
            for (n, &i) in group.members.iter().enumerate() {
                let Some(c) = m.connections.get(i) else { continue };
                who(row, f, users, m, c);
                // The device label (`meetings::device_label`), escaped in advance when it is
                // the device itself.
                if f.strings.get(c.conn.device).is_empty() {
                    row.text(NO_DEVICE);
                } else {
                    row.sym(f, c.conn.device);
                }
                row.number(n + 1);
                row.number(total);
                row.time(c.conn.join.get());
                row.time(c.conn.leave.get());
                row.next();
                if let Some(gap) = prev.and_then(|p| reconnection_gap(p, c)) {
                    let _ = write!(row.out, "{gap}");
                }
                prev = Some(c);
                row.addr(f, c.conn.client_ip);
                row.sym(f, c.conn.property);
                row.end();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_once_as_csv_fields() {
        let mut strings = Interner::new();
        let syms: Vec<Sym> = ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", "Zoë"]
            .iter()
            .map(|s| strings.intern(s))
            .collect();
        let fields = Fields::new(&strings, false);
        let got: Vec<&[u8]> = syms.iter().map(|&s| fields.get(s)).collect();
        let expected: [&[u8]; 6] = [
            b"plain",
            b"\"a,b\"",
            b"\"say \"\"hi\"\"\"",
            b"\"two\nlines\"",
            b"\"cr\r\"",
            "Zoë".as_bytes(),
        ];
        assert_eq!(got, expected);
        assert_eq!(fields.get(crate::state::intern::EMPTY), b"");
    }

    #[test]
    fn excel_safe_fields_get_their_quote_among_plain_and_quoted_ones() {
        let mut strings = Interner::new();
        let texts = ["=1+1", "plain", "-x,y", "@a", "b,c", "last"];
        let syms: Vec<Sym> = texts.iter().map(|s| strings.intern(s)).collect();
        let got = |excel_safe: bool| {
            let fields = Fields::new(&strings, excel_safe);
            syms.iter().map(|&s| String::from_utf8_lossy(fields.get(s)).into_owned()).collect()
        };
        let safe: Vec<String> = got(true);
        assert_eq!(safe, ["'=1+1", "plain", "\"'-x,y\"", "'@a", "\"b,c\"", "last"]);
        let plain: Vec<String> = got(false);
        assert_eq!(plain, ["=1+1", "plain", "\"-x,y\"", "@a", "\"b,c\"", "last"]);
    }
}
