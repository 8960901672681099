//! Keeping the store tidy: compaction of small files, retention, and vacuum.
//!
//! Compaction writes the merged files and swaps them for the small ones in one Delta commit
//! (`remove`s and `add`s, `dataChange: false`); retention removes whole days in one commit. The
//! files they replace stay on disk for readers of older snapshots until a vacuum, after the grace
//! period, deletes them ([`crate::StoreWriter::vacuum`]). A crash before a commit leaves the old
//! files live; the new ones, never committed, are deleted by a later vacuum.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use gatehouse_model::{LogKind, SignInKind};

use crate::layout::{day_to_string, PartitionKey};
use crate::writer::{file_batches, write_partition_stream};
use crate::{ChangeKind, DataFile, Result, StoreSnapshot, StoreWriter, TableChange};

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
/// [`COMPACT_MIN_FILES`] of them of one sign-in type (ingest calls this for the partitions it
/// touched).
pub fn compact_partitions(
    writer: &mut StoreWriter,
    keys: &[PartitionKey],
) -> Result<CompactionReport> {
    compact(writer, keys, COMPACT_MIN_FILES)
}

/// Compacts every partition with two or more small files of one sign-in type.
pub fn compact_all(writer: &mut StoreWriter) -> Result<CompactionReport> {
    let keys: Vec<PartitionKey> = partitions(writer.snapshot().files()).into_keys().collect();
    compact(writer, &keys, 2)
}

fn partitions<'a>(
    files: impl Iterator<Item = &'a DataFile>,
) -> BTreeMap<PartitionKey, Vec<DataFile>> {
    let mut map: BTreeMap<PartitionKey, Vec<DataFile>> = BTreeMap::new();
    for f in files {
        map.entry(f.partition()).or_default().push(f.clone());
    }
    map
}

fn compact(
    writer: &mut StoreWriter,
    keys: &[PartitionKey],
    min_files: usize,
) -> Result<CompactionReport> {
    let mut report = CompactionReport::default();
    let root = writer.store().root().to_path_buf();
    for plan in plan_compaction(writer.snapshot(), keys, min_files) {
        let added = merge(&root, &plan)?;
        let (before, after) = (plan.files.len(), added.len());
        if commit_merge(writer, plan, added)? {
            report.partitions += 1;
            report.files_before += before;
            report.files_after += after;
        }
    }
    Ok(report)
}

/// Small files of one sign-in type in one partition, to be merged into one file (or a few, past
/// the row limit), oldest first.
#[derive(Debug, Clone)]
pub struct CompactionPlan {
    /// The partition.
    pub key: PartitionKey,
    /// The files to merge, by their first and last times.
    pub files: Vec<DataFile>,
}

/// The merges that compaction makes in these partitions of `snapshot`: the files below
/// [`SMALL_FILE_ROWS`] of each sign-in type, where there are at least `min_files` (and two) of
/// them.
pub fn plan_compaction(
    snapshot: &StoreSnapshot,
    keys: &[PartitionKey],
    min_files: usize,
) -> Vec<CompactionPlan> {
    let by_partition = partitions(snapshot.files());
    let mut plans = Vec::new();
    for key in keys {
        let Some(files) = by_partition.get(key) else {
            continue;
        };
        // Files of one sign-in type are merged together (the merged file keeps the type).
        let mut by_kind: BTreeMap<Option<SignInKind>, Vec<DataFile>> = BTreeMap::new();
        for f in files.iter().filter(|f| f.rows < SMALL_FILE_ROWS) {
            by_kind.entry(f.sign_in_kind).or_default().push(f.clone());
        }
        for mut small in by_kind.into_values() {
            if small.len() < min_files.max(2) {
                continue;
            }
            // Oldest first, so the merged file stays (nearly) in time order.
            small.sort_by_key(|f| (f.min_time_ns, f.max_time_ns));
            plans.push(CompactionPlan {
                key: key.clone(),
                files: small,
            });
        }
    }
    plans
}

/// Writes the merged file(s) of a plan into its partition folder, streamed file by file, so
/// memory stays at one row group whatever the partition's size. They are not live until
/// [`commit_merge`] names them; this touches no Delta log, so it can run beside the writer.
pub fn merge(root: &Path, plan: &CompactionPlan) -> Result<Vec<DataFile>> {
    let mut sources = Vec::new();
    for f in &plan.files {
        sources.push(file_batches(&root.join(&f.path))?);
    }
    write_partition_stream(root, &plan.key, sources.into_iter().flatten())
}

/// Swaps a plan's files for the merged ones in one commit (`dataChange: false`), if every file
/// of the plan is still live; otherwise (a retention or another compaction removed one
/// meanwhile) commits nothing, leaves the merged files for a vacuum, and returns `false`.
pub fn commit_merge(
    writer: &mut StoreWriter,
    plan: CompactionPlan,
    added: Vec<DataFile>,
) -> Result<bool> {
    // The partition's live files, not the whole store's: `compact_all` commits a merge per
    // partition and sign-in type.
    let snapshot = writer.snapshot();
    let live: HashSet<&str> = snapshot
        .table(&plan.key.tenant, plan.key.log)
        .into_iter()
        .flat_map(|t| t.files.iter())
        .filter(|f| f.day == plan.key.day)
        .map(|f| f.path.as_str())
        .collect();
    if !plan.files.iter().all(|f| live.contains(f.path.as_str())) {
        tracing::info!(partition = %plan.key.dir().display(), "a merge's files changed meanwhile; not committed");
        return Ok(false);
    }
    let merged = plan.files.len();
    writer.commit(vec![TableChange {
        tenant: plan.key.tenant.clone(),
        log: plan.key.log,
        added,
        removed: plan.files,
        positions: Vec::new(),
        kind: ChangeKind::Compact,
    }])?;
    tracing::info!(partition = %plan.key.dir().display(), merged, "compacted");
    Ok(true)
}

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Rows removed.
    pub rows_deleted: u64,
    /// Files removed.
    pub files_affected: usize,
    /// Days removed (summed over tenants and tables).
    pub days_removed: usize,
}

/// Removes, from every table of the given logs, the days wholly before the UTC day of
/// `cutoff_ns`: retention works on whole days (the tables' partitions), so a row is kept until its
/// whole day has passed the cutoff. One commit per table; the files stay on disk for older
/// snapshots until a vacuum.
pub fn apply_retention(
    writer: &mut StoreWriter,
    logs: &[LogKind],
    cutoff_ns: i64,
) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    let first_kept = crate::layout::day_of(cutoff_ns);
    let mut changes = Vec::new();
    for table in writer.snapshot().tables() {
        if !logs.contains(&table.log) {
            continue;
        }
        let removed: Vec<DataFile> = table
            .files
            .iter()
            .filter(|f| f.day < first_kept)
            .cloned()
            .collect();
        if removed.is_empty() {
            continue;
        }
        let mut days: Vec<i32> = removed.iter().map(|f| f.day).collect();
        days.dedup();
        report.days_removed += days.len();
        report.files_affected += removed.len();
        report.rows_deleted += removed.iter().map(|f| f.rows).sum::<u64>();
        changes.push(TableChange {
            tenant: table.tenant.clone(),
            log: table.log,
            added: Vec::new(),
            removed,
            positions: Vec::new(),
            kind: ChangeKind::Retention(format!("date < '{}'", day_to_string(first_kept))),
        });
    }
    writer.commit(changes)?;
    Ok(report)
}
