//! Fast: the typed record read from AuditData in one pass over its text, without simd-json's
//! tape. NOT WIRED IN: measured on a bench-archive export it reads 525-589 MB/s against
//! simd-json's 559-610 MB/s (tape, walk and typed record, AVX2), so it bought nothing; kept in
//! history for the "Throughput II" issue, whose 3,000 MB/s extractor does not check the JSON
//! grammar as this one does.
//! A full run spent about three times as long building the tape and walking it as
//! scanning the CSV (README "Performance"). This reader checks the JSON's grammar as it goes
//! ([`peek`](super::peek)'s cursor), keeps the fields `auditdata::read_record` keeps, by the
//! same rules, and gives up (`None`) wherever it might read a record differently: then the
//! row goes to simd-json. Unit tests, proptests and the `auditdata` fuzz target hold it to the
//! full parser's reading.
//!
//! It gives up on: text that is not UTF-8 (the full run reads it again with U+FFFD and warns),
//! whitespace other than spaces, surrogate escapes, numbers where text is kept (the full parser
//! formats them anew), numbers it does not check to the last digit (exponents, more than 18
//! digits), an ExtraProperties entry with its Key or Value twice (read by lookup, not in
//! order), nesting over 64 levels, and anything that is not valid JSON.

use std::borrow::Cow;

use smallvec::SmallVec;

use super::auditdata::{agent_family, Attendee, AuditRecord, TimeField};
use super::peek::Peeker;
use crate::timestamp;

