//! Day partials: a question's grouped rows for one UTC day, kept while that day's files stay
//! the same.
//!
//! A question groups sign-ins (by application and user, by browser, OS and user, …) and folds
//! the groups into its report. Over a long period most of the work is grouping days that have
//! not changed since the last time: [`DayPartials`] keeps each whole day's groups, keyed by the
//! question (its SQL and parameters), the tenant, the day, and a fingerprint of the day's live
//! files. A day whose files change (records arrive for it, late or not; compaction or retention
//! rewrites it) has another fingerprint and is grouped again, so answers are exactly those of
//! grouping the whole period at once: the files are the truth, and a duplicate record never
//! reaches them. The period's partial days at its two ends are grouped every time, with their
//! exact bounds. Memory is bounded (least recently used days go first, once idle for a minute;
//! the others are read from their files). A question with filters
//! whose groups carry the filtered columns ([`Narrow`]) is answered from the days kept without
//! them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use chrono::{DateTime, Utc};
use datafusion::scalar::ScalarValue;
use gatehouse_model::LogKind;
use gatehouse_query::QueryEngine;

use crate::questions::{run, timestamp};
use crate::{Period, Result};

const DAY_US: i64 = 86_400_000_000;

/// What a question reads: an engine over one snapshot (seeing `tenant`'s rows, or every
/// tenant's), and a server's [`DayPartials`] when there is one.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The engine.
    pub engine: &'a QueryEngine,
    /// The tenant the engine sees (`None`: every tenant).
    pub tenant: Option<&'a str>,
    /// Grouped days kept between questions (`None`: group everything each time).
    pub partials: Option<&'a DayPartials>,
}

impl<'a> Source<'a> {
    /// A source without kept days (a one-shot command).
    pub fn new(engine: &'a QueryEngine, tenant: Option<&'a str>) -> Source<'a> {
        Source {
            engine,
            tenant,
            partials: None,
        }
    }
}

type Key = (String, String, i64, u64);

/// Where servers and `gatehouse ask` keep grouped days ([`DayPartials::with_dir`]) in the data
/// directory `data`: `_gatehouse/insights/`.
pub fn kept_days_dir(data: &Path) -> PathBuf {
    data.join(gatehouse_store::layout::STATE_DIR)
        .join("insights")
}

/// The question (its SQL and parameters) and the tenant a kept day's file was written for.
const QUESTION_METADATA: &str = "gatehouse.question";
const TENANT_METADATA: &str = "gatehouse.tenant";

struct Entry {
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// When it was last used.
    used_at: std::time::Instant,
}

/// A kept day used within this long is not pushed out for another: when the days the questions
/// read together outgrow the memory, least-recently-used eviction would push out each day just
/// before it is read again (every answer reading every day from its file); instead the days
/// already kept stay, and the others are read from their files until the kept ones fall idle.
const EVICTABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Grouped rows of whole days, bounded in memory, and kept in files under a folder when given
/// one ([`DayPartials::with_dir`]).
pub struct DayPartials {
    max_bytes: usize,
    /// [`EVICTABLE_AFTER`] (shorter in tests).
    evictable_after: std::time::Duration,
    dir: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

impl DayPartials {
    /// Keeps at most `max_bytes` of grouped rows.
    pub fn new(max_bytes: usize) -> DayPartials {
        DayPartials {
            max_bytes,
            evictable_after: EVICTABLE_AFTER,
            dir: None,
            state: Mutex::default(),
        }
    }

    /// Also keeps each day's groups in a file under `dir` (an Arrow IPC file per question,
    /// tenant, day and fingerprint of the day's files), so that they outlive the process: a
    /// server after a restart and `gatehouse ask` read them instead of grouping the days again.
    /// A file is only ever read for the same question over the same files, so it is exact or
    /// unused; when a day's files change, its older file is deleted as the new one is written.
    /// The files are a cache: deleting the folder costs only the grouping again.
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> DayPartials {
        self.dir = Some(dir.into());
        self
    }

    /// The memory the kept days hold.
    pub fn memory_bytes(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }

