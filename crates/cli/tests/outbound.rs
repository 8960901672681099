//! Streams out, end to end: `gatehouse serve` delivers new failed sign-ins (a Graph `$filter`),
//! risk detections and risky-user alerts to webhook receivers on loopback that check every
//! HMAC signature, fail some deliveries (500, 503 with `Retry-After`) and refuse large ones
//! (413). The server is killed with SIGKILL twice while it ingests and delivers: every record
//! the filter matches arrives, none that it does not, each exactly as Graph's export gives it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Gh, Served};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "test-secret-for-the-webhook-0123";

/// Accepted deliveries per path: (deliveryId, records).
type Deliveries = BTreeMap<String, Vec<(String, Vec<Value>)>>;

/// What the receiver got.
#[derive(Default)]
struct Received {
    /// Per path: (deliveryId, records) of every accepted delivery.
    accepted: Mutex<Deliveries>,
    requests: AtomicU64,
    refused_500: AtomicU64,
    refused_503: AtomicU64,
    refused_413: AtomicU64,
    bad_signatures: AtomicU64,
    largest: AtomicU64,
}

impl Received {
    /// The records accepted on `path`.
    fn records(&self, path: &str) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap()
            .get(path)
            .map(|d| d.iter().flat_map(|(_, r)| r.clone()).collect())
            .unwrap_or_default()
    }
}

/// A webhook receiver: checks signatures, fails every 4th delivery with 500 and every 9th with
/// 503 (`Retry-After: 1`), refuses bodies of more than `max_records` records with 413.
fn receiver(max_records: usize) -> (String, Arc<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Received::default());
    let g = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let g = Arc::clone(&g);
            std::thread::spawn(move || {
                let _ = handle(stream, &g, max_records);
            });
        }
    });
    (url, got)
}

fn respond(stream: &mut TcpStream, status: &str, extra: &str) {
    let _ = stream.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n")
            .as_bytes(),
    );
}

