//! The [`Ingestor`]: the ingest pipeline as a long-running service of one process.
//!
//! It owns the data directory's one [`StoreWriter`] on a thread of its own, and runs
//! [`crate::run`] there for as long as it lives: any source (files, pushed bodies, later the
//! connectors) submits [`IngestJob`]s, every accepted row is committed within
//! [`IngestOptions::commit_interval`] (one second by default), a job is acknowledged only once
//! its rows are committed, and maintenance (compaction, retention, vacuum) runs on the same
//! thread between commits, so there is only ever one writer. (The merging of small files after
//! commits reads and writes Parquet on a thread of its own, `ingest-compact`; its result is
//! committed here.) Readers take the latest committed [`StoreSnapshot`] from
//! [`Ingestor::snapshot`] at any time without waiting for it.

use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use gatehouse_formats::input::{ByteCounter, InputFile};
use gatehouse_formats::read::ReadOptions;
use gatehouse_formats::InputFormat;
use gatehouse_store::{Store, StoreSnapshot, TableConfig};

use crate::pipeline::{file_source, run, IngestJob, Maintenance, PipelineEvents, SourcePosition};
use crate::{IngestError, IngestOptions, IngestSummary, Result};

/// Jobs waiting for the pipeline: a full queue makes [`Ingestor::submit`] wait (backpressure for
/// pushers) rather than hold unbounded bodies in memory.
const QUEUE: usize = 16;

/// What an [`Ingestor`] reports as it works (for metrics).
pub trait IngestObserver: Send + Sync {
    /// A commit made a new snapshot live; `latency` is how long the commit took.
    fn committed(&self, _snapshot: &StoreSnapshot, _latency: Duration) {}
    /// A job was acknowledged (or failed): its summary.
    fn job_ended(&self, _summary: &IngestSummary) {}
}

/// Observes nothing.
pub struct NoObserver;
impl IngestObserver for NoObserver {}

/// Inputs to ingest as one job (see [`IngestJob`] for what each field does).
#[derive(Debug, Clone, Default)]
pub struct InputsJob {
    /// Files, or bytes in memory ([`InputFile::memory`]).
    pub inputs: Vec<InputFile>,
    /// Force an input format instead of detecting it.
    pub format: Option<InputFormat>,
    /// Store every record under this tenant.
    pub tenant: Option<String>,
    /// With `tenant`: reject records whose envelope names another tenant.
    pub exclusive: bool,
    /// Where this job brings its source.
    pub position: Option<SourcePosition>,
}

/// A job's outcome, once its rows are committed.
pub type Outcome = std::result::Result<IngestSummary, String>;

/// The ingest pipeline running in the background of a process (see the module comment).
pub struct Ingestor {
    store: Store,
    jobs: Option<Sender<IngestJob<'static>>>,
    control: Option<Sender<Maintenance>>,
    snapshot: Arc<RwLock<Arc<StoreSnapshot>>>,
    thread: Option<JoinHandle<Result<()>>>,
    options: IngestOptions,
}

impl Ingestor {
    /// Takes the store's writer lock and starts the pipeline (`options.commit_interval` should be
    /// set: without it rows wait for their files to fill up).
    pub fn start(
        store: &Store,
        options: IngestOptions,
        tables: TableConfig,
        observer: Arc<dyn IngestObserver>,
    ) -> Result<Ingestor> {
        let mut writer = store.writer_with(tables)?;
        let snapshot = Arc::new(RwLock::new(Arc::clone(writer.snapshot())));
        let (jobs_tx, jobs_rx) = bounded::<IngestJob<'static>>(QUEUE);
        let (control_tx, control_rx) = unbounded::<Maintenance>();
        let published = Arc::clone(&snapshot);
        let opts = options.clone();
        let thread = std::thread::Builder::new()
            .name("ingestor".into())
            .spawn(move || {
                let mut events = Publish {
                    snapshot: published,
                    observer,
                };
                let result = run(
                    &mut writer,
                    jobs_rx,
                    control_rx,
                    &opts,
                    &mut |_| {},
                    &mut events,
                    None,
                );
                if let Err(e) = &result {
                    tracing::error!(error = %e, "the ingest pipeline stopped");
                }
                result
            })
            .map_err(|e| IngestError::Invalid(format!("cannot start the ingestor: {e}")))?;
        Ok(Ingestor {
            store: store.clone(),
            jobs: Some(jobs_tx),
            control: Some(control_tx),
            snapshot,
            thread: Some(thread),
            options,
        })
    }

    /// Whether the pipeline still runs (it stops for good at an error it cannot get past, such
    /// as a commit failing: what it had accepted and not committed is then not acknowledged).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The store it writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The latest committed state of every table.
    pub fn snapshot(&self) -> Arc<StoreSnapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Queues a job (waiting while the queue is full); `done` is told the outcome once its rows
    /// are committed. Fails when the pipeline has stopped.
    pub fn submit(&self, job: IngestJob<'static>) -> Result<()> {
        let stopped = || IngestError::Invalid("the ingest pipeline has stopped".into());
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }

    /// Queues the ingest of `inputs` (files, or bytes in memory) and waits for its outcome.
    pub fn ingest(&self, request: InputsJob) -> Result<Outcome> {
        let receiver = self.submit_inputs(request)?;
        receiver
            .recv()
            .map_err(|_| IngestError::Invalid("the ingest pipeline stopped".into()))
    }

    /// Queues the ingest of some inputs; the receiver gets the outcome once the rows are
    /// committed.
    pub fn submit_inputs(&self, request: InputsJob) -> Result<Receiver<Outcome>> {
        let InputsJob {
            inputs,
            format,
            tenant,
            exclusive,
            position,
        } = request;
        if let Some(t) = &tenant {
            gatehouse_store::layout::check_tenant_id(t).map_err(IngestError::Invalid)?;
        }
        let count = inputs.len();
        let counter = ByteCounter::default();
        let read_counter = counter.clone();
        let source = file_source(
            inputs,
            ReadOptions {
                format,
                ..self.options.read_options()
            },
            read_counter,
        );
        let (tx, rx) = bounded(1);
        self.submit(IngestJob {
            source,
            tenant,
            exclusive,
            position,
            done: Box::new(move |outcome| {
                let _ = tx.send(outcome.map(|mut s| {
                    s.inputs = count;
                    s.bytes_read = counter.get();
                    s
                }));
            }),
        })?;
        Ok(rx)
    }

    /// Runs maintenance on the writer thread, between commits.
    pub fn maintain(&self, task: Maintenance) -> Result<()> {
        self.control
            .as_ref()
            .ok_or_else(|| IngestError::Invalid("the ingest pipeline has stopped".into()))?
            .send(task)
            .map_err(|_| IngestError::Invalid("the ingest pipeline has stopped".into()))
    }

    /// Stops taking jobs, commits and acknowledges the ones queued, and waits for the pipeline to
    /// end.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        self.jobs = None;
        self.control = None;
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| IngestError::Invalid("the ingestor thread panicked".into()))?,
            None => Ok(()),
        }
    }
}

impl Drop for Ingestor {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Publishes each new snapshot and tells the observer.
struct Publish {
    snapshot: Arc<RwLock<Arc<StoreSnapshot>>>,
    observer: Arc<dyn IngestObserver>,
}

impl PipelineEvents for Publish {
    fn committed(&mut self, snapshot: &Arc<StoreSnapshot>, latency: Duration) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(snapshot);
        self.observer.committed(snapshot, latency);
    }

    fn job_ended(&mut self, summary: &IngestSummary) {
        self.observer.job_ended(summary);
    }
}
