//! Coverage: which stretches of time the archive's files hold completely, and from that the
//! windows to export again (`redownload.csv`): every stretch that no file holds completely,
//! cut into pieces that should each come back under the cap. Works from the per-file reports
//! only, so `--audit-only` can use it without the meeting stages.
//!
//! What a file holds completely:
//! - a complete export: the window in its name, else its first to last CreationTime;
//! - an export with a header and no rows: the window in its name;
//! - a cut file: its first to last CreationTime (the rows it kept);
//! - a capped export whose records fill only the later part of its window (it kept the newest
//!   records, as the portal's exports do): from just after its first record to the window's
//!   end, so only the part before is asked for; the earlier part alike for an export that kept
//!   the oldest; nothing when its records are spread over the whole window (unsorted paging),
//!   so the whole window is asked for.
//!
//! A stretch no file holds is asked for as `capped` when it lies in a capped export's window,
//! otherwise as a `gap` between the files on each side, or as `cut` when one of those is a cut
//! file. Whatever a newer file holds is never asked for, so windows drop out of the list once
//! their exports are in the archive.

use std::collections::HashMap;

use crate::state::files::{FileReport, FileStatus};
use crate::timestamp::{self, Ts};

/// Shorter stretches between files are not listed as gaps: spans taken from record times stop
/// a few seconds short of the next file's first record even when nothing is missing.
pub const MIN_GAP_SECONDS: i64 = 60;

/// Each piece is sized for this share of the cap, leaving room for a busier stretch.
const PIECE_FILL: f64 = 0.8;

/// The most pieces listed for one stretch. A stretch can be as long as the window a file name
/// claims, and a name can claim any window: without a limit, a crafted name (or a one-second
/// export of a year's window) would make the list grow without bound. 1,000 pieces of 80% of
/// a 50,000-row cap are 40 million records: more than any real window holds.
pub const MAX_PIECES: i64 = 1_000;

/// A capped export whose first record comes at least this long after its window's start (or
/// whose last comes this long before the end) kept only one end of its window: the share of
/// the window, and at least [`MIN_GAP_SECONDS`]. Records of a capped window are dense, so an
/// export of unsorted pages has records within seconds of both ends.
const EDGE_SHARE: f64 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Part of a capped export's window that no file holds completely.
    Capped,
    /// No file covers this stretch.
    Gap,
    /// A stretch no file covers beside a cut file: what the cut took.
    Cut,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Reason::Capped, Reason::Gap, Reason::Cut];

    pub fn name(self) -> &'static str {
        match self {
            Reason::Capped => "capped",
            Reason::Gap => "gap",
            Reason::Cut => "cut",
        }
    }
}

/// One row of `redownload.csv`: `start` inclusive, `end` exclusive, both on whole minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub reason: Reason,
    pub start: Ts,
    pub end: Ts,
    /// The files the window concerns, in archive order.
    pub files: Vec<String>,
    pub estimated_rows: u64,
}

/// A stretch no file holds completely, before it is rounded and cut into pieces. `end` is
/// inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    pub reason: Reason,
    pub start: Ts,
    pub end: Ts,
    /// Indexes into the file list.
    pub files: Vec<usize>,
}

/// What coverage found: the windows to export again, the stretches they come from, and for
/// each capped export a note on which part of its window is asked for and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    pub windows: Vec<Window>,
    pub stretches: Vec<Stretch>,
    /// Index into the file list, and the note for truncation.csv's `detail`.
    pub notes: Vec<(usize, String)>,
}

impl Analysis {
    /// Appends each capped export's note to its `detail`.
    pub fn annotate(&self, files: &mut [FileReport]) {
        for (i, note) in &self.notes {
            if let Some(f) = files.get_mut(*i) {
                if !f.detail.is_empty() {
                    f.detail.push_str("; ");
                }
                f.detail.push_str(note);
            }
        }
    }

