//! CSV scan: one incremental reader for every input (plain, decompressed, piped). Records
//! of the common shape are read by a SIMD fast path; anything else by csv-core, whose rules
//! decide either way. It strips a BOM, maps the header to the columns we need by name, and
//! yields records whose fields are unescaped into a buffer the scanner owns and reuses, so
//! nothing is allocated per record. A record may span lines (quoted newlines); end of input
//! inside a record is noted so the caller can call the file cut, and a row over
//! [`MAX_ROW_BYTES`] ends the input with an error rather than memory. It also plans how to
//! split a big file at record boundaries (`plan_parts`). Previous stage: `source::input`; next:
//! `extract`.

use std::io;

use crate::source::input::Feed;

/// The UTF-8 byte-order mark some exports start with (the JSON reader skips it too).
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest row read, in bytes after CSV unquoting. A real row is under 1 MB; a row with
/// no line end (`/dev/zero`, a file of zero bytes, a small `.zst` that expands to gigabytes
/// without a newline) would otherwise grow memory until the machine gives out. A longer row
/// ends the file with an error: it is reported `cut` at that row, and the archive goes on.
pub const MAX_ROW_BYTES: usize = 256 << 20;

/// The most fields a row may have (exports have about ten; extra fields are ignored anyway),
/// for the same reason: a line of commas must not grow the field list without limit.
pub const MAX_FIELDS: usize = 1 << 16;

/// The fast path looks at most this far ahead for the end of a record; longer records (rare)
/// are read by csv-core, which grows its buffers only up to the limits above.
const FAST_PATH_BYTES: usize = 1 << 20;

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

    /// A record of one field, its AuditData: a JSON element (`source::json`).
    pub fn single() -> Columns {
        Columns { audit_data: 0, operation: None, creation_date: None, user: None, width: 1 }
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
    /// A JSON record that its scan found already in the compact form `json::content_hash`
    /// hashes (no whitespace between tokens, no `\u` escape); false where not known.
    pub compact: bool,
}

impl<'s> Record<'s> {
    /// A record over `out`, its fields ending at `ends` (for the other readers of records).
    pub fn new(
        out: &'s mut [u8],
        ends: &'s [usize],
        offset: u64,
        row: u64,
        at_eof: bool,
        compact: bool,
    ) -> Record<'s> {
        Record { out, ends, offset, row, at_eof, compact }
    }

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
    /// csv-core strips a BOM from the first bytes it is given, wherever they fall in the
    /// input. The BOM is handled here, at the start of the input only; and since the fast path
    /// may read the first records, csv-core's first bytes can be a later record's. Feeding it a
    /// blank line first (which it skips, staying at a record start) turns that off.
    fn prime(rdr: &mut csv_core::Reader) {
        let _ = rdr.read_record(b"\n", &mut [], &mut []);
    }

    pub fn new() -> Scanner {
        let mut rdr = csv_core::Reader::new();
        Scanner::prime(&mut rdr);
        Scanner {
            rdr,
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
        Scanner::prime(&mut self.rdr);
        self.consumed = 0;
        self.row = 0;
        self.started = false;
    }

    /// Prepares to read from the middle of an input: at byte `offset` (counted after the BOM,
    /// as [`Scanner::consumed`] counts) where data row `row` starts.
    pub fn resume_at(&mut self, offset: u64, row: u64) {
        self.reset();
        self.started = true;
        self.consumed = offset;
        self.row = row;
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
        // Blank lines and the `\n` of a `\r\n` are skipped here, as csv-core would skip them,
        // so a record's offset is its first byte whichever path reads it.
        loop {
            let input = feed.peek()?;
            let blank = input.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if blank == 0 {
                break;
            }
            feed.consume(blank);
            self.consumed += blank as u64;
        }
        let offset = self.consumed;
        let ahead = feed.peek()?;
        let ahead = &ahead[..ahead.len().min(FAST_PATH_BYTES)];
        if let Some((nin, nout, nend)) = simple_record(ahead, &mut self.out, &mut self.ends) {
            feed.consume(nin);
            self.consumed += nin as u64;
            let record = Record {
                out: &mut self.out[..nout],
                ends: &self.ends[..nend],
                offset,
                row: self.row,
                at_eof: false,
                compact: false,
            };
            self.row += 1;
            return Ok(Some(record));
        }
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
                    if len >= MAX_ROW_BYTES {
                        return Err(
                            self.too_long(format!("longer than {} MiB", MAX_ROW_BYTES >> 20))
                        );
                    }
                    self.out.resize((len * 2).min(MAX_ROW_BYTES), 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    if len >= MAX_FIELDS {
                        return Err(self.too_long(format!("made of more than {MAX_FIELDS} fields")));
                    }
                    self.ends.resize((len * 2).min(MAX_FIELDS), 0);
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
                        compact: false,
                    };
                    self.row += 1;
                    return Ok(Some(record));
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }
}

