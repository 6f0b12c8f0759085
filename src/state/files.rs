//! What the archive's files contributed besides records, file by file ([`FileState`]): how each
//! file ended (its truncation row), the counts of its rows, operations, skipped rows and
//! warnings, and its rows for errors.csv. Kept per file, not summed, so that a file's
//! contribution merged twice (a partial listed twice, a retried task) counts once. Built by
//! `read`, summed by `report::summary`, written by `report::audit`.

use std::collections::BTreeMap;

use crate::timestamp::Ts;

/// Why a row was skipped (not used for the reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// Fewer fields than the header's AuditData column needs.
    TooFewFields,
    /// AuditData is not valid JSON.
    InvalidJson,
    /// AuditData is JSON but not an object.
    NotAnObject,
    /// A MeetingParticipantDetail record without MeetingDetailId cannot be attributed.
    MissingMeetingId,
}

/// Something odd about a row that was still used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Warn {
    MissingJoinTime,
    MissingLeaveTime,
    InvalidJoinTime,
    InvalidLeaveTime,
    EmptyAttendeeKey,
    NoAttendees,
    RepeatedHeader,
    MissingId,
    JoinAfterLeave,
    InvalidUtf8,
}

impl Skip {
    pub const ALL: [Skip; 4] =
        [Skip::TooFewFields, Skip::InvalidJson, Skip::NotAnObject, Skip::MissingMeetingId];
    pub fn name(self) -> &'static str {
        match self {
            Skip::TooFewFields => "too_few_fields",
            Skip::InvalidJson => "invalid_json",
            Skip::NotAnObject => "auditdata_not_an_object",
            Skip::MissingMeetingId => "missing_meeting_id",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            Skip::TooFewFields => "too few fields for the AuditData column",
            Skip::InvalidJson => "AuditData is not valid JSON",
            Skip::NotAnObject => "AuditData is not a JSON object",
            Skip::MissingMeetingId => "no MeetingDetailId",
        }
    }
}

impl Warn {
    pub const ALL: [Warn; 10] = [
        Warn::MissingJoinTime,
        Warn::MissingLeaveTime,
        Warn::InvalidJoinTime,
        Warn::InvalidLeaveTime,
        Warn::EmptyAttendeeKey,
        Warn::NoAttendees,
        Warn::RepeatedHeader,
        Warn::MissingId,
        Warn::JoinAfterLeave,
        Warn::InvalidUtf8,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Warn::MissingJoinTime => "missing_join_time",
            Warn::MissingLeaveTime => "missing_leave_time",
            Warn::InvalidJoinTime => "invalid_join_time",
            Warn::InvalidLeaveTime => "invalid_leave_time",
            Warn::EmptyAttendeeKey => "empty_attendee_key",
            Warn::NoAttendees => "no_attendees",
            Warn::RepeatedHeader => "repeated_header_row",
            Warn::MissingId => "missing_record_id",
            Warn::JoinAfterLeave => "join_after_leave",
            Warn::InvalidUtf8 => "invalid_utf8_replaced",
        }
    }
}

/// Counters of what a file held; the summary adds them up over files (earliest/latest by
/// min/max).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub disk_bytes: u64,
    pub csv_bytes: u64,
    pub rows: u64,
    pub by_operation: BTreeMap<String, u64>,
    pub skipped: [u64; Skip::ALL.len()],
    pub warnings: [u64; Warn::ALL.len()],
    pub earliest: Option<Ts>,
    pub latest: Option<Ts>,
}

impl Counts {
    pub fn count_operation(&mut self, op: &str) {
        match self.by_operation.get_mut(op) {
            Some(n) => *n += 1,
            None => {
                self.by_operation.insert(op.to_owned(), 1);
            }
        }
    }

    pub fn saw_time(&mut self, t: Ts) {
        self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
    }

    pub fn skipped_rows(&self) -> u64 {
        self.skipped.iter().sum()
    }

    /// Adds `other`'s counts to these (another file's, or another part of the same file's).
    pub fn add(&mut self, other: &Counts) {
        self.disk_bytes += other.disk_bytes;
        self.csv_bytes += other.csv_bytes;
        self.rows += other.rows;
        for (op, n) in &other.by_operation {
            *self.by_operation.entry(op.clone()).or_default() += n;
        }
        for (a, b) in self.skipped.iter_mut().zip(other.skipped) {
            *a += b;
        }
        for (a, b) in self.warnings.iter_mut().zip(other.warnings) {
            *a += b;
        }
        if let Some(t) = other.earliest {
            self.saw_time(t);
        }
        if let Some(t) = other.latest {
            self.saw_time(t);
        }
    }
}

