//! Benchmark: how long opening a table takes once it has many commits.
//!
//! `many_commits DATA_DIR COMMITS [OPENS]` makes a sign-in table in `DATA_DIR` and commits to it
//! `COMMITS` times through the store's writer, as a server committing every second would: each
//! commit adds one file, and every 100th also merges the 100 before it (a compaction: removes and
//! an add), so about 100 files stay live. delta-rs writes a checkpoint every 100 commits. Then it
//! opens the store `OPENS` times (default 10) from scratch, as a new process or a query over the
//! latest state does (`Store::snapshot`: list the log, read the last checkpoint and the commits
//! after it), and prints each time. The data files are not written: opening a table never reads
//! them.

use std::sync::Arc;
use std::time::Instant;

use gatehouse_model::LogKind;
use gatehouse_store::{ChangeKind, DataFile, Store, TableChange};

fn file(n: u64) -> DataFile {
    let day = 19_723;
    DataFile {
        path: format!("tenants/bench/signins/date=2024-01-01/part-{n:016x}.parquet"),
        tenant: "bench".into(),
        log: LogKind::SignIns,
        day,
        rows: 1_000,
        bytes: 100_000,
        min_time_ns: 1_704_067_200_000_000_000 + n as i64 * 1_000_000_000,
        max_time_ns: 1_704_067_200_000_000_000 + n as i64 * 1_000_000_000 + 999_000_000,
        stats: Arc::from(
            r#"{"numRecords":1000,"minValues":{"createdDateTime":"2024-01-01T00:00:00.000Z"},"maxValues":{"createdDateTime":"2024-01-01T23:59:59.000Z"},"nullCount":{"createdDateTime":0}}"#,
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(commits)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: many_commits DATA_DIR COMMITS [OPENS]");
        std::process::exit(2);
    };
    let opens: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10);
    let store = Store::open(dir).expect("data directory");
    let existing = store
        .snapshot_blocking()
        .expect("snapshot")
        .table("bench", LogKind::SignIns)
        .map_or(-1, |t| t.version);
    if existing + 1 < commits as i64 {
        let mut writer = store.writer().expect("writer");
        let started = Instant::now();
        let mut live: Vec<DataFile> = writer
            .snapshot()
            .table("bench", LogKind::SignIns)
            .map(|t| t.files.clone())
            .unwrap_or_default();
        for n in (existing + 1) as u64..commits {
            let added = vec![file(n)];
            let removed = if n % 100 == 99 {
                std::mem::take(&mut live)
            } else {
                Vec::new()
            };
            live.extend(added.iter().cloned());
            let kind = if removed.is_empty() {
                ChangeKind::Append
            } else {
                ChangeKind::Compact
            };
            writer
                .commit(vec![TableChange {
                    tenant: "bench".into(),
                    log: LogKind::SignIns,
                    added,
                    removed,
                    positions: vec![("bench/source".into(), n as i64)],
                    kind,
                }])
                .expect("commit");
            if n % 10_000 == 9_999 {
                eprintln!(
                    "{} commits, {:.0} commits/s",
                    n + 1,
                    (n + 1) as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    for _ in 0..opens {
        let started = Instant::now();
        let snapshot = store.snapshot_blocking().expect("snapshot");
        let elapsed = started.elapsed();
        let table = snapshot.table("bench", LogKind::SignIns).expect("table");
        println!(
            "open {:.1} ms version {} files {}",
            elapsed.as_secs_f64() * 1e3,
            table.version,
            table.files.len()
        );
    }
}