impl super::Rows for Scanner {
    fn next_record<'s>(&'s mut self, feed: &mut dyn Feed) -> io::Result<Option<Record<'s>>> {
        Scanner::next_record(self, feed)
    }
    fn consumed(&self) -> u64 {
        self.consumed
    }
    fn read_so_far(&self) -> u64 {
        self.row.saturating_sub(1)
    }
    fn unit(&self) -> &'static str {
        "row"
    }
    fn cut(&self) -> Option<String> {
        None
    }
}

impl Scanner {
    /// The error that ends an input whose current row is over a limit; the row is named as
    /// the worker's warnings name rows (data rows from 1).
    fn too_long(&self, what: String) -> io::Error {
        let row = match self.row {
            0 => "the header row".to_string(),
            n => format!("row {n}"),
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{row} is {what} (no line end?); the rest of the file is not read"),
        )
    }

    /// The number the next record will have (the header is 0): after an error, the rows before
    /// it are the ones read.
    pub fn next_row(&self) -> u64 {
        self.row
    }
}

/// A stretch of a file that starts and ends at record boundaries, for one worker.
/// Offsets are counted after the BOM, as [`Scanner::consumed`] counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub start: u64,
    pub end: u64,
    /// The row number of the first record in the part.
    pub row: u64,
}

/// Splits a whole CSV input of `len` bytes (a plain file, read through `feed`) into about
/// `parts` stretches of data rows that begin and end where a sequential read would begin and
/// end records, so reading them on several workers gives exactly the records, offsets and row
/// numbers of one read. Finding the boundaries is one pass of this scanner (its fast path runs
/// at about 1.6 GB/s, over ten times the speed of the full processing). Returns the length of
/// the BOM (where the text the offsets count starts), the header's columns and the parts;
/// `None` when the input is not an audit export.
pub fn plan_parts(
    feed: &mut dyn Feed,
    len: u64,
    parts: usize,
) -> Option<(usize, Columns, Vec<Part>)> {
    let bom = if feed.peek().ok()?.starts_with(BOM) { BOM.len() } else { 0 };
    feed.consume(bom);
    let mut scanner = Scanner::new();
    scanner.started = true;
    let cols = {
        let header = scanner.next_record(feed).ok()??;
        let names: Vec<&[u8]> = header.fields().collect();
        Columns::from_header(&names)?
    };
    let total = len.saturating_sub(bom as u64);
    let step = (total / parts.max(1) as u64).max(1);
    let mut list = Vec::with_capacity(parts);
    let mut part = Part { start: scanner.consumed(), end: total, row: scanner.row };
    let mut next_cut = part.start + step;
    while let Ok(Some(_)) = scanner.next_record(feed) {
        if scanner.consumed() >= next_cut && scanner.consumed() < total {
            part.end = scanner.consumed();
            list.push(part);
            part = Part { start: scanner.consumed(), end: total, row: scanner.row };
            next_cut = part.start + step;
        }
    }
    list.push(part);
    Some((bom, cols, list))
}

