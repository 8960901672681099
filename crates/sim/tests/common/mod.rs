//! Helpers shared by the simulator's integration tests: small option sets, reading the output
//! tree back, and timestamp parsing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use gatehouse_sim::{AttackSelection, OutputFormat, SimOptions};
use serde_json::Value;

/// Small, fast options starting on a Monday.
pub fn small(format: OutputFormat, attacks: AttackSelection) -> SimOptions {
    SimOptions {
        users: 30,
        days: 2,
        seed: 7,
        start: NaiveDate::from_ymd_opt(2026, 11, 2).expect("date"),
        tenant_id: String::new(),
        format,
        attacks,
        gzip: false,
    }
}

/// All files under `dir`, sorted, relative paths as keys.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).expect("read_dir") {
            let e = e.expect("entry");
            let path: PathBuf = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .to_string();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

/// Parses every NDJSON line of the files whose relative path contains `needle`.
pub fn records(tree: &BTreeMap<String, Vec<u8>>, needle: &str) -> Vec<Value> {
    let mut v = Vec::new();
    for (k, data) in tree {
        if !k.contains(needle) {
            continue;
        }
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            v.push(serde_json::from_slice(line).unwrap_or_else(|e| panic!("bad JSON in {k}: {e}")));
        }
    }
    v
}

/// Parses the timestamp shapes the simulator writes (Z, +00:00, US format).
pub fn parse_time(s: &str) -> DateTime<Utc> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.with_timezone(&Utc);
    }
    NaiveDateTime::parse_from_str(s, "%m/%d/%Y %I:%M:%S %p")
        .unwrap_or_else(|e| panic!("bad time {s}: {e}"))
        .and_utc()
}

/// Runs a simulation into a fresh temporary directory.
pub fn run(opts: &SimOptions) -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    gatehouse_sim::simulate_to_dir(opts, dir.path(), &mut |_, _, _| {}).expect("simulate");
    let tree = read_tree(dir.path());
    (dir, tree)
}

static GRAPH_DEFAULT: std::sync::OnceLock<BTreeMap<String, Vec<u8>>> = std::sync::OnceLock::new();
static GRAPH_NONE: std::sync::OnceLock<BTreeMap<String, Vec<u8>>> = std::sync::OnceLock::new();

/// Output of `small(Graph, Default)` (with scenarios) or `small(Graph, None)`, generated once
/// per test binary and shared by its tests.
pub fn shared_graph(with_attacks: bool) -> &'static BTreeMap<String, Vec<u8>> {
    let (cell, attacks) = if with_attacks {
        (&GRAPH_DEFAULT, AttackSelection::Default)
    } else {
        (&GRAPH_NONE, AttackSelection::None)
    };
    cell.get_or_init(|| run(&small(OutputFormat::Graph, attacks)).1)
}
