//! Unquoted date and date-time literals (`2024-07-01`, `2024-07-01T00:00:00.1234567Z`,
//! `2024-07-01T00:00:00+02:00`): scanning, range checks and conversion to days or UTC
//! nanoseconds since the Unix epoch, with the proleptic Gregorian calendar.

use crate::error::Fail;

/// A scanned temporal literal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Temporal {
    /// Days since 1970-01-01.
    Date(i32),
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    DateTime(i128),
}

/// Whether `year` is a Gregorian leap year.
pub(crate) fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the given date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

struct Scan<'a> {
    b: &'a [u8],
}

impl Scan<'_> {
    /// `n` ASCII digits at `at` as a number, or a syntax failure naming `what`.
    fn digits(&self, at: usize, n: usize, what: &str) -> Result<u32, Fail> {
        let mut v = 0u32;
        for k in 0..n {
            match self.b.get(at + k) {
                Some(c) if c.is_ascii_digit() => v = v * 10 + u32::from(c - b'0'),
                _ => return Err(Fail::syntax(at + k, format!("malformed {what}"))),
            }
        }
        Ok(v)
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.b.get(at).copied()
    }

    fn expect(&self, at: usize, c: u8, what: &str) -> Result<(), Fail> {
        if self.byte(at) == Some(c) {
            Ok(())
        } else {
            Err(Fail::syntax(at, format!("malformed {what}")))
        }
    }

    /// `hh:mm` at `at`, the hour 00-23 and the minute 00-59 (`names` name them in errors).
    fn hours_minutes(
        &self,
        at: usize,
        what: &str,
        names: (&str, &str),
    ) -> Result<(u32, u32), Fail> {
        let hours = self.digits(at, 2, what)?;
        self.expect(at + 2, b':', what)?;
        let minutes = self.digits(at + 3, 2, what)?;
        self.range(at, hours, 0, 23, names.0)?;
        self.range(at + 3, minutes, 0, 59, names.1)?;
        Ok((hours, minutes))
    }

    fn range(&self, at: usize, v: u32, lo: u32, hi: u32, name: &str) -> Result<(), Fail> {
        if v < lo || v > hi {
            Err(Fail::invalid(
                at,
                format!("{name} {v:02} is out of range ({lo:02}-{hi:02})"),
            ))
        } else {
            Ok(())
        }
    }
}

