//! Read: the archive's files turned into one partial state on `--jobs` worker threads. Files
//! are shared out biggest first; with fewer files than workers, big plain files are split at
//! record boundaries so every core has work. Each worker drives one file at a time through
//! the stages (`worker`); the workers' states then merge into one. Previous stage: `source`
//! (discovery); next: `analyze`.

pub mod cache;
pub mod worker;

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::flags::Config;
use crate::messages::Ui;
use crate::source::discover::{ArchiveFile, Origin};
use crate::source::{csv as csvscan, input};
use crate::state::claims::Claims;
use crate::state::files::FileState;
use crate::state::partial::Partial;

/// Size on disk of an archive entry (0 for stdin and what cannot be read), for the progress bar
/// and for sharing out the work.
pub fn file_size(file: &ArchiveFile) -> u64 {
    match &file.origin {
        Origin::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
        _ => 0,
    }
}

/// With fewer files than workers, a plain file is split when it holds at least two parts of
/// this size; smaller parts would not repay planning them.
const MIN_PART_BYTES: u64 = 8 << 20;

/// One piece of work: a whole file, or one part of a file split at record boundaries.
enum Unit {
    File(usize),
    Part { plan: usize, part: usize },
}

/// A plain file split into parts, and the scans of the parts read so far.
struct Plan {
    index: usize,
    /// The file's content fingerprint, taken before it is read.
    content: u64,
    file: std::sync::Arc<std::fs::File>,
    disk_bytes: Option<u64>,
    bom: usize,
    cols: csvscan::Columns,
    parts: Vec<csvscan::Part>,
    /// A JSON file's kind; `None` for CSV.
    json: Option<crate::source::json::Kind>,
    scans: std::sync::Mutex<Vec<Option<worker::FileScan>>>,
}

/// Splits file `index` into parts for `jobs` workers after one pass of the CSV (or JSON) scanner;
/// `None` when it cannot be split (not a plain UTF-8 CSV file, or not an export), and it is then
/// read whole.
fn plan_file(index: usize, file: &ArchiveFile, jobs: usize) -> Option<Plan> {
    let Origin::File(path) = &file.origin else { return None };
    let opened = input::open_path(path).ok()?;
    if opened.format != input::Format::Csv || opened.encoding != input::Encoding::Utf8 {
        return None;
    }
    let (len, content) = (opened.disk_bytes?, opened.content);
    let wanted = (len / MIN_PART_BYTES).clamp(1, 2 * jobs as u64) as usize;
    let (bom, cols, parts, json) = opened.with_feed(|feed| {
        use crate::source::json;
        match feed.peek().ok().and_then(json::sniff) {
            Some(kind) => json::plan_parts(feed, len, wanted, kind)
                .map(|(bom, parts)| (bom, csvscan::Columns::single(), parts, Some(kind))),
            None => csvscan::plan_parts(feed, len, wanted).map(|(b, c, p)| (b, c, p, None)),
        }
    })?;
    let handle = std::sync::Arc::new(std::fs::File::open(path).ok()?);
    let scans = std::sync::Mutex::new(parts.iter().map(|_| None).collect());
    let disk_bytes = Some(len);
    Some(Plan { index, content, file: handle, disk_bytes, bom, cols, parts, json, scans })
}

/// Shares the files among `config.jobs` workers and merges their partial states. Workers take
/// the next file from a shared counter, much larger files first, so one big export does not
/// leave the other threads idle at the end; which worker read what never shows in the result.
/// With fewer files than workers, big plain files are split into parts at record boundaries
/// (one big export, the premium search's million-row files), so every worker has work.
pub fn read_archive(
    pool: &rayon::ThreadPool,
    files: &[ArchiveFile],
    sizes: &[u64],
    config: &Config,
    ui: &Ui,
) -> Partial {
    let mut states = read(pool, files, sizes, config, ui, false);
    match states.pop() {
        Some(partial) if states.is_empty() => partial,
        // `read` merges into one state unless asked for one per file.
        _ => Partial::default(),
    }
}

