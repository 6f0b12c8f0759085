//! `show` (tala with no flag): each audit record of the input, readably — row, CreationDate,
//! user and operation, then the AuditData fields one per line, nested lists indented — or one
//! line per record with `--oneline`. Any operation, not only Teams meetings. Streams: one
//! record in memory at a time, output flushed as it goes on a terminal; a closed pipe ends the
//! run quietly (main treats a broken pipe as success).
//!
//! Records are untrusted: every key and value is escaped ([`escape::text`]) so control
//! characters cannot drive the terminal, and nesting is shown to [`MAX_DEPTH`] levels, so a
//! record nested a million deep neither overflows the stack nor prints its depth squared.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use anyhow::Result;
use simd_json::prelude::*;
use simd_json::tape::Value;

use crate::escape;
use crate::extract::auditdata::{text, AuditParser};
use crate::flags::config::Config;
use crate::source::csv::{Columns, Scanner};
use crate::source::discover;
use crate::source::input::{self, Feed};
use crate::source::json::{self, JsonScanner};
use crate::source::Rows;

/// RecordType and UserType names (Office 365 Management Activity API), embedded so the binary
/// needs no data files. New values keep appearing: unknown numbers print as numbers.
const ENUMS: &str = include_str!("data/audit-enums.tsv");

struct Enums {
    record_type: HashMap<i64, &'static str>,
    user_type: HashMap<i64, &'static str>,
}

fn enums() -> &'static Enums {
    static ENUMS_MAP: OnceLock<Enums> = OnceLock::new();
    ENUMS_MAP.get_or_init(|| {
        let mut e = Enums { record_type: HashMap::new(), user_type: HashMap::new() };
        let mut section = "";
        for line in ENUMS.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with('[') {
                section = line.trim();
                continue;
            }
            if let Some((n, name)) = line.split_once('\t') {
                if let Ok(n) = n.trim().parse() {
                    match section {
                        "[RecordType]" => e.record_type.insert(n, name.trim()),
                        "[UserType]" => e.user_type.insert(n, name.trim()),
                        _ => None,
                    };
                }
            }
        }
        e
    })
}

/// `25` → `MicrosoftTeams`; an unknown number stays a number.
pub fn record_type_name(n: i64) -> String {
    enums().record_type.get(&n).map_or_else(|| n.to_string(), |s| s.to_string())
}

pub fn user_type_name(n: i64) -> String {
    enums().user_type.get(&n).map_or_else(|| n.to_string(), |s| s.to_string())
}

/// Prints every record; returns how many inputs could not be read or were not exports.
pub fn run(config: &Config, oneline: bool) -> Result<u64> {
    let files = discover::discover(&config.inputs, &[]);
    let stdout = io::stdout();
    let flush_each = stdout.is_terminal();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut scanner = Scanner::new();
    let mut parser = AuditParser::new();
    let mut unread = 0u64;
    for file in &files {
        let opened = match input::open(&file.origin) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("tala-bulk: warning: {}: cannot read: {e}; skipped", file.name);
                unread += 1;
                continue;
            }
        };
        let name = &file.name;
        let mut shown = Shown { name, parser: &mut parser, out: &mut out, oneline, flush_each };
        let readable = opened.with_feed(|feed| -> Result<bool> {
            // An API content blob or NDJSON: each element is a record's AuditData.
            if let Some(kind) = feed.peek().ok().and_then(json::sniff) {
                return shown.rows(&mut JsonScanner::new(kind), Columns::single(), feed);
            }
            scanner.reset();
            let cols = match scanner.next_record(feed) {
                Ok(Some(h)) => Columns::from_header(&h.fields().collect::<Vec<_>>()),
                Ok(None) => return Ok(true),
                Err(e) => {
                    eprintln!("tala-bulk: warning: {name}: {e}");
                    return Ok(false);
                }
            };
            let Some(cols) = cols else {
                eprintln!("tala-bulk: warning: {name}: no AuditData column; skipped");
                return Ok(false);
            };
            shown.rows(&mut scanner, cols, feed)
        })?;
        if !readable {
            unread += 1;
        }
    }
    out.flush()?;
    Ok(unread)
}

