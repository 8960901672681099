//! The ingest pipeline: input files → parsed, normalised, typed rows → deduplicated → Parquet →
//! committed.
//!
//! ```text
//! reader thread ──raw chunks──▶ N worker threads ──typed batches──▶ this thread ──▶ writer thread ──▶ closing thread
//! (open, gunzip, split;         (cut a mapped window's            (reorder, line     (one open file per  (finish closed
//!  map windows of plain files)   lines, parse JSON, normalise,     numbers, dedup,    partition: encode,  files: last rows,
//!                                convert to Arrow, partition)      commit)            compress Parquet,   footer, fsync;
//!                                                                                     columns in parallel) in order)
//! ```
//! Workers send each raw record down one of three paths: the direct path
//! ([`TableBuilder::append_direct`], one pass over the text; in a mapped window,
//! [`TableBuilder::append_direct_line`], which finds the line's end as it reads, so the line is
//! never cut in a pass of its own) for bare Graph records of the previous record's partition,
//! and ([`TableBuilder::append_diagnostic_direct`]) for Azure Monitor diagnostic records (blob
//! lines, and each element of an Event Hub message's `{"records": [...]}`) of the previous
//! diagnostic record's partition, their `properties` rewritten on the way as the general path
//! rewrites them; the fast path (a tape of the JSON, [`gatehouse_formats::fast`] recognition,
//! [`TableBuilder::append_tape`]) for the other records already in the Graph shape,
//! and the general path (serde_json values, shape, normalise, [`TableBuilder::append`]) for
//! everything else. All three store the same rows.
//!
//! Memory stays bounded whatever the input size: the channels carrying rows are bounded, and the
//! writer thread streams accepted rows into one open file per partition ([`open_files`]),
//! encoding them a group of rows at a time. A file is closed once it holds
//! [`IngestOptions::file_rows`] rows, or, when the open files together hold
//! [`IngestOptions::max_buffered_bytes`] or number [`IngestOptions::max_open_files`], the
//! partitions that went longest without new rows are closed first. Every closed file is committed, and only
//! committed rows are counted as stored. A commit that falls due (the commit interval of a
//! running service) is sent as a flush and this thread goes on taking batches; the jobs it
//! covers are acknowledged when the writer's answer is committed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{bounded, unbounded};
use gatehouse_formats::fast;
use gatehouse_formats::input::{ByteCounter, InputFile};
use gatehouse_formats::read::{parse_item, read_input, Batch, ReadOptions};
use gatehouse_formats::split::{LineBase, LineNumbers};
use gatehouse_formats::tape::{NodeKind, Tape};
use gatehouse_formats::{InputFormat, Origin, Record, Rejection};
use gatehouse_model::{LogKind, SignInKind, TableSchema};
use serde_json::Value;

use crate::convert::{DirectRow, SystemFields, TableBuilder};
use crate::dedup::{row_keys, IdIndex};
use gatehouse_store::layout::{check_tenant_id, day_of, PartitionKey, DEFAULT_TENANT};
use gatehouse_store::{maintenance, StoreWriter, TableChange};

use crate::{IngestError, Result};

mod open_files;
use open_files::{OpenFiles, ToWriter, WriteDone};

/// How an ingest run behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Put every record under this tenant (otherwise the record's own tenant id, else `default`).
    pub tenant: Option<String>,
    /// Force an input format instead of detecting it.
    pub format: Option<InputFormat>,
    /// Worker threads parsing and converting (default: available cores).
    pub threads: usize,
    /// Rows after which a partition's open file is closed (and committed).
    pub file_rows: usize,
    /// When the open files together hold this much memory (rows waiting to be encoded, encoded
    /// pages of their open row groups, and the rows of partitions gathered for sorting), the
    /// ones that went longest without new rows are closed until half of it is left (default
    /// 256 MiB: a partition of sign-ins has a file open per sign-in type).
    pub max_buffered_bytes: usize,
    /// At most this many partitions have a file open at once (each holds a file descriptor and
    /// a row group being encoded): a row for another partition first closes the one that went
    /// longest without new rows (default 128, well under the usual limit of 1,024 descriptors).
    pub max_open_files: usize,
    /// Compact partitions that accumulated many small files when the run ends.
    pub compact: bool,
    /// Read uncompressed NDJSON files in place through memory maps instead of copying them into
    /// buffers (see [`gatehouse_formats::mapped`]; a mapped file must not shrink meanwhile).
    pub map_files: bool,
    /// Bytes of input per batch ([`gatehouse_formats::read::CHUNK_BYTES`]).
    pub chunk_bytes: usize,
    /// Let records in the Graph shape skip the general path (the direct and fast paths; all
    /// store the same rows, so this is only turned off to compare them).
    pub fast_path: bool,
    /// Commit every accepted row at most this long after it is accepted (closing every open file
    /// then), as a running service does; `None` commits files as they close and at the end of
    /// the input, as a batch run does.
    pub commit_interval: Option<Duration>,
    /// Rows the dedup index keeps in memory ([`IdIndex::with_max_rows`]).
    pub index_rows: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            tenant: None,
            format: None,
            threads: thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            file_rows: 256 * 1024,
            max_buffered_bytes: 256 << 20,
            max_open_files: 128,
            compact: true,
            map_files: true,
            chunk_bytes: gatehouse_formats::read::CHUNK_BYTES,
            fast_path: true,
            commit_interval: None,
            index_rows: crate::DEFAULT_INDEX_ROWS,
        }
    }
}

impl IngestOptions {
    /// How input files are read.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            format: self.format,
            map_files: self.map_files,
            chunk_bytes: self.chunk_bytes,
        }
    }
}

/// What an ingest run did.
#[derive(Debug, Clone, Default)]
pub struct IngestSummary {
    /// Rows stored per table.
    pub stored: BTreeMap<LogKind, u64>,
    /// Sign-ins stored per sign-in type.
    pub signins_by_kind: BTreeMap<SignInKind, u64>,
    /// Records skipped because a record with the same id and content was already stored (or seen
    /// earlier in this run).
    pub duplicates: u64,
    /// Records stored under an id derived from their content, as they came without one.
    pub derived_ids: u64,
    /// Records that could not be stored, with where and why.
    pub rejected: Vec<Rejection>,
    /// Inputs read.
    pub inputs: usize,
    /// Bytes read from disk (compressed size for gzip inputs).
    pub bytes_read: u64,
}

impl IngestSummary {
    /// Total rows stored.
    pub fn total_stored(&self) -> u64 {
        self.stored.values().sum()
    }
}

/// Progress reports, sent from the ingesting thread.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Work is starting; `total_bytes` is the size of all inputs on disk (0 when unknown).
    Started {
        /// Sum of input sizes.
        total_bytes: u64,
    },
    /// More input was processed.
    Advanced {
        /// Bytes read so far.
        bytes_read: u64,
        /// Records seen so far (stored, duplicate or rejected).
        records: u64,
    },
    /// A commit made rows visible.
    Committed {
        /// Rows stored by this run so far (all committed).
        stored: u64,
        /// The store's generation now live ([`crate::StoreSnapshot::generation`]).
        generation: i64,
    },
}

/// A worker's output for one input batch.
struct Converted {
    parts: Vec<PartOut>,
    rejected: Vec<Rejection>,
    records: u64,
    /// How the rejections' lines count (relative ones are made the input's by the committing
    /// thread, which takes batches in order).
    numbers: LineNumbers,
}

struct PartOut {
    key: PartitionKey,
    batch: RecordBatch,
    /// Each row's [`row_keys`]: equal for duplicates (same id, same content).
    keys: Vec<u128>,
    /// The sign-in type of every row (the first of its `signInEventTypes`; `None` for other
    /// logs).
    kind: Option<SignInKind>,
}

/// Produces input batches in order, calling `emit` (its first argument) for each; returns
/// whole-input failures. Its second argument gives a buffer to read the next chunk into: one a
/// worker is done with when there is one (its pages are in memory already), else a new one.
pub type Source<'a> = Box<
    dyn FnOnce(&mut dyn FnMut(Batch), &mut dyn FnMut() -> Vec<u8>) -> Vec<Rejection> + Send + 'a,
>;

/// Where an ingest source has got to: an application id (`txn` app id in the Delta log) and a
/// position in it that only grows (a byte offset, a sequence number, a Kafka offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    /// Names the source (`watch:landing/PT1H.json`, `kafka:hub/3`, a pusher's own name).
    pub app_id: String,
    /// The position the job's rows bring the source to.
    pub version: i64,
}