/// Reads the files like [`read_archive`], but keeps each file's state apart: element `i` is
/// what file `i` contributed, standing alone (no Id index is shared between files, so no copy
/// is counted against another file's). For a cache of one partial per file.
pub fn read_per_file(
    pool: &rayon::ThreadPool,
    files: &[ArchiveFile],
    sizes: &[u64],
    config: &Config,
    ui: &Ui,
) -> Vec<Partial> {
    read(pool, files, sizes, config, ui, true)
}

/// The most records [`expected_records`] plans for: beyond that (16 GB of exports) the tables
/// that follow take the rest, rather than reserve address space a machine may not give.
const MAX_EXPECTED_RECORDS: u64 = 1 << 24;

/// About how many records the archive holds, from its files' sizes: an exported row takes
/// about a kilobyte (1,156 bytes in the bench archive), and a compressed export about a tenth
/// of what it holds. An input whose size is unknown (standard input, a named pipe such as
/// `<(zstd -dc export.csv.zst)`) counts as one export of `row_cap` rows, the most an export
/// holds. Only sizes tables.
fn expected_records(files: &[ArchiveFile], sizes: &[u64], row_cap: u64) -> usize {
    let rows: u64 = files
        .iter()
        .zip(sizes)
        .map(|(file, &size)| {
            if size == 0 && size_unknown(file) {
                return row_cap;
            }
            let name = file.name.to_ascii_lowercase();
            let compressed = [".gz", ".zst", ".zstd"].iter().any(|ext| name.ends_with(ext));
            if compressed {
                size.saturating_mul(10) / 1024
            } else {
                size / 1024
            }
        })
        .fold(0, u64::saturating_add);
    rows.min(MAX_EXPECTED_RECORDS) as usize
}

/// Whether an input's size says nothing of what it holds: standard input, or a path that is
/// not a regular file (a pipe). Asked only of inputs whose size read as 0.
fn size_unknown(file: &ArchiveFile) -> bool {
    match &file.origin {
        Origin::Stdin => true,
        Origin::File(path) => std::fs::metadata(path).is_ok_and(|m| !m.is_file()),
        Origin::Broken(_) => false,
    }
}