    /// Windows per reason, for the summary.
    pub fn count(&self, reason: Reason) -> u64 {
        self.windows.iter().filter(|w| w.reason == reason).count() as u64
    }
}

/// Which part of a capped export's window its records leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Records from late in the window to its end: the part before is missing.
    Newest,
    /// Records from the window's start to early in it: the part after is missing.
    Oldest,
    /// Records in the middle only: both ends are missing.
    Middle,
    /// Records over the whole window: any part may be missing.
    Spread,
    /// No window in the name: its records' span is all there is to go by.
    NoWindow,
}

/// One file as coverage sees it.
struct Part {
    /// The stretch the file holds completely.
    cover: Option<(Ts, Ts)>,
    /// Stretches of a capped export's window that it does not hold.
    asks: Vec<(Ts, Ts)>,
    /// Its span for the archive's extent: the window in its name, else its record times.
    span: (Ts, Ts),
    /// Rows per second in what it holds (or, when spread, in its window).
    rate: f64,
    /// A spread capped export: its window held more rows than the cap, so at least two pieces.
    spread: bool,
}

fn len(s: Ts, e: Ts) -> f64 {
    (e.saturating_sub(s).saturating_add(1)).max(1) as f64
}

/// How coverage sees one file; `None` for a file without time information.
fn part(f: &FileReport) -> Option<(Part, Option<Kept>)> {
    let records = f.earliest.zip(f.latest);
    let rate_over = |s: Ts, e: Ts| f.rows as f64 / len(s, e);
    let whole = |cover: (Ts, Ts)| Part {
        cover: Some(cover),
        asks: Vec::new(),
        span: f.window.unwrap_or(cover),
        rate: rate_over(cover.0, cover.1),
        spread: false,
    };
    match f.status {
        FileStatus::Complete => f.window.or(records).map(|c| (whole(c), None)),
        // A cut file holds what it kept, not the window it was meant to hold.
        FileStatus::Cut => records.map(|c| (whole(c), None)),
        // An export with a header and no rows holds the window it names: nothing happened
        // then (a re-export of a quiet window). Without a name, or without a header, it
        // tells nothing.
        FileStatus::Empty if f.export => f.window.map(|c| (whole(c), None)),
        FileStatus::Empty | FileStatus::Unreadable | FileStatus::NotAnExport => None,
        FileStatus::Capped => {
            let (es, ls) = records?;
            // Nothing of the stretch is held: all of it is asked for, in at least two pieces.
            let unheld = |(s, e): (Ts, Ts)| Part {
                cover: None,
                asks: vec![(s, e)],
                span: (s, e),
                rate: rate_over(s, e),
                spread: true,
            };
            let Some((ws, we)) = f.window else {
                return Some((unheld((es, ls)), Some(Kept::NoWindow)));
            };
            let edge = ((len(ws, we) * EDGE_SHARE) as i64).max(MIN_GAP_SECONDS);
            let late = es.saturating_sub(ws) >= edge;
            let early = we.saturating_sub(ls) >= edge;
            // The second of the first (last) record is asked for too: the cap may have cut
            // records of that same second.
            let (kept, cover, asks) = match (late, early) {
                (true, false) => (Kept::Newest, (es.saturating_add(1), we), vec![(ws, es)]),
                (false, true) => (Kept::Oldest, (ws, ls.saturating_sub(1)), vec![(ls, we)]),
                (true, true) => (
                    Kept::Middle,
                    (es.saturating_add(1), ls.saturating_sub(1)),
                    vec![(ws, es), (ls, we)],
                ),
                (false, false) => return Some((unheld((ws, we)), Some(Kept::Spread))),
            };
            let cover = (cover.0 <= cover.1).then_some(cover);
            let rate = rate_over(es, ls);
            Some((Part { cover, asks, span: (ws, we), rate, spread: false }, Some(kept)))
        }
    }
}

