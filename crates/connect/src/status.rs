//! What a running connector reports: records, batches, errors, its newest position and how far
//! behind its source it is — for `/metrics`, `/healthz` and `gatehouse status`.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use crate::sink::Stored;
use crate::ConnectError;

/// A connector's live counters (shared between its thread and the server's reports).
#[derive(Debug)]
pub struct ConnectorStatus {
    /// The connector's name (from the config).
    pub name: String,
    /// Its kind: `blob`, `graph` or `kafka`.
    pub kind: &'static str,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: u64,
    duplicates: u64,
    rejected: u64,
    batches: u64,
    errors: u64,
    last_error: Option<(SystemTime, String)>,
    last_source: Option<(String, i64)>,
    sources: std::collections::BTreeSet<String>,
    behind_bytes: u64,
    caught_up: Option<Instant>,
    started: Option<Instant>,
}

impl ConnectorStatus {
    /// A new status for a connector.
    pub fn new(name: impl Into<String>, kind: &'static str) -> ConnectorStatus {
        ConnectorStatus {
            name: name.into(),
            kind,
            inner: Mutex::new(Inner {
                started: Some(Instant::now()),
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A batch was committed, bringing `source` to `position`.
    pub fn batch_stored(&self, source: &str, position: i64, stored: &Stored) {
        let mut i = self.lock();
        i.records += stored.stored;
        i.duplicates += stored.duplicates;
        i.rejected += stored.rejected.len() as u64;
        i.batches += 1;
        i.sources.insert(source.to_string());
        i.last_source = Some((source.to_string(), position));
    }

    /// A poll ended with `behind` bytes (or records) left to read.
    pub fn poll_done(&self, behind: u64) {
        let mut i = self.lock();
        i.behind_bytes = behind;
        if behind == 0 {
            i.caught_up = Some(Instant::now());
        }
    }

    /// A poll failed.
    pub fn failed(&self, error: &ConnectError) {
        let mut i = self.lock();
        i.errors += 1;
        i.last_error = Some((SystemTime::now(), error.to_string()));
    }

    /// Seconds since the connector last had read everything its source held (since it started,
    /// when it never has).
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
            "records": i.records,
            "duplicates": i.duplicates,
            "rejected": i.rejected,
            "batches": i.batches,
            "errors": i.errors,
            "lastError": i.last_error.as_ref().map(|(t, e)| json!({
                "at": chrono::DateTime::<chrono::Utc>::from(*t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "message": e,
            })),
            "sources": i.sources.len(),
            "lastPosition": i.last_source.as_ref().map(|(s, p)| json!({"source": s, "position": p})),
            "behind": i.behind_bytes,
            "lagSeconds": (lag * 10.0).round() / 10.0,
        })
    }

    /// Prometheus series (`gatehouse_connector_*{connector="NAME",kind="KIND"}`).
    pub fn render_metrics(&self, out: &mut String) {
        let lag = self.lag_seconds();
        let i = self.lock();
        let labels = format!(
            "connector=\"{}\",kind=\"{}\"",
            label_value(&self.name),
            self.kind
        );
        render_series(
            out,
            &labels,
            &[
                ("gatehouse_connector_records_total", i.records as f64),
                ("gatehouse_connector_duplicates_total", i.duplicates as f64),
                ("gatehouse_connector_rejected_total", i.rejected as f64),
                ("gatehouse_connector_batches_total", i.batches as f64),
                ("gatehouse_connector_errors_total", i.errors as f64),
                ("gatehouse_connector_sources", i.sources.len() as f64),
                ("gatehouse_connector_behind", i.behind_bytes as f64),
                ("gatehouse_connector_lag_seconds", lag),
            ],
        );
    }
}

/// A name made safe as a Prometheus label value (quotes, backslashes and newlines replaced).
pub fn label_value(name: &str) -> String {
    name.replace(['"', '\\', '\n'], "_")
}

/// Prometheus series lines `name{labels} value`, one per `(name, value)`.
pub fn render_series(out: &mut String, labels: &str, series: &[(&str, f64)]) {
    for (name, value) in series {
        out.push_str(&format!("{name}{{{labels}}} {value}\n"));
    }
}
