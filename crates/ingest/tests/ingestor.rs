//! The Ingestor as a service: jobs from many threads are acknowledged only once committed, rows
//! become visible to a reader of the Delta logs within the commit interval, positions are
//! committed with the rows, and maintenance runs between commits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_formats::input::InputFile;
use gatehouse_ingest::{
    IngestOptions, Ingestor, InputsJob, Maintenance, NoObserver, SourcePosition,
};
use gatehouse_model::LogKind;
use gatehouse_store::{Store, TableConfig};

fn sign_in(n: u64, second: u64) -> String {
    format!(
        r#"{{"id":"00000000-0000-4000-8000-{n:012}","createdDateTime":"2026-11-0{}T10:{:02}:{:02}Z","userPrincipalName":"u{}@contoso.com","status":{{"errorCode":0}}}}"#,
        1 + second / 3600 % 3,
        second / 60 % 60,
        second % 60,
        n % 17
    )
}

fn body(from: u64, count: u64) -> Vec<u8> {
    let mut s = String::new();
    for n in from..from + count {
        s.push_str(&sign_in(n, n));
        s.push('\n');
    }
    s.into_bytes()
}

fn options(interval_ms: u64) -> IngestOptions {
    IngestOptions {
        commit_interval: Some(Duration::from_millis(interval_ms)),
        threads: 2,
        ..IngestOptions::default()
    }
}

fn rows_on_disk(store: &Store) -> u64 {
    store.snapshot_blocking().unwrap().rows(LogKind::SignIns)
}

#[test]
fn jobs_are_acknowledged_once_committed_and_visible_within_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ingestor = Ingestor::start(
        &store,
        options(1000),
        TableConfig::default(),
        Arc::new(NoObserver),
    )
    .unwrap();
    // A second writer is refused while the ingestor holds the store.
    assert!(store.writer().is_err());

    // Visibility: rows pushed are seen by a reader of the Delta logs within about a second.
    let started = Instant::now();
    let rx = ingestor
        .submit_inputs(InputsJob {
            inputs: vec![InputFile::memory("push-1", body(0, 500))],
            tenant: Some("contoso".into()),
            ..InputsJob::default()
        })
        .unwrap();
    let mut visible_after = None;
    while started.elapsed() < Duration::from_secs(5) {
        if rows_on_disk(&store) == 500 {
            visible_after = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let visible_after = visible_after.expect("rows never became visible");
    assert!(
        visible_after < Duration::from_millis(1800),
        "visible after {visible_after:?}"
    );
    let outcome = rx.recv().unwrap().unwrap();
    assert_eq!(outcome.total_stored(), 500);
    // Acknowledged only after the commit: the rows are there.
    assert_eq!(ingestor.snapshot().rows(LogKind::SignIns), 500);

    // Many pushers at once, with overlapping records: each acknowledgement counts its own rows,
    // and nothing is stored twice.
    let ingestor = Arc::new(ingestor);
    let handles: Vec<_> = (0..6u64)
        .map(|t| {
            let ingestor = Arc::clone(&ingestor);
            std::thread::spawn(move || {
                let mut stored = 0;
                let mut duplicates = 0;
                for round in 0..5u64 {
                    // Half of each body overlaps the next pusher's.
                    let from = 1_000 + t * 200 + round * 40;
                    let outcome = ingestor
                        .ingest(InputsJob {
                            inputs: vec![InputFile::memory(
                                format!("push-{t}-{round}"),
                                body(from, 60),
                            )],
                            tenant: Some("contoso".into()),
                            ..InputsJob::default()
                        })
                        .unwrap()
                        .unwrap();
                    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
                    stored += outcome.total_stored();
                    duplicates += outcome.duplicates;
                }
                (stored, duplicates)
            })
        })
        .collect();
    let (mut stored, mut duplicates) = (0, 0);
    for h in handles {
        let (s, d) = h.join().unwrap();
        stored += s;
        duplicates += d;
    }
    let unique: std::collections::BTreeSet<u64> = (0..6u64)
        .flat_map(|t| {
            (0..5u64).flat_map(move |r| (1_000 + t * 200 + r * 40)..(1_060 + t * 200 + r * 40))
        })
        .collect();
    assert_eq!(stored, unique.len() as u64);
    assert_eq!(stored + duplicates, 6 * 5 * 60);
    assert_eq!(rows_on_disk(&store), 500 + unique.len() as u64);

    // A position is committed with the rows it covers: in the Delta log of the table the rows
    // went to, and in the store's positions.
    let outcome = ingestor
        .ingest(InputsJob {
            inputs: vec![InputFile::memory("blob", body(5_000, 10))],
            tenant: Some("contoso".into()),
            position: Some(SourcePosition {
                app_id: "watch:landing/a.json".into(),
                version: 4_242,
            }),
            ..InputsJob::default()
        })
        .unwrap()
        .unwrap();
    assert_eq!(outcome.total_stored(), 10);
    assert_eq!(
        store.positions().unwrap().get("watch:landing/a.json"),
        Some(&4_242)
    );
    let log = dir.path().join("tenants/contoso/signins/_delta_log");
    let txns = std::fs::read_dir(&log)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains("\"txn\"") && l.contains("watch:landing/a.json"))
        .count();
    assert_eq!(txns, 1, "one txn action for the position");

    // Dozens of flushes each left a small file per partition; compaction after the flushes
    // (merging on a thread of its own, each merge committed when done) keeps their number down.
    let files_per_day = || {
        let mut per_day = std::collections::BTreeMap::<i32, usize>::new();
        for f in store.snapshot_blocking().unwrap().files() {
            *per_day.entry(f.day).or_default() += 1;
        }
        per_day
    };
    let settled = std::time::Instant::now() + Duration::from_secs(20);
    let per_day = loop {
        let per_day = files_per_day();
        let few = per_day
            .values()
            .all(|n| *n < gatehouse_store::maintenance::COMPACT_MIN_FILES);
        if few || std::time::Instant::now() > settled {
            assert!(few, "{per_day:?}");
            break per_day;
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    // Maintenance between commits.
    let (tx, rx) = crossbeam_channel::bounded(1);
    ingestor
        .maintain(Maintenance::Compact(Box::new(move |r| {
            let _ = tx.send(r.map(|r| r.partitions));
        })))
        .unwrap();
    let compacted = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
    assert_eq!(
        compacted,
        per_day.values().filter(|n| **n > 1).count(),
        "every partition with more than one (small) file"
    );
    let snapshot = store.snapshot_blocking().unwrap();
    for day in per_day.keys() {
        let files = snapshot.files().filter(|f| f.day == *day).count();
        assert_eq!(files, 1, "day {day}");
    }
    assert_eq!(rows_on_disk(&store), 510 + unique.len() as u64);

    // Shutting down commits what is queued and releases the store.
    let ingestor = Arc::into_inner(ingestor).expect("no other owner");
    ingestor.shutdown().unwrap();
    assert!(store.writer().is_ok());
}
