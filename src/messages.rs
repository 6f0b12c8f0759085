//! Messages: the one place that writes to stderr while a run is going. Warnings are printed
//! above the progress bar (indicatif's `suspend`), never through it; row-level warnings are
//! limited to the first few, since the summary counts them all.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// With `TALA_BULK_TIMINGS` set, prints `tala-bulk: timing: LINE` (for benchmarking and
/// profiling): how long a phase or a step of one took.
pub fn timing(line: impl Display) {
    if timings_wanted() {
        eprintln!("tala-bulk: timing: {line}");
    }
}

/// Whether `TALA_BULK_TIMINGS` asks for timing lines.
pub fn timings_wanted() -> bool {
    std::env::var_os("TALA_BULK_TIMINGS").is_some()
}

/// Row warnings printed before the rest are only counted.
pub const ROW_WARNINGS_SHOWN: u64 = 10;

pub struct Ui {
    bar: ProgressBar,
    files: u64,
    files_done: AtomicU64,
    row_warnings: AtomicU64,
}

impl Ui {
    /// `draw` is false under `--quiet` or when stderr is not a terminal.
    pub fn new(total_bytes: u64, files: u64, draw: bool) -> Ui {
        let bar = if draw {
            let bar =
                ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        let ui = Ui { bar, files, files_done: AtomicU64::new(0), row_warnings: AtomicU64::new(0) };
        ui.bar.set_message(format!("files 0/{files}"));
        ui
    }

    /// Prints one line on stderr, above the progress bar.
    pub fn say(&self, line: impl Display) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    pub fn warn(&self, what: impl Display) {
        self.say(format_args!("tala-bulk: warning: {what}"));
    }

    /// A problem with one row: shown for the first few, counted always (by the caller).
    /// A warning about one record of a file: `unit` is what the file calls its records (a
    /// CSV `row`, a JSON `record`, an NDJSON `line`).
    pub fn row_warning(&self, file: &str, unit: &str, row: u64, what: impl Display) {
        let n = self.row_warnings.fetch_add(1, Ordering::Relaxed);
        if n < ROW_WARNINGS_SHOWN {
            self.warn(format_args!("{file}: {unit} {row}: {what}"));
        }
    }

    /// Row warnings raised in all (shown or not).
    pub fn row_warnings(&self) -> u64 {
        self.row_warnings.load(Ordering::Relaxed)
    }

    pub fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    pub fn file_done(&self) {
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_message(format!("files {done}/{}", self.files));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
