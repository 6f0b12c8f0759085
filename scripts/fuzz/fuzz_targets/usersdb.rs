//! The users-database parser on any bytes: no panic; every pair has a UUID and an email
//! without commas; and the pairs the database would write back (those `storable` lets through)
//! read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tala_bulk::analyze::users::{parse, storable};

fuzz_target!(|data: &[u8]| {
    let (pairs, malformed) = parse(data);
    let lines = String::from_utf8_lossy(data).split('\n').count();
    assert!(pairs.len() + malformed.len() <= lines);
    let mut again = String::new();
    let mut written = Vec::new();
    for (uuid, email) in &pairs {
        assert!(!uuid.is_empty() && !email.is_empty());
        assert!(!email.contains(','));
        assert_eq!(uuid, &uuid.trim().to_ascii_lowercase());
        if storable(uuid) && storable(email) {
            again.push_str(&format!("{uuid},{email}\n"));
            written.push((uuid.clone(), email.clone()));
        }
    }
    let (read_back, bad) = parse(again.as_bytes());
    assert_eq!(bad, Vec::<usize>::new());
    assert_eq!(read_back, written);
});