fn note(kept: Kept) -> &'static str {
    match kept {
        Kept::Newest => {
            "its records fill only the later part of its window (the export kept the newest): \
             redownload.csv asks for the part before its first record that no other file holds"
        }
        Kept::Oldest => {
            "its records fill only the earlier part of its window (the export kept the oldest): \
             redownload.csv asks for the part after its last record that no other file holds"
        }
        Kept::Middle => {
            "its records start late in its window and end early: redownload.csv asks for the \
             parts before its first and after its last record that no other file holds"
        }
        Kept::Spread => {
            "its records are spread over its whole window (unsorted pages): redownload.csv asks \
             for what no other file holds of the whole window"
        }
        Kept::NoWindow => {
            "no window in its name: redownload.csv asks for what no other file holds of the span \
             of its records"
        }
    }
}

/// The windows to export again. A capped window's pieces are sized for that file's cap (its
/// rows); a gap's for `row_cap`, or for a smaller cap the archive's own capped exports show (a
/// collector's page size), since the admin exports the gaps the same way.
pub fn analyse(files: &[FileReport], row_cap: u64) -> Analysis {
    let mut parts: Vec<(usize, Part)> = Vec::new();
    let mut notes = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if let Some((p, kept)) = part(f) {
            if let Some(kept) = kept {
                notes.push((i, note(kept).to_string()));
            }
            parts.push((i, p));
        }
    }
    let capped_rows = files.iter().filter(|f| f.status == FileStatus::Capped).map(|f| f.rows);
    let gap_cap = capped_rows.min().map_or(row_cap, |r| r.min(row_cap)).max(1);

    let stretches = sweep(&parts, files);
    // Each file's part by its index, for the stretches that name it.
    let mut by_file: Vec<Option<&Part>> = vec![None; files.len()];
    for (i, p) in &parts {
        by_file[*i] = Some(p);
    }
    let mut windows = Vec::new();
    for s in &stretches {
        let ps: Vec<&Part> = s.files.iter().filter_map(|&i| by_file[i]).collect();
        let rate = ps.iter().map(|p| p.rate).fold(0.0, f64::max);
        let (cap, spread) = match s.reason {
            Reason::Capped => {
                let cap = s.files.iter().map(|&i| files[i].rows).min().unwrap_or(row_cap);
                (cap, ps.iter().any(|p| p.spread))
            }
            Reason::Gap | Reason::Cut => (gap_cap, false),
        };
        let names = s.files.iter().map(|&i| files[i].name.clone()).collect();
        pieces(s, rate, cap, spread, names, &mut windows);
    }
    Analysis { windows, stretches, notes }
}

