//! Audit record: the AuditData JSON of one row, parsed with simd-json into a tape (reused per
//! worker) and read once, key by key, into a typed record that borrows its strings from the row
//! buffer. Only what the reports use is kept. Previous stage: `source::csv`; next:
//! `state`.

use std::borrow::Cow;

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};
use smallvec::SmallVec;

use super::shapes::Shapes;
use crate::timestamp::{self, Ts};

/// The operation the meeting reports are built from.
pub const MEETING_OPERATION: &str = "MeetingParticipantDetail";

/// Why an AuditData field could not be read as a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditError {
    /// Not valid JSON (including invalid UTF-8 and a JSON text cut short).
    NotJson,
    /// Valid JSON, but not an object.
    NotObject,
}

/// A time field: present and valid, absent, or present but not a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    Missing,
    Invalid,
    At(Ts),
}

impl TimeField {
    pub fn ts(self) -> Option<Ts> {
        match self {
            TimeField::At(t) => Some(t),
            _ => None,
        }
    }
}

/// One entry of `Attendees`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attendee<'a> {
    /// UserObjectId, else DisplayName, else empty (SPEC 2).
    pub key: Cow<'a, str>,
    /// RecipientType, `?` when absent.
    pub key_type: Cow<'a, str>,
    pub organization: Cow<'a, str>,
    pub upn: Cow<'a, str>,
    /// The key is a UserObjectId (so `key → upn` can go into the users database).
    pub is_object_id: bool,
}

/// The fields of one audit record that tala-bulk uses; strings borrow from the row buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    pub id: Option<Cow<'a, str>>,
    pub operation: Option<Cow<'a, str>>,
    pub creation_time: Option<Ts>,
    pub meeting_id: Option<Cow<'a, str>>,
    pub organizer_email: Cow<'a, str>,
    pub organizer_id: Cow<'a, str>,
    pub organizer_organization: Cow<'a, str>,
    pub meeting_type: Cow<'a, str>,
    pub join: Option<TimeField>,
    pub leave: Option<TimeField>,
    pub client_ip: Cow<'a, str>,
    /// DeviceInformation; empty when absent.
    pub device: Cow<'a, str>,
    /// The UserAgent shortened to its agent family (SPEC 2, "Property").
    pub property: Cow<'a, str>,
    /// The whole UserAgent; empty when absent.
    pub user_agent: Cow<'a, str>,
    pub attendees: SmallVec<[Attendee<'a>; 1]>,
    /// `Attendees` was present but not a list or object.
    pub attendees_malformed: bool,
}

impl AuditRecord<'_> {
    pub fn is_meeting_detail(&self) -> bool {
        self.operation.as_deref().is_some_and(is_meeting_operation)
    }

    /// The record with its strings copied, free of the buffer it was read from (to compare
    /// what two readers made of a record).
    pub fn to_owned_record(&self) -> AuditRecord<'static> {
        fn own(c: &str) -> Cow<'static, str> {
            Cow::Owned(c.to_owned())
        }
        AuditRecord {
            id: self.id.as_deref().map(own),
            operation: self.operation.as_deref().map(own),
            creation_time: self.creation_time,
            meeting_id: self.meeting_id.as_deref().map(own),
            organizer_email: own(&self.organizer_email),
            organizer_id: own(&self.organizer_id),
            organizer_organization: own(&self.organizer_organization),
            meeting_type: own(&self.meeting_type),
            join: self.join,
            leave: self.leave,
            client_ip: own(&self.client_ip),
            device: own(&self.device),
            property: own(&self.property),
            user_agent: own(&self.user_agent),
            attendees: self
                .attendees
                .iter()
                .map(|a| Attendee {
                    key: own(&a.key),
                    key_type: own(&a.key_type),
                    organization: own(&a.organization),
                    upn: own(&a.upn),
                    is_object_id: a.is_object_id,
                })
                .collect(),
            attendees_malformed: self.attendees_malformed,
        }
    }
}

pub fn is_meeting_operation(op: &str) -> bool {
    op.eq_ignore_ascii_case(MEETING_OPERATION)
}

