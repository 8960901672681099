//! The simulator end to end through the real binary: its output in both formats ingests with zero
//! rejects, labels name stored records, `--into-store` equals file-then-ingest, and `demo` runs.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

fn gatehouse(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run gatehouse")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn count(data: &Path, sql: &str) -> u64 {
    let out = ok(&gatehouse(data, &["sql", sql, "--format", "csv"]));
    out.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"))
}

const TENANT: &str = "0f8e6a52-8d0c-4f3e-9a55-2f4d3c1b0a99";

/// The one simulated tenant every test here uses.
const SIMULATE: [&str; 11] = [
    "simulate",
    "--users",
    "30",
    "--days",
    "2",
    "--seed",
    "11",
    "--start",
    "2026-10-05",
    "--tenant",
    TENANT,
];

fn simulate(out: &Path, format: &str, extra: &[&str]) {
    let data = out.join("unused-data");
    let mut args = SIMULATE.to_vec();
    args.extend_from_slice(&["--format", format, "--out"]);
    let out_s = out.to_string_lossy().into_owned();
    args.push(&out_s);
    args.extend_from_slice(extra);
    ok(&gatehouse(&data, &args));
}

#[test]
fn both_formats_ingest_without_rejects_and_agree() {
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("graph-out");
    let diag = dir.path().join("diag-out");
    simulate(&graph, "graph", &[]);
    simulate(&diag, "diagnostic", &["--gzip"]);

    let g_data = dir.path().join("g");
    // The whole output folder: logs ingest, the simulator's labels.jsonl and tenant.json are skipped.
    let out = ok(&gatehouse(
        &g_data,
        &["ingest", "--tenant", TENANT, graph.to_str().unwrap()],
    ));
    assert!(out.contains("Rejected: 0"), "{out}");
    let d_data = dir.path().join("d");
    // No --tenant: diagnostic records name their tenant themselves.
    let out = ok(&gatehouse(&d_data, &["ingest", diag.to_str().unwrap()]));
    assert!(out.contains("Rejected: 0"), "{out}");
    assert!(
        d_data.join("tenants").join(TENANT).is_dir(),
        "diagnostic records land in their own tenant"
    );

    for table in ["signins", "audits", "provisioning"] {
        let sql = format!("SELECT count(*) FROM {table}");
        let (g, d) = (count(&g_data, &sql), count(&d_data, &sql));
        assert!(g > 0, "{table} empty");
        assert_eq!(
            g, d,
            "{table}: graph and diagnostic exports of the same tenant differ"
        );
    }
    // All four sign-in types, with the same split in both shapes.
    let per_kind = "SELECT count(DISTINCT signInEventTypes[1]) FROM signins";
    assert_eq!(count(&g_data, per_kind), 4);
    assert_eq!(count(&d_data, per_kind), 4);
    let non_interactive =
        "SELECT count(*) FROM signins WHERE signInEventTypes[1] = 'nonInteractiveUser'";
    assert_eq!(
        count(&g_data, non_interactive),
        count(&d_data, non_interactive)
    );

    // Labels name records that are stored, by id.
    let labels = std::fs::read_to_string(graph.join("labels.jsonl")).unwrap();
    let mut ids = HashSet::new();
    for line in labels.lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        for id in l["record_ids"].as_array().unwrap() {
            ids.insert(id.as_str().unwrap().to_string());
        }
    }
    assert!(!ids.is_empty(), "default attacks produce labels");
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    let found = count(
        &g_data,
        &format!(
            "SELECT (SELECT count(*) FROM signins WHERE id IN ({list})) + (SELECT count(*) FROM audits WHERE id IN ({list}))"
        ),
    );
    assert_eq!(
        found as usize,
        ids.len(),
        "every labelled record id is stored"
    );
}

#[test]
fn into_store_matches_files_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    simulate(&files, "graph", &[]);
    let a = dir.path().join("a");
    ok(&gatehouse(
        &a,
        &[
            "ingest",
            "--tenant",
            TENANT,
            files.join("graph").to_str().unwrap(),
        ],
    ));
    let b = dir.path().join("b");
    let mut args = SIMULATE.to_vec();
    args.push("--into-store");
    ok(&gatehouse(&b, &args));
    for table in ["signins", "audits", "provisioning"] {
        let sql = format!("SELECT count(*), count(DISTINCT id) FROM {table}");
        let (x, y) = (
            ok(&gatehouse(&a, &["sql", &sql, "--format", "csv"])),
            ok(&gatehouse(&b, &["sql", &sql, "--format", "csv"])),
        );
        assert_eq!(x, y, "{table}");
    }
    // Simulating into the same store again stores nothing new.
    let out = ok(&gatehouse(&b, &args));
    assert!(out.contains(": 0 records stored"), "{out}");
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = ok(&gatehouse(
        &data,
        &["demo", "--users", "25", "--days", "2", "--exit"],
    ));
    for q in [
        "1. How many users signed into each application this week?",
        "2. How many sign-ins failed in the last 24 hours, and why?",
        "3. Which browsers and operating systems are in use?",
        "4. Which resources did managed identities and service principals access?",
    ] {
        assert!(out.contains(q), "missing {q:?} in\n{out}");
    }
    assert!(
        out.contains("managedIdentity") && out.contains("servicePrincipal"),
        "{out}"
    );
    // The newest failed interactive sign-in, explained with what to do.
    let why = out
        .split("5. Why did the newest failed interactive sign-in fail?")
        .nth(1)
        .unwrap_or_else(|| panic!("no explanation in\n{out}"));
    assert!(why.contains("failed with error"), "{why}");
    assert!(why.contains("\n  - "), "{why}");
    // The risk engine scored the tenant and says what it found.
    let risk = out
        .split("6. Which sign-ins are risky?")
        .nth(1)
        .unwrap_or_else(|| panic!("no risk section in\n{out}"));
    assert!(risk.contains("scored every stored sign-in"), "{risk}");
    assert!(risk.contains("riskEventType"), "{risk}");
    // Answered by a real server over HTTP, which stopped cleanly afterwards.
    assert!(
        out.contains("Serving ") && out.contains("ms over HTTP)"),
        "{out}"
    );
    assert!(!data.join("_gatehouse/serve.json").exists());
    assert!(data.join("labels.jsonl").is_file());
    assert!(count(&data, "SELECT count(*) FROM signins") > 1000);
}
