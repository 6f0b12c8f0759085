//! Shapes: the AuditData of one tenant's records comes in a handful of layouts, the same keys
//! in the same order with only the string values changing (eight layouts hold 99% of the bench
//! archive's records). `auditdata` teaches each layout it parses with simd-json to [`Shapes`],
//! which then reads records of a known layout itself: it compares the text between string
//! values with the learned text and slices out the values, so a record costs a comparison per
//! value instead of a JSON parse and a walk of its tape. Every other record goes to simd-json.
//!
//! Why a record it reads gets exactly the fields simd-json would give it: the record it was
//! learned from was valid JSON (simd-json said so) and had the same text outside its string
//! values; a record read here has, in those values, only characters JSON allows unescaped and
//! valid escapes (`\u` ones of whole surrogate pairs only), and is valid UTF-8. So it is valid
//! JSON with the same keys, nesting and non-string values, and the fields are set by the same
//! code (`AuditRecord::set`, `AttendeeFields`) from the same keys. Anything else (half a
//! surrogate pair, a control byte, a layout not learned) is simd-json's to read. The learner
//! declines layouts whose reading depends on more than the keys (a repeated key, a field that
//! is not a string, `Attendees` that is not a list of objects), so those always go to
//! simd-json too.

use std::borrow::Cow;

use smallvec::SmallVec;

use super::auditdata::{AttendeeFields, AuditRecord, Top, Who};
use crate::lex::{string_end, unescape};

/// Learned text is bounded: a tenant whose records take ever new layouts stops teaching new
/// ones here (they are read by simd-json, as before), and the memory stays small.
const MAX_NODES: usize = 4096;
const MAX_TEXT: usize = 1 << 20;
/// Deeper records are left to simd-json (the learner recurses).
const MAX_DEPTH: usize = 32;
/// More `Attendees` or ExtraProperties entries than this in one record: left to simd-json.
const MAX_ENTRIES: usize = 1024;
/// Zero bytes after each piece's text (see [`starts_with`]).
const PAD: usize = 16;

/// What the string value after a node's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not a field: only checked.
    Ignore,
    Top(Top),
    /// A key of the n-th entry of `Attendees`.
    Attendee(u16, Who),
    /// The `Value` of the n-th entry of ExtraProperties.
    Extra(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A string value follows the node's text.
    Slot(Slot),
    /// The record ends with the node's text. It had this many `Attendees` entries, and this
    /// ExtraProperties entry is the first whose `Key` is `UserAgent` (and has a `Value`): which
    /// entry that is shows only once the whole text is known, so a slot does not say it.
    End { attendees: u16, agent: Option<u16> },
}

/// A piece of a layout: the text up to and including the opening quote of a string value (or
/// to the end of the record), and what comes after it. The first piece starts the record;
/// the others start with the closing quote of the value before them.
#[derive(Debug)]
struct Node {
    /// The text, then [`PAD`] zero bytes, so that it can be compared 16 bytes at a time.
    text: Box<[u8]>,
    step: Step,
    /// The pieces that may follow the value (none after an end).
    next: Vec<u32>,
}

impl Node {
    /// The length of the text, without its padding.
    fn len(&self) -> usize {
        self.text.len().saturating_sub(PAD)
    }
}

/// The layouts learned so far, as a tree of pieces: layouts that begin alike share their first
/// pieces, and reading a record walks one path of the tree. What a piece's step is follows
/// from the text before it, so no two siblings hold the same text and a walk never has to
/// come back to try another branch.
#[derive(Debug, Default)]
pub struct Shapes {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    text_bytes: usize,
    /// Records offered to `read`, and learning attempts that taught nothing: learning stops
    /// paying for itself when most attempts are records that no layout can hold.
    offered: u64,
    wasted: u64,
}

impl Shapes {
    /// Whether a record `read` did not take is worth learning from.
    pub fn wants_to_learn(&self) -> bool {
        self.nodes.len() < MAX_NODES
            && self.text_bytes < MAX_TEXT
            && self.wasted.saturating_mul(16) <= self.offered + 256
    }

