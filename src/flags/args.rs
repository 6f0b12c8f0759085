//! Command line: clap's declaration of every flag, and the step that turns parsed arguments into
//! the checked [`Config`] the library runs on (ripgrep's lowargs → hiargs split, in small).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Parser, Subcommand};

use crate::analyze::filter::IpFilter;
use crate::exit;
use crate::flags::config::{Config, Input, Mode, StdoutReport, DEFAULT_ROW_CAP};

const EXAMPLES: &str = "\
Examples:
  tala-bulk archive/                     reports for a whole archive into ./tala-report/
  tala-bulk --jobs 32 --out /srv/r archive/   32 worker threads, reports into /srv/r
  tala-bulk exports/*.csv.zst            compressed exports are read as they are
  cat export.csv | tala-bulk             one export from stdin
  tala-bulk --audit-only archive/        only truncation.csv, coverage.csv, errors.csv: fast
  cat export.csv | tala-bulk -o > organizers.csv   one report to stdout, like tala
  tala-bulk -d --cidr 10.0.0.0/8 -u users.csv x.csv   readable disconnections on 10/8
  tala-bulk show --oneline export.csv    one line per audit record, any operation

Reports written to --out: organizers.csv, attendees.csv, disconnections.csv, summary.json,
truncation.csv (one row per input file), coverage.csv (gaps, capped-only windows, re-export
pieces) and errors.csv. The whole set replaces the previous one in one step.
Exit codes: 0 success; 1 reports written but some rows or files were skipped;
            2 usage error; 3 fatal error (previous reports left untouched);
            4 no audit export found in the input (nothing written).";

/// Raw flags as clap sees them.
#[derive(Parser, Debug)]
#[command(
    name = "tala-bulk",
    version,
    args_conflicts_with_subcommands = true,
    group(ArgGroup::new("stdout").args(["organizers", "attendees", "disconnections"])),
    about = "Turn archives of Microsoft 365 Teams MeetingParticipantDetail audit exports into \
             meeting, attendee and disconnection reports.",
    after_help = EXAMPLES
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Export files or directories (walked recursively). `-` or nothing reads stdin.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Directory the reports are written to (created if missing).
    #[arg(long, value_name = "DIR", default_value = "tala-report",
          conflicts_with_all = ["organizers", "attendees", "disconnections"])]
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

    /// Users database (UUID,EMAIL lines): fills attendee_email, learns new pairs, is written
    /// back when something new was learned. Created if missing.
    #[arg(short = 'u', long = "users", value_name = "FILE")]
    users: Option<PathBuf>,

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

    /// Worker threads [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    jobs: Option<u32>,

    /// Data rows at which an export is considered capped by the portal.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ROW_CAP,
          value_parser = clap::value_parser!(u64).range(1..))]
    row_cap: u64,

    /// Fast mode for the nightly audit: write only truncation.csv and coverage.csv, reading
    /// just the row count and CreationTime of each record.
    #[arg(long, conflicts_with_all = ["organizers", "attendees", "disconnections"])]
    audit_only: bool,

    /// In the CSV reports, put a ' before text that starts with =, +, -, @, tab or CR, so a
    /// spreadsheet shows it instead of running it as a formula.
    #[arg(long)]
    excel_safe: bool,

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

impl Args {
    fn into_config(mut self) -> Result<Config, String> {
        let mode = match self.command.take() {
            Some(Command::Show { oneline, paths }) => {
                self.paths = paths;
                Mode::Show { oneline }
            }
            None => Mode::Reports,
        };
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
        let stdout_report = if self.organizers {
            Some(StdoutReport::Organizers)
        } else if self.attendees {
            Some(StdoutReport::Attendees)
        } else if self.disconnections {
            Some(StdoutReport::Disconnections)
        } else {
            None
        };
        let stdin_count = self.paths.iter().filter(|p| p.as_os_str() == "-").count();
        if stdin_count > 1 {
            return Err("stdin ('-') can be read only once".into());
        }
        if mode == Mode::Reports && self.paths.first().is_some_and(|p| p.as_os_str() == "show") {
            // `tala-bulk -q show x.csv`: clap took `show` for a PATH because an option came
            // first. Reading a directory called show is rarer than this slip.
            return Err("'show' is a subcommand and must come first: tala-bulk show [--oneline] \
                        PATH... (to read a file or directory named show, write ./show)"
                .into());
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
        let jobs = match self.jobs {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Config {
            inputs,
            out_dir: self.out,
            jobs,
            row_cap: self.row_cap,
            audit_only: self.audit_only,
            mode,
            stdout_report,
            users: self.users,
            filter: IpFilter { regex, nets },
            max_gap: self.max_gap,
            excel_safe: self.excel_safe,
            quiet: self.quiet,
            progress: !self.quiet && std::io::stderr().is_terminal(),
        })
    }
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