/// Reads one record of the common shape from the start of `input`: every field plain (no
/// quote) or quoted with doubled quotes inside, the record ended by a line terminator within
/// `input`. Returns the bytes read (through the first terminator byte) and the lengths used in
/// `out` and `ends`, laid out as csv-core lays them out. `None` for any other shape (a quote
/// inside a plain field, text after a closing quote, no terminator before the end of `input`);
/// csv-core then reads the record, so the rules are csv-core's either way. This path exists
/// for speed: csv-core's byte-at-a-time state machine was the largest cost of a run, and almost
/// every byte of an export is inside a quoted AuditData field, which this copies in runs
/// between quotes.
fn simple_record(
    input: &[u8],
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Option<(usize, usize, usize)> {
    let (mut i, mut nout, mut nend) = (0, 0, 0);
    loop {
        if input.get(i) == Some(&b'"') {
            i = quoted_field(input, i + 1, out, &mut nout)?;
        } else {
            let rest = input.get(i..)?;
            let end = i + memchr::memchr3(b',', b'\n', b'\r', rest)?;
            let field = &input[i..end];
            if memchr::memchr(b'"', field).is_some() {
                return None;
            }
            put(out, &mut nout, field);
            i = end;
        }
        if nend == ends.len() {
            ends.resize((nend * 2).max(8), 0);
        }
        ends[nend] = nout;
        nend += 1;
        match input.get(i)? {
            b',' => i += 1,
            b'\n' | b'\r' => return Some((i + 1, nout, nend)),
            _ => return None,
        }
    }
}

/// Copies the body of a quoted field that starts at `input[from]` into `out[*nout..]`, one
/// quote for each doubled one, and returns the index just past the closing quote. `None` if
/// `input` ends first.
///
/// AuditData has a doubled quote every few bytes, so finding quotes one call at a time costs
/// more than the copying. Instead it takes 64-byte blocks, finds all their quotes at once as a
/// bit mask (the loop compiles to vector compares), and copies the runs between dropped quotes.
fn quoted_field(input: &[u8], from: usize, out: &mut Vec<u8>, nout: &mut usize) -> Option<usize> {
    let mut j = from;
    let compress = compressor();
    'blocks: while let Some(block) = input.get(j..j + 64) {
        let Ok(block) = <&[u8; 64]>::try_from(block) else { break };
        // Room for a whole block plus the fixed-size copies of `copy_run`.
        if *nout + 96 > out.len() {
            out.resize((*nout + 96).max(out.len() * 2), 0);
        }
        let mut quotes = quote_mask(block);
        // The common block: every quote in it is one of a doubled pair that lies wholly in
        // it, so the field goes on past it. Where the CPU can, the block is copied without
        // the second quote of each pair in one instruction instead of run by run.
        let first = quotes & !(quotes << 1);
        if quotes == first | (first << 1) && first >> 63 == 0 {
            if let (Some(compress), Some(dst)) = (compress, out.get_mut(*nout..*nout + 64)) {
                if let Ok(dst) = <&mut [u8; 64]>::try_from(dst) {
                    let dropped = first << 1;
                    compress(block, !dropped, dst);
                    *nout += 64 - dropped.count_ones() as usize;
                    j += 64;
                    continue 'blocks;
                }
            }
        }
        let mut run = 0;
        while quotes != 0 {
            let q = quotes.trailing_zeros() as usize;
            if q == 63 {
                // Its partner (or not) is in the next block, which starts at this quote.
                copy_run(out, nout, input, j + run, j + 63);
                j += 63;
                continue 'blocks;
            }
            if quotes & (2 << q) == 0 {
                copy_run(out, nout, input, j + run, j + q);
                return Some(j + q + 1);
            }
            copy_run(out, nout, input, j + run, j + q + 1);
            run = q + 2;
            quotes &= !(3 << q);
        }
        copy_run(out, nout, input, j + run, j + 64);
        j += 64;
    }
    // The last bytes of the input, fewer than a block.
    loop {
        let quote = j + memchr::memchr(b'"', input.get(j..)?)?;
        put(out, nout, &input[j..quote]);
        if input.get(quote + 1) != Some(&b'"') {
            return Some(quote + 1);
        }
        put(out, nout, b"\"");
        j = quote + 2;
    }
}

/// Copies the bytes of `block` whose bit is set in `keep` to the start of `dst`, in order.
type Compress = fn(&[u8; 64], u64, &mut [u8; 64]);

/// [`Compress`] in one instruction where the CPU has AVX-512 VBMI2 (`vpcompressb`: Ice Lake
/// and later Intel servers, AMD Zen 4); `None` elsewhere, where the runs are copied one by
/// one.
#[cfg(target_arch = "x86_64")]
fn compressor() -> Option<Compress> {
    let has = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vbmi2");
    has.then_some(compress_vbmi2 as Compress)
}

#[cfg(not(target_arch = "x86_64"))]
fn compressor() -> Option<Compress> {
    None
}

#[cfg(target_arch = "x86_64")]
fn compress_vbmi2(block: &[u8; 64], keep: u64, dst: &mut [u8; 64]) {
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2")]
    fn compress(block: &[u8; 64], keep: u64, dst: &mut [u8; 64]) {
        use std::arch::x86_64::{
            _mm512_loadu_si512, _mm512_maskz_compress_epi8, _mm512_storeu_si512,
        };
        // SAFETY: `block` and `dst` are 64 bytes each, what one unaligned 512-bit load and
        // store touch.
        unsafe {
            let v = _mm512_loadu_si512(block.as_ptr().cast());
            _mm512_storeu_si512(dst.as_mut_ptr().cast(), _mm512_maskz_compress_epi8(keep, v));
        }
    }
    // SAFETY: `compressor` hands this function out only where the CPU has these features.
    unsafe { compress(block, keep, dst) }
}

