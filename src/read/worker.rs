//! Worker: drives the stages for one file (or one part of a big file) at a time — open
//! (`source::input`), scan rows (`source::csv`), read AuditData (`extract`), add the records to
//! the partial state (`state`) — and gathers, file by file, how the file ended, its counts and
//! its rows for errors.csv. Each worker owns its buffers, built once, and its partial state.

use std::borrow::Cow;

use crate::extract::auditdata::{
    is_meeting_operation, AuditError, AuditParser, AuditRecord, TimeField, MEETING_OPERATION,
};
use crate::messages::Ui;
use crate::source::csv::{Columns, Part, Record, Scanner};
use crate::source::discover::ArchiveFile;
use crate::source::input::{self, Feed, StreamFeed};
use crate::source::json::{self, JsonScanner};
use crate::source::Rows;
use crate::state::claims::Claims;
use crate::state::files::{
    Counts, FileErrors, FileReport, FileState, FileStatus, Skip, Warn, ERROR_EXCERPT_BYTES,
};
use crate::state::partial::{position, Partial};
use crate::timestamp::Ts;

/// Row counts at which an export was probably cut by the service (SPEC 1.1): a one-call
/// `Search-UnifiedAuditLog` page, and the premium search export. `--row-cap` adds its own.
const KNOWN_CAPS: [u64; 2] = [5_000, 1_000_000];

/// Plain files report progress every this many bytes, so one huge export still moves the bar.
const PROGRESS_STEP: u64 = 8 << 20;

pub struct Worker<'a> {
    ui: &'a Ui,
    /// The run's shared Id index: later copies of records already read are only counted.
    /// `None` when each file's state must stand alone (a cache of one partial per file, where
    /// a copy counted against another file's would be lost).
    claims: Option<&'a Claims>,
    row_cap: u64,
    scanner: Scanner,
    parser: AuditParser,
    /// The Operation column of the current row, copied so AuditData can be parsed in place.
    op_buf: String,
    /// The start of the current row, for errors.csv.
    excerpt_buf: Vec<u8>,
    /// A JSON record without its whitespace, for its content hash.
    compact_buf: Vec<u8>,
    /// The window files are read into, kept from file to file.
    window: Vec<u8>,
    /// `--audit-only`: read each row's Operation, CreationTime and MeetingDetailId only.
    audit_only: bool,
    overlap: bool,
    pub partial: Partial,
}

/// What scanning one file (or part of one) found besides its records: the file's counts and
/// errors.csv rows, and what its truncation row needs.
#[derive(Default)]
pub struct FileScan {
    pub csv_bytes: u64,
    counts: Counts,
    errors: FileErrors,
    meeting_records: u64,
    outside_window: u64,
    /// The header named an AuditData column.
    export: bool,
    status: Option<(FileStatus, String)>,
    /// A JSON input, and how it holds its records.
    json: Option<json::Kind>,
    /// Records with an Operation of their own (in AuditData): a JSON input without any holds
    /// no audit records.
    with_operation: u64,
}

impl FileScan {
    /// The scan of a whole file from the scans of its parts, in file order.
    pub fn combine(parts: impl IntoIterator<Item = FileScan>) -> FileScan {
        let mut all = FileScan::default();
        for part in parts {
            // Offsets are the whole file's, so the last part ends where the file does.
            all.csv_bytes = all.csv_bytes.max(part.csv_bytes);
            all.counts.add(&part.counts);
            all.errors = FileErrors::combine([std::mem::take(&mut all.errors), part.errors]);
            all.meeting_records += part.meeting_records;
            all.outside_window += part.outside_window;
            all.export |= part.export;
            all.with_operation += part.with_operation;
            all.json = all.json.or(part.json);
            // Only the last part reaches the end of the file, where a cut shows.
            all.status = all.status.or(part.status);
        }
        all
    }

    fn saw_time(&mut self, t: Ts, window: Option<(Ts, Ts)>) {
        self.counts.saw_time(t);
        if window.is_some_and(|(start, end)| t < start || t > end) {
            self.outside_window += 1;
        }
    }
}

