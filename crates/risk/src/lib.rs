//! Gatehouse's risk engine: finds risky sign-ins in the logs the store keeps, says why, and keeps
//! the risky-user state beside the immutable logs.
//!
//! - [`RiskEngine`] holds one tenant's baselines and windows and turns [`SignInEvent`]s into
//!   [`Detection`]s (password spray, brute force, unlikely travel, unfamiliar features, new
//!   country, anonymised and malicious addresses, MFA fatigue, legacy clients, disabled accounts,
//!   token replay, suspicious workload sign-ins), each with its evidence.
//! - [`RiskScanner`] feeds an engine from the store: the rows stored since it last looked.
//! - [`RiskyUsers`] keeps each user's risk level and state (`atRisk`, `dismissed`,
//!   `confirmedCompromised`) and writes every change as a `riskyUser` history row.
//! - [`evaluate`] measures detections against the simulator's labelled ground truth.
//!
//! Detections and risky-user rows are Graph records: callers store them through the store's one
//! writer (the ingest pipeline), never by rewriting sign-in files.

mod detection;
mod engine;
mod evaluate;
mod event;
mod lists;
mod read;
mod scan;
mod users;

use std::path::PathBuf;

pub use detection::{detection_id, graph_time, Detection, RiskEventType, RiskLevel, Subject};
pub use engine::{haversine_km, RiskConfig, RiskEngine};
pub use evaluate::{evaluate, read_labels, Evaluation, LabelRecord, ScenarioScore, TypeScore};
pub use event::{family, EventId, IdTexts, Interner, SignInEvent, Sym};
pub use lists::{is_hosting_asn, BadLine, IpList, ANONYMIZERS_FILE, HOSTING_ASNS};
pub use scan::{records_jsonl, stored_detections, RiskScanner, StoredDetection, GATEHOUSE_SOURCE};
pub use users::{admin_audit_records, AdminAction, RiskyUsers, UserRisk};

/// Errors of the risk engine.
#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    /// Reading the store failed.
    #[error("reading the store: {0}")]
    Query(#[from] gatehouse_query::QueryError),
    /// Arrow failure.
    #[error("reading sign-ins: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias.
pub type Result<T, E = RiskError> = std::result::Result<T, E>;
