//! One page of a Graph list, read from one snapshot of a table with keyset paging.
//!
//! A walk through the pages of a list reads the table version its first page read (the
//! `$skiptoken` names it; older versions keep their files until a vacuum after the grace
//! period), so records that arrive, or a compaction that runs, while a client pages change
//! nothing: no record is returned twice and none that existed at the start is missed.
//!
//! Rows are ordered by (event time, id, content hash), newest first unless `$orderby` says
//! `asc`; a page starts after the last row of the one before. A page is found in two steps over
//! windows of day partitions, newest (or oldest) first, each window twice as wide as the one
//! before: the event times of the rows that match are read to find the time the page ends at,
//! then the whole rows from there to the window's edge, so a page of the newest sign-ins reads
//! the newest day's times and a thousand rows, not the table.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayAccessor, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::common::{Column, ScalarValue, TableReference};
use datafusion::logical_expr::{lit, Expr};
use datafusion::prelude::DataFrame;
use gatehouse_export::{GraphJson, Properties};
use gatehouse_model::schema::CONTENT_HASH_COLUMN;
use gatehouse_model::LogKind;
use gatehouse_odata::Filter;
use gatehouse_query::{QueryEngine, QueryService};
use gatehouse_store::{Store, StoreSnapshot, TableSnapshot};
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::filter;
use crate::resource::{ApiVersion, GraphResource};
use crate::token::SkipToken;
use crate::GraphError;

/// Graph's page size when `$top` is not given, and its largest.
pub const DEFAULT_TOP: usize = 1000;

/// µs in a day.
pub(crate) const DAY_US: i64 = 86_400_000_000;

/// A list request, as its query options gave it.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// The collection.
    pub resource: GraphResource,
    /// `v1.0` or `beta`.
    pub version: ApiVersion,
    /// `$filter`, parsed.
    pub filter: Option<Filter>,
    /// `$orderby <time> asc` (default: newest first).
    pub ascending: bool,
    /// Rows a page holds at most.
    pub top: usize,
    /// `$select`: the properties to return (all when `None`).
    pub select: Option<Vec<String>>,
    /// `$count=true`: also count every record the filter matches.
    pub count: bool,
    /// The `$skiptoken` of the page asked for (`None`: the first page).
    pub skiptoken: Option<String>,
    /// Sign-ins' risk decided after they were stored, for a `$filter` on risk properties.
    pub risk: Option<std::sync::Arc<crate::SignInRiskOverlay>>,
}

impl ListQuery {
    /// A fingerprint of everything but the skiptoken: a token is valid only for its own query.
    fn fingerprint(&self) -> u64 {
        let text = format!(
            "{:?}|{:?}|{}|{}|{}|{:?}|{}",
            self.resource,
            self.version,
            self.filter
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_default(),
            self.ascending,
            self.top,
            self.select,
            self.count,
        );
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }
}

/// A request for one record by id.
#[derive(Debug, Clone, Copy)]
pub struct GetQuery<'a> {
    /// The collection.
    pub resource: GraphResource,
    /// `v1.0` or `beta`.
    pub version: ApiVersion,
    /// The record's id.
    pub id: &'a str,
    /// `$select`: the properties to return (all when `None`).
    pub select: Option<&'a [String]>,
}

/// One page of records.
#[derive(Debug, Clone)]
pub struct Page {
    /// The records, each the text of a Graph JSON object with the properties the version (and
    /// `$select`) shows.
    pub records: Vec<String>,
    /// Where the next page starts (`None` on the last page).
    pub next: Option<SkipToken>,
    /// With `$count=true`: how many records the filter matches in the snapshot.
    pub count: Option<u64>,
}

/// How many table versions paging walks keep in memory (older ones are read again from the
/// Delta log when a walk comes back to them).
const SNAPSHOT_CACHE: usize = 256;

/// Graph's log APIs over one data directory: holds the table versions that page walks read.
#[derive(Debug, Default)]
pub struct GraphApi {
    snapshots: Mutex<SnapshotCache>,
}

#[derive(Debug, Default)]
struct SnapshotCache {
    tables: HashMap<(String, LogKind, i64), (Arc<TableSnapshot>, u64)>,
    clock: u64,
}

