//! A stream: follows its feed's tables commit by commit and delivers what they add.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_graph::{GraphError, MatchingRows, RowFilter};
use gatehouse_query::QueryService;
use gatehouse_store::{CommitAdditions, StoreSnapshot};

use crate::cursor::{Cursor, TablePosition};
use crate::feed::Feed;
use crate::status::StreamStatus;
use crate::OutboundError;

/// One batch of records on its way to a receiver.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The same for every attempt of the same records from the same position.
    pub id: String,
    /// The stream's name.
    pub stream: String,
    /// The feed's name.
    pub feed: &'static str,
    /// The tenant of every record.
    pub tenant: String,
    /// The records (JSON objects).
    pub records: Vec<String>,
    /// Their stored ids, in the same order.
    pub ids: Vec<String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What happened.
    pub message: String,
    /// The receiver asked to wait this long.
    pub retry_after: Option<Duration>,
    /// The receiver found the batch too large (it is halved).
    pub too_large: bool,
}

/// Where deliveries go.
pub trait Target: Send + Sync {
    /// `webhook` or `kafka`.
    fn kind(&self) -> &'static str;
    /// Delivers a batch; `Ok` only once the receiver has acknowledged all of it.
    fn deliver(&self, delivery: &Delivery) -> Result<(), Failure>;
}

/// What a stream reads from: the data directory, the query service (to type its filter) and
/// the store's current snapshot.
pub struct StreamContext<'a> {
    /// The data directory.
    pub root: &'a Path,
    /// The server's query service.
    pub queries: &'a QueryService,
    /// The newest committed snapshot.
    pub snapshot: &'a (dyn Fn() -> Arc<StoreSnapshot> + Sync),
}

/// A configured stream.
pub struct Stream {
    /// Its name (metrics, the cursor's file).
    pub name: String,
    /// Only this tenant's records (`None`: every tenant's).
    pub tenant: Option<String>,
    /// What it sends.
    pub feed: Feed,
    /// Where.
    pub target: Box<dyn Target>,
    /// Records per delivery at most.
    pub batch: usize,
    /// On its first start, send what the store already holds (else only what comes after).
    pub from_beginning: bool,
    /// How often it looks for new commits when it has caught up.
    pub every: Duration,
    /// The longest wait between two attempts of a failing delivery.
    pub max_backoff: Duration,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("feed", &self.feed.name())
            .field("target", &self.target.kind())
            .finish_non_exhaustive()
    }
}

/// Records read but not all delivered yet, with the position after each.
struct Pending {
    key: String,
    tenant: String,
    start: TablePosition,
    records: Vec<String>,
    ids: Vec<String>,
    after: Vec<TablePosition>,
    /// Where reading stopped (beyond the last record when rows that matched nothing followed).
    end: TablePosition,
}

/// A file being read.
struct OpenFile {
    key: String,
    at: TablePosition,
    rows: MatchingRows,
}

/// A stream's working state between rounds.
struct RunState {
    cursor: Cursor,
    cursor_path: PathBuf,
    filters: HashMap<String, RowFilter>,
    open: Option<OpenFile>,
    commit: Option<(String, i64, Arc<CommitAdditions>)>,
    runtime: tokio::runtime::Runtime,
}