/// simd-json's buffers and tape, built once per worker and reused for every record, and the
/// record layouts learned from what it parsed (`shapes`), which read most records without it.
pub struct AuditParser {
    buffers: simd_json::Buffers,
    tape: Tape<'static>,
    /// `None`: every record goes to simd-json (for tests that compare the two readers).
    shapes: Option<Shapes>,
    /// The last record's text before simd-json unescaped it in place: to learn its layout
    /// from, and for [`AuditParser::original`].
    raw: Vec<u8>,
    /// Whether `raw` holds the last record's text, which simd-json read.
    raw_kept: bool,
}

impl Default for AuditParser {
    fn default() -> Self {
        AuditParser::new()
    }
}

impl AuditParser {
    pub fn new() -> AuditParser {
        AuditParser {
            buffers: simd_json::Buffers::new(4096),
            tape: Tape(Vec::new()),
            shapes: Some(Shapes::default()),
            raw: Vec::new(),
            raw_kept: false,
        }
    }

    /// A parser that reads every record with simd-json, learning no layouts.
    pub fn simd_json_only() -> AuditParser {
        AuditParser { shapes: None, ..AuditParser::new() }
    }

    /// Parses `json` (modified in place: simd-json unescapes strings where they are) and hands
    /// the record to `f`. The closure form lets the tape be reused across records. `f` gets it
    /// by reference: a record is 432 bytes, and handing it on by value copied it once or twice
    /// a record (2% of a two-worker run on the bench archive).
    pub fn with_record<T>(
        &mut self,
        json: &mut [u8],
        f: impl FnOnce(Result<&AuditRecord<'_>, AuditError>) -> T,
    ) -> T {
        self.raw_kept = false;
        if let Some(shapes) = self.shapes.as_mut() {
            let mut rec = AuditRecord::default();
            if shapes.read_into(json, &mut rec).is_some() {
                return f(Ok(&rec));
            }
        }
        // Kept for every record simd-json reads (a small share where layouts are learned), so
        // that a row's text need not be saved before every parse in case it is skipped.
        self.raw.clear();
        self.raw.extend_from_slice(json);
        self.raw_kept = true;
        let learn = self.shapes.as_ref().is_some_and(Shapes::wants_to_learn);
        let mut tape: Tape<'_> = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape(json, &mut self.buffers, &mut tape) {
            Err(_) => Err(AuditError::NotJson),
            Ok(()) => read_record(tape.as_value()),
        };
        if let (true, Ok(_), Some(shapes)) = (learn, &result, self.shapes.as_mut()) {
            shapes.learn(&self.raw);
        }
        let out = f(result.as_ref().map_err(|e| *e));
        self.tape = tape.reset();
        out
    }
}

impl AuditParser {
    /// The text of the record [`AuditParser::with_record`] last read, as it was before simd-json
    /// unescaped it in place; `None` when that record was read without changing it.
    pub fn original(&self) -> Option<&[u8]> {
        self.raw_kept.then_some(self.raw.as_slice())
    }

    /// Parses `json` and hands the raw tape value to `f` (`None` if it is not JSON); for `show`,
    /// which prints every field of any operation.
    pub fn with_value<T>(
        &mut self,
        json: &mut [u8],
        f: impl FnOnce(Option<Value<'_, '_>>) -> T,
    ) -> T {
        self.raw_kept = false;
        let mut tape: Tape<'_> = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let out = match simd_json::fill_tape(json, &mut self.buffers, &mut tape) {
            Err(_) => f(None),
            Ok(()) => f(Some(tape.as_value())),
        };
        self.tape = tape.reset();
        out
    }
}