    /// The record, when `json` has a learned layout and its values hold nothing unusual. For
    /// tests: the parser reads with [`Shapes::read_into`].
    #[cfg(test)]
    fn read<'a>(&mut self, json: &'a [u8]) -> Option<AuditRecord<'a>> {
        let mut rec = AuditRecord::default();
        self.read_into(json, &mut rec).map(|()| rec)
    }

    /// The record, when `json` has a learned layout and its values hold nothing unusual, read
    /// into `rec`, a default record, which is left half-filled when `json` is not taken. The
    /// parser's caller keeps the record where it is: returned, its 432 bytes were copied once
    /// or twice a record (0.7% of a run).
    pub fn read_into<'a>(&mut self, json: &'a [u8], rec: &mut AuditRecord<'a>) -> Option<()> {
        self.offered += 1;
        if self.roots.is_empty() {
            return None;
        }
        // One pass of simdutf8 (which simd-json uses too) over the record; checking each value
        // with `str::from_utf8` instead was slower, though most values are short and ASCII.
        let text = simdutf8::basic::from_utf8(json).ok()?;
        let bytes = text.as_bytes();
        let mut attendees: SmallVec<[AttendeeFields<'a>; 1]> = SmallVec::new();
        let mut extra: SmallVec<[(u16, Cow<'a, str>); 2]> = SmallVec::new();
        let mut pos = 0;
        let mut next: &[u32] = &self.roots;
        loop {
            let rest = bytes.get(pos..)?;
            let node = next.iter().filter_map(|&i| self.nodes.get(i as usize)).find(|n| {
                starts_with(rest, &n.text, n.len())
                    && (n.len() == rest.len() || matches!(n.step, Step::Slot(_)))
            })?;
            pos += node.len();
            let slot = match node.step {
                Step::Slot(slot) => slot,
                Step::End { attendees: n, agent } => {
                    let n = usize::from(n);
                    if attendees.len() > n {
                        return None;
                    }
                    attendees.resize_with(n, AttendeeFields::default);
                    rec.attendees.extend(attendees.into_iter().map(AttendeeFields::finish));
                    if let Some(i) = agent {
                        let (_, agent) = extra.into_iter().find(|(entry, _)| *entry == i)?;
                        rec.set_user_agent(agent);
                    }
                    return Some(());
                }
            };
            let (end, escaped) = string_end(bytes, pos)?;
            if slot != Slot::Ignore {
                let raw = text.get(pos..end)?;
                // Built here, not by a closure called from each arm: the closure's result came
                // back through memory and stalled the load that read it (a fifth of this
                // function's time).
                let value = match escaped {
                    true => Cow::Owned(String::from_utf8(unescape(raw.as_bytes())?).ok()?),
                    false => Cow::Borrowed(raw),
                };
                match slot {
                    Slot::Ignore => {}
                    Slot::Top(key) => rec.set(key, value),
                    Slot::Attendee(i, key) => {
                        let i = usize::from(i);
                        if attendees.len() <= i {
                            attendees.resize_with(i + 1, AttendeeFields::default);
                        }
                        attendees.get_mut(i)?.set(key, value);
                    }
                    Slot::Extra(i) => extra.push((i, value)),
                }
            }
            pos = end;
            next = &node.next;
        }
    }

    /// Learns the layout of `json`, a record simd-json has read as an object. Returns whether
    /// it taught anything new.
    pub fn learn(&mut self, json: &[u8]) -> bool {
        let pieces = Learner::new(json).layout();
        let added = pieces.is_some_and(|pieces| self.insert(json, &pieces));
        if !added {
            self.wasted += 1;
        }
        added
    }

    fn insert(&mut self, json: &[u8], pieces: &[(std::ops::Range<usize>, Step)]) -> bool {
        let mut parent: Option<usize> = None;
        let mut added = false;
        for (range, step) in pieces {
            let Some(text) = json.get(range.clone()) else { return added };
            let siblings = match parent {
                None => &self.roots,
                Some(p) => &self.nodes[p].next,
            };
            let found = siblings.iter().copied().find(|&i| {
                let n = &self.nodes[i as usize];
                n.step == *step && n.text.get(..n.len()) == Some(text)
            });
            let at = match found {
                Some(i) => i as usize,
                None => {
                    let at = self.nodes.len();
                    let mut padded = text.to_vec();
                    padded.resize(text.len() + PAD, 0);
                    self.text_bytes += text.len();
                    let text = padded.into_boxed_slice();
                    self.nodes.push(Node { text, step: *step, next: Vec::new() });
                    match parent {
                        None => self.roots.push(at as u32),
                        Some(p) => self.nodes[p].next.push(at as u32),
                    }
                    added = true;
                    at
                }
            };
            parent = Some(at);
        }
        added
    }
}

/// Whether `rest` begins with the first `len` bytes of `text` (which has [`PAD`] bytes more).
/// The pieces are short (`","Id":"` is eight bytes): a compare of 16 bytes at once beats a
/// `memcmp` call, which took 4% of a run.
fn starts_with(rest: &[u8], text: &[u8], len: usize) -> bool {
    if rest.len() < len {
        return false;
    }
    let mut i = 0;
    while i < len {
        match (rest.get(i..i + 16), text.get(i..i + 16)) {
            (Some(a), Some(b)) => {
                let same = same_bytes(a, b);
                let wanted = if len - i >= 16 { 0xffff } else { (1u32 << (len - i)) - 1 };
                if same & wanted != wanted {
                    return false;
                }
            }
            // The last bytes of the record.
            _ => return rest.get(i..len) == text.get(i..len),
        }
        i += 16;
    }
    true
}

/// Bit `k` is set when `a[k] == b[k]`, for 16 bytes.
#[cfg(target_arch = "x86_64")]
fn same_bytes(a: &[u8], b: &[u8]) -> u32 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8};
    if a.len() < 16 || b.len() < 16 {
        return same_bytes_portable(a, b);
    }
    // SAFETY: SSE2 is part of x86-64; both slices have 16 readable bytes (checked above), and
    // unaligned loads have no other requirement.
    unsafe {
        let x = _mm_loadu_si128(a.as_ptr().cast::<__m128i>());
        let y = _mm_loadu_si128(b.as_ptr().cast::<__m128i>());
        _mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) as u32 & 0xffff
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn same_bytes(a: &[u8], b: &[u8]) -> u32 {
    same_bytes_portable(a, b)
}

