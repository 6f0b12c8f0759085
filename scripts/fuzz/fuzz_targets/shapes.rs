//! The learned layouts against simd-json: the input is records, one per line; a parser that
//! learns layouts as it goes (and so reads the later records, and all of them the second
//! time, with its shapes where it can) must make of each exactly what simd-json alone makes
//! of it, invalid records included. No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tala_bulk::extract::auditdata::{AuditParser, AuditRecord};

fuzz_target!(|data: &[u8]| {
    let mut learning = AuditParser::new();
    let mut simd = AuditParser::simd_json_only();
    let records: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    for json in records.iter().chain(records.iter()) {
        let (mut a, mut b) = (json.to_vec(), json.to_vec());
        let got = learning.with_record(&mut a, |r| r.map(AuditRecord::to_owned_record));
        let want = simd.with_record(&mut b, |r| r.map(AuditRecord::to_owned_record));
        assert_eq!(got, want, "{}", String::from_utf8_lossy(json));
    }
});