impl<'a> Worker<'a> {
    /// `overlap`: decode compressed files on a thread of their own (when cores would idle).
    pub fn new(
        ui: &'a Ui,
        claims: Option<&'a Claims>,
        row_cap: u64,
        audit_only: bool,
        overlap: bool,
    ) -> Worker<'a> {
        Worker {
            ui,
            claims,
            row_cap,
            scanner: Scanner::new(),
            parser: AuditParser::new(),
            op_buf: String::new(),
            excerpt_buf: Vec::with_capacity(ERROR_EXCERPT_BYTES),
            compact_buf: Vec::new(),
            window: Vec::new(),
            audit_only,
            overlap,
            partial: Partial::default(),
        }
    }

    /// Reads archive file number `index` into the partial state. Never fails: whatever goes
    /// wrong becomes the file's status and a warning.
    pub fn process(&mut self, index: usize, file: &ArchiveFile) {
        let mut report = new_report(index, file);
        match input::open(&file.origin) {
            Err(err) => {
                report.detail = err.to_string();
                self.ui.warn(format_args!("{}: cannot read: {err}; skipped", file.name));
                let whole = Some(("unreadable", report.detail.clone()));
                let errors = FileErrors { whole, ..FileErrors::default() };
                let counts = Counts::default();
                let path = file.key.clone();
                self.partial.add_file(FileState { report, counts, errors, path, content: 0 });
                self.ui.file_done();
            }
            Ok(opened) => {
                let opened = if self.overlap { opened.overlap_decoding() } else { opened };
                let (format, disk_bytes, content) =
                    (opened.format_name(), opened.disk_bytes, opened.content);
                let progress_by_chunks = format == input::Format::Csv.name();
                let mut window = std::mem::take(&mut self.window);
                let scan = opened.with_feed_in(&mut window, |feed| {
                    self.scan(index, file, feed, progress_by_chunks)
                });
                self.window = window;
                let reported = if progress_by_chunks { scan.csv_bytes } else { 0 };
                self.ui.advance(disk_bytes.unwrap_or(0).saturating_sub(reported));
                let done = finish_file(self.ui, self.row_cap, report, format, disk_bytes, scan);
                self.partial.add_file(FileState { content, path: file.key.clone(), ..done });
            }
        }
    }

    /// Reads one part of a file that was split at record boundaries (`source::csv::plan_parts`),
    /// so several workers share one big export. Its rows and offsets are numbered as in the
    /// whole file; the caller combines the parts' scans in order and hands them to
    /// [`finish_file`]: a file's state is complete before it joins a partial state.
    #[allow(clippy::too_many_arguments)]
    pub fn process_part(
        &mut self,
        index: usize,
        file: &ArchiveFile,
        reader: input::RangeReader,
        cols: Columns,
        part: &Part,
        json: Option<(json::Kind, bool)>,
    ) -> FileScan {
        let mut feed = StreamFeed::with_buffer(reader, std::mem::take(&mut self.window));
        let scan = match json {
            // A part of a JSON file: `last` is the part that reaches the file's end.
            Some((kind, last)) => {
                let mut rows = JsonScanner::resume_at(kind, part, last);
                self.scan_rows(&mut rows, index, file, cols, &mut feed, true, part.start)
            }
            None => {
                let mut scanner = std::mem::take(&mut self.scanner);
                scanner.resume_at(part.start, part.row);
                let scan =
                    self.scan_rows(&mut scanner, index, file, cols, &mut feed, true, part.start);
                self.scanner = scanner;
                scan
            }
        };
        self.window = feed.into_buffer();
        scan
    }

    fn scan(
        &mut self,
        index: usize,
        file: &ArchiveFile,
        feed: &mut dyn Feed,
        progress: bool,
    ) -> FileScan {
        // JSON (an API content blob, NDJSON) is told apart by its first bytes.
        if let Some(kind) = feed.peek().ok().and_then(json::sniff) {
            let mut rows = JsonScanner::new(kind);
            // One field, the element: its AuditData.
            let cols = Columns::single();
            return self.scan_rows(&mut rows, index, file, cols, feed, progress, 0);
        }
        let mut scanner = std::mem::take(&mut self.scanner);
        scanner.reset();
        let scan = match csv_columns(&mut scanner, feed) {
            Ok(cols) => self.scan_rows(&mut scanner, index, file, cols, feed, progress, 0),
            Err((status, csv_bytes)) => {
                FileScan { status: Some(status), csv_bytes, ..FileScan::default() }
            }
        };
        self.scanner = scanner;
        scan
    }

    /// Reads data rows until the feed ends; `reported` is where progress was last reported.
    #[allow(clippy::too_many_arguments)]
    fn scan_rows<R: Rows>(
        &mut self,
        scanner: &mut R,
        index: usize,
        file: &ArchiveFile,
        cols: Columns,
        feed: &mut dyn Feed,
        progress: bool,
        mut reported: u64,
    ) -> FileScan {
        let Worker {
            ui,
            claims,
            parser,
            op_buf,
            excerpt_buf,
            compact_buf,
            partial,
            audit_only,
            ..
        } = self;
        let audit_only = *audit_only;
        let (name, window) = (file.name.as_str(), file.window);
        let mut scan = FileScan { export: true, json: scanner.json(), ..FileScan::default() };
        let (is_json, unit) = (scan.json.is_some(), scanner.unit());
        loop {
            // At the top, so that rows skipped with `continue` still move the bar.
            if progress && scanner.consumed() - reported >= PROGRESS_STEP {
                ui.advance(scanner.consumed() - reported);
                reported = scanner.consumed();
            }
            let mut record = match scanner.next_record(feed) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(err) => {
                    // Numbered in the whole file, also when this is a later part of it.
                    let read = scanner.read_so_far();
                    let detail = format!("stopped after {unit} {read}: {err}");
                    scan.status = Some((FileStatus::Cut, detail));
                    break;
                }
            };
            scan.counts.rows += 1;
            let (row, at_eof, compact) = (record.row, record.at_eof, record.compact);
            let pos = position(index, record.offset);
            // The row's excerpt for errors.csv is taken only if it is skipped, from the
            // parser's copy of AuditData where simd-json unescaped it in place (see
            // `fill_excerpt`).
            let mut excerpt_taken = false;
            if cols.is_header_again(&record) {
                scan.counts.warnings[Warn::RepeatedHeader as usize] += 1;
                ui.row_warning(name, unit, row, "the header row again; ignored");
                continue;
            }
            // Operation from its column when there is one (cheap), else from AuditData.
            op_buf.clear();
            if let Some(f) = cols.operation.and_then(|i| record.field(i)) {
                // Almost every row's is the meeting operation: a compare, where checking the
                // bytes as UTF-8 (as the lossy conversion does) took 0.6-0.7% of a run.
                if f == MEETING_OPERATION.as_bytes() {
                    op_buf.push_str(MEETING_OPERATION);
                } else {
                    op_buf.push_str(&String::from_utf8_lossy(f));
                }
            }
            let op_col = (!op_buf.is_empty()).then_some(op_buf.as_str());
            // SPEC 1.1: CreationDate is only a fallback, and only when it is unambiguous ISO
            // (locale forms like 9/20/2023 may be day-first or month-first).
            let column_time = cols
                .creation_date
                .and_then(|i| record.field(i))
                .and_then(|f| crate::timestamp::parse(f.trim_ascii()));
            let outcome: Result<(), Skip> = 'row: {
                if audit_only {
                    fill_excerpt(excerpt_buf, &record, cols.audit_data, None);
                    excerpt_taken = true;
                    let Some(json) = record.field_mut(cols.audit_data) else {
                        break 'row Err(Skip::TooFewFields);
                    };
                    let mut tally = |op: Option<&str>, time: Option<Ts>, meeting_id: bool| {
                        audit_only_tally(
                            &mut scan,
                            window,
                            op_col.or(op),
                            time.or(column_time),
                            meeting_id,
                        )
                    };
                    if let Some(p) = crate::extract::peek::peek(json) {
                        break 'row tally(p.operation.as_deref(), p.creation_time, p.meeting_id);
                    }
                    // Not sure of it: the full parser reads the row, as a full run does.
                    let mut read = |json: &mut [u8]| {
                        parser.with_record(json, |rec| match rec {
                            Err(AuditError::NotJson) => Err(Skip::InvalidJson),
                            Err(AuditError::NotObject) => Err(Skip::NotAnObject),
                            Ok(r) => tally(
                                r.operation.as_deref(),
                                r.creation_time,
                                r.meeting_id.is_some(),
                            ),
                        })
                    };
                    let outcome = read(json);
                    if outcome == Err(Skip::InvalidJson) && std::str::from_utf8(json).is_err() {
                        let mut fixed = String::from_utf8_lossy(json).into_owned().into_bytes();
                        break 'row read(&mut fixed);
                    }
                    break 'row outcome;
                }
                let Some(json) = record.field_mut(cols.audit_data) else {
                    break 'row Err(Skip::TooFewFields);
                };
                // A JSON record's copies differ in layout (a pretty-printed blob, a compact
                // line): its whitespace between tokens is not its content.
                // (A JSON element its scan found compact is hashed as it is, as CSV's AuditData.)
                let hash = match is_json && !compact {
                    true => json::content_hash(json, compact_buf),
                    false => xxhash_rust::xxh3::xxh3_64(json),
                };
                let mut ctx = RowCtx {
                    partial,
                    scan: &mut scan,
                    ui,
                    name,
                    unit,
                    row,
                    pos,
                    hash,
                    claims: *claims,
                    op_col,
                    column_time,
                    window,
                };
                let mut outcome = parser.with_record(json, |rec| use_record(rec, &mut ctx));
                // simd-json rejects invalid UTF-8 before touching the buffer: read such a row
                // again with the bad bytes replaced (U+FFFD) rather than lose the record.
                if outcome == Err(Skip::InvalidJson) && std::str::from_utf8(json).is_err() {
                    let mut fixed = String::from_utf8_lossy(json).into_owned().into_bytes();
                    // The excerpt shows the bytes as they came, not as replaced.
                    fill_excerpt(excerpt_buf, &record, cols.audit_data, parser.original());
                    excerpt_taken = true;
                    outcome = parser.with_record(&mut fixed, |rec| use_record(rec, &mut ctx));
                    if outcome.is_ok() {
                        ctx.warn(Warn::InvalidUtf8, "invalid UTF-8 replaced by U+FFFD");
                    }
                }
                outcome
            };
            if let Err(reason) = outcome {
                if !excerpt_taken {
                    // A row with an AuditData field was parsed, so the parser's copy is this
                    // row's; one without has no field for a copy from an earlier row to stand
                    // in for.
                    fill_excerpt(excerpt_buf, &record, cols.audit_data, parser.original());
                }
                skip(&mut scan, ui, name, (unit, row), reason, excerpt_buf);
                // A broken last row (not a merely incomplete record) means the file was cut.
                if at_eof && reason != Skip::MissingMeetingId {
                    scan.status = Some((FileStatus::Cut, format!("ends inside {unit} {row}")));
                }
            }
        }
        scan.csv_bytes = scanner.consumed();
        if scan.status.is_none() {
            scan.status = scanner.cut().map(|why| (FileStatus::Cut, why));
        }
        if progress {
            ui.advance(scan.csv_bytes - reported);
        }
        scan
    }
}

