//! Writing one partition's rows as Parquet files: one per sign-in type, sorted by event time,
//! LZ4-compressed, with column statistics (so engines skip row groups and pages outside a time
//! range), written to the staging folder, flushed, then moved into its partition folder.

use std::fs::{self, File};
use std::path::Path;
use std::sync::OnceLock;

use arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
use arrow::compute::{
    concat_batches, interleave_record_batch, sort_to_indices, take_record_batch, SortOptions,
};
use arrow::datatypes::{DataType, Field, Fields};
use arrow::record_batch::RecordBatch;
use gatehouse_model::{LogKind, SignInKind, TableSchema};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::layout::{self, PartitionKey, STAGING_DIR};
use crate::stats::FileStats;
use crate::string_chunks::{LeafPath, StringChunkWriter};
use crate::{io_err, Result, StoreError};
use crate::{sync_dir, DataFile};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Rows gathered before their columns are encoded (in parallel, one task per column).
const ENCODE_ROWS: usize = 8 * 1024;

/// …or sooner, once they take this much memory: a partition's files of rare sign-in types gather
/// their rows slowly, and each holding [`ENCODE_ROWS`] rows unencoded would crowd out the others.
const ENCODE_BYTES: usize = 16 << 20;

/// Columns whose values are (nearly) unique per row: a dictionary would only grow until Parquet
/// falls back to plain encoding.
const UNIQUE_COLUMNS: &[&str] = &[
    "id",
    "correlationId",
    "uniqueTokenIdentifier",
    "originalRequestId",
    "changeId",
];

/// The false-positive rate of the `id` column's bloom filter in each row group: about 10 bits
/// (1.2 bytes) per row, and a lookup by id reads one row group in a hundred that does not hold
/// the id.
const ID_BLOOM_FPP: f64 = 0.01;

/// The writer settings every Gatehouse file uses (built once).
///
/// - LZ4 (raw blocks): the columns are dictionary- and run-length-encoded before compression,
///   and LZ4 pages decompress several times faster than zstd's (a reader also makes no zstd
///   context per column chunk, which was a sixth of a Graph page's time), for files about 1.5
///   times the size of zstd level 1's (BENCHMARKS.md has the store size per record).
/// - Page statistics (min/max per page, so engines skip pages and row groups) for timestamp,
///   number and boolean columns: event times are what range queries prune on. String columns get
///   none: in time-ordered files their min/max span nearly the whole range and prune nothing, and
///   computing them was a tenth of the writer's time.
/// - No dictionary for identifiers unique per row and for the free-text JSON columns.
/// - A bloom filter on `id` in each row group ([`ID_BLOOM_FPP`]): ids are random, so min/max
///   statistics prune nothing, and without a filter a lookup by id decoded the id column of
///   every row group of every file (a sign-in's explanation on the 13.7M month took 356 ms).
pub fn writer_properties() -> WriterProperties {
    static PROPERTIES: OnceLock<WriterProperties> = OnceLock::new();
    PROPERTIES
        .get_or_init(|| {
            let mut builder = WriterProperties::builder()
                .set_compression(Compression::LZ4_RAW)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .set_statistics_enabled(EnabledStatistics::None)
                .set_created_by(format!("gatehouse {}", env!("CARGO_PKG_VERSION")))
                .set_column_dictionary_enabled(ColumnPath::from("_extra"), false)
                .set_column_dictionary_enabled(ColumnPath::from("_envelope"), false);
            for column in UNIQUE_COLUMNS {
                builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), false);
            }
            // A lookup by id reads the row groups whose filter may hold it.
            let id = ColumnPath::from("id");
            builder = builder
                .set_column_bloom_filter_enabled(id.clone(), true)
                .set_column_bloom_filter_max_ndv(id.clone(), ROW_GROUP_ROWS as u64)
                .set_column_bloom_filter_fpp(id, ID_BLOOM_FPP);
            for path in statistics_columns() {
                builder = builder.set_column_statistics_enabled(path, EnabledStatistics::Page);
            }
            builder.build()
        })
        .clone()
}

