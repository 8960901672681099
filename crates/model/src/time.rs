//! The timestamp grammar of Entra exports.
//!
//! Graph writes `2024-01-13T14:13:32Z` with 0–7 fractional digits; the diagnostic export writes
//! `2022-01-24T05:10:08.6816663+00:00`, sometimes US-style `12/12/2025 3:03:58 PM`; Log Analytics
//! CSV exports write `4/28/2021, 2:08:45.221 PM`; risk events may carry an unpadded hour
//! (`2021-06-03T9:54:27.739Z`). [`parse_timestamp`] accepts all of them and returns UTC.

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc,
};

/// Parses any timestamp form seen in Entra exports. Timestamps without an offset are UTC.
pub fn parse_timestamp(input: &str) -> Result<DateTime<Utc>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty timestamp".into());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        return parse_iso_loose(s).ok_or_else(|| bad(input));
    }
    if s.contains('/') {
        return parse_us(s).ok_or_else(|| bad(input));
    }
    Err(bad(input))
}

fn bad(input: &str) -> String {
    let shown: String = input.chars().take(64).collect();
    format!("unrecognised timestamp `{shown}`")
}

/// ISO-8601 with the quirks: unpadded hour, missing offset, date only, space separator.
fn parse_iso_loose(s: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time_part, offset) = split_offset(rest)?;
    let time = parse_clock(time_part)?;
    finish(NaiveDateTime::new(date, time), offset)
}

/// Splits `hh:mm:ss[.f](Z|±hh:mm|)` into the clock part and an offset in seconds.
fn split_offset(s: &str) -> Option<(&str, i32)> {
    let s = s.trim();
    if let Some(c) = s.strip_suffix(['Z', 'z']) {
        return Some((c.trim_end(), 0));
    }
    if let Some(pos) = s.rfind(['+', '-']) {
        let (clock, off) = s.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.bytes().all(|d| d.is_ascii_digit()) {
            return None;
        }
        let h: i32 = digits[..2].parse().ok()?;
        let m: i32 = digits[2..].parse().ok()?;
        return Some((clock.trim_end(), sign * (h * 3600 + m * 60)));
    }
    Some((s, 0))
}

/// `h:mm[:ss[.fffffffff]]` with 0–9 fractional digits.
fn parse_clock(s: &str) -> Option<NaiveTime> {
    let mut parts = s.splitn(3, ':');
    let h: u32 = parts.next()?.trim().parse().ok()?;
    let m: u32 = parts.next()?.trim().parse().ok()?;
    let (sec, nanos) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = match sec.split_once(['.', ',']) {
                Some((w, f)) => (w, f),
                None => (sec, ""),
            };
            if frac.len() > 9 || !frac.bytes().all(|d| d.is_ascii_digit()) {
                return None;
            }
            let mut nanos: u32 = if frac.is_empty() {
                0
            } else {
                frac.parse().ok()?
            };
            for _ in frac.len()..9 {
                nanos *= 10;
            }
            (whole.parse().ok()?, nanos)
        }
    };
    NaiveTime::from_hms_nano_opt(h, m, sec, nanos)
}

/// US style: `M/d/yyyy[,] h:mm[:ss[.fff]] [AM|PM] [±hh:mm]`.
fn parse_us(s: &str) -> Option<DateTime<Utc>> {
    let (date_part, rest) = s.split_once([' ', ','])?;
    let mut d = date_part.split('/');
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let year: i32 = d.next()?.parse().ok()?;
    if d.next().is_some() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let mut tokens: Vec<&str> = rest.split([' ', ',']).filter(|t| !t.is_empty()).collect();
    let mut offset = 0;
    if let Some(last) = tokens.last() {
        if last.starts_with(['+', '-']) {
            let (_, off) = split_offset(&format!("00:00{last}")).map(|(c, o)| (c.len(), o))?;
            offset = off;
            tokens.pop();
        }
    }
    let mut pm = None;
    if let Some(last) = tokens.last() {
        match last.to_ascii_uppercase().as_str() {
            "AM" => pm = Some(false),
            "PM" => pm = Some(true),
            _ => {}
        }
        if pm.is_some() {
            tokens.pop();
        }
    }
    if tokens.len() != 1 {
        return None;
    }
    let mut time = parse_clock(tokens[0])?;
    if let Some(pm) = pm {
        use chrono::Timelike;
        let h = time.hour();
        if !(1..=12).contains(&h) {
            return None;
        }
        let h24 = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, false) => h,
            (h, true) => h + 12,
        };
        time = time.with_hour(h24)?;
    }
    finish(NaiveDateTime::new(date, time), offset)
}

fn finish(local: NaiveDateTime, offset_secs: i32) -> Option<DateTime<Utc>> {
    let tz = FixedOffset::east_opt(offset_secs)?;
    Some(tz.from_local_datetime(&local).single()?.with_timezone(&Utc))
}

/// Formats a timestamp the way Graph does: UTC, `Z`, with as many fractional digits as needed (up to 7,
/// or 9 where the source had nanoseconds).
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    use chrono::Timelike;
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return t.to_rfc3339_opts(SecondsFormat::Secs, true);
    }
    let mut frac = format!("{nanos:09}");
    while frac.ends_with('0') {
        frac.pop();
    }
    format!("{}.{}Z", t.format("%Y-%m-%dT%H:%M:%S"), frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        format_timestamp(&parse_timestamp(s).unwrap())
    }

    #[test]
    fn graph_and_diagnostic_forms() {
        assert_eq!(iso("2024-01-13T14:13:32Z"), "2024-01-13T14:13:32Z");
        assert_eq!(
            iso("2022-01-24T05:10:08.6816663+00:00"),
            "2022-01-24T05:10:08.6816663Z"
        );
        assert_eq!(
            iso("2007-01-09T09:41:00.535404056Z"),
            "2007-01-09T09:41:00.535404056Z"
        );
        assert_eq!(iso("2007-01-09T11:41:00+02:00"), "2007-01-09T09:41:00Z");
        assert_eq!(iso("2007-01-09T09:41:00"), "2007-01-09T09:41:00Z");
        assert_eq!(iso("2021-06-03T9:54:27.739Z"), "2021-06-03T09:54:27.739Z");
        assert_eq!(iso("2019-03-20"), "2019-03-20T00:00:00Z");
    }

    #[test]
    fn us_forms() {
        assert_eq!(iso("12/12/2025 3:03:58 PM"), "2025-12-12T15:03:58Z");
        assert_eq!(iso("1/9/2007 9:41:00 AM"), "2007-01-09T09:41:00Z");
        assert_eq!(iso("01/09/2007 09:41:00"), "2007-01-09T09:41:00Z");
        assert_eq!(iso("1/9/2007 10:41:00 AM +01:00"), "2007-01-09T09:41:00Z");
        assert_eq!(iso("4/28/2021, 2:08:45.221 PM"), "2021-04-28T14:08:45.221Z");
        assert_eq!(iso("3/12/2025 12:22:01 AM"), "2025-03-12T00:22:01Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2021-13-01T00:00:00Z",
            "13/40/2020 1:00 PM",
            "1/1/2020 13:00 PM",
        ] {
            assert!(parse_timestamp(s).is_err(), "{s}");
        }
    }
}
