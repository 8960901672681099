//! The Delta Lake transaction log of each table, through delta-rs.
//!
//! Every tenant's log is one Delta table, `tenants/<tenant>/<table>/`, partitioned by `date` (the
//! UTC day of the event time). Gatehouse writes the Parquet files itself (its own fast writer) and
//! commits them here as `add` actions with their statistics ([`crate::stats`]) and, for sign-ins,
//! the tag [`SIGN_IN_KIND_TAG`] naming the one sign-in type of the file's rows; compaction is one
//! commit of `remove`s and `add`s, retention one of `remove`s, and an ingest source's position is
//! a `txn` action in the same commit as the rows it covers. delta-rs writes the commits (atomically:
//! a commit file is created only if no other writer took its version), a checkpoint every
//! [`TableConfig::checkpoint_interval`] commits (after the commit, as a step of its own), and
//! vacuums.
//!
//! The tables are ordinary Delta tables: Spark, Databricks, Fabric, DuckDB and the `deltalake`
//! Python package read them as they are.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{
    Action, Add, DataType as DeltaType, Remove, StructField, StructType, Transaction,
};
use deltalake::operations::create::CreateBuilder;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::config::TablePropertiesExt as _;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use gatehouse_model::{LogKind, SignInKind, TableSchema};

use crate::layout::{self, day_to_string, PartitionKey};
use crate::snapshot::{DataFile, TableSnapshot, SIGN_IN_KIND_TAG};
use crate::stats::{stats_columns, time_bounds};
use crate::{Result, StoreError};

/// The partition column of every table: the UTC day of the event time.
pub const PARTITION_COLUMN: &str = "date";

/// Settings of the Delta tables Gatehouse creates (table properties in their metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// A checkpoint (the table's state in one Parquet file) every this many commits, so a reader
    /// opens the table from the last checkpoint and the few commits after it.
    pub checkpoint_interval: u64,
    /// How long log entries are kept once a later checkpoint covers them (time travel reaches
    /// this far back).
    pub log_retention: Duration,
    /// How long a file removed by compaction or retention stays on disk for readers of older
    /// snapshots before a vacuum may delete it.
    pub vacuum_grace: Duration,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            checkpoint_interval: 100,
            log_retention: Duration::from_secs(2 * 86_400),
            vacuum_grace: Duration::from_secs(86_400),
        }
    }
}

/// What one commit changes in one table.
#[derive(Debug, Clone)]
pub struct TableChange {
    /// Tenant.
    pub tenant: String,
    /// Log.
    pub log: LogKind,
    /// Files made live.
    pub added: Vec<DataFile>,
    /// Files no longer live (deleted only by a later vacuum).
    pub removed: Vec<DataFile>,
    /// Positions of ingest sources (`txn` actions: application id, version) that this commit's
    /// rows bring the table up to.
    pub positions: Vec<(String, i64)>,
    /// What kind of change this is.
    pub kind: ChangeKind,
}

impl TableChange {
    /// New rows of `tenant`'s `log`: `added` made live, nothing removed, no source positions.
    pub fn append(tenant: impl Into<String>, log: LogKind, added: Vec<DataFile>) -> TableChange {
        TableChange {
            tenant: tenant.into(),
            log,
            added,
            removed: Vec::new(),
            positions: Vec::new(),
            kind: ChangeKind::Append,
        }
    }
}

/// The operation a commit records in its `commitInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// New rows (ingest).
    Append,
    /// Small files merged into larger ones; the rows are unchanged.
    Compact,
    /// Rows older than a cutoff removed (the predicate, as SQL).
    Retention(String),
}

fn delta_err(context: impl Into<String>) -> impl FnOnce(DeltaTableError) -> StoreError {
    let context = context.into();
    move |source| StoreError::Delta {
        context,
        source: Box::new(source),
    }
}

/// The URL of a table's folder.
pub fn table_url(root: &Path, tenant: &str, log: LogKind) -> Result<url::Url> {
    let dir = root.join(layout::table_dir(tenant, log));
    let dir = std::path::absolute(&dir).map_err(crate::io_err(&dir))?;
    url::Url::from_directory_path(&dir)
        .map_err(|()| StoreError::Invalid(format!("{}: not a usable path", dir.display())))
}