/// Called once with a job's outcome: its summary once every row it stored is committed (and its
/// position with them), or why the pipeline failed.
pub type JobDone = Box<dyn FnOnce(std::result::Result<IngestSummary, String>) + Send>;

/// One unit of work for a running pipeline: its records are read in order, and acknowledged
/// together once all of them are committed.
pub struct IngestJob<'a> {
    /// Reads the records.
    pub source: Source<'a>,
    /// Put every record under this tenant (else the options' tenant, else the record's own).
    pub tenant: Option<String>,
    /// With `tenant`: reject a record whose envelope (diagnostic `tenantId`, Log Analytics
    /// `TenantId` / `AADTenantId`) names another tenant, instead of storing it under `tenant` (a
    /// token that ingests for one tenant must not take another tenant's logs).
    pub exclusive: bool,
    /// Where this job brings its source, committed with its rows.
    pub position: Option<SourcePosition>,
    /// Told the outcome.
    pub done: JobDone,
}

/// Maintenance run by the pipeline's committing thread, between commits.
pub enum Maintenance {
    /// Merge small files of every partition.
    Compact(Box<dyn FnOnce(Result<maintenance::CompactionReport>) + Send>),
    /// Remove the days before the day of `cutoff_ns` from these logs.
    Retention {
        /// Logs.
        logs: Vec<LogKind>,
        /// ns since the epoch.
        cutoff_ns: i64,
        /// Told the outcome.
        done: Box<dyn FnOnce(Result<maintenance::RetentionReport>) + Send>,
    },
    /// Delete files no snapshot younger than `grace` needs.
    Vacuum {
        /// The grace period.
        grace: Duration,
        /// Told how many files were deleted.
        done: Box<dyn FnOnce(Result<usize>) + Send>,
    },
}

/// What a running pipeline reports besides jobs' outcomes.
pub trait PipelineEvents: Send {
    /// A commit made a new snapshot live.
    fn committed(&mut self, _snapshot: &Arc<gatehouse_store::StoreSnapshot>, _latency: Duration) {}
    /// A job ended (acknowledged, or failed).
    fn job_ended(&mut self, _summary: &IngestSummary) {}
}

/// No events.
pub struct NoEvents;
impl PipelineEvents for NoEvents {}

/// Ingests `inputs` (files, directories, standard input) into the store, committing as it goes.
pub fn ingest(
    writer: &mut StoreWriter,
    inputs: &[InputFile],
    opts: &IngestOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<IngestSummary> {
    let counter = ByteCounter::default();
    let total_bytes = inputs.iter().map(|i| i.size).sum();
    let source = file_source(inputs.to_vec(), opts.read_options(), counter.clone());
    let mut summary = ingest_source(writer, source, total_bytes, &counter, opts, progress)?;
    summary.inputs = inputs.len();
    Ok(summary)
}

/// A [`Source`] reading these files in order (whole-input failures become rejections at line 0).
pub fn file_source(
    inputs: Vec<InputFile>,
    read: ReadOptions,
    counter: ByteCounter,
) -> Source<'static> {
    Box::new(move |emit, spare| {
        let mut failures = Vec::new();
        for input in &inputs {
            if let Err(e) = read_input(input, read, &counter, spare, emit) {
                failures.push(Rejection {
                    origin: Origin {
                        file: input.display.clone(),
                        line: 0,
                    },
                    reason: e.to_string(),
                });
            }
        }
        failures
    })
}

/// Ingests whatever `source` produces (files, or records made in memory by the simulator).
/// `counter` reports the bytes the source has consumed, out of `total_bytes` (0 if unknown).
pub fn ingest_source(
    writer: &mut StoreWriter,
    source: Source<'_>,
    total_bytes: u64,
    counter: &ByteCounter,
    opts: &IngestOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<IngestSummary> {
    if let Some(t) = &opts.tenant {
        check_tenant_id(t).map_err(IngestError::Invalid)?;
    }
    progress(Progress::Started { total_bytes });
    let outcome: Arc<std::sync::Mutex<Option<std::result::Result<IngestSummary, String>>>> =
        Arc::default();
    let slot = Arc::clone(&outcome);
    let (jobs_tx, jobs_rx) = bounded::<IngestJob<'_>>(1);
    let _ = jobs_tx.send(IngestJob {
        source,
        tenant: None,
        exclusive: false,
        position: None,
        done: Box::new(move |r| *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(r)),
    });
    drop(jobs_tx);
    let (_control_tx, control_rx) = unbounded::<Maintenance>();
    run(
        writer,
        jobs_rx,
        control_rx,
        opts,
        progress,
        &mut NoEvents,
        Some(counter),
    )?;
    let result = outcome
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_else(|| Err("the ingest ended without a result".into()));
    let mut summary = result.map_err(IngestError::Invalid)?;
    summary.bytes_read = counter.get();
    Ok(summary)
}

/// What flows from the reader thread to the workers, and on to the committing thread.
enum Item {
    /// A batch of a job's input.
    Batch(Arc<JobContext>, Batch),
    /// A job's input ended (with its whole-input failures).
    End(Arc<JobContext>, Vec<Rejection>),
}

enum Out {
    Converted(Arc<JobContext>, Converted),
    End(Arc<JobContext>, Vec<Rejection>),
}

/// What the workers need to know about a job.
struct JobContext {
    id: u64,
    tenant: Option<String>,
    exclusive: bool,
}

/// Runs the pipeline until `jobs` is closed and drained: every job's records are converted,
/// deduplicated, written and committed, and the job told its outcome. With
/// [`IngestOptions::commit_interval`] every accepted row is committed within that long (a
/// running service); without, files are committed as they close and at the end (a batch run).
/// `control` carries maintenance to run between commits.
pub fn run<'a>(
    writer: &mut StoreWriter,
    jobs: crossbeam_channel::Receiver<IngestJob<'a>>,
    control: crossbeam_channel::Receiver<Maintenance>,
    opts: &IngestOptions,
    progress: &mut dyn FnMut(Progress),
    events: &mut dyn PipelineEvents,
    counter: Option<&ByteCounter>,
) -> Result<()> {
    let threads = opts.threads.max(1);
    // One chunk waiting per worker: chunks are large (`CHUNK_BYTES`), and a mapped one is
    // resident memory until a worker is done with it.
    let (raw_tx, raw_rx) = bounded::<(u64, Item)>(threads);
    // Chunk buffers the workers are done with, back to the reader (when it is full, a buffer
    // is freed instead).
    let (spare_tx, spare_rx) = bounded::<Vec<u8>>(threads * 2 + 2);
    let (out_tx, out_rx) = bounded::<(u64, Out)>(threads * 2);
    let format = opts.format;
    let fast_path = opts.fast_path;
    let default_tenant = opts.tenant.clone();
    // Jobs wait here, by id, for their outcome (the source went to the reader thread).
    let pending_jobs: Arc<std::sync::Mutex<HashMap<u64, JobState>>> = Arc::default();

    thread::scope(|scope| -> Result<()> {
        let named = |name: &str| thread::Builder::new().name(name.to_string());
        let spawn_failed =
            |e: std::io::Error| IngestError::Invalid(format!("cannot start a thread: {e}"));
        let registry = Arc::clone(&pending_jobs);
        // Dropped when the committing thread is done (or failed): the reader then takes no more
        // jobs, and the jobs still queued are dropped, which tells their callers.
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let reader = named("ingest-read")
            .spawn_scoped(scope, move || {
                let mut seq = 0u64;
                let stopped = std::sync::atomic::AtomicBool::new(false);
                let mut send = |item: Item| {
                    // A closed channel means the consumer stopped: the rest of the job is read
                    // for nothing, and no further job is taken.
                    if raw_tx.send((seq, item)).is_err() {
                        stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    seq += 1;
                };
                for id in 0u64.. {
                    let job = crossbeam_channel::select! {
                        recv(jobs) -> job => match job {
                            Ok(job) => job,
                            Err(_) => break,
                        },
                        recv(stop_rx) -> _ => break,
                    };
                    let context = Arc::new(JobContext {
                        id,
                        exclusive: job.exclusive && job.tenant.is_some(),
                        tenant: job.tenant.clone().or_else(|| default_tenant.clone()),
                    });
                    registry
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, JobState::new(job.position, job.done));
                    let failures = (job.source)(
                        &mut |batch| send(Item::Batch(Arc::clone(&context), batch)),
                        &mut || spare_rx.try_recv().unwrap_or_default(),
                    );
                    send(Item::End(context, failures));
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                }
            })
            .map_err(spawn_failed)?;
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let raw_rx = raw_rx.clone();
            let out_tx = out_tx.clone();
            let spare_tx = spare_tx.clone();
            let worker = named("ingest-parse")
                .spawn_scoped(scope, move || {
                    let mut state = WorkerState::default();
                    let ingested_at_ns = || chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
                    for (seq, item) in raw_rx {
                        let out = match item {
                            Item::Batch(job, batch) => {
                                let file = batch_file(&batch);
                                // A bug met by one batch rejects that batch, not the pipeline
                                // (whose other jobs would wait forever for its place in line).
                                let converted =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        convert_batch(
                                            batch,
                                            format,
                                            job.tenant.as_deref(),
                                            job.exclusive,
                                            ingested_at_ns(),
                                            fast_path,
                                            &mut state,
                                            &spare_tx,
                                        )
                                    }))
                                    .unwrap_or_else(
                                        |panic| {
                                            state = WorkerState::default();
                                            internal_error(file, panic)
                                        },
                                    );
                                Out::Converted(job, converted)
                            }
                            Item::End(job, failures) => Out::End(job, failures),
                        };
                        if out_tx.send((seq, out)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(spawn_failed)?;
            workers.push(worker);
        }
        drop(raw_rx);
        drop(out_tx);

        // Parquet encoding and compression run on their own thread, so parsing never waits for
        // it: accepted rows stream into one open file per partition (`open_files`).
        // `done` is unbounded: the committing thread drains it only between batches, while it
        // may be blocked sending a batch's partitions to `rows`; were the writer thread able to
        // block on `done`, several files closing during one batch would deadlock the two.
        // Its messages are a few file entries each, one per closed file at most.
        let (rows_tx, rows_rx) = bounded::<ToWriter>(4);
        let (done_tx, done_rx) = unbounded::<Result<WriteDone>>();
        let files = OpenFiles::new(
            writer.store().root().to_path_buf(),
            opts.file_rows,
            opts.max_buffered_bytes,
            opts.max_open_files,
        )
        .in_arrival_order(opts.commit_interval.is_some());
        named("ingest-write")
            .spawn_scoped(scope, move || files.run(rows_rx, done_tx))
            .map_err(spawn_failed)?;
        // A running service compacts after its commits; the merging (reading the small files,
        // writing the merged one) runs on a thread of its own, so the committing thread goes on
        // taking rows meanwhile, and commits each merge when it is done.
        let merges = if opts.commit_interval.is_some() && opts.compact {
            let (plans_tx, plans_rx) = unbounded::<maintenance::CompactionPlan>();
            let (merged_tx, merged_rx) = unbounded::<Merged>();
            let root = writer.store().root().to_path_buf();
            named("ingest-compact")
                .spawn_scoped(scope, move || merge_plans(&root, plans_rx, merged_tx))
                .map_err(spawn_failed)?;
            Some(Merges {
                plans: Some(plans_tx),
                merged: merged_rx,
                under_way: HashSet::new(),
            })
        } else {
            None
        };
        let mut state = Consumer::new(writer, rows_tx, done_rx, merges, opts, pending_jobs);
        let result = state.run(out_rx, control, progress, events, counter);
        // Jobs under way are told at once (their callers must not wait for the joins), the
        // reader takes no more, and any it registered meanwhile are told after the joins.
        drop(stop_tx);
        if let Err(e) = &result {
            state.fail_all(&e.to_string());
        }
        // A thread that panicked lost input: that is an error, never a quiet partial ingest.
        let stopped = || IngestError::Invalid("an ingest thread stopped unexpectedly".into());
        let reader_ok = reader.join().is_ok();
        let workers_ok = workers.into_iter().all(|w| w.join().is_ok());
        let result = result.and_then(|()| {
            if reader_ok && workers_ok {
                Ok(())
            } else {
                Err(stopped())
            }
        });
        if let Err(e) = &result {
            state.fail_all(&e.to_string());
        }
        result
    })
}