/// The record in `json`, as `AuditParser::with_record` reads it, or `None` when not sure.
pub fn record(json: &[u8]) -> Option<AuditRecord<'_>> {
    std::str::from_utf8(json).ok()?;
    let mut p = Peeker { j: json, i: 0 };
    let mut rec = AuditRecord::default();
    // The last Attendees and ExtraProperties win, as the last of any repeated key does.
    let mut attendees: Option<(SmallVec<[Attendee<'_>; 1]>, bool)> = None;
    let mut agent: Option<Option<Cow<'_, str>>> = None;
    p.ws();
    p.byte(b'{')?;
    p.ws();
    if !p.eat(b'}') {
        loop {
            p.ws();
            let key = p.key()?;
            p.ws();
            p.byte(b':')?;
            p.ws();
            match &*key {
                b"Id" => rec.id = p.scalar_text()?,
                b"Operation" => rec.operation = p.scalar_text()?,
                b"CreationTime" => rec.creation_time = time(&mut p)?.ts(),
                b"MeetingDetailId" => {
                    rec.meeting_id = p.scalar_text()?.filter(|t| !t.is_empty());
                }
                b"UserId" => rec.organizer_email = p.scalar_text()?.unwrap_or_default(),
                b"UserKey" => rec.organizer_id = p.scalar_text()?.unwrap_or_default(),
                b"OrganizationId" => {
                    rec.organizer_organization = p.scalar_text()?.unwrap_or_default();
                }
                b"ItemName" => rec.meeting_type = p.scalar_text()?.unwrap_or_default(),
                b"JoinTime" => rec.join = Some(time(&mut p)?),
                b"LeaveTime" => rec.leave = Some(time(&mut p)?),
                b"ClientIP" => rec.client_ip = p.scalar_text()?.unwrap_or_default(),
                b"DeviceInformation" => rec.device = p.scalar_text()?.unwrap_or_default(),
                b"Attendees" => attendees = Some(attendee_list(&mut p)?),
                b"ExtraProperties" => agent = Some(user_agent(&mut p)?),
                _ => p.value()?,
            }
            p.ws();
            if p.eat(b',') {
                continue;
            }
            p.byte(b'}')?;
            break;
        }
    }
    if !p.end() {
        return None;
    }
    if let Some((list, malformed)) = attendees {
        rec.attendees = list;
        rec.attendees_malformed = malformed;
    }
    if let Some(agent) = agent.flatten() {
        rec.property = agent_family(agent);
    }
    Some(rec)
}

/// `auditdata::time`: a string is a time or invalid, null is missing, anything else invalid.
fn time(p: &mut Peeker<'_>) -> Option<TimeField> {
    match p.j.get(p.i)? {
        b'"' => {
            let s = p.string()?;
            Some(timestamp::parse(s.as_bytes()).map_or(TimeField::Invalid, TimeField::At))
        }
        b'n' => p.literal(b"null").map(|()| TimeField::Missing),
        _ => p.value().map(|()| TimeField::Invalid),
    }
}

/// The members of the object at the cursor, each handed to `member` with the cursor on its
/// value (which `member` must read or skip).
fn members<'a>(
    p: &mut Peeker<'a>,
    mut member: impl FnMut(&mut Peeker<'a>, &[u8]) -> Option<()>,
) -> Option<()> {
    p.byte(b'{')?;
    p.ws();
    if p.eat(b'}') {
        return Some(());
    }
    loop {
        p.ws();
        let key = p.key()?;
        p.ws();
        p.byte(b':')?;
        p.ws();
        member(p, &key)?;
        p.ws();
        if p.eat(b',') {
            continue;
        }
        return p.byte(b'}');
    }
}

/// The elements of the array at the cursor, each handed to `element` with the cursor on it.
fn elements<'a>(
    p: &mut Peeker<'a>,
    mut element: impl FnMut(&mut Peeker<'a>) -> Option<()>,
) -> Option<()> {
    p.byte(b'[')?;
    p.ws();
    if p.eat(b']') {
        return Some(());
    }
    loop {
        p.ws();
        element(p)?;
        p.ws();
        if p.eat(b',') {
            continue;
        }
        return p.byte(b']');
    }
}

/// `Attendees`: a list's objects (other elements are skipped), a single object, nothing for
/// null, and "malformed" for any other value.
fn attendee_list<'a>(p: &mut Peeker<'a>) -> Option<(SmallVec<[Attendee<'a>; 1]>, bool)> {
    let mut list = SmallVec::new();
    match p.j.get(p.i)? {
        b'[' => elements(p, |p| {
            if p.j.get(p.i) == Some(&b'{') {
                list.push(attendee(p)?);
                Some(())
            } else {
                p.value()
            }
        })?,
        b'{' => list.push(attendee(p)?),
        b'n' => p.literal(b"null")?,
        _ => {
            p.value()?;
            return Some((list, true));
        }
    }
    Some((list, false))
}

/// `auditdata::attendee`: the key is UserObjectId, else DisplayName (neither empty); the
/// type `?` when there is none.
fn attendee<'a>(p: &mut Peeker<'a>) -> Option<Attendee<'a>> {
    let mut a = Attendee::default();
    let (mut object_id, mut display) = (None, None);
    members(p, |p, key| {
        match key {
            b"UserObjectId" => object_id = p.scalar_text()?.filter(|t| !t.is_empty()),
            b"DisplayName" => display = p.scalar_text()?.filter(|t| !t.is_empty()),
            b"RecipientType" => a.key_type = p.scalar_text()?.unwrap_or_default(),
            b"OrganizationId" => a.organization = p.scalar_text()?.unwrap_or_default(),
            b"UPN" => a.upn = p.scalar_text()?.unwrap_or_default(),
            _ => p.value()?,
        }
        Some(())
    })?;
    a.is_object_id = object_id.is_some();
    a.key = object_id.or(display).unwrap_or_default();
    if a.key_type.is_empty() {
        a.key_type = Cow::Borrowed("?");
    }
    Some(a)
}

