//! The report run (`tala-bulk [OPTIONS] PATH...`): the stages of a split run (SPEC 3) in one
//! process, without their files: discovery (`plan`), reading (`map`, with the workers' states
//! merged in memory) and [`finish`], which `finalize` shares: build the meetings and the
//! coverage (`analyze`), save the users database and write the reports (`report`), to `--out`
//! as one set or one of them to stdout.

use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::analyze::sites::Sites;
use crate::analyze::{breakdown, caps, coverage, meetings, users};
use crate::escape;
use crate::exit;
use crate::flags::{Config, StdoutReport, DEFAULT_ROW_CAP};
use crate::messages::Ui;
use crate::read::cache::{Counts as StateCounts, StateDir};
use crate::read::{self, file_size};
use crate::report::outdir::OutDir;
use crate::report::summary::{DropsSummary, SitesInfo, Summary};
use crate::report::{self, tables, Report};
use crate::source::discover;
use crate::state::files::FileReport;
use crate::state::partial::{self, Partial};
use crate::testhook;
use crate::Outcome;

/// Where a run's results go, taken before anything is read: everything that could stop the
/// run after reading (another run holding --out, an unwritable directory, a users database
/// that cannot be written) is found first.
pub struct Targets {
    out: Option<OutDir>,
    users: Option<users::UsersDb>,
    sites: Option<LoadedSites>,
}

/// The building file of `--sites`, loaded before anything is read, with what its loading found.
pub struct LoadedSites {
    pub sites: Sites,
    pub info: SitesInfo,
}

/// How many building-file lines are shown as warnings; the rest are counted.
const BAD_SITE_LINES_SHOWN: usize = 20;

impl LoadedSites {
    /// Reads the building file; its bad lines are warned about (file and line) and skipped.
    pub fn load(path: &std::path::Path, ui: &Ui) -> Result<LoadedSites> {
        let shown = escape::path(path);
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the building file {shown}"))?;
        let (sites, bad) = Sites::parse(&bytes);
        for line in bad.iter().take(BAD_SITE_LINES_SHOWN) {
            ui.warn(format_args!("{shown}: line {}: {}; line skipped", line.line, line.reason));
        }
        if bad.len() > BAD_SITE_LINES_SHOWN {
            ui.warn(format_args!(
                "{shown}: {} more bad lines skipped",
                bad.len() - BAD_SITE_LINES_SHOWN
            ));
        }
        if sites.is_empty() {
            ui.warn(format_args!(
                "{shown}: no usable network range; networks are the /24 or /48 around each address"
            ));
        }
        let info = SitesInfo {
            file: shown,
            ranges: sites.len() as u64,
            bad_lines: bad.len() as u64,
            overlapping_ranges: sites.overlapping() as u64,
            missing_subnets: Vec::new(),
            missing_subnets_total: 0,
        };
        Ok(LoadedSites { sites, info })
    }
}

impl Targets {
    pub fn prepare(config: &Config) -> Result<Targets> {
        let early = Ui::new(0, 0, false);
        let out = if config.stdout_report.is_some() {
            None
        } else {
            Some(OutDir::prepare(&config.out_dir, &early)?)
        };
        let users = config.users.as_deref().map(|p| users::UsersDb::load(p, &early)).transpose()?;
        let sites = config.sites.as_deref().map(|p| LoadedSites::load(p, &early)).transpose()?;
        Ok(Targets { out, users, sites })
    }
}

/// Reads the archive named by `config` and writes the reports.
pub fn run(config: Config) -> Result<Outcome> {
    let started = Instant::now();
    let targets = Targets::prepare(&config)?;
    // Directory walks leave out what this run writes.
    let mut skip: Vec<&std::path::Path> = config.users.iter().map(|p| p.as_path()).collect();
    skip.extend(config.state_dir.as_deref());
    if config.stdout_report.is_none() {
        skip.push(&config.out_dir);
    }
    let files = discover::discover(&config.inputs, &skip);
    if files.len() >= partial::MAX_FILES {
        bail!(
            "{} input files; at most {} can be read in one run",
            files.len(),
            partial::MAX_FILES - 1
        );
    }
    let sizes: Vec<u64> = files.iter().map(file_size).collect();
    let ui = Ui::new(sizes.iter().sum(), files.len() as u64, config.progress);
    let pool = pool(config.jobs)?;
    let mut timings = Timings::new(started);
    let (partial, state) = match &config.state_dir {
        None => (read::read_archive(&pool, &files, &sizes, &config, &ui), None),
        Some(dir) => {
            let state = StateDir::open(dir, Some(&config.result_options()), &ui)?;
            let (partial, counts) = state.read(&pool, &files, &sizes, &config, &ui)?;
            (partial, Some((state, counts)))
        }
    };
    ui.finish();
    timings.lap("read and merge");
    finish(&config, targets, partial, &pool, &ui, timings, state)
}

