//! Idempotent ingest: which record ids a partition already holds.
//!
//! A record's id and event time identify it, so a duplicate always lands in the same partition
//! (tenant, table, day). Ids are kept as 128-bit XXH3 hashes (16 bytes each, collision odds
//! negligible at any realistic volume), loaded lazily per partition from the `id` column of its
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

use arrow::array::{Array, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::layout::PartitionKey;
use crate::manifest::Manifest;
use crate::{io_err, Result, StoreError};

/// The hash of a record id (keyed with this process's secret: compare hashes within one process
/// only).
pub fn id_hash(id: &str) -> u128 {
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| RandomState::new().hash_one(0x6761_7465_686f_7573_u64));
    xxhash_rust::xxh3::xxh3_128_with_seed(id.as_bytes(), seed)
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

/// A set of id hashes.
pub type IdSet = HashSet<u128, BuildHasherDefault<IdHasher>>;

/// The ids each touched partition holds.
#[derive(Debug, Default)]
pub struct IdIndex {
    partitions: HashMap<PartitionKey, IdSet>,
}

impl IdIndex {
    /// The ids of a partition, loading them from the store on first use.
    pub fn partition(
        &mut self,
        root: &Path,
        manifest: &Manifest,
        key: &PartitionKey,
    ) -> Result<&mut IdSet> {
        if !self.partitions.contains_key(key) {
            let mut ids = IdSet::default();
            for f in manifest
                .files_for(key.log, Some(&key.tenant), None)
                .filter(|f| f.day == key.day)
            {
                load_ids(&root.join(&f.path), &mut ids)?;
            }
            self.partitions.insert(key.clone(), ids);
        }
        Ok(self.partitions.get_mut(key).expect("inserted above"))
    }

    /// Forgets a partition (after compaction or retention rewrote it).
    pub fn forget(&mut self, key: &PartitionKey) {
        self.partitions.remove(key);
    }
}

/// Reads the `id` column of one Parquet file.
fn load_ids(path: &Path, out: &mut IdSet) -> Result<()> {
    let file = File::open(path).map_err(io_err(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::Parquet {
            context: path.display().to_string(),
            source: e,
        })?;
    let id_index = builder
        .schema()
        .index_of("id")
        .map_err(|e| StoreError::Arrow {
            context: path.display().to_string(),
            source: e,
        })?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [id_index]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| StoreError::Parquet {
            context: path.display().to_string(),
            source: e,
        })?;
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::Arrow {
            context: path.display().to_string(),
            source: e,
        })?;
        if let Some(ids) = batch.column(0).as_any().downcast_ref::<StringArray>() {
            out.reserve(ids.len());
            for i in 0..ids.len() {
                if ids.is_valid(i) {
                    out.insert(id_hash(ids.value(i)));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_set_keeps_each_id_once() {
        let mut set = IdSet::default();
        let ids: Vec<String> = (0..50_000).map(|i| format!("{i:08x}-id")).collect();
        assert!(ids.iter().all(|id| set.insert(id_hash(id))));
        assert!(ids.iter().all(|id| !set.insert(id_hash(id))));
        assert_eq!(set.len(), ids.len());
        assert_eq!(id_hash("a"), id_hash("a"));
        assert_ne!(id_hash("a"), id_hash("b"));
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