/// A table's handle, its log not read yet.
fn unloaded(root: &Path, tenant: &str, log: LogKind) -> Result<DeltaTable> {
    let url = table_url(root, tenant, log)?;
    let context = || format!("opening table {}", url.path());
    DeltaTableBuilder::from_url(url.clone())
        .map_err(delta_err(context()))?
        .build()
        .map_err(delta_err(context()))
}

/// Opens an existing table (`None` when its folder holds no Delta log).
pub async fn open_table(root: &Path, tenant: &str, log: LogKind) -> Result<Option<DeltaTable>> {
    let log_dir = root.join(layout::table_dir(tenant, log)).join("_delta_log");
    if !log_dir.is_dir() {
        return Ok(None);
    }
    let mut table = unloaded(root, tenant, log)?;
    let context = || format!("opening table {tenant}/{log}");
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        // A folder whose first commit never completed.
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(delta_err(context())(e)),
    }
}

/// A table at one version (`None` when the table or the version does not exist).
pub async fn table_at(
    root: &Path,
    tenant: &str,
    log: LogKind,
    version: i64,
) -> Result<Option<TableSnapshot>> {
    let log_dir = root.join(layout::table_dir(tenant, log)).join("_delta_log");
    if version < 0 || !log_dir.is_dir() {
        return Ok(None);
    }
    let mut table = unloaded(root, tenant, log)?;
    let context = || format!("opening table {tenant}/{log} at version {version}");
    match table.load_version(version as u64).await {
        Ok(()) => Ok(Some(table_snapshot(&table, tenant, log)?)),
        Err(DeltaTableError::NotATable(_)) | Err(DeltaTableError::InvalidVersion(_)) => Ok(None),
        Err(e) => Err(delta_err(context())(e)),
    }
}

/// The Delta schema of a log's table: its Arrow columns and the `date` partition column.
fn delta_schema(log: LogKind) -> Result<Vec<StructField>> {
    let arrow = TableSchema::of(log).arrow_schema();
    let schema = StructType::try_from_arrow(arrow.as_ref())
        .map_err(|e| StoreError::Invalid(format!("the {log} schema as Delta: {e}")))?;
    let mut fields: Vec<StructField> = schema.fields().cloned().collect();
    fields.push(StructField::new(PARTITION_COLUMN, DeltaType::DATE, true));
    Ok(fields)
}

/// Creates a log's table for a tenant (or opens it, if another writer just created it).
pub async fn create_table(
    root: &Path,
    tenant: &str,
    log: LogKind,
    config: &TableConfig,
) -> Result<DeltaTable> {
    let url = table_url(root, tenant, log)?;
    let dir = root.join(layout::table_dir(tenant, log));
    std::fs::create_dir_all(&dir).map_err(crate::io_err(&dir))?;
    let log_store = DeltaTableBuilder::from_url(url.clone())
        .map_err(delta_err(url.path()))?
        .build_storage()
        .map_err(delta_err(url.path()))?;
    let stats = stats_columns(log)
        .into_iter()
        .map(|c| format!("`{}`", c.replace('.', "`.`")))
        .collect::<Vec<_>>()
        .join(",");
    let properties = [
        (
            "delta.checkpointInterval",
            config.checkpoint_interval.max(1).to_string(),
        ),
        ("delta.logRetentionDuration", interval(config.log_retention)),
        (
            "delta.deletedFileRetentionDuration",
            interval(config.vacuum_grace),
        ),
        ("delta.dataSkippingStatsColumns", stats),
        ("delta.enableExpiredLogCleanup", "true".to_string()),
    ];
    CreateBuilder::new()
        .with_log_store(log_store)
        .with_table_name(format!("{tenant}_{}", log.table_name()))
        .with_comment(format!(
            "Gatehouse: the {} log of tenant {tenant}",
            log.table_name()
        ))
        .with_columns(delta_schema(log)?)
        .with_partition_columns([PARTITION_COLUMN])
        .with_configuration(properties.into_iter().map(|(k, v)| (k, Some(v))))
        .with_save_mode(SaveMode::Ignore)
        .await
        .map_err(delta_err(format!("creating table {}", url.path())))
}

/// A duration as a Delta interval property.
fn interval(d: Duration) -> String {
    format!("interval {} seconds", d.as_secs())
}

