//! SQL over the Gatehouse store with Apache DataFusion.
//!
//! A [`QueryEngine`] answers SQL over one [`StoreSnapshot`]: one table per log (`signins`,
//! `audits`, `provisioning`, `riskyUsers`, `riskDetections`), each a [`SnapshotTable`] over exactly
//! the files that snapshot lists (of every tenant, or of one), with the explicit schema from
//! `gatehouse-model`. Snapshots never change, and files a later compaction or retention replaces
//! stay on disk until a vacuum after the grace period, so a query reads one consistent state of
//! the store however long it runs. Identifiers are case-sensitive, as Graph spells them
//! (`userPrincipalName`), and nested objects are structs, so `status.errorCode` and
//! `deviceDetail.browser` work as written. A time-range filter skips whole files by the event-time
//! bounds the Delta log records for them, and DataFusion skips row groups and pages by their
//! Parquet statistics.
//!
//! A [`QueryService`] keeps what a long-running server shares between queries: the DataFusion
//! runtime with its file-metadata cache (Parquet footers are read once, not per query).
//!
//! Sessions add one physical optimizer rule, [`DictionaryGroupBy`]: a partial `GROUP BY` of
//! string or integer columns with `count(*)`s straight over the files is answered by grouping
//! the Parquet dictionaries' codes instead of hashing and comparing every row's strings.

mod dictionary_group_by;
mod table;
mod versions;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use gatehouse_model::{LogKind, TableSchema};
use gatehouse_store::{Store, StoreSnapshot};

pub use datafusion::execution::SendableRecordBatchStream as RecordBatchStream;
pub use dictionary_group_by::{DictionaryGroupBy, DictionaryGroupByExec};
pub use table::{with_string_views, SnapshotTable};
pub use versions::{completeness, RecordVersion};

/// Errors of the query engine.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] gatehouse_store::StoreError),
    /// Planning or execution failed (bad SQL, unknown column, …).
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

/// Result alias.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// The result of a query.
pub struct QueryResult {
    /// Column names and types.
    pub schema: SchemaRef,
    /// Rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// The default memory for cached Parquet footers and page indexes. DataFusion's own default
/// (50 MB) holds those of about a hundred of Gatehouse's files (a month of a 2,000-user tenant
/// is 164): past it, every query read footers again and Graph pages took up to five times as
/// long.
pub const DEFAULT_METADATA_CACHE_BYTES: usize = 512 << 20;

/// Partitions a query's plan is split into, per core. More than one: the partitions' shares of
/// the rows cost different times (row groups of different sizes and encodings), and a core whose
/// partitions are done takes another's instead of waiting. On the benchmark store this took the
/// grouping questions from 1.4-1.6 to 1.8-1.9 busy cores of 2 (10-15 % faster).
const PARTITIONS_PER_CORE: usize = 2;

/// What queries share in a long-running process: one DataFusion runtime (memory pool and the
/// cache of Parquet footers) and the session settings.
#[derive(Clone)]
pub struct QueryService {
    runtime: Arc<RuntimeEnv>,
    root: PathBuf,
    shape: SessionShape,
}

/// What every query's session is made with, worked out once rather than for each query: every
/// log's table schema as queries see it ([`table_schema`]) and the partitions of a plan.
#[derive(Clone)]
struct SessionShape {
    schemas: Arc<[(LogKind, SchemaRef)]>,
    partitions: usize,
    /// Whether [`DictionaryGroupBy`] is on, and the groups its partitions hold.
    dictionary_group_by: Option<usize>,
}

impl SessionShape {
    fn new() -> SessionShape {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        SessionShape {
            schemas: LogKind::ALL.iter().map(|&l| (l, table_schema(l))).collect(),
            partitions: cores * PARTITIONS_PER_CORE,
            dictionary_group_by: Some(dictionary_group_by::DEFAULT_MAX_GROUPS),
        }
    }

