//! Per-stage throughput (criterion, `Throughput::Bytes` of the input), so a regression shows
//! which stage moved: CSV record scan, AuditData extraction, aggregation with merge, meetings,
//! and the three meeting reports formatted (into a sink, so no disk is measured). Each stage
//! runs on one thread.
//!
//! Input: two exports of 20,000 rows made by `scripts/gen_archive.py` (once, under
//! `target/bench-data/`), shaped like the benchmark archive: the bundled sample's few meetings
//! and short records made the aggregation look about twice as fast as it is on real exports.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use tala_bulk::analyze::meetings::{self, AllConnections};
use tala_bulk::extract::auditdata::AuditParser;
use tala_bulk::report::tables;
use tala_bulk::source::csv::{Columns, Scanner};
use tala_bulk::source::input::{Feed, SliceFeed, StreamFeed};
use tala_bulk::state::partial::{position, Partial};

/// The generated exports, each as bytes (made the first time, with python3).
fn exports() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-data/gen-2x20000");
    if !dir.exists() {
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        let status = std::process::Command::new("python3")
            .arg(root.join("scripts/gen_archive.py"))
            .args(["--files", "2", "--row-cap", "20000", "--seed", "7", "--out"])
            .arg(&tmp)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("python3 runs scripts/gen_archive.py");
        assert!(status.success(), "scripts/gen_archive.py failed");
        std::fs::rename(&tmp, &dir).expect("rename the generated exports");
    }
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("generated exports")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).expect("generated export")).collect()
}

/// The exports aggregated into two partial states (as two workers would build them), merged.
fn aggregate(files: &[Vec<u8>], parser: &mut AuditParser) -> Partial {
    let mut parts = [Partial::default(), Partial::default()];
    scan_all(files, |i, cols, rec| {
        let pos = position(i, rec.offset);
        if let Some(json) = rec.field_mut(cols.audit_data) {
            let hash = xxhash_rust::xxh3::xxh3_64(json);
            parser.with_record(json, |r| {
                if let Ok(r) = r {
                    if r.is_meeting_detail() && r.meeting_id.is_some() {
                        parts[i % 2].add(r, pos, hash, None);
                    }
                }
            });
        }
    });
    let [a, b] = parts;
    a.merge(b)
}

fn scan_all(
    files: &[Vec<u8>],
    each: impl FnMut(usize, Columns, &mut tala_bulk::source::csv::Record<'_>),
) {
    scan_each(files, false, each);
}

/// Every record of every file, read from the bytes in memory, or (`windows`) as a run reads a
/// file: copied into a 1 MiB window at a time, as `read` copies it out of the page cache,
/// into one window kept from file to file, as a worker keeps its own.
fn scan_each(
    files: &[Vec<u8>],
    windows: bool,
    mut each: impl FnMut(usize, Columns, &mut tala_bulk::source::csv::Record<'_>),
) {
    let mut scanner = Scanner::new();
    let mut window = Vec::new();
    for (i, data) in files.iter().enumerate() {
        scanner.reset();
        if windows {
            let reader = std::io::Cursor::new(data.as_slice());
            let mut feed = StreamFeed::with_buffer(reader, std::mem::take(&mut window));
            scan_file(&mut scanner, &mut feed, |cols, rec| each(i, cols, rec));
            window = feed.into_buffer();
        } else {
            scan_file(&mut scanner, &mut SliceFeed::new(data), |cols, rec| each(i, cols, rec));
        }
    }
}

/// Every record of one file.
fn scan_file(
    scanner: &mut Scanner,
    feed: &mut dyn Feed,
    mut each: impl FnMut(Columns, &mut tala_bulk::source::csv::Record<'_>),
) {
    let header = scanner.next_record(feed).expect("read").expect("header");
    let names: Vec<&[u8]> = header.fields().collect();
    let cols = Columns::from_header(&names).expect("an export");
    while let Some(mut rec) = scanner.next_record(feed).expect("read") {
        each(cols, &mut rec);
    }
}

fn stages(c: &mut Criterion) {
    let files = exports();
    let bytes: u64 = files.iter().map(|f| f.len() as u64).sum();
    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);

    group.bench_function("csv_scan", |b| {
        b.iter(|| {
            let mut n = 0usize;
            scan_all(&files, |_, _, rec| n += rec.len());
            n
        })
    });
    // The scan as a run makes it, through windows just filled by a copy. The two can differ:
    // a prefetch ahead of the scan sped up the first by a third and a run not at all
    // (2026-12-02, BENCHMARKS.md).
    group.bench_function("csv_scan_windowed", |b| {
        b.iter(|| {
            let mut n = 0usize;
            scan_each(&files, true, |_, _, rec| n += rec.len());
            n
        })
    });

    // AuditData as a run reads it (learned layouts first, simd-json for the rest), and by
    // simd-json alone, to see what the layouts save.
    for (name, new_parser) in [
        ("csv_scan+auditdata", AuditParser::new as fn() -> AuditParser),
        ("csv_scan+auditdata_simd_json_only", AuditParser::simd_json_only),
    ] {
        group.bench_function(name, |b| {
            let mut parser = new_parser();
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
    }

    group.bench_function("csv_scan+auditdata+aggregate+merge", |b| {
        let mut parser = AuditParser::new();
        b.iter(|| aggregate(&files, &mut parser).records.len())
    });

    // The later stages on the merged state, per byte of the same input.
    let partial = aggregate(&files, &mut AuditParser::new());
    group.bench_function("meetings", |b| {
        b.iter(|| meetings::build(&partial, &AllConnections, None).list.len())
    });
    let built = meetings::build(&partial, &AllConnections, None);
    group.bench_function("meeting_reports", |b| {
        b.iter(|| {
            let fields = tables::Fields::new(&partial.strings, false);
            let sink = std::io::sink;
            tables::write_organizers(sink(), &fields, &built, None).expect("sink");
            tables::write_attendees(sink(), &fields, None, &built, None).expect("sink");
            tables::write_disconnections(sink(), &fields, None, &built, None).expect("sink");
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