/// The live files of a loaded table.
pub fn table_snapshot(table: &DeltaTable, tenant: &str, log: LogKind) -> Result<TableSnapshot> {
    let state = table
        .snapshot()
        .map_err(delta_err(format!("reading table {tenant}/{log}")))?;
    let prefix = layout::table_dir(tenant, log);
    let prefix = prefix.to_string_lossy();
    let mut files = Vec::with_capacity(state.log_data().num_files());
    for view in state.log_data().iter() {
        let rel = view.path().to_string();
        let stats: Arc<str> = view.stats().unwrap_or_default().into();
        let day = view
            .partition_values_map()
            .get(PARTITION_COLUMN)
            .cloned()
            .flatten()
            .and_then(|d| layout::parse_day(&d));
        let bounds = time_bounds(&stats, log);
        let sign_in_kind = if log == LogKind::SignIns {
            // The tags are read through the file's `add` action (delta-rs has no other way).
            #[allow(deprecated)]
            let tags = view.add_action().tags;
            tags.and_then(|t| t.get(SIGN_IN_KIND_TAG).cloned().flatten())
                .and_then(|k| SignInKind::from_exact_graph_name(&k))
        } else {
            None
        };
        files.push(DataFile {
            path: format!("{prefix}/{rel}"),
            tenant: tenant.to_string(),
            log,
            day: day.unwrap_or(i32::MIN),
            rows: bounds
                .map(|b| b.rows)
                .or_else(|| view.num_records().map(|n| n as u64))
                .unwrap_or(0),
            bytes: view.size().max(0) as u64,
            min_time_ns: bounds.map_or(i64::MIN, |b| b.min_time_ns),
            max_time_ns: bounds.map_or(i64::MAX, |b| b.max_time_ns),
            stats,
            sign_in_kind,
        });
    }
    files.sort_by(|a, b| (a.day, &a.path).cmp(&(b.day, &b.path)));
    Ok(TableSnapshot {
        tenant: tenant.to_string(),
        log,
        version: state.version() as i64,
        files,
    })
}

/// A file's path inside its table folder.
fn path_in_table(file: &DataFile) -> String {
    let prefix = layout::table_dir(&file.tenant, file.log);
    let prefix = format!("{}/", prefix.to_string_lossy());
    file.path
        .strip_prefix(&prefix)
        .unwrap_or(&file.path)
        .to_string()
}

fn partition_values(file: &DataFile) -> HashMap<String, Option<String>> {
    HashMap::from([(PARTITION_COLUMN.to_string(), Some(day_to_string(file.day)))])
}

/// The `add` action tags of a file: its sign-in type, when it has one.
fn tags(file: &DataFile) -> Option<HashMap<String, Option<String>>> {
    let kind = file.sign_in_kind?;
    Some(HashMap::from([(
        SIGN_IN_KIND_TAG.to_string(),
        Some(kind.graph_name().to_string()),
    )]))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Commits one change to a loaded table; returns the new version.
pub async fn commit(table: &mut DeltaTable, change: &TableChange) -> Result<i64> {
    let data_change = change.kind != ChangeKind::Compact;
    let now = now_ms();
    let mut actions: Vec<Action> = Vec::new();
    for f in &change.added {
        actions.push(Action::Add(Add {
            path: path_in_table(f),
            partition_values: partition_values(f),
            size: f.bytes as i64,
            modification_time: now,
            data_change,
            stats: Some(f.stats.to_string()),
            tags: tags(f),
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        }));
    }
    for f in &change.removed {
        actions.push(Action::Remove(Remove {
            path: path_in_table(f),
            data_change,
            deletion_timestamp: Some(now),
            extended_file_metadata: Some(true),
            partition_values: Some(partition_values(f)),
            size: Some(f.bytes as i64),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
        }));
    }
    for (app, version) in &change.positions {
        actions.push(Action::Txn(Transaction::new_with_last_update(
            app,
            *version,
            Some(now),
        )));
    }
    let operation = match &change.kind {
        ChangeKind::Append => DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
            predicate: None,
        },
        ChangeKind::Compact => DeltaOperation::Optimize {
            predicate: None,
            target_size: 0,
        },
        ChangeKind::Retention(predicate) => DeltaOperation::Delete {
            predicate: Some(predicate.clone()),
        },
    };
    let context = || format!("committing to table {}/{}", change.tenant, change.log);
    // Checkpoints and log cleanup are separate steps ([`checkpoint`]): inside the commit, their
    // failure would report a commit that landed as failed.
    let properties = CommitProperties::default()
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false))
        .with_metadata([(
            "engineInfo".to_string(),
            serde_json::Value::String(format!("gatehouse/{}", env!("CARGO_PKG_VERSION"))),
        )]);
    let snapshot = table.snapshot().map_err(delta_err(context()))?;
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(delta_err(context()))?;
    let version = finalized.version();
    table.state = Some(finalized.snapshot());
    Ok(version as i64)
}

