//! Any bytes as a partial-state file: opening, checking and loading it must refuse what is
//! damaged with an error, never panic or allocate what the bytes merely claim; what loads
//! must encode again and load back to the same bytes. A catalog (the one-file partials of a
//! state directory) is read, a window's meetings selected from it and their records loaded. Inputs are in the fuzzing form
//! (`partial_raw`: sections stored raw, checksums set here), so mutations reach the decoders.
#![no_main]

#[path = "partial_raw.rs"]
mod partial_raw;

use libfuzzer_sys::fuzz_target;
use tala_bulk::state::codec::{self, Meta, PartialFile};

fuzz_target!(|input: &[u8]| {
    let data = &partial_raw::from_raw(input)[..];
    let dir = std::env::temp_dir().join(format!("tala-fuzz-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("p.tbp");
    std::fs::write(&path, data).expect("write");
    let Ok(file) = PartialFile::open(&path, None) else { return };
    let _ = file.file_states();
    for b in file.buckets() {
        let _ = file.bucket(b);
    }
    if let Ok(catalog) = file.catalog() {
        if let Some(selection) = tala_bulk::state::window::select(&[catalog], Some(0), None) {
            let (files, meetings) = (&selection.files, &selection.subset.meetings);
            let _ = codec::load_meetings(std::slice::from_ref(&file), files, meetings);
        }
    }
    let meta = Meta { options: file.header.options.clone(), buckets: file.header.buckets };
    let Ok(loaded) = codec::load(std::slice::from_ref(&file), None) else { return };
    let again = codec::encode(&loaded.partial, &meta, Some(&loaded.buckets)).expect("re-encode");
    std::fs::write(&path, &again).expect("write");
    let file = PartialFile::open(&path, None).expect("re-encoded partial opens");
    let loaded = codec::load(std::slice::from_ref(&file), None).expect("re-encoded loads");
    let twice = codec::encode(&loaded.partial, &meta, Some(&loaded.buckets)).expect("encode");
    assert_eq!(again, twice, "encoding is stable");
});
