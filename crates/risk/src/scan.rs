//! Feeding an engine from the store: each poll reads the sign-ins stored since the last one (by
//! `_ingestedAt`, whose per-file maximum the Delta statistics carry, so only new files are
//! opened), day by day in time order, and returns what the engine found.
//!
//! Rows are recognised by when they were stored, not by which file holds them, so a compaction
//! that rewrites old rows into new files feeds nothing twice. The last minute is read again on
//! every poll (the last ten seconds: a commit holds rows stamped up to a commit interval before it) and its ids are
//! remembered, so nothing is fed twice either.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use gatehouse_model::LogKind;
use gatehouse_query::QueryService;
use gatehouse_store::{DataFile, StoreSnapshot};

use crate::detection::Detection;
use crate::engine::RiskEngine;
use crate::event::EventId;
use crate::Result;

/// The `source` of the detections Gatehouse makes (imported Identity Protection detections keep
/// theirs).
pub const GATEHOUSE_SOURCE: &str = "gatehouse";

/// Rows stored this long before the newest one already read are read again.
const MARGIN_US: i64 = 10_000_000;

/// An engine fed from one tenant's sign-ins in the store.
#[derive(Debug)]
pub struct RiskScanner {
    engine: RiskEngine,
    root: std::path::PathBuf,
    watermark: i64,
    recent: HashMap<EventId, i64>,
    file_max: HashMap<String, i64>,
    primed: bool,
}

/// The largest `_ingestedAt` of a file, from its Delta statistics (µs; `i64::MAX` when unknown).
fn max_ingested(file: &DataFile) -> i64 {
    let parsed: Option<i64> = serde_json::from_str::<serde_json::Value>(&file.stats)
        .ok()
        .and_then(|v| {
            v.get("maxValues")?
                .get(gatehouse_model::schema::INGESTED_COLUMN)?
                .as_str()
                .map(str::to_owned)
        })
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.timestamp_micros());
    // Statistics keep milliseconds: round up.
    parsed.map_or(i64::MAX, |t| t + 1_000)
}

