//! The time zone of the hourly timeline (`--tz`): UTC, a fixed offset, or an IANA zone whose
//! offset changes with daylight saving time. Audit times are UTC seconds ([`Ts`]); a zone only
//! says which local clock hour an instant falls in and how that hour is labelled. The IANA
//! database is the one built into the binary (jiff's bundled copy), so a report does not depend
//! on the machine's own zone files.

use crate::timestamp::{self, Ts};

#[derive(Debug, Clone, Default)]
pub enum Zone {
    #[default]
    Utc,
    /// Seconds east of UTC.
    Fixed(i32),
    Named {
        name: String,
        tz: jiff::tz::TimeZone,
    },
}

impl Zone {
    /// `UTC`, `Z`, an offset (`+02:00`, `-0530`, `+5`) or an IANA name (`Europe/Berlin`).
    pub fn parse(text: &str) -> Result<Zone, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(Zone::Utc);
        }
        if let Some(sign) = t.strip_prefix(['+', '-']).map(|_| t.as_bytes()[0]) {
            let offset = parse_offset(&t[1..]).ok_or_else(|| {
                format!("--tz {text:?}: an offset is written +02:00, -0530 or +5")
            })?;
            return Ok(match offset {
                0 => Zone::Utc,
                o => Zone::Fixed(if sign == b'-' { -o } else { o }),
            });
        }
        match jiff::tz::TimeZone::get(t) {
            Ok(tz) => Ok(Zone::Named { name: t.to_string(), tz }),
            Err(_) => Err(format!(
                "--tz {text:?}: not a time zone; give UTC, an offset such as +02:00, or an IANA \
                 name such as Europe/Berlin"
            )),
        }
    }

    /// How the zone is named in the summary and the page.
    pub fn name(&self) -> String {
        match self {
            Zone::Utc => "UTC".to_string(),
            Zone::Fixed(o) => {
                let (sign, o) = if *o < 0 { ('-', -o) } else { ('+', *o) };
                format!("UTC{sign}{:02}:{:02}", o / 3600, o % 3600 / 60)
            }
            Zone::Named { name, .. } => name.clone(),
        }
    }

    /// Seconds east of UTC at instant `t`.
    pub fn offset(&self, t: Ts) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(o) => i64::from(*o),
            Zone::Named { tz, .. } => match jiff::Timestamp::from_second(t) {
                Ok(ts) => i64::from(tz.to_offset(ts).seconds()),
                // Beyond jiff's range (years outside -9999..=9999): no zone rules apply there.
                Err(_) => 0,
            },
        }
    }

    /// The instant at which the local clock hour holding `t` began. Offsets change on whole
    /// local hours in every zone in use, so within one clock hour the offset is the same; the
    /// hour repeated when clocks go back is two hours here, each with its own instant.
    pub fn hour_start(&self, t: Ts) -> Ts {
        let local = t.saturating_add(self.offset(t));
        t - local.rem_euclid(3600)
    }

    /// `YYYY-MM-DDThh:00`, the local clock hour that begins at `start` (an [`hour_start`]).
    ///
    /// [`hour_start`]: Zone::hour_start
    pub fn hour_label(&self, start: Ts) -> String {
        let local = timestamp::format(start.saturating_add(self.offset(start)));
        format!("{}:00", local.get(..13).unwrap_or(&local))
    }
}

/// `02:00`, `0200`, `2` or `02`: seconds; at most 18 hours, as ISO 8601 allows.
fn parse_offset(text: &str) -> Option<i32> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || text.matches(':').count() > 1 {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
        _ => return None,
    };
    (h <= 18 && m < 60).then_some(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Ts {
        timestamp::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn offsets_and_names_parse() {
        assert_eq!(Zone::parse("+02:00").unwrap().offset(0), 7200);
        assert_eq!(Zone::parse("-0530").unwrap().offset(0), -(5 * 3600 + 1800));
        assert_eq!(Zone::parse("+5").unwrap().name(), "UTC+05:00");
        assert_eq!(Zone::parse("-05:30").unwrap().name(), "UTC-05:30");
        assert!(matches!(Zone::parse("utc").unwrap(), Zone::Utc));
        assert!(matches!(Zone::parse("+00:00").unwrap(), Zone::Utc));
        assert_eq!(Zone::parse("Europe/Berlin").unwrap().name(), "Europe/Berlin");
        for bad in ["+25:00", "+02:60", "+2:3:4", "Mars/Olympus", "", "+ab"] {
            assert!(Zone::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hours_of_a_half_hour_zone_start_on_the_half_hour_in_utc() {
        let india = Zone::parse("Asia/Kolkata").unwrap();
        let t = ts("2024-03-01T10:10:00");
        // 15:40 local: the hour began at 15:00 local, 09:30 UTC.
        assert_eq!(india.hour_start(t), ts("2024-03-01T09:30:00"));
        assert_eq!(india.hour_label(india.hour_start(t)), "2024-03-01T15:00");
    }

    #[test]
    fn clocks_going_back_make_two_hours_with_one_label() {
        // New York, 2024-11-03: 01:00-02:00 EDT (05:00-06:00 UTC), then 01:00-02:00 EST
        // (06:00-07:00 UTC).
        let ny = Zone::parse("America/New_York").unwrap();
        let first = ny.hour_start(ts("2024-11-03T05:30:00"));
        let second = ny.hour_start(ts("2024-11-03T06:30:00"));
        assert_eq!(first, ts("2024-11-03T05:00:00"));
        assert_eq!(second, ts("2024-11-03T06:00:00"));
        assert_eq!(ny.hour_label(first), "2024-11-03T01:00");
        assert_eq!(ny.hour_label(second), "2024-11-03T01:00");
    }

    #[test]
    fn clocks_going_forward_skip_a_label() {
        // Berlin, 2024-03-31: 02:00 local does not exist; 00:59 UTC is 01:59 CET, 01:00 UTC is
        // 03:00 CEST.
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        let a = berlin.hour_start(ts("2024-03-31T00:59:00"));
        let b = berlin.hour_start(ts("2024-03-31T01:00:00"));
        assert_eq!(berlin.hour_label(a), "2024-03-31T01:00");
        assert_eq!(berlin.hour_label(b), "2024-03-31T03:00");
        assert_eq!(b - a, 3600);
    }

    #[test]
    fn far_times_do_not_panic() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        for t in [i64::MIN / 2, -1, 0, i64::MAX / 2] {
            let start = berlin.hour_start(t);
            let _ = berlin.hour_label(start);
        }
    }
}