    fn of(&self, log: LogKind) -> SchemaRef {
        self.schemas
            .iter()
            .find(|(l, _)| *l == log)
            .map_or_else(|| table_schema(log), |(_, s)| Arc::clone(s))
    }
}

impl QueryService {
    /// A service over the data directory `root`, whose queries together may hold at most
    /// `memory_limit` bytes (sorts and joins past their share spill to disk, or fail).
    pub fn new(root: impl Into<PathBuf>, memory_limit: usize) -> QueryService {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(memory_limit)))
            .with_metadata_cache_limit(DEFAULT_METADATA_CACHE_BYTES)
            .build_arc()
            .unwrap_or_else(|_| Arc::new(RuntimeEnv::default()));
        QueryService {
            runtime,
            root: root.into(),
            shape: SessionShape::new(),
        }
    }

    /// Whether grouping by string columns may use the Parquet dictionaries' codes
    /// ([`DictionaryGroupBy`]; on by default). Off, DataFusion's own aggregation answers every
    /// query: the same answers, for comparing them.
    pub fn with_dictionary_group_by(mut self, on: bool) -> QueryService {
        self.shape.dictionary_group_by = on.then_some(dictionary_group_by::DEFAULT_MAX_GROUPS);
        self
    }

    /// Lets each partition of a [`DictionaryGroupBy`] aggregation hold at most `groups` groups
    /// before it sends them on (default a million; they are sent on earlier when the memory
    /// pool refuses more).
    pub fn with_dictionary_max_groups(mut self, groups: usize) -> QueryService {
        if self.shape.dictionary_group_by.is_some() {
            self.shape.dictionary_group_by = Some(groups);
        }
        self
    }

    /// Keeps at most `bytes` of Parquet footers and page indexes in memory (least recently
    /// used go first; default [`DEFAULT_METADATA_CACHE_BYTES`]).
    pub fn with_metadata_cache_limit(self, bytes: usize) -> QueryService {
        self.runtime
            .cache_manager
            .get_file_metadata_cache()
            .update_cache_limit(bytes);
        self
    }

    /// Reads the Parquet footers and page indexes of `snapshot`'s files (and of their copies
    /// clustered by user) into the metadata cache, newest day first, so the first queries after
    /// a start do not pay for them; files already cached cost nothing. Returns how many files
    /// it read; a file it cannot read is left to the query that needs it.
    pub async fn warm_metadata(&self, snapshot: &StoreSnapshot) -> usize {
        use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
        use datafusion::object_store::local::LocalFileSystem;

        let store = LocalFileSystem::new();
        let cache = self.runtime.cache_manager.get_file_metadata_cache();
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        let mut files: Vec<_> = snapshot.files().collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.day));
        let mut read = 0;
        for file in files {
            let copy = gatehouse_store::clustered::companion_of(&root, file);
            let locations = std::iter::once((root.join(&file.path), file.bytes)).chain(copy);
            for (path, size) in locations {
                let Ok(file) = table::partitioned_file(&path, size) else {
                    continue;
                };
                let fetched = DFParquetMetadata::new(&store, &file.object_meta)
                    .with_file_metadata_cache(Some(Arc::clone(&cache)))
                    .fetch_metadata()
                    .await;
                match fetched {
                    Ok(_) => read += 1,
                    Err(e) => {
                        tracing::debug!(path = %path.display(), error = %e, "warming metadata")
                    }
                }
            }
        }
        read
    }

    /// An engine over `snapshot`, seeing every tenant's rows or only `tenant`'s.
    pub fn engine(
        &self,
        snapshot: Arc<StoreSnapshot>,
        tenant: Option<&str>,
    ) -> Result<QueryEngine> {
        self.engine_for(snapshot, tenant, &LogKind::ALL)
    }

    /// An engine over `snapshot` with only the tables of `logs` (the others do not exist for
    /// it), seeing every tenant's rows or only `tenant`'s.
    pub fn engine_for(
        &self,
        snapshot: Arc<StoreSnapshot>,
        tenant: Option<&str>,
        logs: &[LogKind],
    ) -> Result<QueryEngine> {
        QueryEngine::over(
            &self.root,
            snapshot,
            tenant,
            logs,
            Arc::clone(&self.runtime),
            &self.shape,
        )
    }
}

/// A query session over one snapshot of a store.
pub struct QueryEngine {
    ctx: SessionContext,
    snapshot: Arc<StoreSnapshot>,
}