impl SnapshotCache {
    fn get(&mut self, key: &(String, LogKind, i64)) -> Option<Arc<TableSnapshot>> {
        self.clock += 1;
        let clock = self.clock;
        self.tables.get_mut(key).map(|(t, used)| {
            *used = clock;
            Arc::clone(t)
        })
    }

    fn put(&mut self, table: Arc<TableSnapshot>) {
        self.clock += 1;
        if self.tables.len() >= SNAPSHOT_CACHE {
            if let Some(oldest) = self
                .tables
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                self.tables.remove(&oldest);
            }
        }
        let key = (table.tenant.clone(), table.log, table.version);
        self.tables.insert(key, (table, self.clock));
    }
}

impl GraphApi {
    /// A new API with an empty snapshot cache.
    pub fn new() -> GraphApi {
        GraphApi::default()
    }

    /// The table a walk reads: the current version for a first page, the token's for the next.
    async fn table(
        &self,
        store: &Store,
        current: &StoreSnapshot,
        tenant: &str,
        log: LogKind,
        token: Option<&SkipToken>,
    ) -> Result<Option<Arc<TableSnapshot>>, GraphError> {
        let Some(token) = token else {
            let table = current.table(tenant, log).cloned();
            if let Some(t) = &table {
                self.cache().put(Arc::clone(t));
            }
            return Ok(table);
        };
        let key = (tenant.to_string(), log, token.version);
        if let Some(t) = self.cache().get(&key) {
            return Ok(Some(t));
        }
        if let Some(t) = current
            .table(tenant, log)
            .filter(|t| t.version == token.version)
        {
            return Ok(Some(Arc::clone(t)));
        }
        let table = store
            .table_at(tenant, log, token.version)
            .await
            .map_err(|e| GraphError::Internal(e.to_string()))?
            .ok_or_else(|| {
                GraphError::BadRequest(
                    "The $skiptoken names a snapshot this store does not have; start the listing again."
                        .into(),
                )
            })?;
        let table = Arc::new(table);
        self.cache().put(Arc::clone(&table));
        Ok(Some(table))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, SnapshotCache> {
        self.snapshots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One page of a list over `tenant`'s records.
    pub async fn list(
        &self,
        store: &Store,
        queries: &QueryService,
        current: &StoreSnapshot,
        tenant: &str,
        q: &ListQuery,
    ) -> Result<Page, GraphError> {
        let fingerprint = q.fingerprint();
        let token = match &q.skiptoken {
            None => None,
            Some(text) => {
                let token = SkipToken::decode(text).ok_or_else(|| {
                    GraphError::BadRequest("The $skiptoken is not one this server gave.".into())
                })?;
                if token.query != fingerprint {
                    return Err(GraphError::BadRequest(
                        "The $skiptoken belongs to another query: follow @odata.nextLink as given."
                            .into(),
                    ));
                }
                Some(token)
            }
        };
        check_select(q.resource, q.version, q.select.as_deref())?;
        let log = q.resource.log();
        let Some(table) = self
            .table(store, current, tenant, log, token.as_ref())
            .await?
        else {
            return Ok(Page {
                records: Vec::new(),
                next: None,
                count: q.count.then_some(0),
            });
        };
        let version = table.version;
        let days = {
            let mut d = days_in_order(table.files.iter().map(|f| f.day), q.ascending);
            // Days wholly on the far side of the walk's position hold nothing more: the windows
            // start at the position's day.
            if let Some(t) = &token {
                let day = |us: i64| i32::try_from(us.div_euclid(DAY_US)).unwrap_or(i32::MAX);
                let at = day(t.time_us);
                d.retain(|&x| if q.ascending { x >= at } else { x <= at });
            }
            d
        };
        let (_, df) = table_frame(
            queries,
            Arc::new(StoreSnapshot::new([Arc::clone(&table)])),
            Some(tenant),
            log,
        )
        .await?;
        let df = match (&q.risk, &q.filter) {
            (Some(risk), Some(f))
                if q.resource == GraphResource::SignIns
                    && !risk.is_empty()
                    && crate::RISK_PROPERTIES
                        .iter()
                        .any(|p| filter::mentions(f, p)) =>
            {
                risk.apply(df)?
            }
            _ => df,
        };

        let time = column(q.resource.time_property());
        let mut matches = Vec::new();
        if let Some(f) = &q.filter {
            matches.push(filter::to_expr(f, q.resource, q.version, &df)?);
        }
        if q.resource == GraphResource::SignIns
            && !q
                .filter
                .as_ref()
                .is_some_and(|f| filter::mentions(f, "signInEventTypes"))
        {
            matches.push(filter::interactive_only());
        }
        match q.resource {
            GraphResource::RiskDetections => matches.push(filter::no_service_principal()),
            GraphResource::ServicePrincipalRiskDetections => {
                matches.push(!filter::no_service_principal())
            }
            _ => {}
        }
        let count = if q.count {
            let counted = match conjunction(matches.clone()) {
                Some(p) => df.clone().filter(p).map_err(GraphError::from_datafusion)?,
                None => df.clone(),
            };
            Some(counted.count().await.map_err(GraphError::from_datafusion)? as u64)
        } else {
            None
        };
        if let Some(t) = &token {
            matches.push(after(t, q.ascending, q.resource.time_property()));
        }
        let matching = match conjunction(matches) {
            Some(p) => df.filter(p).map_err(GraphError::from_datafusion)?,
            None => df,
        };

        // Walk the days in the page's order, in windows that double, until a page and one row
        // more (to know whether a next page exists) are found.
        let want = q.top.saturating_add(1);
        let started = std::time::Instant::now();
        let mut rows: Vec<Row> = Vec::new();
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut next_day = 0;
        let mut width = 1;
        while rows.len() < want && next_day < days.len() {
            let window = &days[next_day..(next_day + width).min(days.len())];
            next_day += window.len();
            width *= 2;
            let lo = i64::from(*window.iter().min().expect("a window has days")) * DAY_US;
            let hi = (i64::from(*window.iter().max().expect("a window has days")) + 1) * DAY_US;
            let in_window = within(&time, lo, hi);
            let need = want - rows.len();
            // Step 1: the event time the page ends at within the window.
            let times = matching
                .clone()
                .filter(in_window.clone())
                .and_then(|d| d.select(vec![time.clone()]))
                .and_then(|d| d.sort(vec![time.clone().sort(q.ascending, false)]))
                .and_then(|d| d.limit(0, Some(need)))
                .map_err(GraphError::from_datafusion)?
                .collect()
                .await
                .map_err(GraphError::from_datafusion)?;
            let found: usize = times.iter().map(RecordBatch::num_rows).sum();
            tracing::debug!(days = window.len(), found, need, elapsed = ?started.elapsed(), "page: times of a window");
            if found == 0 {
                continue;
            }
            let mut wanted = in_window;
            if found == need {
                let edge = times
                    .iter()
                    .rev()
                    .find(|b| b.num_rows() > 0)
                    .map(|b| b.column(0).as_primitive::<TimestampMicrosecondType>())
                    .map(|a| a.value(a.len() - 1))
                    .expect("a batch with rows");
                wanted = wanted.and(if q.ascending {
                    time.clone().lt_eq(lit(micros(edge)))
                } else {
                    time.clone().gt_eq(lit(micros(edge)))
                });
            }
            // Step 2: the whole rows up to that time, ordered here.
            let got = matching
                .clone()
                .filter(wanted)
                .map_err(GraphError::from_datafusion)?
                .collect()
                .await
                .map_err(GraphError::from_datafusion)?;
            let mut window_rows = Vec::new();
            for batch in got {
                if batch.num_rows() == 0 {
                    continue;
                }
                let index = batches.len();
                window_rows.extend(Row::all(&batch, index, q.resource)?);
                batches.push(batch);
            }
            window_rows.sort_by(|a, b| {
                let o = a.key().cmp(&b.key());
                if q.ascending {
                    o
                } else {
                    o.reverse()
                }
            });
            window_rows.truncate(need);
            tracing::debug!(rows = window_rows.len(), elapsed = ?started.elapsed(), "page: rows of a window");
            rows.extend(window_rows);
        }

        let next = (rows.len() > q.top).then(|| {
            let last = &rows[q.top - 1];
            SkipToken {
                version,
                time_us: last.time_us,
                id: last.id.clone(),
                content_hash: last.hash,
                query: fingerprint,
            }
        });
        rows.truncate(q.top);
        let records = write_records(&batches, &rows, q)?;
        Ok(Page {
            records,
            next,
            count,
        })
    }

    /// The record `q.id` (the most complete of the versions sharing it) with the properties the
    /// version (and `$select`) shows, `None` when the tenant has no such record.
    pub async fn get(
        &self,
        queries: &QueryService,
        current: &StoreSnapshot,
        tenant: &str,
        q: &GetQuery<'_>,
    ) -> Result<Option<Map<String, Value>>, GraphError> {
        let GetQuery {
            resource,
            version,
            id,
            select,
        } = *q;
        check_select(resource, version, select)?;
        let log = resource.log();
        let Some(table) = current.table(tenant, log) else {
            return Ok(None);
        };
        let (engine, _) = table_frame(
            queries,
            Arc::new(StoreSnapshot::new([Arc::clone(table)])),
            Some(tenant),
            log,
        )
        .await?;
        let record = engine
            .lookup(log, id)
            .await
            .map_err(|e| GraphError::Internal(e.to_string()))?;
        let shown = resource.shown(version);
        Ok(record.map(|r| project(r, shown.as_ref(), select)))
    }
}

/// The Graph type name of a resource's records.
pub fn graph_type(resource: GraphResource) -> &'static str {
    match resource {
        GraphResource::SignIns => "signIn",
        GraphResource::DirectoryAudits => "directoryAudit",
        GraphResource::Provisioning => "provisioningObjectSummary",
        GraphResource::RiskDetections => "riskDetection",
        GraphResource::ServicePrincipalRiskDetections => "servicePrincipalRiskDetection",
    }
}

/// A row found for a page: its order key and where it is.
struct Row {
    time_us: i64,
    id: String,
    hash: i64,
    batch: usize,
    row: usize,
}

impl Row {
    fn key(&self) -> (i64, &str, i64) {
        (self.time_us, &self.id, self.hash)
    }

