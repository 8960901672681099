//! `kill -9` of `gatehouse serve` during push ingest, twenty times: every acknowledged record is
//! stored exactly once, no table is corrupt, and the restarted server serves at once.
//!
//! Two pushers send batches of 40 sign-ins (each batch's ids are its own: `guid(batch, n)`), and
//! retry, after the restart, every batch not acknowledged before the kill (as a real pusher
//! does). The server is killed at a random moment between 50 ms and 800 ms into each round.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{guid, ndjson, signin, ts, Gh, Served};
use serde_json::Value;

const ROUNDS: usize = 20;
const BATCH: u64 = 40;

fn batch_body(batch: u32) -> String {
    let records: Vec<Value> = (0..BATCH)
        .map(|n| {
            signin(
                &guid(batch, n),
                &ts(1_709_251_200 + i64::from(batch) * 97 + n as i64 * 7),
            )
        })
        .collect();
    ndjson(&records)
}

/// Batches stored per batch number (from the first 8 hex digits of the ids).
fn stored_per_batch(server: &Served, reader: &str) -> BTreeMap<u32, i64> {
    server
        .sql(
            reader,
            "SELECT substr(id, 1, 8) AS b, count(*) AS n, count(DISTINCT id) AS d FROM signins GROUP BY 1",
        )
        .into_iter()
        .map(|r| {
            let b = u32::from_str_radix(r["b"].as_str().unwrap(), 16).unwrap();
            let n = r["n"].as_i64().unwrap();
            assert_eq!(n, r["d"].as_i64().unwrap(), "batch {b}: a record stored twice");
            (b, n)
        })
        .collect()
}

#[test]
fn kill_nine_during_push_ingest_loses_no_acknowledged_record() {
    let gh = Gh::new();
    let ingest = gh.token("contoso", "ingest");
    let reader = gh.token("contoso", "security-reader");
    let acked: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
    let retry: Arc<Mutex<Vec<u32>>> = Arc::default();
    let next = Arc::new(Mutex::new(1u32));
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut slowest_start = Duration::ZERO;
    for round in 0..=ROUNDS {
        let started = Instant::now();
        let server = Served::start(&gh, &["--commit-interval-ms", "200"]);
        // The restarted server serves at once: health, and the tables as they were.
        let h = server.get("/healthz", Some(&reader));
        assert_eq!(h.status, 200, "round {round}: {}", h.text());
        slowest_start = slowest_start.max(started.elapsed());
        let stored = stored_per_batch(&server, &reader);
        for b in acked.lock().unwrap().iter() {
            assert_eq!(
                stored.get(b).copied(),
                Some(BATCH as i64),
                "round {round}: acknowledged batch {b} is not stored whole"
            );
        }
        assert!(stored.values().all(|n| *n <= BATCH as i64));
        if round == ROUNDS {
            // A last round without a kill: the retried batches complete the store.
            for b in std::mem::take(&mut *retry.lock().unwrap()) {
                let a = server.post(
                    "/gatehouse/ingest",
                    Some(&ingest),
                    &[],
                    batch_body(b).as_bytes(),
                );
                assert_eq!(a.status, 200, "{}", a.text());
                acked.lock().unwrap().insert(b);
            }
            let stored = stored_per_batch(&server, &reader);
            let acked = acked.lock().unwrap();
            assert_eq!(stored.keys().copied().collect::<BTreeSet<_>>(), *acked);
            assert!(stored.values().all(|n| *n == BATCH as i64));
            let total = server.sql_int(&reader, "SELECT count(*) FROM signins");
            assert_eq!(total, acked.len() as i64 * BATCH as i64);
            eprintln!(
                "{} batches acknowledged over {ROUNDS} kills; slowest restart to healthy {slowest_start:?}",
                acked.len()
            );
            server.stop();
            break;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pushers: Vec<_> = (0..2)
            .map(|_| {
                let (url, token) = (server.url.clone(), ingest.clone());
                let (acked, retry, next, stop) =
                    (acked.clone(), retry.clone(), next.clone(), stop.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let b = retry.lock().unwrap().pop().unwrap_or_else(|| {
                            let mut n = next.lock().unwrap();
                            *n += 1;
                            *n
                        });
                        let answer = agent
                            .post(format!("{url}/gatehouse/ingest"))
                            .header("Authorization", &format!("Bearer {token}"))
                            .send(batch_body(b).as_bytes());
                        match answer {
                            Ok(mut r) if r.status() == 200 => {
                                let v: Value = r.body_mut().read_json().unwrap();
                                assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
                                assert_eq!(
                                    v["stored"].as_u64().unwrap()
                                        + v["duplicates"].as_u64().unwrap(),
                                    BATCH
                                );
                                acked.lock().unwrap().insert(b);
                            }
                            Ok(r) => panic!("batch {b}: {}", r.status()),
                            Err(_) => {
                                // The server died mid-request: not acknowledged, sent again later.
                                retry.lock().unwrap().push(b);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + random(750)));
        server.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for p in pushers {
            p.join().unwrap();
        }
    }
    // The tables read back through an independent replay of their Delta logs too: every live file
    // is on disk.
    let on_disk: BTreeSet<String> = gh.parquet_on_disk().into_iter().collect();
    for f in gh.live_files() {
        assert!(on_disk.contains(&f), "{f} is live but missing");
    }
}
