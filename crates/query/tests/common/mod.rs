//! What the query crate's tests share: a store whose sign-in table holds one day of tenant `t`,
//! written and committed as ingest would.

use arrow::array::RecordBatch;
use gatehouse_ingest::SystemFields;
use gatehouse_model::LogKind;
use gatehouse_store::layout::PartitionKey;
use gatehouse_store::writer::write_partition_stream;
use gatehouse_store::{Store, StoreWriter, TableChange};

/// The system fields of every test record (tenant `t`).
pub const SYS: SystemFields<'static> = SystemFields {
    tenant_id: "t",
    ingested_at_ns: 0,
    source: "graph",
    envelope: None,
};

/// Day 2024-01-01.
pub const DAY: i32 = 19723;

/// The time `second` seconds into day [`DAY`] (below 86,400), as a record writes it.
pub fn at_second(second: usize) -> String {
    format!(
        "2024-01-01T{:02}:{:02}:{:02}Z",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

/// A fresh store whose sign-in table holds the files each of `streams` is written into (day
/// [`DAY`] of tenant `t`; a stream's batches of different sign-in types go to different files),
/// all added in one commit.
pub fn store_with(streams: Vec<Vec<RecordBatch>>) -> (tempfile::TempDir, Store, StoreWriter) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut writer = store.writer().unwrap();
    let key = PartitionKey {
        tenant: "t".into(),
        log: LogKind::SignIns,
        day: DAY,
    };
    let mut added = Vec::new();
    for batches in streams {
        added
            .extend(write_partition_stream(dir.path(), &key, batches.into_iter().map(Ok)).unwrap());
    }
    writer
        .commit(vec![TableChange::append("t", LogKind::SignIns, added)])
        .unwrap();
    (dir, store, writer)
}

/// `(row groups, row groups read)` from an `EXPLAIN ANALYZE` plan's `metric` of the scan
/// (`row_groups_pruned_statistics=6 total → 2 matched`).
#[allow(dead_code)] // not every test file reads scan metrics
pub fn row_groups(plan: &str, metric: &str) -> (usize, usize) {
    let text = plan
        .split(&format!("{metric}="))
        .nth(1)
        .unwrap_or_else(|| panic!("no {metric} in {plan}"));
    let numbers: Vec<usize> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1])
}