fn same_bytes_portable(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).take(16).enumerate().fold(0, |m, (k, (x, y))| m | (u32::from(x == y) << k))
}

/// Cuts a record simd-json has accepted into the pieces of its layout. It only needs to find
/// the tokens of valid JSON; it declines (`None`) a record whose fields depend on more than
/// its keys.
struct Learner<'r> {
    bytes: &'r [u8],
    pos: usize,
    /// Where the current piece's text began.
    piece: usize,
    pieces: Vec<(std::ops::Range<usize>, Step)>,
    attendees: usize,
    /// ExtraProperties entries so far, and the first that holds the UserAgent.
    entries: usize,
    agent: Option<u16>,
    depth: usize,
}

/// Where a value sits, for what its strings are.
#[derive(Clone, Copy)]
enum Place {
    Other,
    Top(Top),
    Attendee(u16, Who),
}

impl<'r> Learner<'r> {
    fn new(bytes: &'r [u8]) -> Learner<'r> {
        Learner {
            bytes,
            pos: 0,
            piece: 0,
            pieces: Vec::new(),
            attendees: 0,
            entries: 0,
            agent: None,
            depth: 0,
        }
    }

    fn layout(mut self) -> Option<Vec<(std::ops::Range<usize>, Step)>> {
        self.ws();
        self.top_object()?;
        self.ws();
        if self.pos != self.bytes.len() {
            return None;
        }
        let attendees = u16::try_from(self.attendees).ok()?;
        let agent = self.agent;
        self.pieces.push((self.piece..self.pos, Step::End { attendees, agent }));
        Some(self.pieces)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// A string at `pos` (its opening quote): the range of its text, and the position past it.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match self.bytes.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        Some(start..i)
    }

    /// A key: its text, which must hold no escapes (the fields are found by the keys' text).
    fn key(&mut self) -> Option<&'r str> {
        let range = self.string()?;
        let raw = self.bytes.get(range)?;
        if raw.contains(&b'\\') {
            return None;
        }
        let key = std::str::from_utf8(raw).ok()?;
        self.eat(b':')?;
        Some(key)
    }

