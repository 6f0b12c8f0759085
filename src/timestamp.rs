//! Timestamps as integers: AuditData times (`YYYY-MM-DDThh:mm:ss`, SPEC 1.2) become seconds
//! since the Unix epoch, so they sort, compare and subtract cheaply and take 8 bytes, and are
//! written back in the same form. Civil-date arithmetic after Howard Hinnant's algorithms.

/// Seconds since 1970-01-01T00:00:00 (UTC, as audit records are).
pub type Ts = i64;

/// An `Option<Ts>` in 8 bytes instead of 16, for the times held per record and per
/// connection (millions of each: 25 MB each on the bench archive). `i64::MIN`, far outside
/// what [`parse`] gives (years 0 to 9999), stands for no time; a time that is `i64::MIN` (only
/// a damaged state file could hold one) reads as none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaybeTs(i64);

impl MaybeTs {
    pub const NONE: MaybeTs = MaybeTs(i64::MIN);

    pub fn get(self) -> Option<Ts> {
        (self != MaybeTs::NONE).then_some(self.0)
    }

    /// The 8 bytes' value as a partial-state file writes it: the time, or `i64::MIN`.
    pub fn raw(self) -> i64 {
        self.0
    }

    /// What [`MaybeTs::raw`] gave.
    pub fn from_raw(raw: i64) -> MaybeTs {
        MaybeTs(raw)
    }
}

impl From<Option<Ts>> for MaybeTs {
    fn from(t: Option<Ts>) -> MaybeTs {
        t.map_or(MaybeTs::NONE, MaybeTs)
    }
}

/// Parses `YYYY-MM-DDThh:mm:ss`, also accepting a fraction (`.0000000`) and a trailing `Z`
/// that some exports add; both are dropped. Anything else, or an impossible date, is `None`.
pub fn parse(s: &[u8]) -> Option<Ts> {
    let head = s.get(..19)?;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    if !(rest.is_empty() || rest == b"Z") {
        return None;
    }
    let sep = |i: usize, c: u8| head[i] == c;
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<i64> {
        head[a..b]
            .iter()
            .try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Writes `ts` as `YYYY-MM-DDThh:mm:ss` into `buf` (cleared first). Digits are written by
/// hand: this runs once or twice per report row and `write!` showed up in profiles.
pub fn format_into(ts: Ts, buf: &mut String) {
    buf.clear();
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        // Outside what a four-digit year can show; cannot come from `parse`.
        use std::fmt::Write;
        let _ = write!(
            buf,
            "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        return;
    }
    let mut out = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, secs / 3600);
    put(14, 2, secs / 60 % 60);
    put(17, 2, secs % 60);
    buf.push_str(std::str::from_utf8(&out).unwrap_or_default());
}

pub fn format(ts: Ts) -> String {
    let mut s = String::with_capacity(19);
    format_into(ts, &mut s);
    s
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maybe_ts_holds_every_time_but_one_in_8_bytes() {
        for t in [None, Some(0), Some(-1), Some(1), Some(i64::MAX), Some(i64::MIN + 1)] {
            assert_eq!(MaybeTs::from(t).get(), t);
        }
        assert_eq!(MaybeTs::from(Some(i64::MIN)).get(), None);
        assert_eq!(MaybeTs::from(None), MaybeTs::NONE);
        assert_eq!(std::mem::size_of::<MaybeTs>(), 8);
        assert_eq!(std::mem::size_of::<Option<Ts>>(), 16);
        // The years parse accepts are far from the one value that means none.
        let first = parse(b"0000-01-01T00:00:00").unwrap();
        let last = parse(b"9999-12-31T23:59:59").unwrap();
        assert!(first > i64::MIN / 2 && last < i64::MAX / 2, "{first} {last}");
    }

    #[test]
    fn round_trips_and_known_values() {
        assert_eq!(parse(b"1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse(b"2024-03-05T09:12:44"), Some(1_709_629_964));
        assert_eq!(parse(b"2024-03-05T09:12:44.0000000Z"), Some(1_709_629_964));
        assert_eq!(parse(b"2024-03-05T09:12:44Z"), Some(1_709_629_964));
        for s in ["2024-02-29T23:59:59", "1999-12-31T00:00:01", "2100-03-01T12:00:00"] {
            assert_eq!(format(parse(s.as_bytes()).unwrap()), s);
        }
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for bad in [
            "",
            "2024-03-05",
            "2024-03-05 09:12:44",
            "2023-02-29T00:00:00",
            "2024-13-01T00:00:00",
            "2024-03-05T24:00:00",
            "2024-03-05T09:12:44.",
            "2024-03-05T09:12:44+01:00",
            "9/20/2023 4:05:03 AM",
            "2024-03-05T09:1x:44",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
    }
}
