//! Gatehouse ingest: export files (and, in a server, pushed bodies) in, committed rows out.
//!
//! Records are read by `gatehouse-formats`, converted to the typed columns of their table
//! ([`TableBuilder`], three paths that store identical rows), given a content hash
//! ([`content_hashes`]), deduplicated by id and content ([`IdIndex`]), written as Parquet by the
//! store's writer and committed to its Delta tables. [`ingest`] runs the whole pipeline over a
//! list of inputs (its module comment, `pipeline.rs`, draws the threads); an [`Ingestor`] runs it
//! as a service, committing at least once a second while rows arrive.

mod columns;
mod content;
mod convert;
mod dedup;
mod ingestor;
mod pipeline;

use std::path::PathBuf;

pub use columns::{Fixed, Offsets, Strings, Validity};
pub use content::{content_hashes, is_content_column};
pub use convert::{
    derived_id, Appended, Bail, DirectRow, SystemFields, TableBuilder, TapeAppended,
};
pub use dedup::{row_key, row_keys, IdIndex, RowKeySet, DEFAULT_INDEX_ROWS};
pub use ingestor::{IngestObserver, Ingestor, InputsJob, NoObserver, Outcome};
pub use pipeline::{
    file_source, ingest, ingest_source, run, IngestJob, IngestOptions, IngestSummary, JobDone,
    Maintenance, NoEvents, PipelineEvents, Progress, Source, SourcePosition,
};

use gatehouse_store::StoreError;

/// Errors that end an ingest run (a bad record is a [`gatehouse_formats::Rejection`] in the
/// summary, never an error).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed (a commit, a table, the disk).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading a stored file failed.
    #[error("{context}: {source}")]
    Parquet {
        /// What was being read.
        context: String,
        /// The error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An Arrow operation failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Filesystem trouble, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An argument or state that makes the run impossible.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IngestError {
    let path = path.into();
    move |source| IngestError::Io { path, source }
}
