//! `kill -9` during ingest never corrupts the store, loses committed rows or duplicates any.
//!
//! 100 000 small Graph sign-ins (deterministic ids, spread over four days, in time order) are
//! ingested with `--file-rows 2000 --threads 2` and the commit log on stderr. Each run is killed
//! (SIGKILL) at a chosen point: at a random early moment, then after the 1st, 3rd and 7th commit
//! line. After each kill: the store opens, `count(*)` works and is at least what the runs so far
//! reported committed, no id is stored twice, Parquet files no commit made live (left by the
//! killed writer, or planted by the test) are not read, and the next writer clears the staging
//! folder. A last, uninterrupted ingest stores exactly the unique records, and a vacuum deletes
//! every file no commit made live.
//!
//! The records go to 50 files of 2 000: ingest commits once per 4 MiB chunk read, so one 30 MB
//! file would give only ~8 commits, and later runs (which skip the stored part as duplicates)
//! would never reach a 7th.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{committed_stored, guid, strip_ansi, ts, Gh};
use serde_json::json;

const RECORDS: u64 = 100_000;
const PER_FILE: u64 = 2_000;
/// 2024-03-01T00:00:00Z.
const START: i64 = 1_709_251_200;
const SPAN_SECS: i64 = 4 * 86_400;

fn write_inputs(gh: &Gh) -> PathBuf {
    let dir = gh.dir.join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for n in 0..RECORDS {
        let t = START + (n as i64 * SPAN_SECS) / RECORDS as i64;
        let rec = json!({
            "id": guid(1, n),
            "createdDateTime": ts(t),
            "userPrincipalName": format!("user{}@contoso.example", n % 977),
            "appDisplayName": "Office 365 Exchange Online",
            "ipAddress": "198.51.100.20",
            "isInteractive": n % 3 != 0,
            "status": {"errorCode": if n % 11 == 0 { 50126 } else { 0 }},
            "deviceDetail": {"browser": "Edge 120.0.0"}
        });
        text.push_str(&rec.to_string());
        text.push('\n');
        if (n + 1) % PER_FILE == 0 {
            std::fs::write(
                dir.join(format!("signins-{:03}.jsonl", n / PER_FILE)),
                &text,
            )
            .unwrap();
            text.clear();
        }
    }
    dir
}

/// How a run ends.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// After this many milliseconds (whatever has happened by then).
    AfterMs(u64),
    /// Right after the n-th "committed" line.
    AfterCommit(usize),
    /// Not at all.
    Never,
}

struct Outcome {
    /// Highest `stored=` logged by the run (rows it committed, at least).
    stored: u64,
    /// "committed" lines seen.
    commits: usize,
    /// Whether the process was killed (rather than exiting).
    killed: bool,
    stdout: String,
    stderr: String,
}

fn spawn(gh: &Gh, input: &PathBuf) -> Child {
    gh.cmd()
        .args(["ingest", "--file-rows", "2000", "--threads", "2"])
        .arg(input)
        .env("RUST_LOG", "gatehouse_ingest=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gatehouse ingest")
}