/// Text of a scalar: strings as they are, numbers and booleans as their JSON text (a phone
/// number given as a number is still a name); null, lists and objects have no text.
pub fn text<'a>(v: Value<'_, 'a>) -> Option<Cow<'a, str>> {
    if let Some(s) = v.into_string() {
        Some(Cow::Borrowed(s))
    } else if let Some(b) = v.as_bool() {
        Some(Cow::Borrowed(if b { "true" } else { "false" }))
    } else if let Some(i) = v.as_i64() {
        Some(Cow::Owned(i.to_string()))
    } else if let Some(u) = v.as_u64() {
        Some(Cow::Owned(u.to_string()))
    } else {
        v.as_f64().map(|f| Cow::Owned(f.to_string()))
    }
}

fn non_empty(t: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    t.filter(|s| !s.is_empty())
}

/// A time field's string: a time, or not one.
fn time_of(s: &str) -> TimeField {
    timestamp::parse(s.as_bytes()).map_or(TimeField::Invalid, TimeField::At)
}

fn time(v: Value<'_, '_>) -> TimeField {
    match v.as_str() {
        Some(s) => time_of(s),
        None if v.as_null().is_some() => TimeField::Missing,
        None => TimeField::Invalid,
    }
}

/// A value a record field is read from: a node of simd-json's tape, or a string that
/// `shapes` sliced from the text. The fields are set by the same code from either.
pub(crate) trait Scalar<'a> {
    fn text(self) -> Option<Cow<'a, str>>;
    fn time(self) -> TimeField;
}

impl<'a> Scalar<'a> for Value<'_, 'a> {
    fn text(self) -> Option<Cow<'a, str>> {
        text(self)
    }
    fn time(self) -> TimeField {
        time(self)
    }
}

impl<'a> Scalar<'a> for Cow<'a, str> {
    fn text(self) -> Option<Cow<'a, str>> {
        Some(self)
    }
    fn time(self) -> TimeField {
        time_of(&self)
    }
}

/// A top-level AuditData key the record is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Top {
    Id,
    Operation,
    CreationTime,
    MeetingId,
    OrganizerEmail,
    OrganizerId,
    OrganizerOrganization,
    MeetingType,
    Join,
    Leave,
    ClientIp,
    Device,
    /// A list of objects, read with [`AttendeeFields`].
    Attendees,
    /// A list of `{"Key": .., "Value": ..}`, where the UserAgent is.
    ExtraProperties,
}

impl Top {
    /// Keys are matched on their length first: each arm then compares a few machine words,
    /// where matching the strings alone compared each key with one pattern after another
    /// (every key of every record passes here).
    pub(crate) fn of(key: &str) -> Option<Top> {
        Some(match (key.len(), key) {
            (2, "Id") => Top::Id,
            (9, "Operation") => Top::Operation,
            (12, "CreationTime") => Top::CreationTime,
            (15, "MeetingDetailId") => Top::MeetingId,
            (6, "UserId") => Top::OrganizerEmail,
            (7, "UserKey") => Top::OrganizerId,
            (14, "OrganizationId") => Top::OrganizerOrganization,
            (8, "ItemName") => Top::MeetingType,
            (8, "JoinTime") => Top::Join,
            (9, "LeaveTime") => Top::Leave,
            (8, "ClientIP") => Top::ClientIp,
            (17, "DeviceInformation") => Top::Device,
            (9, "Attendees") => Top::Attendees,
            (15, "ExtraProperties") => Top::ExtraProperties,
            _ => return None,
        })
    }
}

impl<'a> AuditRecord<'a> {
    /// Sets the field of a scalar key (the two list keys are read by their own code).
    pub(crate) fn set(&mut self, key: Top, v: impl Scalar<'a>) {
        match key {
            Top::Id => self.id = v.text(),
            Top::Operation => self.operation = v.text(),
            Top::CreationTime => self.creation_time = v.time().ts(),
            Top::MeetingId => self.meeting_id = non_empty(v.text()),
            Top::OrganizerEmail => self.organizer_email = v.text().unwrap_or_default(),
            Top::OrganizerId => self.organizer_id = v.text().unwrap_or_default(),
            Top::OrganizerOrganization => {
                self.organizer_organization = v.text().unwrap_or_default()
            }
            Top::MeetingType => self.meeting_type = v.text().unwrap_or_default(),
            Top::Join => self.join = Some(v.time()),
            Top::Leave => self.leave = Some(v.time()),
            Top::ClientIp => self.client_ip = v.text().unwrap_or_default(),
            Top::Device => self.device = v.text().unwrap_or_default(),
            Top::Attendees | Top::ExtraProperties => {}
        }
    }

