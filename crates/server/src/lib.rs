//! `gatehouse serve`: one process over a data directory, running for months.
//!
//! [`Server::start`] takes the data directory's writer lock and starts the [`Ingestor`] (every
//! accepted row committed within a second), then [`Server::run`] serves HTTP with axum:
//!
//! | endpoint | who | what |
//! |---|---|---|
//! | `GET /healthz` | any token | the server is up and how far the store has got |
//! | `GET /metrics` | any token | Prometheus metrics of the token's tenant |
//! | `POST /gatehouse/ingest` | `ingest` | a body of any export shape (plain or gzip) stored for the token's tenant |
//! | `GET /gatehouse/sources/{name}` | `ingest` | the position last committed for a source |
//! | `POST /gatehouse/sql` | readers | SQL over the token's tenant, streamed as JSON lines, CSV or Arrow IPC |
//! | `GET /{v1.0,beta}/auditLogs/{signIns,directoryAudits,provisioning}[/{id}]` | readers | Microsoft Graph's log APIs (OData, keyset paging) |
//! | `GET /gatehouse/export/{signIns,directoryAudits,provisioning}` | readers | every record a `$filter` matches, uncapped: NDJSON, JSON, CSV or Parquet |
//! | `POST /gatehouse/admin/…` | local admin | CLI commands forwarded to the running server |
//!
//! Every request is authenticated (a Bearer token: [`auth`]); a request sees only its token's
//! tenant, and another tenant's data answers as if it did not exist (404). Background tasks
//! watch a landing folder ([`watch`]) and run maintenance on the ingestor's thread.

mod admission;
pub mod auth;
pub mod client;
pub mod config;
mod console;
mod graph;
mod insights;
mod metrics;
mod reports;
mod risk;
mod routes;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_ingest::{IngestOptions, Ingestor, Maintenance};
use gatehouse_query::QueryService;
use gatehouse_store::{Store, TableConfig};
use serde::{Deserialize, Serialize};

pub use auth::{Principal, Role, TokenStore};
pub use config::ServerConfig;
pub use metrics::Metrics;
pub use routes::summary_json;

/// Where a running server says how to reach it, relative to the data directory (readable by its
/// owner only: it holds the local administrator's token).
pub const SERVE_FILE: &str = "_gatehouse/serve.json";

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store or the ingestor could not start.
    #[error(transparent)]
    Ingest(#[from] gatehouse_ingest::IngestError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] gatehouse_store::StoreError),
    /// Tokens could not be read or written.
    #[error(transparent)]
    Tokens(#[from] auth::TokenError),
    /// Network or file trouble.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A bad setting.
    #[error("{0}")]
    Config(String),
}

/// What a running server writes into [`SERVE_FILE`] for commands on the same machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServeInfo {
    /// Base URL (`http://127.0.0.1:8080`).
    pub url: String,
    /// The server's process id.
    pub pid: u32,
    /// The local administrator's token for this run.
    pub token: String,
}

