//! CSV scan: one incremental csv-core parser for every input (mapped, streamed, decompressed).
//! It strips a BOM, maps the header to the columns we need by name, and yields records whose
//! fields are unescaped into a buffer the scanner owns and reuses, so nothing is allocated per
//! record. A record may span lines (quoted newlines); end of input inside a record is noted so
//! the caller can call the file cut. Previous stage: `input`; next: `audit`.

use std::io;

use crate::input::Feed;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the columns we use sit in a file's header (SPEC 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub audit_data: usize,
    pub operation: Option<usize>,
    pub creation_date: Option<usize>,
    pub user: Option<usize>,
    /// Number of fields in the header.
    pub width: usize,
}

impl Columns {
    /// Finds columns by name, case-insensitively, ignoring surrounding blanks and extra columns.
    /// `None` when there is no AuditData column: the file is not an audit export.
    pub fn from_header(names: &[&[u8]]) -> Option<Columns> {
        let find = |wanted: &[&str]| {
            names.iter().position(|n| {
                let n = n.trim_ascii();
                wanted.iter().any(|w| n.eq_ignore_ascii_case(w.as_bytes()))
            })
        };
        Some(Columns {
            audit_data: find(&["AuditData"])?,
            operation: find(&["Operation", "Operations"]),
            creation_date: find(&["CreationDate"]),
            user: find(&["UserId", "UserIds"]),
            width: names.len(),
        })
    }

    /// A data row that repeats the header (exports concatenated by hand).
    pub fn is_header_again(&self, record: &Record<'_>) -> bool {
        record.field(self.audit_data).is_some_and(|f| f.eq_ignore_ascii_case(b"AuditData"))
    }
}

/// One parsed record, borrowed from the scanner's buffers.
pub struct Record<'s> {
    out: &'s mut [u8],
    ends: &'s [usize],
    /// Byte offset of the record's first byte in the (decoded) input.
    pub offset: u64,
    /// 1-based data row number (the header is row 0).
    pub row: u64,
    /// The record was ended by the end of input rather than by a line terminator.
    pub at_eof: bool,
}

impl<'s> Record<'s> {
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    fn bounds(&self, i: usize) -> Option<(usize, usize)> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some((start, end))
    }
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        let (s, e) = self.bounds(i)?;
        self.out.get(s..e)
    }
    /// The field's bytes, mutable: simd-json unescapes strings in place.
    pub fn field_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let (s, e) = self.bounds(i)?;
        self.out.get_mut(s..e)
    }
    /// All fields, for diagnostics and tests.
    pub fn fields(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).filter_map(|i| self.field(i))
    }
}

/// The reusable parser state and buffers of one worker.
pub struct Scanner {
    rdr: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    consumed: u64,
    row: u64,
    started: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner {
            rdr: csv_core::Reader::new(),
            out: vec![0; 64 * 1024],
            ends: vec![0; 64],
            consumed: 0,
            row: 0,
            started: false,
        }
    }

    /// Prepares for a new input, keeping the buffers.
    pub fn reset(&mut self) {
        self.rdr.reset();
        self.consumed = 0;
        self.row = 0;
        self.started = false;
    }

    /// Bytes of input consumed so far (after the BOM).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Reads the next record (the header first). `Ok(None)` at the end of input. An I/O error
    /// (e.g. a corrupt compressed stream) ends the input; what was read before stays valid.
    pub fn next_record<'s>(&'s mut self, feed: &mut dyn Feed) -> io::Result<Option<Record<'s>>> {
        if !self.started {
            self.started = true;
            let head = feed.peek()?;
            if head.starts_with(BOM) {
                feed.consume(BOM.len());
            }
        }
        let offset = self.consumed;
        let (mut nout, mut nend) = (0, 0);
        loop {
            let input = feed.peek()?;
            let at_eof = input.is_empty();
            let (res, nin, o, e) =
                self.rdr.read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            feed.consume(nin);
            self.consumed += nin as u64;
            nout += o;
            nend += e;
            match res {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.out.len();
                    self.out.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    // csv-core keeps its own output position across calls, so `ends` are
                    // offsets from the record's start even after a resize-and-resume.
                    let record = Record {
                        out: &mut self.out[..nout],
                        ends: &self.ends[..nend],
                        offset,
                        row: self.row,
                        at_eof,
                    };
                    self.row += 1;
                    return Ok(Some(record));
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{SliceFeed, StreamFeed};

    fn all_records(feed: &mut dyn Feed) -> Vec<(u64, bool, Vec<String>)> {
        let mut sc = Scanner::new();
        let mut got = Vec::new();
        while let Some(r) = sc.next_record(feed).unwrap() {
            let fields = r.fields().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
            got.push((r.row, r.at_eof, fields));
        }
        got
    }

    /// A reader that hands out one byte at a time: every record crosses refill boundaries.
    struct Trickle<'a>(&'a [u8]);
    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn bom_crlf_quotes_and_embedded_newlines() {
        let data = "\u{feff}\"A\",\"B\"\r\nx,\"he said \"\"hi\"\",\r\nok\"\r\n\r\n\"last\",\"\"";
        let expected = vec![
            (0, false, vec!["A".to_string(), "B".to_string()]),
            (1, false, vec!["x".to_string(), "he said \"hi\",\r\nok".to_string()]),
            (2, true, vec!["last".to_string(), String::new()]),
        ];
        assert_eq!(all_records(&mut SliceFeed::new(data.as_bytes())), expected);
        assert_eq!(all_records(&mut StreamFeed::new(Trickle(data.as_bytes()))), expected);
    }

    #[test]
    fn fields_larger_than_the_initial_buffers() {
        let big = "y".repeat(200_000);
        let many: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        let data = format!("h\n\"{big}\"\n{}\n", many.join(","));
        let got = all_records(&mut StreamFeed::new(data.as_bytes()));
        assert_eq!(got[1].2, vec![big]);
        assert_eq!(got[2].2, many);
    }

    #[test]
    fn header_columns_by_name_with_aliases() {
        let names: Vec<&[u8]> =
            vec![b"RecordType", b" creationdate", b"UserIds", b"OPERATIONS", b"AuditData"];
        let cols = Columns::from_header(&names).unwrap();
        assert_eq!(cols.audit_data, 4);
        assert_eq!(cols.operation, Some(3));
        assert_eq!(cols.creation_date, Some(1));
        assert_eq!(cols.width, 5);
        assert_eq!(Columns::from_header(&[b"a".as_slice(), b"b"]), None);
    }
}