/// The input a batch comes from.
fn batch_file(batch: &Batch) -> Arc<str> {
    match batch {
        Batch::Failed(r) => r.origin.file.clone(),
        Batch::Parsed { file, .. } | Batch::Raw { file, .. } => file.clone(),
    }
}

/// A batch whose conversion panicked: one rejection saying so (a bug, reported as one).
fn internal_error(file: Arc<str>, panic: Box<dyn std::any::Any + Send>) -> Converted {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(file = %file, panic = %what, "converting a batch panicked");
    Converted {
        parts: Vec::new(),
        rejected: vec![Rejection {
            origin: Origin { file, line: 0 },
            reason: format!("internal error converting this part of the input (a bug: {what}); its records were not stored"),
        }],
        records: 0,
        // The lines of the batch are not known: the rest of its input's line numbers may be
        // off by them (a bug's rejection names no line anyway).
        numbers: LineNumbers::Absolute,
    }
}

/// A batch builder's partition and sign-in type (every row it holds is of that type).
type BuilderKey = (PartitionKey, Option<SignInKind>);

/// How much of a batch was converted at some point: records seen, rejections, and each
/// builder's rows.
struct Mark {
    records: u64,
    rejected: usize,
    rows: Vec<(BuilderKey, usize)>,
}

/// A worker's reusable state: table builders and the fast path's tape.
#[derive(Default)]
struct WorkerState {
    pool: BuilderPool,
    tape: Tape,
}

/// Table builders kept from batch to batch, so that their buffers start each batch with the
/// room the last one needed instead of growing from nothing.
#[derive(Default)]
struct BuilderPool {
    /// Spare builders by log and sign-in type: a builder keeps the capacity its last batch
    /// needed, and one type's batches are alike in size (a day's non-interactive sign-ins
    /// outnumber its interactive ones tenfold), so a builder sized for another type would grow,
    /// copying every column.
    spare: HashMap<(LogKind, Option<SignInKind>), Vec<TableBuilder>>,
}

impl BuilderPool {
    /// An empty builder for `log`'s table, last used for rows of sign-in type `kind`.
    fn take(&mut self, log: LogKind, kind: Option<SignInKind>) -> TableBuilder {
        self.spare
            .get_mut(&(log, kind))
            .and_then(Vec::pop)
            .unwrap_or_else(|| TableBuilder::new(&TableSchema::of(log)))
    }

    /// Keeps a builder (emptied by `finish`) for a later batch of `log` and `kind`.
    fn give_back(&mut self, log: LogKind, kind: Option<SignInKind>, builder: TableBuilder) {
        debug_assert!(builder.is_empty());
        self.spare.entry((log, kind)).or_default().push(builder);
    }
}

/// What one batch's records are being converted into.
struct BatchOut<'a> {
    file: Arc<str>,
    tenant: Option<&'a str>,
    /// Reject records whose envelope names a tenant other than `tenant`.
    exclusive: bool,
    ingested_at_ns: i64,
    /// One builder per partition and sign-in type (`signInEventTypes`' first; `None` for other
    /// logs), so a partition's sign-ins leave the workers in batches of one type each, which the
    /// store files without copying them ([`gatehouse_store::writer::PartitionFile`]).
    builders: HashMap<BuilderKey, TableBuilder>,
    /// The builder of the last record the fast path stored: the direct path's guess for the
    /// next one.
    last_fast: Option<BuilderKey>,
    /// The builder of the last diagnostic sign-in or audit the general path stored: the direct
    /// path's guess for the next diagnostic record (those of one blob or message are of one
    /// category, tenant and mostly one day).
    last_diagnostic: Option<BuilderKey>,
    out: Converted,
}

impl<'a> BatchOut<'a> {
    fn new(file: Arc<str>, tenant: Option<&'a str>, exclusive: bool, ingested_at_ns: i64) -> Self {
        BatchOut {
            file,
            tenant,
            exclusive,
            ingested_at_ns,
            builders: HashMap::new(),
            last_fast: None,
            last_diagnostic: None,
            out: Converted {
                parts: Vec::new(),
                rejected: Vec::new(),
                records: 0,
                numbers: LineNumbers::Absolute,
            },
        }
    }

    fn reject(&mut self, line: u64, reason: String) {
        self.out.rejected.push(Rejection {
            origin: Origin {
                file: self.file.clone(),
                line,
            },
            reason,
        });
    }

    /// The builder of a partition's rows in this batch.
    fn builder_for(&mut self, pool: &mut BuilderPool, key: BuilderKey) -> &mut TableBuilder {
        let (log, kind) = (key.0.log, key.1);
        self.builders
            .entry(key)
            .or_insert_with(|| pool.take(log, kind))
    }