/// The columns of every table, outside lists and maps, that are timestamps, numbers or booleans.
fn statistics_columns() -> Vec<ColumnPath> {
    fn walk(fields: &Fields, prefix: &mut Vec<String>, out: &mut Vec<ColumnPath>) {
        for f in fields.iter() {
            prefix.push(f.name().clone());
            match f.data_type() {
                DataType::Struct(members) => walk(members, prefix, out),
                DataType::Timestamp(..)
                | DataType::Int32
                | DataType::Int64
                | DataType::Float64
                | DataType::Boolean => out.push(ColumnPath::new(prefix.clone())),
                _ => {}
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    for log in LogKind::ALL {
        walk(
            TableSchema::of(log).arrow_schema().fields(),
            &mut Vec::new(),
            &mut out,
        );
    }
    out
}

/// Sorts rows by the table's time column.
pub fn sort_by_time(batch: &RecordBatch, time_column: &str) -> Result<RecordBatch> {
    let Some(col) = batch.column_by_name(time_column) else {
        return Ok(batch.clone());
    };
    let indices = sort_to_indices(col, Some(SortOptions::default()), None).map_err(|e| {
        StoreError::Arrow {
            context: "sorting rows by time".into(),
            source: e,
        }
    })?;
    take_record_batch(batch, &indices).map_err(|e| StoreError::Arrow {
        context: "sorting rows by time".into(),
        source: e,
    })
}

/// Whether the rows of `batches`, taken in order, are already sorted by the time column.
pub fn is_sorted_by_time(batches: &[RecordBatch], time_column: &str) -> bool {
    let mut last = i64::MIN;
    for b in batches {
        let Some(times) = b
            .column_by_name(time_column)
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        else {
            return false;
        };
        if times.null_count() > 0 {
            return false;
        }
        for &t in times.values().iter() {
            if t < last {
                return false;
            }
            last = t;
        }
    }
    true
}

/// Writes `batches` (all of one partition) as new Parquet files in place (one per sign-in type, see
/// [`PartitionFile`]), returning their entries for the Delta log. The files are not live until a
/// commit names them. Rows already in time order
/// (the usual case: exports are chronological) are streamed to the file without copying, each
/// batch freed once encoded.
pub fn write_partition_file(
    root: &Path,
    key: &PartitionKey,
    batches: Vec<RecordBatch>,
) -> Result<Vec<DataFile>> {
    let time_column = key.log.time_column();
    if is_sorted_by_time(&batches, time_column) {
        return write_partition_stream(root, key, batches.into_iter().map(Ok));
    }
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    if let Some(runs) = time_order(key.log, &batches, time_column) {
        // The rows are taken from the batches in time order a group at a time, one sign-in
        // type after another: one copy of them at a time besides the batches (gathering them
        // into one batch and sorting that copied every row twice and held both copies, and
        // the file of each type then copied its rows out of the sorted groups once more).
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let sorted = runs
            .iter()
            .flat_map(|run| run.chunks(ENCODE_ROWS))
            .map(|rows| {
                interleave_record_batch(&refs, rows).map_err(|e| StoreError::Arrow {
                    context: "sorting rows by time".into(),
                    source: e,
                })
            });
        return write_partition_stream(root, key, sorted);
    }
    let all = concat_batches(&first.schema(), &batches).map_err(|e| StoreError::Arrow {
        context: "gathering rows".into(),
        source: e,
    })?;
    drop(batches);
    let sorted = sort_by_time(&all, time_column)?;
    drop(all);
    write_partition_stream(root, key, std::iter::once(Ok(sorted)))
}

/// The rows of `batches` in time order, as (batch, row) pairs, in one run per sign-in type
/// ([`PartitionFile`] writes a file per type; other logs have one run): rows without a time
/// first, rows of the same time in the order given. `None` when a batch has no time column of
/// microseconds.
fn time_order(
    log: LogKind,
    batches: &[RecordBatch],
    time_column: &str,
) -> Option<Vec<Vec<(usize, usize)>>> {
    let mut keyed: Vec<(u8, i64, u32, u32)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let times = batch
            .column_by_name(time_column)?
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()?;
        let kinds = if log == LogKind::SignIns {
            sign_in_kinds(batch)
        } else {
            vec![None; batch.num_rows()]
        };
        let b = u32::try_from(b).ok()?;
        keyed.reserve(times.len());
        for (row, (&t, kind)) in times.values().iter().zip(kinds).enumerate() {
            // Nulls sort first, as `sort_by_time` puts them.
            let t = if times.is_null(row) { i64::MIN } else { t };
            let kind = kind.map_or(0, |k| k as u8 + 1);
            keyed.push((kind, t, b, u32::try_from(row).ok()?));
        }
    }
    // Unique keys: an unstable sort orders them as a stable one would.
    keyed.sort_unstable();
    let mut runs: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut last_kind = None;
    for (kind, _, b, row) in keyed {
        if last_kind != Some(kind) {
            runs.push(Vec::new());
            last_kind = Some(kind);
        }
        if let Some(run) = runs.last_mut() {
            run.push((b as usize, row as usize));
        }
    }
    Some(runs)
}

/// Streams batches (all of one partition, in the order given) into new Parquet files in place;
/// memory stays at one row group per file whatever the number of rows.
pub fn write_partition_stream(
    root: &Path,
    key: &PartitionKey,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<Vec<DataFile>> {
    let mut file = PartitionFile::new(root, key);
    for batch in batches {
        file.append(&batch?)?;
    }
    file.finish()
}

/// The new Parquet files of one partition being written in the staging folder: rows go in as they
/// come (each batch encoded as soon as a group of rows is complete), and
/// [`PartitionFile::finish`] moves the files into their partition folder. Until then no reader
/// sees them, and a file left behind by a crash is removed by the next writer.
///
/// Sign-ins are written to one file per sign-in type (a row whose `signInEventTypes` is exactly
/// one of the four types goes to that type's file, any other row to a file of its own), so a
/// query for one type (Graph's `signIns` list shows interactive sign-ins unless asked otherwise)
/// reads only that type's files: service principal sign-ins are one in seven hundred of a
/// tenant's rows, interactive ones one in eleven. The type is in each file's `add` action
/// ([`DataFile::sign_in_kind`]).
pub struct PartitionFile {
    root: std::path::PathBuf,
    key: PartitionKey,
    /// The open files by sign-in type (one, under `None`, for other logs), in the order opened.
    files: Vec<OneFile>,
    /// A file is finished once it holds this many rows (and another opened for more of its type).
    max_rows: u64,
    /// Files finished and not yet taken ([`PartitionFile::take_finished`]).
    finished: Vec<DataFile>,
}

impl PartitionFile {
    /// The files for `key` under the store at `root` (created on disk with their first rows).
    pub fn new(root: &Path, key: &PartitionKey) -> PartitionFile {
        PartitionFile {
            root: root.to_path_buf(),
            key: key.clone(),
            files: Vec::new(),
            max_rows: u64::MAX,
            finished: Vec::new(),
        }
    }

    /// Finishes each file once it holds `rows` rows (by default a file takes every row of its
    /// type): the finished files wait for [`PartitionFile::take_finished`].
    pub fn with_max_rows(mut self, rows: u64) -> PartitionFile {
        self.max_rows = rows.max(1);
        self
    }

    /// The files that reached the row limit since the last call, finished (in their partition
    /// folder, not live until a commit names them).
    pub fn take_finished(&mut self) -> Vec<DataFile> {
        std::mem::take(&mut self.finished)
    }

    /// Appends rows; each file keeps its rows in the order appended.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let groups = if self.key.log == LogKind::SignIns {
            split_by_sign_in_kind(batch)?
        } else {
            vec![(None, batch.clone())]
        };
        for (kind, rows) in groups {
            let at = self.file(kind);
            let file = &mut self.files[at];
            file.append(&rows)?;
            if file.rows >= self.max_rows {
                let full = self.files.remove(at);
                self.finished.extend(full.finish()?);
            }
        }
        Ok(())
    }

    /// The position of the open file of a sign-in type, opened on first use.
    fn file(&mut self, kind: Option<SignInKind>) -> usize {
        match self.files.iter().position(|f| f.sign_in_kind == kind) {
            Some(at) => at,
            None => {
                self.files.push(OneFile::new(&self.root, &self.key, kind));
                self.files.len() - 1
            }
        }
    }

    /// Whether appending `batch` (sorted by time) keeps every file in time order: the first row
    /// of each sign-in type in it is no older than the latest row of that type's open file.
    pub fn keeps_time_order(&self, batch: &RecordBatch) -> bool {
        let Some(times) = batch
            .column_by_name(self.key.log.time_column())
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        else {
            return false;
        };
        if times.null_count() > 0 {
            return false;
        }
        let kinds = if self.key.log == LogKind::SignIns {
            sign_in_kinds(batch)
        } else {
            vec![None; batch.num_rows()]
        };
        let mut seen: Vec<Option<SignInKind>> = Vec::new();
        for (row, kind) in kinds.iter().enumerate() {
            if seen.contains(kind) {
                continue;
            }
            seen.push(*kind);
            let latest = self
                .files
                .iter()
                .find(|f| f.sign_in_kind == *kind)
                .map_or(i64::MIN, |f| f.max_time_ns);
            if times.value(row).saturating_mul(1000) < latest {
                return false;
            }
        }
        true
    }

    /// Memory the files hold while open: rows waiting to be encoded and the encoded pages of
    /// their open row groups.
    pub fn memory_size(&self) -> usize {
        self.files.iter().map(OneFile::memory_size).sum()
    }

    /// Writes the footers, flushes the files to disk and moves them into their partition folder;
    /// their entries for the Delta log (none if no rows were appended). They are not live until a
    /// commit names them.
    pub fn finish(self) -> Result<Vec<DataFile>> {
        let mut out = self.finished;
        for f in self.files {
            out.extend(f.finish()?);
        }
        Ok(out)
    }
}

/// The rows of a sign-in batch grouped by sign-in type ([`PartitionFile`]), each group in the
/// batch's order: the batch itself when all its rows are of one type (the usual case: every
/// export and connector delivers one type at a time), else a copy of each group's rows. (Copies,
/// not slices of one reordered batch: a file of a rare type holds its rows until it has a group
/// of them to encode, and a slice would keep the whole batch it came from in memory.)
fn split_by_sign_in_kind(batch: &RecordBatch) -> Result<Vec<(Option<SignInKind>, RecordBatch)>> {
    let kinds = sign_in_kinds(batch);
    let first = kinds.first().copied().flatten();
    if kinds.iter().all(|k| *k == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut groups: Vec<(Option<SignInKind>, Vec<u32>)> = Vec::new();
    for (row, kind) in kinds.iter().enumerate() {
        match groups.iter_mut().find(|(k, _)| k == kind) {
            Some((_, rows)) => rows.push(row as u32),
            None => groups.push((*kind, vec![row as u32])),
        }
    }
    groups
        .into_iter()
        .map(|(kind, rows)| {
            take_record_batch(batch, &arrow::array::UInt32Array::from(rows))
                .map(|rows| (kind, rows))
                .map_err(|e| StoreError::Arrow {
                    context: "grouping sign-ins by type".into(),
                    source: e,
                })
        })
        .collect()
}

/// Each row's sign-in type: `Some(kind)` when its `signInEventTypes` is exactly that one type's
/// Graph name, `None` otherwise (several, none, or another spelling). A batch without the column
/// is all `None`.
fn sign_in_kinds(batch: &RecordBatch) -> Vec<Option<SignInKind>> {
    use arrow::array::AsArray;
    let none = || vec![None; batch.num_rows()];
    let Some(list) = batch
        .column_by_name("signInEventTypes")
        .and_then(|c| c.as_list_opt::<i32>())
    else {
        return none();
    };
    let Some(values) = list.values().as_string_opt::<i32>() else {
        return none();
    };
    let offsets = list.value_offsets();
    (0..list.len())
        .map(|row| {
            let (lo, hi) = (offsets[row] as usize, offsets[row + 1] as usize);
            if list.is_null(row) || hi != lo + 1 || values.is_null(lo) {
                return None;
            }
            SignInKind::from_exact_graph_name(values.value(lo))
        })
        .collect()
}

/// One Parquet file being written in the staging folder (see [`PartitionFile`]).
struct OneFile {
    /// Every row's `signInEventTypes` is exactly this type (`None`: mixed, or not a sign-in).
    sign_in_kind: Option<SignInKind>,
    root: std::path::PathBuf,
    key: PartitionKey,
    name: String,
    tmp: std::path::PathBuf,
    writer: Option<ParallelFileWriter>,
    min_time_ns: i64,
    max_time_ns: i64,
    rows: u64,
    stats: FileStats,
}

impl OneFile {
    fn new(root: &Path, key: &PartitionKey, sign_in_kind: Option<SignInKind>) -> OneFile {
        let name = format!("part-{}.parquet", uuid::Uuid::new_v4().simple());
        OneFile {
            sign_in_kind,
            root: root.to_path_buf(),
            key: key.clone(),
            tmp: root.join(STAGING_DIR).join(&name),
            name,
            writer: None,
            min_time_ns: i64::MAX,
            max_time_ns: i64::MIN,
            rows: 0,
            stats: FileStats::new(key.log),
        }
    }

    /// Appends rows; the file keeps them in the order appended.
    fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (lo, hi) = time_range(batch, self.key.log.time_column());
        self.min_time_ns = self.min_time_ns.min(lo);
        self.max_time_ns = self.max_time_ns.max(hi);
        self.rows += batch.num_rows() as u64;
        self.stats.update(batch);
        if self.writer.is_none() {
            let staging = self.root.join(STAGING_DIR);
            fs::create_dir_all(&staging).map_err(io_err(&staging))?;
            let file = File::create(&self.tmp).map_err(io_err(&self.tmp))?;
            self.writer = Some(
                ParallelFileWriter::try_new(file, batch.schema())
                    .map_err(|e| parquet_err(&self.tmp, e))?,
            );
        }
        if let Some(w) = self.writer.as_mut() {
            w.write(batch).map_err(|e| parquet_err(&self.tmp, e))?;
        }
        Ok(())
    }

    /// Memory the file holds while open: rows waiting to be encoded and the encoded pages of its
    /// open row group.
    fn memory_size(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, ParallelFileWriter::memory_size)
    }

    /// Writes the footer, flushes the file to disk and moves it into its partition folder; its
    /// entry for the manifest (`None` if no rows were appended). It is not live until a commit
    /// names it.
    fn finish(self) -> Result<Option<DataFile>> {
        let Some(w) = self.writer else {
            return Ok(None);
        };
        let tmp = &self.tmp;
        let file = w.into_inner().map_err(|e| parquet_err(tmp, e))?;
        file.sync_all().map_err(io_err(tmp))?;
        drop(file);
        let bytes = fs::metadata(tmp).map_err(io_err(tmp))?.len();
        let dir = self.root.join(self.key.dir());
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let dest = dir.join(&self.name);
        fs::rename(tmp, &dest).map_err(io_err(&dest))?;
        sync_dir(&dir)?;
        Ok(Some(DataFile {
            path: layout::relative(&self.root, &dest),
            tenant: self.key.tenant.clone(),
            log: self.key.log,
            day: self.key.day,
            rows: self.rows,
            bytes,
            min_time_ns: self.min_time_ns,
            max_time_ns: self.max_time_ns,
            stats: self.stats.to_delta_json().into(),
            sign_in_kind: self.sign_in_kind,
        }))
    }
}

