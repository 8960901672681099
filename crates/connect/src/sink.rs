//! Where connectors put what they read: a [`Sink`] stores a batch of records together with the
//! position its source reaches after them, in one commit, and remembers positions so that a
//! restarted connector resumes where the last commit left it.

use bytes::Bytes;
use gatehouse_formats::input::InputFile;
use gatehouse_ingest::{IngestSummary, Ingestor, InputsJob, SourcePosition};

use crate::ConnectError;

/// One batch of records from a source.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The source, as positions name it (`blob:insights-logs-signinlogs/…/PT1H.json`).
    pub source: String,
    /// Where the source is once these records are stored.
    pub position: i64,
    /// The records, in any shape the readers know (NDJSON, a Graph page, a diagnostic blob…).
    pub body: Bytes,
    /// A name for messages (a rejected record is reported as `display:line`).
    pub display: String,
}

/// What a sink did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Records stored.
    pub stored: u64,
    /// Records already stored (skipped).
    pub duplicates: u64,
    /// Records that could not be stored, with why (`display:line: reason`).
    pub rejected: Vec<String>,
}

impl From<&IngestSummary> for Stored {
    fn from(s: &IngestSummary) -> Stored {
        Stored {
            stored: s.total_stored(),
            duplicates: s.duplicates,
            rejected: s
                .rejected
                .iter()
                .map(|r| format!("{}:{}: {}", r.origin.file, r.origin.line, r.reason))
                .collect(),
        }
    }
}

impl Stored {
    /// Reports a committed batch: its rejections to the log, its counts and the source's new
    /// position to the connector's status.
    pub(crate) fn committed(&self, source: &str, position: i64, status: &crate::ConnectorStatus) {
        for r in &self.rejected {
            tracing::warn!(%source, rejected = %r, "a record was rejected");
        }
        status.batch_stored(source, position, self);
    }
}

/// A batch on its way into a sink: [`Storing::wait`] gives its outcome once it is committed.
pub struct Storing(Box<dyn FnOnce() -> Result<Stored, ConnectError> + Send>);

impl Storing {
    /// Waits until the batch and its position are durable (or failed).
    pub fn wait(self) -> Result<Stored, ConnectError> {
        (self.0)()
    }
}

impl std::fmt::Debug for Storing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storing")
    }
}

/// A store for connectors' batches.
pub trait Sink: Send + Sync {
    /// Stores a batch and its source's new position in one commit; returns once both are
    /// durable.
    fn store(&self, batch: Batch) -> Result<Stored, ConnectError>;

    /// Starts storing a batch without waiting for its commit, so that a connector reads on
    /// while earlier batches are committed. Batches submitted one after another are committed in
    /// that order: a later batch's position is never durable before an earlier batch's rows.
    /// (This default stores at once.)
    fn submit(&self, batch: Batch) -> Result<Storing, ConnectError> {
        let outcome = self.store(batch);
        Ok(Storing(Box::new(move || outcome)))
    }

    /// The position last committed for a source (`None`: never).
    fn position(&self, source: &str) -> Result<Option<i64>, ConnectError>;

    /// Every committed position of the sources whose names start with `prefix`, read at once
    /// (a connector with many sources looks them up here once per poll).
    fn positions(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashMap<String, i64>, ConnectError>;
}

/// A sink into an in-process [`Ingestor`] (the one of `gatehouse serve`, or one a standalone
/// `gatehouse connect` starts), storing every record under one tenant or the record's own.
pub struct IngestorSink<'a> {
    ingestor: &'a Ingestor,
    tenant: Option<String>,
}

impl<'a> IngestorSink<'a> {
    /// Batches go to `ingestor`; with `tenant`, every record is stored under it.
    pub fn new(ingestor: &'a Ingestor, tenant: Option<String>) -> IngestorSink<'a> {
        IngestorSink { ingestor, tenant }
    }

    /// Every source's committed position, as the store records them.
    fn all_positions(&self) -> Result<std::collections::BTreeMap<String, i64>, ConnectError> {
        self.ingestor
            .store()
            .positions()
            .map_err(|e| ConnectError::Store(e.to_string()))
    }

    /// The positions' application id of a source: per tenant, as pushes name theirs.
    fn app_id(&self, source: &str) -> String {
        format!("{}/{source}", self.tenant.as_deref().unwrap_or("*"))
    }
}

impl IngestorSink<'_> {
    /// The ingest job of a batch.
    fn job(&self, batch: Batch) -> InputsJob {
        InputsJob {
            inputs: vec![InputFile::memory(batch.display, batch.body)],
            format: None,
            tenant: self.tenant.clone(),
            exclusive: false,
            position: Some(SourcePosition {
                app_id: self.app_id(&batch.source),
                version: batch.position,
            }),
        }
    }
}

impl Sink for IngestorSink<'_> {
    fn store(&self, batch: Batch) -> Result<Stored, ConnectError> {
        self.submit(batch)?.wait()
    }

    /// The ingestor's pipeline reorders its workers' output back into submission order and
    /// records a job's position only in the commit that holds the last of its rows, with every
    /// earlier job's: the order [`Sink::submit`] promises.
    fn submit(&self, batch: Batch) -> Result<Storing, ConnectError> {
        let receiver = self
            .ingestor
            .submit_inputs(self.job(batch))
            .map_err(|e| ConnectError::Store(e.to_string()))?;
        Ok(Storing(Box::new(move || {
            receiver
                .recv()
                .map_err(|_| ConnectError::Store("the ingest pipeline stopped".into()))?
                .map(|summary| Stored::from(&summary))
                .map_err(ConnectError::Store)
        })))
    }

    fn position(&self, source: &str) -> Result<Option<i64>, ConnectError> {
        Ok(self.all_positions()?.get(&self.app_id(source)).copied())
    }

    fn positions(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashMap<String, i64>, ConnectError> {
        let all = self.all_positions()?;
        let mine = self.app_id(prefix);
        let strip = mine.len() - prefix.len();
        Ok(all
            .into_iter()
            .filter(|(k, _)| k.starts_with(&mine))
            .map(|(k, v)| (k[strip..].to_string(), v))
            .collect())
    }
}
