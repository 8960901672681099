//! Other engines read the store as Delta tables and see what `gatehouse sql` sees: the Python
//! `deltalake` package (delta-rs) reads every table with the same rows, the statistics Gatehouse
//! commits are ones it understands, and a reader that opens the tables again and again while
//! ingests and compactions commit always sees a whole snapshot: at each version exactly the rows
//! the log says are live then (checked against an independent replay of the log).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{ndjson, python, run_python, signin, testdata, ts, Gh, TABLES};
use serde_json::Value;

const COUNTS: &str = r#"
import glob, json, os, sys
from deltalake import DeltaTable
out = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "tenants", "*", "*"))):
    tenant, table = path.split(os.sep)[-2:]
    dt = DeltaTable(path)
    actions = dt.get_add_actions(flatten=True)
    names = actions.schema.names
    out[f"{tenant}/{table}"] = {
        "rows": dt.to_pyarrow_dataset().count_rows(),
        "files": len(dt.file_uris()),
        "partitions": sorted({str(p) for p in actions.column("partition.date").to_pylist()}),
        "has_time_stats": any(n.startswith("min.") and ("DateTime" in n) for n in names),
        "stat_rows": sum(actions.column("num_records").to_pylist()),
    }
print(json.dumps(out))
"#;

#[test]
fn deltalake_reads_every_table_with_the_rows_gatehouse_sql_counts() {
    let py = python();
    let gh = Gh::new();
    let sim = gh.dir.join("sim");
    gh.run(&[
        "simulate".as_ref(),
        "--users".as_ref(),
        "30".as_ref(),
        "--days".as_ref(),
        "2".as_ref(),
        "--out".as_ref(),
        sim.as_os_str(),
    ])
    .expect_code(0, "simulate");
    gh.ingest(&[sim.as_os_str()])
        .expect_code(0, "ingest the simulated tenant");
    gh.ingest(&[testdata().join("formats"), testdata().join("fixtures")])
        .no_panic("ingest the samples");
    let delta = run_python(&py, COUNTS, &[gh.data.as_os_str()]);
    let delta = delta.as_object().unwrap();
    assert!(delta.len() >= 6, "{delta:?}");
    let mut checked = 0;
    for (key, v) in delta {
        let (tenant, table) = key.split_once('/').unwrap();
        assert!(TABLES.contains(&table), "{key}");
        let ours = gh.run(&[
            "sql",
            "--tenant",
            tenant,
            &format!("SELECT count(*) AS n, count(DISTINCT date_trunc('day', \"{}\")) AS d FROM \"{table}\"", time_column(table)),
            "--format",
            "json",
        ]);
        ours.expect_code(0, key);
        let ours: Value = serde_json::from_str(&ours.stdout).unwrap();
        assert_eq!(
            v["rows"], ours[0]["n"],
            "{key}: rows, deltalake vs gatehouse sql"
        );
        assert_eq!(v["stat_rows"], ours[0]["n"], "{key}: numRecords in the log");
        assert_eq!(
            v["partitions"].as_array().unwrap().len() as i64,
            ours[0]["d"].as_i64().unwrap(),
            "{key}: one date partition per day"
        );
        assert_eq!(
            v["has_time_stats"], true,
            "{key}: min/max statistics deltalake reads"
        );
        checked += 1;
    }
    assert_eq!(checked, delta.len());
}

fn time_column(table: &str) -> &'static str {
    match table {
        "signins" => "createdDateTime",
        "riskyUsers" => "riskLastUpdatedDateTime",
        _ => "activityDateTime",
    }
}

/// Opens the table again and again until `stop` exists, printing each version it saw and the
/// rows it read there.
const WATCH: &str = r#"
import json, os, sys, time
from deltalake import DeltaTable
path, stop = sys.argv[1], sys.argv[2]
seen, errors = [], []
while not os.path.exists(stop) or not seen:
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        time.sleep(0.005)
        continue
    try:
        dt = DeltaTable(path)
        seen.append([dt.version(), dt.to_pyarrow_dataset().count_rows()])
    except Exception as e:
        errors.append(repr(e))
print(json.dumps({"seen": seen, "errors": errors}))
"#;

#[test]
fn a_delta_reader_sees_whole_snapshots_while_ingest_and_compaction_commit() {
    let py = python();
    let gh = Gh::new();
    let stop = gh.dir.join("stop");
    let table = gh.data.join("tenants/contoso/signins");
    let watcher = {
        let (py, table, stop) = (py.clone(), table.clone(), stop.clone());
        std::thread::spawn(move || run_python(&py, WATCH, &[table.as_os_str(), stop.as_os_str()]))
    };
    // Many small commits (a file closes every 7 rows), then compactions that replace them, over
    // three rounds.
    for round in 0..3u32 {
        let records: Vec<Value> = (0..300u64)
            .map(|n| {
                signin(
                    &common::guid(40 + round, n),
                    &ts(1_709_251_200 + (n % 4) as i64 * 86_400 + n as i64),
                )
            })
            .collect();
        let path = gh.write(&format!("round-{round}.jsonl"), ndjson(&records));
        gh.run(&[
            "ingest".as_ref(),
            "--tenant".as_ref(),
            "contoso".as_ref(),
            "--file-rows".as_ref(),
            "7".as_ref(),
            path.as_os_str(),
        ])
        .expect_code(0, "ingest");
        gh.run(&["compact"]).expect_code(0, "compact");
    }
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&stop, "").unwrap();
    let watched = watcher.join().unwrap();
    assert_eq!(watched["errors"], Value::Array(vec![]), "the reader failed");
    let expected: BTreeMap<u64, u64> = gh.rows_by_version("contoso", "signins");
    let ops = gh.operations("contoso", "signins");
    assert!(
        ops.iter().filter(|o| *o == "OPTIMIZE").count() >= 3,
        "{ops:?}"
    );
    let seen = watched["seen"].as_array().unwrap();
    assert!(seen.len() > 10, "only {} reads", seen.len());
    let mut versions = std::collections::BTreeSet::new();
    for s in seen {
        let (version, rows) = (s[0].as_u64().unwrap(), s[1].as_u64().unwrap());
        assert_eq!(
            Some(&rows),
            expected.get(&version),
            "at version {version} the reader read {rows} rows; the log says {:?}",
            expected.get(&version)
        );
        versions.insert(version);
    }
    assert_eq!(*expected.values().last().unwrap(), 900);
    eprintln!(
        "{} reads over {} versions (of {}), every one a whole snapshot",
        seen.len(),
        versions.len(),
        expected.len()
    );
}