/// Where `show` prints one file's records, and how.
struct Shown<'a, W: Write> {
    name: &'a str,
    parser: &'a mut AuditParser,
    out: &'a mut W,
    oneline: bool,
    flush_each: bool,
}

impl<W: Write> Shown<'_, W> {
    /// Prints every record of one input; `false` when it stopped on a read error.
    fn rows<R: Rows>(&mut self, rows: &mut R, cols: Columns, feed: &mut dyn Feed) -> Result<bool> {
        let (name, oneline, unit) = (self.name, self.oneline, rows.unit());
        loop {
            let mut rec = match rows.next_record(feed) {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(true),
                Err(e) => {
                    eprintln!("tala-bulk: warning: {name}: stopped: {e}");
                    return Ok(false);
                }
            };
            let field = |i: Option<usize>| {
                i.and_then(|i| rec.field(i)).map(|f| String::from_utf8_lossy(f).into_owned())
            };
            let (date, user, op) =
                (field(cols.creation_date), field(cols.user), field(cols.operation));
            let row = rec.row;
            let Some(json) = rec.field_mut(cols.audit_data) else { continue };
            let out = &mut *self.out;
            self.parser.with_value(json, |v| -> io::Result<()> {
                if oneline {
                    return write_oneline(out, v, date.as_deref(), user.as_deref(), op.as_deref());
                }
                // A key of AuditData where the input has no column for it (JSON).
                let obj = v.and_then(|v| v.as_object());
                let key = |k: &str| obj.as_ref().and_then(|o| o.get(k)).and_then(text);
                let or_key = |column: Option<String>, k: &str| {
                    column.or_else(|| key(k).map(|c| c.into_owned()))
                };
                let (date, user, op) =
                    (or_key(date, "CreationTime"), or_key(user, "UserId"), or_key(op, "Operation"));
                let shown =
                    |v: &Option<String>| escape::text(v.as_deref().unwrap_or("?")).into_owned();
                writeln!(
                    out,
                    "{name}: {unit} {row}  {}  {}  {}",
                    shown(&date),
                    shown(&user),
                    shown(&op)
                )?;
                match v {
                    Some(v) => write_value(out, v, 4, None)?,
                    None => writeln!(out, "    (AuditData is not JSON)")?,
                }
                writeln!(out)
            })?;
            if self.flush_each {
                self.out.flush()?;
            }
        }
    }
}

/// Nesting levels shown; deeper values are summarised in one line. Real records nest three or
/// four levels.
pub const MAX_DEPTH: usize = 16;

/// A scalar as text, with RecordType and UserType numbers named.
fn scalar(key: Option<&str>, v: Value<'_, '_>) -> String {
    if v.as_null().is_some() {
        return "null".into();
    }
    let t = text(v).map(|c| escape::text(&c).into_owned()).unwrap_or_default();
    let name = match (key, v.as_i64()) {
        (Some("RecordType"), Some(n)) => enums().record_type.get(&n),
        (Some("UserType"), Some(n)) => enums().user_type.get(&n),
        _ => None,
    };
    match name {
        Some(name) => format!("{t} ({name})"),
        None => t,
    }
}

fn write_value(
    out: &mut impl Write,
    v: Value<'_, '_>,
    indent: usize,
    key: Option<&str>,
) -> io::Result<()> {
    write_nested(out, v, indent, key, 0)
}

/// True for a list or object with something in it, which prints on lines of its own.
fn has_children(v: Value<'_, '_>) -> bool {
    v.as_object().is_some_and(|o| !o.is_empty()) || v.as_array().is_some_and(|a| !a.is_empty())
}

