//! tala-bulk: Microsoft 365 Teams `MeetingParticipantDetail` audit exports in, tala's meeting,
//! attendee and disconnection reports out, for archives of thousands of files.
//!
//! The pipeline runs one way, one module per stage:
//! discover → input → csvscan → audit → aggregate → meetings → report.
//! [`run`] wires them: files are shared among worker threads, each building a partial state;
//! the partial states merge (commutatively) into one, which becomes the reports.

pub mod aggregate; // per-worker partial state, dedup by record Id, commutative merge
pub mod audit; // AuditData JSON → typed borrowed record (simd-json tape)
pub mod cli; // clap flags → Config
pub mod config; // the checked configuration
pub mod coverage; // gaps, capped-only windows and re-export pieces from file spans
pub mod csvscan; // csv-core records, header → columns, BOM, cut detection
pub mod discover; // walk PATHs, archive order
pub mod escape; // untrusted text and file names made safe to print
pub mod exit; // exit codes
pub mod filter; // -i / --cidr: which connections the disconnection rule sees
pub mod input; // file, zstd, gzip and UTF-16 readers behind one Feed
pub mod intern; // string interning for compact state
pub mod lock; // lock files: one run per output directory, one writer per users database
pub mod meetings; // merged records → meetings, connections, disconnection groups
pub mod messages; // stderr: warnings above the progress bar
pub mod peek; // --audit-only's one-pass reader of Operation and CreationTime
pub mod report; // atomic report writers, summary
pub mod show; // `show`: records printed readably, streamed
pub mod testhook; // TALA_BULK_CRASH_AT: stop a run at a named step, for crash tests
pub mod timestamp; // AuditData times as integers
pub mod users; // -u: the UUID → email database
pub mod worker; // one file through the stages into a partial state

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};

pub use config::{Config, Input, Mode, StdoutReport};
pub use report::summary::Summary;

use aggregate::Partial;
use discover::{ArchiveFile, Origin};
use messages::Ui;
use report::audit as report_audit;
use report::outdir::OutDir;
use report::tables;

/// What a completed run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Summary,
    /// Inputs `show` could not read (the report runs count theirs in the summary).
    pub unread: u64,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        if self.summary.input_problems() + self.unread > 0 {
            exit::INPUT_PROBLEMS
        } else {
            exit::SUCCESS
        }
    }
}

