//! Reuse: with `--state`, the rows of each meeting that did not change since the last run are
//! copied from the reports that run wrote, not formatted again. A nightly run adds one export
//! to months of them; most meetings' rows are the same bytes as the night before, and
//! formatting them was most of the time a `--state` run spent writing its reports.
//!
//! The state directory keeps, for the tables written by meeting (organizers, attendees,
//! disconnections), each meeting's [`Meeting::fingerprint`] and, per table, the length and
//! xxh3 hash of its rows in the order they were written. A meeting with the same fingerprint
//! under the same options has the same rows: they are read from the previous report where the
//! record says they lie, and used only if they hash as recorded. Anything else (a report
//! edited, removed or written by a windowed run since, a short read, another option) costs
//! only the formatting: a row is never taken on trust, so the reports stay byte-identical to
//! a run without `--state`.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::analyze::meetings::Meetings;
use crate::report::tables;

/// The file in the state directory.
pub const FILE: &str = "rows.bin";
/// Bumped when what is stored changes.
const FORMAT: u32 = 1;

/// One meeting's rows in one table: their length in bytes and xxh3-64 hash.
pub type Span = (u64, u64);

/// The tables written meeting by meeting, in the order of [`Stored::tables`].
pub const TABLES: [&str; 3] = [tables::ORGANIZERS, tables::ATTENDEES, tables::DISCONNECTIONS];

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    /// The tool version and the options that change rows ([`key`]).
    key: String,
    /// Each meeting's fingerprint, in report order.
    meetings: Vec<u128>,
    /// Per table: the header's length and each meeting's rows, in the order of `meetings`.
    tables: Vec<StoredTable>,
}

#[derive(Serialize, Deserialize)]
struct StoredTable {
    header: u64,
    rows: Vec<Span>,
}

/// What a row depends on besides the meeting: the tool (its columns and formatting) and the
/// options that change results, the time zone among them.
pub fn key(result_options: &str, zone: &str) -> String {
    format!("tala-bulk {}\n{result_options}\n{zone}", env!("CARGO_PKG_VERSION"))
}

/// A previous report, opened, with where each of its meetings' rows lie.
struct Previous {
    file: File,
    starts: Vec<u64>,
    rows: Vec<Span>,
}

impl Previous {
    /// Reads `len` bytes at `at` into `buf` (resized); false when the file is shorter.
    fn read(&self, at: u64, len: u64, buf: &mut Vec<u8>) -> bool {
        let Ok(len) = usize::try_from(len) else { return false };
        buf.clear();
        buf.resize(len, 0);
        self.file.read_exact_at(buf, at).is_ok()
    }

    /// Reads the rows of its meetings `from..=last`, which lie one after another, into `buf`,
    /// and gives each meeting's rows with their hash where they hash as recorded, `None` where
    /// they do not; `None` as a whole when they cannot be read.
    fn read_run<'b>(
        &'b self,
        from: usize,
        last: usize,
        buf: &'b mut Vec<u8>,
    ) -> Option<impl Iterator<Item = Option<(&'b [u8], u64)>> + 'b> {
        let (&start, &stop, &(len, _)) =
            (self.starts.get(from)?, self.starts.get(last)?, self.rows.get(last)?);
        let spans = self.rows.get(from..=last)?;
        if !self.read(start, stop.saturating_add(len).saturating_sub(start), buf) {
            return None;
        }
        // `starts` add up the recorded lengths, so the spans cover the bytes read exactly.
        let buf: &'b [u8] = buf;
        let mut offset = 0usize;
        Some(spans.iter().map(move |&(len, hash)| {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let rows = buf.get(offset..offset.saturating_add(len));
            offset = offset.saturating_add(len);
            rows.filter(|r| xxhash_rust::xxh3::xxh3_64(r) == hash).map(|r| (r, hash))
        }))
    }
}

/// One table's part of this run's reuse: the previous report, and what this run writes
/// (collected for the next run).
struct Table {
    previous: Option<Previous>,
    written: Mutex<Option<(u64, Vec<Span>)>>,
    /// Meetings whose rows were copied.
    copied: AtomicU64,
}

/// What a table writer sees of the reuse: its table, and where each meeting of this run lay in
/// the previous one.
#[derive(Clone, Copy)]
pub struct TableReuse<'a> {
    table: &'a Table,
    /// Each meeting of this run (in report order): its index in the previous run's record, if
    /// it was there.
    found: &'a [Option<u32>],
}