/// The worker threads of a run.
pub fn pool(jobs: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(jobs).build().context("cannot start worker threads")
}

/// From the merged state of every file to the reports: the meetings, the coverage, the users
/// database and the report set (or one report on stdout).
pub fn finish(
    config: &Config,
    targets: Targets,
    partial: Partial,
    pool: &rayon::ThreadPool,
    ui: &Ui,
    mut timings: Timings,
    state: Option<(StateDir, StateCounts)>,
) -> Result<Outcome> {
    let started = timings.started;
    let Targets { out, mut users, sites } = targets;
    let mut partial = partial;
    // Caps of the exports' own, found from every file at once; a --row-cap other than the
    // default says what the cap is.
    let inferred = match config.row_cap == DEFAULT_ROW_CAP {
        true => caps::infer(partial.files.values_mut().map(|f| &mut f.report)),
        false => Vec::new(),
    };
    let mut reports: Vec<FileReport> = partial.reports().cloned().collect();
    if !reports.iter().any(|f| f.export) {
        let names: Vec<&str> = reports.iter().map(|f| f.name.as_str()).collect();
        return Err(exit::NothingRead::new(&names, out.is_some(), &config.out_dir).into());
    }

    let coverage = coverage::analyse(&reports, config.row_cap);
    coverage.annotate(&mut reports);
    let meetings = if config.audit_only {
        meetings::Meetings::default()
    } else {
        let (filter, gap, since, until) =
            (&config.filter, config.max_gap, config.since, config.until);
        pool.install(|| meetings::build_in(&partial, filter, gap, since, until))
    };
    timings.lap("meetings");
    // Where the drops are: counted before the reports are written, or a report goes to stdout.
    let breakdowns = || {
        let sites = sites.as_ref().map(|s| &s.sites);
        let (strings, filter, zone) = (&partial.strings, &config.filter, &config.zone);
        breakdown::build(&meetings, strings, sites, filter, zone)
    };
    let drops_summary = |b: &breakdown::Breakdowns<'_>| {
        let info = sites.as_ref().map(|s| s.info.clone());
        DropsSummary::new(b, info, &config.zone)
    };
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
    // On the workers: it counts the copies of every record.
    let mut summary =
        pool.install(|| Summary::new(&partial, &meetings, &coverage, config, elapsed));
    summary.inferred_row_caps = inferred;
    // The records are done with (the meetings, the users database and the summary's counts
    // came from them): freed now, their memory serves the breakdowns and the reports, which
    // would otherwise take fresh pages from the kernel. The strings and files stay.
    drop(std::mem::take(&mut partial.records));
    drop(std::mem::take(&mut partial.unkeyed));
    drop(std::mem::take(&mut partial.loose_copies));
    // With --state: what is new since the last completed run, recorded once the reports are.
    let problems = state.as_ref().map(|_| coverage::problems(&reports, &coverage));
    if let (Some((dir, counts)), Some(now)) = (&state, &problems) {
        let before = dir.previous_problems();
        let new = now.iter().filter(|p| before.as_ref().is_none_or(|b| !b.contains(p)));
        summary.state_files = Some(counts.clone());
        summary.new_problems_since_last_run = Some(new.cloned().collect());
    }
    let record_problems = || -> Result<()> {
        if let (Some((dir, _)), Some(now)) = (&state, &problems) {
            dir.save_problems(now)?;
        }
        Ok(())
    };
    // The users database is saved before any report is written, to a file or to stdout:
    // what a run learned is never lost to a closed pipe or a full disk.
    if let Some(db) = &users {
        let added = db.save(ui)?;
        if added > 0 && !config.quiet {
            ui.say(format_args!("tala-bulk: users database: {added} new entries"));
        }
    }
    let users = users.as_ref();

    let strings = &partial.strings;
    // Every string escaped once for the CSV tables (an audit-only run interns none).
    let fields = &tables::Fields::new(strings, config.excel_safe);
    if let Some(which) = config.stdout_report {
        // The breakdowns serve networks.csv and the summary's drops line: a quiet run that
        // prints another report (`cat export.csv | tala-bulk -q -o`) needs neither.
        let wanted = which == StdoutReport::Networks || !config.quiet;
        let breakdowns = if wanted { pool.install(breakdowns) } else { Default::default() };
        summary.drops = wanted.then(|| drops_summary(&breakdowns));
        let name = pool
            .install(|| print(which, fields, users, &meetings, &breakdowns, &summary, config))
            .context("cannot write the report to standard output")?;
        record_problems()?;
        summary.clock(started.elapsed().as_secs_f64());
        if !config.quiet {
            ui.say(summary.human(&format!("{name} printed to standard output")).trim_end());
        }
        timings.print(ui);
        return Ok(Outcome { summary, unread: 0 });
    }

    // The reports at once, each staged on its own task while the tables format their batches
    // on the other workers, then the summary, so that its elapsed time counts the writing; the
    // whole set is staged before it replaces the previous one.
    let Some(out) = out else { bail!("no output directory") };
    let dir = out.staging();
    let unclocked = summary.clone();
    let inputs = report::Inputs {
        fields,
        users,
        meetings: &meetings,
        summary: &unclocked,
        files: &reports,
        windows: &coverage.windows,
        partial: &partial,
        breakdowns: None,
        page: None,
        excel_safe: config.excel_safe,
        reuse: None,
    };
    // With --state, every meeting reported and no users database (whose emails can change
    // any meeting's rows): the rows of meetings that did not change are copied from the
    // previous reports, where they are found intact (`report::reuse`).
    let windowed = config.since.is_some() || config.until.is_some();
    let reusing = !windowed && users.is_none() && !config.audit_only;
    let reuse = state.as_ref().filter(|_| reusing).map(|(dir, _)| {
        let key = report::reuse::key(&config.result_options(), &config.zone.name());
        report::reuse::Reuse::new(dir.path(), out.live(), key, &meetings)
    });
    let inputs = report::Inputs { reuse: reuse.as_ref(), ..inputs };
    let reports_of_run = Report::of_run(config.audit_only);
    let stage_all = |list: &[Report], inputs: &report::Inputs<'_>| {
        use rayon::prelude::*;
        list.par_iter()
            .map(|r| report::stage(dir, r.name(), |w| r.write(w, inputs)))
            .collect::<Result<Vec<&'static str>>>()
    };
    // The reports that do not draw on the breakdowns (the tables, the audit) are staged while
    // the breakdowns are counted. On two cores this gains nothing where every row is
    // formatted, and holds both working sets at once (+20-30 MB on the bench archive); where
    // --state copies most rows, writing them is the kernel copying into the page cache on
    // one thread, and the breakdowns take the other.
    let (first, then): (Vec<Report>, Vec<Report>) = reports_of_run
        .iter()
        .copied()
        .filter(|r| *r != Report::Summary)
        .partition(|r| !r.needs_breakdowns());
    let (breakdowns, staged) = pool.install(|| {
        rayon::join(|| (!then.is_empty()).then(breakdowns), || stage_all(&first, &inputs))
    });
    let mut staged = staged?;
    timings.lap("tables staged, drop breakdowns counted");
    let drops = breakdowns.as_ref().map(drops_summary);
    // The page is built on the task that writes it, while the other workers write the rest.
    let sites_info = drops.as_ref().and_then(|d| d.sites.clone());
    let page = |b: &breakdown::Breakdowns<'_>| {
        report::page::build(&report::page::Sources {
            summary: &unclocked,
            sites: sites_info.as_ref(),
            breakdowns: b,
            meetings: &meetings,
            strings,
            files: &reports,
            windows: &coverage.windows,
            zone: &config.zone,
        })
    };
    let inputs = report::Inputs {
        breakdowns: breakdowns.as_ref(),
        page: Some(&page as &report::PageOf<'_>),
        ..inputs
    };
    staged.extend(pool.install(|| stage_all(&then, &inputs))?);
    summary.drops = drops;
    if let (Some(counts), Some(reuse)) = (summary.state_files.as_mut(), &reuse) {
        counts.meetings_rows_reused = Some(reuse.meetings_copied());
    }
    if reports_of_run.contains(&Report::Summary) {
        summary.clock(started.elapsed().as_secs_f64());
        let inputs = report::Inputs { summary: &summary, ..inputs };
        let name = Report::Summary.name();
        staged.push(report::stage(dir, name, |w| Report::Summary.write(w, &inputs))?);
    }
    timings.lap("reports staged");
    testhook::crash_point("reports-staged");
    // The run's records and meetings are freed while the previous reports are replaced: both
    // take a few tenths of a second on the bench archive (ext4 freeing the old reports' blocks,
    // 0.26 s for attendees.csv on a file system mounted with `discard`; the allocator walking
    // a million records), and neither needs the other.
    // (Where no thread can be started, the refused closure frees them at once, before the
    // swap: `std::thread::spawn` would panic instead.)
    let freeing = std::thread::Builder::new().spawn(move || drop((partial, meetings)));
    out.commit(&staged, ui)?;
    if let Ok(thread) = freeing {
        let _ = thread.join();
    }
    record_problems()?;
    // Where this run's rows lie, for the next run. Without it the next run formats every
    // row, as a run without --state does: a warning, not a failed run.
    if let (Some(reuse), Some((dir, _))) = (reuse, &state) {
        if let Err(err) = reuse.save(dir.path()) {
            ui.warn(format_args!("{err:#}; the next run formats every report row again"));
        }
    }
    // The line on stderr counts the whole run.
    summary.clock(started.elapsed().as_secs_f64());
    timings.lap("reports swapped in");
    if !config.quiet {
        let written = format!("reports written to {}", escape::path(&config.out_dir));
        let human =
            if config.audit_only { summary.human_audit(&written) } else { summary.human(&written) };
        ui.say(human.trim_end());
    }
    timings.print(ui);
    Ok(Outcome { summary, unread: 0 })
}

