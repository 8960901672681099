//! A query session reads one snapshot of the store: a compaction committed while it is open
//! changes nothing in its answers (the files it replaced stay on disk until a vacuum after the
//! grace period), a new session sees the compacted files, and a vacuum deletes the replaced files
//! only once they are older than the grace period.

use std::time::Duration;

use arrow::array::Int64Array;
use gatehouse_formats::input::expand_paths;
use gatehouse_ingest::{ingest, IngestOptions};
use gatehouse_model::LogKind;
use gatehouse_query::{QueryEngine, QueryResult};
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

fn counts(result: &QueryResult) -> (i64, i64) {
    let batch = &result.batches[0];
    let col = |i: usize| {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    (col(0), col(1))
}

#[test]
fn a_session_opened_before_compaction_reads_its_snapshot() {
    let rt = tokio::runtime::Runtime::new().unwrap();
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
    let before: Vec<_> = writer.snapshot().files().cloned().collect();
    assert!(before.len() >= DAYS * 4, "{} files", before.len());

    let engine = rt.block_on(QueryEngine::open(&store, None)).unwrap();
    let report = compact_all(&mut writer).unwrap();
    assert_eq!(report.partitions, DAYS);
    assert!(
        before.iter().all(|f| store.root().join(&f.path).exists()),
        "compaction leaves the replaced files for older snapshots"
    );

    let sql = "SELECT count(*) AS n, \
               sum(CASE WHEN status.\"errorCode\" <> 0 THEN 1 ELSE 0 END) AS failed FROM signins";
    let expected = (
        (DAYS * ROWS_PER_DAY) as i64,
        (DAYS * ROWS_PER_DAY / 4) as i64,
    );
    assert_eq!(counts(&rt.block_on(engine.sql(sql)).unwrap()), expected);
    let fresh = rt.block_on(QueryEngine::open(&store, None)).unwrap();
    assert!(fresh.snapshot().generation() > engine.snapshot().generation());
    let fresh_files: Vec<_> = fresh.snapshot().files().map(|f| f.path.clone()).collect();
    assert_eq!(fresh_files.len(), DAYS, "one file per day after compaction");
    assert!(fresh_files
        .iter()
        .all(|p| before.iter().all(|f| &f.path != p)));
    assert_eq!(counts(&rt.block_on(fresh.sql(sql)).unwrap()), expected);

    // Within the grace period a vacuum deletes nothing; past it, the replaced files go.
    assert_eq!(writer.vacuum().unwrap(), 0);
    assert!(before.iter().all(|f| store.root().join(&f.path).exists()));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        writer.vacuum_older_than(Duration::from_secs(1)).unwrap(),
        before.len()
    );
    assert!(before.iter().all(|f| !store.root().join(&f.path).exists()));
    assert_eq!(counts(&rt.block_on(fresh.sql(sql)).unwrap()), expected);
    let reopened = rt.block_on(QueryEngine::open(&store, None)).unwrap();
    assert_eq!(counts(&rt.block_on(reopened.sql(sql)).unwrap()), expected);

    // Bad SQL is an error.
    assert!(rt.block_on(engine.sql("SELECT nope FROM signins")).is_err());
}