/// A CSV input's header: its columns, or, when there are none to read, the file's status
/// (empty, unreadable, not an export) and the bytes its scan counts.
fn csv_columns(
    scanner: &mut Scanner,
    feed: &mut dyn Feed,
) -> Result<Columns, ((FileStatus, String), u64)> {
    let (columns, utf16_without_bom) = match scanner.next_record(feed) {
        Err(err) => return Err(((FileStatus::Unreadable, format!("read error: {err}")), 0)),
        Ok(None) => return Err(((FileStatus::Empty, "no bytes".into()), 0)),
        Ok(Some(header)) => {
            let names: Vec<&[u8]> = header.fields().collect();
            let nuls = names.iter().flat_map(|n| n.iter()).filter(|&&b| b == 0).count();
            // "A\0u\0d\0…": UTF-16 that came without the byte-order mark we read it by.
            let utf16 = nuls > 4 && names.iter().any(|n| n.windows(2).any(|w| w == b"A\0"));
            (Columns::from_header(&names), utf16)
        }
    };
    if let Some(cols) = columns {
        return Ok(cols);
    }
    let detail = if utf16_without_bom {
        "no AuditData column in the first row: the text looks like UTF-16 without a byte-order \
         mark; convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8)"
    } else {
        "no AuditData column in the first row"
    };
    Err(((FileStatus::NotAnExport, detail.into()), scanner.consumed()))
}