/// Writes a Parquet file like `parquet::arrow::ArrowWriter` (same settings, same Arrow schema in
/// the footer, row groups of [`ROW_GROUP_ROWS`]; it ignores the byte limit and content-defined
/// chunking, which Gatehouse's properties do not set), but encodes and compresses the columns of
/// each group of rows in parallel on rayon's pool, so writing uses every core instead of one, and
/// writes dictionary-encoded string leaves itself ([`crate::string_chunks`]). Memory stays at one
/// row group of encoded pages plus [`ENCODE_ROWS`] rows waiting to be encoded.
struct ParallelFileWriter {
    file: SerializedFileWriter<File>,
    /// The part of the schema arrow-rs writes (every field without the string leaves
    /// [`StringChunkWriter`] takes), in Arrow and in Parquet: column writers are made for it
    /// alone, not for leaves that would be thrown away (each held two zstd contexts).
    arrow_writers: ArrowRowGroupWriterFactory,
    props: std::sync::Arc<WriterProperties>,
    schema: arrow::datatypes::SchemaRef,
    /// How each top-level field's leaves are written.
    plans: Vec<FieldPlan>,
    /// Rows per row group (the writer properties' limit).
    row_group_rows: usize,
    /// The column writers of the row group being written, grouped by top-level field.
    open: Option<Vec<Vec<LeafWriter>>>,
    /// Rows encoded into the open row group.
    group_rows: usize,
    /// Rows waiting to be encoded (all belonging to the open row group).
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    /// Memory of the waiting rows.
    pending_bytes: usize,
    row_groups: usize,
}