impl TableReuse<'_> {
    /// When meetings `first..first + n` of this run lie one after another in the previous
    /// report, as they do wherever no meeting of the item changed, reads their rows into
    /// `buf` (cleared) in one piece, checks each meeting's rows against its recorded hash, and
    /// pushes their spans: the item's output is then `buf` itself, not a copy of it. False
    /// when they do not lie so, or any check fails, with `buf` empty and `spans` as it was
    /// (then `for_each` goes meeting by meeting).
    pub fn read_whole(
        &self,
        first: usize,
        n: usize,
        buf: &mut Vec<u8>,
        spans: &mut Vec<Span>,
    ) -> bool {
        buf.clear();
        let Some(prev) = &self.table.previous else { return false };
        let Some(at) = self.at(first) else { return false };
        if n == 0 || self.run_end(first, 0, n, at) != n {
            return false;
        }
        let (from, last) = (at as usize, at as usize + n - 1);
        let intact =
            prev.read_run(from, last, buf).is_some_and(|mut rows| rows.all(|r| r.is_some()));
        match prev.rows.get(from..=last).filter(|_| intact) {
            Some(recorded) => {
                spans.extend_from_slice(recorded);
                self.table.copied.fetch_add(n as u64, Ordering::Relaxed);
                true
            }
            None => {
                // The caller formats into `buf`: nothing read may stay in it.
                buf.clear();
                false
            }
        }
    }

    /// The end of the run of meetings from `j` (found at `at` in the previous report) that
    /// follow one another there too, counting from `first`, at most `n`.
    fn run_end(&self, first: usize, j: usize, n: usize, at: u32) -> usize {
        let mut end = j + 1;
        while end < n
            && at
                .checked_add((end - j) as u32)
                .is_some_and(|next| self.at(first + end) == Some(next))
        {
            end += 1;
        }
        end
    }

    /// Where meeting `meeting` of this run lay in the previous report, if it was there.
    fn at(&self, meeting: usize) -> Option<u32> {
        self.found.get(meeting).copied().flatten()
    }

    /// Goes through meetings `first..first + n` of this run in order: reads the rows of each
    /// run of them that lie one after another in the previous report into `buf`, and calls
    /// `each(meeting, Some((rows, hash)))` for a meeting whose rows are there and hash as
    /// recorded, `each(meeting, None)` for the others (`meeting` counts from `first`).
    pub fn for_each(
        &self,
        first: usize,
        n: usize,
        buf: &mut Vec<u8>,
        mut each: impl FnMut(usize, Option<(&[u8], u64)>),
    ) {
        let Some(prev) = &self.table.previous else {
            (0..n).for_each(|j| each(j, None));
            return;
        };
        let mut j = 0;
        while j < n {
            let Some(at) = self.at(first + j) else {
                each(j, None);
                j += 1;
                continue;
            };
            // The meetings that follow it in the previous report too.
            let end = self.run_end(first, j, n, at);
            let (from, last) = (at as usize, at as usize + (end - j) - 1);
            match prev.read_run(from, last, buf) {
                None => (j..end).for_each(|k| each(k, None)),
                Some(rows) => {
                    for (k, rows) in (j..end).zip(rows) {
                        if rows.is_some() {
                            self.table.copied.fetch_add(1, Ordering::Relaxed);
                        }
                        each(k, rows);
                    }
                }
            }
            j = end;
        }
    }

    /// Keeps what this run wrote: the header's length and each meeting's rows.
    pub fn wrote(&self, header: u64, rows: Vec<Span>) {
        if let Ok(mut w) = self.table.written.lock() {
            *w = Some((header, rows));
        }
    }
}

/// The reuse of a run's three meeting tables.
pub struct Reuse {
    key: String,
    fingerprints: Vec<u128>,
    /// Each meeting of this run (in report order): its index in the previous run's record, if
    /// it was there.
    found: Vec<Option<u32>>,
    tables: Vec<Table>,
}

/// What the previous run recorded, for this run's meetings.
struct Recorded {
    /// Each meeting's index in the record, if it is there.
    found: Vec<Option<u32>>,
    /// Each table's report, opened, if it can be read.
    reports: Vec<Option<Previous>>,
}

