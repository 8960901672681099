//! A lookup by id reads only the row groups whose `id` bloom filter may hold the id: ids are
//! random, so min/max statistics prune nothing, and without the filters every row group's ids
//! were decoded.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use gatehouse_ingest::TableBuilder;
use gatehouse_model::{LogKind, TableSchema};
use gatehouse_query::QueryService;
use serde_json::json;

mod common;
use common::{at_second, row_groups, store_with, SYS};

/// Sign-ins `from..from + rows` of day [`common::DAY`], ids `sign-in-<n>`.
fn sign_ins(from: usize, rows: usize) -> RecordBatch {
    let table = TableSchema::of(LogKind::SignIns);
    let mut b = TableBuilder::new(&table);
    for n in from..from + rows {
        let second = n % 86_400;
        let record = json!({
            "id": format!("sign-in-{n}"),
            "createdDateTime": at_second(second),
            "userPrincipalName": format!("user{}@contoso.com", n % 97),
        });
        b.append(record.as_object().unwrap(), "createdDateTime", &SYS)
            .unwrap();
    }
    b.finish()
}

#[test]
fn a_lookup_by_id_reads_the_row_groups_that_may_hold_it() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // One file of three row groups (64k rows each).
    let rows = 150_000;
    let batches = (0..rows)
        .step_by(10_000)
        .map(|start| sign_ins(start, 10_000))
        .collect();
    let (dir, store, _writer) = store_with(vec![batches]);
    let snapshot = Arc::new(rt.block_on(store.snapshot()).unwrap());
    let engine = QueryService::new(dir.path(), 1 << 30)
        .engine(Arc::clone(&snapshot), Some("t"))
        .unwrap();

    for (id, holding) in [
        ("sign-in-70001", 1),
        ("sign-in-149999", 1),
        ("no-such-id", 0),
    ] {
        let sql = format!("SELECT * FROM signins WHERE id = '{id}'");
        let plan = rt
            .block_on(engine.sql(&format!("EXPLAIN ANALYZE {sql}")))
            .unwrap();
        let plan = pretty_format_batches(&plan.batches).unwrap().to_string();
        assert_eq!(
            row_groups(&plan, "row_groups_pruned_bloom_filter"),
            (3, holding),
            "{id}: {plan}"
        );
        let found = rt.block_on(engine.lookup(LogKind::SignIns, id)).unwrap();
        assert_eq!(
            found.as_ref().and_then(|r| r["id"].as_str()),
            (holding == 1).then_some(id),
            "{id}"
        );
    }
}
