//! The ingest pipeline: input files → parsed, normalised, typed rows → deduplicated → Parquet →
//! committed.
//!
//! ```text
//! reader thread ──raw chunks──▶ N worker threads ──typed batches──▶ this thread ──▶ writer thread
//! (open, gunzip, split)         (parse JSON, normalise,            (reorder, dedup,   (one open file per
//!                                convert to Arrow, partition)        commit)            partition: encode,
//!                                                                                       compress Parquet,
//!                                                                                       columns in parallel)
//! ```
//! Workers send each raw record down one of three paths: the direct path
//! ([`TableBuilder::append_direct`], one pass over the text) for bare Graph records of the
//! previous record's partition, the fast path (a tape of the JSON, [`gatehouse_formats::fast`]
//! recognition, [`TableBuilder::append_tape`]) for the other records already in the Graph shape,
//! and the general path (serde_json values, shape, normalise, [`TableBuilder::append`]) for
//! everything else. All three store the same rows.
//!
//! Memory stays bounded whatever the input size: the channels carrying rows are bounded, and the
//! writer thread streams accepted rows into one open file per partition ([`open_files`]),
//! encoding them a group of rows at a time. A file is closed once it holds
//! [`IngestOptions::file_rows`] rows, or, when the open files together hold
//! [`IngestOptions::max_buffered_bytes`] or number [`IngestOptions::max_open_files`], the
//! partitions that went longest without new rows are closed first. Every closed file is committed, and only
//! committed rows are counted as stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{bounded, unbounded};
use gatehouse_formats::fast;
use gatehouse_formats::input::{ByteCounter, InputFile};
use gatehouse_formats::read::{parse_item, read_input, Batch, ReadOptions};
use gatehouse_formats::tape::{NodeKind, Tape};
use gatehouse_formats::{InputFormat, Origin, Record, Rejection};
use gatehouse_model::{LogKind, SignInKind, TableSchema};
use serde_json::Value;

use crate::convert::{DirectRow, SystemFields, TableBuilder};
use crate::dedup::{row_keys, IdIndex};
use gatehouse_store::layout::{check_tenant_id, day_of, PartitionKey, DEFAULT_TENANT};
use gatehouse_store::{ChangeKind, StoreWriter, TableChange};

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
    /// 128 MiB).
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
    /// Let records in the Graph shape skip the general path (the direct and fast paths; all
    /// store the same rows, so this is only turned off to compare them).
    pub fast_path: bool,
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
            max_buffered_bytes: 128 << 20,
            max_open_files: 128,
            compact: true,
            map_files: true,
            fast_path: true,
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
    /// Commits made.
    pub commits: u64,
    /// Files written.
    pub files_written: u64,
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
}

struct PartOut {
    key: PartitionKey,
    batch: RecordBatch,
    /// Each row's [`row_keys`]: equal for duplicates (same id, same content).
    keys: Vec<u128>,
    kinds: Vec<Option<SignInKind>>,
}

/// Produces input batches in order, calling `emit` (its first argument) for each; returns
/// whole-input failures. Its second argument gives a buffer to read the next chunk into: one a
/// worker is done with when there is one (its pages are in memory already), else a new one.
pub type Source<'a> = Box<
    dyn FnOnce(&mut dyn FnMut(Batch), &mut dyn FnMut() -> Vec<u8>) -> Vec<Rejection> + Send + 'a,
>;

