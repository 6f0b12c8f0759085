//! Timestamps as integers: AuditData times (`YYYY-MM-DDThh:mm:ss`, SPEC 1.2) become seconds
//! since the Unix epoch, so they sort, compare and subtract cheaply and take 8 bytes, and are
//! written back in the same form. Civil-date arithmetic after Howard Hinnant's algorithms.

use std::cell::Cell;

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
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(day_of(y, mo, d)? * 86_400 + h * 3600 + mi * 60 + se)
}

thread_local! {
    /// The last date [`day_of`] found valid on this thread, as `y * 10_000 + m * 100 + d`,
    /// and its day number. A record's three times, and a file's records, mostly fall on one
    /// day: the calendar's checks and arithmetic (1.5% of a bench run with the parse) are
    /// then skipped.
    static LAST_DATE: Cell<(i64, i64)> = const { Cell::new((-1, 0)) };
}

/// The day number of a date given as four-digit year, month and day (each as digits read
/// them); `None` when there is no such day.
fn day_of(y: i64, m: i64, d: i64) -> Option<i64> {
    // Injective for the fields' ranges (0-9999, 0-99, 0-99), never -1.
    let date = y * 10_000 + m * 100 + d;
    match LAST_DATE.with(Cell::get) {
        (last, days) if last == date => Some(days),
        _ => {
            if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
                return None;
            }
            let days = days_from_civil(y, m, d);
            LAST_DATE.with(|last| last.set((date, days)));
            Some(days)
        }
    }
}

/// Writes times as `YYYY-MM-DDThh:mm:ss`, keeping the last day's date written out: a report's
/// rows give a meeting's connections one after another, mostly on one day, so the date's
/// arithmetic (divisions, for the calendar and for each digit) is mostly skipped. Formatting
/// times was 2% of a bench run.
#[derive(Default)]
pub struct Formatter {
    /// The day (since 1970-01-01) whose date `date` holds; `None` before the first.
    day: Option<i64>,
    date: [u8; 10],
}

impl Formatter {
    /// Appends `ts` as `YYYY-MM-DDThh:mm:ss` to `out`.
    pub fn format_into(&mut self, ts: Ts, out: &mut Vec<u8>) {
        let days = ts.div_euclid(86_400);
        let secs = ts.rem_euclid(86_400);
        if self.day != Some(days) {
            let (y, m, d) = civil_from_days(days);
            if !(0..=9999).contains(&y) {
                // Outside what a four-digit year can show; cannot come from `parse`.
                use std::io::Write;
                let _ = write!(
                    out,
                    "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                );
                return;
            }
            let [y0, y1] = two_digits(y / 100);
            let [y2, y3] = two_digits(y % 100);
            let [m0, m1] = two_digits(m);
            let [d0, d1] = two_digits(d);
            self.date = [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1];
            self.day = Some(days);
        }
        let [h0, h1] = two_digits(secs / 3600);
        let [i0, i1] = two_digits(secs / 60 % 60);
        let [s0, s1] = two_digits(secs % 60);
        out.extend_from_slice(&self.date);
        out.extend_from_slice(&[b'T', h0, h1, b':', i0, i1, b':', s0, s1]);
    }
}

/// The two decimal digits of `v` (0 to 99).
fn two_digits(v: i64) -> [u8; 2] {
    let v = v.rem_euclid(100) as u8;
    [b'0' + v / 10, b'0' + v % 10]
}

pub fn format(ts: Ts) -> String {
    let mut out = Vec::with_capacity(19);
    Formatter::default().format_into(ts, &mut out);
    // Digits, dashes, colons and a T (or `write!`'s text): always UTF-8.
    String::from_utf8(out).unwrap_or_default()
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

    /// What [`parse`] gave before it kept the last date: every check and the arithmetic
    /// for every time.
    fn parse_without_memory(s: &str) -> Option<Ts> {
        let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
        let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
        let (h, mi, se) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
        let valid = (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m);
        (valid && h <= 23 && mi <= 59 && se <= 59)
            .then(|| days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + se)
    }

    proptest::proptest! {
        /// Dates one after another on one thread, valid and not (Feb 29 of a common year after
        /// Feb 28, month 13, day 0), the same date again and again: each parses as without
        /// the remembered date.
        #[test]
        fn a_remembered_date_never_changes_a_parse(
            dates in proptest::collection::vec((1999i64..2002, 0i64..14, 0i64..33, 0i64..25), 1..60),
        ) {
            for (y, m, d, h) in dates {
                for text in [format!("{y:04}-{m:02}-{d:02}T{h:02}:30:00"), format!("{y:04}-{m:02}-{d:02}T00:00:59Z")] {
                    proptest::prop_assert_eq!(parse(text.as_bytes()), parse_without_memory(&text), "{}", text);
                }
            }
        }

        /// One formatter through times near and far apart (the same day again, the next
        /// second, another year) writes each as its calendar fields say, and a time far
        /// outside four-digit years as `write!` does.
        #[test]
        fn a_formatter_writes_each_time_as_its_fields(
            times in proptest::collection::vec(
                proptest::prop_oneof![
                    -62_167_219_200i64..253_402_300_800,
                    1_700_000_000i64..1_700_200_000,
                    proptest::prelude::Just(i64::MIN / 2),
                    proptest::prelude::Just(i64::MAX / 2),
                ],
                1..40,
            ),
        ) {
            let mut formatter = Formatter::default();
            for ts in times {
                let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
                let (y, m, d) = civil_from_days(days);
                let (h, mi, se) = (secs / 3600, secs / 60 % 60, secs % 60);
                let expected = match (0..=9999).contains(&y) {
                    true => format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}"),
                    false => format!("{y}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}"),
                };
                let mut out = b"before,".to_vec();
                formatter.format_into(ts, &mut out);
                proptest::prop_assert_eq!(String::from_utf8_lossy(&out), format!("before,{expected}"));
            }
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
