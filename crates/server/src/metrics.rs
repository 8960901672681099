//! `/metrics`: what the server has done, in Prometheus' text format.
//!
//! Counters and histograms live here; the row counts come from the current snapshot when the
//! metrics are read. A token sees its own tenant's series only.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_ingest::{IngestObserver, IngestSummary};
use gatehouse_model::LogKind;
use gatehouse_store::StoreSnapshot;

use crate::admission::Load;

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (bound, n) in BUCKETS.iter().zip(&mut self.counts) {
            if s <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += s;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Counters {
    stored: BTreeMap<(String, LogKind), u64>,
    duplicates: BTreeMap<String, u64>,
    rejected: BTreeMap<(String, &'static str), u64>,
    commit: Histogram,
    query: Histogram,
    /// From a job's submission to its acknowledgement (its rows visible).
    visible: Histogram,
    /// Jobs submitted and not yet acknowledged, by when they were submitted.
    waiting: BTreeMap<u64, Instant>,
    next_waiting: u64,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

/// A job counted as waiting until dropped (see [`Metrics::job_started`]).
pub struct Waiting<'m> {
    metrics: &'m Metrics,
    id: u64,
    started: Instant,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.metrics.lock().waiting.remove(&self.id);
    }
}

impl Waiting<'_> {
    /// The job was acknowledged: its time to visibility is observed.
    pub fn acknowledged(self) {
        let elapsed = self.started.elapsed();
        self.metrics.lock().visible.observe(elapsed);
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A job was submitted: it counts towards the ingest lag until the guard is dropped.
    pub fn job_started(&self) -> Waiting<'_> {
        let mut c = self.lock();
        let id = c.next_waiting;
        c.next_waiting += 1;
        let started = Instant::now();
        c.waiting.insert(id, started);
        Waiting {
            metrics: self,
            id,
            started,
        }
    }

    /// Counts what a job of `tenant` stored, skipped and rejected.
    pub fn job_done(&self, tenant: &str, summary: &IngestSummary) {
        let mut c = self.lock();
        for (log, n) in &summary.stored {
            *c.stored.entry((tenant.to_string(), *log)).or_default() += n;
        }
        *c.duplicates.entry(tenant.to_string()).or_default() += summary.duplicates;
        for r in &summary.rejected {
            *c.rejected
                .entry((tenant.to_string(), r.code()))
                .or_default() += 1;
        }
    }

    /// A query took `d`.
    pub fn query_done(&self, d: Duration) {
        self.lock().query.observe(d);
    }

    /// The metrics in Prometheus' text format, of one tenant (`None`: all), with the load of the
    /// query gate.
    pub fn render(&self, snapshot: &StoreSnapshot, tenant: Option<&str>, queries: Load) -> String {
        let c = self.lock();
        let mut out = String::new();
        let shown = |t: &str| tenant.is_none_or(|want| want.eq_ignore_ascii_case(t));
        let _ = writeln!(
            out,
            "# HELP gatehouse_rows Rows stored, per tenant and log (the current snapshot).\n# TYPE gatehouse_rows gauge"
        );
        for table in snapshot.tables().filter(|t| shown(&t.tenant)) {
            let _ = writeln!(
                out,
                "gatehouse_rows{{tenant=\"{}\",log=\"{}\"}} {}",
                table.tenant,
                table.log,
                table.rows()
            );
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_records_stored_total Records stored by this process, per tenant and log.\n# TYPE gatehouse_records_stored_total counter"
        );
        for ((t, log), n) in c.stored.iter().filter(|((t, _), _)| shown(t)) {
            let _ = writeln!(
                out,
                "gatehouse_records_stored_total{{tenant=\"{t}\",log=\"{log}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_duplicates_total Records skipped as already stored.\n# TYPE gatehouse_duplicates_total counter"
        );
        for (t, n) in c.duplicates.iter().filter(|(t, _)| shown(t)) {
            let _ = writeln!(out, "gatehouse_duplicates_total{{tenant=\"{t}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_rejected_total Records rejected, per tenant and reason code.\n# TYPE gatehouse_rejected_total counter"
        );
        for ((t, code), n) in c.rejected.iter().filter(|((t, _), _)| shown(t)) {
            let _ = writeln!(
                out,
                "gatehouse_rejected_total{{tenant=\"{t}\",code=\"{code}\"}} {n}"
            );
        }
        let lag = c
            .waiting
            .values()
            .min()
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let _ = writeln!(
            out,
            "# HELP gatehouse_ingest_lag_seconds Age of the oldest ingest job not yet committed.\n# TYPE gatehouse_ingest_lag_seconds gauge\ngatehouse_ingest_lag_seconds {lag}"
        );
        let _ = writeln!(
            out,
            "# HELP gatehouse_ingest_visible_seconds From a job's arrival to its rows being committed and visible.\n# TYPE gatehouse_ingest_visible_seconds histogram"
        );
        c.visible
            .render(&mut out, "gatehouse_ingest_visible_seconds", "");
        let _ = writeln!(
            out,
            "# HELP gatehouse_commit_seconds Delta commits (and maintenance runs) of the store.\n# TYPE gatehouse_commit_seconds histogram"
        );
        c.commit.render(&mut out, "gatehouse_commit_seconds", "");
        let _ = writeln!(
            out,
            "# HELP gatehouse_query_seconds SQL queries, from request to last row.\n# TYPE gatehouse_query_seconds histogram"
        );
        c.query.render(&mut out, "gatehouse_query_seconds", "");
        for (name, help, value) in [
            ("limit", "Queries that may run at once.", queries.limit),
            ("running", "Queries running now.", queries.running),
            (
                "waiting",
                "Queries waiting for their turn.",
                queries.waiting,
            ),
            (
                "running_peak",
                "The most queries that ran at once since the start.",
                queries.peak,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP gatehouse_queries_{name} {help}\n# TYPE gatehouse_queries_{name} gauge\ngatehouse_queries_{name} {value}"
            );
        }
        out
    }
}

impl IngestObserver for Metrics {
    fn committed(&self, _snapshot: &StoreSnapshot, latency: Duration) {
        self.lock().commit.observe(latency);
    }
}