/// Scans a date or date-time at `start`, where `src` has four ASCII digits and a `-`.
/// Returns the end offset and the value; the caller checks what follows.
pub(crate) fn scan(src: &str, start: usize) -> Result<(usize, Temporal), Fail> {
    const DATE: &str = "date (expected YYYY-MM-DD)";
    const TIME: &str = "time (expected YYYY-MM-DDThh:mm:ss[.fffffff]Z or an offset like +02:00)";
    let s = Scan { b: src.as_bytes() };
    let year = s.digits(start, 4, DATE)?;
    s.expect(start + 4, b'-', DATE)?;
    let month = s.digits(start + 5, 2, DATE)?;
    s.expect(start + 7, b'-', DATE)?;
    let day = s.digits(start + 8, 2, DATE)?;
    s.range(start + 5, month, 1, 12, "month")?;
    let dim = days_in_month(i64::from(year), month);
    if day < 1 || day > dim {
        return Err(Fail::invalid(
            start + 8,
            format!(
                "day {day:02} is out of range for {} {year:04} (01-{dim})",
                MONTHS[month as usize - 1]
            ),
        ));
    }
    let days = days_from_civil(i64::from(year), month, day);
    let mut i = start + 10;
    if !matches!(s.byte(i), Some(b'T' | b't')) {
        // Fits: four-digit years give |days| < 3 million.
        return Ok((i, Temporal::Date(days as i32)));
    }
    let (hour, minute) = s.hours_minutes(i + 1, TIME, ("hour", "minute"))?;
    i += 6;
    let mut second = 0;
    let mut nanos: i128 = 0;
    if s.byte(i) == Some(b':') {
        second = s.digits(i + 1, 2, TIME)?;
        s.range(i + 1, second, 0, 59, "second")?;
        i += 3;
        if s.byte(i) == Some(b'.') {
            let first = i + 1;
            let mut j = first;
            while s.byte(j).is_some_and(|c| c.is_ascii_digit()) {
                if j - first < 9 {
                    nanos = nanos * 10 + i128::from(s.b[j] - b'0');
                }
                j += 1;
            }
            if j == first {
                return Err(Fail::syntax(first, format!("malformed {TIME}")));
            }
            if j - first > 12 {
                return Err(Fail::invalid(
                    first,
                    "too many fractional second digits (at most 12)",
                ));
            }
            for _ in (j - first)..9 {
                nanos *= 10;
            }
            i = j;
        }
    }
    let offset_secs: i64 = match s.byte(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let (oh, om) = s.hours_minutes(i + 1, TIME, ("offset hour", "offset minute"))?;
            i += 6;
            let secs = i64::from(oh) * 3600 + i64::from(om) * 60;
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => {
            return Err(Fail::syntax(
                i,
                "expected 'Z' or a UTC offset such as +02:00 after the time",
            ))
        }
    };
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_secs;
    Ok((
        i,
        Temporal::DateTime(i128::from(secs) * 1_000_000_000 + nanos),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> i128 {
        match scan(s, 0).unwrap() {
            (end, Temporal::DateTime(n)) if end == s.len() => n,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2024, 7, 1), 19_905);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn date_times() {
        assert_eq!(dt("1970-01-01T00:00:00Z"), 0);
        assert_eq!(dt("2024-07-01T00:00:00Z"), 1_719_792_000_000_000_000);
        assert_eq!(
            dt("2024-07-01T00:00:00.1234567Z"),
            1_719_792_000_123_456_700
        );
        assert_eq!(dt("2024-07-01T02:00:00+02:00"), 1_719_792_000_000_000_000);
        assert_eq!(dt("2024-06-30T22:00:00-02:00"), 1_719_792_000_000_000_000);
        assert_eq!(dt("2024-07-01T00:00Z"), 1_719_792_000_000_000_000);
        assert_eq!(
            dt("2024-07-01T00:00:00.123456789123Z"),
            1_719_792_000_123_456_789
        );
        assert_eq!(dt("2024-02-29T00:00:00Z") / 1_000_000_000 % 86_400, 0);
    }

    #[test]
    fn dates_and_ranges() {
        assert_eq!(scan("2024-07-01", 0).unwrap(), (10, Temporal::Date(19_905)));
        assert_eq!(scan("2024-02-29", 0).unwrap().0, 10);
        assert_eq!(scan("2000-02-29", 0).unwrap().0, 10);
        assert_eq!(scan("2023-02-29", 0).unwrap_err().pos, 8);
        assert_eq!(scan("1900-02-29", 0).unwrap_err().pos, 8);
        assert_eq!(scan("2024-13-01", 0).unwrap_err().pos, 5);
        assert_eq!(scan("2024-00-01", 0).unwrap_err().pos, 5);
        assert_eq!(scan("2024-04-31", 0).unwrap_err().pos, 8);
        assert_eq!(scan("2024-04-1", 0).unwrap_err().pos, 9);
        assert_eq!(scan("2024-04-01T24:00:00Z", 0).unwrap_err().pos, 11);
        assert_eq!(scan("2024-04-01T23:60:00Z", 0).unwrap_err().pos, 14);
        assert_eq!(scan("2024-04-01T23:59:60Z", 0).unwrap_err().pos, 17);
        assert_eq!(scan("2024-04-01T23:59:59", 0).unwrap_err().pos, 19);
        assert_eq!(scan("2024-04-01T23:59:59.Z", 0).unwrap_err().pos, 20);
        assert_eq!(scan("2024-04-01T23:59:59+2:00", 0).unwrap_err().pos, 21);
    }
}
