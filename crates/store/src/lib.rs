//! The Gatehouse store: a data directory of Delta Lake tables that any engine can read.
//!
//! Layout (see [`layout`]): one Delta table per tenant and log, `DATA/tenants/<tenant>/<table>/`,
//! partitioned by UTC day (so a time-range query skips whole days), its Parquet files
//! LZ4-compressed with rows sorted by event time (tenants are kept apart on disk; a running
//! service's files, one commit interval's rows each, keep them in the order they arrived, each
//! batch sorted).
//!
//! Which files are live is what each table's Delta transaction log says ([`delta`]): a commit
//! makes a set of new files visible all at once or not at all, a `kill -9` at any moment leaves
//! the previous commit intact, and readers work on immutable [`StoreSnapshot`]s. Files are
//! deleted only by a vacuum after a grace period, so a reader holding an older snapshot never
//! loses one.
//!
//! [`writer`] writes Parquet files (with [`string_chunks`] for string columns and [`stats`] for
//! the Delta statistics); [`maintenance`] compacts small files, applies retention and vacuums.
//! Reading export formats and deciding what to store is `gatehouse-ingest`'s job; this crate parses
//! no JSON records.

pub mod clustered;
pub mod delta;
pub mod layout;
pub mod maintenance;
pub mod snapshot;
pub mod stats;
pub mod string_chunks;
pub mod writer;

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::DeltaTable;
use gatehouse_model::LogKind;

