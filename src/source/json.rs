//! JSON scan: audit records as the Management Activity API delivers them, told apart from CSV
//! by content. A content blob is a JSON array of record objects (compact or pretty-printed);
//! collectors also keep one object per line (NDJSON), or objects one after another. Each
//! element comes out as a [`Record`] of one field, the element's JSON text, which the worker
//! reads as the AuditData of one CSV row. It streams: one element in memory at a time, at
//! most [`MAX_ROW_BYTES`], whatever the file's size. Previous stage: `source::input`; next:
//! `extract`.

use std::io;

use memchr::{memchr, memchr2};

use crate::lex::{escape, string_stop};

use crate::source::csv::{Part, Record, BOM, MAX_ROW_BYTES};
use crate::source::input::Feed;
use crate::source::Rows;

/// How a JSON input holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[{...},{...}]`: an API content blob. Several arrays one after another are read too.
    Array,
    /// One value per line; blank lines are skipped. Records are numbered by line.
    Lines,
    /// Values one after another, across lines (a pretty-printed object, or several): a file
    /// that starts with `{` whose first line is not a whole value. Numbered by record.
    Values,
}

impl Kind {
    /// The name truncation.csv gives the format.
    pub fn name(self) -> &'static str {
        self.format_name("")
    }

    /// The format's name with its compression, as an input's format names it (`zst`,
    /// `gz+utf16`, or `csv` for none): `json+zst`. One of [`FORMATS`].
    pub fn format_name(self, compression: &str) -> &'static str {
        let kind = match self {
            Kind::Array => 0,
            Kind::Lines | Kind::Values => 3,
        };
        let compression = match compression.split('+').next() {
            Some("gz") => 1,
            Some("zst") => 2,
            _ => 0,
        };
        FORMATS[kind + compression]
    }
}

/// Every format name truncation.csv gives a JSON input: its kind, then its compression.
pub const FORMATS: [&str; 6] = ["json", "json+gz", "json+zst", "ndjson", "ndjson+gz", "ndjson+zst"];

/// What the start of a decoded input says it is: `None` for CSV. After a BOM and whitespace,
/// `[` starts an array and `{` objects; a CSV header starts with a column name.
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let head = head.strip_prefix(BOM).unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    match head[start] {
        b'[' => Some(Kind::Array),
        b'{' => {
            // The first line a whole value: NDJSON; else values spread over lines.
            let line = &head[start..];
            let line = &line[..memchr(b'\n', line).unwrap_or(line.len())];
            let mut v = Value::default();
            let whole = v.scan(line).is_some_and(|n| line[n..].iter().all(u8::is_ascii_whitespace));
            Some(if whole || memchr(b'\n', &head[start..]).is_none() {
                Kind::Lines
            } else {
                Kind::Values
            })
        }
        _ => None,
    }
}

/// The hash that tells a record's copies apart by content: of the JSON text without the
/// whitespace between its tokens, and with `\uXXXX` escapes of non-ASCII characters written
/// as the characters, so a pretty-printed, ASCII-escaped copy hashes as the compact one (and
/// as a CSV export's AuditData, which is compact UTF-8). `buf` is scratch space.
pub fn content_hash(json: &[u8], buf: &mut Vec<u8>) -> u64 {
    if is_canonical(json) {
        return xxhash_rust::xxh3::xxh3_64(json);
    }
    compact(json, buf);
    xxhash_rust::xxh3::xxh3_64(buf)
}

/// `json` into `buf` (cleared first) in the form [`content_hash`] hashes.
fn compact(json: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    let n = json.len();
    let mut i = 0;
    while i < n {
        let b = json[i];
        i += 1;
        if b != b'"' {
            if !b.is_ascii_whitespace() {
                buf.push(b);
            }
            continue;
        }
        // A string: copied a run at a time up to its closing quote, escapes looked at.
        buf.push(b);
        loop {
            let Some(k) = memchr2(b'"', b'\\', &json[i..]) else {
                buf.extend_from_slice(&json[i..]);
                i = n;
                break;
            };
            buf.extend_from_slice(&json[i..i + k]);
            i += k;
            if json[i] == b'"' {
                buf.push(b'"');
                i += 1;
                break;
            }
            if let Some((c, len)) = non_ascii_escape(&json[i..]) {
                let mut utf8 = [0; 4];
                buf.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                i += len;
                continue;
            }
            // Any other escape is kept as it is, with the byte it escapes.
            let end = (i + 2).min(n);
            buf.extend_from_slice(&json[i..end]);
            i = end;
        }
    }
}