/// Counts a row of `--audit-only` as `use_record` counts it in a full run: its operation, its
/// time, a meeting record, and the one reason a meeting record is skipped.
fn audit_only_tally(
    scan: &mut FileScan,
    window: Option<(Ts, Ts)>,
    op: Option<&str>,
    time: Option<Ts>,
    meeting_id: bool,
) -> Result<(), Skip> {
    if op.is_some() {
        scan.with_operation += 1;
    }
    let op = op.unwrap_or("");
    scan.counts.count_operation(op);
    if let Some(t) = time {
        scan.saw_time(t, window);
    }
    if !is_meeting_operation(op) {
        return Ok(());
    }
    scan.meeting_records += 1;
    if meeting_id {
        Ok(())
    } else {
        Err(Skip::MissingMeetingId)
    }
}

/// The status of a file read to its end, from its row count.
fn status_by_rows(row_cap: u64, rows: u64) -> (FileStatus, String) {
    if rows == 0 {
        (FileStatus::Empty, "header only".into())
    } else if rows == row_cap {
        let why = format!("exactly the row cap ({rows} rows): the export probably stopped there");
        (FileStatus::Capped, why)
    } else if KNOWN_CAPS.contains(&rows) {
        let why = format!("{rows} rows, a known export cap: the export may have stopped there");
        (FileStatus::Capped, why)
    } else {
        (FileStatus::Complete, String::new())
    }
}