/// Which of this run's meetings (by `fingerprints`) the previous run recorded in `state`, and
/// the reports in `out` that record names. `None` when there is no usable record.
fn previous_run(state: &Path, out: &Path, key: &str, fingerprints: &[u128]) -> Option<Recorded> {
    let bytes = std::fs::read(state.join(FILE)).ok()?;
    let stored: Stored = postcard::from_bytes(&bytes).ok()?;
    if stored.format != FORMAT || stored.key != key || stored.tables.len() != TABLES.len() {
        return None;
    }
    let index: HashMap<u128, u32> =
        stored.meetings.iter().enumerate().map(|(i, f)| (*f, i as u32)).collect();
    let found = fingerprints.iter().map(|f| index.get(f).copied()).collect();
    let reports = stored
        .tables
        .into_iter()
        .zip(TABLES)
        .map(|(table, name)| {
            if table.rows.len() != stored.meetings.len() {
                return None;
            }
            // Only a regular file is read, and opening never waits: `--out` holding anything
            // else is refused before the run, but a named pipe put there since would block.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(out.join(name))
                .ok()?;
            let size = file.metadata().ok().filter(|m| m.is_file())?.len();
            let mut starts = Vec::with_capacity(table.rows.len());
            let mut at = table.header;
            for (len, _) in &table.rows {
                starts.push(at);
                at = at.checked_add(*len)?;
            }
            // Rows that cannot all be in the file are not read (nor their room allocated).
            (at <= size).then_some(Previous { file, starts, rows: table.rows })
        })
        .collect();
    Some(Recorded { found, reports })
}

impl Reuse {
    /// This run's reuse: what `state` recorded of the last run's rows, read from the reports in
    /// `out` (nothing to copy when there is no usable record: the rows are then formatted);
    /// `key` is what this run's rows are recorded under.
    pub fn new(state: &Path, out: &Path, key: String, meetings: &Meetings) -> Reuse {
        let fingerprints: Vec<u128> = meetings.list.iter().map(|m| m.fingerprint).collect();
        let Recorded { found, reports } = previous_run(state, out, &key, &fingerprints)
            .unwrap_or_else(|| Recorded {
                found: Vec::new(),
                reports: (0..TABLES.len()).map(|_| None).collect(),
            });
        let tables = reports
            .into_iter()
            .map(|previous| Table {
                previous,
                written: Mutex::new(None),
                copied: AtomicU64::new(0),
            })
            .collect();
        Reuse { key, fingerprints, found, tables }
    }