/// The reading of [`read_archive`] and [`read_per_file`]: one merged state, or one per file.
fn read(
    pool: &rayon::ThreadPool,
    files: &[ArchiveFile],
    sizes: &[u64],
    config: &Config,
    ui: &Ui,
    per_file: bool,
) -> Vec<Partial> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    // Largest first by size class (powers of two), archive order within a class: files of
    // similar size (most archives) are read in archive order, so the first copy of an Id is
    // usually read first and later copies need not be stored (see `Claims`).
    order.sort_by_key(|&i| (std::cmp::Reverse(sizes[i].checked_ilog2()), i));
    let split = files.len() < config.jobs;
    let mut plans: Vec<Plan> = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    for &i in &order {
        let plan = (split && sizes[i] >= 2 * MIN_PART_BYTES)
            .then(|| plan_file(i, &files[i], config.jobs))
            .flatten();
        match plan {
            Some(plan) => {
                units.extend(
                    (0..plan.parts.len()).map(|part| Unit::Part { plan: plans.len(), part }),
                );
                plans.push(plan);
            }
            None => units.push(Unit::File(i)),
        }
    }
    // The shared Id index, used when two workers or more have something to read, is sized
    // before the reading starts for every record the archive's bytes suggest: its tables
    // never grow (see `claims`), and Ids beyond the first table's room go on to a bigger
    // one, so a low estimate costs longer probes, not a wrong count. A lone input (standard
    // input, one file not split) needs no index: one worker's own records fold its copies.
    // (Each worker's records are not sized: with a copy of the bench archive, records sized
    // from the estimate held 100 MB more at the peak.)
    let shared_claims =
        !per_file && !config.audit_only && pool.current_num_threads() > 1 && units.len() > 1;
    let expected = if shared_claims { expected_records(files, sizes, config.row_cap) } else { 0 };
    let claims = Claims::with_capacity(expected);
    let next = AtomicUsize::new(0);
    let gathered: Vec<Vec<(usize, Partial)>> = pool.broadcast(|_| {
        // With fewer files than workers (`split`), some cores would idle: compressed files,
        // which cannot be split, get their decompression a thread of its own.
        // One worker stores every copy in its own state, which folds them as they come:
        // the shared index would only cost a second lookup per record (8% of a one-worker run).
        let shared = shared_claims.then_some(&claims);
        let mut worker = worker::Worker::new(ui, shared, config.row_cap, config.audit_only, split);
        let mut apart = Vec::new();
        while let Some(unit) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
            let index = match *unit {
                Unit::File(i) => {
                    worker.process(i, &files[i]);
                    i
                }
                Unit::Part { plan, part } => {
                    let plan = &plans[plan];
                    let file = &files[plan.index];
                    let range = &plan.parts[part];
                    let bom = plan.bom as u64;
                    let reader = input::RangeReader::new(
                        plan.file.clone(),
                        bom + range.start,
                        bom + range.end,
                    );
                    let json = plan.json.map(|kind| (kind, part + 1 == plan.parts.len()));
                    let scan =
                        worker.process_part(plan.index, file, reader, plan.cols, range, json);
                    let mut scans =
                        plan.scans.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    scans[part] = Some(scan);
                    plan.index
                }
            };
            if per_file {
                apart.push((index, std::mem::take(&mut worker.partial)));
            }
        }
        if !per_file {
            apart.push((0, worker.partial));
        }
        apart
    });
    // Not needed by the merge, which needs the memory.
    drop(claims);
    let slots = if per_file { files.len() } else { 1 };
    let mut grouped: Vec<Vec<Partial>> = (0..slots).map(|_| Vec::new()).collect();
    for (index, partial) in gathered.into_iter().flatten() {
        if let Some(group) = grouped.get_mut(index) {
            group.push(partial);
        }
    }
    // The merge also folds the copies counted against the shared Id index into their records.
    let mut states: Vec<Partial> = pool.install(|| {
        use rayon::prelude::*;
        grouped
            .into_par_iter()
            .map(|group| group.into_par_iter().reduce(Partial::default, Partial::merge))
            .collect()
    });
    for plan in plans {
        let scans = plan.scans.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let scan = worker::FileScan::combine(scans.into_iter().flatten());
        ui.advance(plan.disk_bytes.unwrap_or(0).saturating_sub(scan.csv_bytes));
        let report = worker::new_report(plan.index, &files[plan.index]);
        let format = input::Format::Csv.name();
        let done = worker::finish_file(ui, config.row_cap, report, format, plan.disk_bytes, scan);
        let path = files[plan.index].key.clone();
        let slot = if per_file { plan.index } else { 0 };
        if let Some(state) = states.get_mut(slot) {
            state.add_file(FileState { content: plan.content, path, ..done });
        }
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &std::path::Path) -> ArchiveFile {
        ArchiveFile::new(path.display().to_string(), Origin::File(path.to_path_buf()))
    }

    #[test]
    fn inputs_of_unknown_size_count_as_one_capped_export_each() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, packed, empty, pipe) = (
            dir.path().join("a.csv"),
            dir.path().join("b.csv.zst"),
            dir.path().join("c.csv"),
            dir.path().join("d.csv"),
        );
        for path in [&plain, &packed, &empty] {
            std::fs::write(path, b"").unwrap();
        }
        let made = std::process::Command::new("mkfifo").arg(&pipe).status().unwrap();
        assert!(made.success());
        let stdin = ArchiveFile::new("-".into(), Origin::Stdin);
        let broken = ArchiveFile::new("gone".into(), Origin::Broken("dangling link".into()));
        // Sizes as `file_size` gives them: a pipe's, standard input's and a broken file's are 0.
        let files = [file(&plain), file(&packed), file(&empty), file(&pipe), stdin, broken];
        let sizes = [2_048_000, 102_400, 0, 0, 0, 0];
        // 2,000 rows, 1,000 packed ten to one, none in the empty file and nothing known of
        // the broken one; the pipe and standard input hold up to the cap each.
        assert_eq!(expected_records(&files, &sizes, 50_000), 2_000 + 1_000 + 2 * 50_000);
        assert_eq!(expected_records(&files, &sizes, 300), 2_000 + 1_000 + 2 * 300);
    }
}