/// Walks the boundaries of what each file holds and asks for, in time order, over the
/// archive's extent, and returns the stretches no file holds, each classified.
fn sweep(parts: &[(usize, Part)], files: &[FileReport]) -> Vec<Stretch> {
    // The archive's extent: every file's span, and every record time (a record outside the
    // window its file names still shows the archive reaching that far).
    let records = parts.iter().filter_map(|(i, _)| files[*i].earliest.zip(files[*i].latest));
    let spans = parts.iter().map(|(_, p)| p.span).chain(records);
    let Some(first) = spans.clone().map(|s| s.0).min() else { return Vec::new() };
    let Some(last) = spans.map(|s| s.1).max() else { return Vec::new() };
    // Half-open [start, end + 1) so that adjacent stretches touch. An event: time, position in
    // `parts`, +1 or -1, and whether it is a cover (else an ask).
    let mut events: Vec<(Ts, usize, i32, bool)> = Vec::new();
    for (k, (_, p)) in parts.iter().enumerate() {
        if let Some((s, e)) = p.cover {
            events.push((s, k, 1, true));
            events.push((e.saturating_add(1), k, -1, true));
        }
        for &(s, e) in &p.asks {
            events.push((s, k, 1, false));
            events.push((e.saturating_add(1), k, -1, false));
        }
    }
    events.sort_unstable();
    let end = last.saturating_add(1);
    let mut covered = 0i32;
    // How many asked stretches of each part are open, and the parts with one open: kept as a
    // set so each boundary costs what changes there, not a walk over every file.
    let mut asking = vec![0i32; parts.len()];
    let mut open: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    // Runs of equal classification: None (held), or the asking parts (empty: a gap).
    let mut runs: Vec<(Ts, Ts, Vec<usize>)> = Vec::new();
    let mut current: Option<(Ts, Vec<usize>)> = None;
    let mut at = first;
    let mut i = 0;
    while at < end {
        while i < events.len() && events[i].0 <= at {
            let (_, k, d, cover) = events[i];
            if cover {
                covered += d;
            } else {
                asking[k] += d;
                if asking[k] > 0 {
                    open.insert(k);
                } else {
                    open.remove(&k);
                }
            }
            i += 1;
        }
        let next = events.get(i).map_or(end, |e| e.0.min(end));
        let class = (covered <= 0).then(|| open.iter().copied().collect::<Vec<usize>>());
        if current.as_ref().map(|c| &c.1) != class.as_ref() {
            if let Some((s, ks)) = current.take() {
                runs.push((s, at - 1, ks));
            }
            current = class.map(|ks| (at, ks));
        }
        at = next;
    }
    if let Some((s, ks)) = current.take() {
        runs.push((s, end - 1, ks));
    }

    // The files whose held stretch ends just before a time, or starts at it, in archive order.
    let mut held_to: HashMap<Ts, Vec<usize>> = HashMap::new();
    let mut held_from: HashMap<Ts, Vec<usize>> = HashMap::new();
    for (i, p) in parts {
        if let Some((s, e)) = p.cover {
            held_to.entry(e.saturating_add(1)).or_default().push(*i);
            held_from.entry(s).or_default().push(*i);
        }
    }
    let mut out = Vec::new();
    for (n, (start, stop, asking)) in runs.iter().enumerate() {
        let (start, stop) = (*start, *stop);
        if !asking.is_empty() {
            let files = asking.iter().map(|&k| parts[k].0).collect();
            out.push(Stretch { reason: Reason::Capped, start, end: stop, files });
            continue;
        }
        // The files on each side: those whose held stretch ends just before this one or starts
        // just after it, and the capped exports of a stretch asked for right beside it.
        let held = |at: &HashMap<Ts, Vec<usize>>, t: Ts| at.get(&t).cloned().unwrap_or_default();
        let beside = |run: Option<&(Ts, Ts, Vec<usize>)>, before: bool| {
            let touching = run.filter(|(s, e, _)| match before {
                true => e.saturating_add(1) == start,
                false => *s == stop.saturating_add(1),
            });
            touching.map(|r| r.2.clone()).unwrap_or_default()
        };
        let mut around: Vec<usize> = Vec::new();
        let left = held(&held_to, start).into_iter();
        let left = left.chain(
            beside(n.checked_sub(1).and_then(|m| runs.get(m)), true)
                .into_iter()
                .map(|k| parts[k].0),
        );
        let right = held(&held_from, stop.saturating_add(1)).into_iter();
        let right = right.chain(beside(runs.get(n + 1), false).into_iter().map(|k| parts[k].0));
        for i in left.chain(right) {
            if !around.contains(&i) {
                around.push(i);
            }
        }
        let cut: Vec<usize> =
            around.iter().copied().filter(|&i| files[i].status == FileStatus::Cut).collect();
        if !cut.is_empty() {
            out.push(Stretch { reason: Reason::Cut, start, end: stop, files: cut });
        } else if stop - start + 1 >= MIN_GAP_SECONDS {
            out.push(Stretch { reason: Reason::Gap, start, end: stop, files: around });
        }
    }
    out
}