/// The report of a file about to be read: unreadable until a scan says otherwise.
pub fn new_report(index: usize, file: &ArchiveFile) -> FileReport {
    FileReport {
        index,
        name: file.name.clone(),
        format: "",
        disk_bytes: None,
        csv_bytes: 0,
        rows: 0,
        meeting_records: 0,
        earliest: None,
        latest: None,
        window: file.window,
        outside_window: 0,
        export: false,
        status: FileStatus::Unreadable,
        detail: String::new(),
    }
}

/// Completes a file's state from its (combined) scan and warns about a problem status. Its
/// path and content fingerprint are the caller's to set.
pub fn finish_file(
    ui: &Ui,
    row_cap: u64,
    mut report: FileReport,
    format: &'static str,
    disk_bytes: Option<u64>,
    scan: FileScan,
) -> FileState {
    let FileScan { csv_bytes, mut counts, mut errors, .. } = scan;
    let mut scan_status = scan.status;
    let mut meeting_records = scan.meeting_records;
    if let Some(kind) = scan.json {
        // A JSON input that holds no audit record (an API error, some other JSON) contributes
        // nothing; one that does is complete however many records it has: no cap applies.
        if counts.rows > 0 && scan.with_operation == 0 {
            let why = "JSON that holds no audit records (no element has an Operation)";
            scan_status = Some((FileStatus::NotAnExport, why.into()));
            (counts, errors, meeting_records) = (Counts::default(), FileErrors::default(), 0);
        }
        let empty = match kind {
            json::Kind::Array => "an empty array",
            json::Kind::Lines | json::Kind::Values => "no records",
        };
        scan_status = scan_status.or(Some(match counts.rows {
            0 => (FileStatus::Empty, empty.into()),
            _ => (FileStatus::Complete, String::new()),
        }));
    }
    let format = match scan.json {
        Some(kind) => kind.format_name(format),
        None => format,
    };
    report.format = format;
    report.disk_bytes = disk_bytes;
    report.csv_bytes = csv_bytes;
    report.rows = counts.rows;
    report.meeting_records = meeting_records;
    report.earliest = counts.earliest;
    report.latest = counts.latest;
    report.outside_window = scan.outside_window;
    report.export = scan.export && !matches!(scan_status, Some((FileStatus::NotAnExport, _)));
    (report.status, report.detail) =
        scan_status.unwrap_or_else(|| status_by_rows(row_cap, counts.rows));
    if report.status.is_problem() {
        ui.warn(format_args!("{}: {}: {}", report.name, report.status.name(), report.detail));
        errors.whole = Some((report.status.name(), report.detail.clone()));
    }
    counts.disk_bytes = disk_bytes.unwrap_or(0);
    counts.csv_bytes = csv_bytes;
    ui.file_done();
    FileState { report, counts, errors, path: Vec::new(), content: 0 }
}

/// The first bytes of a row for errors.csv, fields joined by commas as they read after CSV
/// unquoting. simd-json unescapes AuditData (field `audit_data`) in place: `original`, when
/// given, is its text from before. Taken only for a skipped row: copying every row's first
/// bytes in case took 0.7% of a run.
fn fill_excerpt(
    buf: &mut Vec<u8>,
    record: &Record<'_>,
    audit_data: usize,
    original: Option<&[u8]>,
) {
    buf.clear();
    let fields = record.fields().enumerate();
    let fields = fields.map(|(i, f)| (i, original.filter(|_| i == audit_data).unwrap_or(f)));
    for (i, field) in fields {
        if i > 0 {
            buf.push(b',');
        }
        let room = ERROR_EXCERPT_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&field[..field.len().min(room)]);
        if buf.len() >= ERROR_EXCERPT_BYTES {
            break;
        }
    }
}

