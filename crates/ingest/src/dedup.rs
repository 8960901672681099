//! Idempotent ingest: which records a partition already holds.
//!
//! A record is a duplicate of a stored one when both its `id` and its content hash
//! ([`crate::content`]) are equal: different records sharing an id are all kept. A duplicate
//! always lands in the same partition (tenant, table, day of its event time). Each row is kept as
//! a 128-bit XXH3 hash of its id and content hash (16 bytes each, collision odds negligible at any
//! realistic volume), loaded lazily per partition from the `id` and `_contentHash` columns of its
//! live files, and extended as new rows are accepted, so duplicates are caught within one run and
//! across runs.
//!
//! The hashes are keyed with a secret chosen afresh by each process, so nobody can craft ids
//! whose hashes collide; being uniform already, they index the sets as they are ([`IdHasher`])
//! instead of being hashed a second time.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::OnceLock;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use gatehouse_model::schema::CONTENT_HASH_COLUMN;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use gatehouse_store::layout::PartitionKey;
use gatehouse_store::StoreSnapshot;

use crate::{io_err, IngestError, Result};

/// The key of a row: a hash of its id and content hash (keyed with this process's secret: compare
/// keys within one process only).
pub fn row_key(id: &str, content_hash: i64) -> u128 {
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| RandomState::new().hash_one(0x6761_7465_686f_7573_u64));
    // One pass over the id and the hash side by side (ids are GUIDs: the stack holds them).
    let mut buf = [0u8; 128];
    let id = id.as_bytes();
    if id.len() + 8 <= buf.len() {
        buf[..id.len()].copy_from_slice(id);
        buf[id.len()..id.len() + 8].copy_from_slice(&content_hash.to_le_bytes());
        return xxhash_rust::xxh3::xxh3_128_with_seed(&buf[..id.len() + 8], seed);
    }
    let mut long = Vec::with_capacity(id.len() + 8);
    long.extend_from_slice(id);
    long.extend_from_slice(&content_hash.to_le_bytes());
    xxhash_rust::xxh3::xxh3_128_with_seed(&long, seed)
}

/// The [`row_key`] of every row of a table batch (rows without an id or content hash, which
/// ingest never stores, get a key of their own).
pub fn row_keys(batch: &RecordBatch) -> Vec<u128> {
    let mut out = Vec::with_capacity(batch.num_rows());
    push_row_keys(batch, &mut |k| out.push(k));
    out
}

/// Calls `put` with the [`row_key`] of every row of `batch`, which has an `id` and a
/// `_contentHash` column.
fn push_row_keys(batch: &RecordBatch, put: &mut dyn FnMut(u128)) {
    let ids = batch
        .column_by_name("id")
        .and_then(|c| c.as_string_opt::<i32>());
    let hashes = batch
        .column_by_name(CONTENT_HASH_COLUMN)
        .and_then(|c| c.as_primitive_opt::<Int64Type>());
    let (Some(ids), Some(hashes)) = (ids, hashes) else {
        (0..batch.num_rows()).for_each(|i| put(u128::MAX - i as u128));
        return;
    };
    for i in 0..batch.num_rows() {
        put(if ids.is_valid(i) && hashes.is_valid(i) {
            row_key(ids.value(i), hashes.value(i))
        } else {
            u128::MAX - i as u128
        });
    }
}

/// A [`Hasher`] for id hashes: they are uniform already, so it folds their two halves into the
/// table's hash instead of hashing them again (SipHash of every accepted id was a tenth of the
/// ingesting thread's time).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, hash: u128) {
        self.0 ^= (hash as u64) ^ ((hash >> 64) as u64);
    }

    /// Anything but a `u128` (not used for ids): FNV-1a over the bytes.
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A set of row keys.
pub type RowKeySet = HashSet<u128, BuildHasherDefault<IdHasher>>;

/// The rows of the partitions ingest touched, as [`row_key`]s.
///
/// Memory is bounded: past [`IdIndex::max_rows`] keys (16 bytes each, about 32 with the hash
/// table's overhead), the partitions used least recently are forgotten, and a record arriving for
/// one of them later loads its keys again from the stored files (the `id` and `_contentHash`
/// columns only).
#[derive(Debug)]
pub struct IdIndex {
    partitions: HashMap<PartitionKey, (RowKeySet, u64)>,
    max_rows: usize,
    clock: u64,
}

/// The default bound of an [`IdIndex`]: 8 million rows (about 256 MiB).
pub const DEFAULT_INDEX_ROWS: usize = 8 << 20;

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex::with_max_rows(DEFAULT_INDEX_ROWS)
    }
}

impl IdIndex {
    /// An empty index that keeps at most about `max_rows` keys.
    pub fn with_max_rows(max_rows: usize) -> IdIndex {
        IdIndex {
            partitions: HashMap::new(),
            max_rows,
            clock: 0,
        }
    }

    /// The bound on keys kept.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Keys held now.
    pub fn rows(&self) -> usize {
        self.partitions.values().map(|(s, _)| s.len()).sum()
    }