/// Rounds a stretch outward to whole minutes and cuts it into pieces of whole minutes that
/// should each hold under `cap` rows at `rate` rows per second.
fn pieces(
    s: &Stretch,
    rate: f64,
    cap: u64,
    spread: bool,
    names: Vec<String>,
    out: &mut Vec<Window>,
) {
    let start = s.start.div_euclid(60).saturating_mul(60);
    let end = s.end.saturating_add(1).saturating_add(59).div_euclid(60).saturating_mul(60);
    let minutes = ((end - start) / 60).max(1);
    let estimated = rate * len(s.start, s.end);
    let per_piece = (cap as f64 * PIECE_FILL).max(1.0);
    // A spread capped export's window held more rows than the cap: at least two pieces.
    let least = if spread { 2 } else { 1 };
    let wanted = ((estimated / per_piece).ceil() as i64).max(least);
    let n = wanted.min(MAX_PIECES).min(minutes);
    for k in 0..n {
        let a = start + minutes * k / n * 60;
        let b = start + minutes * (k + 1) / n * 60;
        let share = estimated * (b - a) as f64 / (end - start).max(1) as f64;
        out.push(Window {
            reason: s.reason,
            start: a,
            end: b,
            files: names.clone(),
            estimated_rows: share.round() as u64,
        });
    }
}

