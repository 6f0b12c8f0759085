//! The AuditData extractor on any bytes: the typed record, the raw value `show` walks, and the
//! key peeking of `--audit-only`. No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tala_bulk::audit::{peek_string, AuditParser};
use tala_bulk::timestamp;

fuzz_target!(|data: &[u8]| {
    let mut parser = AuditParser::new();
    let mut buf = data.to_vec();
    parser.with_record(&mut buf, |rec| {
        if let Ok(rec) = rec {
            let _ = rec.is_meeting_detail();
            for a in &rec.attendees {
                let _ = (a.key.len(), a.upn.len());
            }
        }
    });
    let mut buf = data.to_vec();
    parser.with_value(&mut buf, |v| v.is_some());
    let key = memchr::memmem::Finder::new(b"\"CreationTime\"");
    if let Some(t) = peek_string(data, &key) {
        if let Some(ts) = timestamp::parse(t) {
            assert_eq!(timestamp::parse(timestamp::format(ts).as_bytes()), Some(ts));
        }
    }
});
