//! The truncation audit (`truncation.csv`, one row per input file in archive order) and the
//! coverage report (`coverage.csv`), always written, so the admin knows which exports are
//! incomplete and which time windows to export again (SPEC 2.3).

use std::io::Write;

use anyhow::Result;

use crate::analyze::coverage::Window;
use crate::escape;
use crate::state::files::FileReport;
use crate::timestamp::{self, Ts};

pub const TRUNCATION: &str = "truncation.csv";
pub const COVERAGE: &str = "coverage.csv";

pub const TRUNCATION_HEADER: [&str; 11] = [
    "path",
    "format",
    "bytes",
    "rows",
    "meeting_records",
    "earliest",
    "latest",
    "window_start",
    "window_end",
    "status",
    "detail",
];

pub const COVERAGE_HEADER: [&str; 6] =
    ["kind", "start", "end", "duration_seconds", "file", "detail"];

fn time(t: Option<Ts>) -> String {
    t.map(timestamp::format).unwrap_or_default()
}

pub fn write_truncation(out: impl Write, files: &[FileReport], excel_safe: bool) -> Result<()> {
    let cell = |s: &str| escape::excel_cell(s, excel_safe).into_owned();
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(TRUNCATION_HEADER)?;
    for f in files {
        let mut detail = f.detail.clone();
        if f.outside_window > 0 {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(&format!(
                "{} records outside the window in the file name",
                f.outside_window
            ));
        }
        let bytes = f.disk_bytes.unwrap_or(f.csv_bytes);
        w.write_record([
            &cell(&f.name),
            f.format,
            &bytes.to_string(),
            &f.rows.to_string(),
            &f.meeting_records.to_string(),
            &time(f.earliest),
            &time(f.latest),
            &time(f.window.map(|w| w.0)),
            &time(f.window.map(|w| w.1)),
            f.status.name(),
            &cell(&detail),
        ])?;
    }
    w.flush()?;
    Ok(())
}

pub fn write_coverage(out: impl Write, windows: &[Window], excel_safe: bool) -> Result<()> {
    let cell = |s: &str| escape::excel_cell(s, excel_safe).into_owned();
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(COVERAGE_HEADER)?;
    for c in windows {
        w.write_record([
            c.kind.name(),
            &timestamp::format(c.start),
            &timestamp::format(c.end),
            &(c.end - c.start + 1).to_string(),
            &cell(&c.file),
            &c.detail,
        ])?;
    }
    w.flush()?;
    Ok(())
}

pub const ERRORS: &str = "errors.csv";

pub const ERRORS_HEADER: [&str; 4] = ["file", "row", "reason", "excerpt"];

/// errors.csv: for each file in archive order, the problem with the whole file (if it could not
/// be fully read), its first skipped rows, and a count of the rest, so an admin can find them
/// without running again.
pub fn write_errors(
    out: impl Write,
    partial: &crate::state::partial::Partial,
    excel_safe: bool,
) -> Result<()> {
    let cell = |s: &str| escape::excel_cell(s, excel_safe).into_owned();
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(ERRORS_HEADER)?;
    for file in partial.files.values() {
        let name = cell(&file.report.name);
        let errors = &file.errors;
        if let Some((reason, detail)) = &errors.whole {
            w.write_record([&name, "", reason, &cell(detail)])?;
        }
        for e in &errors.rows {
            w.write_record([&name, &e.row.to_string(), e.reason, &cell(&e.excerpt)])?;
        }
        if errors.unlisted > 0 {
            let more = format!("{} more problem rows not listed", errors.unlisted);
            w.write_record([&name, "", "more", &more])?;
        }
    }
    w.flush()?;
    Ok(())
}