/// The truncation problems of a run, one line each: files capped, cut or unreadable, and the
/// stretches to export again. `--state` compares them with the last run's to say what is new.
pub fn problems(files: &[FileReport], analysis: &Analysis) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| f.status == FileStatus::Capped || f.status.is_problem())
        .map(|f| format!("{}: {}", f.status.name(), f.name))
        .collect();
    out.extend(analysis.stretches.iter().map(|s| {
        let (a, b) = (timestamp::format(s.start), timestamp::format(s.end));
        format!("{} window: {a} to {b}", s.reason.name())
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

    /// The windows as redownload.csv's rows would show them.
    fn rows(files: &[FileReport], row_cap: u64) -> Vec<String> {
        analyse(files, row_cap)
            .windows
            .iter()
            .map(|w| {
                format!(
                    "{} {} {} {} {}",
                    timestamp::format(w.start),
                    timestamp::format(w.end),
                    w.reason.name(),
                    w.files.join(";"),
                    w.estimated_rows
                )
            })
            .collect()
    }

    const DAY: &str = "2024-03-01T";

    fn at(hms: &str) -> String {
        format!("{DAY}{hms}")
    }

    /// A complete export of [from, to] (inclusive) named with that window, `rows` rows.
    fn complete(name: &str, rows: u64, from: &str, to: &str) -> FileReport {
        let (a, b) = (at(from), at(to));
        file(name, FileStatus::Complete, rows, (&a, &b), Some((&a, &b)))
    }

    #[test]
    fn a_capped_export_that_kept_the_newest_asks_only_for_the_part_before_its_first_record() {
        // The window 02:00-06:00; records from 04:00:30 on (1,000 rows, the cap: 1,000 rows in
        // two hours), the part before 02:30 held by the previous export.
        let (w0, w1, e0, e1) = (at("02:00:00"), at("05:59:59"), at("04:00:30"), at("05:59:58"));
        let files = [
            complete("a", 600, "00:00:00", "02:29:59"),
            file("b", FileStatus::Capped, 1000, (&e0, &e1), Some((&w0, &w1))),
        ];
        let a = analyse(&files, 50_000);
        assert_eq!(a.notes.len(), 1);
        assert!(a.notes[0].1.starts_with("its records fill only the later part of its window"));
        // 02:30:00 to 04:00:30 inclusive (5,431 s), rounded out to 04:01: at the file's rate
        // (1,000 rows in 7,169 s) ~758 rows, under 80% of the 1,000-row cap: one piece.
        assert_eq!(rows(&files, 50_000), [format!("{DAY}02:30:00 {DAY}04:01:00 capped b 758")]);
    }

    #[test]
    fn a_capped_export_that_kept_the_oldest_asks_for_the_part_after_its_last_record() {
        let (w0, w1, e0, e1) = (at("00:00:00"), at("05:59:59"), at("00:00:02"), at("01:59:59"));
        let files = [file("a", FileStatus::Capped, 1000, (&e0, &e1), Some((&w0, &w1)))];
        let a = analyse(&files, 50_000);
        assert!(a.notes[0].1.contains("the export kept the oldest"), "{:?}", a.notes);
        // 01:59:59 to 05:59:59: 4 h at 500 rows an hour, ~2,000 rows: three pieces of 800 at
        // most, on whole minutes (241 of them: 80, 80, 81), the estimate shared alike.
        assert_eq!(
            rows(&files, 50_000),
            [
                format!("{DAY}01:59:00 {DAY}03:19:00 capped a 664"),
                format!("{DAY}03:19:00 {DAY}04:39:00 capped a 664"),
                format!("{DAY}04:39:00 {DAY}06:00:00 capped a 672"),
            ]
        );
    }

    #[test]
    fn a_capped_export_spread_over_its_window_asks_for_all_of_it_in_at_least_two_pieces() {
        let (w0, w1, e0, e1) = (at("00:00:00"), at("01:59:59"), at("00:00:04"), at("01:59:50"));
        let files = [file("a", FileStatus::Capped, 300, (&e0, &e1), Some((&w0, &w1)))];
        let a = analyse(&files, 50_000);
        assert!(a.notes[0].1.starts_with("its records are spread over its whole window"));
        assert_eq!(
            rows(&files, 50_000),
            [
                format!("{DAY}00:00:00 {DAY}01:00:00 capped a 150"),
                format!("{DAY}01:00:00 {DAY}02:00:00 capped a 150")
            ]
        );
    }

    #[test]
    fn a_gap_is_split_under_the_cap_at_its_neighbours_rate_and_names_both() {
        // 1,200 rows an hour on the left, 600 on the right: a two-hour gap at the higher rate
        // holds ~2,400 rows; a 2,000-row cap seen in the archive sizes pieces for 1,600.
        let files = [
            complete("left", 1200, "00:00:00", "00:59:59"),
            complete("right", 600, "03:00:00", "03:59:59"),
            complete("later", 1999, "04:00:00", "04:59:59"),
            {
                let (w0, w1, e0, e1) =
                    (at("05:00:00"), at("05:59:59"), at("05:00:01"), at("05:59:59"));
                file("capped", FileStatus::Capped, 2000, (&e0, &e1), Some((&w0, &w1)))
            },
        ];
        let got = rows(&files, 50_000);
        assert_eq!(
            got[..2],
            [
                format!("{DAY}01:00:00 {DAY}02:00:00 gap left;right 1200"),
                format!("{DAY}02:00:00 {DAY}03:00:00 gap left;right 1200"),
            ]
        );
        assert!(got[2].contains(" capped capped "), "{got:?}");
    }

    #[test]
    fn the_gap_a_cut_file_leaves_names_the_cut_file() {
        // The cut file kept its newest rows (02:40 on): what is missing is before them.
        let (c0, c1, w0, w1) = (at("02:40:00"), at("03:59:59"), at("02:00:00"), at("03:59:59"));
        let files = [
            complete("a", 100, "00:00:00", "02:09:59"),
            file("cut", FileStatus::Cut, 80, (&c0, &c1), Some((&w0, &w1))),
            complete("b", 100, "04:00:00", "05:00:00"),
        ];
        // 02:10 to 02:40 at the cut file's rate (80 rows in 80 min).
        assert_eq!(rows(&files, 50_000), [format!("{DAY}02:10:00 {DAY}02:40:00 cut cut 30")]);
    }

    #[test]
    fn a_window_that_later_exports_cover_is_no_longer_asked_for() {
        let (w0, w1, e0, e1) = (at("00:00:00"), at("05:59:59"), at("03:00:00"), at("05:59:59"));
        let capped = file("capped", FileStatus::Capped, 1000, (&e0, &e1), Some((&w0, &w1)));
        let before = [capped.clone()];
        assert_eq!(rows(&before, 50_000).len(), 2, "{:?}", rows(&before, 50_000));
        // The two pieces were exported again and came back complete: nothing is left to ask.
        let after = [
            capped.clone(),
            complete("piece1", 700, "00:00:00", "01:30:59"),
            complete("piece2", 700, "01:31:00", "03:00:59"),
        ];
        assert_eq!(rows(&after, 50_000), Vec::<String>::new());
        // One piece back, the other not yet: only that one is asked for, at the capped file's
        // rate (1,000 rows in 3 h).
        let half = [capped, complete("piece1", 700, "00:00:00", "01:30:59")];
        assert_eq!(rows(&half, 50_000), [format!("{DAY}01:31:00 {DAY}03:01:00 capped capped 495")]);
    }

    #[test]
    fn windows_are_rounded_outward_to_whole_minutes() {
        // A gap from 01:00:30 to 01:02:29 inclusive becomes 01:00 to 01:03.
        let files = [
            file("a", FileStatus::Complete, 10, (&at("00:00:00"), &at("01:00:29")), None),
            file("b", FileStatus::Complete, 10, (&at("01:02:30"), &at("02:00:00")), None),
        ];
        let got = rows(&files, 50_000);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with(&format!("{DAY}01:00:00 {DAY}01:03:00 gap a;b ")), "{got:?}");
    }

    #[test]
    fn a_header_only_export_holds_the_window_in_its_name() {
        let mut quiet = complete("quiet", 0, "01:00:00", "01:59:59");
        quiet.status = FileStatus::Empty;
        let files = [
            complete("a", 60, "00:00:00", "00:59:59"),
            quiet,
            complete("b", 60, "02:00:00", "03:00:00"),
        ];
        assert_eq!(rows(&files, 50_000), Vec::<String>::new());
        // Without a header, an empty file tells nothing: the hour is a gap.
        let mut blank = files.clone();
        blank[1].export = false;
        assert_eq!(rows(&blank, 50_000), [format!("{DAY}01:00:00 {DAY}02:00:00 gap a;b 60")]);
    }

    #[test]
    fn a_window_in_a_file_name_cannot_make_the_list_grow_without_bound() {
        // Two records one second apart in a capped file that claims a thousand years.
        let files = [file(
            "UAL-10000101000000-29991231235959.csv",
            FileStatus::Capped,
            2,
            ("2024-03-01T00:00:00", "2024-03-01T00:00:01"),
            Some(("1000-01-01T00:00:00", "2999-12-31T23:59:59")),
        )];
        let a = analyse(&files, 50_000);
        assert_eq!(a.windows.len() as i64, MAX_PIECES);
        assert_eq!(a.windows[0].start, t("1000-01-01T00:00:00"));
        assert_eq!(a.windows.last().map(|w| w.end), Some(t("3000-01-01T00:00:00")));
    }

    #[test]
    fn short_stretches_between_record_spans_are_not_gaps() {
        let files = [
            file("a", FileStatus::Complete, 10, (&at("00:00:00"), &at("05:59:30")), None),
            file("b", FileStatus::Complete, 10, (&at("06:00:10"), &at("09:00:00")), None),
        ];
        assert_eq!(analyse(&files, 50_000).windows, []);
    }

    #[test]
    fn problems_name_files_and_stretches() {
        let (w0, w1, e0, e1) = (at("00:00:00"), at("05:59:59"), at("03:00:00"), at("05:59:59"));
        let files = [file("c", FileStatus::Capped, 1000, (&e0, &e1), Some((&w0, &w1)))];
        let a = analyse(&files, 50_000);
        assert_eq!(
            problems(&files, &a),
            ["capped window: 2024-03-01T00:00:00 to 2024-03-01T03:00:00", "capped: c"]
        );
    }
}
