//! Per-stage throughput (criterion, `Throughput::Bytes`), so a regression shows which stage
//! moved: CSV record scan, AuditData extraction, aggregation with merge. Input: the bundled
//! sample archive in `testdata/sample`, concatenated in memory.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use tala_bulk::extract::auditdata::AuditParser;
use tala_bulk::source::csv::{Columns, Scanner};
use tala_bulk::source::input::SliceFeed;
use tala_bulk::state::partial::{position, Partial};

/// The sample archive's files, each as bytes.
fn sample() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("testdata/sample exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).expect("sample file")).collect()
}

fn scan_all(
    files: &[Vec<u8>],
    mut each: impl FnMut(usize, Columns, &mut tala_bulk::source::csv::Record<'_>),
) {
    let mut scanner = Scanner::new();
    for (i, data) in files.iter().enumerate() {
        scanner.reset();
        let mut feed = SliceFeed::new(data);
        let header = scanner.next_record(&mut feed).expect("read").expect("header");
        let names: Vec<&[u8]> = header.fields().collect();
        let cols = Columns::from_header(&names).expect("an export");
        while let Some(mut rec) = scanner.next_record(&mut feed).expect("read") {
            each(i, cols, &mut rec);
        }
    }
}

fn stages(c: &mut Criterion) {
    let files = sample();
    let bytes: u64 = files.iter().map(|f| f.len() as u64).sum();
    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(20);

    group.bench_function("csv_scan", |b| {
        b.iter(|| {
            let mut n = 0usize;
            scan_all(&files, |_, _, rec| n += rec.len());
            n
        })
    });

    group.bench_function("csv_scan+auditdata", |b| {
        let mut parser = AuditParser::new();
        b.iter(|| {
            let mut n = 0usize;
            scan_all(&files, |_, cols, rec| {
                if let Some(json) = rec.field_mut(cols.audit_data) {
                    n += parser.with_record(json, |r| r.map_or(0, |r| r.attendees.len()));
                }
            });
            n
        })
    });

    group.bench_function("csv_scan+auditdata+aggregate+merge", |b| {
        let mut parser = AuditParser::new();
        b.iter(|| {
            // Two partial states (as two workers would build) merged into one.
            let mut parts = [Partial::default(), Partial::default()];
            scan_all(&files, |i, cols, rec| {
                let pos = position(i, rec.offset);
                if let Some(json) = rec.field_mut(cols.audit_data) {
                    let hash = xxhash_rust::xxh3::xxh3_64(json);
                    parser.with_record(json, |r| {
                        if let Ok(r) = r {
                            if r.is_meeting_detail() && r.meeting_id.is_some() {
                                parts[i % 2].add(&r, pos, hash, None);
                            }
                        }
                    });
                }
            });
            let [a, b] = parts;
            a.merge(b).records.len()
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
