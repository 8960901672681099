//! The storage-account connector: reads the tree Entra's diagnostic settings write to a storage
//! account (`insights-logs-<category>/resourceId=…/y=…/m=…/d=…/h=…/m=00/PT1H.json`), incrementally.
//!
//! Each blob's position is the number of its bytes stored. A poll lists the containers' blobs,
//! and reads each blob that grew (hourly append blobs grow for an hour) from its position, up to
//! its last complete line; a last line without its newline is taken once the blob has not
//! changed for [`BlobConfig::settle`]. The batch and the blob's new position are committed
//! together, so after a crash at any moment the blob is read again from the committed position,
//! and nothing is lost or stored twice.

use std::time::Duration;

use crate::azure_blob::{BlobItem, BlobService};
use crate::sink::{Batch, Sink};
use crate::status::ConnectorStatus;
use crate::ConnectError;

/// What to read and how often.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    /// The containers (default: every container whose name starts with `insights-logs-`).
    pub containers: Vec<String>,
    /// How often to look for new data.
    pub every: Duration,
    /// How long a blob must stay unchanged before a last line without a newline is taken.
    pub settle: Duration,
    /// Largest batch read from one blob at a time (bytes).
    pub max_batch_bytes: u64,
}

impl Default for BlobConfig {
    fn default() -> Self {
        BlobConfig {
            containers: Vec::new(),
            every: Duration::from_secs(10),
            settle: Duration::from_secs(300),
            max_batch_bytes: 64 << 20,
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Blobs listed.
    pub blobs: usize,
    /// Batches stored.
    pub batches: usize,
    /// Records stored.
    pub stored: u64,
    /// Records skipped as already stored.
    pub duplicates: u64,
    /// Records rejected (each logged with its reason).
    pub rejected: u64,
    /// Bytes of blobs not read yet (behind the newest data).
    pub behind_bytes: u64,
}

/// Reads a storage account's diagnostic blobs into a [`Sink`].
#[derive(Debug)]
pub struct BlobConnector {
    service: BlobService,
    config: BlobConfig,
}

impl BlobConnector {
    /// A connector over `service`.
    pub fn new(service: BlobService, config: BlobConfig) -> BlobConnector {
        BlobConnector { service, config }
    }

    /// The source name of a blob (its positions' key).
    pub fn source(container: &str, blob: &str) -> String {
        format!("blob:{container}/{blob}")
    }

    fn containers(&self) -> Result<Vec<String>, ConnectError> {
        if self.config.containers.is_empty() {
            self.service.list_containers("insights-logs-")
        } else {
            Ok(self.config.containers.clone())
        }
    }

    /// Reads everything new once.
    pub fn poll(
        &self,
        sink: &dyn Sink,
        status: &ConnectorStatus,
    ) -> Result<PollReport, ConnectError> {
        let mut report = PollReport::default();
        // Every blob's position, read once per poll.
        let mut positions = sink.positions("blob:")?;
        for container in self.containers()? {
            let mut blobs = self.service.list_blobs(&container)?;
            // Oldest first: the tree's names sort by time within a resource.
            blobs.sort_by(|a, b| a.name.cmp(&b.name));
            report.blobs += blobs.len();
            for blob in blobs {
                self.read_blob(&container, &blob, sink, &mut positions, &mut report, status)?;
            }
        }
        Ok(report)
    }

    fn read_blob(
        &self,
        container: &str,
        blob: &BlobItem,
        sink: &dyn Sink,
        positions: &mut std::collections::HashMap<String, i64>,
        report: &mut PollReport,
        status: &ConnectorStatus,
    ) -> Result<(), ConnectError> {
        let source = Self::source(container, &blob.name);
        let mut position = positions.get(&source).copied().unwrap_or(0).max(0) as u64;
        if position > blob.length {
            // A blob rewritten shorter (deleted and written again): read it afresh; what it
            // holds that is already stored is skipped as duplicates.
            tracing::warn!(%source, position, length = blob.length, "a blob is shorter than the position read; reading it again");
            position = 0;
        }
        while position < blob.length {
            let to = blob.length.min(position + self.config.max_batch_bytes);
            let bytes = self
                .service
                .read_range(container, &blob.name, position, to)?;
            let settled = settled(&blob.last_modified, self.config.settle);
            let end = match bytes.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                // No newline in a whole batch: one line longer than the batch; take it all
                // (the readers reject it with its reason) rather than stall.
                None if to - position == self.config.max_batch_bytes => bytes.len(),
                None => 0,
            };
            let take = if to == blob.length && settled {
                bytes.len()
            } else {
                end
            };
            if take == 0 {
                // Only a line still being written: wait for its newline (or for the blob to
                // settle).
                report.behind_bytes += blob.length - position;
                return Ok(());
            }
            let next = position + take as u64;
            let stored = sink.store(Batch {
                source: source.clone(),
                position: next as i64,
                body: bytes::Bytes::from(bytes).slice(..take),
                display: format!("{container}/{}@{position}", blob.name),
            })?;
            stored.committed(&source, next as i64, status);
            positions.insert(source.clone(), next as i64);
            report.batches += 1;
            report.stored += stored.stored;
            report.duplicates += stored.duplicates;
            report.rejected += stored.rejected.len() as u64;
            position = next;
        }
        Ok(())
    }

    /// Polls until `stop` says so, reporting to `status`; errors (an unreachable account, a
    /// refused credential) are reported and retried with backoff, up to a minute apart.
    pub fn run(&self, sink: &dyn Sink, status: &ConnectorStatus, stop: &dyn Fn() -> bool) {
        crate::poll_until_stopped("blob", self.config.every, status, stop, || {
            self.poll(sink, status).map(|r| r.behind_bytes)
        });
    }
}

/// Whether a blob last changed at `last_modified` (RFC 1123) longer than `settle` ago.
fn settled(last_modified: &str, settle: Duration) -> bool {
    match chrono::DateTime::parse_from_rfc2822(last_modified) {
        Ok(t) => {
            let age = chrono::Utc::now().signed_duration_since(t);
            age.to_std().is_ok_and(|a| a >= settle)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_settles_after_its_quiet_time() {
        assert!(settled(
            "Mon, 01 Dec 2025 10:00:00 GMT",
            Duration::from_secs(300)
        ));
        let now = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert!(!settled(&now, Duration::from_secs(300)));
        assert!(settled(&now, Duration::ZERO));
        assert!(!settled("not a date", Duration::ZERO));
    }
}
