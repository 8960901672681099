//! Microsoft Graph's log APIs over the Gatehouse store: `auditLogs/signIns`,
//! `auditLogs/directoryAudits` and `auditLogs/provisioning`, under `v1.0` and `beta`.
//!
//! The HTTP server parses a request's OData options (with `gatehouse-odata`) into a
//! [`ListQuery`]; [`GraphApi::list`] answers one [`Page`] of it from one snapshot of the table
//! (keyset paging: the `$skiptoken` of [`SkipToken`] says where the next page starts and in which
//! table version), and [`GraphApi::get`] one record by id. Records are Graph JSON as the
//! version shows them ([`GraphResource::shown`]). [`export()`] streams every record a filter
//! matches, uncapped, as NDJSON, JSON, CSV or Parquet. [`RowFilter`] reads the rows of one data
//! file a filter matches, for change feeds that follow the Delta log.

mod changes;
mod export;
mod filter;
mod overlay;
mod page;
mod resource;
mod token;

pub use changes::{MatchingRow, MatchingRows, RowFilter};
pub use export::{csv_columns, export, Cell, ExportFormat, ExportQuery};
pub use overlay::{SignInRisk, SignInRiskOverlay, RISK_PROPERTIES};
pub use page::{graph_type, GetQuery, GraphApi, ListQuery, Page, DEFAULT_TOP};
pub use resource::{ApiVersion, GraphResource};
pub use token::SkipToken;

use datafusion::error::DataFusionError;

/// Why a Graph request failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The request is wrong (a bad filter, an unknown property, a foreign skiptoken); the
    /// message says where.
    #[error("{0}")]
    BadRequest(String),
    /// The store or the engine failed.
    #[error("{0}")]
    Internal(String),
    /// A file the log lists is no longer on disk (a vacuum deleted it after a compaction).
    #[error("{0}")]
    Gone(String),
}

impl GraphError {
    /// A planning error is the request's fault; anything else the server's.
    pub fn from_datafusion(e: DataFusionError) -> GraphError {
        match e.find_root() {
            DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => GraphError::BadRequest(e.to_string()),
            _ => GraphError::Internal(e.to_string()),
        }
    }
}