/// Whether `json` is already in the form [`content_hash`] hashes, as [`compact`] would leave it:
/// no whitespace outside its strings and no `\u` escape in them.
fn is_canonical(json: &[u8]) -> bool {
    // One pass: strings jumped through (only a `\u` escape in them matters), the bytes
    // between them looked at one by one (whitespace there is not canonical). Three `memchr`
    // passes took any space beside a comma (`KHTML, like Gecko` in a UserAgent) for layout,
    // and sent almost every record to the copy below.
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        i += 1;
        if b.is_ascii_whitespace() {
            return false;
        }
        if b != b'"' {
            continue;
        }
        loop {
            let Some(k) = json.get(i..).and_then(string_stop) else { return true };
            i += k;
            match json[i] {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\\' if json.get(i + 1) == Some(&b'u') => return false,
                // Another escape: its byte is passed over with it.
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
    }
    true
}

/// A `\uXXXX` escape (or a surrogate pair of them) at the start of `s` that stands for a
/// non-ASCII character: the character and the escape's length.
fn non_ascii_escape(s: &[u8]) -> Option<(char, usize)> {
    if !s.starts_with(b"\\u") {
        return None;
    }
    escape(s, 0).filter(|(c, _)| !c.is_ascii())
}

/// Where a scan of one value stands between chunks of input.
#[derive(Debug, Default, Clone, Copy)]
struct Value {
    started: bool,
    /// Brackets and braces open; 0 for a scalar.
    depth: u32,
    /// Which of the open ones are braces, a bit each (1: `{`), the innermost lowest, while
    /// `depth` stays within 64 (`deep` once it has not: no more checks for this value).
    braces: u64,
    deep: bool,
    /// Inside an object, after its `{` or a `,`: a key (or the `}`) comes next.
    key_next: bool,
    in_string: bool,
    escaped: bool,
    /// A value that is neither object, array nor string (a number, `true`, garbage).
    scalar: bool,
    /// Whitespace between its tokens or a `\u` escape in a string was seen: the value is not
    /// known to be in the form [`content_hash`] hashes as it is. Found here, in the pass that
    /// finds the value's end, so the hash needs no pass of its own to check (a tenth of a
    /// JSON blob run).
    laid_out: bool,
}

impl Value {
    /// A `{` (`brace`) or `[` opened.
    fn open(&mut self, brace: bool) {
        self.depth += 1;
        self.deep |= self.depth > 64;
        self.braces = self.braces << 1 | u64::from(brace);
        self.key_next = brace;
    }

    /// Scans `bytes`, the continuation of the value; the length of the value's last part when
    /// it ends in them, `None` when it goes on. A scalar ends before `,`, `]`, `}` or
    /// whitespace, which is not part of it.
    ///
    /// A value that breaks the bracket grammar ends where it breaks it, so that one damaged
    /// element costs one record, not every record after it until the end of the file: at a
    /// closer of the other kind (`{"a":[1}`: the `}` is its last byte), or before a `{` or `[`
    /// where an object's key belongs (`{"a":1,{"b":2}`: an object left open, and the brace is
    /// more likely the next element's). Valid JSON never does either.
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    self.laid_out |= bytes[i] == b'u';
                    i += 1;
                    continue;
                }
                // Strings are most of a record: jump to the next quote or backslash (a control
                // byte stops the jump too, and is passed over). AuditData's strings are short,
                // and a `memchr2` call per string was a tenth of a JSON blob run.
                match string_stop(&bytes[i..]) {
                    None => return None,
                    Some(k) => {
                        i += k;
                        match bytes[i] {
                            b'\\' => self.escaped = true,
                            b'"' => {
                                self.in_string = false;
                                if self.depth == 0 {
                                    return Some(i + 1);
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                        continue;
                    }
                }
            }
            let b = bytes[i];
            if !self.started {
                self.started = true;
                match b {
                    b'{' | b'[' => self.open(b == b'{'),
                    b'"' => self.in_string = true,
                    // Its strings are not followed (`1"\u00e9` ends at no quote), so its
                    // layout is not known.
                    _ => (self.scalar, self.laid_out) = (true, true),
                }
                i += 1;
                continue;
            }
            if self.scalar {
                if matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace() {
                    return Some(i);
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.key_next = false;
                }
                b'{' | b'[' => {
                    if self.key_next {
                        return Some(i);
                    }
                    self.open(b == b'{');
                }
                b'}' | b']' => {
                    let matched = self.deep || (self.braces & 1 == 1) == (b == b'}');
                    self.depth -= 1;
                    self.braces >>= 1;
                    self.key_next = false;
                    if self.depth == 0 || !matched {
                        return Some(i + 1);
                    }
                }
                b',' => self.key_next = !self.deep && self.braces & 1 == 1,
                _ if b.is_ascii_whitespace() => self.laid_out = true,
                _ => self.key_next = false,
            }
            i += 1;
        }
        None
    }
}