    /// Days answered from kept days (in memory or in files) and days grouped, since the start.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.hits, s.misses)
    }

    fn get(&self, key: &Key) -> Option<Vec<RecordBatch>> {
        let found = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.entries.get_mut(key).map(|e| {
                e.used_at = std::time::Instant::now();
                e.batches.clone()
            })
        };
        let found = found.or_else(|| {
            let batches = self.read(key)?;
            self.keep(key.clone(), batches.clone());
            Some(batches)
        });
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if found.is_some() {
            s.hits += 1;
        } else {
            s.misses += 1;
        }
        found
    }

    /// Keeps `batches` (in memory and in a file) as [`compacted`] batches, which it returns.
    fn put(&self, key: Key, batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
        let batches: Vec<RecordBatch> = batches.iter().map(compacted).collect();
        self.write(&key, &batches);
        self.keep(key, batches.clone());
        batches
    }

    /// The file of `key`'s day: `dir/<question and tenant>/<day>-<fingerprint>.arrow`.
    fn path(&self, key: &Key) -> Option<PathBuf> {
        let (question, tenant, day, fingerprint) = key;
        let folder = xxhash_rust::xxh3::xxh3_64(format!("{question}\0{tenant}").as_bytes());
        Some(
            self.dir
                .as_ref()?
                .join(format!("{folder:016x}"))
                .join(format!("{day}-{fingerprint:016x}.arrow")),
        )
    }

    /// The batches kept in `key`'s file, if there is one written for this very question.
    fn read(&self, key: &Key) -> Option<Vec<RecordBatch>> {
        let path = self.path(key)?;
        let file = std::fs::File::open(&path).ok()?;
        let read = || -> std::result::Result<Vec<RecordBatch>, arrow::error::ArrowError> {
            let reader = FileReader::try_new(std::io::BufReader::new(file), None)?;
            let meta = reader.custom_metadata();
            let same = meta.get(QUESTION_METADATA) == Some(&key.0)
                && meta.get(TENANT_METADATA) == Some(&key.1);
            if !same {
                return Err(arrow::error::ArrowError::InvalidArgumentError(
                    "written for another question".into(),
                ));
            }
            reader.collect()
        };
        match read() {
            Ok(batches) => Some(batches),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "kept day not read");
                None
            }
        }
    }

    /// Writes `key`'s file (whole or not at all: a temporary file renamed), and deletes the
    /// files of the same day written over other files.
    fn write(&self, key: &Key, batches: &[RecordBatch]) {
        let Some(path) = self.path(key) else { return };
        let write = || -> std::result::Result<(), Box<dyn std::error::Error>> {
            let folder = path.parent().ok_or("no folder")?;
            std::fs::create_dir_all(folder)?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let schema = batches
                .first()
                .map(RecordBatch::schema)
                .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty()));
            // Not compressed: read back at memory speed (LZ4 made reading a day 3x slower).
            let options = IpcWriteOptions::default();
            let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let mut writer = FileWriter::try_new_with_options(file, &schema, options)?;
            writer.write_metadata(QUESTION_METADATA, key.0.clone());
            writer.write_metadata(TENANT_METADATA, key.1.clone());
            for b in batches {
                writer.write(b)?;
            }
            writer
                .into_inner()?
                .into_inner()
                .map_err(|e| e.into_error())?
                .sync_all()?;
            std::fs::rename(&tmp, &path)?;
            let day = format!("{}-", key.2);
            let name = path.file_name().map(|n| n.to_os_string());
            for entry in std::fs::read_dir(folder)?.flatten() {
                let other = entry.file_name();
                if Some(&other) != name.as_ref() && other.to_string_lossy().starts_with(&day) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "keeping a grouped day in a file");
        }
    }

    /// Forgets the kept days for which `live(tenant, day)` is false (retention removed the day's
    /// files: no question can ask for those groups again), in memory and in files, and deletes
    /// temporary files a crash left behind (older than ten minutes). Returns the files deleted.
    pub fn sweep(&self, live: &dyn Fn(&str, i64) -> bool) -> usize {
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let gone: Vec<Key> = s
                .entries
                .keys()
                .filter(|(_, tenant, day, _)| !live(tenant, *day))
                .cloned()
                .collect();
            for key in gone {
                if let Some(e) = s.entries.remove(&key) {
                    s.bytes -= e.bytes;
                }
            }
        }
        let Some(dir) = &self.dir else { return 0 };
        let Ok(folders) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut deleted = 0;
        for folder in folders.flatten().filter(|f| f.path().is_dir()) {
            let Ok(files) = std::fs::read_dir(folder.path()) else {
                continue;
            };
            let files: Vec<PathBuf> = files.flatten().map(|f| f.path()).collect();
            // One folder holds one question of one tenant: any of its files names the tenant.
            let tenant = files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
                .find_map(|p| {
                    let reader = FileReader::try_new(std::fs::File::open(p).ok()?, None).ok()?;
                    reader.custom_metadata().get(TENANT_METADATA).cloned()
                });
            for path in &files {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let stale = if path.extension().is_some_and(|e| e == "arrow") {
                    let day = name.split('-').next().and_then(|d| d.parse::<i64>().ok());
                    matches!((&tenant, day), (Some(t), Some(day)) if !live(t, day))
                } else {
                    name.contains(".tmp")
                        && path
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age > std::time::Duration::from_secs(600))
                };
                if stale && std::fs::remove_file(path).is_ok() {
                    deleted += 1;
                }
            }
        }
        deleted
    }

    /// Keeps `batches` in memory within the bound: days used least recently make room if they
    /// went unused for [`EVICTABLE_AFTER`]; if that does not make room, the day is not kept.
    fn keep(&self, key: Key, batches: Vec<RecordBatch>) {
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        if bytes > self.max_bytes / 4 {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = s.entries.remove(&key) {
            s.bytes -= old.bytes;
        }
        while s.bytes + bytes > self.max_bytes {
            let Some(oldest) = s
                .entries
                .iter()
                .filter(|(_, e)| e.used_at.elapsed() >= self.evictable_after)
                .min_by_key(|(_, e)| e.used_at)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            if let Some(e) = s.entries.remove(&oldest) {
                s.bytes -= e.bytes;
            }
        }
        s.entries.insert(
            key,
            Entry {
                batches,
                bytes,
                used_at: std::time::Instant::now(),
            },
        );
        s.bytes += bytes;
    }
}