    /// The rows of a partition, loading them from the files of `snapshot` on first use (or after
    /// the partition was forgotten).
    pub fn partition(
        &mut self,
        root: &Path,
        snapshot: &StoreSnapshot,
        key: &PartitionKey,
    ) -> Result<&mut RowKeySet> {
        self.clock += 1;
        if !self.partitions.contains_key(key) {
            let mut keys = RowKeySet::default();
            for f in snapshot
                .files_for(key.log, Some(&key.tenant), None)
                .filter(|f| f.day == key.day)
            {
                load_keys(&root.join(&f.path), &mut keys)?;
            }
            self.partitions.insert(key.clone(), (keys, 0));
        }
        let (keys, used) = self.partitions.get_mut(key).expect("inserted above");
        *used = self.clock;
        Ok(keys)
    }

    /// Forgets the partitions used least recently until at most [`IdIndex::max_rows`] keys are
    /// held. The one used last is always kept, and so is every partition `pinned` names (one
    /// with rows not yet committed: its stored files do not hold all its keys yet).
    pub fn shrink(&mut self, pinned: impl Fn(&PartitionKey) -> bool) {
        let mut total = self.rows();
        if total <= self.max_rows {
            return;
        }
        let mut by_age: Vec<(u64, PartitionKey, usize)> = self
            .partitions
            .iter()
            .map(|(k, (s, used))| (*used, k.clone(), s.len()))
            .collect();
        by_age.sort_by_key(|(used, _, _)| *used);
        by_age.pop();
        by_age.retain(|(_, key, _)| !pinned(key));
        for (_, key, len) in by_age {
            if total <= self.max_rows {
                break;
            }
            self.partitions.remove(&key);
            total -= len;
            tracing::debug!(partition = %key.dir().display(), rows = len, "dedup index: forgot a partition");
        }
    }

    /// Forgets the partitions `which` names (after retention removed their rows, whose keys
    /// must not make records sent again look like duplicates).
    pub fn forget(&mut self, which: impl Fn(&PartitionKey) -> bool) {
        self.partitions.retain(|key, _| !which(key));
    }
}

/// Reads the row keys of one Parquet file (its `id` and `_contentHash` columns).
fn load_keys(path: &Path, out: &mut RowKeySet) -> Result<()> {
    let context = || path.display().to_string();
    let file = File::open(path).map_err(io_err(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| IngestError::Parquet {
            context: context(),
            source: e,
        })?;
    let mut roots = Vec::with_capacity(2);
    for name in ["id", CONTENT_HASH_COLUMN] {
        roots.push(
            builder
                .schema()
                .index_of(name)
                .map_err(|e| IngestError::Arrow {
                    context: context(),
                    source: e,
                })?,
        );
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| IngestError::Parquet {
            context: context(),
            source: e,
        })?;
    for batch in reader {
        let batch = batch.map_err(|e| IngestError::Arrow {
            context: context(),
            source: e,
        })?;
        out.reserve(batch.num_rows());
        push_row_keys(&batch, &mut |k| {
            out.insert(k);
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_set_keeps_each_id_once() {
        let mut set = RowKeySet::default();
        let ids: Vec<String> = (0..50_000).map(|i| format!("{i:08x}-id")).collect();
        assert!(ids.iter().all(|id| set.insert(row_key(id, 7))));
        assert!(ids.iter().all(|id| !set.insert(row_key(id, 7))));
        assert_eq!(set.len(), ids.len());
        assert_eq!(row_key("a", 1), row_key("a", 1));
        assert_ne!(row_key("a", 1), row_key("b", 1));
        // The same id with other content is another row.
        assert_ne!(row_key("a", 1), row_key("a", 2));
    }

    #[test]
    fn the_index_forgets_the_partitions_used_least_recently() {
        let root = std::path::Path::new("/nonexistent");
        let snapshot = StoreSnapshot::default();
        let key = |day| PartitionKey {
            tenant: "t".into(),
            log: gatehouse_model::LogKind::SignIns,
            day,
        };
        let mut index = IdIndex::with_max_rows(250);
        for day in 0..5 {
            let set = index.partition(root, &snapshot, &key(day)).unwrap();
            for i in 0..100 {
                set.insert(row_key(&format!("{day}-{i}"), 0));
            }
            index.shrink(|_| false);
            assert!(index.rows() <= 250, "{}", index.rows());
        }
        // Day 4 was used last, then day 3; days 0-2 were forgotten (and come back empty: nothing
        // is stored for them here).
        assert_eq!(index.rows(), 200);
        assert!(!index
            .partition(root, &snapshot, &key(0))
            .unwrap()
            .contains(&row_key("0-1", 0)));
        assert!(index
            .partition(root, &snapshot, &key(4))
            .unwrap()
            .contains(&row_key("4-1", 0)));
    }

    #[test]
    fn the_id_hasher_folds_both_halves() {
        let mut h = IdHasher::default();
        h.write_u128((7u128 << 64) | 5);
        assert_eq!(h.finish(), 7 ^ 5);
        // Ids differing only in the high half still land apart.
        let (mut a, mut b) = (IdHasher::default(), IdHasher::default());
        a.write_u128(1u128 << 64);
        b.write_u128(2u128 << 64);
        assert_ne!(a.finish(), b.finish());
    }
}
