//! The whole reader on any bytes as a file: plain, zstd- and gzip-compressed, read fully and in
//! audit-only mode by a worker (input, CSV scan, AuditData, aggregation). No panic, memory
//! within libFuzzer's limit (rows are bounded at 256 MiB, so a compression bomb ends there),
//! one file report each, and the audit-only read agrees with the full one on every column of
//! truncation.csv.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use tala_bulk::state::claims::Claims;
use tala_bulk::state::files::FileReport;
use tala_bulk::source::discover::{ArchiveFile, Origin};
use tala_bulk::messages::Ui;
use tala_bulk::read::worker::Worker;

fn read(path: &std::path::Path, audit_only: bool) -> FileReport {
    let ui = Ui::new(0, 0, false);
    let claims = Claims::default();
    // A row cap of 3, so fuzzed files reach it.
    let mut worker = Worker::new(&ui, Some(&claims), 3, audit_only, false);
    let file = ArchiveFile::new("fuzz.csv".into(), Origin::File(path.to_path_buf()));
    worker.process(0, &file);
    let mut files = worker.partial.files;
    assert_eq!(files.len(), 1);
    files.pop_first().expect("one file").1.report
}

fuzz_target!(|data: &[u8]| {
    let zst = zstd::encode_all(data, 1).expect("zstd");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip");
    let gz = gz.finish().expect("gzip");
    // One file per process in the temporary directory (scripts/fuzz.sh points it at
    // memory-backed /dev/shm), rewritten for each variant.
    let path = std::env::temp_dir().join(format!("tala-bulk-fuzz-{}", std::process::id()));
    for bytes in [data, &zst[..], &gz[..]] {
        std::fs::write(&path, bytes).expect("write the input");
        let full = read(&path, false);
        let fast = read(&path, true);
        let columns = |f: &FileReport| {
            (f.rows, f.meeting_records, f.earliest, f.latest, f.status, f.detail.clone())
        };
        assert_eq!(columns(&full), columns(&fast));
    }
});