    /// Stores a record that went through the general path.
    fn record(
        &mut self,
        pool: &mut BuilderPool,
        line: u64,
        rec: std::result::Result<Record, String>,
    ) {
        self.out.records += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(reason) => return self.reject(line, reason),
        };
        if let Some((owner, only)) = foreign_owner(self.exclusive, self.tenant, owner_tenant(&rec))
        {
            return self.reject(
                line,
                format!(
                    "the record names tenant {owner} (its envelope's tenant id), but this \
                     ingest is for tenant {only} only"
                ),
            );
        }
        let key = match place(&rec, self.tenant) {
            Ok(key) => key,
            Err(reason) => return self.reject(line, reason),
        };
        // The partition already resolved the tenant; reuse it rather than resolving again.
        let tenant_id = key.tenant.clone();
        let ingested_at_ns = self.ingested_at_ns;
        let kind = signin_kind(&rec);
        // The next diagnostic records may take the direct path into this builder.
        let guess = (matches!(rec.log, LogKind::SignIns | LogKind::Audits)
            && rec.source.starts_with("diagnostic:"))
        .then(|| (key.clone(), kind));
        let builder = self.builder_for(pool, (key, kind));
        let sys = SystemFields {
            tenant_id: &tenant_id,
            ingested_at_ns,
            source: &rec.source,
            envelope: rec.envelope.as_ref(),
        };
        match builder.append(&rec.body, rec.log.time_column(), &sys) {
            Ok(_) => {
                if guess.is_some() {
                    self.last_diagnostic = guess;
                }
            }
            Err(reason) => self.reject(line, reason),
        }
    }

    /// Stores a diagnostic record straight from its text
    /// ([`TableBuilder::append_diagnostic_direct`]) into the partition the previous diagnostic
    /// record went to, if it belongs there; `None` (nothing stored) otherwise. The record is the
    /// one on the first line of `text` (`line`: whether the text may end the line), or the
    /// object at its start, an element of an array `depth` containers deep (`line` `None`).
    /// Returns the bytes the record took.
    fn diagnostic_direct(
        &mut self,
        tape: &mut Tape,
        text: &[u8],
        line: Option<bool>,
        depth: usize,
    ) -> Option<usize> {
        let guess = self.last_diagnostic.as_ref()?;
        let (key, kind) = guess;
        let builder = self.builders.get_mut(guess)?;
        let (forced, exclusive) = (self.tenant, self.exclusive);
        let same_partition = |row: &DirectRow<'_>| {
            in_partition(row, key, *kind, forced)
                && foreign_owner(exclusive, forced, row.owner_tenant).is_none()
        };
        let row = builder
            .append_diagnostic_direct(
                text,
                line,
                depth,
                tape,
                &key.tenant,
                self.ingested_at_ns,
                same_partition,
            )
            .ok()?;
        self.out.records += 1;
        Some(row.len)
    }

    /// Stores an Event Hub message (`{"records":[…]}`, nothing else in it) exactly as the
    /// general path stores it whole: each element through the direct path when it can
    /// ([`BatchOut::diagnostic_direct`]), through the general path otherwise. `false`, nothing
    /// stored, when the general path must take the message whole (it is something else, or
    /// not valid JSON: what was stored of it is taken back).
    fn diagnostic_message(
        &mut self,
        state: &mut WorkerState,
        bytes: &[u8],
        line: u64,
        format: Option<InputFormat>,
    ) -> bool {
        use gatehouse_formats::tape::skip_ws;
        let mut i = skip_ws(bytes, 0);
        for token in [&b"{"[..], b"\"records\"", b":", b"["] {
            if !bytes[i..].starts_with(token) {
                return false;
            }
            i = skip_ws(bytes, i + token.len());
        }
        let mark = self.mark();
        let mut general = Vec::new();
        if bytes.get(i) == Some(&b']') {
            i += 1;
        } else {
            loop {
                // The message's object and its array hold each element.
                let start = i;
                if let Some(len) = self.diagnostic_direct(&mut state.tape, &bytes[start..], None, 2)
                {
                    i = start + len;
                } else {
                    let tape = &mut state.tape;
                    let Ok(len) = tape.parse_value(&bytes[start..], 0, 2) else {
                        return self.undo(mark);
                    };
                    let element = &bytes[start..start + len];
                    let Ok(text) = simdutf8::basic::from_utf8(element) else {
                        return self.undo(mark);
                    };
                    if !tape.numbers_finite(text, 0) {
                        return self.undo(mark);
                    }
                    let Ok(value) = serde_json::from_str(text) else {
                        return self.undo(mark);
                    };
                    gatehouse_formats::shape::expand_records_item(value, format, &mut general);
                    for rec in general.drain(..) {
                        self.record(
                            &mut state.pool,
                            line,
                            rec.map(gatehouse_formats::normalize::finish),
                        );
                    }
                    i = start + len;
                }
                i = skip_ws(bytes, i);
                match bytes.get(i) {
                    Some(b',') => i = skip_ws(bytes, i + 1),
                    Some(b']') => {
                        i += 1;
                        break;
                    }
                    _ => return self.undo(mark),
                }
            }
        }
        i = skip_ws(bytes, i);
        if bytes.get(i) != Some(&b'}') || skip_ws(bytes, i + 1) != bytes.len() {
            return self.undo(mark);
        }
        true
    }

    /// What the batch holds so far, for [`BatchOut::undo`].
    fn mark(&self) -> Mark {
        Mark {
            records: self.out.records,
            rejected: self.out.rejected.len(),
            rows: self
                .builders
                .iter()
                .map(|(key, b)| (key.clone(), b.len()))
                .collect(),
        }
    }

    /// Takes back everything stored since `mark`; `false`, for the caller to return.
    fn undo(&mut self, mark: Mark) -> bool {
        for (key, b) in self.builders.iter_mut() {
            let rows = mark
                .rows
                .iter()
                .find(|(k, _)| k == key)
                .map_or(0, |(_, rows)| *rows);
            b.truncate_rows(rows);
        }
        self.out.records = mark.records;
        self.out.rejected.truncate(mark.rejected);
        false
    }

    /// Stores a raw record (or a Graph list response page) through the fast path when it can
    /// ([`gatehouse_formats::fast`]); `false` when the general path must take it whole.
    fn fast(
        &mut self,
        state: &mut WorkerState,
        bytes: &[u8],
        line: u64,
        format: Option<InputFormat>,
        try_direct: bool,
    ) -> bool {
        if takes_diagnostic(format) && self.diagnostic_message(state, bytes, line, format) {
            return true;
        }
        let WorkerState { pool, tape } = state;
        // The direct path checks the text as UTF-8 as it reads it; the others need it checked.
        if try_direct && takes_direct(format) && self.direct(tape, bytes, None).is_some() {
            return true;
        }
        let Ok(text) = simdutf8::basic::from_utf8(bytes) else {
            return false;
        };
        if tape.parse(text).is_err() {
            return false;
        }
        if let Some(rec) = fast::recognize(tape, text, format) {
            return self.fast_record(pool, tape, text, rec);
        }
        let Some(page) = fast::list_page(tape, text, format) else {
            return false;
        };
        // Decide for the whole page before storing any of it: every element must be a record the
        // fast path recognises, and the page must be JSON `serde_json` accepts (its numbers
        // finite), so that an element the fast path gives back below can be re-read alone.
        let Some(records) = page
            .elements
            .iter()
            .map(|e| fast::recognize_at(tape, text, format, *e))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        if !tape.numbers_finite(text, 0) {
            return false;
        }
        let mut general = Vec::new();
        for rec in records {
            let element = rec.object;
            if self.fast_record(pool, tape, text, rec) {
                continue;
            }
            // The general path words this element's problem, exactly as inside the page.
            match serde_json::from_str(tape.json(text, element)) {
                Ok(value) => gatehouse_formats::shape::expand_list_element(
                    value,
                    format,
                    page.hint,
                    &mut general,
                ),
                Err(e) => general.push(Err(format!("malformed JSON: {e}"))),
            }
            for rec in general.drain(..) {
                self.record(pool, line, rec.map(gatehouse_formats::normalize::finish));
            }
        }
        true
    }

    /// Stores a bare Graph record straight from its text ([`TableBuilder::append_direct`]) into
    /// the partition the previous fast record went to, if it belongs there; `None` (nothing
    /// stored) otherwise.
    ///
    /// With `line` (NDJSON not cut into lines yet; whether the text may end the line), the
    /// record is the one on the first line of `text` ([`TableBuilder::append_direct_line`]).
    /// Returns the bytes the record took.
    fn direct(&mut self, tape: &mut Tape, text: &[u8], line: Option<bool>) -> Option<usize> {
        let (key, guess) = self.last_fast.as_ref()?;
        // The record's sign-in type, read ahead, picks the builder; a record where it cannot be
        // read is taken as the previous one's type (and refused below if it is not).
        let kind = match key.log {
            LogKind::SignIns => peek_signin_kind(text, line.is_some()).unwrap_or(*guess),
            _ => *guess,
        };
        let builder = self.builders.get_mut(&(key.clone(), kind))?;
        let sys = SystemFields {
            tenant_id: &key.tenant,
            ingested_at_ns: self.ingested_at_ns,
            source: "graph",
            envelope: None,
        };
        let forced = self.tenant;
        let same_partition = |row: &DirectRow<'_>| in_partition(row, key, kind, forced);
        let row = match line {
            None => builder.append_direct(text, tape, &sys, same_partition),
            Some(end_ok) => builder.append_direct_line(text, end_ok, tape, &sys, same_partition),
        };
        let len = row.ok()?.len;
        self.out.records += 1;
        Some(len)
    }

    /// Stores one recognised record from the tape; `false` (nothing stored) when the general
    /// path must take it.
    fn fast_record(
        &mut self,
        pool: &mut BuilderPool,
        tape: &Tape,
        text: &str,
        rec: fast::FastRecord,
    ) -> bool {
        let tenant = tenant_of(rec.tenant_id.as_deref(), self.tenant);
        if check_tenant_id(&tenant).is_err() {
            return false;
        }
        let time_column = rec.log.time_column();
        if tape.node(rec.time).kind != NodeKind::String {
            return false;
        }
        let Ok(time_ns) = event_time_ns(time_column, &tape.str(text, rec.time)) else {
            return false;
        };
        let key = PartitionKey {
            tenant,
            log: rec.log,
            day: day_of(time_ns),
        };
        let sys_tenant = key.tenant.clone();
        let ingested_at_ns = self.ingested_at_ns;
        let key = (key, rec.signin_kind);
        if self.last_fast.as_ref() != Some(&key) {
            self.last_fast = Some(key.clone());
        }
        let builder = self.builder_for(pool, key);
        let sys = SystemFields {
            tenant_id: &sys_tenant,
            ingested_at_ns,
            source: "graph",
            envelope: None,
        };
        match builder.append_tape(tape, text, rec.object, time_column, time_ns, &sys) {
            Ok(_) => {
                self.out.records += 1;
                true
            }
            Err(_) => false,
        }
    }
}