/// `auditdata::user_agent`: the text of the Value of the first entry whose Key is the string
/// `UserAgent` and whose Value has text; `Some(None)` when there is none (or no list).
fn user_agent<'a>(p: &mut Peeker<'a>) -> Option<Option<Cow<'a, str>>> {
    if p.j.get(p.i) != Some(&b'[') {
        return p.value().map(|()| None);
    }
    let mut found = None;
    elements(p, |p| {
        if p.j.get(p.i) != Some(&b'{') {
            return p.value();
        }
        // Key and Value are looked up, not read in order: a repeated one is left to simd-json.
        // Outer None: not seen; inner None: seen, without text.
        type Seen<'a> = Option<Option<Cow<'a, str>>>;
        let (mut key, mut value): (Seen<'a>, Seen<'a>) = (None, None);
        members(p, |p, name| {
            match name {
                b"Key" if key.is_none() => {
                    key = Some(if p.j.get(p.i) == Some(&b'"') {
                        Some(p.string()?)
                    } else {
                        p.value()?;
                        None
                    });
                }
                b"Value" if value.is_none() => value = Some(p.scalar_text()?),
                b"Key" | b"Value" => return None,
                _ => p.value()?,
            }
            Some(())
        })?;
        if found.is_none() && key.flatten().as_deref() == Some("UserAgent") {
            found = value.flatten();
        }
        Some(())
    })?;
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::auditdata::{AuditError, AuditParser};

    /// The record as the full parser reads it, with its strings owned.
    fn full(json: &[u8]) -> Result<AuditRecord<'static>, AuditError> {
        let mut buf = json.to_vec();
        AuditParser::new().with_record(&mut buf, |r| r.map(owned))
    }

    fn owned(r: AuditRecord<'_>) -> AuditRecord<'static> {
        let o = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        AuditRecord {
            id: r.id.map(o),
            operation: r.operation.map(o),
            creation_time: r.creation_time,
            meeting_id: r.meeting_id.map(o),
            organizer_email: o(r.organizer_email),
            organizer_id: o(r.organizer_id),
            organizer_organization: o(r.organizer_organization),
            meeting_type: o(r.meeting_type),
            join: r.join,
            leave: r.leave,
            client_ip: o(r.client_ip),
            device: o(r.device),
            property: o(r.property),
            attendees: r
                .attendees
                .into_iter()
                .map(|a| Attendee {
                    key: o(a.key),
                    key_type: o(a.key_type),
                    organization: o(a.organization),
                    upn: o(a.upn),
                    is_object_id: a.is_object_id,
                })
                .collect(),
            attendees_malformed: r.attendees_malformed,
        }
    }

    /// Checks that whatever `record` reads of `json` is what the full parser reads; returns
    /// whether it read it.
    fn agrees(json: &[u8]) -> bool {
        match record(json).map(owned) {
            Some(fast) => {
                let shown = String::from_utf8_lossy(json);
                assert_eq!(full(json), Ok(fast), "{shown}");
                true
            }
            None => false,
        }
    }

    const MEETING: &str = r#"{"CreationTime":"2024-03-05T09:12:44","Id":"a1","Operation":"MeetingParticipantDetail","OrganizationId":"org","RecordType":25,"UserKey":"k1","UserType":0,"Version":1,"Workload":"MicrosoftTeams","ClientIP":"20.1.2.3:5000","UserId":"o@x.com","ArtifactsShared":[],"Attendees":[{"OrganizationId":"org","RecipientType":"User","UserObjectId":"u1","DisplayName":"Zoë \"Z\"","UPN":"z@x"},{"DisplayName":"Guest","RecipientType":"Anonymous"},{"Role":"x"},5],"ExtraProperties":[{"Key":"Other","Value":"1"},{"Key":"UserAgent","Value":"Mozilla/5.0 (Windows NT 10.0)"}],"ItemName":"ScheduledMeeting","JoinTime":"2024-03-05T09:00:00","LeaveTime":"2024-03-05T09:30:00","MeetingDetailId":"m1","DeviceInformation":"Win, \"Teams\""}"#;

    #[test]
    fn reads_records_as_the_full_parser_does() {
        let read = [
            MEETING,
            r#"{}"#,
            r#" { "Id" : "x" , "JoinTime" : null , "LeaveTime" : 5 , "CreationTime" : true } "#,
            // The last of repeated keys wins, Attendees and ExtraProperties too.
            r#"{"Id":"a","Id":"b","Attendees":[{"DisplayName":"x"}],"Attendees":null}"#,
            r#"{"Attendees":{"DisplayName":"solo","DisplayName":"","UserObjectId":""}}"#,
            r#"{"Attendees":"nobody"}"#,
            r#"{"Attendees":[],"Attendees":7}"#,
            r#"{"ExtraProperties":[{"Key":"UserAgent","Value":null},{"Key":"UserAgent","Value":"SkypeSpaces/1"}]}"#,
            r#"{"ExtraProperties":[{"Value":"a","Key":"UserAgent"}],"ExtraProperties":{"Key":"UserAgent"}}"#,
            r#"{"ExtraProperties":[1,{"Key":["UserAgent"],"Value":"x"},{"Key":"User\u0041gent","Value":true}]}"#,
            // Escapes are decoded; nested keys are not the record's.
            r#"{"Us\u0065rId":"a\/b\\c\n","x":{"Id":"no","Attendees":[1]},"MeetingDetailId":""}"#,
            r#"{"Id":true,"MeetingDetailId":false,"ClientIP":[1,2],"DeviceInformation":{"a":-1.5}}"#,
        ];
        for json in read {
            assert!(agrees(json.as_bytes()), "not read: {json}");
        }
        let r = record(MEETING.as_bytes()).expect("read");
        assert_eq!(r.property, "Mozilla/5.0");
        assert_eq!(r.attendees.len(), 3);
        assert!(matches!(r.organizer_email, Cow::Borrowed(_)));
        assert!(matches!(r.attendees[0].key, Cow::Borrowed(_)));
        // Left to the full parser.
        let left = [
            r#"{"Id":5}"#,
            r#"{"Attendees":[{"DisplayName":14255550100}]}"#,
            r#"{"MeetingDetailId":12}"#,
            "{\"Id\":\"x\"}\n",
            r#"{"Id":"\ud83d\ude00"}"#,
            r#"{"ExtraProperties":[{"Key":"UserAgent","Key":"x","Value":"v"}]}"#,
            r#"{"ExtraProperties":[{"Key":"UserAgent","Value":2}]}"#,
            r#"{"a":1e5}"#,
            r#"{"a":[}"#,
            r#"{"Id":"x",}"#,
            r#"[{"Id":"x"}]"#,
        ];
        for json in left {
            assert!(record(json.as_bytes()).is_none(), "read: {json}");
        }
        assert!(record(b"{\"Id\":\"\xff\"}").is_none());
    }

    /// Pieces of records, and of text that is not quite JSON.
    const PIECES: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b" ",
        b"\"Id\"",
        b"\"Attendees\"",
        b"\"ExtraProperties\"",
        b"\"Key\"",
        b"\"Value\"",
        b"\"UserAgent\"",
        b"\"UserObjectId\"",
        b"\"DisplayName\"",
        b"\"RecipientType\"",
        b"\"JoinTime\"",
        b"\"MeetingDetailId\"",
        b"\"2024-03-05T09:12:44\"",
        b"\"Mozilla/5.0 (X)\"",
        b"\"a\\\"b\\u00e9\"",
        b"\"\"",
        b"null",
        b"true",
        b"-1.5",
        b"7",
        b"\\",
        b"\"",
        b"\n",
        b"\xff",
    ];

    proptest::proptest! {
        /// On any bytes made of records' pieces, whatever `record` reads is what the full
        /// parser reads.
        #[test]
        fn never_disagrees_with_the_full_parser(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..30),
        ) {
            agrees(&parts.concat());
        }

        /// Records of the usual shape, with any text in their fields, are read, and read alike.
        #[test]
        fn reads_usual_records(
            texts in proptest::collection::vec("[ -~é\"\\\\/\u{7f}-\u{2fff}]{0,12}", 8),
            join in 0i64..4_000_000_000,
            attendees in 0usize..4,
        ) {
            let when = timestamp::format(join);
            let people: Vec<serde_json::Value> = (0..attendees)
                .map(|k| serde_json::json!({
                    "UserObjectId": texts[k % 8], "DisplayName": texts[(k + 1) % 8],
                    "RecipientType": "User", "UPN": texts[(k + 2) % 8],
                }))
                .collect();
            let json = serde_json::json!({
                "Id": texts[0], "Operation": "MeetingParticipantDetail", "CreationTime": when,
                "MeetingDetailId": texts[1], "UserId": texts[2], "UserKey": texts[3],
                "ItemName": texts[4], "ClientIP": texts[5], "DeviceInformation": texts[6],
                "JoinTime": when, "LeaveTime": texts[7], "Attendees": people,
                "ExtraProperties": [{"Key": "UserAgent", "Value": texts[7]}],
            })
            .to_string();
            proptest::prop_assert!(agrees(json.as_bytes()), "not read: {}", json);
        }
    }
}
