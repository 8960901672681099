//! Uncompressed NDJSON files are read through memory maps: an input truncated while it is read
//! ends the run with a clear message and exit code 1 (not a "Bus error"), leaves a readable store
//! whose rows a second run completes, and `--no-mmap` reads the same file through buffers.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{committed_stored, guid, signin, ts, Gh};

/// About 60 MB of sign-ins: several seconds of ingest in a debug build, with one worker.
fn write_input(gh: &Gh) -> (std::path::PathBuf, usize) {
    let path = gh.dir.join("signins.jsonl");
    let pad = "p".repeat(1500);
    let mut text = String::new();
    let n = 40_000;
    for i in 0..n {
        let mut rec = signin(&guid(7, i as u64), &ts(1_709_251_200 + i as i64));
        rec["userAgent"] = serde_json::Value::String(format!("agent {i} {pad}"));
        text.push_str(&rec.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    (path, n)
}

#[test]
fn a_file_truncated_while_mapped_ends_the_run_with_a_message() {
    let gh = Gh::new();
    let (path, n) = write_input(&gh);
    let original = std::fs::read(&path).unwrap();
    let mut child = gh
        .cmd()
        .args(["ingest", "--threads", "1", "--file-rows", "2000"])
        .arg(&path)
        .env("RUST_LOG", "gatehouse_ingest=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Truncate at the first commit: about 2 000 of the 40 000 records are stored by then, and the
    // reader has mapped at most a few 4 MiB windows ahead of the worker.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ingest ended before its first commit:\n{log}"
        );
        log.push_str(&line);
        if committed_stored(&line).is_some() {
            break;
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let started = Instant::now();
    stderr.read_to_string(&mut log).unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), None, "killed by a signal:\n{log}");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("shrank while it was being read"), "{log}");
    assert!(started.elapsed() < Duration::from_secs(60));

    // The store is readable, and a run over the restored file completes it exactly.
    let stored = gh.sql_int("SELECT count(*) FROM signins");
    assert!(stored >= 0 && stored < n as i64, "{stored}");
    std::fs::write(&path, &original).unwrap();
    let again = gh.ingest(&[path.as_os_str()]);
    again.expect_code(0, "second ingest");
    assert_eq!(gh.sql_int("SELECT count(*) FROM signins"), n as i64);
    assert_eq!(
        gh.sql_int("SELECT count(DISTINCT id) FROM signins"),
        n as i64
    );
}

#[test]
fn no_mmap_reads_through_buffers_and_stores_the_same_rows() {
    let (mapped, read) = (Gh::new(), Gh::new());
    let (path, n) = write_input(&mapped);
    mapped.ingest(&[path.as_os_str()]).expect_code(0, "mapped");
    read.ingest(&[std::ffi::OsStr::new("--no-mmap"), path.as_os_str()])
        .expect_code(0, "--no-mmap");
    let q = "SELECT id, createdDateTime, userAgent FROM signins ORDER BY id";
    let (a, b) = (mapped.sql(q), read.sql(q));
    assert_eq!(a.len(), n);
    assert_eq!(a, b);
}