/// Prints one report to stdout (tala's `-o`, `-a`, `-d`); returns what it was, for the summary.
fn print(
    which: StdoutReport,
    fields: &tables::Fields<'_>,
    users: Option<&users::UsersDb>,
    meetings: &meetings::Meetings,
    breakdowns: &breakdown::Breakdowns<'_>,
    summary: &Summary,
    config: &Config,
) -> Result<&'static str> {
    // The tables write from whichever worker is free (`tables::write_rows`): the handle, not
    // a lock held by this thread; each batch is one write of whole lines.
    let stdout = std::io::stdout();
    Ok(match which {
        StdoutReport::Organizers => {
            tables::write_organizers(stdout, fields, meetings, None)?;
            tables::ORGANIZERS
        }
        StdoutReport::Attendees => {
            tables::write_attendees(stdout, fields, users, meetings, None)?;
            tables::ATTENDEES
        }
        StdoutReport::Disconnections => {
            let lines = summary.affected_lines();
            report::readable::write(stdout.lock(), fields.strings, users, meetings, &lines)?;
            "the disconnection report"
        }
        StdoutReport::Networks => {
            report::breakdowns::write_networks(stdout.lock(), breakdowns, config.excel_safe)?;
            report::breakdowns::NETWORKS
        }
    })
}

