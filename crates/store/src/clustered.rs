//! Copies of interactive sign-in files clustered by user, read instead of the originals by
//! queries for one user.
//!
//! A table's files keep their rows in event-time order, which is what time ranges and "newest
//! first" pages want; but one user's sign-ins are then spread over every page of every file, and
//! a page of them decodes the whole of each file it touches. So each interactive sign-in file of
//! at least [`MIN_ROWS`] rows gets a companion outside the table
//! (`_gatehouse/clustered/<the file's path>`): the same rows sorted by user principal name (then
//! newest first), in row groups of [`ROW_GROUP_ROWS`] with minimum and maximum statistics of
//! `userPrincipalName` and `userId`, so a reader skips every row group but the one or two
//! holding the user. The source is sorted one row group at a time (memory bounded by a row
//! group whatever the file's size); a user's rows are then in one place per source row group.
//!
//! A companion is derived data: written after its file is committed (by `gatehouse serve` in
//! the background, and by `gatehouse compact`), atomically (written aside, then renamed), never
//! listed in the Delta log (other engines do not see it), and removed by the vacuum that deletes
//! its file. A file without one is simply read as it is.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::SortOptions;
use arrow::compute::{concat_batches, lexsort_to_indices, take_record_batch, SortColumn};
use gatehouse_model::{LogKind, SignInKind};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::EnabledStatistics;
use parquet::schema::types::ColumnPath;

use crate::layout::STATE_DIR;
use crate::{io_err, DataFile, Result, StoreError, StoreSnapshot};

/// The folder of the companions, under the data directory.
pub const CLUSTERED_DIR: &str = "clustered";

/// Files with fewer rows get no companion: they are read whole in a few milliseconds anyway.
pub const MIN_ROWS: u64 = 8 * 1024;

/// Rows per row group of a companion: small enough that a user's rows fall in one or two.
pub const ROW_GROUP_ROWS: usize = 4 * 1024;

/// The columns a companion is clustered by, whose equality filters it serves.
pub const CLUSTER_COLUMNS: &[&str] = &["userPrincipalName", "userId"];

/// What one round of clustering did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClusterReport {
    /// Companions written.
    pub written: usize,
    /// Rows they hold.
    pub rows: u64,
    /// Files whose copy could not be written (each logged; tried again next round).
    pub failed: usize,
}

/// The companion's path for a file of the table (whether it exists or not).
pub fn clustered_path(root: &Path, file: &DataFile) -> PathBuf {
    root.join(STATE_DIR).join(CLUSTERED_DIR).join(&file.path)
}

/// Whether `file` is one that gets a companion: interactive sign-ins, at least [`MIN_ROWS`].
pub fn wants_companion(file: &DataFile) -> bool {
    file.log == LogKind::SignIns
        && file.sign_in_kind == Some(SignInKind::InteractiveUser)
        && file.rows >= MIN_ROWS
}

/// The companion of `file` and its size, when one has been written.
pub fn companion_of(root: &Path, file: &DataFile) -> Option<(PathBuf, u64)> {
    if !wants_companion(file) {
        return None;
    }
    let path = clustered_path(root, file);
    let meta = fs::metadata(&path).ok()?;
    Some((path, meta.len()))
}