impl Stream {
    /// Delivers until `stop` says so: a round whenever the store has new commits, every
    /// `every` otherwise. Failures are reported to `status` and retried.
    pub fn run(&self, ctx: &StreamContext<'_>, status: &StreamStatus, stop: &dyn Fn() -> bool) {
        let mut state = match self.state(ctx) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(stream = %self.name, error = %e, "the stream cannot start");
                status.failed(&e.to_string());
                return;
            }
        };
        let mut backoff = Duration::from_secs(1);
        while !stop() {
            match self.round(ctx, &mut state, status, stop) {
                Ok(_) => backoff = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(stream = %self.name, error = %e, "a stream round failed");
                    status.failed(&e.to_string());
                    sleep_unless(backoff, stop);
                    backoff = (backoff * 2).min(self.max_backoff);
                    continue;
                }
            }
            sleep_unless(self.every, stop);
        }
    }

    fn state(&self, ctx: &StreamContext<'_>) -> Result<RunState, OutboundError> {
        let cursor_path = Cursor::path(ctx.root, &self.name);
        Ok(RunState {
            cursor: Cursor::load(&cursor_path)?,
            cursor_path,
            filters: HashMap::new(),
            open: None,
            commit: None,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| OutboundError::Config(format!("a runtime: {e}")))?,
        })
    }

    /// One round over every table of the feed.
    fn round(
        &self,
        ctx: &StreamContext<'_>,
        state: &mut RunState,
        status: &StreamStatus,
        stop: &dyn Fn() -> bool,
    ) -> Result<u64, OutboundError> {
        let snapshot = (ctx.snapshot)();
        let log = self.feed.log();
        let mut tables: Vec<(String, String, i64)> = snapshot
            .tables()
            .filter(|t| t.log == log)
            .filter(|t| {
                self.tenant
                    .as_deref()
                    .is_none_or(|w| t.tenant.eq_ignore_ascii_case(w))
            })
            .map(|t| {
                (
                    format!("{}/{}", t.tenant, log.table_name()),
                    t.tenant.clone(),
                    t.version,
                )
            })
            .collect();
        tables.sort();
        if !state.cursor.started {
            for (key, _, version) in &tables {
                let start = if self.from_beginning { 0 } else { version + 1 };
                state
                    .cursor
                    .tables
                    .entry(key.clone())
                    .or_insert(TablePosition {
                        version: start,
                        file: 0,
                        row: 0,
                    });
            }
            state.cursor.started = true;
            state.cursor.save(&state.cursor_path)?;
        }
        let mut delivered = 0;
        let mut behind = 0;
        for (key, tenant, version) in &tables {
            if stop() {
                return Ok(delivered);
            }
            // A table created while the stream runs is read from its first commit.
            let mut pos = *state.cursor.tables.entry(key.clone()).or_default();
            while pos.version <= *version && !stop() {
                let pending = self.read(ctx, state, status, key, tenant, pos, *version)?;
                pos = pending.end;
                if pending.records.is_empty() {
                    // Commits with nothing to send: only the cursor moves.
                    state.cursor.tables.insert(key.clone(), pos);
                    state.cursor.save(&state.cursor_path)?;
                    continue;
                }
                delivered += self.deliver(state, status, pending, stop)?;
            }
            behind += u64::try_from(version + 1 - pos.version).unwrap_or(0);
        }
        status.round_done(behind);
        Ok(delivered)
    }

    /// Reads up to a batch of records of one table from `start`, commits up to `upto`.
    #[allow(clippy::too_many_arguments)]
    fn read(
        &self,
        ctx: &StreamContext<'_>,
        state: &mut RunState,
        status: &StreamStatus,
        key: &str,
        tenant: &str,
        start: TablePosition,
        upto: i64,
    ) -> Result<Pending, OutboundError> {
        let mut p = Pending {
            key: key.to_string(),
            tenant: tenant.to_string(),
            start,
            records: Vec::new(),
            ids: Vec::new(),
            after: Vec::new(),
            end: start,
        };
        let log = self.feed.log();
        let batch = self.batch.max(1);
        while p.records.len() < batch && p.end.version <= upto {
            let pos = p.end;
            let commit = match &state.commit {
                Some((k, v, c)) if k == key && *v == pos.version => Some(Arc::clone(c)),
                _ => {
                    let c = gatehouse_store::commit_additions(ctx.root, tenant, log, pos.version)
                        .map_err(|e| OutboundError::Store(e.to_string()))?
                        .map(Arc::new);
                    if let Some(c) = &c {
                        state.commit = Some((key.to_string(), pos.version, Arc::clone(c)));
                    }
                    c
                }
            };
            let Some(commit) = commit else {
                let what = format!(
                    "{key}: commit {} is no longer in the Delta log (cleaned up after a checkpoint); its rows were not sent",
                    pos.version
                );
                tracing::warn!(stream = %self.name, "{what}");
                status.gap(&what);
                state.cursor.gaps += 1;
                p.end = TablePosition {
                    version: pos.version + 1,
                    file: 0,
                    row: 0,
                };
                continue;
            };
            let Some(file) = commit.added.get(pos.file as usize) else {
                p.end = TablePosition {
                    version: pos.version + 1,
                    file: 0,
                    row: 0,
                };
                continue;
            };
            let mut open = match state.open.take() {
                Some(o) if o.key == key && o.at == pos => o,
                _ => {
                    let filter = self.filter(ctx, state, tenant)?;
                    match filter.open(ctx.root, file, pos.row) {
                        Ok(rows) => OpenFile {
                            key: key.to_string(),
                            at: pos,
                            rows,
                        },
                        Err(GraphError::Gone(why)) => {
                            let what = format!("{key}: a file of commit {} is gone ({why}); its rows were not sent", pos.version);
                            tracing::warn!(stream = %self.name, "{what}");
                            status.gap(&what);
                            state.cursor.gaps += 1;
                            p.end = TablePosition {
                                version: pos.version,
                                file: pos.file + 1,
                                row: 0,
                            };
                            continue;
                        }
                        Err(e) => return Err(OutboundError::Store(e.to_string())),
                    }
                }
            };
            let mut finished = false;
            while p.records.len() < batch {
                match open
                    .rows
                    .next_row()
                    .map_err(|e| OutboundError::Store(e.to_string()))?
                {
                    Some(row) => {
                        open.at.row += 1;
                        if let Some(record) = self.feed.record(row.json) {
                            p.records.push(record);
                            p.ids.push(row.id);
                            p.after.push(open.at);
                        }
                    }
                    None => {
                        finished = true;
                        break;
                    }
                }
            }
            if finished {
                p.end = TablePosition {
                    version: pos.version,
                    file: pos.file + 1,
                    row: 0,
                };
            } else {
                p.end = open.at;
                state.open = Some(open);
            }
        }
        Ok(p)
    }

    /// The tenant's compiled filter.
    fn filter(
        &self,
        ctx: &StreamContext<'_>,
        state: &mut RunState,
        tenant: &str,
    ) -> Result<RowFilter, OutboundError> {
        if let Some(f) = state.filters.get(tenant) {
            return Ok(f.clone());
        }
        let f = match &self.feed {
            Feed::Records { resource, filter } => state
                .runtime
                .block_on(RowFilter::new(
                    ctx.queries,
                    tenant,
                    *resource,
                    filter.as_ref(),
                ))
                .map_err(|e| OutboundError::Config(format!("stream {}: {e}", self.name)))?,
            Feed::Alerts { .. } => RowFilter::all(self.feed.log()),
        };
        state.filters.insert(tenant.to_string(), f.clone());
        Ok(f)
    }

    /// Delivers what `p` holds, retrying until it lands (or `stop`), saving the cursor after
    /// each acknowledged part. Returns the records delivered.
    fn deliver(
        &self,
        state: &mut RunState,
        status: &StreamStatus,
        mut p: Pending,
        stop: &dyn Fn() -> bool,
    ) -> Result<u64, OutboundError> {
        let mut delivered = 0;
        let mut size = p.records.len();
        let mut backoff = Duration::from_secs(1);
        while !p.records.is_empty() {
            if stop() {
                return Ok(delivered);
            }
            let n = size.min(p.records.len());
            let last = n == p.records.len();
            let end = if last { p.end } else { p.after[n - 1] };
            let d = Delivery {
                id: delivery_id(&self.name, &p.key, p.start, end),
                stream: self.name.clone(),
                feed: self.feed.name(),
                tenant: p.tenant.clone(),
                records: p.records[..n].to_vec(),
                ids: p.ids[..n].to_vec(),
            };
            match self.target.deliver(&d) {
                Ok(()) => {
                    state.cursor.tables.insert(p.key.clone(), end);
                    state.cursor.delivered += n as u64;
                    state.cursor.save(&state.cursor_path)?;
                    status.delivered(n as u64, format!("{}@{end}", p.key));
                    delivered += n as u64;
                    p.records.drain(..n);
                    p.ids.drain(..n);
                    p.after.drain(..n);
                    p.start = end;
                    backoff = Duration::from_secs(1);
                }
                Err(f) if f.too_large && n > 1 => {
                    tracing::warn!(stream = %self.name, records = n, "the receiver found a delivery too large: halving it");
                    status.failed(&f.message);
                    size = n.div_ceil(2);
                }
                Err(f) => {
                    tracing::warn!(stream = %self.name, delivery = %d.id, error = %f.message, "a delivery failed; it will be sent again");
                    status.failed(&f.message);
                    let wait = f.retry_after.unwrap_or(backoff).min(self.max_backoff);
                    sleep_unless(wait, stop);
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
        Ok(delivered)
    }
}

/// The id of a delivery: the stream, the table and the positions it spans.
fn delivery_id(stream: &str, key: &str, start: TablePosition, end: TablePosition) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(format!("{stream}|{key}|{start}|{end}").as_bytes());
    format!("{h:032x}")
}

/// Sleeps `d` in short steps, returning early when `stop` says so.
fn sleep_unless(d: Duration, stop: &dyn Fn() -> bool) {
    let until = Instant::now() + d;
    while !stop() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