/// Ingests `inputs` (files, directories, standard input) into the store, committing as it goes.
pub fn ingest(
    writer: &mut StoreWriter,
    inputs: &[InputFile],
    opts: &IngestOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<IngestSummary> {
    let counter = ByteCounter::default();
    let total_bytes = inputs.iter().map(|i| i.size).sum();
    let read = ReadOptions {
        format: opts.format,
        map_files: opts.map_files,
    };
    let reader_counter = counter.clone();
    let source: Source<'_> = Box::new(move |emit, spare| {
        let mut failures = Vec::new();
        for input in inputs {
            if let Err(e) = read_input(input, read, &reader_counter, spare, emit) {
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
    });
    let mut summary = ingest_source(writer, source, total_bytes, &counter, opts, progress)?;
    summary.inputs = inputs.len();
    Ok(summary)
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
    let threads = opts.threads.max(1);
    let (raw_tx, raw_rx) = bounded::<(u64, Batch)>(threads * 2);
    // Chunk buffers the workers are done with, back to the reader (when it is full, a buffer
    // is freed instead).
    let (spare_tx, spare_rx) = bounded::<Vec<u8>>(threads * 2 + 2);
    let (out_tx, out_rx) = bounded::<(u64, Converted)>(threads * 2);
    let ingested_at_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let format = opts.format;
    let fast_path = opts.fast_path;

    thread::scope(|scope| -> Result<IngestSummary> {
        let named = |name: &str| thread::Builder::new().name(name.to_string());
        let spawn_failed =
            |e: std::io::Error| IngestError::Invalid(format!("cannot start a thread: {e}"));
        let reader = named("ingest-read")
            .spawn_scoped(scope, move || {
                let mut seq = 0u64;
                source(
                    &mut |batch| {
                        // A closed channel means the consumer stopped: nothing left to do.
                        let _ = raw_tx.send((seq, batch));
                        seq += 1;
                    },
                    &mut || spare_rx.try_recv().unwrap_or_default(),
                )
            })
            .map_err(spawn_failed)?;
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let raw_rx = raw_rx.clone();
            let out_tx = out_tx.clone();
            let spare_tx = spare_tx.clone();
            let tenant = opts.tenant.clone();
            let worker = named("ingest-parse")
                .spawn_scoped(scope, move || {
                    let mut state = WorkerState::default();
                    for (seq, batch) in raw_rx {
                        let converted = convert_batch(
                            batch,
                            format,
                            tenant.as_deref(),
                            ingested_at_ns,
                            fast_path,
                            &mut state,
                            &spare_tx,
                        );
                        if out_tx.send((seq, converted)).is_err() {
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
        // `done` is unbounded: the ingesting thread drains it only between batches, while it
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
        );
        named("ingest-write")
            .spawn_scoped(scope, move || files.run(rows_rx, done_tx))
            .map_err(spawn_failed)?;
        let mut state = Consumer::new(writer, rows_tx, done_rx);
        let mut pending: BTreeMap<u64, Converted> = BTreeMap::new();
        let mut next = 0u64;
        let mut records = 0u64;
        let mut result = Ok(());
        for (seq, converted) in out_rx.iter() {
            pending.insert(seq, converted);
            while let Some(c) = pending.remove(&next) {
                next += 1;
                records += c.records;
                if result.is_ok() {
                    result = state.accept(c, progress);
                }
            }
            progress(Progress::Advanced {
                bytes_read: counter.get(),
                records,
            });
        }
        // A thread that panicked lost input: that is an error, never a quiet partial ingest.
        let stopped = || IngestError::Invalid("an ingest thread stopped unexpectedly".into());
        let failures = reader.join().map_err(|_| stopped())?;
        for worker in workers {
            worker.join().map_err(|_| stopped())?;
        }
        if !pending.is_empty() {
            return Err(stopped());
        }
        result?;
        state.summary.rejected.extend(failures);
        state.flush_all(progress)?;
        state.finish(progress)?;
        if opts.compact {
            let touched: Vec<PartitionKey> = state.touched.iter().cloned().collect();
            gatehouse_store::maintenance::compact_partitions(state.writer, &touched)?;
        }
        let mut summary = state.summary;
        summary.bytes_read = counter.get();
        Ok(summary)
    })
}

/// A partition's rows being built in a worker: the rows and their sign-in types.
type PartBuilder = (TableBuilder, Vec<Option<SignInKind>>);

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
    spare: HashMap<LogKind, Vec<TableBuilder>>,
}

impl BuilderPool {
    /// An empty builder for `log`'s table.
    fn take(&mut self, log: LogKind) -> TableBuilder {
        self.spare
            .get_mut(&log)
            .and_then(Vec::pop)
            .unwrap_or_else(|| TableBuilder::new(&TableSchema::of(log)))
    }

    /// Keeps a builder (emptied by `finish`) for a later batch.
    fn give_back(&mut self, log: LogKind, builder: TableBuilder) {
        debug_assert!(builder.is_empty());
        self.spare.entry(log).or_default().push(builder);
    }
}

/// What one batch's records are being converted into.
struct BatchOut<'a> {
    file: Arc<str>,
    tenant: Option<&'a str>,
    ingested_at_ns: i64,
    builders: HashMap<PartitionKey, PartBuilder>,
    /// The partition of the last record the fast path stored: the direct path's guess for the
    /// next one.
    last_fast: Option<PartitionKey>,
    out: Converted,
}

impl<'a> BatchOut<'a> {
    fn new(file: Arc<str>, tenant: Option<&'a str>, ingested_at_ns: i64) -> Self {
        BatchOut {
            file,
            tenant,
            ingested_at_ns,
            builders: HashMap::new(),
            last_fast: None,
            out: Converted {
                parts: Vec::new(),
                rejected: Vec::new(),
                records: 0,
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
    fn builder_for(&mut self, pool: &mut BuilderPool, key: PartitionKey) -> &mut PartBuilder {
        let log = key.log;
        self.builders
            .entry(key)
            .or_insert_with(|| (pool.take(log), Vec::new()))
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
        let key = match place(&rec, self.tenant) {
            Ok(key) => key,
            Err(reason) => return self.reject(line, reason),
        };
        // The partition already resolved the tenant; reuse it rather than resolving again.
        let tenant_id = key.tenant.clone();
        let ingested_at_ns = self.ingested_at_ns;
        let (builder, kinds) = self.builder_for(pool, key);
        let sys = SystemFields {
            tenant_id: &tenant_id,
            ingested_at_ns,
            source: &rec.source,
            envelope: rec.envelope.as_ref(),
        };
        match builder.append(&rec.body, rec.log.time_column(), &sys) {
            Ok(_) => kinds.push(signin_kind(&rec)),
            Err(reason) => self.reject(line, reason),
        }
    }

    /// Stores a raw record (or a Graph list response page) through the fast path when it can
    /// ([`gatehouse_formats::fast`]); `false` when the general path must take it whole.
    fn fast(
        &mut self,
        state: &mut WorkerState,
        bytes: &[u8],
        line: u64,
        format: Option<InputFormat>,
    ) -> bool {
        let WorkerState { pool, tape } = state;
        // The direct path checks the text as UTF-8 as it reads it; the others need it checked.
        if matches!(format, None | Some(InputFormat::Graph)) && self.direct(tape, bytes) {
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
    /// the partition the previous fast record went to, if it belongs there; `false` (nothing
    /// stored) otherwise.
    fn direct(&mut self, tape: &mut Tape, text: &[u8]) -> bool {
        let Some(key) = self.last_fast.as_ref() else {
            return false;
        };
        let Some((builder, kinds)) = self.builders.get_mut(key) else {
            return false;
        };
        let sys = SystemFields {
            tenant_id: &key.tenant,
            ingested_at_ns: self.ingested_at_ns,
            source: "graph",
            envelope: None,
        };
        let forced = self.tenant;
        let same_partition = |row: &DirectRow<'_>| {
            let tenant_matches = match (forced, row.tenant_id) {
                (Some(_), _) => true,
                // `tenant_of` lower-cases the tenant a record names.
                (None, Some(named)) => named.eq_ignore_ascii_case(&key.tenant),
                (None, None) => key.tenant == DEFAULT_TENANT,
            };
            tenant_matches && row.log == key.log && day_of(row.time_ns) == key.day
        };
        match builder.append_direct(text, tape, &sys, same_partition) {
            Ok(row) => {
                kinds.push(row.signin_kind);
                self.out.records += 1;
                true
            }
            Err(_) => false,
        }
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
        if self.last_fast.as_ref() != Some(&key) {
            self.last_fast = Some(key.clone());
        }
        let (builder, kinds) = self.builder_for(pool, key);
        let sys = SystemFields {
            tenant_id: &sys_tenant,
            ingested_at_ns,
            source: "graph",
            envelope: None,
        };
        match builder.append_tape(tape, text, rec.object, time_column, time_ns, &sys) {
            Ok(_) => {
                kinds.push(rec.signin_kind);
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
fn convert_batch(
    batch: Batch,
    format: Option<InputFormat>,
    tenant: Option<&str>,
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
            }
        }
        Batch::Parsed { file, records } => {
            let mut b = BatchOut::new(file, tenant, ingested_at_ns);
            for (line, rec) in records {
                b.record(&mut state.pool, line, rec);
            }
            b
        }
        Batch::Raw { file, chunk } => {
            let mut b = BatchOut::new(file, tenant, ingested_at_ns);
            for (line, reason) in &chunk.rejected {
                b.record(&mut state.pool, *line, Err(reason.clone()));
            }
            let mut records = Vec::new();
            for item in &chunk.items {
                let bytes = chunk.bytes(item);
                if fast_path && b.fast(state, bytes, item.line, format) {
                    continue;
                }
                parse_item(bytes, item.line, format, &mut records);
                for (line, rec) in records.drain(..) {
                    b.record(&mut state.pool, line, rec);
                }
            }
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
    for (key, (mut builder, kinds)) in b.builders {
        let log = key.log;
        if !builder.is_empty() {
            let batch = builder.finish();
            b.out.parts.push(PartOut {
                key,
                keys: row_keys(&batch),
                batch,
                kinds,
            });
        }
        state.pool.give_back(log, builder);
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

/// The ingesting thread's state: dedup index, the channel to the writer thread, the summary.
struct Consumer<'w> {
    writer: &'w mut StoreWriter,
    rows_out: Option<crossbeam_channel::Sender<ToWriter>>,
    done: crossbeam_channel::Receiver<Result<WriteDone>>,
    index: IdIndex,
    /// Rows handed to the writer thread and not yet committed, per partition (the dedup index
    /// must not forget those partitions: their stored files lack these rows' keys).
    uncommitted: HashMap<PartitionKey, u64>,
    summary: IngestSummary,
    touched: std::collections::BTreeSet<PartitionKey>,
}

impl<'w> Consumer<'w> {
    fn new(
        writer: &'w mut StoreWriter,
        rows_out: crossbeam_channel::Sender<ToWriter>,
        done: crossbeam_channel::Receiver<Result<WriteDone>>,
    ) -> Self {
        Consumer {
            writer,
            rows_out: Some(rows_out),
            done,
            index: IdIndex::default(),
            uncommitted: HashMap::new(),
            summary: IngestSummary::default(),
            touched: Default::default(),
        }
    }

    /// Drops the rows whose ids are stored or seen already, and hands the rest to the writer
    /// thread; commits what it has finished meanwhile.
    fn accept(&mut self, c: Converted, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        self.commit_done(false, progress)?;
        self.summary.rejected.extend(c.rejected);
        for part in c.parts {
            let root = self.writer.store().root().to_path_buf();
            let known = self
                .index
                .partition(&root, self.writer.snapshot(), &part.key)?;
            let keep: Vec<bool> = part.keys.iter().map(|h| known.insert(*h)).collect();
            let kept = keep.iter().filter(|k| **k).count();
            self.summary.duplicates += (keep.len() - kept) as u64;
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
            self.summary.derived_ids += derived_ids(&batch);
            *self.uncommitted.entry(part.key.clone()).or_default() += kept as u64;
            let mut kinds = BTreeMap::new();
            for (k, kind) in keep.iter().zip(&part.kinds) {
                if let (true, Some(kind)) = (k, kind) {
                    *kinds.entry(*kind).or_default() += 1;
                }
            }
            self.send(
                ToWriter::Rows {
                    key: part.key,
                    batch,
                    kinds,
                },
                progress,
            )?;
        }
        let uncommitted = &self.uncommitted;
        self.index.shrink(|key| uncommitted.contains_key(key));
        Ok(())
    }

    /// Tells the writer thread to close every file, for the commits of the end.
    fn flush_all(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        self.send(ToWriter::CloseAll, progress)
    }

    fn send(&mut self, message: ToWriter, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        if let Some(out) = &self.rows_out {
            if out.send(message).is_err() {
                // The writer thread stopped: its error is waiting in `done`.
                self.finish(progress)?;
                return Err(IngestError::Invalid("the file writer stopped".into()));
            }
        }
        Ok(())
    }

    /// Commits every write the writer thread has finished (waiting for all when `wait`).
    fn commit_done(&mut self, wait: bool, progress: &mut dyn FnMut(Progress)) -> Result<()> {
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
            let done = done?;
            if done.added.is_empty() {
                continue;
            }
            self.summary.files_written += done.added.len() as u64;
            let mut changes: BTreeMap<(String, LogKind), TableChange> = BTreeMap::new();
            for file in done.added {
                changes
                    .entry((file.tenant.clone(), file.log))
                    .or_insert_with(|| TableChange {
                        tenant: file.tenant.clone(),
                        log: file.log,
                        added: Vec::new(),
                        removed: Vec::new(),
                        positions: Vec::new(),
                        kind: ChangeKind::Append,
                    })
                    .added
                    .push(file);
            }
            self.summary.commits += changes.len() as u64;
            self.writer.commit(changes.into_values().collect())?;
            for (key, rows, kinds) in done.parts {
                if let Some(n) = self.uncommitted.get_mut(&key) {
                    *n = n.saturating_sub(rows as u64);
                    if *n == 0 {
                        self.uncommitted.remove(&key);
                    }
                }
                *self.summary.stored.entry(key.log).or_default() += rows as u64;
                for (kind, n) in kinds {
                    *self.summary.signins_by_kind.entry(kind).or_default() += n;
                }
                self.touched.insert(key);
            }
            let stored = self.summary.total_stored();
            let generation = self.writer.snapshot().generation();
            tracing::info!(stored, generation, "committed");
            progress(Progress::Committed { stored, generation });
        }
    }

    /// Waits for the writer thread to finish and commits what it wrote.
    fn finish(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        self.rows_out = None;
        self.commit_done(true, progress)
    }
}
