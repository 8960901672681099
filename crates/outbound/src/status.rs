//! What a running stream reports: deliveries, failures, how far behind the store it is — for
//! `/metrics`, `/healthz` and `gatehouse status`.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

/// A stream's live counters (shared between its thread and the server's reports).
#[derive(Debug)]
pub struct StreamStatus {
    /// The stream's name.
    pub name: String,
    /// `webhook` or `kafka`.
    pub kind: &'static str,
    /// Its feed's name.
    pub feed: &'static str,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: u64,
    deliveries: u64,
    failures: u64,
    gaps: u64,
    last_error: Option<(SystemTime, String)>,
    position: String,
    behind_commits: u64,
    caught_up: Option<Instant>,
    started: Option<Instant>,
}

impl StreamStatus {
    /// A new status.
    pub fn new(name: impl Into<String>, kind: &'static str, feed: &'static str) -> StreamStatus {
        StreamStatus {
            name: name.into(),
            kind,
            feed,
            inner: Mutex::new(Inner {
                started: Some(Instant::now()),
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A batch of `records` was delivered, bringing a table to `position`.
    pub fn delivered(&self, records: u64, position: String) {
        let mut i = self.lock();
        i.records += records;
        i.deliveries += 1;
        i.position = position;
    }

    /// A delivery attempt failed.
    pub fn failed(&self, error: &str) {
        let mut i = self.lock();
        i.failures += 1;
        i.last_error = Some((SystemTime::now(), error.to_string()));
    }

    /// Commits or files were gone when the stream came to them.
    pub fn gap(&self, what: &str) {
        let mut i = self.lock();
        i.gaps += 1;
        i.last_error = Some((SystemTime::now(), what.to_string()));
    }

    /// A round ended with `behind` commits not read yet.
    pub fn round_done(&self, behind: u64) {
        let mut i = self.lock();
        i.behind_commits = behind;
        if behind == 0 {
            i.caught_up = Some(Instant::now());
        }
    }

    /// Seconds since the stream last had delivered everything stored (since it started, when it
    /// never has).
    pub fn lag_seconds(&self) -> f64 {
        let i = self.lock();
        i.caught_up
            .or(i.started)
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// The status as JSON (`/healthz`, `gatehouse status`).
    pub fn to_json(&self) -> Value {
        let lag = self.lag_seconds();
        let i = self.lock();
        json!({
            "name": self.name,
            "kind": self.kind,
            "feed": self.feed,
            "records": i.records,
            "deliveries": i.deliveries,
            "failures": i.failures,
            "gaps": i.gaps,
            "lastError": i.last_error.as_ref().map(|(t, e)| json!({
                "at": chrono::DateTime::<chrono::Utc>::from(*t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "message": e,
            })),
            "position": i.position,
            "behindCommits": i.behind_commits,
            "lagSeconds": (lag * 10.0).round() / 10.0,
        })
    }

    /// Prometheus series (`gatehouse_stream_*{stream="NAME",kind="KIND",feed="FEED"}`).
    pub fn render_metrics(&self, out: &mut String) {
        let lag = self.lag_seconds();
        let i = self.lock();
        let labels = format!(
            "stream=\"{}\",kind=\"{}\",feed=\"{}\"",
            gatehouse_connect::label_value(&self.name),
            self.kind,
            self.feed
        );
        gatehouse_connect::render_series(
            out,
            &labels,
            &[
                ("gatehouse_stream_records_total", i.records as f64),
                ("gatehouse_stream_deliveries_total", i.deliveries as f64),
                ("gatehouse_stream_failures_total", i.failures as f64),
                ("gatehouse_stream_gaps_total", i.gaps as f64),
                ("gatehouse_stream_behind_commits", i.behind_commits as f64),
                ("gatehouse_stream_lag_seconds", lag),
            ],
        );
    }
}
