//! Idempotent ingest: which record ids a partition already holds.
//!
//! A record's id and event time identify it, so a duplicate always lands in the same partition
//! (tenant, table, day). Ids are kept as 128-bit XXH3 hashes (16 bytes each, collision odds
//! negligible at any realistic volume), loaded lazily per partition from the `id` column of its
//! live files, and extended as new rows are accepted, so duplicates are caught within one run and
//! across runs.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::layout::PartitionKey;
use crate::manifest::Manifest;
use crate::{io_err, Result, StoreError};

/// The hash of a record id.
pub fn id_hash(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

/// The ids each touched partition holds.
#[derive(Debug, Default)]
pub struct IdIndex {
    partitions: HashMap<PartitionKey, HashSet<u128>>,
}

impl IdIndex {
    /// The ids of a partition, loading them from the store on first use.
    pub fn partition(
        &mut self,
        root: &Path,
        manifest: &Manifest,
        key: &PartitionKey,
    ) -> Result<&mut HashSet<u128>> {
        if !self.partitions.contains_key(key) {
            let mut ids = HashSet::new();
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
fn load_ids(path: &Path, out: &mut HashSet<u128>) -> Result<()> {
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