/// Writes the companion of every file of `snapshot` that wants one and has none yet, newest day
/// first (the days most queried). Stops early, between files, when `keep_going` says so. A file
/// whose copy cannot be written is logged, counted and skipped (its queries read the file);
/// the others are still done.
pub fn cluster_missing(
    root: &Path,
    snapshot: &StoreSnapshot,
    keep_going: &dyn Fn() -> bool,
) -> ClusterReport {
    let mut todo: Vec<&DataFile> = snapshot
        .files()
        .filter(|f| wants_companion(f) && companion_of(root, f).is_none())
        .collect();
    todo.sort_by_key(|f| std::cmp::Reverse(f.day));
    let mut report = ClusterReport::default();
    for file in todo {
        if !keep_going() {
            break;
        }
        match write_companion(root, file) {
            Ok(rows) => {
                report.written += 1;
                report.rows += rows;
            }
            // Vacuumed since the snapshot was taken: nothing to cluster.
            Err(StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound
                    && !root.join(&file.path).exists() => {}
            Err(e) => {
                tracing::warn!(file = %file.path, error = %e, "no copy clustered by user");
                report.failed += 1;
            }
        }
    }
    report
}

/// Writes `file`'s companion (replacing any); returns its rows.
pub fn write_companion(root: &Path, file: &DataFile) -> Result<u64> {
    let source_path = root.join(&file.path);
    let target = clustered_path(root, file);
    let dir = target.parent().expect("a file's path has a folder");
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let aside = target.with_extension("parquet.tmp");
    let parquet_err = |context: &str| {
        let context = format!("{context} {}", source_path.display());
        move |source| StoreError::Parquet { context, source }
    };
    let arrow_err = |context: &str| {
        let context = format!("{context} {}", source_path.display());
        move |source| StoreError::Arrow { context, source }
    };

    let source = File::open(&source_path).map_err(io_err(&source_path))?;
    let metadata = ArrowReaderMetadata::load(&source, ArrowReaderOptions::default())
        .map_err(parquet_err("reading"))?;
    let schema = Arc::clone(metadata.schema());
    let row_groups = metadata.metadata().num_row_groups();
    let sort_columns: Vec<usize> = ["userPrincipalName", LogKind::SignIns.time_column()]
        .iter()
        .map(|name| schema.index_of(name))
        .collect::<std::result::Result<_, _>>()
        .map_err(arrow_err("clustering"))?;

    let mut props = crate::writer::writer_properties()
        .into_builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for column in CLUSTER_COLUMNS {
        props =
            props.set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::Page);
    }
    let out = File::create(&aside).map_err(io_err(&aside))?;
    let mut writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(props.build()))
        .map_err(parquet_err("clustering"))?;
    let mut rows = 0u64;
    for group in 0..row_groups {
        let handle = source.try_clone().map_err(io_err(&source_path))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone());
        let reader = builder
            .with_row_groups(vec![group])
            .with_batch_size(64 * 1024)
            .build()
            .map_err(parquet_err("reading"))?;
        let batches = reader
            .collect::<std::result::Result<Vec<RecordBatch>, _>>()
            .map_err(arrow_err("reading"))?;
        let batch = concat_batches(&schema, &batches).map_err(arrow_err("reading"))?;
        drop(batches);
        if batch.num_rows() == 0 {
            continue;
        }
        let keys: Vec<SortColumn> = sort_columns
            .iter()
            .enumerate()
            .map(|(i, &c)| SortColumn {
                values: Arc::clone(batch.column(c)),
                options: Some(SortOptions {
                    descending: i == 1,
                    nulls_first: true,
                }),
            })
            .collect();
        let order = lexsort_to_indices(&keys, None).map_err(arrow_err("sorting"))?;
        let sorted = take_record_batch(&batch, &order).map_err(arrow_err("sorting"))?;
        drop(batch);
        rows += sorted.num_rows() as u64;
        writer.write(&sorted).map_err(parquet_err("clustering"))?;
        // A row group never spans two sorted runs: its statistics stay narrow.
        writer.flush().map_err(parquet_err("clustering"))?;
    }
    let out = writer.into_inner().map_err(parquet_err("clustering"))?;
    out.sync_all().map_err(io_err(&aside))?;
    drop(out);
    if rows != file.rows {
        let _ = fs::remove_file(&aside);
        return Err(StoreError::Invalid(format!(
            "{}: the Delta log says {} rows, the file holds {rows}",
            file.path, file.rows
        )));
    }
    fs::rename(&aside, &target).map_err(io_err(&target))?;
    Ok(rows)
}

/// Deletes the companions whose file is gone (vacuumed) and leftovers of interrupted writes;
/// returns how many files it deleted.
pub fn remove_orphans(root: &Path) -> Result<usize> {
    let base = root.join(STATE_DIR).join(CLUSTERED_DIR);
    let mut deleted = 0;
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io_err(&path))?;
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            let orphan = match path.strip_prefix(&base) {
                Ok(rel) if path.extension().is_some_and(|e| e == "parquet") => {
                    !root.join(rel).exists()
                }
                // A write interrupted (a crash between create and rename), or under way: only
                // an old one is a leftover.
                _ => entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(3600)),
            };
            if orphan {
                match fs::remove_file(&path) {
                    Ok(()) => deleted += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
        }
    }
    Ok(deleted)
}