impl ServeInfo {
    /// The running server of a data directory, if one wrote its file.
    pub fn read(data: &Path) -> Option<ServeInfo> {
        let text = std::fs::read(data.join(SERVE_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// Everything a request handler needs.
pub struct AppState {
    store: Store,
    ingestor: Ingestor,
    queries: QueryService,
    admission: admission::Admission,
    graph: gatehouse_graph::GraphApi,
    tokens: TokenStore,
    /// Single-use download tickets of the console.
    tickets: auth::Tickets,
    metrics: Arc<Metrics>,
    local_admin: String,
    /// Whole days of the everyday questions' groups ([`gatehouse_insights::DayPartials`]).
    partials: Option<gatehouse_insights::DayPartials>,
    /// Users' and sign-ins' risk, kept by the risk engine ([`risk`]).
    risk: risk::RiskHub,
    /// The live connectors' statuses, with the tenant each stores under (`None`: the records'
    /// own; shown to the local administrator only).
    connectors: Vec<(Option<String>, Arc<gatehouse_connect::ConnectorStatus>)>,
    /// The streams' statuses, with the tenant each sends (`None`: every tenant's; shown to the
    /// local administrator only).
    streams: Vec<(Option<String>, Arc<gatehouse_outbound::StreamStatus>)>,
    config: ServerConfig,
}

/// Starts a named background thread of the server (the risk engine, a connector, a stream).
fn spawn_thread(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|source| ServerError::Io {
            context: format!("starting the thread {name:?}"),
            source,
        })
}

/// A started server: the ingestor runs; [`Server::run`] serves HTTP.
pub struct Server {
    state: Arc<AppState>,
    data: PathBuf,
    /// The configured connectors, started by [`Server::run`] (their statuses are in the state).
    connectors: Vec<gatehouse_connect::Configured>,
    /// The configured streams out, started by [`Server::run`].
    streams: Vec<gatehouse_outbound::Stream>,
}

impl Server {
    /// Opens the data directory and starts the ingestor (taking the writer lock). Call it outside
    /// an async runtime: the store's writer drives the Delta log on a thread of its own.
    pub fn start(data: &Path, config: ServerConfig) -> Result<Server, ServerError> {
        let store = Store::open(data)?;
        let metrics = Arc::new(Metrics::default());
        let mut options = IngestOptions {
            commit_interval: Some(config.commit_interval()),
            index_rows: config.ingest.index_rows,
            // Watched files may be rewritten under the server: a mapped file that shrinks would
            // end the process (SIGBUS), so they are read through buffers.
            map_files: false,
            ..IngestOptions::default()
        };
        if config.ingest.threads > 0 {
            options.threads = config.ingest.threads;
        }
        let tables = TableConfig {
            checkpoint_interval: config.maintenance.checkpoint_interval.max(1),
            vacuum_grace: Duration::from_secs(config.maintenance.vacuum_grace_hours * 3600),
            ..TableConfig::default()
        };
        let connectors = config
            .connectors
            .build()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let streams = config
            .outbound
            .build()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let ingestor = Ingestor::start(&store, options, tables, metrics.clone())?;
        let local_admin = auth::random_bytes::<32>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Server {
            state: Arc::new(AppState {
                queries: QueryService::new(
                    store.root(),
                    usize::try_from(config.query_memory_mb.saturating_mul(1 << 20))
                        .unwrap_or(usize::MAX),
                )
                .with_metadata_cache_limit(
                    usize::try_from(config.metadata_cache_mb.saturating_mul(1 << 20))
                        .unwrap_or(usize::MAX),
                ),
                admission: admission::Admission::new(match config.max_running_queries {
                    0 => std::thread::available_parallelism().map_or(2, usize::from),
                    n => n,
                }),
                graph: gatehouse_graph::GraphApi::new(),
                partials: match config.insights_cache_mb {
                    0 => None,
                    mb => Some(
                        gatehouse_insights::DayPartials::new(
                            usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
                        )
                        .with_dir(gatehouse_insights::kept_days_dir(store.root())),
                    ),
                },
                tokens: TokenStore::new(store.root()),
                tickets: auth::Tickets::default(),
                risk: risk::RiskHub::default(),
                connectors: connectors
                    .iter()
                    .map(|c| {
                        (
                            c.tenant.as_ref().map(|t| t.to_ascii_lowercase()),
                            Arc::new(gatehouse_connect::ConnectorStatus::new(
                                &c.name,
                                c.connector.kind(),
                            )),
                        )
                    })
                    .collect(),
                streams: streams
                    .iter()
                    .map(|s| {
                        (
                            s.tenant.as_ref().map(|t| t.to_ascii_lowercase()),
                            Arc::new(gatehouse_outbound::StreamStatus::new(
                                &s.name,
                                s.target.kind(),
                                s.feed.name(),
                            )),
                        )
                    })
                    .collect(),
                store,
                ingestor,
                metrics,
                local_admin,
                config,
            }),
            data: data.to_path_buf(),
            connectors,
            streams,
        })
    }

    /// Binds the configured address (port 0: any free port).
    pub async fn bind(&self) -> Result<tokio::net::TcpListener, ServerError> {
        let addr = self.state.config.listen;
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Io {
                context: format!("listening on {addr}"),
                source,
            })
    }

    /// Serves until `shutdown` completes, then stops taking requests, commits what was accepted,
    /// and releases the data directory.
    pub async fn run(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        // A stream's filter is checked against its log's columns before anything starts.
        for stream in &self.streams {
            if let gatehouse_outbound::Feed::Records {
                resource,
                filter: Some(f),
            } = &stream.feed
            {
                gatehouse_graph::RowFilter::new(&self.state.queries, "check", *resource, Some(f))
                    .await
                    .map_err(|e| ServerError::Config(format!("stream {}: {e}", stream.name)))?;
            }
        }
        let addr: SocketAddr = listener.local_addr().map_err(|source| ServerError::Io {
            context: "reading the listening address".into(),
            source,
        })?;
        let info = ServeInfo {
            url: format!("http://{addr}"),
            pid: std::process::id(),
            token: self.state.local_admin.clone(),
        };
        let serve_file = self.data.join(SERVE_FILE);
        if let Some(dir) = serve_file.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
                context: dir.display().to_string(),
                source,
            })?;
        }
        auth::write_private(
            &serve_file,
            &serde_json::to_vec_pretty(&info).unwrap_or_default(),
        )?;
        tracing::info!(url = %info.url, "serving");
        let mut background = Vec::new();
        if let Some(w) = self.state.config.watch.clone() {
            background.push(tokio::spawn(watch::run(self.state.clone(), w)));
        }
        background.push(tokio::spawn(maintenance(self.state.clone())));
        background.push(tokio::spawn(warm_metadata(self.state.clone())));
        background.push(tokio::spawn(warm_insights(self.state.clone())));
        let stop_clustering = Arc::new(AtomicBool::new(false));
        let risk_thread = if self.state.config.risk.enabled {
            let state = self.state.clone();
            let stop = Arc::clone(&stop_clustering);
            Some(spawn_thread("risk".into(), move || risk::run(state, stop))?)
        } else {
            None
        };
        background.push(tokio::spawn(cluster(
            self.state.clone(),
            Arc::clone(&stop_clustering),
        )));
        let mut connector_threads = Vec::new();
        let connectors = std::mem::take(&mut self.connectors);
        for (configured, (_, status)) in connectors.into_iter().zip(&self.state.connectors) {
            let (state, status, stop) = (
                self.state.clone(),
                Arc::clone(status),
                Arc::clone(&stop_clustering),
            );
            connector_threads.push(spawn_thread(
                format!("connector {}", configured.name),
                move || {
                    let sink = gatehouse_connect::IngestorSink::new(
                        &state.ingestor,
                        configured.tenant.clone(),
                    );
                    configured
                        .connector
                        .run(&sink, &status, &|| stop.load(Ordering::Relaxed));
                },
            )?);
        }
        let streams = std::mem::take(&mut self.streams);
        for (stream, (_, status)) in streams.into_iter().zip(&self.state.streams) {
            let (state, status, stop) = (
                self.state.clone(),
                Arc::clone(status),
                Arc::clone(&stop_clustering),
            );
            connector_threads.push(spawn_thread(
                format!("stream {}", stream.name),
                move || {
                    let snapshot = || state.ingestor.snapshot();
                    let ctx = gatehouse_outbound::StreamContext {
                        root: state.store.root(),
                        queries: &state.queries,
                        snapshot: &snapshot,
                    };
                    stream.run(&ctx, &status, &|| stop.load(Ordering::Relaxed));
                },
            )?);
        }
        let app = routes::router(self.state.clone());
        // Answers go out as soon as they are written: with Nagle's algorithm a streamed answer's
        // second write waits for the client's delayed ACK of the first (40 ms).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        stop_clustering.store(true, Ordering::Relaxed);
        for task in background {
            task.abort();
        }
        if let Some(t) = risk_thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        for t in connector_threads {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        let _ = std::fs::remove_file(&serve_file);
        served.map_err(|source| ServerError::Io {
            context: "serving HTTP".into(),
            source,
        })?;
        // Commits what is queued (the handlers are done; a watch round may still be finishing)
        // and releases the lock.
        let mut state = self.state;
        for _ in 0..600 {
            match Arc::try_unwrap(state) {
                Ok(only) => {
                    return tokio::task::spawn_blocking(move || only.ingestor.shutdown())
                        .await
                        .map_err(|e| ServerError::Config(format!("stopping: {e}")))?
                        .map_err(ServerError::from);
                }
                Err(shared) => {
                    state = shared;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(ServerError::Config(
            "stopping: a background task still holds the server after a minute".into(),
        ))
    }

    /// The store it serves.
    pub fn store(&self) -> &Store {
        &self.state.store
    }
}

/// The instant `days` days ago (the earliest representable one for absurd values).
pub(crate) fn retention_cutoff(days: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
        .checked_sub_signed(chrono::Duration::days(i64::from(days)))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// Reads the footers and page indexes of the store's files into the query metadata cache at
/// start, so the first pages after a restart do not each pay for those of the files they open.
async fn warm_metadata(state: Arc<AppState>) {
    let started = std::time::Instant::now();
    let snapshot = state.ingestor.snapshot();
    let files = state.queries.warm_metadata(&snapshot).await;
    tracing::info!(files, elapsed = ?started.elapsed(), "query metadata cache warmed");
}

/// Groups the everyday questions' whole days ahead of the questions ([`AppState::partials`]):
/// every round in which the snapshot changed, for each tenant, the four questions with default
/// filters, the daily sign-ins per type, the sign-ins per authentication method and AD FS
/// application activity over the newest 30 days that have sign-ins, and service principal
/// activity over all days. Days whose files did not change are already kept and cost nothing;
/// each question waits its turn with the others (it never takes more than one query's place).
async fn warm_insights(state: Arc<AppState>) {
    use gatehouse_insights as i;
    let seconds = state.config.maintenance.insights_warm_every_seconds;
    let Some(partials) = state.partials.as_ref() else {
        return;
    };
    if seconds == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(seconds));
    let mut done_up_to = None;
    loop {
        tick.tick().await;
        let snapshot = state.ingestor.snapshot();
        let generation = snapshot.generation();
        if done_up_to == Some(generation) {
            continue;
        }
        let started = std::time::Instant::now();
        // Each tenant's days with sign-ins: the newest ends the month grouped ahead, and kept
        // days of the others (retention removed them) are swept after the round.
        let mut live: std::collections::HashMap<String, std::collections::BTreeSet<i64>> =
            Default::default();
        for tenant in snapshot.tenants() {
            let days: std::collections::BTreeSet<i64> = snapshot
                .files_for(gatehouse_model::LogKind::SignIns, Some(&tenant), None)
                .map(|f| i64::from(f.day))
                .collect();
            let newest = days.last().copied();
            live.insert(tenant.to_ascii_lowercase(), days);
            let Some(newest) = newest else {
                continue;
            };
            let Ok(engine) = state.queries.engine_for(
                Arc::clone(&snapshot),
                Some(&tenant),
                &[gatehouse_model::LogKind::SignIns],
            ) else {
                continue;
            };
            let src = i::Source {
                engine: &engine,
                tenant: Some(&tenant),
                partials: Some(partials),
            };
            let day = |d: i64| {
                chrono::DateTime::<chrono::Utc>::from_timestamp(d * 86_400, 0).unwrap_or_default()
            };
            let month = i::Period {
                from: day(newest - 29),
                to: day(newest + 1),
            };
            let all = i::Period {
                from: day(0),
                to: day(newest + 1),
            };
            let filters = i::Filters::default();
            let outcome = async {
                let _turn = state.admission.admit().await;
                i::applications(&src, month, &filters).await?;
                drop(_turn);
                let _turn = state.admission.admit().await;
                i::failures(&src, month, &filters).await?;
                drop(_turn);
                let _turn = state.admission.admit().await;
                i::clients(&src, month, &filters, false).await?;
                drop(_turn);
                let _turn = state.admission.admit().await;
                i::workloads(&src, month, &filters).await?;
                drop(_turn);
                let _turn = state.admission.admit().await;
                i::daily_sign_ins(&src, month).await?;
                drop(_turn);
                let _turn = state.admission.admit().await;
                i::sign_ins_by_auth_method(&src, month).await?;
                drop(_turn);
                let _turn = state.admission.admit().await;
                i::relying_party_summary(&src, month).await?;
                drop(_turn);
                let _turn = state.admission.admit().await;
                i::service_principal_sign_in_activities(&src, all, None).await?;
                Ok::<(), i::InsightsError>(())
            }
            .await;
            if let Err(e) = outcome {
                tracing::warn!(tenant, error = %e, "grouping the everyday questions ahead");
            }
        }
        let swept = {
            let state = Arc::clone(&state);
            tokio::task::spawn_blocking(move || {
                state.partials.as_ref().map_or(0, |p| {
                    // `gatehouse ask` without a tenant keeps days over all of them.
                    p.sweep(&|tenant, day| match tenant {
                        "" => live.values().any(|d| d.contains(&day)),
                        t => live.get(t).is_some_and(|d| d.contains(&day)),
                    })
                })
            })
            .await
            .unwrap_or(0)
        };
        let (hits, misses) = partials.hits_and_misses();
        tracing::debug!(elapsed = ?started.elapsed(), hits, misses, swept, "everyday questions grouped ahead");
        done_up_to = Some(generation);
    }
}

/// Writes the copies of interactive sign-in files clustered by user
/// ([`gatehouse_store::clustered`]) for the files committed since the last round. It reads
/// committed files and writes outside the tables, so it runs beside the ingestor (not on its
/// thread) and holds up neither ingest nor queries.
async fn cluster(state: Arc<AppState>, stop: Arc<AtomicBool>) {
    let seconds = state.config.maintenance.cluster_every_seconds;
    if seconds == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(seconds));
    let mut done_up_to = None;
    loop {
        tick.tick().await;
        let snapshot = state.ingestor.snapshot();
        let generation = snapshot.generation();
        if done_up_to == Some(generation) {
            continue;
        }
        let root = state.store.root().to_path_buf();
        let stop = Arc::clone(&stop);
        let round = tokio::task::spawn_blocking(move || {
            gatehouse_store::clustered::cluster_missing(&root, &snapshot, &|| {
                !stop.load(Ordering::Relaxed)
            })
        });
        match round.await {
            Ok(report) => {
                if report.written > 0 {
                    tracing::info!(
                        files = report.written,
                        rows = report.rows,
                        "clustered interactive sign-ins by user"
                    );
                    let snapshot = state.ingestor.snapshot();
                    state.queries.warm_metadata(&snapshot).await;
                }
                // A file that failed is tried again at the next round.
                if report.failed == 0 {
                    done_up_to = Some(generation);
                }
            }
            Err(_) => return,
        }
    }
}

/// Runs compaction, retention and vacuum on their schedules, on the ingestor's thread.
async fn maintenance(state: Arc<AppState>) {
    let m = state.config.maintenance.clone();
    if m.compact_every_minutes == 0
        && m.vacuum_every_minutes == 0
        && state.config.retention.days == 0
    {
        return;
    }
    let minutes = |n: u64| Duration::from_secs(n.max(1) * 60);
    let mut compact = tokio::time::interval(minutes(m.compact_every_minutes));
    let mut vacuum = tokio::time::interval(minutes(m.vacuum_every_minutes));
    let mut retention = tokio::time::interval(Duration::from_secs(3600));
    let logs = state.config.retention_logs().unwrap_or_default();
    // The first tick of an interval is immediate: skip it, the store was just opened.
    compact.tick().await;
    vacuum.tick().await;
    let report = |what: &'static str| {
        move |r: Result<String, gatehouse_ingest::IngestError>| match r {
            Ok(done) => tracing::info!(what, done, "maintenance"),
            Err(e) => tracing::error!(what, error = %e, "maintenance failed"),
        }
    };
    loop {
        let task = tokio::select! {
            _ = compact.tick(), if m.compact_every_minutes > 0 => {
                let done = report("compaction");
                Maintenance::Compact(Box::new(move |r| done(r.map(|r| format!("{r:?}")))))
            }
            _ = vacuum.tick(), if m.vacuum_every_minutes > 0 => {
                let done = report("vacuum");
                Maintenance::Vacuum {
                    grace: Duration::from_secs(m.vacuum_grace_hours * 3600),
                    done: Box::new(move |r| done(r.map(|n| format!("{n} files deleted")))),
                }
            }
            _ = retention.tick(), if state.config.retention.days > 0 => {
                let cutoff = retention_cutoff(state.config.retention.days);
                let done = report("retention");
                Maintenance::Retention {
                    logs: logs.clone(),
                    cutoff_ns: cutoff.timestamp_nanos_opt().unwrap_or(i64::MIN),
                    done: Box::new(move |r| done(r.map(|r| format!("{r:?}")))),
                }
            }
        };
        if state.ingestor.maintain(task).is_err() {
            return;
        }
    }
}