/// How the leaves of one top-level field are written: string leaves by
/// [`StringChunkWriter`] (their paths), the others by arrow-rs (`None`).
struct FieldPlan {
    field: arrow::datatypes::FieldRef,
    leaves: Vec<Option<LeafPath>>,
    /// Whether arrow-rs writes every leaf (the column then goes to it as it is).
    all_arrow: bool,
}

impl FieldPlan {
    /// The part of `array` arrow-rs writes, with its field: the leaves it writes, in order.
    fn arrow_part(&self, array: &ArrayRef) -> Option<(Field, ArrayRef)> {
        if self.all_arrow {
            return Some((self.field.as_ref().clone(), array.clone()));
        }
        let keep: Vec<bool> = self.leaves.iter().map(Option::is_none).collect();
        project(&self.field, array, &keep, &mut 0)
    }
}

/// Keeps the leaves of `field` whose flags in `keep` (from position `at`, in leaf order) are set:
/// structs and lists without any kept leaf disappear. `None` when nothing is kept.
fn project(
    field: &Field,
    array: &ArrayRef,
    keep: &[bool],
    at: &mut usize,
) -> Option<(Field, ArrayRef)> {
    use arrow::array::{AsArray, ListArray, StructArray};
    match field.data_type() {
        DataType::Struct(children) => {
            let s = array.as_struct();
            let (mut fields, mut arrays) = (Vec::new(), Vec::new());
            for (child, column) in children.iter().zip(s.columns()) {
                if let Some((f, a)) = project(child, column, keep, at) {
                    fields.push(f);
                    arrays.push(a);
                }
            }
            if fields.is_empty() {
                return None;
            }
            let projected = StructArray::new(fields.clone().into(), arrays, s.nulls().cloned());
            Some((
                field
                    .clone()
                    .with_data_type(DataType::Struct(fields.into())),
                std::sync::Arc::new(projected),
            ))
        }
        DataType::List(item) => {
            let l = array.as_list::<i32>();
            let (f, values) = project(item, l.values(), keep, at)?;
            let f = std::sync::Arc::new(f);
            let projected =
                ListArray::new(f.clone(), l.offsets().clone(), values, l.nulls().cloned());
            Some((
                field.clone().with_data_type(DataType::List(f)),
                std::sync::Arc::new(projected),
            ))
        }
        _ => {
            // A leaf, or a type whose leaves are all kept (maps and the like: their string leaves
            // are never taken from arrow-rs).
            let n = LeafPath::leaves_of(field).len();
            let kept = keep[*at..*at + n].iter().all(|k| *k);
            *at += n;
            kept.then(|| (field.clone(), array.clone()))
        }
    }
}