    /// A string value that becomes a slot: the piece before it ends with its opening quote, the
    /// next begins with its closing quote.
    fn slot(&mut self, slot: Slot) -> Option<()> {
        self.ws();
        let range = self.string()?;
        let quote = range.start - 1;
        self.pieces.push((self.piece..quote + 1, Step::Slot(slot)));
        self.piece = range.end;
        Some(())
    }

    /// The members of an object, `{` to `}`, each handed to `member` after its key; repeated
    /// keys are declined when `distinct`.
    fn members(
        &mut self,
        distinct: bool,
        mut member: impl FnMut(&mut Self, &'r str) -> Option<()>,
    ) -> Option<()> {
        let mut seen: SmallVec<[&str; 24]> = SmallVec::new();
        self.sequence(b'{', b'}', |me| {
            let key = me.key()?;
            if distinct {
                if seen.contains(&key) {
                    return None;
                }
                seen.push(key);
            }
            member(me, key)
        })
    }

    /// The elements of a list, `[` to `]`, each handed to `element`.
    fn elements(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.sequence(b'[', b']', element)
    }

    /// `open`, items separated by commas, `close`: an object's members or a list's elements.
    fn sequence(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        if self.peek()? == close {
            self.pos += 1;
        } else {
            loop {
                item(self)?;
                self.ws();
                match self.peek()? {
                    b',' => self.pos += 1,
                    b if b == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn top_object(&mut self) -> Option<()> {
        self.members(true, |me, key| match Top::of(key) {
            Some(Top::Attendees) => me.elements(|me| {
                let n =
                    u16::try_from(me.attendees).ok().filter(|&n| usize::from(n) < MAX_ENTRIES)?;
                me.attendees += 1;
                me.ws();
                if me.peek()? != b'{' {
                    return None;
                }
                me.members(true, |me, key| match Who::of(key) {
                    Some(who) => me.value(Place::Attendee(n, who)),
                    None => me.value(Place::Other),
                })
            }),
            Some(Top::ExtraProperties) => me.elements(|me| me.extra_entry()),
            Some(top) => me.value(Place::Top(top)),
            None => me.value(Place::Other),
        })
    }

    /// An entry of ExtraProperties: its `Key` stays in the layout's text (which entry holds
    /// the UserAgent is part of the layout), its `Value` is a slot.
    fn extra_entry(&mut self) -> Option<()> {
        self.ws();
        if self.peek()? != b'{' {
            return None;
        }
        let entry = u16::try_from(self.entries).ok().filter(|&n| usize::from(n) < MAX_ENTRIES)?;
        self.entries += 1;
        let (mut name, mut value) = (None, false);
        self.members(true, |me, key| match key {
            "Key" => {
                let range = me.string()?;
                let raw = me.bytes.get(range)?;
                if raw.contains(&b'\\') {
                    return None;
                }
                name = Some(raw);
                Some(())
            }
            "Value" => {
                me.slot(Slot::Extra(entry))?;
                value = true;
                Some(())
            }
            _ => me.value(Place::Other),
        })?;
        if let (Some(b"UserAgent"), true, None) = (name, value, self.agent) {
            self.agent = Some(entry);
        }
        Some(())
    }

    /// Any value. Strings become slots; a field that is read must be a string.
    fn value(&mut self, place: Place) -> Option<()> {
        self.ws();
        match (self.peek()?, place) {
            (b'"', Place::Other) => self.slot(Slot::Ignore),
            (b'"', Place::Top(top)) => self.slot(Slot::Top(top)),
            (b'"', Place::Attendee(n, who)) => self.slot(Slot::Attendee(n, who)),
            (_, Place::Top(_) | Place::Attendee(..)) => None,
            (b'{', Place::Other) => self.members(false, |me, _| me.value(Place::Other)),
            (b'[', Place::Other) => self.elements(|me| me.value(Place::Other)),
            (_, Place::Other) => {
                // A number, true, false or null: part of the text.
                let start = self.pos;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                (self.pos > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::auditdata::{AuditError, AuditParser};
    use proptest::prelude::*;

    type Read = Result<AuditRecord<'static>, AuditError>;

    /// What simd-json alone makes of `json`.
    fn simd(json: &[u8]) -> Read {
        let mut buf = json.to_vec();
        AuditParser::simd_json_only().with_record(&mut buf, |r| r.map(AuditRecord::to_owned_record))
    }

    /// What a parser that has learned from `teach` makes of `json`, and whether its shapes
    /// read it (rather than simd-json).
    fn after(teach: &[&str], json: &str) -> (Read, bool) {
        let mut shapes = Shapes::default();
        for t in teach {
            assert!(simd(t.as_bytes()).is_ok(), "teach with a record: {t}");
            shapes.learn(t.as_bytes());
        }
        if let Some(rec) = shapes.read(json.as_bytes()) {
            return (Ok(rec.to_owned_record()), true);
        }
        (simd(json.as_bytes()), false)
    }

    const REC: &str = r#"{"CreationTime":"2024-03-01T05:59:59","Id":"369eff8a-f199-4409-8004-938daded9124","Operation":"MeetingParticipantDetail","RecordType":25,"UserKey":"c1d5","ClientIP":"213.185.71.211","UserId":"ingrid@contoso.com","ArtifactsShared":[],"Attendees":[{"RecipientType":"User","UserObjectId":"eae7","DisplayName":"Kwame","OrganizationId":"1cde","UPN":"kwame@contoso.com","Role":"Attendee","InviterInfo":{"UserObjectId":"x1","DisplayName":"y"}},{"RecipientType":"Anonymous","DisplayName":"visitor"}],"DeviceInformation":"Windows 10, \"Teams\" desktop app","ExtraProperties":[{"Key":"Other","Value":"1"},{"Key":"UserAgent","Value":"Mozilla/5.0 (Windows NT 10.0) Teams/1.6"}],"JoinTime":"2024-03-01T05:56:01","LeaveTime":"2024-03-01T05:58:29","MeetingDetailId":"f306","ItemName":"ScheduledMeeting"}"#;

    #[test]
    fn a_learned_layout_reads_other_values_as_simd_json_does() {
        let other = REC
            .replace("Kwame", "Zoë \\\"Z\\\" \\\\ \\/ \\t \\u00e9\\ud83d\\ude00\\u0000")
            .replace("2024-03-01T05:56:01", "not a time")
            .replace("f306", "")
            .replace("eae7", "")
            .replace("Windows 10, \\\"Teams\\\" desktop app", "plain")
            .replace("Mozilla/5.0 (Windows NT 10.0) Teams/1.6", "SkypeSpaces/1415");
        for json in [REC, other.as_str()] {
            let (read, by_shapes) = after(&[REC], json);
            assert!(by_shapes, "{json}");
            assert_eq!(read, simd(json.as_bytes()));
        }
        let (read, _) = after(&[REC], &other);
        let rec = read.unwrap();
        assert_eq!(rec.attendees.len(), 2);
        assert_eq!(rec.attendees[0].key, "Zoë \"Z\" \\ / \t é😀\0");
        assert!(!rec.attendees[0].is_object_id);
        assert_eq!(rec.attendees[1].key, "visitor");
        assert_eq!(rec.meeting_id, None);
        assert_eq!(rec.join, Some(crate::extract::auditdata::TimeField::Invalid));
        assert_eq!(rec.property, "SkypeSpaces");
        assert_eq!(rec.device, "plain");
    }

    #[test]
    fn what_the_shapes_leave_to_simd_json() {
        let cases = [
            // Half a surrogate pair, a control byte, another layout, text after the record.
            REC.replace("Kwame", "K\\ud83dwame"),
            REC.replace("Kwame", "K\\ude00wame"),
            REC.replace("Kwame", "K\\ud83d\\u0041wame"),
            REC.replace("Kwame", "K\\u00"),
            REC.replace("Kwame", "K\twame"),
            REC.replace("\"RecordType\":25", "\"RecordType\":26"),
            REC.replace(",\"ItemName\":\"ScheduledMeeting\"", ""),
            format!("{REC} x"),
            format!("{REC}\n"),
            // Cut inside a value, and at its end.
            REC[..REC.len() - 10].to_string(),
            REC[..REC.len() - 2].to_string(),
            // An escape that JSON does not have.
            REC.replace("Kwame", "K\\qwame"),
        ];
        for json in &cases {
            let (read, by_shapes) = after(&[REC], json);
            assert!(!by_shapes, "{json}");
            assert_eq!(read, simd(json.as_bytes()));
        }
        let mut bad = REC.as_bytes().to_vec();
        let at = REC.find("Kwame").unwrap();
        bad[at] = 0xff;
        assert!(Shapes::default().learn(REC.as_bytes()));
        let mut shapes = Shapes::default();
        shapes.learn(REC.as_bytes());
        assert!(shapes.read(&bad).is_none(), "not UTF-8");
    }

    #[test]
    fn layouts_whose_fields_depend_on_more_than_their_keys_are_not_learned() {
        for json in [
            r#"{"Id":"a","Id":"b"}"#,
            r#"{"Id":5}"#,
            r#"{"JoinTime":null}"#,
            r#"{"Attendees":{"DisplayName":"solo"}}"#,
            r#"{"Attendees":null}"#,
            r#"{"Attendees":[{"DisplayName":"a","DisplayName":"b"}]}"#,
            r#"{"Attendees":[{"DisplayName":14255550100}]}"#,
            r#"{"Attendees":[5]}"#,
            r#"{"ExtraProperties":[{"Key":"UserAgent","Value":null}]}"#,
            r#"{"ExtraProperties":[{"Key":"User\u0041gent","Value":"x"}]}"#,
            r#"{"ExtraProperties":{"Key":"UserAgent","Value":"x"}}"#,
            r#"{"Op\u0065ration":"x"}"#,
            "[1,2]",
        ] {
            assert!(!Shapes::default().learn(json.as_bytes()), "{json}");
        }
        for json in [
            "{}",
            r#" { "Id" : "a" , "x" : [ 1 , -2.5e3 , { } , [ ] , "a\\b" , {"k":[null,true]} ] } "#,
            r#"{"Attendees":[],"ExtraProperties":[]}"#,
            r#"{"x":{"Id":5,"Id":6}}"#,
        ] {
            let mut shapes = Shapes::default();
            assert!(shapes.learn(json.as_bytes()), "{json}");
            assert!(!shapes.learn(json.as_bytes()), "learned twice: {json}");
            let rec = shapes.read(json.as_bytes()).as_ref().map(AuditRecord::to_owned_record);
            assert_eq!(rec.ok_or(AuditError::NotJson), simd(json.as_bytes()), "{json}");
        }
    }

    #[test]
    fn the_user_agent_is_the_first_entry_named_so_wherever_its_value_comes() {
        let teach = r#"{"ExtraProperties":[{"Value":"a","Key":"Other"},{"Key":"UserAgent"},{"Value":"Teams/1 (x)","Key":"UserAgent"},{"Key":"UserAgent","Value":"later"}]}"#;
        let json = teach.replace("Teams/1 (x)", "Edge/2 (y)");
        let (read, by_shapes) = after(&[teach], &json);
        assert!(by_shapes);
        assert_eq!(read, simd(json.as_bytes()));
        assert_eq!(read.unwrap().user_agent, "Edge/2 (y)");
        // Layouts that differ only after a value share the pieces before it.
        let other = teach.replace("\"Key\":\"Other\"", "\"Key\":\"UserAgent\"");
        for json in [teach, other.as_str()] {
            let (read, by_shapes) = after(&[teach, &other], json);
            assert!(by_shapes, "{json}");
            assert_eq!(read, simd(json.as_bytes()));
        }
    }

    /// Text for a string value: plain characters, escapes JSON has (and `\u` ones the shapes
    /// leave to simd-json), and now and then a byte JSON does not allow in a string.
    fn value() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            80 => "[a-zA-Z0-9 .:/()@-]{0,12}",
            20 => Just("Zoë ✓".to_string()),
            20 => prop::sample::select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
                .prop_map(str::to_string),
            5 => Just("\\u00e9".to_string()),
            5 => Just("\\ud83d\\ude00".to_string()),
            1 => prop::sample::select(vec!["\\ud83d", "\\ude00", "\\u12", "\\uD83D\\uDE00"])
                .prop_map(str::to_string),
            1 => prop::sample::select(vec!["\t", "\\x", "\"", "\\"]).prop_map(str::to_string),
            20 => Just("2024-03-01T05:56:01".to_string()),
        ];
        prop::collection::vec(piece, 0..4).prop_map(|p| p.concat())
    }

    /// A record of keys in any order, some of them repeated, with lists and nested values, and
    /// the same layout again with other values.
    fn layout_and_values() -> impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)> {
        const TOP: [&str; 16] = [
            "Id",
            "Operation",
            "CreationTime",
            "MeetingDetailId",
            "UserId",
            "UserKey",
            "OrganizationId",
            "ItemName",
            "JoinTime",
            "LeaveTime",
            "ClientIP",
            "DeviceInformation",
            "Workload",
            "Attendees",
            "ExtraProperties",
            "RecordType",
        ];
        const WHO: [&str; 6] =
            ["UserObjectId", "DisplayName", "RecipientType", "OrganizationId", "UPN", "Role"];
        // Distinct keys in any order; now and then one repeated (a layout not learned).
        let keys = (
            prop::sample::subsequence(TOP.to_vec(), 0..TOP.len()).prop_shuffle(),
            prop::option::weighted(0.1, prop::sample::select(TOP.to_vec())),
        )
            .prop_map(|(mut keys, again)| {
                keys.extend(again);
                keys
            });
        let attendee = prop::sample::subsequence(WHO.to_vec(), 0..WHO.len()).prop_shuffle();
        let entry = prop::sample::select(vec!["UserAgent", "Other", "UserAgent"]);
        let ws = prop::sample::select(vec!["", "", "", " ", "\n "]);
        (
            keys,
            prop::collection::vec(attendee, 0..3),
            prop::collection::vec(entry, 0..3),
            ws,
            prop::collection::vec(prop::collection::vec(value(), 40), 1..4),
        )
            .prop_map(|(keys, attendees, entries, ws, values)| {
                // The layout as text with `{}` where each value goes.
                let mut parts = vec![format!("{ws}{{")];
                let mut first = true;
                for key in keys {
                    if !first {
                        parts.push(format!(",{ws}"));
                    }
                    first = false;
                    parts.push(format!("\"{key}\":{ws}"));
                    match key {
                        "Attendees" => {
                            let objects: Vec<String> = attendees
                                .iter()
                                .map(|keys| {
                                    let members: Vec<String> =
                                        keys.iter().map(|k| format!("\"{k}\":\"{{}}\"")).collect();
                                    format!("{{{}}}", members.join(","))
                                })
                                .collect();
                            parts.push(format!("[{}]", objects.join(",")));
                        }
                        "ExtraProperties" => {
                            let objects: Vec<String> = entries
                                .iter()
                                .map(|k| format!("{{\"Key\":\"{k}\",\"Value\":\"{{}}\"}}"))
                                .collect();
                            parts.push(format!("[{}]", objects.join(",")));
                        }
                        "RecordType" => parts.push("25".into()),
                        _ => parts.push("\"{}\"".into()),
                    }
                }
                parts.push(format!("}}{ws}"));
                let layout = parts.concat();
                let records = values
                    .into_iter()
                    .map(|vals| {
                        let mut vals = vals.into_iter();
                        let mut out = String::new();
                        let mut rest = layout.as_str();
                        while let Some(at) = rest.find("{}") {
                            out.push_str(&rest[..at]);
                            out.push_str(&vals.next().unwrap_or_default());
                            rest = &rest[at + 2..];
                        }
                        out.push_str(rest);
                        out
                    })
                    .collect();
                (records, Vec::new())
            })
    }

    proptest! {
        /// A parser that learns as it goes reads every record as simd-json does, whichever of
        /// its readers takes it; with a byte changed, valid or not, too.
        #[test]
        fn shapes_read_what_simd_json_reads(
            (records, _) in layout_and_values(),
            flip in any::<(prop::sample::Index, u8)>(),
        ) {
            let mut parser = AuditParser::new();
            let mut inputs: Vec<Vec<u8>> = records.iter().map(|r| r.clone().into_bytes()).collect();
            if let Some(last) = inputs.last() {
                let mut changed = last.clone();
                if !changed.is_empty() {
                    let at = flip.0.index(changed.len());
                    changed[at] = flip.1;
                }
                inputs.push(changed);
            }
            for json in inputs.iter().chain(inputs.iter()) {
                let mut buf = json.clone();
                let got = parser.with_record(&mut buf, |r| r.map(AuditRecord::to_owned_record));
                prop_assert_eq!(got, simd(json), "{}", String::from_utf8_lossy(json));
            }
        }
    }
}