fn handle(mut stream: TcpStream, got: &Received, max_records: usize) -> std::io::Result<()> {
    let request = common::read_request(&stream)?;
    let header = |k: &str| request.headers.get(k).cloned().unwrap_or_default();
    let (path, signature, delivery) = (
        request.target.clone(),
        header("x-gatehouse-signature"),
        header("x-gatehouse-delivery"),
    );
    let body = request.body;
    let n = got.requests.fetch_add(1, Ordering::Relaxed) + 1;
    // The signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">, fresh.
    let (t, v1) = signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or(("", ""));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap_or(0);
    if v1 != expected || !(-5..300).contains(&age) {
        got.bad_signatures.fetch_add(1, Ordering::Relaxed);
        respond(&mut stream, "401 Unauthorized", "");
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&body).expect("a delivery is JSON");
    let records = v["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(v["deliveryId"].as_str(), Some(delivery.as_str()));
    got.largest
        .fetch_max(records.len() as u64, Ordering::Relaxed);
    if records.len() > max_records {
        got.refused_413.fetch_add(1, Ordering::Relaxed);
        respond(&mut stream, "413 Payload Too Large", "");
        return Ok(());
    }
    if n.is_multiple_of(9) {
        got.refused_503.fetch_add(1, Ordering::Relaxed);
        respond(&mut stream, "503 Service Unavailable", "Retry-After: 1\r\n");
        return Ok(());
    }
    if n.is_multiple_of(4) {
        got.refused_500.fetch_add(1, Ordering::Relaxed);
        respond(&mut stream, "500 Internal Server Error", "");
        return Ok(());
    }
    got.accepted
        .lock()
        .unwrap()
        .entry(path)
        .or_default()
        .push((delivery, records));
    respond(&mut stream, "200 OK", "");
    Ok(())
}

/// Every record of a Graph list, following `@odata.nextLink`.
fn list_all(server: &Served, token: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(path.to_string());
    while let Some(p) = next {
        let a = server.get(&p, Some(token));
        assert_eq!(a.status, 200, "{p}: {}", a.text());
        let v = a.json();
        out.extend(v["value"].as_array().cloned().unwrap_or_default());
        next = v["@odata.nextLink"]
            .as_str()
            .map(|l| l.trim_start_matches(&server.url).to_string());
    }
    out
}

fn enc(s: &str) -> String {
    s.replace(' ', "%20").replace('\'', "%27")
}

const FILTER: &str = "status/errorCode ne 0 and signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')";

#[test]
fn webhooks_deliver_every_matching_record_at_least_once_through_failures_and_kills() {
    let gh = Gh::new();
    let sim = gh.simulate(&["--users", "40", "--days", "2", "--seed", "5"]);
    let tenant: Value =
        serde_json::from_slice(&std::fs::read(sim.join("tenant.json")).unwrap()).unwrap();
    let tenant = tenant["tenantId"].as_str().unwrap().to_string();
    let (url, got) = receiver(120);
    let config = gh.write(
        "gatehouse.toml",
        format!(
            r#"
[[outbound.webhook]]
name = "failures"
feed = "signIns"
filter = "{FILTER}"
tenant = "{tenant}"
start = "beginning"
batch = 300
every_ms = 200
max_backoff_seconds = 2
url = "{url}/failures"
secret = "{SECRET}"

[[outbound.webhook]]
name = "detections"
feed = "riskDetections"
batch = 50
every_ms = 200
max_backoff_seconds = 2
url = "{url}/detections"
secret = "{SECRET}"

[[outbound.webhook]]
name = "alerts"
feed = "alerts"
min_level = "medium"
every_ms = 200
max_backoff_seconds = 2
url = "{url}/alerts"
secret = "{SECRET}"
"#
        ),
    );
    let config = config.to_str().unwrap().to_string();
    let ingest = gh.token(&tenant, "ingest");
    let reader = gh.token(&tenant, "security-reader");

    // The sign-ins in bodies of 1,500 lines; the server is killed after the 2nd and 5th body
    // (deliveries in flight), and restarted.
    let mut lines = Vec::new();
    for day in ["2026-11-01", "2026-11-02"] {
        let text = std::fs::read_to_string(sim.join(format!("graph/signins/{day}.jsonl"))).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    let mut server = Some(Served::start(&gh, &["--config", &config]));
    for (i, chunk) in lines.chunks(1500).enumerate() {
        let body = chunk.join("\n");
        let s = server.as_ref().unwrap();
        let a = s.post("/gatehouse/ingest", Some(&ingest), &[], body.as_bytes());
        assert_eq!(a.status, 200, "push {i}: {}", a.text());
        if i == 1 || i == 4 {
            std::thread::sleep(Duration::from_millis(300 * i as u64));
            server.take().unwrap().kill9();
            server = Some(Served::start(&gh, &["--config", &config]));
        }
    }
    let server = server.unwrap();
    for f in ["audits", "provisioning"] {
        for day in ["2026-11-01", "2026-11-02"] {
            // A day without such records has no file (the simulate helper removes empty ones).
            let Ok(body) = std::fs::read(sim.join(format!("graph/{f}/{day}.jsonl"))) else {
                continue;
            };
            let a = server.post("/gatehouse/ingest", Some(&ingest), &[], &body);
            assert_eq!(a.status, 200, "{}", a.text());
        }
    }

    // What Graph's export gives for the same filter.
    let a = server.get(
        &format!("/gatehouse/export/signIns?$filter={}", enc(FILTER)),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let expected: BTreeMap<String, Value> = a
        .text()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (format!("{}|{}", v["id"].as_str().unwrap(), v["status"]), v)
        })
        .collect();
    assert!(expected.len() > 100, "{} failed sign-ins", expected.len());
    let deadline = Instant::now() + Duration::from_secs(180);
    let received = loop {
        let records = got.records("/failures");
        let keys: BTreeSet<String> = records
            .iter()
            .map(|v| format!("{}|{}", v["id"].as_str().unwrap(), v["status"]))
            .collect();
        if keys.len() >= expected.len() || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let mut by_key: BTreeMap<String, &Value> = BTreeMap::new();
    for r in &received {
        by_key.insert(format!("{}|{}", r["id"].as_str().unwrap(), r["status"]), r);
    }
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !by_key.contains_key(*k))
        .collect();
    let extra: Vec<&String> = by_key
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} not delivered: {:?}\n{}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(5)],
        server.log()
    );
    assert!(
        extra.is_empty(),
        "delivered but not matching: {:?}",
        &extra[..extra.len().min(5)]
    );
    for (k, v) in &expected {
        assert_eq!(
            *by_key[k], *v,
            "the delivered record differs from the export's"
        );
    }
    let duplicates = received.len() - by_key.len();
    eprintln!(
        "{} failed sign-ins delivered, {} twice; {} requests, {} answered 500, {} 503, {} 413",
        by_key.len(),
        duplicates,
        got.requests.load(Ordering::Relaxed),
        got.refused_500.load(Ordering::Relaxed),
        got.refused_503.load(Ordering::Relaxed),
        got.refused_413.load(Ordering::Relaxed),
    );
    assert_eq!(got.bad_signatures.load(Ordering::Relaxed), 0);
    assert!(got.refused_500.load(Ordering::Relaxed) > 0);
    assert!(got.refused_503.load(Ordering::Relaxed) > 0);
    // 300 records were offered, refused, then halved to 150, then 75.
    assert!(got.refused_413.load(Ordering::Relaxed) > 0);
    // A record comes twice only in a batch that was sent again after a kill: at most a few
    // batches' worth.
    assert!(
        duplicates <= 4 * 300,
        "{duplicates} records delivered twice"
    );

    // Risk detections and alerts: the risk engine's, once it has scored everything.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let h = server.get("/healthz", Some(&reader)).json();
        if h["risk"]["scoredUpToGeneration"] == h["generation"] || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let detections: BTreeSet<String> = list_all(
        &server,
        &reader,
        "/beta/identityProtection/riskDetections?$top=999",
    )
    .iter()
    .map(|d| d["id"].as_str().unwrap().to_string())
    .collect();
    assert!(!detections.is_empty(), "the simulation has no detections");
    let alerts_expected: BTreeSet<String> = server
        .sql(
            &reader,
            "SELECT id, userId FROM riskyUsers WHERE riskState = 'atRisk' AND riskLevel IN ('medium', 'high')",
        )
        .iter()
        .map(|r| r["userId"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !alerts_expected.is_empty(),
        "no user at medium risk or above"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let (got_detections, got_alerts) = loop {
        let d: BTreeSet<String> = got
            .records("/detections")
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        let a: BTreeSet<String> = got
            .records("/alerts")
            .iter()
            .map(|a| a["riskyUser"]["userId"].as_str().unwrap().to_string())
            .collect();
        if (d.len() >= detections.len() && a.len() >= alerts_expected.len())
            || Instant::now() > deadline
        {
            break (d, a);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let stream_log = || {
        server
            .log()
            .lines()
            .filter(|l| l.contains("stream"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(got_detections, detections, "{}", stream_log());
    assert_eq!(got_alerts, alerts_expected, "{}", stream_log());
    for a in got.records("/alerts") {
        assert_eq!(a["alertType"], "usersAtRiskDetected");
        assert!(
            ["medium", "high"].contains(&a["severity"].as_str().unwrap()),
            "{a}"
        );
    }

    // Status and metrics name each stream.
    let local = gh.run(&["status"]);
    local.expect_code(0, "status");
    for name in ["failures", "detections", "alerts"] {
        assert!(
            local.stdout.contains(&format!("Stream {name} (webhook")),
            "{}",
            local.stdout
        );
    }
    let admin = gh.token(&tenant, "global-reader");
    let m = server.get("/metrics", Some(&admin)).text();
    // The tenant-bound stream is the only one a tenant's token sees.
    assert!(
        m.contains(
            "gatehouse_stream_records_total{stream=\"failures\",kind=\"webhook\",feed=\"signIns\"}"
        ),
        "{m}"
    );
    assert!(!m.contains("stream=\"alerts\""), "{m}");
    server.stop();
}

#[test]
fn a_stream_whose_filter_names_no_column_stops_the_server_at_start() {
    let gh = Gh::new();
    let config = gh.write(
        "gatehouse.toml",
        format!(
            "[[outbound.webhook]]\nname = \"x\"\nfeed = \"signIns\"\nfilter = \"nosuchProperty eq 'a'\"\nurl = \"http://127.0.0.1:1/\"\nsecret = \"{SECRET}\"\n"
        ),
    );
    let r = gh.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ]);
    r.no_panic("serve");
    assert!(r.code.is_some_and(|c| c != 0), "{:?} {}", r.code, r.stderr);
    assert!(
        r.stderr.contains("stream x") && r.stderr.contains("nosuchProperty"),
        "{}",
        r.stderr
    );
}