impl QueryEngine {
    /// Reads the store's current snapshot and registers its tables (optionally only one tenant's
    /// rows).
    pub async fn open(store: &Store, tenant: Option<&str>) -> Result<QueryEngine> {
        let snapshot = Arc::new(store.snapshot().await?);
        QueryEngine::over(
            store.root(),
            snapshot,
            tenant,
            &LogKind::ALL,
            Arc::new(RuntimeEnv::default()),
            &SessionShape::new(),
        )
    }

    fn over(
        root: &Path,
        snapshot: Arc<StoreSnapshot>,
        tenant: Option<&str>,
        logs: &[LogKind],
        runtime: Arc<RuntimeEnv>,
        shape: &SessionShape,
    ) -> Result<QueryEngine> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
            .set_bool("datafusion.execution.parquet.pushdown_filters", true);
        let config = config.with_target_partitions(shape.partitions);
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features();
        if let Some(max_groups) = shape.dictionary_group_by {
            state =
                state.with_physical_optimizer_rule(Arc::new(DictionaryGroupBy::new(max_groups)));
        }
        let ctx = SessionContext::new_with_state(state.build());
        // Table functions that make rows from nothing would let a reader fill the memory of the
        // process that also ingests; the tables are the only sources.
        for name in ["generate_series", "range"] {
            ctx.deregister_udtf(name);
        }
        for &log in logs {
            let files = snapshot.files_for(log, tenant, None).cloned().collect();
            let table = SnapshotTable::new(root, log, shape.of(log), files);
            ctx.register_table(table_ref(log), Arc::new(table))?;
        }
        Ok(QueryEngine { ctx, snapshot })
    }

    /// The snapshot the tables were registered from.
    pub fn snapshot(&self) -> &Arc<StoreSnapshot> {
        &self.snapshot
    }

    /// Runs one SQL query and collects its result. The store is read-only here: DDL (`CREATE`,
    /// `DROP`), DML (`INSERT`, `COPY … TO`, which would write files) and session statements
    /// (`SET`) are refused.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        let df = self.dataframe(sql).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok(QueryResult { schema, batches })
    }

    /// Runs one SQL query and streams its result, batch by batch.
    pub async fn sql_stream(&self, sql: &str) -> Result<RecordBatchStream> {
        Ok(self.dataframe(sql).await?.execute_stream().await?)
    }

    async fn dataframe(&self, sql: &str) -> Result<datafusion::dataframe::DataFrame> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(self.ctx.sql_with_options(sql, options).await?)
    }

    /// The DataFusion session, for callers that need more than SQL text.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}

/// The table's name exactly as spelled (`riskyUsers`): a plain `&str` would be parsed as a SQL
/// identifier and lower-cased, leaving `riskyUsers` unreachable by its documented name.
fn table_ref(log: LogKind) -> TableReference {
    TableReference::bare(log.table_name())
}

/// `log`'s table as queries see it: the stored schema with strings as views
/// ([`with_string_views`]).
pub fn table_schema(log: LogKind) -> SchemaRef {
    Arc::new(with_string_views(&TableSchema::of(log).arrow_schema()))
}

/// A human-readable listing of every table and column (`gatehouse schema`).
pub fn describe_schema() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for log in LogKind::ALL {
        let schema = TableSchema::of(log).arrow_schema();
        let _ = writeln!(
            out,
            "{} ({} columns)",
            log.table_name(),
            schema.fields().len()
        );
        for f in schema.fields() {
            let _ = writeln!(out, "  {:<45} {}", f.name(), type_name(f.data_type()));
        }
        out.push('\n');
    }
    out
}

fn type_name(t: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType as D;
    match t {
        D::Utf8 => "string".into(),
        D::Int32 => "int".into(),
        D::Int64 => "bigint".into(),
        D::Float64 => "double".into(),
        D::Boolean => "boolean".into(),
        D::Timestamp(_, _) => "timestamp (UTC)".into(),
        D::List(f) => format!("list<{}>", type_name(f.data_type())),
        D::Map(_, _) => "map<string, string>".into(),
        D::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}