/// Reads the archive named by `config` and writes the reports.
pub fn run(config: Config) -> Result<Outcome> {
    let started = Instant::now();
    if let Mode::Show { oneline } = config.mode {
        let unread = show::run(&config, oneline)?;
        return Ok(Outcome { unread, ..Outcome::default() });
    }
    let to_stdout = config.stdout_report.is_some();
    // Everything that could stop the run after reading is checked before it: the output
    // directory (held by another run? writable? replaceable?) and the users database.
    let early = Ui::new(0, 0, false);
    let out = if to_stdout { None } else { Some(OutDir::prepare(&config.out_dir, &early)?) };
    let mut users = config.users.as_deref().map(|p| users::UsersDb::load(p, &early)).transpose()?;
    // Directory walks leave out what this run writes.
    let mut skip: Vec<&std::path::Path> = config.users.iter().map(|p| p.as_path()).collect();
    if !to_stdout {
        skip.push(&config.out_dir);
    }
    let files = discover::discover(&config.inputs, &skip);
    if files.len() >= aggregate::MAX_FILES {
        bail!(
            "{} input files; at most {} can be read in one run",
            files.len(),
            aggregate::MAX_FILES - 1
        );
    }
    let sizes: Vec<u64> = files.iter().map(file_size).collect();
    let ui = Ui::new(sizes.iter().sum(), files.len() as u64, config.progress);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs)
        .build()
        .context("cannot start worker threads")?;
    let mut timings = Timings::new(started);
    let partial = read_archive(&pool, &files, &sizes, &config, &ui);
    ui.finish();
    timings.lap("read and merge");
    if !partial.files.iter().any(|f| f.export) {
        return Err(exit::NothingRead::new(&partial.files, out.is_some(), &config.out_dir).into());
    }

    let windows = coverage::analyse(&partial.files, config.row_cap);
    let meetings = if config.audit_only {
        meetings::Meetings::default()
    } else {
        pool.install(|| meetings::build(&partial, &config.filter, config.max_gap))
    };
    timings.lap("meetings");
    let unmatched = !config.filter.is_empty() && meetings.connections_matching() == 0;
    if unmatched && meetings.connections() > 0 {
        ui.warn(format_args!(
            "the IP filter (-i/--cidr) matched none of the {} connections, so no disconnection \
             can be found; audit records mostly carry public client addresses, so a private \
             range may match nothing",
            meetings.connections()
        ));
    }
    if let Some(db) = users.as_mut() {
        db.learn(&partial);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let summary = Summary::new(&partial, &meetings, &windows, &config, elapsed);
    // The users database is saved before any report is written, to a file or to stdout:
    // what a run learned is never lost to a closed pipe or a full disk.
    if let Some(db) = &users {
        let added = db.save(&ui)?;
        if added > 0 && !config.quiet {
            ui.say(format_args!("tala-bulk: users database: {added} new entries"));
        }
    }
    let users = users.as_ref();

    let strings = &partial.strings;
    // Every string escaped once for the CSV tables (an audit-only run interns none).
    let fields = &tables::Fields::new(strings, config.excel_safe);
    if let Some(which) = config.stdout_report {
        let name = pool.install(|| -> Result<&str> {
            let stdout = std::io::stdout().lock();
            Ok(match which {
                StdoutReport::Organizers => {
                    tables::write_organizers(stdout, fields, &meetings)?;
                    tables::ORGANIZERS
                }
                StdoutReport::Attendees => {
                    tables::write_attendees(stdout, fields, users, &meetings)?;
                    tables::ATTENDEES
                }
                StdoutReport::Disconnections => {
                    let lines = summary.affected_lines();
                    report::readable::write(stdout, strings, users, &meetings, &lines)?;
                    "the disconnection report"
                }
            })
        });
        let name = name.context("cannot write the report to standard output")?;
        if !config.quiet {
            ui.say(summary.human(&format!("{name} printed to standard output")).trim_end());
        }
        timings.print(&ui);
        return Ok(Outcome { summary, unread: 0 });
    }

    // Each writer formats in parallel on the pool; the whole set is staged before it replaces
    // the previous one.
    let Some(out) = out else { bail!("no output directory") };
    let dir = out.staging();
    let staged = pool.install(|| -> Result<Vec<&'static str>> {
        let mut staged = Vec::new();
        if !config.audit_only {
            // The three tables at once: each writes its formatted batches on one thread, and
            // meanwhile the others' formatting keeps the remaining workers busy.
            let (organizers, (attendees, disconnections)) = rayon::join(
                || {
                    report::stage(dir, tables::ORGANIZERS, |w| {
                        tables::write_organizers(w, fields, &meetings)
                    })
                },
                || {
                    rayon::join(
                        || {
                            report::stage(dir, tables::ATTENDEES, |w| {
                                tables::write_attendees(w, fields, users, &meetings)
                            })
                        },
                        || {
                            report::stage(dir, tables::DISCONNECTIONS, |w| {
                                tables::write_disconnections(w, fields, users, &meetings)
                            })
                        },
                    )
                },
            );
            staged.extend([organizers?, attendees?, disconnections?]);
            staged.push(report::stage(dir, report::summary::SUMMARY, |w| {
                serde_json::to_writer_pretty(&mut *w, &summary)?;
                std::io::Write::write_all(w, b"\n")?;
                Ok(())
            })?);
        }
        let excel_safe = config.excel_safe;
        staged.push(report::stage(dir, report_audit::TRUNCATION, |w| {
            report_audit::write_truncation(w, &partial.files, excel_safe)
        })?);
        staged.push(report::stage(dir, report_audit::COVERAGE, |w| {
            report_audit::write_coverage(w, &windows, excel_safe)
        })?);
        staged.push(report::stage(dir, report_audit::ERRORS, |w| {
            report_audit::write_errors(w, &partial, excel_safe)
        })?);
        Ok(staged)
    })?;
    testhook::crash_point("reports-staged");
    out.commit(&staged, &ui)?;
    timings.lap("write reports");
    if !config.quiet {
        let written = format!("reports written to {}", escape::path(&config.out_dir));
        let human =
            if config.audit_only { summary.human_audit(&written) } else { summary.human(&written) };
        ui.say(human.trim_end());
    }
    timings.print(&ui);
    Ok(Outcome { summary, unread: 0 })
}