impl RiskScanner {
    /// A scanner of the store in the data directory `root` that has read nothing yet.
    pub fn new(engine: RiskEngine, root: impl Into<std::path::PathBuf>) -> RiskScanner {
        RiskScanner {
            engine,
            root: root.into(),
            watermark: i64::MIN,
            recent: HashMap::new(),
            file_max: HashMap::new(),
            primed: false,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &RiskEngine {
        &self.engine
    }

    /// The engine, to change its lists.
    pub fn engine_mut(&mut self) -> &mut RiskEngine {
        &mut self.engine
    }

    /// The latest `_ingestedAt` read (µs), if any.
    pub fn watermark(&self) -> Option<i64> {
        (self.watermark != i64::MIN).then_some(self.watermark)
    }

    /// Reads what was stored since the last poll and returns the new detections. The first poll
    /// reads every sign-in of the tenant (building the baselines) and skips the detections the
    /// store already holds.
    pub async fn poll(
        &mut self,
        service: &QueryService,
        snapshot: &Arc<StoreSnapshot>,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<Detection>> {
        let tenant = self.engine.tenant().to_string();
        if !self.primed {
            let stored = stored_detections(service, snapshot, &tenant).await?;
            self.engine
                .mark_emitted(stored.into_iter().filter(|d| d.gatehouse).map(|d| d.id));
            self.primed = true;
        }
        let Some(table) = snapshot.table(&tenant, LogKind::SignIns) else {
            return Ok(Vec::new());
        };
        let floor = self.watermark.saturating_sub(MARGIN_US);
        let mut days: BTreeMap<i32, Vec<DataFile>> = BTreeMap::new();
        for f in &table.files {
            let max = *self
                .file_max
                .entry(f.path.clone())
                .or_insert_with(|| max_ingested(f));
            if max > floor {
                days.entry(f.day).or_default().push(f.clone());
            }
        }
        let live: std::collections::HashSet<&str> =
            table.files.iter().map(|f| f.path.as_str()).collect();
        self.file_max.retain(|p, _| live.contains(p.as_str()));
        let first = self.watermark == i64::MIN;
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let mut found = Vec::new();
        let mut newest = self.watermark;
        let root = self.root.clone();
        let engine = &mut self.engine;
        let recent = &mut self.recent;
        crate::read::with_readers(threads, |pool| -> Result<()> {
            for (_, files) in days {
                let rows: u64 = files.iter().map(|f| f.rows).sum();
                let paths: Vec<String> = files.into_iter().map(|f| f.path).collect();
                let mut events = Vec::with_capacity(usize::try_from(rows).unwrap_or(0));
                pool.read(&root, &paths, &mut |batch| {
                    events.extend(engine.read_events(std::slice::from_ref(&batch))?);
                    Ok(())
                })?;
                events.retain(|e| {
                    newest = newest.max(e.ingested);
                    if first {
                        return true;
                    }
                    // Rows read again: only those stored within the margin, and not twice.
                    e.ingested > floor && recent.insert(e.id, e.ingested).is_none()
                });
                // Remember only the ids stored within the margin of the newest.
                let keep = newest.saturating_sub(MARGIN_US);
                if first {
                    for e in &events {
                        if e.ingested > keep {
                            recent.insert(e.id, e.ingested);
                        }
                    }
                }
                recent.retain(|_, t| *t > keep);
                progress(events.len() as u64);
                let n = events.len();
                found.extend(engine.process(events));
                if tracing::enabled!(tracing::Level::DEBUG) {
                    // Resident memory (Linux), to watch the engine's state grow.
                    let rss = std::fs::read_to_string("/proc/self/statm")
                        .ok()
                        .and_then(|s| {
                            s.split_whitespace()
                                .nth(1)
                                .and_then(|v| v.parse::<u64>().ok())
                        })
                        .map_or(0, |pages| (pages * 4096) >> 20);
                    tracing::debug!(events = n, rss_mib = rss, "a day scored");
                }
            }
            Ok(())
        })?;
        self.watermark = newest;
        let keep = self.watermark.saturating_sub(MARGIN_US);
        self.recent.retain(|_, &mut t| t > keep);
        Ok(found)
    }
}

/// A detection as stored.
#[derive(Debug, Clone)]
pub struct StoredDetection {
    /// Its id.
    pub id: String,
    /// `riskEventType`.
    pub event_type: String,
    /// `requestId`: the sign-in that triggered it.
    pub request_id: String,
    /// `riskLevel`.
    pub level: String,
    /// `userId`.
    pub user_id: String,
    /// `userPrincipalName`, or the service principal's name.
    pub identity: String,
    /// Made by Gatehouse (not imported from Identity Protection).
    pub gatehouse: bool,
    /// `detectedDateTime` (µs; 0 when absent).
    pub detected: i64,
}

/// The detections stored for a tenant.
pub async fn stored_detections(
    service: &QueryService,
    snapshot: &Arc<StoreSnapshot>,
    tenant: &str,
) -> Result<Vec<StoredDetection>> {
    if snapshot.table(tenant, LogKind::RiskDetections).is_none() {
        return Ok(Vec::new());
    }
    let engine = service.engine_for(
        Arc::clone(snapshot),
        Some(tenant),
        &[LogKind::RiskDetections],
    )?;
    let result = engine
        .sql(
            "SELECT id, riskEventType, requestId, riskLevel, userId, \
             COALESCE(NULLIF(userPrincipalName, ''), servicePrincipalDisplayName, userDisplayName) AS identity, \
             source, CAST(detectedDateTime AS BIGINT) AS detected FROM riskDetections",
        )
        .await?;
    let mut out = Vec::new();
    for batch in &result.batches {
        let col = |i: usize| -> Result<arrow::array::StringArray> {
            Ok(cast(batch.column(i), &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        };
        let (id, ty, req, level, user, identity, source) = (
            col(0)?,
            col(1)?,
            col(2)?,
            col(3)?,
            col(4)?,
            col(5)?,
            col(6)?,
        );
        let detected = cast(batch.column(7), &DataType::Int64)?;
        let detected = detected.as_primitive::<arrow::datatypes::Int64Type>();
        let s = crate::event::owned_text;
        for i in 0..batch.num_rows() {
            out.push(StoredDetection {
                id: s(&id, i),
                event_type: s(&ty, i),
                request_id: s(&req, i),
                level: s(&level, i),
                user_id: s(&user, i),
                identity: s(&identity, i),
                gatehouse: s(&source, i) == GATEHOUSE_SOURCE,
                detected: if detected.is_valid(i) {
                    detected.value(i)
                } else {
                    0
                },
            });
        }
    }
    Ok(out)
}

/// The JSON lines that store detections and risky-user rows through the ingest pipeline
/// (`now` is the detection time, µs).
pub fn records_jsonl(
    tenant: &str,
    detections: &[Detection],
    rows: &[serde_json::Value],
    now: i64,
) -> Vec<u8> {
    let mut out = Vec::new();
    for d in detections {
        out.extend_from_slice(d.to_graph(tenant, now).to_string().as_bytes());
        out.push(b'\n');
    }
    for r in rows {
        out.extend_from_slice(r.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}