    /// Sets the UserAgent and the agent family shortened from it.
    pub(crate) fn set_user_agent(&mut self, agent: Cow<'a, str>) {
        // Both borrow the same text, except where it held escapes.
        self.property = agent_family(agent.clone());
        self.user_agent = agent;
    }
}

/// A key of an `Attendees` entry the attendee is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    ObjectId,
    DisplayName,
    RecipientType,
    Organization,
    Upn,
}

impl Who {
    pub(crate) fn of(key: &str) -> Option<Who> {
        Some(match (key.len(), key) {
            (12, "UserObjectId") => Who::ObjectId,
            (11, "DisplayName") => Who::DisplayName,
            (13, "RecipientType") => Who::RecipientType,
            (14, "OrganizationId") => Who::Organization,
            (3, "UPN") => Who::Upn,
            _ => return None,
        })
    }
}

/// One `Attendees` entry as its keys come; [`AttendeeFields::finish`] makes the attendee.
#[derive(Debug, Default)]
pub(crate) struct AttendeeFields<'a> {
    a: Attendee<'a>,
    object_id: Option<Cow<'a, str>>,
    display: Option<Cow<'a, str>>,
}

impl<'a> AttendeeFields<'a> {
    pub(crate) fn set(&mut self, key: Who, v: impl Scalar<'a>) {
        match key {
            Who::ObjectId => self.object_id = non_empty(v.text()),
            Who::DisplayName => self.display = non_empty(v.text()),
            Who::RecipientType => self.a.key_type = v.text().unwrap_or_default(),
            Who::Organization => self.a.organization = v.text().unwrap_or_default(),
            Who::Upn => self.a.upn = v.text().unwrap_or_default(),
        }
    }

    pub(crate) fn finish(self) -> Attendee<'a> {
        let mut a = self.a;
        a.is_object_id = self.object_id.is_some();
        a.key = self.object_id.or(self.display).unwrap_or_default();
        if a.key_type.is_empty() {
            a.key_type = Cow::Borrowed("?");
        }
        a
    }
}

fn read_record<'a>(root: Value<'_, 'a>) -> Result<AuditRecord<'a>, AuditError> {
    let obj = root.as_object().ok_or(AuditError::NotObject)?;
    let mut rec = AuditRecord::default();
    let mut attendees = None;
    let mut extra = None;
    for (key, v) in obj.iter() {
        match Top::of(key) {
            Some(Top::Attendees) => attendees = Some(v),
            Some(Top::ExtraProperties) => extra = Some(v),
            Some(key) => rec.set(key, v),
            None => {}
        }
    }
    if let Some(v) = attendees {
        if let Some(list) = v.as_array() {
            rec.attendees.extend(list.iter().filter_map(attendee));
        } else if let Some(one) = attendee(v) {
            // A single object where a list belongs: keep the attendee rather than lose it.
            rec.attendees.push(one);
        } else if v.as_null().is_none() {
            rec.attendees_malformed = true;
        }
    }
    if let Some(agent) = extra.and_then(user_agent) {
        rec.set_user_agent(agent);
    }
    Ok(rec)
}

fn attendee<'a>(v: Value<'_, 'a>) -> Option<Attendee<'a>> {
    let obj = v.as_object()?;
    let mut a = AttendeeFields::default();
    for (key, v) in obj.iter() {
        if let Some(key) = Who::of(key) {
            a.set(key, v);
        }
    }
    Some(a.finish())
}

/// The `Value` of the first `{"Key": "UserAgent", ...}` entry of ExtraProperties.
fn user_agent<'a>(v: Value<'_, 'a>) -> Option<Cow<'a, str>> {
    v.as_array()?.iter().find_map(|entry| {
        let entry = entry.as_object()?;
        (entry.get("Key")?.as_str()? == "UserAgent").then(|| entry.get("Value").and_then(text))?
    })
}