/// After a commit of version `version`: writes a checkpoint when the version completes an
/// interval of the table's `delta.checkpointInterval`, then deletes log entries older than its
/// `delta.logRetentionDuration` that a checkpoint covers. Whether it did a checkpoint.
pub async fn checkpoint(table: &DeltaTable, version: i64) -> Result<bool> {
    let context = || format!("checkpointing {}", table.table_url());
    let interval = table
        .snapshot()
        .map_err(delta_err(context()))?
        .table_config()
        .checkpoint_interval()
        .get() as i64;
    if (version + 1) % interval.max(1) != 0 {
        return Ok(false);
    }
    deltalake::checkpoints::create_checkpoint(table, None)
        .await
        .map_err(delta_err(context()))?;
    deltalake::checkpoints::cleanup_metadata(table, None)
        .await
        .map_err(delta_err(context()))?;
    Ok(true)
}

/// Reads a table's state again from its log (after a commit whose outcome is unknown).
pub async fn reload(table: &mut DeltaTable) -> Result<()> {
    let url = table.table_url().to_string();
    table
        .update_state()
        .await
        .map_err(delta_err(format!("reading table {url}")))
}

/// The position a table records for an ingest source (its latest `txn` version).
pub async fn source_position(table: &DeltaTable, app_id: &str) -> Result<Option<i64>> {
    let state = table
        .snapshot()
        .map_err(delta_err(format!("reading table {}", table.table_url())))?;
    state
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(delta_err(format!("reading table {}", table.table_url())))
}

/// Deletes files no snapshot younger than `grace` needs: removed by compaction or retention, or
/// left by an interrupted writer, at least `grace` ago. Returns the table and the files deleted.
pub async fn vacuum(table: DeltaTable, grace: Duration) -> Result<(DeltaTable, usize)> {
    let url = table.table_url().to_string();
    let (table, metrics) = table
        .vacuum()
        .with_retention_period(chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX))
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .await
        .map_err(delta_err(format!("vacuuming {url}")))?;
    Ok((table, metrics.files_deleted.len()))
}

/// The partition folder of a file (for callers that only have its key).
pub fn partition_of(file: &DataFile) -> PartitionKey {
    file.partition()
}

/// What one commit of a table's log did to its rows, as a change feed reads it.
#[derive(Debug, Clone, Default)]
pub struct CommitAdditions {
    /// The files the commit made live with new rows (`add` with `dataChange`), in log order.
    /// Compaction's files (`dataChange: false`) hold rows already seen and are not listed.
    pub added: Vec<DataFile>,
    /// When the commit was written (ms since the epoch; 0 when its `commitInfo` does not say).
    pub timestamp_ms: i64,
}