/// The writer of one leaf of the open row group.
enum LeafWriter {
    Arrow(Box<ArrowColumnWriter>),
    Strings(Box<StringChunkWriter>),
}

/// A closed leaf, ready to append to the row group.
enum ClosedLeaf {
    Arrow(ArrowColumnChunk),
    Strings(bytes::Bytes, parquet::column::writer::ColumnCloseResult),
}

impl ParallelFileWriter {
    fn try_new(file: File, schema: arrow::datatypes::SchemaRef) -> parquet::errors::Result<Self> {
        let mut props = writer_properties();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let row_group_rows = props
            .max_row_group_row_count()
            .unwrap_or(ROW_GROUP_ROWS)
            .max(1);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        let props = std::sync::Arc::new(props);
        let file =
            SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), props.clone())?;
        let descriptors = file.schema_descr();
        let mut first_leaf = 0;
        let mut plans = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let count =
                compute_leaves(field, &arrow::array::new_empty_array(field.data_type()))?.len();
            let mut leaves = LeafPath::leaves_of(field);
            if leaves.len() != count {
                // Not a shape this writer follows: arrow-rs writes the whole field.
                leaves = vec![None; count];
            }
            for (n, leaf) in leaves.iter_mut().enumerate() {
                let descr = descriptors.column(first_leaf + n);
                let fits = leaf.as_ref().is_some_and(|path| {
                    StringChunkWriter::suits(&props, descr.path())
                        && descr.max_def_level() == path.max_def()
                        && descr.max_rep_level() == path.max_rep()
                });
                if !fits {
                    *leaf = None;
                }
            }
            first_leaf += count;
            plans.push(FieldPlan {
                field: field.clone(),
                all_arrow: leaves.iter().all(Option::is_none),
                leaves,
            });
        }
        let arrow_fields: Vec<Field> = plans
            .iter()
            .filter_map(|plan| {
                plan.arrow_part(&arrow::array::new_empty_array(plan.field.data_type()))
                    .map(|(field, _)| field)
            })
            .collect();
        let arrow_schema = std::sync::Arc::new(arrow::datatypes::Schema::new(arrow_fields));
        let arrow_parquet = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&arrow_schema)?;
        // The factory takes its Parquet schema from a file writer: one over a sink, for the part
        // of the schema arrow-rs writes (its leaves have the same descriptors as in the file).
        let sink = SerializedFileWriter::new(
            std::io::sink(),
            arrow_parquet.root_schema_ptr(),
            props.clone(),
        )?;
        let arrow_writers = ArrowRowGroupWriterFactory::new(&sink, arrow_schema);
        Ok(ParallelFileWriter {
            file,
            arrow_writers,
            props,
            schema,
            plans,
            row_group_rows,
            open: None,
            group_rows: 0,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            row_groups: 0,
        })
    }

    /// Memory held: the rows waiting to be encoded and the open row group's encoded pages.
    fn memory_size(&self) -> usize {
        let pending = self.pending_bytes;
        let open: usize = self
            .open
            .iter()
            .flatten()
            .flatten()
            .map(|w| match w {
                LeafWriter::Arrow(w) => w.memory_size(),
                LeafWriter::Strings(w) => w.memory_size(),
            })
            .sum();
        pending + open
    }

    fn write(&mut self, batch: &RecordBatch) -> parquet::errors::Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(parquet::errors::ParquetError::General(format!(
                "a batch with columns {:?} does not fit a file of {:?}",
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>(),
                self.schema
                    .fields()
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>(),
            )));
        }
        let mut offset = 0;
        while offset < batch.num_rows() {
            let room = self.row_group_rows - self.group_rows - self.pending_rows;
            let take = room.min(batch.num_rows() - offset);
            let rows = batch.slice(offset, take);
            self.pending_bytes += rows.get_array_memory_size();
            self.pending.push(rows);
            self.pending_rows += take;
            offset += take;
            if self.group_rows + self.pending_rows == self.row_group_rows {
                self.close_row_group()?;
            } else if self.pending_rows >= ENCODE_ROWS || self.pending_bytes >= ENCODE_BYTES {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    /// Encodes the waiting rows into the open row group, one task per top-level column.
    fn encode_pending(&mut self) -> parquet::errors::Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        if self.open.is_none() {
            let mut writers = self
                .arrow_writers
                .create_column_writers(self.row_groups)?
                .into_iter();
            let descriptors = self.file.schema_descr();
            let mut leaf = 0;
            let mut grouped = Vec::with_capacity(self.plans.len());
            for plan in &self.plans {
                let mut group = Vec::with_capacity(plan.leaves.len());
                for path in &plan.leaves {
                    group.push(match path {
                        None => LeafWriter::Arrow(Box::new(writers.next().ok_or_else(|| {
                            parquet::errors::ParquetError::General(
                                "fewer column writers than leaves".into(),
                            )
                        })?)),
                        Some(path) => LeafWriter::Strings(Box::new(StringChunkWriter::new(
                            descriptors.column(leaf),
                            path.clone(),
                            &self.props,
                        )?)),
                    });
                    leaf += 1;
                }
                grouped.push(group);
            }
            self.open = Some(grouped);
        }
        let open = self.open.as_mut().expect("opened above");
        let plans = &self.plans;
        let pending = &self.pending;
        open.par_iter_mut().enumerate().try_for_each(
            |(f, writers)| -> parquet::errors::Result<()> {
                let plan = &plans[f];
                for batch in pending {
                    let column = batch.column(f);
                    if let Some((field, array)) = plan.arrow_part(column) {
                        let leaves = compute_leaves(&field, &array)?;
                        let arrow = writers.iter_mut().filter_map(|w| match w {
                            LeafWriter::Arrow(w) => Some(w),
                            LeafWriter::Strings(_) => None,
                        });
                        for (writer, leaf) in arrow.zip(leaves) {
                            writer.write(&leaf)?;
                        }
                    }
                    for writer in writers.iter_mut() {
                        if let LeafWriter::Strings(w) = writer {
                            w.write(column.as_ref())?;
                        }
                    }
                }
                Ok(())
            },
        )?;
        self.group_rows += self.pending_rows;
        self.pending.clear();
        self.pending_rows = 0;
        self.pending_bytes = 0;
        Ok(())
    }

    /// Finishes the open row group (its column chunks closed in parallel) and appends it.
    fn close_row_group(&mut self) -> parquet::errors::Result<()> {
        self.encode_pending()?;
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let closed: Vec<Vec<ClosedLeaf>> = open
            .into_par_iter()
            .map(|writers| {
                writers
                    .into_iter()
                    .map(|w| match w {
                        LeafWriter::Arrow(w) => (*w).close().map(ClosedLeaf::Arrow),
                        LeafWriter::Strings(w) => w
                            .close()
                            .map(|(bytes, close)| ClosedLeaf::Strings(bytes, close)),
                    })
                    .collect()
            })
            .collect::<parquet::errors::Result<_>>()?;
        let mut row_group = self.file.next_row_group()?;
        for leaf in closed.into_iter().flatten() {
            match leaf {
                ClosedLeaf::Arrow(chunk) => chunk.append_to_row_group(&mut row_group)?,
                ClosedLeaf::Strings(bytes, close) => row_group.append_column(&bytes, close)?,
            }
        }
        row_group.close()?;
        self.row_groups += 1;
        self.group_rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the file.
    fn into_inner(mut self) -> parquet::errors::Result<File> {
        self.close_row_group()?;
        self.file.into_inner()
    }
}

/// The earliest and latest event time of the rows, ns since the epoch.
fn time_range(batch: &RecordBatch, time_column: &str) -> (i64, i64) {
    let Some(times) = batch
        .column_by_name(time_column)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
    else {
        return (i64::MIN, i64::MAX);
    };
    let valid = || {
        (0..times.len())
            .filter(|i| times.is_valid(*i))
            .map(|i| times.value(i).saturating_mul(1000))
    };
    (
        valid().min().unwrap_or(i64::MIN),
        valid().max().unwrap_or(i64::MAX),
    )
}

fn parquet_err(path: &Path, e: parquet::errors::ParquetError) -> StoreError {
    StoreError::Parquet {
        context: path.display().to_string(),
        source: e,
    }
}

/// Streams the rows of a live file, `batch_rows` at a time.
fn file_batches_of(
    path: &Path,
    batch_rows: usize,
) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let file = File::open(path).map_err(io_err(path))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| parquet_err(path, e))?
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| parquet_err(path, e))?;
    let context = path.display().to_string();
    Ok(reader.map(move |b| {
        b.map_err(|e| StoreError::Arrow {
            context: context.clone(),
            source: e,
        })
    }))
}