/// Where the scanner stands between elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the first array's `[` (or after a closed array, where another may follow).
    Outside,
    /// Inside an array, before an element, a `,` or the `]`.
    Inside,
}

/// The reusable state and buffers of one worker's JSON reading.
pub struct JsonScanner {
    kind: Kind,
    out: Vec<u8>,
    ends: [usize; 1],
    consumed: u64,
    /// The next record's number: element (from 1) or line.
    row: u64,
    line: u64,
    at: At,
    /// Arrays opened; one not closed at the end means the file was cut.
    open: bool,
    started: bool,
    /// This reader reaches the end of the input (not a part that ends where the next begins),
    /// so an array still open at its end was cut.
    last: bool,
}

impl JsonScanner {
    pub fn new(kind: Kind) -> JsonScanner {
        JsonScanner {
            kind,
            out: Vec::with_capacity(64 * 1024),
            ends: [0],
            consumed: 0,
            row: 1,
            line: 1,
            at: At::Outside,
            open: false,
            started: false,
            last: true,
        }
    }

    /// A reader of one part of a split input ([`plan_parts`]): from byte `part.start` (after
    /// the BOM), where record (NDJSON: line) `part.row` starts, inside the array for an
    /// array. `last`: the part that reaches the end of the input, the only one whose end can
    /// show a cut.
    pub fn resume_at(kind: Kind, part: &Part, last: bool) -> JsonScanner {
        let mut s = JsonScanner::new(kind);
        if part.start == 0 {
            // The first part: read as the whole input starts, BOM and `[` included.
            s.last = last;
            return s;
        }
        s.started = true;
        s.consumed = part.start;
        match kind {
            Kind::Lines => s.line = part.row,
            Kind::Array | Kind::Values => s.row = part.row,
        }
        if kind == Kind::Array {
            s.at = At::Inside;
            s.open = true;
        }
        s.last = last;
        s
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Bytes of input consumed so far (after the BOM).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The number of the last record read (or reached, after an error).
    pub fn last_row(&self) -> u64 {
        match self.kind {
            Kind::Lines => self.line.saturating_sub(1),
            Kind::Array | Kind::Values => self.row.saturating_sub(1),
        }
    }

    /// Moves the next `n` bytes of the feed (all peeked already) into the record being read,
    /// up to [`MAX_ROW_BYTES`] a record.
    fn take(&mut self, feed: &mut dyn Feed, n: usize) -> io::Result<()> {
        if self.out.len() + n > MAX_ROW_BYTES {
            return Err(self.too_long());
        }
        let input = feed.peek()?;
        self.out.extend_from_slice(&input[..n.min(input.len())]);
        self.consume(feed, n);
        Ok(())
    }

    fn consume(&mut self, feed: &mut dyn Feed, n: usize) {
        feed.consume(n);
        self.consumed += n as u64;
    }

    fn record(&mut self, offset: u64, at_eof: bool, row: u64, compact: bool) -> Record<'_> {
        self.ends = [self.out.len()];
        Record::new(&mut self.out, &self.ends, offset, row, at_eof, compact)
    }

