//! The Gatehouse store: a data directory of Parquet files that any engine can read.
//!
//! Layout (see [`layout`]): `DATA/tenants/<tenant>/<table>/date=<YYYY-MM-DD>/part-<uuid>.parquet`,
//! one folder per tenant (tenants are kept apart on disk), per table and per UTC day (so a
//! time-range query skips whole days), zstd-compressed, rows sorted by event time.
//!
//! Which files are live is decided by one small JSON file, `DATA/manifest.json` ([`manifest`]),
//! replaced atomically at each commit: a batch of new files becomes visible all at once or not at
//! all, and a `kill -9` at any moment leaves the previous manifest intact. Files not (yet) in the
//! manifest are cleaned up by the next writer.
//!
//! [`ingest`] is the streaming pipeline from input files to committed Parquet; [`dedup`] makes it
//! idempotent (a record whose id is stored is skipped); [`maintenance`] compacts small files and
//! applies retention; [`to_json`] turns stored rows back into Graph JSON.

pub mod columns;
pub mod convert;
pub mod dedup;
pub mod ingest;
pub mod layout;
pub mod maintenance;
pub mod manifest;
pub mod string_chunks;
pub mod to_json;
pub mod writer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub use layout::PartitionKey;
pub use manifest::{FileEntry, Manifest};

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
    /// The manifest cannot be read.
    #[error("{path}: corrupt manifest: {reason}")]
    CorruptManifest {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
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
    /// Reading the inputs failed as a whole.
    #[error(transparent)]
    Format(#[from] gatehouse_formats::FormatError),
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

    /// The committed manifest (empty if nothing was ever committed).
    pub fn manifest(&self) -> Result<Manifest> {
        Manifest::load(&self.root)
    }

    /// Opens the store for writing: takes the writer lock and cleans up what a crashed writer left.
    pub fn writer(&self) -> Result<StoreWriter> {
        StoreWriter::open(self.clone())
    }
}

/// Exclusive write access to a store (one writer at a time, enforced with a file lock).
#[derive(Debug)]
pub struct StoreWriter {
    store: Store,
    _lock: File,
    manifest: Manifest,
}

impl StoreWriter {
    fn open(store: Store) -> Result<StoreWriter> {
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
        let manifest = Manifest::load(&store.root)?;
        let writer = StoreWriter {
            store,
            _lock: lock,
            manifest,
        };
        writer.recover()?;
        Ok(writer)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The manifest as of the last commit.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Removes staging leftovers and Parquet files that no commit made live (a crash between
    /// writing a file and committing the manifest).
    fn recover(&self) -> Result<()> {
        let staging = self.store.root.join(layout::STAGING_DIR);
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
        }
        let tenants = self.store.root.join(layout::TENANTS_DIR);
        if !tenants.exists() {
            return Ok(());
        }
        let live: std::collections::HashSet<&str> = self
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        let mut stack = vec![tenants];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
                let entry = entry.map_err(io_err(&dir))?;
                let path = entry.path();
                let ft = entry.file_type().map_err(io_err(&path))?;
                if ft.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    let rel = layout::relative(&self.store.root, &path);
                    if !live.contains(rel.as_str()) {
                        tracing::warn!(file = %rel, "removing a file no commit made live (left by an interrupted writer)");
                        fs::remove_file(&path).map_err(io_err(&path))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Atomically replaces the live file set: adds `added`, removes `removed` (by path), then
    /// deletes the removed files. Visible to readers all at once.
    pub fn commit(&mut self, added: Vec<FileEntry>, removed: &[String]) -> Result<()> {
        let mut next = self.manifest.clone();
        next.files.retain(|f| !removed.contains(&f.path));
        next.files.extend(added);
        next.version += 1;
        next.save(&self.store.root)?;
        self.manifest = next;
        for rel in removed {
            let path = self.store.root.join(rel);
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "could not delete a replaced file");
            }
        }
        Ok(())
    }
}