/// The same without the instruction, to check it.
#[cfg(test)]
fn compress_portable(block: &[u8; 64], keep: u64, dst: &mut [u8; 64]) {
    let mut n = 0;
    for (k, &b) in block.iter().enumerate() {
        if keep >> k & 1 == 1 {
            dst[n] = b;
            n += 1;
        }
    }
    dst[n..].fill(0);
}

/// Bit `k` is set when `block[k]` is a double quote: four SSE2 compares (x86-64 always has
/// SSE2; a plain loop is not vectorised by the compiler and costs five times as much).
#[cfg(target_arch = "x86_64")]
fn quote_mask(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let mut mask = 0u64;
    for (k, lane) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of x86-64, so these instructions exist on every x86-64 CPU;
        // `lane` is 16 readable bytes, and an unaligned load has no other requirement.
        let bits = unsafe {
            let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)))
        };
        mask |= u64::from(bits as u16) << (16 * k);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn quote_mask(block: &[u8; 64]) -> u64 {
    quote_mask_portable(block)
}

/// The same mask without SSE2, for other architectures (and to check the SSE2 one).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn quote_mask_portable(block: &[u8; 64]) -> u64 {
    let mut mask = 0u64;
    for (k, &b) in block.iter().enumerate() {
        mask |= u64::from(b == b'"') << k;
    }
    mask
}

/// Appends `input[start..end]`. `out` has 32 bytes of room past any run, so a short run (most
/// of them) is one fixed-size 32-byte copy instead of a `memcpy` call; it reads up to 32 bytes
/// from `start`, past the block where the input goes on.
fn copy_run(out: &mut [u8], nout: &mut usize, input: &[u8], start: usize, end: usize) {
    let (n, len) = (*nout, end.saturating_sub(start));
    // As arrays, not slices: the compiler then copies the 32 bytes with two vector moves; with
    // slices it called `memcpy` for every run.
    let word = input.get(start..start + 32).and_then(|w| <&[u8; 32]>::try_from(w).ok());
    let dst = out.get_mut(n..n + 32).and_then(|d| <&mut [u8; 32]>::try_from(d).ok());
    match (word, dst) {
        (Some(word), Some(dst)) if len <= 32 => *dst = *word,
        _ => {
            if let (Some(dst), Some(run)) = (out.get_mut(n..n + len), input.get(start..end)) {
                dst.copy_from_slice(run);
            }
        }
    }
    *nout = n + len;
}