pub use delta::{commit_additions, ChangeKind, CommitAdditions, TableChange, TableConfig};
pub use layout::PartitionKey;
pub use snapshot::{DataFile, StoreSnapshot, TableSnapshot};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Filesystem trouble, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Another process is writing to the store.
    #[error("{0}: another gatehouse process is writing to this data directory")]
    Locked(PathBuf),
    /// A Delta log operation failed.
    #[error("{context}: {source}")]
    Delta {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// Arrow / Parquet failure.
    #[error("{context}: {source}")]
    Parquet {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Arrow failure.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Invalid argument.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}

/// A data directory opened for reading.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) a data directory for reading.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(Store { root })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The tables that exist on disk: (tenant, log) of every `tenants/<tenant>/<table>/` folder.
    pub fn table_ids(&self) -> Result<Vec<(String, LogKind)>> {
        let tenants = self.root.join(layout::TENANTS_DIR);
        let mut out = Vec::new();
        let entries = match fs::read_dir(&tenants) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&tenants)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&tenants))?;
            let Some(tenant) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if layout::check_tenant_id(&tenant).is_err() || !entry.path().is_dir() {
                continue;
            }
            for log in LogKind::ALL {
                if self.root.join(layout::table_dir(&tenant, log)).is_dir() {
                    out.push((tenant.clone(), log));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The latest committed state of every table, read from their Delta logs.
    pub async fn snapshot(&self) -> Result<StoreSnapshot> {
        let mut tables = Vec::new();
        for (tenant, log) in self.table_ids()? {
            if let Some(table) = delta::open_table(&self.root, &tenant, log).await? {
                tables.push(Arc::new(delta::table_snapshot(&table, &tenant, log)?));
            }
        }
        Ok(StoreSnapshot::new(tables))
    }

    /// One table as it was at `version` (Delta time travel), for a reader that must keep to the
    /// snapshot it started from (paging). `None` when the table or that version does not exist;
    /// a version whose files a vacuum has since deleted opens, but its files are gone.
    pub async fn table_at(
        &self,
        tenant: &str,
        log: LogKind,
        version: i64,
    ) -> Result<Option<TableSnapshot>> {
        delta::table_at(&self.root, tenant, log, version).await
    }

    /// Where each ingest source has got to: the positions the last commits recorded for them
    /// ([`StoreWriter::record_positions`]), by application id.
    pub fn positions(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let path = self.root.join(layout::POSITIONS_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Invalid(format!("{}: not a positions file: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// [`Store::snapshot`] for callers outside an async runtime (it runs one of its own; it must
    /// not be called from within one).
    pub fn snapshot_blocking(&self) -> Result<StoreSnapshot> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_err(&self.root))?
            .block_on(self.snapshot())
    }

    /// Opens the store for writing with the default table settings: takes the writer lock, cleans
    /// up what a crashed writer left, and loads every table. Must not be called from within an
    /// async runtime: the writer drives the Delta log on its own.
    pub fn writer(&self) -> Result<StoreWriter> {
        StoreWriter::open(self.clone(), TableConfig::default())
    }

    /// [`Store::writer`] with these settings for tables it creates (and for vacuums).
    pub fn writer_with(&self, config: TableConfig) -> Result<StoreWriter> {
        StoreWriter::open(self.clone(), config)
    }
}

/// Exclusive write access to a store (one writer at a time, enforced with a file lock): every
/// commit, compaction, retention run and vacuum of a data directory goes through one of these.
pub struct StoreWriter {
    store: Store,
    _lock: File,
    config: TableConfig,
    runtime: tokio::runtime::Runtime,
    tables: HashMap<(String, LogKind), DeltaTable>,
    snapshot: Arc<StoreSnapshot>,
}

impl std::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWriter")
            .field("root", &self.store.root)
            .field("generation", &self.snapshot.generation())
            .finish()
    }
}

impl StoreWriter {
    fn open(store: Store, config: TableConfig) -> Result<StoreWriter> {
        let lock_path = store.root.join(layout::LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(store.root.clone()))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let staging = store.root.join(layout::STAGING_DIR);
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_err(&store.root))?;
        let mut tables = HashMap::new();
        let mut snapshots = Vec::new();
        for (tenant, log) in store.table_ids()? {
            if let Some(table) = runtime.block_on(delta::open_table(&store.root, &tenant, log))? {
                snapshots.push(Arc::new(delta::table_snapshot(&table, &tenant, log)?));
                tables.insert((tenant, log), table);
            }
        }
        Ok(StoreWriter {
            store,
            _lock: lock,
            config,
            runtime,
            tables,
            snapshot: Arc::new(StoreSnapshot::new(snapshots)),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings of the tables this writer creates.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// Every table as of the last commit.
    pub fn snapshot(&self) -> &Arc<StoreSnapshot> {
        &self.snapshot
    }

    /// Commits each change to its table (creating the table on its first rows); a table's change
    /// is visible to readers all at once. Changes to different tables are separate Delta commits,
    /// made in order.
    pub fn commit(&mut self, changes: Vec<TableChange>) -> Result<()> {
        for change in changes {
            if change.added.is_empty() && change.removed.is_empty() && change.positions.is_empty() {
                continue;
            }
            let key = (change.tenant.clone(), change.log);
            if !self.tables.contains_key(&key) {
                let table = self.runtime.block_on(delta::create_table(
                    &self.store.root,
                    &change.tenant,
                    change.log,
                    &self.config,
                ))?;
                self.tables.insert(key.clone(), table);
            }
            let table = self.tables.get_mut(&key).expect("inserted above");
            let version = match self.runtime.block_on(delta::commit(table, &change)) {
                Ok(v) => v,
                Err(e) => {
                    // The commit may have landed before the error (delta-rs works in steps):
                    // take the table's state from its log again, so that what this writer
                    // believes is live is what is.
                    let reread = self
                        .runtime
                        .block_on(delta::reload(table))
                        .and_then(|()| delta::table_snapshot(table, &change.tenant, change.log));
                    match reread {
                        Ok(t) => self.snapshot = Arc::new(self.snapshot.with_table(Arc::new(t))),
                        Err(r) => {
                            tracing::error!(error = %r, "re-reading a table after a failed commit")
                        }
                    }
                    return Err(e);
                }
            };
            // A failed checkpoint leaves the table whole (readers replay more commits): say so
            // and go on.
            if let Err(e) = self.runtime.block_on(delta::checkpoint(table, version)) {
                tracing::warn!(error = %e, version, "checkpoint failed; the table stays readable");
            }
            let mut next = self
                .snapshot
                .table(&change.tenant, change.log)
                .map(|t| (**t).clone())
                .unwrap_or_else(|| TableSnapshot {
                    tenant: change.tenant.clone(),
                    log: change.log,
                    version: -1,
                    files: Vec::new(),
                });
            next.files
                .retain(|f| !change.removed.iter().any(|r| r.path == f.path));
            next.files.extend(change.added);
            next.files
                .sort_by(|a, b| (a.day, &a.path).cmp(&(b.day, &b.path)));
            next.version = version;
            self.snapshot = Arc::new(self.snapshot.with_table(Arc::new(next)));
        }
        Ok(())
    }

    /// Records where ingest sources have got to, after the commits that hold their rows (each of
    /// those commits carries the position too, as a Delta `txn` action of the tables the rows
    /// went to): the file is replaced atomically, so a reader sees the old or the new positions.
    /// A source resumes from here; a crash between the commits and this leaves an older
    /// position, and what the source sends again is skipped as duplicates.
    pub fn record_positions(&mut self, positions: &[(String, i64)]) -> Result<()> {
        let mut all = self.store.positions()?;
        for (app, version) in positions {
            let entry = all.entry(app.clone()).or_insert(*version);
            *entry = (*entry).max(*version);
        }
        let path = self.store.root.join(layout::POSITIONS_FILE);
        let dir = path.parent().unwrap_or(&self.store.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = dir.join("positions.json.tmp");
        let text =
            serde_json::to_vec_pretty(&all).map_err(|e| StoreError::Invalid(e.to_string()))?;
        {
            use std::io::Write;
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&text).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&dir)
    }

    /// The position a table records for an ingest source (see [`TableChange::positions`]).
    pub fn source_position(&self, tenant: &str, log: LogKind, app_id: &str) -> Result<Option<i64>> {
        match self.tables.get(&(tenant.to_string(), log)) {
            Some(table) => self.runtime.block_on(delta::source_position(table, app_id)),
            None => Ok(None),
        }
    }

    /// Deletes, in every table, the files no snapshot younger than the vacuum grace period
    /// needs (and their [`clustered`] copies); returns how many table files.
    pub fn vacuum(&mut self) -> Result<usize> {
        self.vacuum_older_than(self.config.vacuum_grace)
    }

    /// [`StoreWriter::vacuum`] with another grace period.
    pub fn vacuum_older_than(&mut self, grace: std::time::Duration) -> Result<usize> {
        let mut deleted = 0;
        let keys: Vec<_> = self.tables.keys().cloned().collect();
        for key in keys {
            let table = self.tables.remove(&key).expect("listed above");
            let (table, n) = self.runtime.block_on(delta::vacuum(table, grace))?;
            self.tables.insert(key, table);
            deleted += n;
        }
        // The companions of the files just deleted go with them.
        let companions = clustered::remove_orphans(&self.store.root)?;
        if companions > 0 {
            tracing::info!(
                companions,
                "vacuum deleted clustered copies of deleted files"
            );
        }
        Ok(deleted)
    }
}

/// Flushes a directory entry (after a rename into it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(io_err(dir))?;
        d.sync_all().map_err(io_err(dir))?;
    }
    Ok(())
}
