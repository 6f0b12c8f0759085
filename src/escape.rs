//! Escape: untrusted text made safe to print for people. Audit records and file names come from
//! whoever wrote them: a DisplayName with a line break could forge the closing lines of `-d`, a
//! terminal escape sequence in a value could rewrite the admin's screen, and two file names
//! that differ only in bytes that are not UTF-8 would print the same. Everything readable
//! (stderr, `-d`, `show`, and the file names in every report) goes through here. The CSV
//! reports carry record values unchanged: CSV quoting already keeps them in their cells.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Characters shown as an escape rather than printed: C0 and C1 controls and DEL (line breaks,
/// NUL, terminal escape sequences) and the bidirectional overrides and isolates that reorder
/// how a line reads on screen ("Trojan Source").
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Text from an audit record, for readable output: control characters become `\n`, `\t`,
/// `\x1b`, `\u{202e}` and the like; everything else, backslashes included, is printed as it is.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path as tala-bulk names it everywhere (warnings, truncation.csv, errors.csv): as it is
/// when it is printable UTF-8 without a backslash; otherwise each byte that is not UTF-8 as
/// `\xNN`, each control character escaped as in [`text`], and each backslash doubled. Two
/// different paths therefore never print the same.
pub fn path(p: &Path) -> String {
    bytes(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
}

/// [`path`] for a name given as bytes.
pub fn bytes(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if needs_escape(c) {
                push_escaped(&mut out, c);
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `--excel-safe`: a CSV cell that a spreadsheet would run as a formula (it starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, which spreadsheets take as
/// "text" and do not show. Any other cell is unchanged.
pub fn excel_cell(s: &str, excel_safe: bool) -> Cow<'_, str> {
    if excel_safe && s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(text("Zoë Ñúñez"), "Zoë Ñúñez");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
        assert_eq!(
            text("a\nb\r\t\u{1b}[31mred\0\u{7f}\u{85}\u{202e}x"),
            "a\\nb\\r\\t\\x1b[31mred\\x00\\x7f\\u{85}\\u{202e}x"
        );
        assert_eq!(text("DOMAIN\\user"), "DOMAIN\\user");
    }

    #[test]
    fn excel_cells_that_would_run_get_a_quote() {
        assert_eq!(excel_cell("=HYPERLINK(\"x\")", true), "'=HYPERLINK(\"x\")");
        for s in ["+1 425", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(excel_cell(s, true), format!("'{s}"));
            assert_eq!(excel_cell(s, false), s);
        }
        assert_eq!(excel_cell("ann@contoso.com", true), "ann@contoso.com");
    }

    #[test]
    fn paths_that_differ_never_print_the_same() {
        assert_eq!(bytes(b"archive/UAL-1.csv"), "archive/UAL-1.csv");
        assert_eq!(bytes(b"a\xff.csv"), "a\\xff.csv");
        assert_eq!(bytes(b"a\xfe.csv"), "a\\xfe.csv");
        // The text `\xff` itself, and a backslash before an invalid byte.
        assert_eq!(bytes(b"a\\xff.csv"), "a\\\\xff.csv");
        assert_eq!(bytes(b"a\\\xff"), "a\\\\\\xff");
        assert_eq!(bytes(b"new\nline"), "new\\nline");
        let all: Vec<String> = [&b"a\xff"[..], b"a\\xff", b"a\xef\xbf\xbd", b"a\\\\xff"]
            .iter()
            .map(|b| bytes(b))
            .collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "{all:?}");
    }
}
