//! Coverage: from each file's time span, the windows of the archive that no file covers (gaps),
//! the windows only capped files cover (probably incomplete), and for each capped file the
//! pieces to export again so each should come back under the cap. A file's span is the window
//! its name asks for when it has one (SPEC 1.1), else its first to last CreationTime. Works
//! from the per-file reports only, so `--audit-only` can use it without the meeting stages.

use crate::state::files::{FileReport, FileStatus};
use crate::timestamp::{self, Ts};

/// Shorter stretches without a file are not reported: spans taken from record times stop a
/// few seconds short of the next file's first record even when nothing is missing.
pub const MIN_GAP_SECONDS: i64 = 60;

/// Each re-export piece is sized for this share of the cap, leaving room for a busier stretch.
const PIECE_FILL: f64 = 0.8;

/// The most re-export pieces listed for one file. The estimate scales the file's record rate
/// to the window in its name, and a name can claim any window: without a limit, a crafted
/// name (or a one-second export of a year's window) would make coverage.csv grow without
/// bound. 1,000 pieces of 80% of a 50,000-row cap are 40 million records: more than any real
/// window holds.
pub const MAX_PIECES: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// No file covers this window.
    Gap,
    /// Only capped files cover this window: records are probably missing.
    CappedOnly,
    /// A piece of a capped file's window to export again.
    ReExport,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gap => "gap",
            Kind::CappedOnly => "capped-only",
            Kind::ReExport => "re-export",
        }
    }
}

/// One row of `coverage.csv`. `start` and `end` are inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub kind: Kind,
    pub start: Ts,
    pub end: Ts,
    /// The capped file, for re-export pieces.
    pub file: String,
    pub detail: String,
}

/// The span a file covers and whether it is capped, for files with any time information.
fn span(f: &FileReport) -> Option<(Ts, Ts, bool)> {
    let records = f.earliest.zip(f.latest);
    match f.status {
        FileStatus::Complete => f.window.or(records).map(|(s, e)| (s, e, false)),
        FileStatus::Capped => f.window.or(records).map(|(s, e)| (s, e, true)),
        // A cut file covers what it holds, not the window it was meant to hold.
        FileStatus::Cut => records.map(|(s, e)| (s, e, false)),
        FileStatus::Empty | FileStatus::Unreadable | FileStatus::NotAnExport => None,
    }
}

/// Gaps and capped-only windows between the archive's first and last record, then re-export
/// pieces per capped file (in file order). A capped file's cap is its row count, whichever
/// cap it hit: `--row-cap`, a known one or one found in the archive.
pub fn analyse(files: &[FileReport]) -> Vec<Window> {
    let mut out = Vec::new();
    let first = files.iter().filter_map(|f| f.earliest).min();
    let last = files.iter().filter_map(|f| f.latest).max();
    if let (Some(first), Some(last)) = (first, last) {
        sweep(files, first, last, &mut out);
    }
    for f in files.iter().filter(|f| f.status == FileStatus::Capped) {
        re_export(f, f.rows, &mut out);
    }
    out
}

/// Walks the span boundaries in time order, classifying each stretch by what covers it.
fn sweep(files: &[FileReport], first: Ts, last: Ts, out: &mut Vec<Window>) {
    // Half-open [start, end + 1) so that adjacent spans touch.
    let mut events: Vec<(Ts, i32, i32)> = Vec::new();
    for (s, e, capped) in files.iter().filter_map(span) {
        let (full, cap) = if capped { (0, 1) } else { (1, 0) };
        events.push((s, full, cap));
        events.push((e.saturating_add(1), -full, -cap));
    }
    events.sort_unstable();
    let (mut full, mut capped) = (0i32, 0i32);
    let mut at = first;
    let mut current: Option<(Kind, Ts)> = None;
    let end = last.saturating_add(1);
    let close = |current: &mut Option<(Kind, Ts)>, until: Ts, out: &mut Vec<Window>| {
        if let Some((kind, start)) = current.take() {
            let long_enough = kind != Kind::Gap || until - start >= MIN_GAP_SECONDS;
            if long_enough {
                let detail = match kind {
                    Kind::Gap => "no file covers this window: export it".to_string(),
                    _ => "only capped files cover this window: records are probably missing"
                        .to_string(),
                };
                out.push(Window { kind, start, end: until - 1, file: String::new(), detail });
            }
        }
    };
    let mut i = 0;
    while at < end {
        while i < events.len() && events[i].0 <= at {
            full += events[i].1;
            capped += events[i].2;
            i += 1;
        }
        let next = events.get(i).map_or(end, |e| e.0.min(end));
        let kind = match (full > 0, capped > 0) {
            (true, _) => None,
            (false, true) => Some(Kind::CappedOnly),
            (false, false) => Some(Kind::Gap),
        };
        if current.map(|c| c.0) != kind {
            close(&mut current, at, out);
            current = kind.map(|k| (k, at));
        }
        at = next;
    }
    close(&mut current, end, out);
}

