//! Inputs spread over many partitions: an ingest whose rows close many files at once finishes,
//! and one spanning more days than the process may open files stays under the descriptor limit.

mod common;

use std::time::{Duration, Instant};

use common::{bin, ndjson, signin, ts, Gh, Run};
use serde_json::Value;

const DAY: i64 = 86_400;
const START: i64 = 1_704_067_200; // 2024-01-01

/// `per_day` sign-ins on each of `days` days, the days interleaved record by record.
fn interleaved(days: i64, per_day: i64) -> Vec<Value> {
    (0..days * per_day)
        .map(|n| {
            let (day, k) = (n % days, n / days);
            signin(&format!("sign-in-{n}"), &ts(START + day * DAY + k * 60))
        })
        .collect()
}

/// Runs the binary through `sh` (for `ulimit`), killing it if it takes longer than `limit`.
fn run_within(gh: &Gh, shell_prefix: &str, args: &[&str], limit: Duration) -> Run {
    let mut script = format!("{shell_prefix} exec \"$0\" --data \"$1\"");
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 2));
    }
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(bin())
        .arg(&gh.data)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning gatehouse");
    let started = Instant::now();
    while child.try_wait().expect("waiting").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("waiting");
            panic!(
                "gatehouse {args:?} still running after {limit:?} (hung?)\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("waiting");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn files_closing_for_many_partitions_at_once_do_not_stall_ingest() {
    // Every record closes its partition's file (--file-rows 1), and each batch holds rows of 20
    // partitions: the writer thread reports far more closed files than the ingesting thread
    // collects while it hands over one batch.
    let gh = Gh::new();
    let input = gh.write("in.jsonl", ndjson(&interleaved(20, 20)));
    let input = input.to_str().unwrap();
    let args = ["ingest", "--threads", "1", "--file-rows", "1", input];
    let run = run_within(&gh, "", &args, Duration::from_secs(60));
    run.expect_code(0, "ingest");
    assert_eq!(run.summary().stored, 400);
    assert_eq!(gh.count("signins"), 400);
    assert_eq!(
        gh.sql_int("SELECT count(DISTINCT CAST(\"createdDateTime\" AS DATE)) FROM signins"),
        20
    );
}

#[test]
fn more_days_than_open_file_descriptors_ingest_under_ulimit() {
    // 400 day partitions, with the process allowed 256 open files: the writer keeps at most
    // 128 files open and closes the coldest partition's for a new one.
    let gh = Gh::new();
    let input = gh.write("in.jsonl", ndjson(&interleaved(400, 3)));
    let input = input.to_str().unwrap();
    let ingest = |what: &str| {
        let run = run_within(
            &gh,
            "ulimit -n 256 &&",
            &["ingest", input],
            Duration::from_secs(120),
        );
        run.expect_code(0, what);
        let s = run.summary();
        (s.stored, s.duplicates)
    };
    assert_eq!(ingest("ingest under ulimit -n 256"), (1200, 0));
    assert_eq!(gh.count("signins"), 1200);
    assert_eq!(
        gh.sql_int("SELECT count(DISTINCT CAST(\"createdDateTime\" AS DATE)) FROM signins"),
        400
    );
    // Again: every record is a duplicate, found across the 400 partitions' files.
    assert_eq!(ingest("re-ingest under ulimit -n 256"), (0, 1200));
}