fn write_nested(
    out: &mut impl Write,
    v: Value<'_, '_>,
    indent: usize,
    key: Option<&str>,
    depth: usize,
) -> io::Result<()> {
    let pad = " ".repeat(indent);
    if depth >= MAX_DEPTH && has_children(v) {
        return writeln!(out, "{pad}… (nested deeper than {MAX_DEPTH} levels; not shown)");
    }
    if let Some(obj) = v.as_object() {
        for (k, child) in obj.iter() {
            let k = escape::text(k);
            if has_children(child) {
                writeln!(out, "{pad}{k}:")?;
                write_nested(out, child, indent + 2, Some(&k), depth + 1)?;
            } else if child.as_object().is_some() {
                writeln!(out, "{pad}{k}: {{}}")?;
            } else if child.as_array().is_some() {
                writeln!(out, "{pad}{k}: []")?;
            } else {
                writeln!(out, "{pad}{k}: {}", scalar(Some(&k), child))?;
            }
        }
    } else if let Some(arr) = v.as_array() {
        for item in arr.iter() {
            if let Some(obj) = item.as_object() {
                // "- " on the first field of each object, like YAML.
                let mut first = true;
                for (k, child) in obj.iter() {
                    let k = escape::text(k);
                    let lead = if first { format!("{pad}- ") } else { format!("{pad}  ") };
                    first = false;
                    if child.as_object().is_some() || child.as_array().is_some() {
                        writeln!(out, "{lead}{k}:")?;
                        write_nested(out, child, indent + 4, Some(&k), depth + 2)?;
                    } else {
                        writeln!(out, "{lead}{k}: {}", scalar(Some(&k), child))?;
                    }
                }
            } else if item.as_array().is_some() {
                writeln!(out, "{pad}-")?;
                write_nested(out, item, indent + 2, key, depth + 1)?;
            } else {
                writeln!(out, "{pad}- {}", scalar(key, item))?;
            }
        }
    } else {
        writeln!(out, "{pad}{}", scalar(key, v))?;
    }
    Ok(())
}

fn write_oneline(
    out: &mut impl Write,
    v: Option<Value<'_, '_>>,
    date: Option<&str>,
    user: Option<&str>,
    op: Option<&str>,
) -> io::Result<()> {
    let obj = v.and_then(|v| v.as_object());
    let get = |k: &str| obj.as_ref().and_then(|o| o.get(k)).and_then(text);
    // A key of AuditData, else the export's own column for it.
    let or_column = |k: &str, column: Option<&str>| {
        get(k).map(|c| c.into_owned()).or(column.map(str::to_string))
    };
    let when = or_column("CreationTime", date);
    let record_type = obj
        .as_ref()
        .and_then(|o| o.get("RecordType"))
        .and_then(|r| r.as_i64().map(record_type_name).or_else(|| text(r).map(|t| t.into_owned())));
    let operation = or_column("Operation", op);
    let shown = |v: &Option<String>| escape::text(v.as_deref().unwrap_or("?")).into_owned();
    write!(out, "{} {} {}:", shown(&when), shown(&record_type), shown(&operation))?;
    let user = or_column("UserId", user);
    let mut parts = Vec::new();
    if let Some(u) = user {
        parts.push(format!("user={}", escape::text(&u)));
    }
    for (label, key) in [
        ("ip", "ClientIP"),
        ("meeting", "MeetingDetailId"),
        ("join", "JoinTime"),
        ("leave", "LeaveTime"),
    ] {
        if let Some(value) = get(key) {
            parts.push(format!("{label}={}", escape::text(&value)));
        }
    }
    if obj.is_none() {
        parts.push("(AuditData is not JSON)".into());
    }
    writeln!(out, " {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_and_unknown_numbers() {
        assert_eq!(record_type_name(25), "MicrosoftTeams");
        assert_eq!(record_type_name(99_999), "99999");
        assert_eq!(user_type_name(0), "Regular");
        assert_eq!(user_type_name(10), "Guest");
    }
}
