//! Live connectors: they read where Entra's logs arrive and feed the live store, each batch
//! committed together with the position its source reaches after it, so that a connector killed
//! at any moment resumes where the last commit left it and stores nothing twice.
//!
//! - [`BlobConnector`]: a storage account's diagnostic export tree (append blobs re-read from
//!   where they stopped), through [`BlobService`] (SAS, account key or connection string).
//! - [`KafkaConnector`]: Event Hubs (or any broker) over the Kafka protocol, in a consumer group,
//!   each partition starting where the store's position for it says.
//! - [`GraphConnector`]: Microsoft Graph's log APIs with client credentials, a lookback window
//!   for late records, paging, throttling and token renewal.
//!
//! Connectors write to a [`Sink`]: [`IngestorSink`] is the in-process ingest service (inside
//! `gatehouse serve`, or started by a standalone `gatehouse connect`). Each reports to a
//! [`ConnectorStatus`] for the server's metrics and `gatehouse status`.

mod azure_blob;
mod blob;
mod graph;
mod kafka;
mod settings;
mod sink;
mod status;

pub use azure_blob::{decode_key, BlobItem, BlobService, Credential};
pub use blob::{BlobConfig, BlobConnector, PollReport};
pub use graph::{GraphConfig, GraphConnector, GraphPollReport};
pub use kafka::{
    KafkaAuth, KafkaConfig, KafkaConnector, KafkaReport, SaslCredentials, SaslMechanism,
};
pub use settings::{
    kafka_endpoint, secret, BlobSettings, Configured, Connector, ConnectorSettings, GraphSettings,
    KafkaEndpoint, KafkaSettings,
};
pub use sink::{Batch, IngestorSink, Sink, Stored, Storing};
pub use status::{label_value, render_series, ConnectorStatus};

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

/// Percent-encodes `s` for a URL, keeping ASCII letters, digits and the bytes of `keep`.
pub(crate) fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs `poll` until `stop` says so, `every` apart; a failure is reported to `status` and
/// retried with backoff (1 s doubling to a minute). `poll` gives what it left behind (0: caught
/// up).
pub(crate) fn poll_until_stopped(
    what: &str,
    every: std::time::Duration,
    status: &ConnectorStatus,
    stop: &dyn Fn() -> bool,
    mut poll: impl FnMut() -> Result<u64, ConnectError>,
) {
    use std::time::Duration;
    let mut backoff = Duration::from_secs(1);
    while !stop() {
        let wait = match poll() {
            Ok(behind) => {
                status.poll_done(behind);
                backoff = Duration::from_secs(1);
                every
            }
            Err(e) => {
                tracing::warn!(connector = what, error = %e, retry_in = ?backoff, "a connector failed; retrying");
                status.failed(&e);
                let w = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                w
            }
        };
        sleep_unless(wait, stop);
    }
}

/// Sleeps `d`, waking early when `stop` says so.
pub(crate) fn sleep_unless(d: std::time::Duration, stop: &dyn Fn() -> bool) {
    let until = std::time::Instant::now() + d;
    while !stop() {
        let now = std::time::Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(std::time::Duration::from_millis(100)));
    }
}
