//! Benchmark: how long opening a table takes once it has many commits.
//!
//! `many_commits DATA_DIR COMMITS [OPENS]` makes a sign-in table in `DATA_DIR` with `COMMITS`
//! commits, as a server committing every second would make them: each commit adds one file, and
//! every 100th also merges the 100 before it (a compaction: removes and an add), so about 100 files
//! stay live; a checkpoint every 100 commits. The first 2,000 commits go through the store's writer
//! (delta-rs), and their mean time is printed; the rest are written as delta-rs wrote those (the
//! same actions, by the file, as fast as the disk takes them), with delta-rs writing each
//! checkpoint, since making 100,000 commits through delta-rs takes over half an hour here. Then it
//! opens the store `OPENS` times (default 10) from scratch, as a new process or a query over the
//! latest state does (`Store::snapshot`: list the log, read the last checkpoint and the commits
//! after it), and prints each time. The data files are not written: opening a table never reads
//! them.

use std::sync::Arc;
use std::time::Instant;

use gatehouse_model::{LogKind, SignInKind};
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
        sign_in_kind: Some(SignInKind::NonInteractiveUser),
    }
}

/// Writes commits `from..to` as the writer wrote the earlier ones (version `n + 1` for commit
/// `n`), with a delta-rs checkpoint wherever the writer would have made one.
fn append_commits(store: &Store, from: u64, to: u64) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let log = store.root().join("tenants/bench/signins/_delta_log");
    let now = 1_796_396_054_386_i64;
    let add = |n: u64| {
        format!(
            r#"{{"add":{{"path":"date=2024-01-01/part-{n:016x}.parquet","partitionValues":{{"date":"2024-01-01"}},"size":100000,"modificationTime":{now},"dataChange":true,"stats":"{{\"numRecords\":1000,\"minValues\":{{\"createdDateTime\":\"2024-01-01T00:00:00.000Z\"}},\"maxValues\":{{\"createdDateTime\":\"2024-01-01T23:59:59.000Z\"}},\"nullCount\":{{\"createdDateTime\":0}}}}","tags":null,"baseRowId":null,"defaultRowCommitVersion":null,"clusteringProvider":null}}}}"#
        )
    };
    let remove = |n: u64| {
        format!(
            r#"{{"remove":{{"path":"date=2024-01-01/part-{n:016x}.parquet","dataChange":false,"deletionTimestamp":{now},"extendedFileMetadata":true,"partitionValues":{{"date":"2024-01-01"}},"size":100000}}}}"#
        )
    };
    // The files live before `from`: the last merge's and those added since.
    let last_merge = (from.saturating_sub(100) / 100) * 100 + 99;
    let mut live: Vec<u64> = (last_merge.min(from)..from).collect();
    for n in from..to {
        let compact = n % 100 == 99;
        let operation = if compact {
            r#"{"commitInfo":{"timestamp":TS,"operation":"OPTIMIZE","operationParameters":{"predicate":"[]","targetSize":"0"},"engineInfo":"delta-rs:1.1.3","clientVersion":"delta-rs.1.1.3"}}"#
        } else {
            r#"{"commitInfo":{"timestamp":TS,"operation":"WRITE","operationParameters":{"mode":"Append","partitionBy":"[\"date\"]"},"engineInfo":"delta-rs:1.1.3","clientVersion":"delta-rs.1.1.3"}}"#
        };
        let mut text = operation.replace("TS", &now.to_string());
        text.push('\n');
        text.push_str(&add(n));
        text.push('\n');
        if compact {
            for f in live.drain(..) {
                text.push_str(&remove(f));
                text.push('\n');
            }
        }
        live.push(n);
        text.push_str(&format!(
            r#"{{"txn":{{"appId":"bench/source","version":{n},"lastUpdated":{now}}}}}"#
        ));
        text.push('\n');
        let version = n + 1;
        std::fs::write(log.join(format!("{version:020}.json")), text).expect("commit file");
        if (version + 1) % 100 == 0 {
            rt.block_on(async {
                let table =
                    gatehouse_store::delta::open_table(store.root(), "bench", LogKind::SignIns)
                        .await
                        .expect("open")
                        .expect("a table");
                deltalake::checkpoints::create_checkpoint(&table, None)
                    .await
                    .expect("checkpoint");
            });
        }
        if version % 10_000 == 0 {
            eprintln!("{version} commits");
        }
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
    const THROUGH_WRITER: u64 = 2_000;
    if existing + 1 < THROUGH_WRITER.min(commits) as i64 {
        let mut writer = store.writer().expect("writer");
        let started = Instant::now();
        let mut live: Vec<DataFile> = writer
            .snapshot()
            .table("bench", LogKind::SignIns)
            .map(|t| t.files.clone())
            .unwrap_or_default();
        for n in (existing + 1) as u64..THROUGH_WRITER.min(commits) {
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
        }
        let n = THROUGH_WRITER.min(commits) as i64 - existing - 1;
        eprintln!(
            "commit through the writer: {:.1} ms each ({n} commits)",
            started.elapsed().as_secs_f64() * 1e3 / n.max(1) as f64
        );
    }
    let existing = existing.max(THROUGH_WRITER.min(commits) as i64 - 1);
    if existing + 1 < commits as i64 {
        append_commits(&store, (existing + 1) as u64, commits);
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