    /// The order keys of every row of a batch.
    fn all(
        batch: &RecordBatch,
        index: usize,
        resource: GraphResource,
    ) -> Result<Vec<Row>, GraphError> {
        let missing = |name: &str| GraphError::Internal(format!("the table has no {name} column"));
        let time = batch
            .column_by_name(resource.time_property())
            .ok_or_else(|| missing(resource.time_property()))?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| missing("microsecond time"))?;
        let id = batch.column_by_name("id").ok_or_else(|| missing("id"))?;
        let id = match (id.as_string_view_opt(), id.as_string_opt::<i32>()) {
            (Some(views), _) => texts(views),
            (None, Some(strings)) => texts(strings),
            (None, None) => return Err(missing("string id")),
        };
        let hash = batch
            .column_by_name(CONTENT_HASH_COLUMN)
            .ok_or_else(|| missing(CONTENT_HASH_COLUMN))?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| missing("integer content hash"))?;
        Ok(id
            .into_iter()
            .enumerate()
            .map(|(row, id)| Row {
                time_us: time.value(row),
                id,
                hash: if hash.is_null(row) {
                    0
                } else {
                    hash.value(row)
                },
                batch: index,
                row,
            })
            .collect())
    }
}

/// Every value of a string column (`""` for a null).
fn texts<'a>(a: impl ArrayAccessor<Item = &'a str>) -> Vec<String> {
    (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                String::new()
            } else {
                a.value(i).to_string()
            }
        })
        .collect()
}

