//! The store is a set of Delta tables other engines read: DuckDB, reading them through the
//! `deltalake` Python package (delta-rs), sees the same rows and nested values as `gatehouse sql`.
//!
//! DuckDB comes from Python: the interpreter is `$GATEHOUSE_PYTHON` when set, else the
//! workspace's `.venv/bin/python`. Without one that imports `duckdb` and `deltalake` the test
//! fails, saying how to make one.

mod common;

use std::path::Path;

use common::{python, run_python, testdata, Gh};
use serde_json::Value;

/// Runs a Python script (given the data directory as its argument, and [`DELTA_SCAN`]'s `con` and
/// `scan`) and parses the JSON it prints.
fn run_duckdb(py: &Path, script: &str, data: &Path) -> Value {
    run_python(
        py,
        &format!("import sys\n{DELTA_SCAN}\n{script}"),
        &[data.as_os_str()],
    )
}

/// Registers, in a DuckDB connection `con`, each log's Delta tables (one per tenant) as one view,
/// read through the `deltalake` package: `scan(table)` names it. The tables are read whole into
/// Arrow tables first (the tests' stores are small): DuckDB scanning a pyarrow dataset (a union of
/// the tenants' datasets) now and then hung with every thread waiting on a lock.
const DELTA_SCAN: &str = r#"
import glob, duckdb, pyarrow as pa
from deltalake import DeltaTable
con = duckdb.connect()
for table in ["signins", "audits", "provisioning", "riskyUsers", "riskDetections"]:
    parts = [DeltaTable(p).to_pyarrow_table()
             for p in sorted(glob.glob(f"{sys.argv[1]}/tenants/*/{table}"))]
    if parts:
        con.register(f"delta_{table}", pa.concat_tables(parts, promote_options="default"))
def scan(table):
    return f"delta_{table}"
"#;

const SCRIPT: &str = r#"
import json, sys
data = sys.argv[1]
out = {}
for t in ["signins", "audits", "provisioning"]:
    out[t] = con.execute(f"SELECT count(*) FROM {scan(t)}").fetchone()[0]
s = scan("signins")
out["errorCode0"] = con.execute(f"SELECT count(*) FROM {s} WHERE status.errorCode = 0").fetchone()[0]
out["browsers"] = con.execute(f"SELECT count(DISTINCT deviceDetail.browser) FROM {s}").fetchone()[0]
out["failures"] = con.execute(
    f"SELECT count(*) FROM {s} WHERE status.errorCode <> 0").fetchone()[0]
out["dates"] = con.execute(f"SELECT count(DISTINCT date) FROM {s}").fetchone()[0]
out["maxCreated"] = con.execute(
    f"SELECT strftime(max(createdDateTime) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S') FROM {s}").fetchone()[0]
out["steps"] = con.execute(
    f"SELECT count(*) FROM (SELECT unnest(provisioningSteps) AS st FROM {scan('provisioning')}) "
    "WHERE st.provisioningStepType = 'export'").fetchone()[0]
print(json.dumps(out))
"#;

#[test]
fn duckdb_reads_the_store_and_agrees_with_gatehouse_sql() {
    let py = python();
    let data = testdata();
    let gh = Gh::new();
    let run = gh.ingest(&[data.join("formats"), data.join("fixtures")]);
    run.no_panic("ingest");
    assert!(run.summary().stored > 100);

    let duck = run_duckdb(&py, SCRIPT, &gh.data);
    let ours = |q: &str| gh.sql_int(q);
    for t in ["signins", "audits", "provisioning"] {
        let n = ours(&format!("SELECT count(*) FROM {t}"));
        assert!(n > 0, "{t} is empty");
        assert_eq!(duck[t].as_i64(), Some(n), "{t}: duckdb vs gatehouse");
    }
    assert_eq!(
        duck["errorCode0"].as_i64(),
        Some(ours(
            "SELECT count(*) FROM signins WHERE status.\"errorCode\" = 0"
        )),
        "status.errorCode = 0"
    );
    assert_eq!(
        duck["failures"].as_i64(),
        Some(ours(
            "SELECT count(*) FROM signins WHERE status.\"errorCode\" <> 0"
        )),
        "status.errorCode <> 0"
    );
    let browsers = ours("SELECT count(DISTINCT \"deviceDetail\".browser) FROM signins");
    assert!(browsers > 1);
    assert_eq!(
        duck["browsers"].as_i64(),
        Some(browsers),
        "distinct deviceDetail.browser"
    );
    assert_eq!(
        duck["dates"].as_i64(),
        Some(ours(
            "SELECT count(DISTINCT date_trunc('day', \"createdDateTime\")) FROM signins"
        )),
        "one date partition per UTC day"
    );
    let max = gh.sql("SELECT max(\"createdDateTime\") AS t FROM signins");
    let max = max[0]["t"].as_str().expect("max time");
    assert_eq!(
        duck["maxCreated"].as_str(),
        Some(&max[..19]),
        "timestamps are UTC instants in both"
    );
    assert_eq!(
        duck["steps"].as_i64(),
        Some(ours(
            "SELECT count(*) FROM (SELECT unnest(\"provisioningSteps\") AS st FROM provisioning) \
             WHERE st['provisioningStepType'] = 'export'"
        )),
        "provisioning steps of type export"
    );
}

