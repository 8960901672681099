//! A query session opened before a compaction commit still answers in full: the commit deletes
//! the files the session registered (which DataFusion would skip without an error, answering 0
//! rows), and `QueryEngine::sql` runs the query again over the new manifest.

use arrow::array::Int64Array;
use gatehouse_formats::input::expand_paths;
use gatehouse_model::LogKind;
use gatehouse_query::QueryEngine;
use gatehouse_store::ingest::{ingest, IngestOptions};
use gatehouse_store::maintenance::compact_all;
use gatehouse_store::Store;

const DAYS: usize = 3;
const ROWS_PER_DAY: usize = 40;

fn sign_in(n: usize) -> String {
    let day = n % DAYS;
    let minute = n / DAYS;
    format!(
        r#"{{"id":"00000000-0000-4000-8000-{n:012}","createdDateTime":"2026-11-0{}T10:{:02}:00Z","userPrincipalName":"u{n}@contoso.com","appDisplayName":"Portal","status":{{"errorCode":{}}}}}"#,
        day + 1,
        minute % 60,
        if n.is_multiple_of(4) { 50126 } else { 0 }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_before_compaction_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("data")).unwrap();
    // Small files: four inputs, each with ten rows of every day; a file closes after ten rows,
    // and compaction is off during ingest.
    let mut paths = Vec::new();
    for part in 0..4 {
        let path = dir.path().join(format!("in-{part}.jsonl"));
        let lines: Vec<String> = (0..DAYS * ROWS_PER_DAY)
            .filter(|n| n / DAYS % 4 == part)
            .map(sign_in)
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        paths.push(path.to_str().unwrap().to_owned());
    }
    let opts = IngestOptions {
        file_rows: 10,
        compact: false,
        ..IngestOptions::default()
    };
    let inputs = expand_paths(&paths).unwrap();
    let mut writer = store.writer().unwrap();
    let summary = ingest(&mut writer, &inputs, &opts, &mut |_| {}).unwrap();
    assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
    assert_eq!(
        summary.stored.get(&LogKind::SignIns).copied(),
        Some((DAYS * ROWS_PER_DAY) as u64)
    );
    let before = writer.manifest().files.clone();
    assert!(before.len() >= DAYS * 4, "{} files", before.len());

    let engine = QueryEngine::open(&store, None).await.unwrap();
    let opened_at = engine.manifest_version();
    let report = compact_all(&mut writer).unwrap();
    assert_eq!(report.partitions, DAYS);
    assert!(
        before.iter().all(|f| !store.root().join(&f.path).exists()),
        "compaction deletes the files the session registered"
    );

    let sql = "SELECT count(*) AS n, \
               sum(CASE WHEN status.\"errorCode\" <> 0 THEN 1 ELSE 0 END) AS failed FROM signins";
    let result = engine.sql(sql).await.unwrap();
    let batch = &result.batches[0];
    let col = |i: usize| {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    assert_eq!(col(0), (DAYS * ROWS_PER_DAY) as i64);
    assert_eq!(col(1), (DAYS * ROWS_PER_DAY / 4) as i64);
    assert!(store.manifest().unwrap().version > opened_at);
    assert!(!engine.snapshot_intact().unwrap());
    let fresh = QueryEngine::open(&store, None).await.unwrap();
    assert!(fresh.snapshot_intact().unwrap());

    // Bad SQL over a changed store is still an error.
    assert!(engine.sql("SELECT nope FROM signins").await.is_err());
}
