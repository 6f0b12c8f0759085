//! Command line: clap's declaration of every flag, and the step that turns parsed arguments into
//! the checked [`Config`] the library runs on (ripgrep's lowargs → hiargs split, in small).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Parser, Subcommand};

use crate::analyze::filter::IpFilter;
use crate::exit;
use crate::flags::config::{Config, Input, Mode, Shards, StdoutReport, DEFAULT_ROW_CAP};

const EXAMPLES: &str = "\
Examples:
  tala-bulk archive/                     reports for a whole archive into ./tala-report/
  tala-bulk --jobs 32 --out /srv/r archive/   32 worker threads, reports into /srv/r
  tala-bulk exports/*.csv.zst            compressed exports are read as they are
  cat export.csv | tala-bulk             one export from stdin
  tala-bulk --audit-only archive/        only the audit and the re-download list: fast
  cat export.csv | tala-bulk -o > organizers.csv   one report to stdout, like tala
  tala-bulk -d --cidr 10.0.0.0/8 -u users.csv x.csv   readable disconnections on 10/8
  tala-bulk --sites buildings.tsv --tz Europe/Berlin archive/
                                         drops per building (CQD building file), Berlin hours
  tala-bulk show --oneline export.csv    one line per audit record, any operation
  tala-bulk --state st --since 2024-03-04 --until 2024-03-05 archive/
                                         nightly: read only new files, report one day's meetings
  tala-bulk plan --shards 8 archive/ > plan.json   a split run's first stage (then map, merge,
                                         finalize; scripts/spark/ runs them on Spark)

Reports written to --out: organizers.csv, attendees.csv, disconnections.csv, summary.json,
truncation.csv (one row per input file), redownload.csv (the windows to export again, in
pieces that fit under the cap) with redownload.ps1 (the PowerShell that exports them),
errors.csv, networks.csv, clients.csv and timeline.csv (drops per network, client and hour),
and report.html (all of it on one page). Every time is UTC (timeline.csv's hours follow
--tz). The whole set replaces the previous one in one step.
Exit codes: 0 success; 1 reports written but some rows or files were skipped;
            2 usage error; 3 fatal error (previous reports left untouched);
            4 no audit export found in the input (nothing written).";

/// Raw flags as clap sees them.
#[derive(Parser, Debug)]
#[command(
    name = "tala-bulk",
    version,
    args_conflicts_with_subcommands = true,
    group(ArgGroup::new("stdout").args(["organizers", "attendees", "disconnections", "networks"])),
    about = "Turn archives of Microsoft 365 Teams MeetingParticipantDetail audit exports into \
             meeting, attendee and disconnection reports.",
    after_help = EXAMPLES
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Export files or directories (walked recursively): Purview CSV exports, or the
    /// Management Activity API's JSON arrays and NDJSON, plain, .gz or .zst, told apart by
    /// content. `-` or nothing reads stdin.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Directory the reports are written to (created if missing).
    #[arg(long, value_name = "DIR", default_value = "tala-report",
          conflicts_with_all = ["organizers", "attendees", "disconnections", "networks"])]
    out: PathBuf,

    /// Print organizers.csv to stdout instead of writing --out.
    #[arg(short = 'o', long = "organizers")]
    organizers: bool,

    /// Print attendees.csv to stdout instead of writing --out.
    #[arg(short = 'a', long = "attendees")]
    attendees: bool,

    /// Print the readable disconnection report to stdout instead of writing --out.
    #[arg(short = 'd', long = "disconnections")]
    disconnections: bool,

    /// Print networks.csv (drops per network) to stdout instead of writing --out.
    #[arg(long = "networks")]
    networks: bool,

    /// Keep each file's contribution in DIR between runs and read only new or changed files
    /// (the reports are the same as without it). Created if missing.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,

    /// Users database (UUID,EMAIL lines): fills attendee_email, learns new pairs, is written
    /// back when something new was learned. Created if missing.
    #[arg(short = 'u', long = "users", value_name = "FILE")]
    users: Option<PathBuf>,

    /// Worker threads [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    jobs: Option<u32>,

    #[command(flatten)]
    results: ResultArgs,

    #[command(flatten)]
    window: WindowArgs,

    /// No progress bar and no summary on stderr (warnings are still printed).
    #[arg(short, long)]
    quiet: bool,
}

/// The options that change results: every stage of a split run (plan, map, merge, finalize)
/// takes them, and a partial state made with others is refused.
#[derive(clap::Args, Debug, Clone)]
struct ResultArgs {
    /// Only connections whose client IP (without port) matches REGEX count for disconnections.
    #[arg(short = 'i', long = "ip", value_name = "REGEX")]
    ip: Option<String>,

    /// Only connections whose client IP is in NET count for disconnections (repeatable;
    /// IPv4 or IPv6, e.g. 10.57.0.0/16). With -i, a connection must pass both.
    #[arg(long, value_name = "NET")]
    cidr: Vec<String>,

    /// A reconnection counts only when the next join follows the previous leave within
    /// SECONDS (overlaps count too).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..))]
    max_gap: Option<i64>,

    /// Data rows at which an export is considered capped by the portal. With the default,
    /// caps of the exports' own are also found in the archive (README "Caps found in the
    /// archive"); another value turns that off.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ROW_CAP,
          value_parser = clap::value_parser!(u64).range(1..))]
    row_cap: u64,

    /// Fast mode for the nightly audit: write only truncation.csv, redownload.csv,
    /// redownload.ps1 and errors.csv, reading just the row count and CreationTime of each
    /// record.
    #[arg(long)]
    audit_only: bool,

    /// In the CSV reports, put a ' before text that starts with =, +, -, @, tab or CR, so a
    /// spreadsheet shows it instead of running it as a formula.
    #[arg(long)]
    excel_safe: bool,
}

/// Which meetings the meeting reports cover, and how the drops are placed (buildings, time
/// zone): a local run and finalize take them; partial states do not depend on them.
#[derive(clap::Args, Debug, Clone)]
struct WindowArgs {
    /// Call Quality Dashboard building file (headerless CSV or TSV: NetworkIP, NetworkName,
    /// NetworkRange, BuildingName, ... InsideCorp, ExpressRoute, VPN): networks.csv and the
    /// page name each client IP's building by the longest matching range.
    #[arg(long, value_name = "FILE")]
    sites: Option<PathBuf>,

    /// Time zone of timeline.csv and the page's hours: UTC (default), an offset such as
    /// +02:00, or an IANA name such as Europe/Berlin.
    #[arg(long, value_name = "ZONE", value_parser = crate::analyze::zone::Zone::parse)]
    tz: Option<crate::analyze::zone::Zone>,

    /// Report only meetings first joined at or after TIME (UTC; 2024-03-01 or
    /// 2024-03-01T06:00:00). Deduplication still sees the whole archive.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<crate::timestamp::Ts>,

    /// Report only meetings first joined before TIME (UTC, as for --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<crate::timestamp::Ts>,
}

impl WindowArgs {
    fn apply(self, config: &mut Config) -> Result<(), String> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(format!(
                    "--since {} is not before --until {}: no meeting could be reported",
                    crate::timestamp::format(since),
                    crate::timestamp::format(until)
                ));
            }
        }
        config.since = self.since;
        config.until = self.until;
        if let Some(sites) = self.sites {
            check_exists(&sites)?;
            config.sites = Some(sites);
        }
        config.zone = self.tz.unwrap_or_default();
        Ok(())
    }
}

/// A UTC time as `--since` and `--until` take it: a date (its midnight), or a date and time
/// to the minute or second, with an optional trailing `Z`.
fn parse_time(text: &str) -> Result<crate::timestamp::Ts, String> {
    let t = text.trim().replacen(' ', "T", 1);
    let t = t.trim_end_matches('Z');
    let full = match t.len() {
        10 => format!("{t}T00:00:00"),
        16 => format!("{t}:00"),
        _ => t.to_string(),
    };
    crate::timestamp::parse(full.as_bytes()).ok_or_else(|| {
        format!(
            "{text:?}: expected a UTC date or date-time such as 2024-03-01 or 2024-03-01T06:00:00"
        )
    })
}

/// `--jobs` and `--quiet`, for the stage subcommands.
#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// Worker threads [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    jobs: Option<u32>,

    /// No progress bar and no summary on stderr (warnings are still printed).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show each audit record of the input readably (any operation, streamed).
    Show {
        /// One line per record instead of one line per field.
        #[arg(long)]
        oneline: bool,
        /// Export files or directories; `-` or nothing reads stdin.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Stage 1 of a split run: list the archive's files in archive order and share them out
    /// into size-balanced shards; prints the plan as JSON on stdout.
    #[command(group(ArgGroup::new("sharding").args(["shards", "shard_bytes"])))]
    Plan {
        /// Number of shards (map tasks) [default: one per 1 GiB of input, at least 1].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        shards: Option<u32>,
        /// Input bytes per shard, e.g. 512M or 2G, instead of --shards.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        shard_bytes: Option<u64>,
        /// Record buckets: each merge task merges one bucket.
        #[arg(long, value_name = "B", default_value_t = 8,
              value_parser = clap::value_parser!(u32).range(1..=65_536))]
        buckets: u32,
        #[command(flatten)]
        results: ResultArgs,
        /// Export files or directories (walked recursively).
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Stage 2: read one shard of a plan and write its partial state into DIR; prints the
    /// partial's path.
    Map {
        /// The plan `tala-bulk plan` printed.
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        /// Which shard to read (from 0).
        #[arg(long, value_name = "I")]
        shard: usize,
        /// Directory the partial state is written to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        results: ResultArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Stage 3: merge partial states (map outputs or merges) into one, written into DIR;
    /// prints its path. With --bucket, only that bucket's records (one merge task per bucket).
    Merge {
        /// Merge only this record bucket.
        #[arg(long, value_name = "B")]
        bucket: Option<u32>,
        /// Directory the merged partial state is written to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        results: ResultArgs,
        #[command(flatten)]
        run: RunArgs,
        /// Partial-state files.
        #[arg(value_name = "PARTIAL", required = true)]
        partials: Vec<PathBuf>,
    },
    /// Stage 4: write the reports from partial states that together hold every bucket: the
    /// same reports, byte for byte, as one run over the same files.
    Finalize {
        /// Directory the reports are written to (created if missing).
        #[arg(long, value_name = "DIR", default_value = "tala-report")]
        out: PathBuf,
        /// Users database, as for a local run.
        #[arg(short = 'u', long = "users", value_name = "FILE")]
        users: Option<PathBuf>,
        #[command(flatten)]
        results: ResultArgs,
        #[command(flatten)]
        window: WindowArgs,
        #[command(flatten)]
        run: RunArgs,
        /// Partial-state files.
        #[arg(value_name = "PARTIAL", required = true)]
        partials: Vec<PathBuf>,
    },
    /// Partial-state files, for debugging.
    Partial {
        #[command(subcommand)]
        command: PartialCommand,
    },
    /// The state directory of `--state`.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// What the state directory holds: files, bytes, the last run (JSON).
    Info {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Forget the files that no longer exist and remove what no file needs any more.
    Prune {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum PartialCommand {
    /// Print a partial state as JSON lines: its header, each file, each record.
    Dump {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// A size such as 1048576, 512K, 64M or 2G (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => t.split_at(at),
        None => (t, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{text:?}: a size is a number with K, M, G or T")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?}: a size is a number"))?;
    n.checked_shl(shift)
        .filter(|v| *v > 0 && v >> shift == n)
        .ok_or_else(|| format!("{text:?}: size out of range"))
}

/// Why argument parsing did not produce a config: the process should exit with this code
/// (help and version print and exit 0; usage errors print and exit [`exit::USAGE`]).
#[derive(Debug)]
pub enum ArgsOutcome {
    Exit(u8),
}

/// Parses the process arguments; prints help, version or the usage error itself.
pub fn parse_args<I, T>(args: I) -> Result<Config, ArgsOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(err) => {
            let code = if err.use_stderr() { exit::USAGE } else { exit::SUCCESS };
            // Printing can only fail on a closed stream; there is nobody left to tell.
            let _ = err.print();
            return Err(ArgsOutcome::Exit(code));
        }
    };
    args.into_config().map_err(|msg| {
        eprintln!("tala-bulk: {msg}\n\nFor more information, try '--help'.");
        ArgsOutcome::Exit(exit::USAGE)
    })
}

impl ResultArgs {
    /// Applies these options to `config`, checking each.
    fn apply(self, config: &mut Config) -> Result<(), String> {
        let regex = match &self.ip {
            None => None,
            Some(re) => {
                Some(regex::Regex::new(re).map_err(|e| format!("invalid --ip regex {re:?}: {e}"))?)
            }
        };
        let nets = self
            .cidr
            .iter()
            .map(|n| n.parse().map_err(|e| format!("invalid --cidr {n:?}: {e}")))
            .collect::<Result<Vec<_>, String>>()?;
        config.filter = IpFilter { regex, nets };
        config.max_gap = self.max_gap;
        config.row_cap = self.row_cap;
        config.audit_only = self.audit_only;
        config.excel_safe = self.excel_safe;
        Ok(())
    }
}

impl RunArgs {
    fn apply(self, config: &mut Config) {
        config.jobs = jobs(self.jobs);
        config.quiet = self.quiet;
        config.progress = !self.quiet && std::io::stderr().is_terminal();
    }
}

fn jobs(given: Option<u32>) -> usize {
    match given {
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

impl Args {
    fn into_config(mut self) -> Result<Config, String> {
        let mode = match self.command.take() {
            Some(Command::Show { oneline, paths }) => {
                self.paths = paths;
                Mode::Show { oneline }
            }
            Some(stage) => return stage_config(stage),
            None => Mode::Reports,
        };
        let stdout_report = if self.organizers {
            Some(StdoutReport::Organizers)
        } else if self.attendees {
            Some(StdoutReport::Attendees)
        } else if self.disconnections {
            Some(StdoutReport::Disconnections)
        } else if self.networks {
            Some(StdoutReport::Networks)
        } else {
            None
        };
        if self.results.audit_only && stdout_report.is_some() {
            return Err("--audit-only cannot be used with -o, -a, -d or --networks: it writes \
                        only the audit reports, to --out"
                .into());
        }
        let stdin_count = self.paths.iter().filter(|p| p.as_os_str() == "-").count();
        if stdin_count > 1 {
            return Err("stdin ('-') can be read only once".into());
        }
        const SUBCOMMANDS: [&str; 7] =
            ["show", "plan", "map", "merge", "finalize", "partial", "state"];
        if mode == Mode::Reports {
            if let Some(sub) = self.paths.first().and_then(|p| p.to_str()) {
                if SUBCOMMANDS.contains(&sub) {
                    // `tala-bulk -q show x.csv`: clap took `show` for a PATH because an option
                    // came first. Reading a directory called show is rarer than this slip.
                    return Err(format!(
                        "'{sub}' is a subcommand and must come first: tala-bulk {sub} ... (to \
                         read a file or directory named {sub}, write ./{sub})"
                    ));
                }
            }
        }
        for path in self.paths.iter().filter(|p| p.as_os_str() != "-") {
            check_exists(path)?;
        }
        let inputs: Vec<Input> = if self.paths.is_empty() {
            check_stdin("no PATH given")?;
            vec![Input::Stdin]
        } else {
            if stdin_count > 0 {
                check_stdin("'-' given")?;
            }
            self.paths
                .into_iter()
                .map(|p| if p.as_os_str() == "-" { Input::Stdin } else { Input::Path(p) })
                .collect()
        };
        let mut config = Config::new(inputs, self.out);
        config.mode = mode;
        config.stdout_report = stdout_report;
        config.users = self.users;
        config.state_dir = self.state;
        self.results.apply(&mut config)?;
        self.window.apply(&mut config)?;
        RunArgs { jobs: self.jobs, quiet: self.quiet }.apply(&mut config);
        Ok(config)
    }
}

/// The config of a stage of a split run.
fn stage_config(command: Command) -> Result<Config, String> {
    let mut config = Config::new(Vec::new(), "tala-report");
    match command {
        Command::Show { .. } => return Err("internal error: show is not a stage".into()),
        Command::Plan { shards, shard_bytes, buckets, results, paths } => {
            for path in &paths {
                if path.as_os_str() == "-" {
                    return Err("plan lists files that map tasks read; standard input ('-') \
                                cannot be shared out"
                        .into());
                }
                check_exists(path)?;
            }
            config.inputs = paths.into_iter().map(Input::Path).collect();
            let shards = match (shards, shard_bytes) {
                (Some(n), _) => Shards::Count(n as usize),
                (None, Some(bytes)) => Shards::Bytes(bytes),
                (None, None) => Shards::Bytes(1 << 30),
            };
            config.mode = Mode::Plan { shards, buckets };
            results.apply(&mut config)?;
            config.quiet = true;
        }
        Command::Map { plan, shard, out, results, run } => {
            config.mode = Mode::Map { plan, shard };
            config.out_dir = out;
            results.apply(&mut config)?;
            run.apply(&mut config);
        }
        Command::Merge { bucket, out, results, run, partials } => {
            config.mode = Mode::Merge { bucket, partials };
            config.out_dir = out;
            results.apply(&mut config)?;
            run.apply(&mut config);
        }
        Command::Finalize { out, users, results, window, run, partials } => {
            config.mode = Mode::Finalize { partials };
            config.out_dir = out;
            config.users = users;
            results.apply(&mut config)?;
            window.apply(&mut config)?;
            run.apply(&mut config);
        }
        Command::Partial { command: PartialCommand::Dump { file } } => {
            config.mode = Mode::Dump { partial: file };
        }
        Command::State { command: StateCommand::Info { dir } } => {
            config.mode = Mode::StateInfo { dir };
        }
        Command::State { command: StateCommand::Prune { dir } } => {
            config.mode = Mode::StatePrune { dir };
        }
    }
    Ok(config)
}

/// A PATH named on the command line must exist: a typo or an unmounted share would otherwise
/// read nothing. Other problems (permission denied, a link loop) are the file's, reported in
/// the audit like any unreadable file.
fn check_exists(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let shown = crate::escape::path(path);
            if std::fs::symlink_metadata(path).is_ok() {
                Err(format!("{shown}: a symbolic link to something that does not exist"))
            } else {
                Err(format!("{shown}: no such file or directory"))
            }
        }
        _ => Ok(()),
    }
}

/// Standard input is read as an export only when it can hold one: a pipe, a file or a
/// socket. A terminal means the user forgot the PATH; /dev/null or another device means a
/// cron job's empty variable (`tala-bulk --out r $ARCHIVE`), which would otherwise read
/// nothing.
fn check_stdin(why: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(format!(
            "{why} and standard input is a terminal: name the export files or directories to \
             read, or pipe an export in"
        ));
    }
    let kind = std::os::fd::AsFd::as_fd(&stdin)
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| std::fs::File::from(fd).metadata().ok())
        .map(|m| m.file_type());
    if kind.is_some_and(|k| k.is_char_device() || k.is_block_device()) {
        return Err(format!(
            "{why} and standard input is a device such as /dev/null, not a pipe or a file: \
             name the export files or directories to read (an empty variable in a script?)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units_and_refuse_the_rest() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1TB"), Ok(1 << 40));
        for bad in ["", "0", "G", "1.5G", "12X", "-1M", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stages_take_the_result_options_and_check_them() {
        let config = |args: &[&str]| {
            Args::try_parse_from(args).map_err(|e| e.to_string()).and_then(Args::into_config)
        };
        let c = config(&["t", "merge", "--bucket", "3", "--out", "w", "--row-cap", "7", "a.tbp"]);
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.mode, Mode::Merge { bucket: Some(3), partials: vec!["a.tbp".into()] });
        assert_eq!((c.row_cap, c.out_dir), (7, PathBuf::from("w")));
        let bad = config(&["t", "finalize", "--cidr", "10.0.0.0/33", "a.tbp"]);
        assert!(bad.is_err_and(|e| e.contains("invalid --cidr")));
        let both = config(&["t", "plan", "--shards", "2", "--shard-bytes", "1G", "."]);
        assert!(both.is_err_and(|e| e.contains("cannot be used with")));
        let stdin = config(&["t", "plan", "-"]);
        assert!(stdin.is_err_and(|e| e.contains("standard input ('-') cannot be shared out")));
    }
}