/// String columns at every depth, by the numbers both engines can compute: values present,
/// distinct values and total length. DuckDB reads Gatehouse's own dictionary-encoded string
/// chunks (`store::string_chunks`) and must find what DataFusion (through arrow-rs) finds.
const STRING_PATHS: &[(&str, &str)] = &[
    // (what, a subquery yielding the strings as column x, in each engine's SQL)
    ("userPrincipalName", "SELECT userPrincipalName AS x FROM S"),
    ("appDisplayName", "SELECT appDisplayName AS x FROM S"),
    ("ipAddress", "SELECT ipAddress AS x FROM S"),
    ("userAgent", "SELECT userAgent AS x FROM S"),
    ("sessionId", "SELECT sessionId AS x FROM S"),
    ("servicePrincipalName", "SELECT servicePrincipalName AS x FROM S"),
    ("deviceDetail.browser", "SELECT deviceDetail.browser AS x FROM S"),
    ("location.city", "SELECT location.city AS x FROM S"),
    ("status.failureReason", "SELECT status.failureReason AS x FROM S"),
    ("signInEventTypes[]", "SELECT unnest(signInEventTypes) AS x FROM S"),
    (
        "appliedConditionalAccessPolicies[].displayName",
        "SELECT p.displayName AS x FROM (SELECT unnest(appliedConditionalAccessPolicies) AS p FROM S)",
    ),
    (
        "appliedConditionalAccessPolicies[].result",
        "SELECT p.result AS x FROM (SELECT unnest(appliedConditionalAccessPolicies) AS p FROM S)",
    ),
    (
        "appliedConditionalAccessPolicies[].enforcedGrantControls[]",
        "SELECT unnest(p.enforcedGrantControls) AS x FROM (SELECT unnest(appliedConditionalAccessPolicies) AS p FROM S)",
    ),
    (
        "authenticationProcessingDetails[].value",
        "SELECT d.value AS x FROM (SELECT unnest(authenticationProcessingDetails) AS d FROM S)",
    ),
];

#[test]
fn duckdb_reads_every_kind_of_string_column_as_gatehouse_does() {
    let py = python();
    let gh = Gh::new();
    let sim = gh.dir.join("sim");
    let out = gh.run(&[
        "simulate".as_ref(),
        "--users".as_ref(),
        "40".as_ref(),
        "--days".as_ref(),
        "2".as_ref(),
        "--seed".as_ref(),
        "11".as_ref(),
        "--out".as_ref(),
        sim.as_os_str(),
    ]);
    out.expect_code(0, "simulate");
    gh.ingest(&[sim.as_os_str()]).expect_code(0, "ingest");

    let stats = |x: &str| {
        format!("SELECT count(x) AS n, count(DISTINCT x) AS d, sum(length(x)) AS l FROM ({x})")
    };
    let mut script = String::from("import json, sys\nout = {}\nS = scan('signins')\n");
    for (what, sub) in STRING_PATHS {
        script.push_str(&format!(
            "out[{what:?}] = list(con.execute({:?}.replace('FROM S', 'FROM ' + S)).fetchone())\n",
            stats(sub)
        ));
    }
    script.push_str("print(json.dumps(out))\n");
    let duck = run_duckdb(&py, &script, &gh.data);
    for (what, sub) in STRING_PATHS {
        let ours = gh.sql(&stats(&sub.replace("FROM S", "FROM signins")));
        let ours: Vec<Value> = ["n", "d", "l"]
            .iter()
            .map(|k| {
                let v = &ours[0][*k];
                // DataFusion prints sums as numbers or strings depending on their type.
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .map(Value::from)
                    .unwrap_or(Value::Null)
            })
            .collect();
        assert!(
            ours[0].as_i64().unwrap_or(0) > 0,
            "{what}: no values stored"
        );
        assert_eq!(
            duck[what],
            Value::Array(ours),
            "{what}: duckdb vs gatehouse"
        );
    }
}