/// How reading one file ended (SPEC 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileStatus {
    Complete,
    Capped,
    Cut,
    Empty,
    Unreadable,
    NotAnExport,
}

impl FileStatus {
    pub const ALL: [FileStatus; 6] = [
        FileStatus::Complete,
        FileStatus::Capped,
        FileStatus::Cut,
        FileStatus::Empty,
        FileStatus::Unreadable,
        FileStatus::NotAnExport,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FileStatus::Complete => "complete",
            FileStatus::Capped => "capped",
            FileStatus::Cut => "cut",
            FileStatus::Empty => "empty",
            FileStatus::Unreadable => "unreadable",
            FileStatus::NotAnExport => "not-an-export",
        }
    }
    /// Statuses that mean some of the file's content could not be used.
    pub fn is_problem(self) -> bool {
        matches!(self, FileStatus::Cut | FileStatus::Unreadable | FileStatus::NotAnExport)
    }
}

/// What one file contributed, for the summary and the truncation audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub index: usize,
    pub name: String,
    pub format: &'static str,
    pub disk_bytes: Option<u64>,
    pub csv_bytes: u64,
    pub rows: u64,
    pub meeting_records: u64,
    pub earliest: Option<Ts>,
    pub latest: Option<Ts>,
    /// The requested window from the file name, if it has one.
    pub window: Option<(Ts, Ts)>,
    /// Records whose CreationTime falls outside `window`.
    pub outside_window: u64,
    /// The file is an audit export: its header names an AuditData column.
    pub export: bool,
    pub status: FileStatus,
    pub detail: String,
}

/// How much of a bad row errors.csv shows.
pub const ERROR_EXCERPT_BYTES: usize = 200;

/// Skipped rows listed in errors.csv per file; the rest are counted.
pub const ERRORS_PER_FILE: usize = 100;

/// One skipped row for errors.csv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    /// Data row number in its file (the header is row 0).
    pub row: u64,
    pub reason: &'static str,
    pub excerpt: String,
}

/// errors.csv's lines for one file: the problem with the whole file, if it could not be fully
/// read, and its first [`ERRORS_PER_FILE`] skipped rows in row order; further skipped rows are
/// only counted. The line for the whole file is kept however many rows were listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileErrors {
    /// Status name and detail, for a file that is cut, unreadable or not an export.
    pub whole: Option<(&'static str, String)>,
    pub rows: Vec<ErrorRow>,
    pub unlisted: u64,
}

impl FileErrors {
    /// Notes a skipped row; rows come in file order.
    pub fn add_row(&mut self, row: u64, reason: &'static str, excerpt: &str) {
        if self.rows.len() >= ERRORS_PER_FILE {
            self.unlisted += 1;
            return;
        }
        let mut cut = excerpt.len().min(ERROR_EXCERPT_BYTES);
        while !excerpt.is_char_boundary(cut) {
            cut -= 1;
        }
        self.rows.push(ErrorRow { row, reason, excerpt: excerpt[..cut].to_string() });
    }

    /// The errors of a file read in parts, from those of its parts: each part listed its own
    /// first rows, so the first [`ERRORS_PER_FILE`] of them all are the file's first.
    pub fn combine(parts: impl IntoIterator<Item = FileErrors>) -> FileErrors {
        let mut all = FileErrors::default();
        for part in parts {
            all.whole = all.whole.or(part.whole);
            all.unlisted += part.unlisted;
            all.rows.extend(part.rows);
        }
        all.rows.sort_by_key(|e| e.row);
        if all.rows.len() > ERRORS_PER_FILE {
            all.unlisted += (all.rows.len() - ERRORS_PER_FILE) as u64;
            all.rows.truncate(ERRORS_PER_FILE);
        }
        all
    }
}

/// Everything one file contributed besides its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub report: FileReport,
    pub counts: Counts,
    pub errors: FileErrors,
    /// The file's path as the system gives it ([`crate::source::discover::ArchiveFile::key`]).
    pub path: Vec<u8>,
    /// A fingerprint of the file's content ([`crate::source::discover::fingerprint`]): with its
    /// path, what makes it this file (SPEC 3).
    pub content: u64,
}