    fn too_long(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "record {} is longer than {} MiB; the rest of the file is not read",
                self.row,
                MAX_ROW_BYTES >> 20
            ),
        )
    }

    /// Reads the next element. `Ok(None)` at the end of input ([`JsonScanner::end`] says
    /// whether it was whole). A record that the input cut short comes out with `at_eof`, so
    /// the caller can call the file cut when it does not parse.
    pub fn next_record(&mut self, feed: &mut dyn Feed) -> io::Result<Option<Record<'_>>> {
        if !self.started {
            self.started = true;
            if feed.peek()?.starts_with(BOM) {
                feed.consume(BOM.len());
            }
        }
        match self.kind {
            Kind::Lines => self.next_line(feed),
            Kind::Array | Kind::Values => self.next_value(feed),
        }
    }

    fn next_line(&mut self, feed: &mut dyn Feed) -> io::Result<Option<Record<'_>>> {
        loop {
            // Blank lines are skipped, and counted.
            let input = feed.peek()?;
            if input.is_empty() {
                return Ok(None);
            }
            let blank = input.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let lines = input[..blank].iter().filter(|&&b| b == b'\n').count();
            self.line += lines as u64;
            if blank == 0 {
                break;
            }
            self.consume(feed, blank);
        }
        let (offset, row) = (self.consumed, self.line);
        self.out.clear();
        loop {
            let input = feed.peek()?;
            if input.is_empty() {
                let record = self.record(offset, true, row, false);
                return Ok(Some(record));
            }
            match memchr(b'\n', input) {
                Some(k) => {
                    self.take(feed, k)?;
                    self.consume(feed, 1);
                    self.line += 1;
                    if self.out.last() == Some(&b'\r') {
                        self.out.pop();
                    }
                    let record = self.record(offset, false, row, false);
                    return Ok(Some(record));
                }
                None => {
                    let n = input.len();
                    self.take(feed, n)?;
                }
            }
        }
    }

    fn next_value(&mut self, feed: &mut dyn Feed) -> io::Result<Option<Record<'_>>> {
        // Between elements: whitespace, commas, and the brackets of the arrays.
        loop {
            let input = feed.peek()?;
            let Some(&b) = input.first() else { return Ok(None) };
            if b.is_ascii_whitespace() {
                let n = input.iter().take_while(|b| b.is_ascii_whitespace()).count();
                self.consume(feed, n);
                continue;
            }
            if b == b',' && self.at == At::Inside {
                self.consume(feed, 1);
                continue;
            }
            match (self.kind, self.at, b) {
                (Kind::Array, At::Outside, b'[') => {
                    self.at = At::Inside;
                    self.open = true;
                    self.consume(feed, 1);
                }
                (Kind::Array, At::Inside, b']') => {
                    self.at = At::Outside;
                    self.open = false;
                    self.consume(feed, 1);
                }
                (Kind::Array, At::Outside, _) => {
                    // Data after the array that is not another array: the blob is damaged.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "data after the end of the array, after record {}",
                            self.last_row()
                        ),
                    ));
                }
                _ => break,
            }
        }
        // The record counts once it is read: an error inside it leaves the count before it.
        let (offset, row) = (self.consumed, self.row);
        self.out.clear();
        let mut value = Value::default();
        loop {
            let input = feed.peek()?;
            if input.is_empty() {
                self.row += 1;
                let record = self.record(offset, true, row, false);
                return Ok(Some(record));
            }
            match value.scan(input) {
                Some(n) => {
                    self.take(feed, n)?;
                    self.row += 1;
                    let record = self.record(offset, false, row, !value.laid_out);
                    return Ok(Some(record));
                }
                None => {
                    let n = input.len();
                    self.take(feed, n)?;
                }
            }
        }
    }
}

impl Rows for JsonScanner {
    fn next_record<'s>(&'s mut self, feed: &mut dyn Feed) -> io::Result<Option<Record<'s>>> {
        JsonScanner::next_record(self, feed)
    }
    fn consumed(&self) -> u64 {
        self.consumed
    }
    fn read_so_far(&self) -> u64 {
        self.last_row()
    }
    fn unit(&self) -> &'static str {
        match self.kind {
            Kind::Lines => "line",
            Kind::Array | Kind::Values => "record",
        }
    }
    fn json(&self) -> Option<Kind> {
        Some(self.kind)
    }
    fn cut(&self) -> Option<String> {
        (self.kind == Kind::Array && self.open && self.last).then(|| {
            format!("the array is not closed: the input stops after record {}", self.last_row())
        })
    }
}

