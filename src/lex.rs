//! Lexing JSON strings, shared by the two readers that read AuditData without simd-json
//! (`extract::peek` for `--audit-only`, `extract::shapes` for learned layouts) and by the JSON
//! input's element scanner and content hash (`source::json`): where a string's plain run ends,
//! what an escape stands for, and a string's text with its escapes decoded. One decoder for
//! all three, so that they cannot read an escape differently.

/// The length of a `\u` escape of a surrogate pair (`\ud83d\ude00`).
const PAIR_LEN: usize = 12;

/// The index of the first byte that ends or interrupts a string's plain run: a quote, a
/// backslash or a control byte. Sixteen bytes at a time with SSE2: AuditData's strings are
/// short, and both a byte loop and a `memchr2` call per string (which also left control bytes
/// to a second pass) cost more.
#[cfg(target_arch = "x86_64")]
pub(crate) fn string_stop(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut start = 0;
    while let Some(lane) = bytes.get(start..start + 16) {
        // SAFETY: SSE2 is part of x86-64, so these instructions exist on every x86-64 CPU;
        // `lane` is 16 readable bytes, and an unaligned load has no other requirement.
        let mask = unsafe {
            let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // b <= 0x1F exactly when min(b, 0x1F) == b (unsigned).
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
        };
        if mask != 0 {
            return Some(start + mask.trailing_zeros() as usize);
        }
        start += 16;
    }
    string_stop_portable(bytes.get(start..)?).map(|k| start + k)
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn string_stop(bytes: &[u8]) -> Option<usize> {
    string_stop_portable(bytes)
}

/// [`string_stop`] a byte at a time: for the last bytes, other architectures, and its test.
fn string_stop_portable(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

/// Where the string whose text starts at `from` ends (the index of its closing quote), and
/// whether it holds escapes. `None` unless it holds only characters JSON allows unescaped and
/// valid escapes: a control byte, a `\u` escape of half a surrogate pair, an escape JSON does
/// not have or a missing closing quote is simd-json's to judge.
pub(crate) fn string_end(bytes: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut i = from;
    let mut escaped = false;
    loop {
        i += string_stop(bytes.get(i..)?)?;
        match bytes.get(i)? {
            b'"' => return Some((i, escaped)),
            b'\\' => {
                i += escape(bytes, i)?.1;
                escaped = true;
            }
            _ => return None,
        }
    }
}

/// The character of the escape at `bytes[at]` (a backslash), and its length in bytes.
pub(crate) fn escape(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    Some(match bytes.get(at + 1)? {
        b'"' => ('"', 2),
        b'\\' => ('\\', 2),
        b'/' => ('/', 2),
        b'b' => ('\u{8}', 2),
        b'f' => ('\u{c}', 2),
        b'n' => ('\n', 2),
        b'r' => ('\r', 2),
        b't' => ('\t', 2),
        b'u' => match hex4(bytes, at + 2)? {
            // A surrogate pair: the high half, then `\u` and the low half.
            high @ 0xd800..=0xdbff => {
                if bytes.get(at + 6..at + 8)? != b"\\u" {
                    return None;
                }
                let low = hex4(bytes, at + 8).filter(|l| (0xdc00..=0xdfff).contains(l))?;
                (char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))?, PAIR_LEN)
            }
            code => (char::from_u32(code)?, 6),
        },
        _ => return None,
    })
}

/// Four hexadecimal digits at `bytes[at..]`.
fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    digits.iter().try_fold(0, |v, &d| Some((v << 4) | char::from(d).to_digit(16)?))
}

/// A string's body (the bytes between its quotes) with each escape replaced by the UTF-8 of
/// its character; `None` at an escape that [`escape`] does not read. Other bytes are copied
/// as they are, so the result is valid UTF-8 exactly when the body's plain runs are.
pub(crate) fn unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut plain = 0;
    while let Some(k) = raw.get(plain..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let at = plain + k;
        out.extend_from_slice(&raw[plain..at]);
        let (c, len) = escape(raw, at)?;
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        plain = at + len;
    }
    out.extend_from_slice(raw.get(plain..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_stop_finds_quotes_backslashes_and_control_bytes() {
        for len in 0..40 {
            for stop in [b'"', b'\\', 0x00, 0x1F, b'\n'] {
                for at in 0..=len {
                    let mut bytes = vec![b'a'; len];
                    bytes.extend([0x20, 0x7F, 0x80, 0xFF]);
                    if at < len {
                        bytes[at] = stop;
                    }
                    let expected = (at < len).then_some(at);
                    assert_eq!(string_stop(&bytes), expected, "{len} {stop} {at}");
                    assert_eq!(string_stop_portable(&bytes), expected);
                }
            }
        }
    }

    #[test]
    fn escapes_and_their_lengths() {
        let esc = |s: &str| escape(s.as_bytes(), 0);
        assert_eq!(esc(r#"\n"#), Some(('\n', 2)));
        assert_eq!(esc(r#"\/x"#), Some(('/', 2)));
        assert_eq!(esc(r#"\u00e9"#), Some(('é', 6)));
        assert_eq!(esc(r#"\ud83d\ude00"#), Some(('😀', PAIR_LEN)));
        for bad in
            [r#"\ud83d"#, r#"\ude00"#, r#"\ud83d\u0041"#, r#"\u00g1"#, r#"\u+0e9"#, r#"\x"#, "\\"]
        {
            assert_eq!(esc(bad), None, "{bad}");
        }
    }

    #[test]
    fn unescape_decodes_every_escape_and_copies_the_rest() {
        let text = |raw: &str| unescape(raw.as_bytes()).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(text("plain é"), Some("plain é".into()));
        assert_eq!(text(r#"a\"b\\c\/d"#), Some(r#"a"b\c/d"#.into()));
        assert_eq!(text(r#"\b\f\n\r\t"#), Some("\u{8}\u{c}\n\r\t".into()));
        assert_eq!(text(r#"Ren\u00e9e \ud83d\ude00!"#), Some("Renée 😀!".into()));
        assert_eq!(text(r#"\u0041\u00e9"#), Some("Aé".into()));
        for bad in [r#"ok \ud83d"#, r#"\ude00 ok"#, r#"\u+0e9"#, r#"a\xb"#, "ends \\"] {
            assert_eq!(text(bad), None, "{bad}");
        }
        // Bytes that are not UTF-8 are copied as they are: the caller decides what they mean.
        assert_eq!(unescape(b"\xff\\n\xfe"), Some(b"\xff\n\xfe".to_vec()));
    }
}