/// SPEC 2 "Property": the agent family of a UserAgent string.
pub fn agent_family(agent: Cow<'_, str>) -> Cow<'_, str> {
    if agent.starts_with("SkypeSpaces") {
        Cow::Borrowed("SkypeSpaces")
    } else if agent.starts_with(|c: char| c.is_ascii_digit()) {
        Cow::Borrowed("Some Agent")
    } else {
        // A byte search: `str::find` builds a two-way searcher for every call.
        match agent.as_bytes().windows(2).position(|w| w == b" (") {
            None => agent,
            Some(cut) => match agent {
                Cow::Borrowed(s) => Cow::Borrowed(&s[..cut]),
                Cow::Owned(mut s) => {
                    s.truncate(cut);
                    Cow::Owned(s)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AuditRecord<'static>, AuditError> {
        let mut buf = json.as_bytes().to_vec();
        AuditParser::new().with_record(&mut buf, |r| r.map(AuditRecord::to_owned_record))
    }

    #[test]
    fn reads_a_meeting_record() {
        let r = parse(
            r#"{"CreationTime":"2024-03-05T09:12:44","Id":"a1","Operation":"MeetingParticipantDetail",
            "Attendees":[{"UserObjectId":"u1","DisplayName":"Zoë \"Z\"","RecipientType":"User","UPN":"z@x"},
                         {"DisplayName":14255550100,"RecipientType":"Phone"},{"Role":"x"}, 5],
            "JoinTime":"2024-03-05T09:00:00","LeaveTime":"soon","MeetingDetailId":"m1",
            "DeviceInformation":"Win, \"Teams\"",
            "ExtraProperties":[{"Key":"Other","Value":"1"},{"Key":"UserAgent","Value":"Mozilla/5.0 (Windows NT 10.0)"}]}"#,
        )
        .unwrap();
        assert!(r.is_meeting_detail());
        assert_eq!(r.id.as_deref(), Some("a1"));
        assert_eq!(r.meeting_id.as_deref(), Some("m1"));
        assert_eq!(r.creation_time, timestamp::parse(b"2024-03-05T09:12:44"));
        assert_eq!(r.join, Some(TimeField::At(timestamp::parse(b"2024-03-05T09:00:00").unwrap())));
        assert_eq!(r.leave, Some(TimeField::Invalid));
        assert_eq!(r.device, "Win, \"Teams\"");
        assert_eq!(r.property, "Mozilla/5.0");
        let keys: Vec<(&str, &str, &str)> =
            r.attendees.iter().map(|a| (&*a.key, &*a.key_type, &*a.upn)).collect();
        assert_eq!(keys, [("u1", "User", "z@x"), ("14255550100", "Phone", ""), ("", "?", "")]);
    }

    #[test]
    fn shapes_that_are_not_records() {
        assert_eq!(parse("{not json").unwrap_err(), AuditError::NotJson);
        assert_eq!(parse("[1,2]").unwrap_err(), AuditError::NotObject);
        let r = parse(r#"{"Attendees":{"DisplayName":"solo"},"JoinTime":5}"#).unwrap();
        assert_eq!(r.attendees.len(), 1);
        assert_eq!(r.attendees[0].key, "solo");
        assert_eq!(r.join, Some(TimeField::Invalid));
        assert!(parse(r#"{"Attendees":"nobody"}"#).unwrap().attendees_malformed);
    }

    #[test]
    fn agent_families() {
        let fam = |s: &str| agent_family(Cow::Borrowed(s)).into_owned();
        assert_eq!(fam("SkypeSpaces/1415/24010.1.0"), "SkypeSpaces");
        assert_eq!(fam("10.0.1.0 (SomeThing)"), "Some Agent");
        assert_eq!(fam("Microsoft Teams/24033 (Windows)"), "Microsoft Teams/24033");
        assert_eq!(fam("CallSignalingAgent"), "CallSignalingAgent");
    }
}