/// Runs an ingest and kills it at `kill`; `on_first_commit` runs when the first commit is seen
/// (the writer has recovered the store by then).
fn run(gh: &Gh, input: &PathBuf, kill: Kill, on_first_commit: &mut dyn FnMut()) -> Outcome {
    let mut child = spawn(gh, input);
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            all.push(line.clone());
            let _ = tx.send(line);
        }
        all
    });
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });

    let mut commits = 0;
    let mut killed = false;
    let guard = Duration::from_secs(120);
    let target = match kill {
        Kill::AfterMs(ms) => {
            // Not an assertion: only picks the moment of the crash.
            std::thread::sleep(Duration::from_millis(ms));
            killed = child.kill().is_ok();
            None
        }
        Kill::AfterCommit(n) => Some(n),
        Kill::Never => Some(usize::MAX),
    };
    if let Some(target) = target {
        loop {
            match rx.recv_timeout(guard) {
                Ok(line) => {
                    if committed_stored(&line).is_some() {
                        commits += 1;
                        if commits == 1 {
                            on_first_commit();
                        }
                        if commits == target {
                            killed = child.kill().is_ok();
                            break;
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("no progress on stderr for {guard:?}");
                }
            }
        }
    }
    let status = child.wait().expect("wait");
    let lines = reader.join().expect("stderr reader");
    let stdout = out_reader.join().expect("stdout reader");
    // Every line written before the process died counts: its commit happened.
    let stored = lines
        .iter()
        .filter_map(|l| committed_stored(l))
        .max()
        .unwrap_or(0);
    let all_commits = lines
        .iter()
        .filter(|l| committed_stored(l).is_some())
        .count();
    let stderr: Vec<String> = lines.iter().map(|l| strip_ansi(l)).collect();
    let stderr = stderr.join("\n");
    assert!(
        !stderr.contains("panicked"),
        "the ingest panicked:\n{stderr}"
    );
    if !killed {
        assert_eq!(
            status.code(),
            Some(0),
            "ingest exited on its own with {status:?} ({kill:?})\n{stdout}\n{stderr}"
        );
    }
    Outcome {
        stored,
        commits: all_commits.max(commits),
        killed: killed && status.code().is_none(),
        stdout,
        stderr,
    }
}

/// Parquet files on disk that no table's Delta log lists as live.
fn orphans(gh: &Gh) -> Vec<String> {
    let live: std::collections::HashSet<String> = gh.live_files().into_iter().collect();
    gh.parquet_on_disk()
        .into_iter()
        .filter(|f| !live.contains(f))
        .collect()
}

/// Copies a live file to a name no commit made live, and leaves junk in the staging folder, so
/// the next writer has something to clean up even when the kill left nothing behind.
fn plant_orphans(gh: &Gh, tag: usize) -> Vec<String> {
    let mut planted = Vec::new();
    if let Some(live) = gh.live_files().first() {
        let src = gh.data.join(live);
        let rel = format!(
            "{}/part-planted{tag}.parquet",
            live.rsplit_once('/').map_or("", |(d, _)| d)
        );
        std::fs::copy(&src, gh.data.join(&rel)).expect("plant orphan");
        planted.push(rel);
    }
    let staging = gh.data.join("_staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(
        staging.join(format!("part-junk{tag}.parquet")),
        b"PAR1 half",
    )
    .unwrap();
    planted
}

fn check_store(gh: &Gh, at_least: u64, what: &str) -> i64 {
    let rows = gh.sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM signins");
    let n = rows[0]["n"].as_i64().expect("count");
    let d = rows[0]["d"].as_i64().expect("distinct");
    assert_eq!(n, d, "{what}: an id is stored twice ({n} rows, {d} ids)");
    assert!(
        n as u64 >= at_least,
        "{what}: {n} rows, but the runs so far logged {at_least} committed"
    );
    assert!(n as u64 <= RECORDS, "{what}: {n} rows > {RECORDS} records");
    // Every live file exists and is readable (the query reads them all).
    assert_eq!(
        gh.sql_int("SELECT count(*) FROM signins WHERE \"createdDateTime\" IS NOT NULL"),
        n,
        "{what}"
    );
    n
}

#[test]
fn kill_nine_during_ingest_loses_nothing_committed() {
    let gh = Gh::new();
    let input = write_inputs(&gh);
    let early_ms = 5
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0) as u64
            % 60);
    let plan = [
        Kill::AfterMs(early_ms),
        Kill::AfterCommit(1),
        Kill::AfterCommit(3),
        Kill::AfterCommit(7),
    ];
    let mut committed_so_far = 0u64;
    // Orphans (left by the previous kill, or planted): never read, deleted by the vacuum.
    let mut to_clean: Vec<String> = Vec::new();
    for (i, kill) in plan.iter().enumerate() {
        let what = format!("run {} ({kill:?})", i + 1);
        let mut checked_cleanup = false;
        let pending = to_clean.clone();
        let data = gh.data.clone();
        let mut on_first_commit = || {
            // The writer clears the staging folder when it opens the store, before its first
            // commit; orphans stay for the vacuum (a reader of an older snapshot might hold one).
            for f in &pending {
                assert!(data.join(f).exists(), "{what}: {f} deleted before a vacuum");
            }
            assert!(
                !data
                    .join("_staging")
                    .join(format!("part-junk{i}.parquet"))
                    .exists(),
                "{what}: staging junk survived"
            );
            checked_cleanup = true;
        };
        let out = run(&gh, &input, *kill, &mut on_first_commit);
        if let Kill::AfterCommit(n) = kill {
            assert!(
                out.killed,
                "{what}: finished before commit {n}\n{}\n{}",
                out.stdout, out.stderr
            );
            assert!(out.commits >= *n, "{what}: {} commits", out.commits);
            assert!(checked_cleanup, "{what}");
        }
        committed_so_far += out.stored;
        let rows = check_store(&gh, committed_so_far, &what);
        // Whatever the kill left behind, plus planted leftovers, for the next run to clean.
        to_clean = orphans(&gh);
        eprintln!(
            "{what}: {} commit line(s), stored={} logged, {rows} rows live, {} file(s) not live",
            out.commits,
            out.stored,
            to_clean.len()
        );
        to_clean.extend(plant_orphans(&gh, i + 1));
    }

    // An uninterrupted run completes the store.
    let before = check_store(&gh, committed_so_far, "before the last run");
    let pending = to_clean.clone();
    let data = gh.data.clone();
    let mut noop = || {};
    let out = run(&gh, &input, Kill::Never, &mut noop);
    assert!(!out.killed);
    let s = common::Summary::parse(&out.stdout).expect("summary");
    assert_eq!(s.stored as i64, RECORDS as i64 - before, "{}", out.stdout);
    assert_eq!(s.duplicates as i64, before, "{}", out.stdout);
    assert!(s.rejected.is_empty());
    let n = check_store(&gh, RECORDS, "after the last run");
    assert_eq!(n as u64, RECORDS);
    let orphans_left = orphans(&gh);
    assert!(pending.iter().all(|f| orphans_left.contains(f)));
    gh.run(&["vacuum", "--older-than-hours", "0"])
        .expect_code(0, "vacuum");
    for f in &pending {
        assert!(!data.join(f).exists(), "{f} survived the vacuum");
    }
    assert!(orphans(&gh).is_empty(), "files no commit made live remain");
    assert_eq!(gh.parquet_on_disk(), gh.live_files());
    // Nothing half-written is left in staging either.
    let staging = gh.data.join("_staging");
    let leftovers: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging: {leftovers:?}");
    // The records are the ones written: spot checks by id.
    for n in [0, 1, 49_999, RECORDS - 1] {
        let id = guid(1, n);
        assert_eq!(
            gh.sql_int(&format!("SELECT count(*) FROM signins WHERE id = '{id}'")),
            1,
            "{id}"
        );
    }
    assert_eq!(
        gh.sql_int("SELECT count(*) FROM signins WHERE status.\"errorCode\" = 50126"),
        (RECORDS as i64 + 10) / 11
    );
}