/// A row (or JSON record) `reason` keeps out of the reports: counted, warned about, and listed
/// in errors.csv. `at` is what the file calls it, and its number.
fn skip(scan: &mut FileScan, ui: &Ui, name: &str, at: (&str, u64), reason: Skip, excerpt: &[u8]) {
    let (unit, row) = at;
    scan.counts.skipped[reason as usize] += 1;
    ui.row_warning(name, unit, row, format_args!("{}; {unit} skipped", reason.describe()));
    scan.errors.add_row(row, reason.name(), &String::from_utf8_lossy(excerpt));
}

/// What `use_record` needs to know about the row it handles.
struct RowCtx<'c, 'u> {
    partial: &'c mut Partial,
    scan: &'c mut FileScan,
    ui: &'u Ui,
    name: &'c str,
    /// What the file calls its records: row, record or line.
    unit: &'static str,
    row: u64,
    pos: crate::state::partial::Pos,
    hash: u64,
    claims: Option<&'u Claims>,
    op_col: Option<&'c str>,
    column_time: Option<Ts>,
    window: Option<(Ts, Ts)>,
}

impl RowCtx<'_, '_> {
    fn warn(&mut self, w: Warn, what: &str) {
        self.scan.counts.warnings[w as usize] += 1;
        self.ui.row_warning(self.name, self.unit, self.row, what);
    }
}

/// Counts one parsed row and adds it to the partial state if it is a usable meeting record.
fn use_record(
    rec: Result<&AuditRecord<'_>, AuditError>,
    ctx: &mut RowCtx<'_, '_>,
) -> Result<(), Skip> {
    let rec = match rec {
        Err(AuditError::NotJson) => return Err(Skip::InvalidJson),
        Err(AuditError::NotObject) => return Err(Skip::NotAnObject),
        Ok(rec) => rec,
    };
    if rec.operation.is_some() {
        ctx.scan.with_operation += 1;
    }
    let op: Cow<'_, str> = match (ctx.op_col, &rec.operation) {
        (Some(op), _) => Cow::Borrowed(op),
        (None, Some(op)) => Cow::Borrowed(&**op),
        (None, None) => Cow::Borrowed(""),
    };
    ctx.scan.counts.count_operation(&op);
    if let Some(t) = rec.creation_time.or(ctx.column_time) {
        ctx.scan.saw_time(t, ctx.window);
    }
    if !is_meeting_operation(&op) {
        return Ok(());
    }
    ctx.scan.meeting_records += 1;
    if rec.meeting_id.is_none() {
        return Err(Skip::MissingMeetingId);
    }
    let times = [
        (rec.join, "JoinTime", Warn::MissingJoinTime, Warn::InvalidJoinTime),
        (rec.leave, "LeaveTime", Warn::MissingLeaveTime, Warn::InvalidLeaveTime),
    ];
    for (value, field, missing, invalid) in times {
        match value {
            None | Some(TimeField::Missing) => {
                ctx.warn(missing, &format!("no {field}; connection kept without it"))
            }
            Some(TimeField::Invalid) => ctx.warn(
                invalid,
                &format!("{field} is not YYYY-MM-DDThh:mm:ss; connection kept without it"),
            ),
            Some(TimeField::At(_)) => {}
        }
    }
    if let (Some(TimeField::At(join)), Some(TimeField::At(leave))) = (rec.join, rec.leave) {
        if join > leave {
            ctx.warn(Warn::JoinAfterLeave, "JoinTime after LeaveTime; connection kept as it is");
        }
    }
    if rec.attendees.is_empty() {
        ctx.warn(Warn::NoAttendees, "no usable Attendees entry; meeting counted, no connection");
    } else if rec.attendees.iter().any(|a| a.key.is_empty()) {
        ctx.warn(Warn::EmptyAttendeeKey, "attendee without UserObjectId or DisplayName");
    }
    if rec.id.is_none() {
        ctx.warn(Warn::MissingId, "no record Id; cannot be deduplicated");
    }
    ctx.partial.add(rec, ctx.pos, ctx.hash, ctx.claims);
    Ok(())
}
