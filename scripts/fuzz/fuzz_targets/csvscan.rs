//! The CSV record scanner on any bytes, whole (in one buffer) and in small pieces (as from a
//! decoder): no panic, and both ways yield the same records, offsets and end flags.
//! Whole input takes the scanner's fast path wherever a record's shape allows; 7-byte pieces
//! almost never do, so this also checks the fast path against csv-core.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tala_bulk::source::csv::{Columns, Scanner};
use tala_bulk::source::input::{Feed, SliceFeed, StreamFeed};

type Read = (u64, u64, bool, Vec<Vec<u8>>);

fn records(scanner: &mut Scanner, feed: &mut dyn Feed) -> Vec<Read> {
    scanner.reset();
    let mut out = Vec::new();
    while let Ok(Some(mut rec)) = scanner.next_record(feed) {
        let fields: Vec<Vec<u8>> = rec.fields().map(|f| f.to_vec()).collect();
        if out.is_empty() {
            let names: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
            if let Some(cols) = Columns::from_header(&names) {
                let _ = rec.field_mut(cols.audit_data);
                let _ = cols.is_header_again(&rec);
            }
        }
        out.push((rec.row, rec.offset, rec.at_eof, fields));
    }
    out
}

/// Hands out at most 7 bytes per read.
struct Pieces<'a>(&'a [u8]);
impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

thread_local! {
    // Built once: a fresh scanner per input would spend the run allocating its buffers.
    static SCANNER: std::cell::RefCell<Scanner> = std::cell::RefCell::new(Scanner::new());
}

fuzz_target!(|data: &[u8]| {
    SCANNER.with(|scanner| {
        let mut scanner = scanner.borrow_mut();
        let whole = records(&mut scanner, &mut SliceFeed::new(data));
        let pieces = records(&mut scanner, &mut StreamFeed::with_window(Pieces(data), 16));
        assert_eq!(whole, pieces);
    });
});