/// Phase durations, printed when `TALA_BULK_TIMINGS` is set (for benchmarking and profiling).
pub struct Timings {
    /// When the run started: the summary's elapsed time counts from it.
    pub started: Instant,
    last: Instant,
    /// The process's CPU time (user + system, seconds) at `last`, where known.
    last_cpu: Option<f64>,
    /// Each lap's name, duration, the memory resident at its end (MB, where known) and the
    /// CPU time it used (seconds, where known): CPU over wall says how parallel it ran.
    laps: Vec<(&'static str, f64, Option<u64>, Option<f64>)>,
}

/// The CPU time (user + system, seconds) the process has used so far (getrusage).
fn cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage fills the zeroed struct it is given and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(usage.ru_utime) + secs(usage.ru_stime))
}

/// The process's resident memory in MB (Linux: /proc/self/statm), to see which phase holds
/// what when timings are printed.
fn resident_mb() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some((pages * u64::try_from(page).ok()?) >> 20)
}

impl Timings {
    pub fn new(started: Instant) -> Timings {
        // CPU time counts from the process's start, as `started` does (near enough).
        let last_cpu = Some(0.0);
        Timings { started, last: started, last_cpu, laps: Vec::new() }
    }
    pub fn lap(&mut self, what: &'static str) {
        let now = Instant::now();
        let wanted = crate::messages::timings_wanted();
        let resident = wanted.then(resident_mb).flatten();
        let cpu_now = wanted.then(cpu_seconds).flatten();
        let cpu = cpu_now.zip(self.last_cpu).map(|(now, then)| now - then);
        self.laps.push((what, (now - self.last).as_secs_f64(), resident, cpu));
        self.last = now;
        self.last_cpu = cpu_now;
    }
    pub fn print(&self, ui: &Ui) {
        if crate::messages::timings_wanted() {
            for (what, secs, resident, cpu) in &self.laps {
                let cpu = cpu.map(|c| format!(", CPU {c:.3} s")).unwrap_or_default();
                let resident =
                    resident.map(|mb| format!(" (resident {mb} MB{cpu})")).unwrap_or_default();
                ui.say(format_args!("tala-bulk: timing: {what}: {secs:.3} s{resident}"));
            }
        }
    }
}
