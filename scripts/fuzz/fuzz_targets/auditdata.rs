//! The AuditData extractor on any bytes: the typed record, the raw value `show` walks, and
//! `--audit-only`'s one-pass reader, which must read whatever it reads exactly as the full
//! parser does. No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tala_bulk::extract::auditdata::AuditParser;
use tala_bulk::extract::peek::peek;
use tala_bulk::timestamp;

fuzz_target!(|data: &[u8]| {
    let mut parser = AuditParser::new();
    let mut read = |bytes: &[u8]| {
        let mut buf = bytes.to_vec();
        parser.with_record(&mut buf, |rec| {
            rec.map(|rec| {
                for a in &rec.attendees {
                    let _ = (a.key.len(), a.upn.len());
                }
                (
                    rec.operation.as_deref().map(str::to_owned),
                    rec.creation_time,
                    rec.meeting_id.is_some(),
                )
            })
        })
    };
    // As a full run reads a row: text that is not UTF-8 is read again with U+FFFD in place of
    // the bad bytes.
    let mut full = read(data);
    if full.is_err() && std::str::from_utf8(data).is_err() {
        full = read(String::from_utf8_lossy(data).as_bytes());
    }
    let mut buf = data.to_vec();
    parser.with_value(&mut buf, |v| v.is_some());
    if let Some(p) = peek(data) {
        let fast = (p.operation.map(|c| c.into_owned()), p.creation_time, p.meeting_id);
        assert_eq!(full, Ok(fast));
        if let Some(ts) = p.creation_time {
            assert_eq!(timestamp::parse(timestamp::format(ts).as_bytes()), Some(ts));
        }
    }
});
