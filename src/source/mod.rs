//! Source: where records come from. `discover` turns PATHs into the archive's files in archive
//! order, `input` opens one (plain, zstd, gzip, UTF-16) as a stream of bytes, `csv` scans
//! those bytes into records and plans how to split a big file among workers, and `json` reads
//! the Management Activity API's JSON arrays and NDJSON as records of one field.

pub mod csv;
pub mod discover;
pub mod input;
pub mod json;

use std::io;

use crate::source::csv::Record;
use crate::source::input::Feed;

/// A reader of records from a decoded input: CSV rows, or JSON elements as rows of one field
/// (their AuditData).
pub trait Rows {
    /// The next record; `Ok(None)` at the end of input. An I/O error ends the input; what was
    /// read before stays valid.
    fn next_record<'s>(&'s mut self, feed: &mut dyn Feed) -> io::Result<Option<Record<'s>>>;
    /// Bytes of input consumed so far.
    fn consumed(&self) -> u64;
    /// The number of the last record read (data rows and JSON records count from 1).
    fn read_so_far(&self) -> u64;
    /// What messages call a record: `row`, `record`, or `line`.
    fn unit(&self) -> &'static str;
    /// Once the input has ended: why it counts as cut though every record read was whole (a
    /// JSON array not closed); `None` when it ended as it should.
    fn cut(&self) -> Option<String>;
    /// For JSON elements, how the input holds them (their whitespace between tokens is
    /// layout, not content); `None` for CSV rows.
    fn json(&self) -> Option<json::Kind> {
        None
    }
}
