//! Keeping the store tidy: compaction of small files and retention.
//!
//! Both rewrite partitions with the same crash-safe protocol as ingest: new files are written and
//! moved into place, one manifest commit swaps them for the old ones, then the old files are
//! deleted. A crash before the commit leaves the old files live (and the new ones are cleaned up).

use std::collections::BTreeMap;

use arrow::array::{Array, BooleanArray, TimestampNanosecondArray};
use arrow::compute::filter_record_batch;
use gatehouse_model::LogKind;

use crate::layout::PartitionKey;
use crate::writer::{file_batches, read_file, write_partition_file, write_partition_stream};
use crate::{FileEntry, Result, StoreError, StoreWriter};

/// A partition is compacted when it has at least this many files…
pub const COMPACT_MIN_FILES: usize = 4;
/// …of which those below this many rows are merged. Ingest writes files of at least tens of
/// thousands of rows even when memory is short, and those are left alone: rewriting them would
/// double the cost of a large ingest for little gain in query time.
pub const SMALL_FILE_ROWS: u64 = 16 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Partitions rewritten.
    pub partitions: usize,
    /// Files before.
    pub files_before: usize,
    /// Files after.
    pub files_after: usize,
}

/// Merges the small files of each partition listed, where a partition has at least
/// [`COMPACT_MIN_FILES`] of them (ingest calls this for the partitions it touched).
pub fn compact_partitions(
    writer: &mut StoreWriter,
    keys: &[PartitionKey],
) -> Result<CompactionReport> {
    compact(writer, keys, COMPACT_MIN_FILES)
}

/// Compacts every partition with two or more small files.
pub fn compact_all(writer: &mut StoreWriter) -> Result<CompactionReport> {
    let keys: Vec<PartitionKey> = partitions(writer.manifest().files.iter())
        .into_keys()
        .collect();
    compact(writer, &keys, 2)
}

fn partitions<'a>(
    files: impl Iterator<Item = &'a FileEntry>,
) -> BTreeMap<PartitionKey, Vec<FileEntry>> {
    let mut map: BTreeMap<PartitionKey, Vec<FileEntry>> = BTreeMap::new();
    for f in files {
        if let Some(log) = f.log() {
            map.entry(PartitionKey {
                tenant: f.tenant.clone(),
                log,
                day: f.day,
            })
            .or_default()
            .push(f.clone());
        }
    }
    map
}

fn compact(
    writer: &mut StoreWriter,
    keys: &[PartitionKey],
    min_files: usize,
) -> Result<CompactionReport> {
    let mut report = CompactionReport::default();
    let by_partition = partitions(writer.manifest().files.iter());
    let root = writer.store().root().to_path_buf();
    for key in keys {
        let Some(files) = by_partition.get(key) else {
            continue;
        };
        let mut small: Vec<&FileEntry> =
            files.iter().filter(|f| f.rows < SMALL_FILE_ROWS).collect();
        if small.len() < min_files.max(2) {
            continue;
        }
        // Oldest first, so the merged file stays (nearly) in time order; streamed file by file,
        // so memory stays at one row group whatever the partition's size.
        small.sort_by_key(|f| (f.min_time_ns, f.max_time_ns));
        let mut sources = Vec::new();
        for f in &small {
            sources.push(file_batches(&root.join(&f.path))?);
        }
        let added: Vec<FileEntry> =
            write_partition_stream(&root, key, sources.into_iter().flatten())?
                .into_iter()
                .collect();
        let removed: Vec<String> = small.iter().map(|f| f.path.clone()).collect();
        report.partitions += 1;
        report.files_before += removed.len();
        report.files_after += added.len();
        writer.commit(added, &removed)?;
        tracing::info!(partition = %key.dir().display(), merged = removed.len(), "compacted");
    }
    Ok(report)
}

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Rows deleted.
    pub rows_deleted: u64,
    /// Files deleted or rewritten.
    pub files_affected: usize,
}

/// Deletes every row of the given tables whose event time is before `cutoff_ns`. Files entirely
/// older are deleted; a file straddling the cutoff is rewritten without the old rows.
pub fn apply_retention(
    writer: &mut StoreWriter,
    logs: &[LogKind],
    cutoff_ns: i64,
) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    let root = writer.store().root().to_path_buf();
    let files: Vec<FileEntry> = writer
        .manifest()
        .files
        .iter()
        .filter(|f| f.log().is_some_and(|l| logs.contains(&l)) && f.min_time_ns < cutoff_ns)
        .cloned()
        .collect();
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for f in files {
        let Some(log) = f.log() else { continue };
        report.files_affected += 1;
        if f.max_time_ns < cutoff_ns {
            report.rows_deleted += f.rows;
            removed.push(f.path.clone());
            continue;
        }
        let mut kept = Vec::new();
        for batch in read_file(&root.join(&f.path))? {
            let times = batch
                .column_by_name(log.time_column())
                .and_then(|c| {
                    c.as_any()
                        .downcast_ref::<TimestampNanosecondArray>()
                        .cloned()
                })
                .ok_or_else(|| StoreError::Invalid(format!("{}: no time column", f.path)))?;
            let keep: BooleanArray = (0..times.len())
                .map(|i| Some(times.is_null(i) || times.value(i) >= cutoff_ns))
                .collect();
            let b = filter_record_batch(&batch, &keep).map_err(|e| StoreError::Arrow {
                context: f.path.clone(),
                source: e,
            })?;
            report.rows_deleted += (batch.num_rows() - b.num_rows()) as u64;
            kept.push(b);
        }
        let key = PartitionKey {
            tenant: f.tenant.clone(),
            log,
            day: f.day,
        };
        added.extend(write_partition_file(&root, &key, kept)?);
        removed.push(f.path.clone());
    }
    if !removed.is_empty() {
        writer.commit(added, &removed)?;
    }
    Ok(report)
}