/// The page's rows as Graph JSON text, in page order. Each batch's encoders are made once, and
/// the batches are written on every core: a page of a thousand full sign-ins is the costliest
/// part of an answer.
fn write_records(
    batches: &[RecordBatch],
    rows: &[Row],
    q: &ListQuery,
) -> Result<Vec<String>, GraphError> {
    let shown = q.resource.shown(q.version);
    let properties = match (q.select.as_deref(), shown.as_ref()) {
        (Some(names), _) => Properties::Select(names),
        (None, Some(set)) => Properties::Only(set),
        (None, None) => Properties::All,
    };
    let mut by_batch: Vec<Vec<(usize, usize)>> = vec![Vec::new(); batches.len()];
    for (at, r) in rows.iter().enumerate() {
        by_batch[r.batch].push((at, r.row));
    }
    let json = GraphJson::default();
    let written = by_batch
        .par_iter()
        .enumerate()
        .filter(|(_, wanted)| !wanted.is_empty())
        .map(|(b, wanted)| {
            let mut writer = json
                .writer(&batches[b], properties)
                .map_err(|e| GraphError::Internal(e.to_string()))?;
            Ok(wanted
                .iter()
                .map(|&(at, row)| {
                    let mut out = Vec::with_capacity(4096);
                    writer.write(row, &mut out);
                    // The encoders write UTF-8 only (strings come from UTF-8 arrays).
                    let text = String::from_utf8(out)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                    (at, text)
                })
                .collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>, GraphError>>()?;
    let mut records = vec![String::new(); rows.len()];
    for (at, text) in written.into_iter().flatten() {
        records[at] = text;
    }
    Ok(records)
}

/// A Graph record with the properties a version shows, or only `select`'s when given (absent
/// ones as null, as Graph answers them).
fn project(
    mut record: Map<String, Value>,
    shown: Option<&HashSet<&'static str>>,
    select: Option<&[String]>,
) -> Map<String, Value> {
    match select {
        Some(names) => {
            let mut out = Map::new();
            for name in names {
                if let Some(v) = record.remove(name) {
                    out.insert(name.clone(), v);
                } else {
                    out.insert(name.clone(), Value::Null);
                }
            }
            out
        }
        None => {
            if let Some(shown) = shown {
                record.retain(|k, _| shown.contains(k.as_str()));
            }
            record
        }
    }
}

/// Refuses a `$select` naming a property the version does not have.
fn check_select(
    resource: GraphResource,
    version: ApiVersion,
    select: Option<&[String]>,
) -> Result<(), GraphError> {
    let properties = resource.properties(version);
    match select
        .unwrap_or_default()
        .iter()
        .find(|name| !properties.contains(&name.as_str()))
    {
        Some(name) => Err(GraphError::BadRequest(format!(
            "$select: could not find a property named '{name}' on type 'microsoft.graph.{}' ({})",
            graph_type(resource),
            version.segment()
        ))),
        None => Ok(()),
    }
}

/// A query engine over `snapshot` (for `tenant`, or every tenant) and the table of `log` in it.
pub(crate) async fn table_frame(
    queries: &QueryService,
    snapshot: Arc<StoreSnapshot>,
    tenant: Option<&str>,
    log: LogKind,
) -> Result<(QueryEngine, DataFrame), GraphError> {
    let engine = queries
        .engine_for(snapshot, tenant, &[log])
        .map_err(|e| GraphError::Internal(e.to_string()))?;
    let df = engine
        .context()
        .table(TableReference::bare(log.table_name()))
        .await
        .map_err(GraphError::from_datafusion)?;
    Ok((engine, df))
}

/// Distinct day partitions in the order a walk or an export visits them.
pub(crate) fn days_in_order(days: impl Iterator<Item = i32>, ascending: bool) -> Vec<i32> {
    let mut d: Vec<i32> = days.collect();
    d.sort_unstable();
    d.dedup();
    if !ascending {
        d.reverse();
    }
    d
}

/// `lo <= time < hi` (µs).
pub(crate) fn within(time: &Expr, lo: i64, hi: i64) -> Expr {
    time.clone()
        .gt_eq(lit(micros(lo)))
        .and(time.clone().lt(lit(micros(hi))))
}

/// Rows after the token's in the walk's order: (time, id, content hash) beyond the token's.
fn after(t: &SkipToken, ascending: bool, time_column: &str) -> Expr {
    let time = column(time_column);
    let id = column("id");
    let hash = column(CONTENT_HASH_COLUMN);
    let beyond = |e: Expr, v: Expr| if ascending { e.gt(v) } else { e.lt(v) };
    beyond(time.clone(), lit(micros(t.time_us))).or(time.eq(lit(micros(t.time_us))).and(
        beyond(id.clone(), lit(t.id.clone())).or(id
            .eq(lit(t.id.clone()))
            .and(beyond(hash, lit(t.content_hash)))),
    ))
}

/// A column of the table by its exact name.
pub(crate) fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// A UTC timestamp literal in µs, typed as the stored time columns are.
pub(crate) fn micros(us: i64) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(us), Some("UTC".into()))
}

/// The filters ANDed together (`None` when there are none).
fn conjunction(exprs: Vec<Expr>) -> Option<Expr> {
    exprs.into_iter().reduce(Expr::and)
}