/// Splits a whole plain JSON input of `len` bytes into about `parts` stretches that begin and
/// end where a sequential read begins and ends records (after an array element, or at a line
/// start), so reading them on several workers gives exactly the records, offsets and numbers
/// of one read. One pass of the scanner finds them. Returns the length of the BOM and the
/// parts, their offsets counted after it.
pub fn plan_parts(
    feed: &mut dyn Feed,
    len: u64,
    parts: usize,
    kind: Kind,
) -> Option<(usize, Vec<Part>)> {
    let bom = if feed.peek().ok()?.starts_with(BOM) { BOM.len() } else { 0 };
    feed.consume(bom);
    let mut s = JsonScanner::new(kind);
    s.started = true;
    let total = len.saturating_sub(bom as u64);
    let step = (total / parts.max(1) as u64).max(1);
    let mut list = Vec::with_capacity(parts);
    let mut part = Part { start: 0, end: total, row: 1 };
    let mut next_cut = step;
    while let Ok(Some(_)) = s.next_record(feed) {
        let at = s.consumed();
        if at >= next_cut && at < total {
            part.end = at;
            list.push(part);
            let row = match kind {
                Kind::Lines => s.line,
                Kind::Array | Kind::Values => s.row,
            };
            part = Part { start: at, end: total, row };
            next_cut = at + step;
        }
    }
    list.push(part);
    Some((bom, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed that gives `data` at most `chunk` bytes at a time, so values span refills.
    struct Chunked<'a> {
        data: &'a [u8],
        pos: usize,
        chunk: usize,
    }

    impl Feed for Chunked<'_> {
        fn peek(&mut self) -> io::Result<&[u8]> {
            let end = (self.pos + self.chunk).min(self.data.len());
            Ok(&self.data[self.pos..end])
        }
        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    /// Every record of `text` as (row, text, at_eof), then what `cut` says at the end, fed in
    /// chunks of `chunk` bytes so values span refills.
    fn read(text: &str, chunk: usize) -> (Vec<(u64, String, bool)>, Option<String>) {
        let kind = sniff(text.as_bytes()).expect("JSON");
        let mut s = JsonScanner::new(kind);
        let mut feed = Chunked { data: text.as_bytes(), pos: 0, chunk };
        let mut got = Vec::new();
        loop {
            match s.next_record(&mut feed) {
                Ok(Some(r)) => got.push((
                    r.row,
                    String::from_utf8_lossy(r.field(0).unwrap_or_default()).into_owned(),
                    r.at_eof,
                )),
                Ok(None) => break,
                Err(e) => return (got, Some(format!("error: {e}"))),
            }
        }
        (got, s.cut())
    }

    proptest::proptest! {
        /// An element the scanner finds compact, fed in any chunks, is what the compaction
        /// makes of it, so hashing it as it is gives [`content_hash`]'s hash; and the common
        /// case is found: a compact record with `, ` inside its strings.
        #[test]
        fn an_element_found_compact_compacts_to_itself(
            elements in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", " ", "\t", "\n", "\"", "\\", "u", "a", "é", "1",
                "\\u00e9", "\\u0041", "\\\"", "\\n", "\"k\":", "\"x, y\"",
            ]), 0..12), 1..6),
            chunk in 1usize..40,
        ) {
            let text = format!("[{}]", elements.iter().map(|e| format!("{{{}}}", e.concat())).collect::<Vec<_>>().join(","));
            let kind = sniff(text.as_bytes()).expect("an array");
            let mut scanner = JsonScanner::new(kind);
            let mut feed = Chunked { data: text.as_bytes(), pos: 0, chunk };
            let mut buf = Vec::new();
            while let Ok(Some(r)) = scanner.next_record(&mut feed) {
                let element = r.field(0).unwrap_or_default().to_vec();
                if r.compact {
                    compact(&element, &mut buf);
                    proptest::prop_assert_eq!(&buf, &element);
                }
            }
        }
    }

    #[test]
    fn a_compact_element_is_known_compact() {
        let text = r#"[{"UserAgent":"Mozilla/5.0 (KHTML, like Gecko)","n":["a, b"]}, {"a": 1},{"a":"\u00e9"},{"a":"\"\n"}]"#;
        let kind = sniff(text.as_bytes()).expect("an array");
        let mut scanner = JsonScanner::new(kind);
        let mut feed = crate::source::input::SliceFeed::new(text.as_bytes());
        let mut found = Vec::new();
        while let Ok(Some(r)) = scanner.next_record(&mut feed) {
            found.push(r.compact);
        }
        assert_eq!(found, [true, false, false, true]);
    }

    fn recs(v: &[(u64, &str, bool)]) -> Vec<(u64, String, bool)> {
        v.iter().map(|(r, t, e)| (*r, t.to_string(), *e)).collect()
    }

    #[test]
    fn kinds_are_told_by_the_first_bytes() {
        assert_eq!(sniff(b"\xEF\xBB\xBF  \n[{}]"), Some(Kind::Array));
        assert_eq!(sniff(b"{\"a\":1}\n{\"a\":2}\n"), Some(Kind::Lines));
        assert_eq!(sniff(b"{\n  \"a\": 1\n}\n"), Some(Kind::Values));
        assert_eq!(sniff(b"{\"a\":1}"), Some(Kind::Lines));
        assert_eq!(sniff(b"CreationDate,UserIds,Operations,AuditData\n"), None);
        assert_eq!(sniff(b"\"RecordType\",\"AuditData\"\n"), None);
        assert_eq!(sniff(b"   "), None);
    }

    #[test]
    fn array_elements_whatever_the_chunks() {
        let text = r#" [ {"a":"x]}\"{["}, {"b":[1,{"c":2}]} ,{"d":"\\"}
        ,3, "s", [1] ] "#;
        for chunk in [1, 2, 3, 7, 1000] {
            let (got, cut) = read(text, chunk);
            assert_eq!(
                got,
                recs(&[
                    (1, r#"{"a":"x]}\"{["}"#, false),
                    (2, r#"{"b":[1,{"c":2}]}"#, false),
                    (3, r#"{"d":"\\"}"#, false),
                    (4, "3", false),
                    (5, r#""s""#, false),
                    (6, "[1]", false),
                ]),
                "chunk {chunk}"
            );
            assert_eq!(cut, None);
        }
    }

    #[test]
    fn a_damaged_element_costs_one_record_not_the_rest_of_the_file() {
        // A bracket closed by a brace, an object left open, a brace closed by a bracket.
        let text = r#"[{"a":[1,2},{"b":1},{"c":1,{"d":2},{"e":{"x":1]},{"f":[{"g":3}]}]"#;
        for chunk in [1, 2, 5, 1000] {
            let (got, cut) = read(text, chunk);
            assert_eq!(
                got,
                recs(&[
                    (1, r#"{"a":[1,2}"#, false),
                    (2, r#"{"b":1}"#, false),
                    (3, r#"{"c":1,"#, false),
                    (4, r#"{"d":2}"#, false),
                    (5, r#"{"e":{"x":1]"#, false),
                    // The extra brace is a value of its own.
                    (6, "}", false),
                    (7, r#"{"f":[{"g":3}]}"#, false),
                ]),
                "chunk {chunk}"
            );
            assert_eq!(cut, None);
        }
        // Past 64 levels the kinds are not checked; the value still ends where it closes.
        let deep = format!("[{}1{},{{\"h\":1}}]", "[".repeat(70), "]".repeat(70));
        let (got, _) = read(&deep, 7);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, r#"{"h":1}"#);
    }

    #[test]
    fn arrays_one_after_another_are_one_input() {
        let (got, cut) = read("[{\"a\":1}]\n[]\n[{\"a\":2}]\n", 4);
        assert_eq!(got, recs(&[(1, "{\"a\":1}", false), (2, "{\"a\":2}", false)]));
        assert_eq!(cut, None);
    }

    #[test]
    fn an_array_cut_short_is_cut_after_its_last_whole_record() {
        let (got, cut) = read("[{\"a\":1},{\"a\":2},{\"a\":", 5);
        assert_eq!(
            got,
            recs(&[(1, "{\"a\":1}", false), (2, "{\"a\":2}", false), (3, "{\"a\":", true)])
        );
        assert_eq!(cut.as_deref(), Some("the array is not closed: the input stops after record 3"));
        let (got, cut) = read("[{\"a\":1},", 5);
        assert_eq!(got, recs(&[(1, "{\"a\":1}", false)]));
        assert_eq!(cut.as_deref(), Some("the array is not closed: the input stops after record 1"));
    }

    #[test]
    fn data_after_the_array_ends_the_input() {
        let (got, end) = read("[{\"a\":1}] {\"b\":2}", 100);
        assert_eq!(got, recs(&[(1, "{\"a\":1}", false)]));
        assert_eq!(end.as_deref(), Some("error: data after the end of the array, after record 1"));
    }

    #[test]
    fn lines_are_numbered_by_line_and_blank_lines_skipped() {
        let text = "{\"a\":1}\r\n\n  \n{\"a\":2}\n{broken\n{\"a\":3}";
        for chunk in [1, 3, 100] {
            let (got, cut) = read(text, chunk);
            assert_eq!(
                got,
                recs(&[
                    (1, "{\"a\":1}", false),
                    (4, "{\"a\":2}", false),
                    (5, "{broken", false),
                    (6, "{\"a\":3}", true),
                ]),
                "chunk {chunk}"
            );
            assert_eq!(cut, None);
        }
    }

    #[test]
    fn pretty_printed_values_one_after_another() {
        let text = "{\n  \"a\": \"}\",\n  \"b\": [1, 2]\n}\n{\n  \"c\": 3\n}\n";
        let (got, cut) = read(text, 4);
        assert_eq!(
            got,
            recs(&[
                (1, "{\n  \"a\": \"}\",\n  \"b\": [1, 2]\n}", false),
                (2, "{\n  \"c\": 3\n}", false)
            ])
        );
        assert_eq!(cut, None);
    }

    #[test]
    fn a_compact_record_is_hashed_as_it_is() {
        let ua =
            br#"{"UserAgent":"Mozilla/5.0 (KHTML, like Gecko) [x, y] {a: b}","n":"Smith, John"}"#;
        assert!(is_canonical(ua));
        for not in [&br#"{"a": 1}"#[..], b"{\"a\":1}\n", br#"{"a":"\u00e9"}"#, b"[1,\t2]"] {
            assert!(!is_canonical(not), "{}", String::from_utf8_lossy(not));
        }
        // Escapes other than `\u`, an escaped quote, a backslash at the very end.
        for yes in [&br#"{"a":"x\" y, \\ z\n"}"#[..], br#"{"a":"x"#, b"{\"a\":\"x\\"] {
            assert!(is_canonical(yes), "{}", String::from_utf8_lossy(yes));
        }
    }

    proptest::proptest! {
        /// Whatever the bytes, a text taken as already compact is what the compaction makes of it.
        #[test]
        fn what_is_canonical_compacts_to_itself(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", " ", "\t", "\n", "\"", "\\", "u", "a", "é", "\u{1}",
                "\\u00e9", "\\ud83d\\ude00", "\\u0041", "\\\"", "\\n",
            ]), 0..40),
        ) {
            let text: Vec<u8> = tokens.concat().into_bytes();
            let mut buf = Vec::new();
            compact(&text, &mut buf);
            if is_canonical(&text) {
                proptest::prop_assert_eq!(&buf, &text);
            }
        }
    }

    #[test]
    fn layout_does_not_change_the_content_hash() {
        let mut buf = Vec::new();
        let compact = content_hash(br#"{"a":"x y","b":[1,2]}"#, &mut buf);
        assert_eq!(content_hash(b"{ \"a\" : \"x y\",\n  \"b\": [ 1, 2 ] }", &mut buf), compact);
        assert_ne!(content_hash(br#"{"a":"x  y","b":[1,2]}"#, &mut buf), compact);
        assert_ne!(content_hash(br#"{"a":"x\" y","b":[1,2]}"#, &mut buf), compact);
        // A compact record hashes as its bytes, by either path (a comma and space inside a
        // string take the long way).
        for text in [&br#"{"n":"Smith, John","a":[1]}"#[..], br#"{"n":"x"}"#] {
            assert_eq!(content_hash(text, &mut buf), xxhash_rust::xxh3::xxh3_64(text));
        }
        // Non-ASCII characters escaped or not, a character outside the BMP as a pair.
        let utf8 = content_hash("{\"n\":\"Zoë 😀 \\u0041\"}".as_bytes(), &mut buf);
        let escaped = content_hash(br#"{"n": "Zo\u00eb \ud83d\ude00 \u0041"}"#, &mut buf);
        assert_eq!(utf8, escaped);
        // An escaped quote or backslash stays an escape; an ASCII \u escape stays too.
        assert_ne!(
            content_hash(br#"{"n":"\u0041"}"#, &mut buf),
            content_hash(br#"{"n":"A"}"#, &mut buf)
        );
        assert_ne!(
            content_hash(br#"{"n":"a\"b"}"#, &mut buf),
            content_hash(br#"{"n":"a\\b"}"#, &mut buf)
        );
        // Not an escape JSON has (a sign before the digits): kept as written, not read as é.
        assert_ne!(
            content_hash(br#"{"n":"\u+0e9"}"#, &mut buf),
            content_hash("{\"n\":\"é\"}".as_bytes(), &mut buf)
        );
    }
}