    /// The reuse of the table `name`, if it is one of [`TABLES`].
    pub fn table(&self, name: &str) -> Option<TableReuse<'_>> {
        let table = TABLES.iter().position(|t| *t == name).and_then(|i| self.tables.get(i))?;
        Some(TableReuse { table, found: &self.found })
    }

    /// Meetings whose rows were copied in every table (the fewest of any table).
    pub fn meetings_copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied.load(Ordering::Relaxed)).min().unwrap_or(0)
    }

    /// Records in `state` where this run's rows lie, once its reports are in place; nothing
    /// when a table was not written.
    pub fn save(self, state: &Path) -> Result<()> {
        let mut tables = Vec::new();
        for table in self.tables {
            let written = table.written.into_inner().ok().flatten();
            let Some((header, rows)) = written else { return Ok(()) };
            tables.push(StoredTable { header, rows });
        }
        let stored = Stored { format: FORMAT, key: self.key, meetings: self.fingerprints, tables };
        let bytes = postcard::to_allocvec(&stored).context("cannot encode the report rows")?;
        crate::state::codec::write_atomic(state, FILE, &bytes).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A previous report of four meetings' rows after a header, with their recorded spans.
    fn previous(rows: &[&[u8]]) -> (tempfile::NamedTempFile, Previous) {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut bytes = b"head\n".to_vec();
        let (mut starts, mut spans) = (Vec::new(), Vec::new());
        for r in rows {
            starts.push(bytes.len() as u64);
            spans.push((r.len() as u64, xxhash_rust::xxh3::xxh3_64(r)));
            bytes.extend_from_slice(r);
        }
        std::fs::write(file.path(), &bytes).expect("write");
        let opened = File::open(file.path()).expect("open");
        (file, Previous { file: opened, starts, rows: spans })
    }

    fn calls(table: &TableReuse<'_>, first: usize, n: usize) -> Vec<(usize, Option<String>)> {
        let mut got = Vec::new();
        table.for_each(first, n, &mut Vec::new(), |k, rows| {
            got.push((k, rows.map(|(r, _)| String::from_utf8_lossy(r).into_owned())));
        });
        got
    }

    #[test]
    fn rows_are_copied_in_this_runs_order_and_only_where_they_hash_as_recorded() {
        let rows: [&[u8]; 4] = [b"a\n", b"bb\n", b"ccc\n", b"dd\n"];
        let (file, prev) = previous(&rows);
        // This run: meeting 1, a new one, meetings 2 and 3 (one after the other there too),
        // meeting 0 last.
        let found = [Some(1), None, Some(2), Some(3), Some(0)];
        let table =
            Table { previous: Some(prev), written: Mutex::new(None), copied: AtomicU64::new(0) };
        let table = TableReuse { table: &table, found: &found };
        let all = calls(&table, 0, 5);
        let text = |s: &str| Some(s.to_string());
        assert_eq!(
            all,
            [(0, text("bb\n")), (1, None), (2, text("ccc\n")), (3, text("dd\n")), (4, text("a\n"))]
        );
        assert_eq!(table.table.copied.load(Ordering::Relaxed), 4);
        // A later item starts at its own first meeting.
        assert_eq!(calls(&table, 3, 2), [(0, text("dd\n")), (1, text("a\n"))]);
        // Meeting 2's rows edited in place: only it is not copied.
        let mut bytes = std::fs::read(file.path()).expect("read");
        let at = bytes.iter().position(|&b| b == b'c').expect("c");
        bytes[at] = b'x';
        std::fs::write(file.path(), &bytes).expect("write");
        assert_eq!(calls(&table, 2, 2), [(0, None), (1, text("dd\n"))]);
        // Cut short: the run that no longer fits is formatted.
        std::fs::write(file.path(), &bytes[..bytes.len() - 1]).expect("write");
        assert_eq!(calls(&table, 2, 3), [(0, None), (1, None), (2, text("a\n"))]);
    }

    #[test]
    fn an_item_whose_meetings_lie_one_after_another_is_read_whole_when_every_check_holds() {
        let rows: [&[u8]; 4] = [b"a\n", b"bb\n", b"ccc\n", b"dd\n"];
        let (file, prev) = previous(&rows);
        let found = [Some(1), Some(2), Some(3), None, Some(0)];
        let table =
            Table { previous: Some(prev), written: Mutex::new(None), copied: AtomicU64::new(0) };
        let table = TableReuse { table: &table, found: &found };
        let whole = |first: usize, n: usize| {
            let (mut buf, mut spans) = (b"old".to_vec(), vec![(9, 9)]);
            let read = table.read_whole(first, n, &mut buf, &mut spans);
            // Whatever it read stays only when it says so.
            assert!(read || buf.is_empty(), "{first} {n}: {buf:?}");
            (read, String::from_utf8_lossy(&buf).into_owned(), spans.len())
        };
        // Meetings 1-3 of the previous report, in one piece, spans appended.
        let (read, text, spans) = whole(0, 3);
        assert!(read);
        assert_eq!((text.as_str(), spans), ("bb\nccc\ndd\n", 4));
        assert_eq!(table.table.copied.load(Ordering::Relaxed), 3);
        // A new meeting, or one out of order, in the item: not whole.
        assert!(!whole(2, 2).0);
        assert!(!whole(3, 2).0);
        assert!(!whole(0, 5).0);
        assert_eq!(whole(2, 2).2, 1, "spans untouched");
        // One meeting's rows edited at the same length: not whole, nothing counted.
        let mut bytes = std::fs::read(file.path()).expect("read");
        let at = bytes.iter().position(|&b| b == b'c').expect("c");
        bytes[at] = b'x';
        std::fs::write(file.path(), &bytes).expect("write");
        assert!(!whole(0, 3).0);
        assert!(whole(0, 1).0, "the meeting before it still is");
        assert!(whole(2, 1).0, "and the one after it");
        assert_eq!(table.table.copied.load(Ordering::Relaxed), 5);
        // The report cut short by a byte: its last meeting's rows no longer read whole.
        std::fs::write(file.path(), &bytes[..bytes.len() - 1]).expect("write");
        assert!(!whole(2, 1).0);
        assert!(whole(0, 1).0);
    }
}