/// Streams the rows of a live file, a few thousand at a time (for compaction).
pub fn file_batches(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    file_batches_of(path, 8 * 1024)
}

/// Reads every row of a live file (for retention).
pub fn read_file(path: &Path) -> Result<Vec<RecordBatch>> {
    file_batches_of(path, ROW_GROUP_ROWS)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::properties::EnabledStatistics;

    /// Batches of `log` with only an id, a time and (sign-ins) a type per row; the other
    /// columns null.
    fn batches_of(log: LogKind, runs: &[&[(Option<i64>, &str, &str)]]) -> Vec<RecordBatch> {
        use arrow::array::{new_null_array, ListArray, StringArray};
        use arrow::buffer::OffsetBuffer;
        let schema = TableSchema::of(log).arrow_schema();
        runs.iter()
            .map(|rows| {
                let columns = schema
                    .fields()
                    .iter()
                    .map(|f| -> ArrayRef {
                        match (f.name().as_str(), f.data_type()) {
                            (name, DataType::Timestamp(_, tz)) if name == log.time_column() => {
                                let t: TimestampMicrosecondArray =
                                    rows.iter().map(|(t, _, _)| *t).collect();
                                std::sync::Arc::new(t.with_timezone_opt(tz.clone()))
                            }
                            ("id", _) => std::sync::Arc::new(StringArray::from_iter_values(
                                rows.iter().map(|(_, id, _)| *id),
                            )),
                            ("signInEventTypes", DataType::List(item)) => {
                                std::sync::Arc::new(ListArray::new(
                                    item.clone(),
                                    OffsetBuffer::from_lengths(rows.iter().map(|_| 1)),
                                    std::sync::Arc::new(StringArray::from_iter_values(
                                        rows.iter().map(|(_, _, kind)| *kind),
                                    )),
                                    None,
                                ))
                            }
                            _ => new_null_array(f.data_type(), rows.len()),
                        }
                    })
                    .collect();
                RecordBatch::try_new(schema.clone(), columns).unwrap()
            })
            .collect()
    }

    /// Every file's ids, in file order, by sign-in type.
    fn written(log: LogKind, batches: Vec<RecordBatch>) -> Vec<(Option<SignInKind>, Vec<String>)> {
        use arrow::array::StringArray;
        assert!(!is_sorted_by_time(&batches, log.time_column()));
        let dir = tempfile::tempdir().unwrap();
        let key = PartitionKey {
            tenant: "contoso".into(),
            log,
            day: 20_000,
        };
        let files = write_partition_file(dir.path(), &key, batches).unwrap();
        let mut out: Vec<(Option<SignInKind>, Vec<String>)> = files
            .iter()
            .map(|f| {
                let back = read_file(&dir.path().join(&f.path)).unwrap();
                let ids: Vec<String> = back
                    .iter()
                    .flat_map(|b| {
                        let ids = b.column_by_name("id").unwrap();
                        let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
                        ids.iter()
                            .map(|v| v.unwrap().to_string())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                assert_eq!(f.rows as usize, ids.len());
                (f.sign_in_kind, ids)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn rows_out_of_time_order_are_written_in_time_order() {
        // Three runs, each in time order, that interleave (as a topic's partitions do), with
        // ties and a row without a time.
        let a: &[(Option<i64>, &str, &str)] = &[
            (Some(10), "a1", ""),
            (Some(30), "a2", ""),
            (Some(50), "a3", ""),
        ];
        let b: &[(Option<i64>, &str, &str)] = &[
            (None, "b0", ""),
            (Some(20), "b1", ""),
            (Some(30), "b2", ""),
            (Some(60), "b3", ""),
        ];
        let c: &[(Option<i64>, &str, &str)] = &[
            (Some(5), "c1", ""),
            (Some(30), "c2", ""),
            (Some(40), "c3", ""),
        ];
        let files = written(LogKind::Audits, batches_of(LogKind::Audits, &[a, b, c]));
        // Rows without a time first; ties in the order the runs were given.
        let want: Vec<String> = ["b0", "c1", "a1", "b1", "a2", "b2", "c2", "c3", "a3", "b3"]
            .map(String::from)
            .into();
        assert_eq!(files, vec![(None, want)]);
    }

    #[test]
    fn sign_ins_out_of_time_order_are_written_in_time_order_one_file_per_type() {
        let (i, n, s) = ("interactiveUser", "nonInteractiveUser", "servicePrincipal");
        let a: &[(Option<i64>, &str, &str)] = &[
            (Some(10), "a1", i),
            (Some(30), "a2", n),
            (Some(50), "a3", i),
        ];
        let b: &[(Option<i64>, &str, &str)] = &[
            (Some(5), "b1", n),
            (Some(20), "b2", i),
            (Some(40), "b3", "bogus"),
            (Some(60), "b4", s),
        ];
        let files = written(LogKind::SignIns, batches_of(LogKind::SignIns, &[a, b]));
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            files,
            vec![
                (None, ids(&["b3"])),
                (Some(SignInKind::InteractiveUser), ids(&["a1", "b2", "a3"])),
                (Some(SignInKind::NonInteractiveUser), ids(&["b1", "a2"])),
                (Some(SignInKind::ServicePrincipal), ids(&["b4"])),
            ]
        );
    }

    #[test]
    fn statistics_for_times_and_numbers_not_for_strings() {
        let props = writer_properties();
        let stats = |path: &str| {
            props.statistics_enabled(&ColumnPath::new(
                path.split('.').map(str::to_string).collect(),
            ))
        };
        for path in [
            "createdDateTime",
            "activityDateTime",
            "_ingestedAt",
            "status.errorCode",
            "isInteractive",
            "location.geoCoordinates.latitude",
        ] {
            assert_eq!(stats(path), EnabledStatistics::Page, "{path}");
        }
        for path in ["userPrincipalName", "id", "status.failureReason", "_extra"] {
            assert_eq!(stats(path), EnabledStatistics::None, "{path}");
        }
        assert!(!props.dictionary_enabled(&ColumnPath::from("id")));
        assert!(props.dictionary_enabled(&ColumnPath::from("appDisplayName")));
    }
}