/// The files commit `version` of a table added with new rows, read from its log entry
/// (`_delta_log/<version>.json`); `None` when that entry does not exist (not written yet, or
/// removed by log cleanup once a checkpoint covered it).
pub fn commit_additions(
    root: &Path,
    tenant: &str,
    log: LogKind,
    version: i64,
) -> Result<Option<CommitAdditions>> {
    let table_dir = layout::table_dir(tenant, log);
    let path = root
        .join(&table_dir)
        .join("_delta_log")
        .join(format!("{version:020}.json"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::io_err(&path)(e)),
    };
    let prefix = table_dir.to_string_lossy().replace('\\', "/");
    let mut out = CommitAdditions::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let action: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| StoreError::Invalid(format!("{} line {}: {e}", path.display(), n + 1)))?;
        if let Some(info) = action.get("commitInfo") {
            out.timestamp_ms = info.get("timestamp").and_then(|t| t.as_i64()).unwrap_or(0);
        }
        let Some(add) = action.get("add") else {
            continue;
        };
        if add.get("dataChange").and_then(|d| d.as_bool()) != Some(true) {
            continue;
        }
        let Some(rel) = add.get("path").and_then(|p| p.as_str()) else {
            return Err(StoreError::Invalid(format!(
                "{} line {}: an add action without a path",
                path.display(),
                n + 1
            )));
        };
        let stats: Arc<str> = add
            .get("stats")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .into();
        let bounds = time_bounds(&stats, log);
        let day = add
            .get("partitionValues")
            .and_then(|p| p.get(PARTITION_COLUMN))
            .and_then(|d| d.as_str())
            .and_then(layout::parse_day);
        let sign_in_kind = add
            .get("tags")
            .and_then(|t| t.get(SIGN_IN_KIND_TAG))
            .and_then(|k| k.as_str())
            .and_then(SignInKind::from_exact_graph_name);
        out.added.push(DataFile {
            path: format!("{prefix}/{}", percent_decode(rel)),
            tenant: tenant.to_string(),
            log,
            day: day.unwrap_or(i32::MIN),
            rows: bounds.map_or(0, |b| b.rows),
            bytes: add.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
            min_time_ns: bounds.map_or(i64::MIN, |b| b.min_time_ns),
            max_time_ns: bounds.map_or(i64::MAX, |b| b.max_time_ns),
            stats,
            sign_in_kind,
        });
    }
    Ok(Some(out))
}

/// A Delta log path with its `%XX` escapes decoded (the protocol stores paths as URIs).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_lists_the_files_it_added_with_new_rows_only() {
        let root = tempfile::tempdir().unwrap();
        let log_dir = root
            .path()
            .join(layout::table_dir("contoso", LogKind::SignIns))
            .join("_delta_log");
        std::fs::create_dir_all(&log_dir).unwrap();
        let stats = r#"{"numRecords":12,"minValues":{"createdDateTime":"2026-10-01T00:00:01.000Z"},"maxValues":{"createdDateTime":"2026-10-01T23:59:59.000Z"},"nullCount":{}}"#;
        let lines = [
            serde_json::json!({"commitInfo": {"timestamp": 1_796_000_000_000_i64, "operation": "WRITE"}}),
            serde_json::json!({"add": {"path": "date=2026-10-01/part%20one.parquet", "partitionValues": {"date": "2026-10-01"},
                "size": 4096, "modificationTime": 0, "dataChange": true, "stats": stats,
                "tags": {SIGN_IN_KIND_TAG: "interactiveUser"}}}),
            serde_json::json!({"add": {"path": "date=2026-10-01/compacted.parquet", "partitionValues": {"date": "2026-10-01"},
                "size": 8192, "modificationTime": 0, "dataChange": false, "stats": stats}}),
            serde_json::json!({"remove": {"path": "date=2026-10-01/old.parquet", "dataChange": false}}),
            serde_json::json!({"txn": {"appId": "contoso/kafka:t/0", "version": 7}}),
        ];
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(log_dir.join(format!("{:020}.json", 3)), text).unwrap();

        let c = commit_additions(root.path(), "contoso", LogKind::SignIns, 3)
            .unwrap()
            .unwrap();
        assert_eq!(c.timestamp_ms, 1_796_000_000_000);
        assert_eq!(c.added.len(), 1, "{:?}", c.added);
        let f = &c.added[0];
        assert!(
            f.path.ends_with("signins/date=2026-10-01/part one.parquet"),
            "{}",
            f.path
        );
        assert_eq!(f.day, layout::parse_day("2026-10-01").unwrap());
        assert_eq!((f.rows, f.bytes), (12, 4096));
        assert_eq!(f.sign_in_kind, Some(SignInKind::InteractiveUser));
        assert!(
            commit_additions(root.path(), "contoso", LogKind::SignIns, 4)
                .unwrap()
                .is_none()
        );

        std::fs::write(log_dir.join(format!("{:020}.json", 5)), "{\"add\": {\n").unwrap();
        let e = commit_additions(root.path(), "contoso", LogKind::SignIns, 5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("00000000000000000005.json line 1"), "{e}");
    }
}
