//! The CSV record scanner on any bytes, whole (as from a memory map) and in small pieces (as
//! from a decoder): no panic, and both ways yield the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tala_bulk::csvscan::{Columns, Scanner};
use tala_bulk::input::{Feed, SliceFeed, StreamFeed};

fn records(feed: &mut dyn Feed) -> Vec<Vec<Vec<u8>>> {
    let mut scanner = Scanner::new();
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
        out.push(fields);
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

fuzz_target!(|data: &[u8]| {
    let whole = records(&mut SliceFeed::new(data));
    let pieces = records(&mut StreamFeed::new(Pieces(data)));
    assert_eq!(whole, pieces);
});