/// How many rows of a table batch are stored under a derived id.
fn derived_ids(batch: &RecordBatch) -> u64 {
    batch
        .column_by_name(gatehouse_model::schema::ID_DERIVED_COLUMN)
        .map_or(0, |c| (c.len() - c.null_count()) as u64)
}

/// Converts one input batch: each record goes to its partition's builder (through the fast path
/// when it can), in input order.
#[allow(clippy::too_many_arguments)]
fn convert_batch(
    batch: Batch,
    format: Option<InputFormat>,
    tenant: Option<&str>,
    exclusive: bool,
    ingested_at_ns: i64,
    fast_path: bool,
    state: &mut WorkerState,
    spare: &crossbeam_channel::Sender<Vec<u8>>,
) -> Converted {
    let mut b = match batch {
        Batch::Failed(r) => {
            return Converted {
                parts: Vec::new(),
                rejected: vec![r],
                records: 0,
                numbers: LineNumbers::Absolute,
            }
        }
        Batch::Parsed { file, records } => {
            let mut b = BatchOut::new(file, tenant, exclusive, ingested_at_ns);
            for (line, rec) in records {
                b.record(&mut state.pool, line, rec);
            }
            b
        }
        Batch::Raw { file, chunk } => {
            let mut b = BatchOut::new(file, tenant, exclusive, ingested_at_ns);
            for (line, reason) in &chunk.rejected {
                b.record(&mut state.pool, *line, Err(reason.clone()));
            }
            let mut parsed = Vec::new();
            let mut records = chunk.records();
            let direct = fast_path && takes_direct(format);
            let diagnostic = fast_path && takes_diagnostic(format);
            // Every line of an uncut chunk is offered to the direct path before it is cut: the
            // fast path need not offer it again.
            let direct_tried = direct && chunk.uncut.is_some();
            loop {
                // The direct path finds where a line's record ends as it reads it: the line
                // need not be cut first (a pass over its bytes).
                if let Some((_, rest, end_ok)) = records.rest().filter(|_| direct || diagnostic) {
                    let len = direct
                        .then(|| b.direct(&mut state.tape, rest, Some(end_ok)))
                        .flatten()
                        .or_else(|| {
                            diagnostic
                                .then(|| {
                                    b.diagnostic_direct(&mut state.tape, rest, Some(end_ok), 0)
                                })
                                .flatten()
                        });
                    if let Some(len) = len {
                        records.move_past(len);
                        continue;
                    }
                }
                let Some((line, record)) = records.next() else {
                    break;
                };
                let bytes = match record {
                    Ok(bytes) => bytes,
                    Err(reason) => {
                        b.record(&mut state.pool, line, Err(reason));
                        continue;
                    }
                };
                if fast_path && b.fast(state, bytes, line, format, !direct_tried) {
                    continue;
                }
                parse_item(bytes, line, format, &mut parsed);
                for (line, rec) in parsed.drain(..) {
                    b.record(&mut state.pool, line, rec);
                }
            }
            b.out.numbers = records.numbers();
            if let Some((line, reason)) = chunk.fatal {
                b.record(&mut state.pool, line, Err(reason));
            }
            // The reader may read its next chunk into this buffer (a mapped chunk has none).
            if chunk.buf.capacity() > 0 {
                let _ = spare.try_send(chunk.buf);
            }
            b
        }
    };
    for ((key, kind), mut builder) in b.builders {
        let log = key.log;
        if !builder.is_empty() {
            let batch = builder.finish();
            b.out.parts.push(PartOut {
                key,
                keys: row_keys(&batch),
                batch,
                kind,
            });
        }
        state.pool.give_back(log, kind, builder);
    }
    b.out.parts.sort_by(|a, b| a.key.cmp(&b.key));
    b.out
}

/// The tenant a record is stored under: `--tenant` if given, else the one the record names,
/// else `default`; lower-cased, as tenant ids (GUIDs) are case-insensitive and a folder name on
/// a case-insensitive file system would otherwise join two tenants.
fn tenant_of(named: Option<&str>, forced: Option<&str>) -> String {
    forced
        .or(named)
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| DEFAULT_TENANT.to_string())
}

/// A record's event time (the text of `time_column`) in ns since the epoch, or why not.
fn event_time_ns(time_column: &str, text: &str) -> std::result::Result<i64, String> {
    gatehouse_model::time::parse_timestamp(text)
        .map_err(|e| format!("field `{time_column}`: {e}"))?
        .timestamp_nanos_opt()
        .ok_or_else(|| format!("field `{time_column}`: outside 1677–2262"))
}

/// Whether a record the direct path read belongs in the builder of `key` and `kind`: its
/// tenant (unless the ingest puts every record under `forced`), table, day and sign-in type.
fn in_partition(
    row: &DirectRow<'_>,
    key: &PartitionKey,
    kind: Option<SignInKind>,
    forced: Option<&str>,
) -> bool {
    let tenant_matches = match (forced, row.tenant_id) {
        (Some(_), _) => true,
        // `tenant_of` lower-cases the tenant a record names.
        (None, Some(named)) => named.eq_ignore_ascii_case(&key.tenant),
        (None, None) => key.tenant == DEFAULT_TENANT,
    };
    tenant_matches
        && row.log == key.log
        && day_of(row.time_ns) == key.day
        && row.signin_kind == kind
}

/// When an ingest for tenant `only` alone (`exclusive`) must refuse a record whose envelope
/// names another tenant, `owner`, as its log's owner: (`owner`, `only`). A blank owner names
/// none.
fn foreign_owner<'a, 'b>(
    exclusive: bool,
    only: Option<&'b str>,
    owner: Option<&'a str>,
) -> Option<(&'a str, &'b str)> {
    match (exclusive, only, owner.filter(|o| !o.trim().is_empty())) {
        (true, Some(only), Some(owner)) if !owner.eq_ignore_ascii_case(only) => Some((owner, only)),
        _ => None,
    }
}

