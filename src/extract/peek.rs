//! Peek: `--audit-only`'s reader of AuditData. The audit needs three things of each record,
//! its top-level Operation, CreationTime and whether it has a MeetingDetailId, and the full
//! parser (`audit`, simd-json's tape) costs most of a run. This reads them in one pass over the
//! JSON text, checking its grammar as it goes, and gives up (`None`) wherever it might read a
//! row differently from the full parser, which then reads that row. Unit tests, a proptest and
//! the `auditdata` fuzz target hold it to the full parser's reading.

use std::borrow::Cow;

use crate::lex::{string_end, unescape};
use crate::timestamp::{self, Ts};

/// What `--audit-only` reads of a record: its top-level Operation, CreationTime and whether it
/// has a MeetingDetailId, as a full run reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peek<'a> {
    pub operation: Option<Cow<'a, str>>,
    pub creation_time: Option<Ts>,
    /// The record has a MeetingDetailId a full run would use (not empty, not null).
    pub meeting_id: bool,
}

/// The most nesting [`peek`] follows before it leaves the record to the full parser.
const PEEK_DEPTH: usize = 64;

/// Reads the top-level `Operation`, `CreationTime` and `MeetingDetailId` of a record without
/// building a tape,
/// for `--audit-only`: one pass that checks the JSON's grammar as it goes (brackets, commas,
/// strings and their escapes, literals, numbers), skips nested values (a nested key is not
/// the record's), lets the last of repeated keys win and decodes escapes, as the full parser
/// does. `None` when it is not sure it would agree with the full parser: whitespace other than
/// spaces (compact exports have none), half a surrogate pair escaped, a number where
/// Operation or CreationTime is read, nesting over 64 levels, or anything that is not valid JSON.
/// The caller then parses the row the full way, so `--audit-only` and a full run read every
/// row alike.
pub fn peek(json: &[u8]) -> Option<Peek<'_>> {
    let mut p = Peeker { j: json, i: 0 };
    let mut out = Peek::default();
    p.ws();
    p.byte(b'{')?;
    p.ws();
    if p.eat(b'}') {
        return p.end().then_some(out);
    }
    loop {
        p.ws();
        let key = p.key()?;
        p.ws();
        p.byte(b':')?;
        p.ws();
        match &*key {
            b"Operation" => out.operation = p.scalar_text()?,
            b"CreationTime" => {
                out.creation_time = p.scalar_text()?.and_then(|t| timestamp::parse(t.as_bytes()));
            }
            b"MeetingDetailId" => {
                // As `non_empty(text(v))`: a number's text is never empty.
                out.meeting_id = match p.j.get(p.i)? {
                    b'-' | b'0'..=b'9' => p.value().map(|()| true)?,
                    _ => p.scalar_text()?.is_some_and(|t| !t.is_empty()),
                };
            }
            _ => p.value()?,
        }
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.byte(b'}')?;
        return p.end().then_some(out);
    }
}

/// A cursor over JSON text for [`peek`]; every method returns `None` on anything it does not
/// accept.
struct Peeker<'a> {
    j: &'a [u8],
    i: usize,
}

impl<'a> Peeker<'a> {
    fn ws(&mut self) {
        while self.j.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.j.get(self.i) == Some(&b);
        self.i += usize::from(hit);
        hit
    }

    fn byte(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    fn end(&mut self) -> bool {
        self.ws();
        self.i == self.j.len()
    }

    /// A key at the cursor as bytes, decoded when it has escapes: compared with the keys we
    /// want without a UTF-8 check (keys are ASCII, and one with other bytes is not wanted).
    fn key(&mut self) -> Option<Cow<'a, [u8]>> {
        let start = self.i + 1;
        let escaped = self.skip_string()?;
        let raw = self.j.get(start..self.i - 1)?;
        if !escaped {
            return Some(Cow::Borrowed(raw));
        }
        unescape(raw).map(Cow::Owned)
    }

