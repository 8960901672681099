//! Live connectors: they read where Entra's logs arrive and feed the live store, each batch
//! committed together with the position its source reaches after it, so that a connector killed
//! at any moment resumes where the last commit left it and stores nothing twice.
//!
//! - [`BlobConnector`]: a storage account's diagnostic export tree (append blobs re-read from
//!   where they stopped), through [`BlobService`] (SAS, account key or connection string).
//! - [`GraphConnector`]: Microsoft Graph's log APIs with client credentials, a lookback window
//!   for late records, paging, throttling and token renewal.
//!
//! Connectors write to a [`Sink`]: [`IngestorSink`] is the in-process ingest service (inside
//! `gatehouse serve`, or started by a standalone `gatehouse connect`). Each reports to a
//! [`ConnectorStatus`] for the server's metrics and `gatehouse status`.

mod azure_blob;
mod blob;
mod graph;
mod settings;
mod sink;
mod status;

pub use azure_blob::{decode_key, BlobItem, BlobService, Credential};
pub use blob::{BlobConfig, BlobConnector, PollReport};
pub use graph::{GraphConfig, GraphConnector, GraphPollReport};
pub use settings::{BlobSettings, Configured, Connector, ConnectorSettings, GraphSettings};
pub use sink::{Batch, IngestorSink, Sink, Stored};
pub use status::ConnectorStatus;

/// Why a connector could not read or store.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A setting that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The source could not be reached (network, DNS, TLS).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The source refused the credential.
    #[error("access denied: {0}")]
    Denied(String),
    /// The source has no such thing.
    #[error("not found: {0}")]
    NotFound(String),
    /// The source answered something unexpected.
    #[error("source: {0}")]
    Source(String),
    /// Storing failed.
    #[error("store: {0}")]
    Store(String),
}
