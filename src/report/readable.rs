//! The readable disconnection report tala prints with `-d`: per affected meeting its id, type,
//! date, time span and attendee count; per affected attendee its key, key type, email when
//! known and organization; per connection its time span, IP, device and property; then the two
//! "affected out of" lines. Every value from a record is escaped ([`escape::text`]), so a
//! name with a line break cannot forge a line and a terminal escape sequence is shown, not run.

use std::io::Write;

use anyhow::Result;

use crate::analyze::meetings::{device_label, Meetings};
use crate::analyze::users::UsersDb;
use crate::escape;
use crate::report::tables::email;
use crate::state::intern::Interner;
use crate::timestamp::{self, Ts};

/// `HH:MM:SS` when `t` falls on `day` (the meeting's date), the full timestamp otherwise.
fn clock(t: Option<Ts>, day: Option<&str>) -> String {
    match t {
        None => "?".to_string(),
        Some(t) => {
            let full = timestamp::format(t);
            match day {
                Some(d) if full.starts_with(d) => full[11..].to_string(),
                _ => full,
            }
        }
    }
}

pub fn write(
    mut out: impl Write,
    strings: &Interner,
    users: Option<&UsersDb>,
    meetings: &Meetings,
    affected_lines: &str,
) -> Result<()> {
    for m in meetings.list.iter().filter(|m| !m.groups.is_empty()) {
        let first = m.first_join.map(timestamp::format);
        let day = first.as_deref().map(|f| &f[..10]);
        writeln!(
            out,
            "Meeting {} {} {} {}-{}, {} attendees",
            escape::text(strings.get(m.id)),
            match strings.get(m.meeting_type) {
                "" => "?".into(),
                t => escape::text(t),
            },
            day.unwrap_or("?"),
            clock(m.first_join, day),
            clock(m.last_leave, day),
            m.number_attendees
        )?;
        let mut current_key = None;
        for group in &m.groups {
            let Some(&head) = group.members.first() else { continue };
            let c = &m.connections[head];
            if current_key != Some(c.conn.key) {
                current_key = Some(c.conn.key);
                let mail = email(strings, users, c);
                writeln!(
                    out,
                    "  {} ({}){}{}",
                    escape::text(strings.get(c.conn.key)),
                    escape::text(strings.get(c.conn.key_type)),
                    if mail.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", escape::text(mail))
                    },
                    match strings.get(c.conn.organization) {
                        "" => String::new(),
                        org => format!(", organization {}", escape::text(org)),
                    }
                )?;
            }
            for &i in &group.members {
                let c = &m.connections[i].conn;
                writeln!(
                    out,
                    "    {}-{}  {}  {}  {}",
                    clock(c.join.get(), day),
                    clock(c.leave.get(), day),
                    c.client_ip.with_text(strings, |ip| escape::text(ip).to_string()),
                    escape::text(device_label(strings, c.device)),
                    escape::text(strings.get(c.property))
                )?;
            }
        }
        writeln!(out)?;
    }
    out.write_all(affected_lines.as_bytes())?;
    out.flush()?;
    Ok(())
}