/// The extra column a question's SQL selects when asked to group by day too.
pub(crate) fn day_column(by_day: bool) -> &'static str {
    if by_day {
        ", CAST(createdDateTime AS BIGINT) / 86400000000 AS _day"
    } else {
        ""
    }
}

/// What a question's `GROUP BY` gets when asked to group by day too (`has_group_by`: whether it
/// groups already).
pub(crate) fn day_group(by_day: bool, has_group_by: bool) -> &'static str {
    match (by_day, has_group_by) {
        (false, _) => "",
        (true, true) => ", _day",
        (true, false) => " GROUP BY _day",
    }
}

/// The question's SQL for a time condition, grouped by day too (an `_day` column, days since
/// 1970) when asked.
pub(crate) type QuestionSql<'a> = dyn Fn(&str, bool) -> String + Sync + 'a;

/// The grouped rows of `period`: `sql(condition, by_day)` is the question's SQL with
/// `condition` (a time range on `createdDateTime`) in its `WHERE`. With day partials, whole UTC
/// days come from them; the days not kept are grouped in one scan (grouped by day too, then
/// split and kept), and the partial days at the ends are grouped with their exact bounds;
/// callers fold rows of one group appearing in several days.
pub(crate) async fn grouped(
    src: &Source<'_>,
    period: Period,
    sql: &QuestionSql<'_>,
    params: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    grouped_narrowed(src, period, sql, params, None).await
}

