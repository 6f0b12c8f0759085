//! Audit record: the AuditData JSON of one row, parsed with simd-json into a tape (reused per
//! worker) and read once, key by key, into a typed record that borrows its strings from the row
//! buffer. Only what the reports use is kept. Previous stage: `source::csv`; next:
//! `state`.

use std::borrow::Cow;

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};
use smallvec::SmallVec;

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
}

pub fn is_meeting_operation(op: &str) -> bool {
    op.eq_ignore_ascii_case(MEETING_OPERATION)
}

/// simd-json's buffers and tape, built once per worker and reused for every record.
pub struct AuditParser {
    buffers: simd_json::Buffers,
    tape: Tape<'static>,
}

impl Default for AuditParser {
    fn default() -> Self {
        AuditParser::new()
    }
}

impl AuditParser {
    pub fn new() -> AuditParser {
        AuditParser { buffers: simd_json::Buffers::new(4096), tape: Tape(Vec::new()) }
    }

    /// Parses `json` (modified in place: simd-json unescapes strings where they are) and hands
    /// the record to `f`. The closure form lets the tape be reused across records.
    pub fn with_record<T>(
        &mut self,
        json: &mut [u8],
        f: impl FnOnce(Result<AuditRecord<'_>, AuditError>) -> T,
    ) -> T {
        let mut tape: Tape<'_> = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape(json, &mut self.buffers, &mut tape) {
            Err(_) => Err(AuditError::NotJson),
            Ok(()) => read_record(tape.as_value()),
        };
        let out = f(result);
        self.tape = tape.reset();
        out
    }
}

impl AuditParser {
    /// Parses `json` and hands the raw tape value to `f` (`None` if it is not JSON); for `show`,
    /// which prints every field of any operation.
    pub fn with_value<T>(
        &mut self,
        json: &mut [u8],
        f: impl FnOnce(Option<Value<'_, '_>>) -> T,
    ) -> T {
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

fn text_or_empty<'a>(v: Option<Value<'_, 'a>>) -> Cow<'a, str> {
    v.and_then(text).unwrap_or_default()
}

fn non_empty(t: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    t.filter(|s| !s.is_empty())
}

fn time(v: Value<'_, '_>) -> TimeField {
    match v.as_str() {
        Some(s) => timestamp::parse(s.as_bytes()).map_or(TimeField::Invalid, TimeField::At),
        None if v.as_null().is_some() => TimeField::Missing,
        None => TimeField::Invalid,
    }
}

fn read_record<'a>(root: Value<'_, 'a>) -> Result<AuditRecord<'a>, AuditError> {
    let obj = root.as_object().ok_or(AuditError::NotObject)?;
    let mut rec = AuditRecord::default();
    let mut attendees = None;
    let mut extra = None;
    // Keys are matched on their length first: each arm then compares a few machine words,
    // where matching the strings alone compared each key with one pattern after another
    // (every key of every record passes here).
    for (key, v) in obj.iter() {
        match (key.len(), key) {
            (2, "Id") => rec.id = text(v),
            (9, "Operation") => rec.operation = text(v),
            (12, "CreationTime") => rec.creation_time = time(v).ts(),
            (15, "MeetingDetailId") => rec.meeting_id = non_empty(text(v)),
            (6, "UserId") => rec.organizer_email = text_or_empty(Some(v)),
            (7, "UserKey") => rec.organizer_id = text_or_empty(Some(v)),
            (14, "OrganizationId") => rec.organizer_organization = text_or_empty(Some(v)),
            (8, "ItemName") => rec.meeting_type = text_or_empty(Some(v)),
            (8, "JoinTime") => rec.join = Some(time(v)),
            (9, "LeaveTime") => rec.leave = Some(time(v)),
            (8, "ClientIP") => rec.client_ip = text_or_empty(Some(v)),
            (17, "DeviceInformation") => rec.device = text_or_empty(Some(v)),
            (9, "Attendees") => attendees = Some(v),
            (15, "ExtraProperties") => extra = Some(v),
            _ => {}
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
        // Both borrow the same text, except where it held escapes.
        rec.property = agent_family(agent.clone());
        rec.user_agent = agent;
    }
    Ok(rec)
}

fn attendee<'a>(v: Value<'_, 'a>) -> Option<Attendee<'a>> {
    let obj = v.as_object()?;
    let mut a = Attendee::default();
    let (mut object_id, mut display) = (None, None);
    for (key, v) in obj.iter() {
        match (key.len(), key) {
            (12, "UserObjectId") => object_id = non_empty(text(v)),
            (11, "DisplayName") => display = non_empty(text(v)),
            (13, "RecipientType") => a.key_type = text_or_empty(Some(v)),
            (14, "OrganizationId") => a.organization = text_or_empty(Some(v)),
            (3, "UPN") => a.upn = text_or_empty(Some(v)),
            _ => {}
        }
    }
    a.is_object_id = object_id.is_some();
    a.key = object_id.or(display).unwrap_or_default();
    if a.key_type.is_empty() {
        a.key_type = Cow::Borrowed("?");
    }
    Some(a)
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
        match agent.find(" (") {
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
        AuditParser::new().with_record(&mut buf, |r| {
            r.map(|r| AuditRecord {
                id: r.id.map(|c| Cow::Owned(c.into_owned())),
                operation: r.operation.map(|c| Cow::Owned(c.into_owned())),
                meeting_id: r.meeting_id.map(|c| Cow::Owned(c.into_owned())),
                device: Cow::Owned(r.device.into_owned()),
                property: Cow::Owned(r.property.into_owned()),
                user_agent: Cow::Owned(r.user_agent.into_owned()),
                attendees: r
                    .attendees
                    .into_iter()
                    .map(|a| Attendee {
                        key: Cow::Owned(a.key.into_owned()),
                        key_type: Cow::Owned(a.key_type.into_owned()),
                        organization: Cow::Owned(a.organization.into_owned()),
                        upn: Cow::Owned(a.upn.into_owned()),
                        is_object_id: a.is_object_id,
                    })
                    .collect(),
                join: r.join,
                leave: r.leave,
                creation_time: r.creation_time,
                attendees_malformed: r.attendees_malformed,
                ..AuditRecord::default()
            })
        })
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
