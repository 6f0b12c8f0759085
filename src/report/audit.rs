//! The truncation audit (`truncation.csv`, one row per input file in archive order) and the
//! windows to export again (`redownload.csv`, and `redownload.ps1` to export them), always
//! written, so the admin knows which exports are incomplete and what to download again
//! (SPEC 2.3). Every time in them is UTC, and the column names say so where SPEC leaves the
//! names to us.

use std::io::Write;

use anyhow::Result;

use crate::analyze::coverage::Window;
use crate::escape;
use crate::state::files::FileReport;
use crate::timestamp::{self, Ts};

pub const TRUNCATION: &str = "truncation.csv";
pub const REDOWNLOAD: &str = "redownload.csv";
pub const REDOWNLOAD_SCRIPT: &str = "redownload.ps1";

/// Reports earlier versions wrote that this one does not: not carried into a new report set,
/// where they would stay behind, stale, beside the reports that replace them.
pub const RETIRED: [&str; 1] = ["coverage.csv"];

pub const TRUNCATION_HEADER: [&str; 11] = [
    "path",
    "format",
    "bytes",
    "rows",
    "meeting_records",
    "earliest_utc",
    "latest_utc",
    "window_start_utc",
    "window_end_utc",
    "status",
    "detail",
];

/// SPEC 2.3's columns: `start` inclusive and `end` exclusive, UTC, on whole minutes.
pub const REDOWNLOAD_HEADER: [&str; 5] = ["start", "end", "reason", "files", "estimated_rows"];

/// A time as the reports write it; empty when missing.
pub(super) fn time(t: Option<Ts>) -> String {
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

pub fn write_redownload(out: impl Write, windows: &[Window], excel_safe: bool) -> Result<()> {
    let cell = |s: &str| escape::excel_cell(s, excel_safe).into_owned();
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(REDOWNLOAD_HEADER)?;
    for c in windows {
        w.write_record([
            &timestamp::format(c.start),
            &timestamp::format(c.end),
            c.reason.name(),
            &cell(&c.files.join(";")),
            &c.estimated_rows.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The top of redownload.ps1: what it does, and the function each window calls. The portal's
/// exports and `Search-UnifiedAuditLog` take the same windows; the script uses the cmdlet, in
/// pages of 5,000 (`ReturnLargeSet` serves up to 50,000 records per search, unsorted), so it
/// runs unattended. Files are named after their window, which tala-bulk reads back.
const SCRIPT_HEAD: &str = r#"# Run in Exchange Online PowerShell, after Connect-ExchangeOnline. Each window is searched
# with Search-UnifiedAuditLog and saved as UAL-<start>-<end>.csv (UTC, end inclusive) in the
# folder given (default: the current one). Put those files into the archive and run tala-bulk
# again: the windows they cover drop out of redownload.csv.
param([string]$Folder = '.')
$ErrorActionPreference = 'Stop'

function Export-Window([string]$Start, [string]$End) {
    $utc = [Globalization.DateTimeStyles]'AssumeUniversal, AdjustToUniversal'
    $culture = [Globalization.CultureInfo]::InvariantCulture
    $from = [DateTime]::Parse($Start, $culture, $utc)
    $to = [DateTime]::Parse($End, $culture, $utc)
    $name = 'UAL-{0:yyyyMMddHHmmss}-{1:yyyyMMddHHmmss}.csv' -f $from, $to.AddSeconds(-1)
    $path = Join-Path $Folder $name
    $session = [Guid]::NewGuid().ToString()
    $rows = [Collections.Generic.List[object]]::new()
    do {
        $page = @(Search-UnifiedAuditLog -StartDate $from -EndDate $to `
            -RecordType MicrosoftTeams -Operations MeetingParticipantDetail `
            -SessionId $session -SessionCommand ReturnLargeSet -ResultSize 5000)
        $rows.AddRange($page)
    } while ($page.Count -gt 0 -and $page[-1].ResultIndex -lt $page[-1].ResultCount)
    if ($rows.Count -eq 0) {
        # A header and no rows: tala-bulk then knows the window is empty, not missing.
        Set-Content -Path $path -Encoding UTF8 -Value '"RecordType","CreationDate","UserIds","Operations","AuditData"'
    } else {
        $rows | Export-Csv -Path $path -NoTypeInformation -Encoding UTF8
    }
    if ($rows.Count -ge 50000) {
        Write-Warning "${name}: 50,000 records, the most one search returns; run tala-bulk again to split it"
    }
    Write-Host "${name}: $($rows.Count) records"
}
"#;

/// redownload.ps1: one `Export-Window` line per row of redownload.csv, in the same order, each
/// after a comment with the row's reason, files and estimate.
pub fn write_script(mut out: impl Write, windows: &[Window], version: &str) -> Result<()> {
    writeln!(
        out,
        "# redownload.ps1, by tala-bulk {version}: the {} windows of redownload.csv.",
        windows.len()
    )?;
    out.write_all(SCRIPT_HEAD.as_bytes())?;
    for c in windows {
        // File names are printable already (escape::path); text() keeps any control character
        // that reached one from ending the comment line.
        let files = escape::text(&c.files.join("; ")).into_owned();
        let rows = match c.estimated_rows {
            1 => "1 row".to_string(),
            n => format!("{n} rows"),
        };
        writeln!(out, "\n# {}: {files} (about {rows})", c.reason.name())?;
        writeln!(
            out,
            "Export-Window '{}' '{}'",
            timestamp::format(c.start),
            timestamp::format(c.end)
        )?;
    }
    out.flush()?;
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