/// Phase durations, printed when `TALA_BULK_TIMINGS` is set (for benchmarking and profiling).
struct Timings {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Timings {
    fn new(started: Instant) -> Timings {
        Timings { last: started, laps: Vec::new() }
    }
    fn lap(&mut self, what: &'static str) {
        let now = Instant::now();
        self.laps.push((what, (now - self.last).as_secs_f64()));
        self.last = now;
    }
    fn print(&self, ui: &Ui) {
        if std::env::var_os("TALA_BULK_TIMINGS").is_some() {
            for (what, secs) in &self.laps {
                ui.say(format_args!("tala-bulk: timing: {what}: {secs:.3} s"));
            }
        }
    }
}

fn file_size(file: &ArchiveFile) -> u64 {
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
    file: std::sync::Arc<std::fs::File>,
    disk_bytes: Option<u64>,
    bom: usize,
    cols: csvscan::Columns,
    parts: Vec<csvscan::Part>,
    scans: std::sync::Mutex<Vec<Option<worker::FileScan>>>,
}

/// Splits file `index` into parts for `jobs` workers after one pass of the CSV scanner over it;
/// `None` when it cannot be split (not a plain UTF-8 file, or not an export), and it is then
/// read whole.
fn plan_file(index: usize, file: &ArchiveFile, jobs: usize) -> Option<Plan> {
    let Origin::File(path) = &file.origin else { return None };
    let opened = input::open_path(path).ok()?;
    if opened.format != input::Format::Csv || opened.encoding != input::Encoding::Utf8 {
        return None;
    }
    let len = opened.disk_bytes?;
    let wanted = (len / MIN_PART_BYTES).clamp(1, 2 * jobs as u64) as usize;
    let (bom, cols, parts) = opened.with_feed(|feed| csvscan::plan_parts(feed, len, wanted))?;
    let handle = std::sync::Arc::new(std::fs::File::open(path).ok()?);
    let scans = std::sync::Mutex::new(parts.iter().map(|_| None).collect());
    Some(Plan { index, file: handle, disk_bytes: Some(len), bom, cols, parts, scans })
}

/// Shares the files among `config.jobs` workers and merges their partial states. Workers take
/// the next file from a shared counter, much larger files first, so one big export does not
/// leave the other threads idle at the end; which worker read what never shows in the result.
/// With fewer files than workers, big plain files are split into parts at record boundaries
/// (one big export, the premium search's million-row files), so every worker has work.
fn read_archive(
    pool: &rayon::ThreadPool,
    files: &[ArchiveFile],
    sizes: &[u64],
    config: &Config,
    ui: &Ui,
) -> Partial {
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
    let claims = aggregate::Claims::default();
    let next = AtomicUsize::new(0);
    let partials: Vec<Partial> = pool.broadcast(|_| {
        // With fewer files than workers (`split`), some cores would idle: compressed files,
        // which cannot be split, get their decompression a thread of its own.
        let mut worker = worker::Worker::new(ui, &claims, config.row_cap, config.audit_only, split);
        while let Some(unit) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
            match *unit {
                Unit::File(i) => worker.process(i, &files[i]),
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
                    let scan = worker.process_part(plan.index, file, reader, plan.cols, range);
                    let mut scans =
                        plan.scans.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    scans[part] = Some(scan);
                }
            }
        }
        worker.partial
    });
    // Not needed by the merge, which needs the memory.
    drop(claims);
    let mut partial = pool.install(|| {
        use rayon::prelude::*;
        partials.into_par_iter().reduce(Partial::default, Partial::merge)
    });
    for plan in plans {
        let scans = plan.scans.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let scan = worker::FileScan::combine(scans.into_iter().flatten());
        ui.advance(plan.disk_bytes.unwrap_or(0).saturating_sub(scan.csv_bytes));
        let report = worker::new_report(plan.index, &files[plan.index]);
        let format = input::Format::Csv.name();
        worker::finish_file(
            &mut partial,
            ui,
            config.row_cap,
            report,
            format,
            plan.disk_bytes,
            scan,
        );
    }
    partial.finish();
    partial
}