/// The tenant a record's envelope names as the owner of the log it comes from (diagnostic
/// `tenantId`, Log Analytics `TenantId` or `AADTenantId`); a Graph record has none.
fn owner_tenant(rec: &Record) -> Option<&str> {
    let envelope = rec.envelope.as_ref()?;
    envelope
        .iter()
        .find(|(k, _)| {
            ["tenantId", "AADTenantId"]
                .iter()
                .any(|name| k.eq_ignore_ascii_case(name))
        })
        .and_then(|(_, v)| v.as_str())
        .filter(|t| !t.trim().is_empty())
}

/// The partition a record goes to, or why it cannot be stored.
fn place(rec: &Record, forced_tenant: Option<&str>) -> Result<PartitionKey, String> {
    let tenant = tenant_of(rec.tenant_id.as_deref(), forced_tenant);
    check_tenant_id(&tenant)?;
    let time_column = rec.log.time_column();
    let ns = match rec.body.get(time_column) {
        Some(Value::String(s)) => event_time_ns(time_column, s)?,
        None | Some(Value::Null) => return Err(format!("missing `{time_column}`")),
        Some(_) => {
            return Err(format!(
                "field `{time_column}`: expected a timestamp string"
            ))
        }
    };
    Ok(PartitionKey {
        tenant,
        log: rec.log,
        day: day_of(ns),
    })
}

/// The sign-in type a record's text names first in `signInEventTypes`, read ahead of parsing:
/// `None` when the text does not hold the key followed by a string (compactly written); the type
/// (`None` if the value is no type) otherwise.
fn peek_signin_kind(text: &[u8], in_line: bool) -> Option<Option<SignInKind>> {
    const KEY: &[u8] = br#""signInEventTypes":[""#;
    /// How far into a text not cut into lines the key is looked for (a record without it would
    /// otherwise have the rest of its batch searched).
    const LINE_LIMIT: usize = 64 << 10;
    // Built once: building a searcher per record was half of this function's time.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let searched = if in_line {
        &text[..text.len().min(LINE_LIMIT)]
    } else {
        text
    };
    let found = FINDER.find(searched)?;
    // Found on a later line: another record's.
    if in_line && memchr::memchr(b'\n', &text[..found]).is_some() {
        return None;
    }
    let at = found + KEY.len();
    let rest = text.get(at..)?;
    let end = memchr::memchr(b'"', rest)?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    Some(SignInKind::from_graph_name(name))
}

/// Whether records read as `format` may take the direct path (bare Graph records).
fn takes_direct(format: Option<InputFormat>) -> bool {
    matches!(format, None | Some(InputFormat::Graph))
}

/// Whether records read as `format` may take the direct path for diagnostic records.
fn takes_diagnostic(format: Option<InputFormat>) -> bool {
    matches!(format, None | Some(InputFormat::Diagnostic))
}

fn signin_kind(rec: &Record) -> Option<SignInKind> {
    if rec.log != LogKind::SignIns {
        return None;
    }
    rec.body
        .get("signInEventTypes")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(SignInKind::from_graph_name)
}

/// A merge the compacting thread finished: its plan, and the merged files or why it failed.
type Merged = (
    maintenance::CompactionPlan,
    std::result::Result<Vec<gatehouse_store::DataFile>, String>,
);

/// The compacting thread: merges each plan it is sent, and sends the outcome back (a merge that
/// panics is reported as failed: the small files stay, the thread goes on).
fn merge_plans(
    root: &std::path::Path,
    plans: crossbeam_channel::Receiver<maintenance::CompactionPlan>,
    merged: crossbeam_channel::Sender<Merged>,
) {
    for plan in plans {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            maintenance::merge(root, &plan)
        }));
        let outcome = match outcome {
            Ok(Ok(added)) => Ok(added),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the merge panicked".to_string()),
        };
        if merged.send((plan, outcome)).is_err() {
            return;
        }
    }
}

/// The committing thread's side of the compacting thread.
struct Merges {
    /// Plans to merge (`None` once the thread is told to stop, or stopped).
    plans: Option<crossbeam_channel::Sender<maintenance::CompactionPlan>>,
    merged: crossbeam_channel::Receiver<Merged>,
    /// Partitions with a merge under way: not planned again until it is committed.
    under_way: HashSet<PartitionKey>,
}

/// What woke the committing thread.
enum Woke {
    /// Worker output (`None`: the workers are done).
    Out(Option<(u64, Out)>),
    /// Maintenance (`None`: nobody can ask for more).
    Control(Option<Maintenance>),
    /// The writer thread finished files (`None`: it stopped).
    Done(Option<Result<WriteDone>>),
    /// The compacting thread finished a merge (`None`: it stopped).
    Merged(Option<Merged>),
    /// A flush is due.
    Timeout,
}

/// The writer thread ended while this thread still waited for files from it.
fn writer_stopped() -> IngestError {
    IngestError::Invalid("the file writer stopped before committing every accepted row".into())
}

/// A flush sent to the writer thread and not yet answered: what its commit carries and whom it
/// acknowledges.
#[derive(Default)]
struct FlushTicket {
    /// The jobs whose input had ended when it was sent.
    ended: Vec<u64>,
    /// Their positions, per table their rows went to.
    positions: BTreeMap<(String, LogKind), Vec<(String, i64)>>,
    /// Their positions, all together (for the store's record of every source).
    all_positions: Vec<(String, i64)>,
}

/// A job between its first batch and its acknowledgement.
struct JobState {
    summary: IngestSummary,
    position: Option<SourcePosition>,
    /// The tables its accepted rows went to (each gets the job's position in its commit).
    tables: std::collections::BTreeSet<(String, LogKind)>,
    /// Its input has ended (every batch was accepted).
    ended: bool,
    done: Option<JobDone>,
}

impl JobState {
    fn new(position: Option<SourcePosition>, done: JobDone) -> JobState {
        JobState {
            summary: IngestSummary::default(),
            position,
            tables: Default::default(),
            ended: false,
            done: Some(done),
        }
    }
}

/// The committing thread's state: dedup index, the channel to the writer thread, the jobs.
struct Consumer<'w> {
    writer: &'w mut StoreWriter,
    rows_out: Option<crossbeam_channel::Sender<ToWriter>>,
    done: crossbeam_channel::Receiver<Result<WriteDone>>,
    /// The compacting thread, for a running service (a batch run compacts at its end, here).
    merges: Option<Merges>,
    index: IdIndex,
    /// Rows handed to the writer thread and not yet committed, per partition (the dedup index
    /// must not forget those partitions: their stored files lack these rows' keys).
    uncommitted: HashMap<PartitionKey, u64>,
    jobs: Arc<std::sync::Mutex<HashMap<u64, JobState>>>,
    /// Rows committed, over all jobs (for progress).
    stored: u64,
    /// Partitions that received rows since the last compaction check.
    touched: std::collections::BTreeSet<PartitionKey>,
    commit_interval: Option<Duration>,
    compact: bool,
    /// When the rows accepted (or jobs ended) since the last flush must be committed by.
    flush_due: Option<std::time::Instant>,
    /// Flushes under way, oldest first (the writer thread answers them in order).
    flushes: std::collections::VecDeque<FlushTicket>,
    /// Lines of the current input's batches so far, for those numbered relative to the
    /// previous one (mapped files, whose lines the workers cut).
    line_base: LineBase,
}

impl<'w> Consumer<'w> {
    fn new(
        writer: &'w mut StoreWriter,
        rows_out: crossbeam_channel::Sender<ToWriter>,
        done: crossbeam_channel::Receiver<Result<WriteDone>>,
        merges: Option<Merges>,
        opts: &IngestOptions,
        jobs: Arc<std::sync::Mutex<HashMap<u64, JobState>>>,
    ) -> Self {
        Consumer {
            writer,
            rows_out: Some(rows_out),
            done,
            merges,
            index: IdIndex::with_max_rows(opts.index_rows),
            uncommitted: HashMap::new(),
            jobs,
            stored: 0,
            touched: Default::default(),
            commit_interval: opts.commit_interval,
            compact: opts.compact,
            flush_due: None,
            flushes: Default::default(),
            line_base: LineBase::default(),
        }
    }