    /// A string at the cursor, decoded; borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i + 1;
        let escaped = self.skip_string()?;
        let raw = self.j.get(start..self.i - 1)?;
        if !escaped {
            // Invalid UTF-8 never matches a key we want; as text it is replaced, as the full
            // run's retry replaces it.
            return Some(match std::str::from_utf8(raw) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(raw),
            });
        }
        let text = unescape(raw)?;
        Some(Cow::Owned(
            String::from_utf8(text)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ))
    }

    /// Skips the string at the cursor, checking its escapes and that it holds no control byte
    /// (which JSON forbids in strings); returns whether it had escapes.
    fn skip_string(&mut self) -> Option<bool> {
        self.byte(b'"')?;
        let (end, escaped) = string_end(self.j, self.i)?;
        self.i = end + 1;
        Some(escaped)
    }

    /// The text a full run takes from a scalar: a string's or a boolean's own text; `None`
    /// for null, a list or an object (which it skips). A number is formatted anew by the full
    /// parser (1.50 reads "1.5"): rare enough there to leave to it.
    fn scalar_text(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.j.get(self.i)? {
            b'"' => self.string().map(Some),
            b't' | b'f' => {
                let start = self.i;
                self.value()?;
                Some(Some(String::from_utf8_lossy(&self.j[start..self.i])))
            }
            b'-' | b'0'..=b'9' => None,
            _ => self.value().map(|()| None),
        }
    }

    /// Skips one value of any kind, nested ones included, checking its grammar.
    fn value(&mut self) -> Option<()> {
        // Open containers, innermost last: true for an object, false for an array.
        let mut stack = [false; PEEK_DEPTH];
        let mut depth = 0;
        loop {
            // A value.
            match *self.j.get(self.i)? {
                b'"' => {
                    self.skip_string()?;
                }
                open @ (b'{' | b'[') => {
                    self.i += 1;
                    *stack.get_mut(depth)? = open == b'{';
                    depth += 1;
                    self.ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.eat(close) {
                        depth -= 1;
                    } else {
                        if open == b'{' {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // What follows it: the next member or element, or the end of containers.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.ws();
                let object = stack[depth - 1];
                if self.eat(b',') {
                    self.ws();
                    if object {
                        self.member_key()?;
                    }
                    break;
                }
                self.byte(if object { b'}' } else { b']' })?;
                depth -= 1;
            }
        }
    }

    /// `"key" :` inside an object, leaving the cursor on the value.
    fn member_key(&mut self) -> Option<()> {
        self.skip_string()?;
        self.ws();
        self.byte(b':')?;
        self.ws();
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.j.get(self.i..self.i + word.len())? != word {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    fn digits(&mut self) -> usize {
        let n =
            self.j.get(self.i..).map_or(0, |r| r.iter().take_while(|b| b.is_ascii_digit()).count());
        self.i += n;
        n
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)?`, with at most 18 digits before the point. The full
    /// parser refuses an integer beyond 64 bits and a number that overflows to infinity (found
    /// by fuzzing); rather than follow its arithmetic to the last digit, longer numbers and
    /// exponents (which AuditData does not have) are left to it.
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        if self.eat(b'0') {
            if self.j.get(self.i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        } else if !(1..=18).contains(&self.digits()) {
            return None;
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if matches!(self.j.get(self.i), Some(b'e' | b'E')) {
            return None;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::auditdata::{AuditError, AuditParser};

    /// What a full run reads of a record's Operation, CreationTime and MeetingDetailId, or its
    /// error.
    fn full(json: &[u8]) -> Result<(Option<String>, Option<Ts>, bool), AuditError> {
        let read = |bytes: &[u8]| {
            let mut buf = bytes.to_vec();
            AuditParser::new().with_record(&mut buf, |r| {
                r.map(|r| {
                    (
                        r.operation.as_deref().map(str::to_owned),
                        r.creation_time,
                        r.meeting_id.is_some(),
                    )
                })
            })
        };
        // A full run reads text that is not UTF-8 again, with U+FFFD for the bad bytes.
        match read(json) {
            Err(_) if std::str::from_utf8(json).is_err() => {
                read(String::from_utf8_lossy(json).as_bytes())
            }
            result => result,
        }
    }

    fn peeked(json: &str) -> Option<(Option<String>, Option<Ts>, bool)> {
        peek(json.as_bytes())
            .map(|p| (p.operation.map(|c| c.into_owned()), p.creation_time, p.meeting_id))
    }

    type Read = Option<(Option<&'static str>, Option<&'static str>)>;

    #[test]
    fn peek_reads_top_level_keys_as_the_full_parser_does() {
        let cases: [(&str, Read); 19] = [
            (
                r#"{"CreationTime":"2024-03-05T09:12:44","Operation":"Op"}"#,
                Some((Some("Op"), Some("2024-03-05T09:12:44"))),
            ),
            // Nested keys are not the record's; the last of repeated keys wins.
            (
                r#"{"Attendees":[{"CreationTime":"2020-01-01T00:00:00","Operation":"No"}],"Operation":"A","Operation":"B"}"#,
                Some((Some("B"), None)),
            ),
            (r#"{"CreationTime":"2024-03-05T09:12:44","CreationTime":null}"#, Some((None, None))),
            // Escaped keys and values are decoded.
            (
                r#"{"Creation\u0054ime":"2024\u002d03-05T09:12:44","Op\u0065ration":"M\"x\"\\"}"#,
                Some((Some("M\"x\"\\"), Some("2024-03-05T09:12:44"))),
            ),
            (
                r#" { "Operation" : true , "x" : [ 1 , -2.5 , { } , [ ] , "a\\b" , {"k":[null]} ] } "#,
                Some((Some("true"), None)),
            ),
            (r#"{}"#, Some((None, None))),
            // A character outside the BMP, escaped as a surrogate pair.
            (r#"{"Operation":"\ud83d\ude00 \u00e9"}"#, Some((Some("😀 é"), None))),
            // Not sure: the full parser decides.
            (r#"{"Operation":5}"#, None),
            ("{\"Operation\":\"x\"}\n", None),
            (r#"{"Operation":"x","a":tru}"#, None),
            (r#"{"Operation":"x","a":01}"#, None),
            (r#"{"Operation":"x","a":1.}"#, None),
            // Found by fuzzing: the full parser refuses integers beyond 64 bits.
            (r#"{"Operation":"x","a":88888888888888888888888}"#, None),
            (r#"{"Operation":"x","a":1e400}"#, None),
            (r#"{"Operation":"x",}"#, None),
            (r#"{"Operation":"\q"}"#, None),
            (r#"{"Operation":"\ud83d"}"#, None),
            (r#"{"Operation":"\ude00\ud83d"}"#, None),
            (r#"[{"Operation":"x"}]"#, None),
        ];
        for (json, expected) in cases {
            let got = peeked(json).map(|(op, t, _)| (op, t));
            let expected = expected.map(|(op, t)| {
                (op.map(str::to_string), t.and_then(|t| timestamp::parse(t.as_bytes())))
            });
            assert_eq!(got, expected, "{json}");
            if let Some(got) = peeked(json) {
                assert_eq!(full(json.as_bytes()), Ok(got), "{json}");
            }
        }
        for (json, has) in [
            (r#"{"MeetingDetailId":"m"}"#, Some(true)),
            (r#"{"MeetingDetailId":""}"#, Some(false)),
            (r#"{"MeetingDetailId":12}"#, Some(true)),
            (r#"{"MeetingDetailId":"m","MeetingDetailId":null}"#, Some(false)),
            (r#"{"x":{"MeetingDetailId":"m"}}"#, Some(false)),
        ] {
            assert_eq!(peeked(json).map(|p| p.2), has, "{json}");
            assert_eq!(full(json.as_bytes()).map(|f| f.2).ok(), has, "{json}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_read_as_a_full_run_reads_them() {
        // Found by fuzzing: simd-json refuses such text, and a full run reads it again with
        // U+FFFD for the bad bytes; `peek` agrees with that second reading.
        for json in [
            &b"{\"C\xff\xffreationTime\":\"2024-03-05T15:40:00\",\"Id\":\"5\"}"[..],
            b"{\"Operation\":\"Meeting\xffDetail\",\"CreationTime\":\"2024-03-05T15:40:00\"}",
        ] {
            let got = peek(json)
                .map(|p| (p.operation.map(|c| c.into_owned()), p.creation_time, p.meeting_id));
            let got = got.expect("read by peek");
            assert_eq!(full(json), Ok(got));
        }
    }

    /// Pieces of JSON, and of text that is not quite JSON, for the property below.
    const PIECES: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b" ",
        b"\"Operation\"",
        b"\"CreationTime\"",
        b"\"2024-03-05T09:12:44\"",
        b"\"MeetingParticipantDetail\"",
        b"\"Op\\u0065\"",
        b"\"a\\\"b\"",
        b"null",
        b"true",
        b"-1.5e3",
        b"0",
        b"\"x\"",
        b"\\",
        b"\"",
        b"\n",
        b"\"MeetingDetailId\"",
        b"\"\"",
        b"\xff",
        b"\xe2\x82",
    ];

    proptest::proptest! {
        /// On any bytes made of JSON's pieces, whatever `peek` reads is what a full run
        /// reads (and `peek` reads most valid records: see the tests above).
        #[test]
        fn peek_never_disagrees_with_the_full_parser(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        ) {
            let json = parts.concat();
            if let Some(p) = peek(&json) {
                let got = (p.operation.map(|c| c.into_owned()), p.creation_time, p.meeting_id);
                let shown = String::from_utf8_lossy(&json);
                proptest::prop_assert_eq!(full(&json), Ok(got), "{:?}", shown);
            }
        }
    }
}