/// How a question with filters is answered from the days kept for it without them: its groups
/// carry the columns the filters test (`f_appId`, `f_userPrincipalName`, …), so the rows of the
/// kept days that pass the filters are exactly those the filtered SQL would have grouped.
pub(crate) struct Narrow<'a> {
    /// The question's SQL without the filters: what the days are kept as.
    pub sql: &'a QuestionSql<'a>,
    /// The filters as a condition on the groups' columns, with parameters `$1`….
    pub condition: String,
    /// The parameters.
    pub params: Vec<ScalarValue>,
}

/// [`grouped`], answering from the days kept without filters when a server keeps days and
/// `narrow` says how (a question with filters): the groups of `narrow.sql` that pass
/// `narrow.condition`. The same rows as grouping with the filters, since the condition tests
/// the group keys the filtered SQL tests on every row.
pub(crate) async fn grouped_narrowed(
    src: &Source<'_>,
    period: Period,
    sql: &QuestionSql<'_>,
    params: Vec<ScalarValue>,
    narrow: Option<&Narrow<'_>>,
) -> Result<Vec<RecordBatch>> {
    let (from, to) = (period.from_micros(), period.to_micros());
    let first_whole = from.div_euclid(DAY_US) + i64::from(from.rem_euclid(DAY_US) != 0);
    let whole_days = first_whole < to.div_euclid(DAY_US);
    match narrow {
        Some(n) if src.partials.is_some() && whole_days => {
            let kept = grouped_days(src, period, n.sql, Vec::new()).await?;
            matching(kept, &n.condition, n.params.clone()).await
        }
        _ => grouped_days(src, period, sql, params).await,
    }
}