/// Appends `bytes` at `out[*n..]`, growing `out` when needed.
fn put(out: &mut Vec<u8>, n: &mut usize, bytes: &[u8]) {
    let end = *n + bytes.len();
    if end > out.len() {
        out.resize(end.max(out.len() * 2), 0);
    }
    out[*n..end].copy_from_slice(bytes);
    *n = end;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::input::{SliceFeed, StreamFeed};

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

    fn with_offsets(feed: &mut dyn Feed) -> Vec<(u64, u64, bool, Vec<Vec<u8>>)> {
        let mut sc = Scanner::new();
        let mut got = Vec::new();
        while let Some(r) = sc.next_record(feed).unwrap() {
            got.push((r.row, r.offset, r.at_eof, r.fields().map(<[u8]>::to_vec).collect()));
        }
        got
    }

    proptest::proptest! {
        /// A long quoted field of doubled quotes and text (AuditData's shape) reads as its
        /// text with each pair made one quote, whichever way its 64-byte blocks are copied;
        /// where the CPU has no `vpcompressb`, this checks the run-by-run copy.
        #[test]
        fn doubled_quotes_read_as_one(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["\"\"", "\"\"\"\"", "ab", ",", "0123456789abcdefghijklmnopq"]),
                0..200,
            ),
            lead in 0usize..70,
        ) {
            let body = pieces.concat();
            let data = format!("{},\"{body}\",z\n", "x".repeat(lead)).into_bytes();
            let records = with_offsets(&mut SliceFeed::new(&data));
            proptest::prop_assert_eq!(records.len(), 1);
            let want: Vec<Vec<u8>> = vec![
                "x".repeat(lead).into_bytes(),
                body.replace("\"\"", "\"").into_bytes(),
                b"z".to_vec(),
            ];
            proptest::prop_assert_eq!(&records[0].3, &want);
        }

        /// `vpcompressb` keeps the bytes the mask names, in order.
        #[test]
        fn compress_keeps_the_masked_bytes(block in proptest::array::uniform32(0u8..), keep: u64) {
            let mut full = [0u8; 64];
            full[..32].copy_from_slice(&block);
            full[32..].copy_from_slice(&block);
            full[40] = 0xfe;
            let (mut fast, mut slow) = ([0u8; 64], [0u8; 64]);
            compress_portable(&full, keep, &mut slow);
            if let Some(compress) = compressor() {
                compress(&full, keep, &mut fast);
                let n = keep.count_ones() as usize;
                proptest::prop_assert_eq!(&fast[..n], &slow[..n]);
            }
        }
    }

    proptest::proptest! {
        /// The whole-slice read (the fast path where the record's shape allows) and the
        /// byte-at-a-time read (csv-core alone) agree on every record, offset and end flag.
        #[test]
        fn fast_path_reads_like_csv_core(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", ",", "\"", "\"\"", "\r", "\n", "\"x,", "0123456789abcdefghijklmnopq",
                    "\u{feff}",
                ]),
                0..120,
            )
        ) {
            // Runs of 27 bytes make quoted fields longer than the 64-byte blocks, with quotes
            // at every position in a block, including its last byte.
            let data = pieces.concat().into_bytes();
            let whole = with_offsets(&mut SliceFeed::new(&data));
            let trickled = with_offsets(&mut StreamFeed::new(Trickle(&data)));
            // 7-byte reads mix both paths: short records fast, the rest through csv-core.
            let sevens = with_offsets(&mut StreamFeed::new(Chunks(&data, 7)));
            proptest::prop_assert_eq!(&whole, &trickled);
            proptest::prop_assert_eq!(&whole, &sevens);
        }
    }

    #[test]
    fn quote_mask_finds_every_quote() {
        let mut block = [b'a'; 64];
        for (k, b) in block.iter_mut().enumerate() {
            if k % 3 == 0 || k == 63 || k == 16 {
                *b = b'"';
            }
        }
        let expected = (0..64).filter(|k| k % 3 == 0 || *k == 63 || *k == 16);
        let expected = expected.fold(0u64, |m, k| m | 1 << k);
        assert_eq!(quote_mask(&block), expected);
        assert_eq!(quote_mask_portable(&block), expected);
        assert_eq!(quote_mask(&[b'"'; 64]), u64::MAX);
        assert_eq!(quote_mask(&[0x22 ^ 0x80; 64]), 0);
    }

    #[test]
    fn bom_only_at_the_start_of_the_input() {
        // Found by fuzzing: csv-core, first called for the second record, took its BOM away.
        let data = b",A\n\xEF\xBB\xBFh,x\n";
        let expected = vec![
            (0, 0, false, vec![b"".to_vec(), b"A".to_vec()]),
            (1, 3, false, vec![b"\xEF\xBB\xBFh".to_vec(), b"x".to_vec()]),
        ];
        assert_eq!(with_offsets(&mut SliceFeed::new(data)), expected);
        assert_eq!(with_offsets(&mut StreamFeed::new(Trickle(data))), expected);
        // 7 bytes: the fast path reads the first record, csv-core gets "\xEF\xBB\xBFh".
        let mut sevens = StreamFeed::new(Chunks(data, 7));
        assert_eq!(with_offsets(&mut sevens), expected);
    }

    /// A reader that hands out `.1` bytes at a time.
    struct Chunks<'a>(&'a [u8], usize);
    impl io::Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn fast_path_offsets_and_quotes() {
        let data = b"h1,h2\r\n\r\n\"a\"\"b\",c\n\"x\"y,z\n";
        let got = with_offsets(&mut SliceFeed::new(data));
        let expected: Vec<(u64, u64, bool, Vec<Vec<u8>>)> = vec![
            (0, 0, false, vec![b"h1".to_vec(), b"h2".to_vec()]),
            (1, 9, false, vec![b"a\"b".to_vec(), b"c".to_vec()]),
            // Text after a closing quote: csv-core's rule (kept, quote dropped) applies.
            (2, 18, false, vec![b"xy".to_vec(), b"z".to_vec()]),
        ];
        assert_eq!(got, expected);
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
