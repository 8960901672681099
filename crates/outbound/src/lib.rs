//! Streaming out: new records as they are stored, delivered at least once to webhooks and Kafka
//! topics.
//!
//! A [`Stream`] follows the Delta logs of one feed's tables ([`Feed`]: sign-ins or another Graph
//! log matching a `$filter`, risk detections, or alerts of users whose risk reached a level).
//! It reads each new commit's files ([`gatehouse_store::commit_additions`], skipping compaction,
//! whose rows were seen already), takes the rows the filter matches in file order, delivers them
//! in batches to its [`Target`] ([`WebhookTarget`]: HMAC-signed POSTs; [`KafkaTarget`]: one
//! message per record) and only then moves its [`Cursor`] (saved atomically under
//! `_gatehouse/outbound/`). A failed delivery is retried with backoff until it lands; a stream
//! stopped between a delivery and its cursor's save sends that batch again (same
//! `deliveryId`): at least once, never skipped.

mod cursor;
mod feed;
mod kafka;
mod settings;
mod status;
mod stream;
mod webhook;

pub use cursor::{Cursor, TablePosition};
pub use feed::{Feed, RiskRank};
pub use kafka::KafkaTarget;
pub use settings::{OutboundSettings, StreamSettings};
pub use status::StreamStatus;
pub use stream::{Stream, StreamContext, Target};
pub use webhook::{sign, WebhookTarget, SIGNATURE_HEADER};

/// Why a stream could not read or deliver.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// A setting that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// Reading the store failed.
    #[error("store: {0}")]
    Store(String),
    /// The receiver did not take a delivery.
    #[error("delivery: {0}")]
    Delivery(String),
    /// The cursor could not be read or saved.
    #[error("cursor {path}: {message}")]
    Cursor {
        /// Its file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}