/// The rows of `batches` (one schema) that pass the SQL `condition` over their columns.
async fn matching(
    batches: Vec<RecordBatch>,
    condition: &str,
    params: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    // The columns of the first batch (the kept days carry `_day` besides the edge days'
    // columns, and edge days come first), with the types of the last (the kept days come last,
    // dictionary-encoded: the edge days' columns are cast to them).
    let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
        return Ok(Vec::new());
    };
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(
        first
            .schema()
            .fields()
            .iter()
            .map(|f| match last.schema().field_with_name(f.name()) {
                Ok(kept) => f.as_ref().clone().with_data_type(kept.data_type().clone()),
                Err(_) => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    // The batches as they are (copying a month of groups into one was most of a filtered
    // answer's time), each with those columns, split between two partitions so that both
    // cores filter.
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(), Vec::new()];
    for (i, b) in batches.iter().enumerate() {
        let columns = schema
            .fields()
            .iter()
            .map(
                |f| -> std::result::Result<
                    arrow::array::ArrayRef,
                    datafusion::error::DataFusionError,
                > {
                    let c = b.column_by_name(f.name()).ok_or_else(|| {
                        datafusion::error::DataFusionError::Internal(format!(
                            "kept groups without the column {}",
                            f.name()
                        ))
                    })?;
                    if c.data_type() == f.data_type() {
                        return Ok(std::sync::Arc::clone(c));
                    }
                    Ok(cast_through_utf8(c, f.data_type())?)
                },
            )
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let b = RecordBatch::try_new(schema.clone(), columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        parts[i % 2].push(b);
    }
    let table = datafusion::datasource::MemTable::try_new(schema, parts)?;
    let config = datafusion::prelude::SessionConfig::new()
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
    let ctx = datafusion::prelude::SessionContext::new_with_config(config);
    ctx.register_table("kept", std::sync::Arc::new(table))?;
    let sql = format!("SELECT * FROM kept WHERE {condition}");
    Ok(crate::questions::planned(&ctx, &sql, params)
        .await?
        .collect()
        .await?)
}

/// [`grouped`] itself.
async fn grouped_days(
    src: &Source<'_>,
    period: Period,
    sql: &QuestionSql<'_>,
    params: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    let range = |from: i64, to: i64| {
        format!(
            "createdDateTime >= {} AND createdDateTime < {}",
            timestamp(micros_time(from)),
            timestamp(micros_time(to))
        )
    };
    let (from, to) = (period.from_micros(), period.to_micros());
    let first_whole = from.div_euclid(DAY_US) + i64::from(from.rem_euclid(DAY_US) != 0);
    let end_whole = to.div_euclid(DAY_US);
    let Some(partials) = src.partials.filter(|_| first_whole < end_whole) else {
        return run(src.engine, &sql(&range(from, to), false), params).await;
    };
    let mut out = Vec::new();
    if from < first_whole * DAY_US {
        let edge = range(from, first_whole * DAY_US);
        out.extend(run(src.engine, &sql(&edge, false), params.clone()).await?);
    }
    if end_whole * DAY_US < to {
        let edge = range(end_whole * DAY_US, to);
        out.extend(run(src.engine, &sql(&edge, false), params.clone()).await?);
    }
    let question = format!("{}{params:?}", sql("", false));
    let tenant = src.tenant.unwrap_or("").to_ascii_lowercase();
    let snapshot = src.engine.snapshot();
    // The whole days that have files (a day without any has no rows).
    let mut days: std::collections::BTreeMap<i64, Vec<&str>> = Default::default();
    for f in snapshot.files_for(LogKind::SignIns, src.tenant, None) {
        let day = i64::from(f.day);
        if (first_whole..end_whole).contains(&day) {
            days.entry(day).or_default().push(f.path.as_str());
        }
    }
    let mut missing = Vec::new();
    for (day, mut paths) in days {
        paths.sort_unstable();
        let fingerprint = xxhash_rust::xxh3::xxh3_64(paths.join("\n").as_bytes());
        let key = (question.clone(), tenant.clone(), day, fingerprint);
        match partials.get(&key) {
            Some(batches) => out.extend(batches),
            None => missing.push((day, key)),
        }
    }
    let (Some((lo, _)), Some((hi, _))) = (missing.first(), missing.last()) else {
        return Ok(out);
    };
    // One scan over the days not kept, grouped by day too, then split into the days.
    let list = missing
        .iter()
        .map(|(d, _)| d.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let condition = format!(
        "{} AND CAST(createdDateTime AS BIGINT) / 86400000000 IN ({list})",
        range(lo * DAY_US, (hi + 1) * DAY_US)
    );
    let scanned = run(src.engine, &sql(&condition, true), params).await?;
    for (day, key) in missing {
        let mut parts = Vec::new();
        for b in &scanned {
            let Some(days) = b
                .column_by_name("_day")
                .and_then(|c| c.as_primitive_opt::<Int64Type>())
            else {
                continue;
            };
            let mask =
                arrow::compute::kernels::cmp::eq(days, &arrow::array::Int64Array::new_scalar(day))
                    .map_err(datafusion::error::DataFusionError::from)?;
            let part = arrow::compute::filter_record_batch(b, &mask)
                .map_err(datafusion::error::DataFusionError::from)?;
            if part.num_rows() > 0 {
                parts.push(part);
            }
        }
        // One batch of exactly the day's rows (filtering copies them out of the scan's).
        let batches = match parts.first().map(RecordBatch::schema) {
            Some(schema) => vec![arrow::compute::concat_batches(&schema, &parts)
                .map_err(datafusion::error::DataFusionError::from)?],
            None => Vec::new(),
        };
        out.extend(partials.put(key, batches));
    }
    Ok(out)
}

/// `batch` with its strings dictionary-encoded (`Dictionary(Int32, Utf8)`): a day's groups
/// repeat few applications, users and codes many times, so a kept day takes a third to a
/// quarter of the memory of the scan's string views (which would also keep the scan's whole
/// buffers), and more days fit in `insights_cache_mb`. A column that cannot be cast stays as
/// it is.
fn compacted(batch: &RecordBatch) -> RecordBatch {
    use arrow::datatypes::{DataType, Field};
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let encoded = match c.data_type() {
            DataType::Utf8View | DataType::Utf8 | DataType::LargeUtf8 => {
                cast_through_utf8(c, &dictionary).ok()
            }
            _ => None,
        };
        match encoded {
            Some(encoded) => {
                fields.push(Field::new(
                    field.name(),
                    dictionary.clone(),
                    field.is_nullable(),
                ));
                columns.push(encoded);
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(std::sync::Arc::clone(c));
            }
        }
    }
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    RecordBatch::try_new(schema, columns).unwrap_or_else(|_| batch.clone())
}

/// `column` cast to `to`, through plain `Utf8` when it holds strings of another type (the
/// scan's string views become the kept days' dictionaries, and back-and-forth casts between
/// them go through plain strings).
fn cast_through_utf8(
    column: &arrow::array::ArrayRef,
    to: &arrow::datatypes::DataType,
) -> std::result::Result<arrow::array::ArrayRef, arrow::error::ArrowError> {
    use arrow::datatypes::DataType;
    match column.data_type() {
        DataType::Utf8View | DataType::LargeUtf8 => {
            arrow::compute::cast(&arrow::compute::cast(column, &DataType::Utf8)?, to)
        }
        _ => arrow::compute::cast(column, to),
    }
}

/// Microseconds since the epoch as a UTC time (the epoch when out of range).
pub(crate) fn micros_time(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn day(rows: usize) -> Vec<RecordBatch> {
        let values = Int64Array::from_iter_values(0..rows as i64);
        vec![RecordBatch::try_from_iter([("n", std::sync::Arc::new(values) as _)]).unwrap()]
    }

    fn key(day: i64) -> Key {
        ("question".into(), "tenant".into(), day, 0)
    }

    /// A kept day's strings are dictionary-encoded: the same values in less memory.
    #[test]
    fn kept_days_hold_their_strings_as_dictionaries() {
        let users: Vec<Option<String>> = (0..10_000)
            .map(|i| (i % 7 != 0).then(|| format!("{:08x}-0000-4000-8000-{:012x}", i % 50, i % 50)))
            .collect();
        let views = arrow::array::StringViewArray::from_iter(users.iter().map(Option::as_deref));
        let counts = Int64Array::from_iter_values(0..10_000);
        let batch = RecordBatch::try_from_iter([
            (
                "userId",
                std::sync::Arc::new(views) as arrow::array::ArrayRef,
            ),
            ("n", std::sync::Arc::new(counts) as _),
        ])
        .unwrap();
        let kept = compacted(&batch);
        assert!(matches!(
            kept.schema().field(0).data_type(),
            arrow::datatypes::DataType::Dictionary(..)
        ));
        assert_eq!(
            kept.schema().field(1).data_type(),
            batch.schema().field(1).data_type()
        );
        assert!(kept.get_array_memory_size() * 2 < batch.get_array_memory_size());
        let read = crate::questions::Strings::of(&kept, "userId");
        for (i, u) in users.iter().enumerate() {
            assert_eq!(read.get(i), u.as_deref());
        }
    }

    /// Days read together and outgrowing the memory do not push each other out (each would be
    /// read from its file every time): the kept ones stay while in use, the others are not
    /// kept; once a kept day falls idle, a new one takes its place.
    #[test]
    fn days_in_use_are_not_pushed_out() {
        let one = day(1000)[0].get_array_memory_size();
        // Room for four days (a day may take at most a quarter).
        let room = one * 4 + one / 2;
        let mut kept = DayPartials::new(room);
        for d in 1..=5 {
            kept.put(key(d), day(1000));
        }
        assert!((1..=4).all(|d| kept.get(&key(d)).is_some()));
        assert!(kept.get(&key(5)).is_none(), "a fifth day does not fit");
        assert_eq!(kept.hits_and_misses(), (4, 1));
        kept.evictable_after = std::time::Duration::ZERO;
        for d in 2..=4 {
            kept.get(&key(d));
        }
        kept.put(key(5), day(1000));
        assert!(kept.get(&key(5)).is_some(), "an idle day made room");
        assert!(kept.get(&key(1)).is_none(), "the least recently used went");
        assert!((2..=4).all(|d| kept.get(&key(d)).is_some()));
        assert!(kept.memory_bytes() <= room);
    }
}