/// Splits a capped file's span so each piece should hold under the cap, estimating the
/// record rate from the part of the span the file did return.
fn re_export(f: &FileReport, row_cap: u64, out: &mut Vec<Window>) {
    let Some((start, end, _)) = span(f) else { return };
    let (Some(earliest), Some(latest)) = (f.earliest, f.latest) else { return };
    let covered = (latest - earliest + 1).max(1) as f64;
    let whole = (end - start + 1).max(1);
    let estimated = f.rows as f64 * (whole as f64 / covered).max(1.0);
    let per_piece = (row_cap as f64 * PIECE_FILL).max(1.0);
    // At least two pieces: the file hit the cap, so the window held at least that much.
    let wanted = ((estimated / per_piece).ceil() as i64).clamp(2, whole.max(2));
    let pieces = wanted.min(MAX_PIECES);
    let limited = if wanted > pieces {
        format!("; limited to {MAX_PIECES} pieces, each may still be capped")
    } else {
        String::new()
    };
    for k in 0..pieces {
        let s = start + whole * k / pieces;
        let e = if k + 1 == pieces { end } else { start + whole * (k + 1) / pieces - 1 };
        let detail = format!(
            "piece {} of {pieces}: {} rows returned, about {} estimated in the window{limited}",
            k + 1,
            f.rows,
            estimated.round() as u64
        );
        out.push(Window { kind: Kind::ReExport, start: s, end: e, file: f.name.clone(), detail });
    }
}

/// The truncation problems of a run, one line each: files capped, cut or unreadable, and
/// windows no file covers or only capped files do. `--state` compares them with the last
/// run's to say what is new.
pub fn problems(files: &[FileReport], windows: &[Window]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| f.status == FileStatus::Capped || f.status.is_problem())
        .map(|f| format!("{}: {}", f.status.name(), f.name))
        .collect();
    out.extend(windows.iter().filter(|w| w.kind != Kind::ReExport).map(|w| {
        format!("{}: {} to {}", w.kind.name(), timestamp::format(w.start), timestamp::format(w.end))
    }));
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse;

    fn t(s: &str) -> Ts {
        parse(s.as_bytes()).unwrap()
    }

    fn file(
        name: &str,
        status: FileStatus,
        rows: u64,
        span: (&str, &str),
        window: Option<(&str, &str)>,
    ) -> FileReport {
        FileReport {
            index: 0,
            name: name.into(),
            format: "csv",
            disk_bytes: Some(1),
            csv_bytes: 1,
            rows,
            meeting_records: rows,
            earliest: Some(t(span.0)),
            latest: Some(t(span.1)),
            window: window.map(|(a, b)| (t(a), t(b))),
            outside_window: 0,
            export: true,
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn gaps_capped_only_windows_and_re_export_pieces() {
        let files = [
            file(
                "a",
                FileStatus::Complete,
                10,
                ("2024-03-01T00:00:05", "2024-03-01T05:59:50"),
                Some(("2024-03-01T00:00:00", "2024-03-01T05:59:59")),
            ),
            // 06:00 to 07:59:59 is covered by nothing.
            file(
                "b",
                FileStatus::Capped,
                100,
                ("2024-03-01T10:00:00", "2024-03-01T11:59:59"),
                Some(("2024-03-01T08:00:00", "2024-03-01T11:59:59")),
            ),
            file(
                "c",
                FileStatus::Complete,
                5,
                ("2024-03-01T11:00:00", "2024-03-01T12:00:00"),
                None,
            ),
        ];
        let got = analyse(&files);
        let show: Vec<(Kind, String, String, String)> = got
            .iter()
            .map(|w| {
                (
                    w.kind,
                    crate::timestamp::format(w.start),
                    crate::timestamp::format(w.end),
                    w.file.clone(),
                )
            })
            .collect();
        let s = |x: &str| x.to_string();
        assert_eq!(
            show,
            [
                (Kind::Gap, s("2024-03-01T06:00:00"), s("2024-03-01T07:59:59"), s("")),
                (Kind::CappedOnly, s("2024-03-01T08:00:00"), s("2024-03-01T10:59:59"), s("")),
                // 100 rows in 2 of the window's 4 hours: about 200 in all, 80 per piece.
                (Kind::ReExport, s("2024-03-01T08:00:00"), s("2024-03-01T09:19:59"), s("b")),
                (Kind::ReExport, s("2024-03-01T09:20:00"), s("2024-03-01T10:39:59"), s("b")),
                (Kind::ReExport, s("2024-03-01T10:40:00"), s("2024-03-01T11:59:59"), s("b")),
            ]
        );
    }

    #[test]
    fn a_window_in_a_file_name_cannot_make_coverage_grow_without_bound() {
        // Two records one second apart in a capped file that claims a thousand years.
        let files = [file(
            "UAL-10000101000000-29991231235959.csv",
            FileStatus::Capped,
            2,
            ("2024-03-01T00:00:00", "2024-03-01T00:00:01"),
            Some(("1000-01-01T00:00:00", "2999-12-31T23:59:59")),
        )];
        let windows = analyse(&files);
        let pieces = windows.iter().filter(|w| w.kind == Kind::ReExport).count();
        assert_eq!(pieces as i64, MAX_PIECES);
        assert!(windows.len() <= MAX_PIECES as usize + 2);
        assert!(windows[1].detail.ends_with("limited to 1000 pieces, each may still be capped"));
    }

    #[test]
    fn short_stretches_between_record_spans_are_not_gaps() {
        let files = [
            file(
                "a",
                FileStatus::Complete,
                10,
                ("2024-03-01T00:00:00", "2024-03-01T05:59:30"),
                None,
            ),
            file(
                "b",
                FileStatus::Complete,
                10,
                ("2024-03-01T06:00:10", "2024-03-01T09:00:00"),
                None,
            ),
        ];
        assert_eq!(analyse(&files), []);
    }
}