    /// Takes the workers' output in order until it ends, committing as files close and (with a
    /// commit interval) at the latest that long after rows arrive; runs maintenance between.
    /// A due flush is only sent: the workers' output goes on being taken while the writer
    /// thread closes the files, and the jobs are acknowledged when its answer is committed.
    fn run(
        &mut self,
        out_rx: crossbeam_channel::Receiver<(u64, Out)>,
        control: crossbeam_channel::Receiver<Maintenance>,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
        counter: Option<&ByteCounter>,
    ) -> Result<()> {
        let mut pending: BTreeMap<u64, Out> = BTreeMap::new();
        let mut next = 0u64;
        let mut records = 0u64;
        let mut control_open = true;
        loop {
            let wait = match self.flush_due {
                Some(due) => due.saturating_duration_since(std::time::Instant::now()),
                None => Duration::from_secs(3600),
            };
            let control_now = if control_open {
                control.clone()
            } else {
                crossbeam_channel::never()
            };
            let done_rx = self.done.clone();
            let merged_rx = match &self.merges {
                Some(m) if m.plans.is_some() => m.merged.clone(),
                _ => crossbeam_channel::never(),
            };
            let woke = crossbeam_channel::select! {
                recv(out_rx) -> msg => Woke::Out(msg.ok()),
                recv(control_now) -> msg => Woke::Control(msg.ok()),
                recv(done_rx) -> msg => Woke::Done(msg.ok()),
                recv(merged_rx) -> msg => Woke::Merged(msg.ok()),
                default(wait) => Woke::Timeout,
            };
            match woke {
                Woke::Out(None) => break,
                Woke::Out(Some((seq, out))) => {
                    pending.insert(seq, out);
                    while let Some(out) = pending.remove(&next) {
                        next += 1;
                        match out {
                            Out::Converted(job, mut c) => {
                                let base = self.line_base.next(c.numbers);
                                for r in &mut c.rejected {
                                    r.origin.line += base;
                                }
                                records += c.records;
                                self.accept(&job, c, progress, events)?;
                            }
                            Out::End(job, failures) => self.end_job(&job, failures),
                        }
                    }
                    progress(Progress::Advanced {
                        bytes_read: counter.map_or(0, ByteCounter::get),
                        records,
                    });
                }
                Woke::Control(Some(m)) => self.maintain(m, progress, events)?,
                Woke::Control(None) => control_open = false,
                Woke::Done(Some(done)) => self.take_done(done?, progress, events)?,
                Woke::Done(None) => return Err(writer_stopped()),
                Woke::Merged(Some((plan, outcome))) => self.merged(plan, outcome),
                Woke::Merged(None) => self.stop_merging(),
                Woke::Timeout => {}
            }
            if self
                .flush_due
                .is_some_and(|due| due <= std::time::Instant::now())
            {
                self.start_flush(progress, events)?;
            }
        }
        if !pending.is_empty() {
            return Err(IngestError::Invalid(
                "an ingest thread stopped unexpectedly".into(),
            ));
        }
        self.flush(progress, events)?;
        self.rows_out = None;
        self.commit_done(true, progress, events)?;
        // The last merges are committed, and what is left is compacted here.
        self.finish_merges();
        self.stop_merging();
        if self.compact {
            self.compact_touched()?;
        }
        Ok(())
    }

