//! The period a question covers: `--since 7d`, or `--from` / `--to`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::InsightsError;

/// A half-open span of event time, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    /// The first instant included.
    pub from: DateTime<Utc>,
    /// The first instant after it.
    pub to: DateTime<Utc>,
}

impl Period {
    /// The `span` before `now`.
    pub fn last(span: Duration, now: DateTime<Utc>) -> Period {
        Period {
            from: now - span,
            to: now,
        }
    }

    /// The period from a question's options: `from` / `to` (either may be alone: the other end is
    /// `to - default` or `now`), else `since` (a span before `to` or `now`), else `default` before
    /// `now`. Errors name the option and why.
    pub fn resolve(
        since: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        default: Duration,
        now: DateTime<Utc>,
    ) -> Result<Period, InsightsError> {
        let to = match to {
            Some(t) => parse_instant(t, "to")?,
            None => now,
        };
        let from = match (from, since) {
            (Some(_), Some(_)) => {
                return Err(InsightsError::Invalid(
                    "give either `since` or `from`, not both".into(),
                ))
            }
            (Some(f), None) => parse_instant(f, "from")?,
            (None, Some(s)) => to - parse_span(s)?,
            (None, None) => to - default,
        };
        if from >= to {
            return Err(InsightsError::Invalid(format!(
                "the period is empty: `from` ({}) is not before `to` ({})",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        Ok(Period { from, to })
    }

    /// `from` in microseconds since the epoch (the stored time unit).
    pub fn from_micros(&self) -> i64 {
        self.from.timestamp_micros()
    }

    /// `to` in microseconds since the epoch.
    pub fn to_micros(&self) -> i64 {
        self.to.timestamp_micros()
    }
}

/// A span: a number and a unit, `30m`, `24h`, `7d` or `2w`.
pub fn parse_span(s: &str) -> Result<Duration, InsightsError> {
    let bad = || {
        InsightsError::Invalid(format!(
            "`since` must be a number and a unit (m, h, d or w), like 24h or 7d; got {s:?}"
        ))
    };
    let s = s.trim();
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    // Ten years at most: spans beyond it are typing mistakes and would overflow instants.
    if !(1..=3_650 * 24 * 60).contains(&n) {
        return Err(bad());
    }
    let span = match unit {
        'm' => Duration::minutes(n),
        'h' => Duration::hours(n),
        'd' => Duration::days(n),
        'w' => Duration::weeks(n),
        _ => return Err(bad()),
    };
    if span > Duration::days(3_650) {
        return Err(bad());
    }
    Ok(span)
}

/// An instant: RFC 3339 (`2026-10-05T08:00:00Z`) or a day (`2026-10-05`, its midnight UTC).
pub fn parse_instant(s: &str, what: &str) -> Result<DateTime<Utc>, InsightsError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    Err(InsightsError::Invalid(format!(
        "`{what}` must be a day (2026-10-05) or an RFC 3339 time (2026-10-05T08:00:00Z); got {s:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_instant(s, "t").unwrap()
    }

    #[test]
    fn periods_come_from_since_or_from_and_to() {
        let now = t("2026-10-10T12:00:00Z");
        let p = Period::resolve(Some("7d"), None, None, Duration::hours(1), now).unwrap();
        assert_eq!((p.from, p.to), (t("2026-10-03T12:00:00Z"), now));
        let p = Period::resolve(None, None, None, Duration::hours(24), now).unwrap();
        assert_eq!(p.from, t("2026-10-09T12:00:00Z"));
        let p = Period::resolve(
            None,
            Some("2026-10-05"),
            Some("2026-10-06"),
            Duration::hours(1),
            now,
        )
        .unwrap();
        assert_eq!(
            (p.from, p.to),
            (t("2026-10-05T00:00:00Z"), t("2026-10-06T00:00:00Z"))
        );
        let p = Period::resolve(
            Some("90m"),
            None,
            Some("2026-10-05T02:00:00+02:00"),
            Duration::hours(1),
            now,
        )
        .unwrap();
        assert_eq!(p.from, t("2026-10-04T22:30:00Z"));
    }

    #[test]
    fn bad_periods_say_which_option_and_why() {
        let now = t("2026-10-10T12:00:00Z");
        let d = Duration::hours(1);
        for (since, from, to, words) in [
            (Some("7"), None, None, "since"),
            (Some("d"), None, None, "since"),
            (Some("-3d"), None, None, "since"),
            (Some("9999999999w"), None, None, "since"),
            (Some("7y"), None, None, "since"),
            (Some("7d"), Some("2026-10-01"), None, "either"),
            (None, Some("yesterday"), None, "`from`"),
            (None, None, Some("2026-13-01"), "`to`"),
            (None, Some("2026-10-06"), Some("2026-10-05"), "empty"),
        ] {
            let e = Period::resolve(since, from, to, d, now)
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{since:?} {from:?} {to:?}: {e}");
        }
    }
}
