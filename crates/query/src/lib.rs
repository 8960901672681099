//! SQL over the Gatehouse store with Apache DataFusion.
//!
//! [`QueryEngine::open`] registers one table per log (`signins`, `audits`, `provisioning`,
//! `riskyUsers`, `riskDetections`) over exactly the files the manifest lists — never a half-written
//! one — with the explicit schema from `gatehouse-model`. Identifiers are case-sensitive, as Graph
//! spells them (`userPrincipalName`), and nested objects are structs, so `status.errorCode` and
//! `deviceDetail.browser` work as written. DataFusion prunes files and row groups by their
//! statistics, so a time-range query reads only the days it needs.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use gatehouse_model::{LogKind, TableSchema};
use gatehouse_store::Store;

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

/// A query session over a store, pinned to the manifest version it was opened at.
pub struct QueryEngine {
    ctx: SessionContext,
    store: Store,
    tenant: Option<String>,
    version: u64,
    /// The files registered, as the manifest names them.
    files: Vec<String>,
}

/// How many times [`QueryEngine::sql`] runs a query again over a newer manifest when files it
/// read were replaced under it (each retry needs another such commit during the previous run).
const STALE_RETRIES: usize = 3;

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

impl QueryEngine {
    /// Registers the store's tables (optionally only one tenant's files).
    pub async fn open(store: &Store, tenant: Option<&str>) -> Result<QueryEngine> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.collect_statistics", true);
        let ctx = SessionContext::new_with_config(config);
        let manifest = store.manifest()?;
        let version = manifest.version;
        let mut files = Vec::new();
        for log in LogKind::ALL {
            let schema = TableSchema::of(log).arrow_schema();
            let urls: Vec<ListingTableUrl> = manifest
                .files_for(log, tenant, None)
                .inspect(|f| files.push(f.path.clone()))
                .map(|f| {
                    ListingTableUrl::parse(store.root().join(&f.path).to_string_lossy().as_ref())
                })
                .collect::<std::result::Result<_, _>>()?;
            if urls.is_empty() {
                let empty = MemTable::try_new(schema, vec![vec![]])?;
                ctx.register_table(table_ref(log), Arc::new(empty))?;
                continue;
            }
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(schema);
            let table = ListingTable::try_new(config)?;
            ctx.register_table(table_ref(log), Arc::new(table))?;
        }
        Ok(QueryEngine {
            ctx,
            store: store.clone(),
            tenant: tenant.map(str::to_owned),
            version,
            files,
        })
    }

    /// The manifest version the tables were registered from.
    pub fn manifest_version(&self) -> u64 {
        self.version
    }

    /// Runs one SQL query. The store is read-only here: DDL (`CREATE`, `DROP`), DML (`INSERT`,
    /// `COPY … TO`, which would write files) and session statements (`SET`) are refused.
    ///
    /// A writer may commit while the session is open, and a compaction or retention commit
    /// deletes the files it replaced, which this session registered. A file gone before the scan
    /// lists it would be skipped without an error, and one gone while it is read fails the
    /// query; so when a query ends (either way) and the manifest no longer lists every file the
    /// session registered, it is run again over the current manifest (up to [`STALE_RETRIES`]
    /// times). A reader therefore never fails, nor silently misses rows, because a writer was
    /// busy; commits that only add files leave the session's snapshot intact and are not waited
    /// for.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        let mut result = self.sql_once(sql).await;
        let mut fresh: Option<QueryEngine> = None;
        for _ in 0..STALE_RETRIES {
            let session = fresh.as_ref().unwrap_or(self);
            if session.snapshot_intact()? {
                break;
            }
            tracing::debug!(
                version = session.version,
                "files of the query were replaced while it ran; running it again"
            );
            let next = QueryEngine::open(&self.store, self.tenant.as_deref()).await?;
            result = next.sql_once(sql).await;
            fresh = Some(next);
        }
        result
    }

    /// Whether the manifest still lists every file this session registered, so that whatever
    /// it read (or will read) is the snapshot it was opened on. Callers that stream results
    /// themselves (through [`QueryEngine::context`]) check it at the end.
    pub fn snapshot_intact(&self) -> Result<bool> {
        let manifest = self.store.manifest()?;
        if manifest.version == self.version {
            return Ok(true);
        }
        let live: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        Ok(self.files.iter().all(|f| live.contains(f.as_str())))
    }

    async fn sql_once(&self, sql: &str) -> Result<QueryResult> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self.ctx.sql_with_options(sql, options).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok(QueryResult { schema, batches })
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