    /// Drops the rows whose id and content are stored or seen already, and hands the rest to the
    /// writer thread; commits what it has finished meanwhile.
    fn accept(
        &mut self,
        job: &JobContext,
        c: Converted,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        self.commit_done(false, progress, events)?;
        let mut summary = IngestSummary {
            rejected: c.rejected,
            ..IngestSummary::default()
        };
        let mut tables = Vec::new();
        for part in c.parts {
            let root = self.writer.store().root().to_path_buf();
            let known = self
                .index
                .partition(&root, self.writer.snapshot(), &part.key)?;
            let keep: Vec<bool> = part.keys.iter().map(|h| known.insert(*h)).collect();
            let kept = keep.iter().filter(|k| **k).count();
            summary.duplicates += (keep.len() - kept) as u64;
            if kept == 0 {
                continue;
            }
            let batch = if kept == keep.len() {
                part.batch
            } else {
                filter_record_batch(&part.batch, &BooleanArray::from(keep.clone())).map_err(
                    |e| IngestError::Arrow {
                        context: "dropping duplicates".into(),
                        source: e,
                    },
                )?
            };
            summary.derived_ids += derived_ids(&batch);
            *summary.stored.entry(part.key.log).or_default() += kept as u64;
            *self.uncommitted.entry(part.key.clone()).or_default() += kept as u64;
            if let Some(kind) = part.kind {
                *summary.signins_by_kind.entry(kind).or_default() += kept as u64;
            }
            tables.push((part.key.tenant.clone(), part.key.log));
            self.touched.insert(part.key.clone());
            self.send(
                ToWriter::Rows {
                    key: part.key,
                    batch,
                },
                progress,
                events,
            )?;
            self.flush_soon();
        }
        if let Some(state) = self.jobs().get_mut(&job.id) {
            state.summary.add(summary);
            state.tables.extend(tables);
        }
        let uncommitted = &self.uncommitted;
        self.index.shrink(|key| uncommitted.contains_key(key));
        Ok(())
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, JobState>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A job's input ended: it is acknowledged with the next commit, which is due at once when
    /// no other job is under way (waiting would gather nothing), else within the interval.
    fn end_job(&mut self, job: &JobContext, failures: Vec<Rejection>) {
        let all_ended = {
            let mut jobs = self.jobs();
            if let Some(state) = jobs.get_mut(&job.id) {
                state.summary.rejected.extend(failures);
                state.ended = true;
            }
            jobs.values().all(|j| j.ended)
        };
        if all_ended && self.commit_interval.is_some() {
            self.flush_due = Some(std::time::Instant::now());
        } else {
            self.flush_soon();
        }
    }

    /// Makes sure a flush is due within the commit interval (for a running service).
    fn flush_soon(&mut self) {
        if let (None, Some(interval)) = (self.flush_due, self.commit_interval) {
            self.flush_due = Some(std::time::Instant::now() + interval);
        }
    }

    /// Closes every open file and commits them with the positions of the jobs that ended, then
    /// acknowledges those jobs: everything accepted so far is committed when it returns.
    fn flush(
        &mut self,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        self.start_flush(progress, events)?;
        while !self.flushes.is_empty() {
            let done = match self.done.recv() {
                Ok(d) => d?,
                // Without the answer nothing is acknowledged.
                Err(_) => return Err(writer_stopped()),
            };
            self.take_done(done, progress, events)?;
        }
        Ok(())
    }

    /// Asks the writer thread to close every open file; its answer ([`Self::take_done`]) is
    /// committed with the positions of the jobs that have ended by now, which it acknowledges.
    fn start_flush(
        &mut self,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        self.flush_due = None;
        let flushing: HashSet<u64> = self
            .flushes
            .iter()
            .flat_map(|t| t.ended.iter().copied())
            .collect();
        let mut ticket = FlushTicket::default();
        {
            let jobs = self.jobs();
            for (id, state) in jobs.iter() {
                if !state.ended || flushing.contains(id) {
                    continue;
                }
                ticket.ended.push(*id);
                if let Some(p) = &state.position {
                    ticket.all_positions.push((p.app_id.clone(), p.version));
                    for table in &state.tables {
                        let list = ticket.positions.entry(table.clone()).or_default();
                        // One position per source and table: the furthest.
                        match list.iter_mut().find(|(app, _)| *app == p.app_id) {
                            Some((_, v)) => *v = (*v).max(p.version),
                            None => list.push((p.app_id.clone(), p.version)),
                        }
                    }
                }
            }
        }
        self.flushes.push_back(ticket);
        self.send(ToWriter::Flush, progress, events)
    }

    /// Commits files the writer thread finished; for the answer to a flush, with the positions
    /// of the jobs its ticket names, which are then acknowledged.
    fn take_done(
        &mut self,
        done: WriteDone,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        if !done.flushed {
            return self.commit(done, BTreeMap::new(), progress, events);
        }
        let ticket = self.flushes.pop_front().unwrap_or_default();
        self.commit(done, ticket.positions, progress, events)?;
        if !ticket.all_positions.is_empty() {
            self.writer.record_positions(&ticket.all_positions)?;
        }
        let finished: Vec<JobState> = {
            let mut jobs = self.jobs();
            ticket
                .ended
                .iter()
                .filter_map(|id| jobs.remove(id))
                .collect()
        };
        for mut job in finished {
            events.job_ended(&job.summary);
            if let Some(done) = job.done.take() {
                done(Ok(job.summary));
            }
        }
        // After the acknowledgements (the rows are committed either way); a failed compaction
        // leaves the small files, for the next one.
        if self.commit_interval.is_some() && self.compact {
            if let Err(e) = self.compact_touched() {
                tracing::warn!(error = %e, "compaction after a commit failed; the files stay as they are");
            }
        }
        Ok(())
    }

    /// Merges the small files of the partitions that received rows (where there are enough):
    /// on the compacting thread if there is one (a partition with a merge under way waits for
    /// the next check), else here.
    fn compact_touched(&mut self) -> Result<()> {
        let touched: Vec<PartitionKey> = std::mem::take(&mut self.touched).into_iter().collect();
        self.compact_partitions(touched)
    }

    /// Merges the small files of these partitions (see [`Consumer::compact_touched`]).
    fn compact_partitions(&mut self, touched: Vec<PartitionKey>) -> Result<()> {
        let Some(Merges {
            plans: Some(plans),
            under_way,
            ..
        }) = &mut self.merges
        else {
            maintenance::compact_partitions(self.writer, &touched)?;
            return Ok(());
        };
        let (busy, free): (Vec<PartitionKey>, Vec<PartitionKey>) =
            touched.into_iter().partition(|k| under_way.contains(k));
        self.touched.extend(busy);
        let planned = maintenance::plan_compaction(
            self.writer.snapshot(),
            &free,
            maintenance::COMPACT_MIN_FILES,
        );
        for plan in planned {
            under_way.insert(plan.key.clone());
            if plans.send(plan).is_err() {
                // The thread stopped: what it had is lost, and compaction happens here again.
                self.stop_merging();
                return Ok(());
            }
        }
        Ok(())
    }

    /// Commits a merge the compacting thread finished (one whose files changed meanwhile is
    /// dropped); a failed merge leaves the small files, for the next check.
    fn merged(
        &mut self,
        plan: maintenance::CompactionPlan,
        outcome: std::result::Result<Vec<gatehouse_store::DataFile>, String>,
    ) {
        if let Some(m) = &mut self.merges {
            m.under_way.remove(&plan.key);
        }
        let key = plan.key.clone();
        let partition = plan.key.dir();
        let committed = outcome.and_then(|added| {
            maintenance::commit_merge(self.writer, plan, added).map_err(|e| e.to_string())
        });
        if let Err(e) = committed {
            tracing::warn!(partition = %partition.display(), error = %e, "compaction failed; the files stay as they are");
        }
        // A partition that got rows while its merge was under way is checked now, not at the
        // next commit (which may be long in coming once a stream goes quiet).
        if self.touched.remove(&key) {
            if let Err(e) = self.compact_partitions(vec![key]) {
                tracing::warn!(error = %e, "compaction failed; the files stay as they are");
            }
        }
    }

    /// Waits for the merges under way and commits them: before maintenance (which must find
    /// the store as they leave it) and at the end of the run.
    fn finish_merges(&mut self) {
        loop {
            let next = match &self.merges {
                Some(m) if m.plans.is_some() && !m.under_way.is_empty() => m.merged.recv(),
                _ => return,
            };
            match next {
                Ok((plan, outcome)) => self.merged(plan, outcome),
                Err(_) => {
                    self.stop_merging();
                    return;
                }
            }
        }
    }

    /// Stops the compacting thread (it ends once its queue is empty); compaction happens on
    /// this thread from then on.
    fn stop_merging(&mut self) {
        if let Some(m) = &mut self.merges {
            m.plans = None;
            m.under_way.clear();
        }
    }

    /// Runs one maintenance task (after committing everything accepted so far).
    fn maintain(
        &mut self,
        m: Maintenance,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        self.flush(progress, events)?;
        self.finish_merges();
        let started = std::time::Instant::now();
        match m {
            Maintenance::Compact(done) => {
                done(gatehouse_store::maintenance::compact_all(self.writer).map_err(Into::into))
            }
            Maintenance::Retention {
                logs,
                cutoff_ns,
                done,
            } => {
                let result =
                    gatehouse_store::maintenance::apply_retention(self.writer, &logs, cutoff_ns);
                // Records of the removed days are not stored any more: sent again, they are new.
                let first_kept = day_of(cutoff_ns);
                self.index
                    .forget(|key| logs.contains(&key.log) && key.day < first_kept);
                done(result.map_err(Into::into))
            }
            Maintenance::Vacuum { grace, done } => {
                done(self.writer.vacuum_older_than(grace).map_err(Into::into))
            }
        }
        events.committed(self.writer.snapshot(), started.elapsed());
        Ok(())
    }

    /// Tells every job still waiting that the pipeline failed.
    fn fail_all(&mut self, reason: &str) {
        let jobs: Vec<JobState> = self.jobs().drain().map(|(_, j)| j).collect();
        for mut job in jobs {
            if let Some(done) = job.done.take() {
                done(Err(reason.to_string()));
            }
        }
    }

    fn send(
        &mut self,
        message: ToWriter,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        if let Some(out) = &self.rows_out {
            if out.send(message).is_err() {
                // The writer thread stopped: its error is waiting in `done`.
                self.rows_out = None;
                self.commit_done(true, progress, events)?;
                return Err(IngestError::Invalid("the file writer stopped".into()));
            }
        }
        Ok(())
    }

    /// Commits every write the writer thread has finished (waiting for all when `wait`).
    fn commit_done(
        &mut self,
        wait: bool,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        loop {
            let done = if wait {
                match self.done.recv() {
                    Ok(d) => d,
                    Err(_) => return Ok(()),
                }
            } else {
                match self.done.try_recv() {
                    Ok(d) => d,
                    Err(_) => return Ok(()),
                }
            };
            self.take_done(done?, progress, events)?;
        }
    }

    /// Commits the files of one message from the writer thread (one Delta commit per table),
    /// with `positions` for the tables named.
    fn commit(
        &mut self,
        done: WriteDone,
        positions: BTreeMap<(String, LogKind), Vec<(String, i64)>>,
        progress: &mut dyn FnMut(Progress),
        events: &mut dyn PipelineEvents,
    ) -> Result<()> {
        if done.added.is_empty() && positions.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut changes: BTreeMap<(String, LogKind), TableChange> = BTreeMap::new();
        for file in done.added {
            changes
                .entry((file.tenant.clone(), file.log))
                .or_insert_with(|| TableChange::append(file.tenant.as_str(), file.log, Vec::new()))
                .added
                .push(file);
        }
        for ((tenant, log), p) in positions {
            changes
                .entry((tenant.clone(), log))
                .or_insert_with(|| TableChange::append(tenant.as_str(), log, Vec::new()))
                .positions
                .extend(p);
        }
        self.writer.commit(changes.into_values().collect())?;
        for (key, rows) in done.parts {
            self.stored += rows as u64;
            if let Some(n) = self.uncommitted.get_mut(&key) {
                *n = n.saturating_sub(rows as u64);
                if *n == 0 {
                    self.uncommitted.remove(&key);
                }
            }
        }
        let generation = self.writer.snapshot().generation();
        tracing::info!(stored = self.stored, generation, "committed");
        progress(Progress::Committed {
            stored: self.stored,
            generation,
        });
        events.committed(self.writer.snapshot(), started.elapsed());
        Ok(())
    }
}

impl IngestSummary {
    /// Adds another summary's counts to this one.
    pub fn add(&mut self, other: IngestSummary) {
        for (log, n) in other.stored {
            *self.stored.entry(log).or_default() += n;
        }
        for (kind, n) in other.signins_by_kind {
            *self.signins_by_kind.entry(kind).or_default() += n;
        }
        self.duplicates += other.duplicates;
        self.derived_ids += other.derived_ids;
        self.rejected.extend(other.rejected);
        self.inputs += other.inputs;
        self.bytes_read += other.bytes_read;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_type_is_read_ahead_from_compact_text() {
        let peek = |t: &str| peek_signin_kind(t.as_bytes(), false);
        assert_eq!(
            peek(r#"{"id":"a","signInEventTypes":["servicePrincipal"],"x":1}"#),
            Some(Some(SignInKind::ServicePrincipal))
        );
        assert_eq!(
            peek(r#"{"signInEventTypes":["interactiveUser","nonInteractiveUser"]}"#),
            Some(Some(SignInKind::InteractiveUser))
        );
        assert_eq!(peek(r#"{"signInEventTypes":["other"]}"#), Some(None));
        // Not readable ahead: the previous record's type is tried, and checked after parsing.
        assert_eq!(peek(r#"{"signInEventTypes": ["interactiveUser"]}"#), None);
        assert_eq!(peek(r#"{"signInEventTypes":[]}"#), None);
        assert_eq!(peek(r#"{"signInEventTypes":["unterminated"#), None);
        assert_eq!(peek(r#"{"id":"a"}"#), None);
    }
}
