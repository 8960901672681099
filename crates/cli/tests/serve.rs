//! `gatehouse serve` on loopback, driven over real HTTP: tokens, roles and tenants on every
//! endpoint, push ingest of every shape and of bad bodies, SQL streamed in three formats, the
//! watched folder, and CLI commands while the server holds the data directory.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{guid, ndjson, signin, testdata, ts, Gh, Served};
use serde_json::{json, Value};

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

fn signins(prefix: u32, n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| signin(&guid(prefix, i), &ts(1_709_251_200 + i as i64 * 60)))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn every_request_is_authenticated_and_sees_only_its_tenant() {
    let gh = Gh::new();
    let ingest_a = gh.token("tenant-a", "ingest");
    let ingest_b = gh.token("tenant-b", "ingest");
    let reader_a = gh.token("tenant-a", "security-reader");
    let reports_a = gh.token("tenant-a", "reports-reader");
    let reader_b = gh.token("tenant-b", "global-reader");
    let server = Served::start(&gh, &[]);
    // The server keeps transparent huge pages (batch commands turn them off): the kernel says
    // whether PR_SET_THP_DISABLE was set for the process.
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
            .expect("the server's /proc status");
        if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
            assert_eq!(line.split_whitespace().nth(1), Some("1"), "{line}");
        }
    }

    // No token, a malformed one, a forged one: 401 on every endpoint, in Graph's envelope.
    // The last character changed (to one it is not: a token ending in 0 would stay itself).
    let last = if reader_a.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &reader_a[..reader_a.len() - 1]);
    for token in [None, Some("nonsense"), Some(forged.as_str())] {
        for a in [
            server.get("/healthz", token),
            server.get("/metrics", token),
            server.get("/no/such/path", token),
            server.get("/gatehouse/sources/x", token),
            server.post("/gatehouse/ingest", token, &[], b"{}"),
            server.post("/gatehouse/sql", token, &[], b"SELECT 1"),
            server.post("/gatehouse/admin/compact", token, &[], b"{}"),
        ] {
            assert_eq!(a.status, 401, "{token:?}: {}", a.text());
            assert_eq!(a.json()["error"]["code"], "InvalidAuthenticationToken");
        }
    }

    // Each tenant's pusher stores its own records.
    let body_a = ndjson(&signins(1, 30));
    let body_b = ndjson(&signins(2, 20));
    let a = server.post(
        "/gatehouse/ingest",
        Some(&ingest_a),
        &[NDJSON],
        body_a.as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["stored"], 30);
    let b = server.post(
        "/gatehouse/ingest",
        Some(&ingest_b),
        &[NDJSON],
        body_b.as_bytes(),
    );
    assert_eq!(b.json()["stored"], 20);
    // ?tenant= names the token's own tenant only; another tenant does not exist for it.
    let same = server.post(
        "/gatehouse/ingest?tenant=TENANT-A",
        Some(&ingest_a),
        &[NDJSON],
        body_a.as_bytes(),
    );
    assert_eq!(same.status, 200, "{}", same.text());
    assert_eq!(same.json()["duplicates"], 30);
    let other = server.post(
        "/gatehouse/ingest?tenant=tenant-b",
        Some(&ingest_a),
        &[NDJSON],
        body_a.as_bytes(),
    );
    assert_eq!(other.status, 404, "{}", other.text());

    // Readers see their tenant only, whatever the SQL asks for.
    assert_eq!(
        server.sql_int(&reader_a, "SELECT count(*) FROM signins"),
        30
    );
    assert_eq!(
        server.sql_int(&reader_b, "SELECT count(*) FROM signins"),
        20
    );
    assert_eq!(
        server.sql_int(
            &reader_a,
            "SELECT count(*) FROM signins WHERE \"_tenantId\" = 'tenant-b'"
        ),
        0
    );
    let id_b = guid(2, 3);
    assert_eq!(
        server.sql_int(
            &reader_a,
            &format!("SELECT count(*) FROM signins WHERE id = '{id_b}'")
        ),
        0,
        "another tenant's record is invisible even by id"
    );

    // Roles: an ingest token reads nothing, a reader pushes nothing, a reports reader does not
    // see risk tables.
    let a = server.post(
        "/gatehouse/sql",
        Some(&ingest_a),
        &[],
        b"SELECT count(*) FROM signins",
    );
    assert_eq!(a.status, 403, "{}", a.text());
    assert_eq!(a.json()["error"]["code"], "Authorization_RequestDenied");
    let a = server.post(
        "/gatehouse/ingest",
        Some(&reader_a),
        &[NDJSON],
        body_a.as_bytes(),
    );
    assert_eq!(a.status, 403, "{}", a.text());
    let a = server.post(
        "/gatehouse/sql",
        Some(&reports_a),
        &[],
        b"SELECT count(*) FROM \"riskDetections\"",
    );
    assert_eq!(a.status, 403, "{}", a.text());
    assert_eq!(server.sql_int(&reports_a, "SELECT count(*) FROM audits"), 0);
    assert_eq!(
        server.sql_int(&reader_a, "SELECT count(*) FROM \"riskDetections\""),
        0
    );
    // Administration is for the local administrator only.
    let a = server.post("/gatehouse/admin/compact", Some(&reader_a), &[], b"{}");
    assert_eq!(a.status, 403, "{}", a.text());

    // Health and metrics, of the token's tenant.
    let h = server.get("/healthz", Some(&reader_a));
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    let m = server.get("/metrics", Some(&reader_a));
    assert_eq!(m.status, 200);
    assert!(
        m.content_type.starts_with("text/plain"),
        "{}",
        m.content_type
    );
    let m = m.text();
    assert!(
        m.contains("gatehouse_rows{tenant=\"tenant-a\",log=\"signins\"} 30"),
        "{m}"
    );
    assert!(!m.contains("tenant-b"), "{m}");
    for series in [
        "gatehouse_records_stored_total{tenant=\"tenant-a\",log=\"signins\"} 30",
        "gatehouse_ingest_lag_seconds",
        "gatehouse_commit_seconds_count",
        "gatehouse_query_seconds_count",
        "gatehouse_ingest_visible_seconds_bucket",
    ] {
        assert!(m.contains(series), "{series} missing:\n{m}");
    }

    // A revoked token is refused at once, by the running server.
    let r = gh.run(&["token", "revoke", &reader_b[3..11]]);
    r.expect_code(0, "revoke");
    assert_eq!(server.get("/healthz", Some(&reader_b)).status, 401);
    // The tokens file keeps no secret.
    let file = std::fs::read_to_string(gh.data.join("_gatehouse/tokens.json")).unwrap();
    for t in [&ingest_a, &reader_a, &reports_a] {
        assert!(!file.contains(&t[12..]), "a secret is stored");
    }
    let list = gh.run(&["token", "list"]);
    list.expect_code(0, "token list");
    assert!(list.stdout.contains("security-reader") && !list.stdout.contains(&reader_a[12..]));
    server.stop();
}

#[test]
fn pushes_of_every_shape_and_bad_bodies() {
    let gh = Gh::new();
    let tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090";
    let ingest = gh.token(tenant, "ingest");
    let reader = gh.token(tenant, "global-reader");
    let server = Served::start(&gh, &[]);
    let push = |headers: &[(&str, &str)], body: &[u8]| {
        server.post("/gatehouse/ingest", Some(&ingest), headers, body)
    };

    // Plain NDJSON, then the same gzip-compressed (every record a duplicate), with no
    // Content-Type at all.
    let records = signins(3, 40);
    let a = push(&[NDJSON], ndjson(&records).as_bytes());
    assert_eq!(
        (a.status, a.json()["stored"].as_u64()),
        (200, Some(40)),
        "{}",
        a.text()
    );
    let a = push(&[], &gzip(ndjson(&records).as_bytes()));
    assert_eq!(a.json()["duplicates"], 40, "{}", a.text());
    // Every sample shape the readers know (diagnostic, Graph list responses, Log Analytics CSV…).
    let mut shapes = 0;
    for f in std::fs::read_dir(testdata().join("formats")).unwrap() {
        let path = f.unwrap().path();
        let a = push(&[], &std::fs::read(&path).unwrap());
        assert_eq!(a.status, 200, "{}: {}", path.display(), a.text());
        shapes += 1;
    }
    assert!(shapes > 20);
    let stored = server.sql_int(&reader, "SELECT count(*) FROM signins");
    assert!(stored > 40, "{stored}");

    // A truncated gzip body: the records before the cut are stored, the cut is reported.
    let more = signins(4, 2_000);
    let gz = gzip(ndjson(&more).as_bytes());
    let a = push(&[], &gz[..gz.len() / 2]);
    assert_eq!(a.status, 200, "{}", a.text());
    let v = a.json();
    assert_eq!(v["rejected"][0]["code"], "unreadable_input", "{v}");
    let kept = v["stored"].as_u64().unwrap();
    assert!(kept > 0 && kept < 2_000, "{v}");

    // A 100 MB line between good records (an object that is no record): rejected with its reason,
    // the others stored.
    let mut body = ndjson(&signins(5, 3)).into_bytes();
    body.extend_from_slice(b"{\"id\": \"");
    body.extend(std::iter::repeat_n(b'x', 100 << 20));
    body.extend_from_slice(b"\"}\n");
    body.extend_from_slice(ndjson(&signins(6, 3)).as_bytes());
    let a = push(&[NDJSON], &body);
    assert_eq!(a.status, 200, "{}", &a.text()[..a.text().len().min(500)]);
    let v = a.json();
    assert_eq!(v["stored"], 6, "{v}");
    assert_eq!(v["rejected"][0]["code"], "not_a_log_record", "{v}");
    assert_eq!(v["rejected"][0]["line"], 4, "{v}");

    // A content type that is no log export: 415, nothing stored.
    let before = server.sql_int(&reader, "SELECT count(*) FROM signins");
    let a = push(
        &[("Content-Type", "image/png")],
        ndjson(&signins(7, 5)).as_bytes(),
    );
    assert_eq!(a.status, 415, "{}", a.text());
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("application/x-ndjson"));
    // Another tenant's diagnostic records under this ingest token: rejected one by one, the
    // tenant's own records beside them stored.
    let diag = |tenant_id: &str, n: u64| {
        json!({
            "time": "2024-03-01T10:00:00.0000000Z",
            "tenantId": tenant_id,
            "category": "SignInLogs",
            "operationName": "Sign-in activity",
            "properties": signin(&guid(8, n), "2024-03-01T10:00:00Z"),
        })
    };
    let mixed = ndjson(&[
        diag(tenant, 1),
        diag("ffffffff-0000-0000-0000-000000000000", 2),
        diag(tenant, 3),
    ]);
    let a = push(&[NDJSON], mixed.as_bytes());
    let v = a.json();
    assert_eq!(v["stored"], 2, "{v}");
    assert_eq!(v["rejected"][0]["code"], "other_tenant", "{v}");
    assert_eq!(v["rejected"][0]["line"], 2, "{v}");
    assert_eq!(
        server.sql_int(&reader, "SELECT count(*) FROM signins"),
        before + 2
    );
    // Not JSON at all, and an empty body: rejections, not errors.
    let a = push(&[], b"\x00\x01\x02 binary");
    assert_eq!(a.json()["rejected"][0]["code"], "not_text", "{}", a.text());
    let a = push(&[], b"");
    assert_eq!(
        a.json()["rejected"][0]["code"],
        "empty_input",
        "{}",
        a.text()
    );
    // Unknown query parameters and a bad format: 400.
    let a = server.post("/gatehouse/ingest?nope=1", Some(&ingest), &[], b"{}");
    assert_eq!(a.status, 400, "{}", a.text());
    let a = server.post("/gatehouse/ingest?format=xml", Some(&ingest), &[], b"{}");
    assert_eq!(a.status, 400, "{}", a.text());

    // A pusher's position comes back after the rows it covers are committed.
    let a = server.post(
        "/gatehouse/ingest?source=hub-1&position=77",
        Some(&ingest),
        &[NDJSON],
        ndjson(&signins(9, 5)).as_bytes(),
    );
    assert_eq!(a.json()["stored"], 5, "{}", a.text());
    let p = server.get("/gatehouse/sources/hub-1", Some(&ingest)).json();
    assert_eq!(p, json!({"source": "hub-1", "position": 77}));
    let p = server
        .get("/gatehouse/sources/unknown", Some(&ingest))
        .json();
    assert_eq!(p["position"], Value::Null);
    let log = server.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn sql_results_stream_as_json_lines_csv_and_arrow() {
    let gh = Gh::new();
    let ingest = gh.token("contoso", "ingest");
    let reader = gh.token("contoso", "security-reader");
    let server = Served::start(&gh, &[]);
    let records = signins(10, 2_500);
    let a = server.post(
        "/gatehouse/ingest",
        Some(&ingest),
        &[NDJSON],
        ndjson(&records).as_bytes(),
    );
    assert_eq!(a.json()["stored"], 2_500);
    let q =
        b"SELECT id, \"userPrincipalName\", status, \"createdDateTime\" FROM signins ORDER BY id";

    let lines = server.post("/gatehouse/sql", Some(&reader), &[], q);
    assert_eq!(lines.status, 200);
    assert_eq!(lines.content_type, "application/x-ndjson");
    let rows: Vec<Value> = lines
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2_500);
    let mut ids: Vec<String> = (0..2_500).map(|n| guid(10, n)).collect();
    ids.sort();
    let got: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids, "every row, in order");
    assert_eq!(rows[0]["status"]["errorCode"], 0);

    let csv = server.post(
        "/gatehouse/sql",
        Some(&reader),
        &[("Accept", "text/csv")],
        q,
    );
    assert_eq!(csv.status, 200);
    assert!(csv.content_type.starts_with("text/csv"));
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("id,userPrincipalName,status,createdDateTime")
    );
    assert_eq!(text.lines().count(), 2_501);

    let ipc = server.post(
        "/gatehouse/sql",
        Some(&reader),
        &[("Accept", "application/vnd.apache.arrow.stream")],
        q,
    );
    assert_eq!(ipc.status, 200);
    let reader_ipc =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc.body), None).unwrap();
    let batches: Vec<_> = reader_ipc.map(|b| b.unwrap()).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2_500);
    assert_eq!(batches[0].schema().field(2).name(), "status");

    // JSON bodies, an empty result, and errors.
    let a = server.post(
        "/gatehouse/sql",
        Some(&reader),
        &[("Content-Type", "application/json")],
        br#"{"query": "SELECT count(*) AS n FROM signins WHERE 1 = 0"}"#,
    );
    assert_eq!(a.text().trim(), r#"{"n":0}"#);
    let a = server.post(
        "/gatehouse/sql",
        Some(&reader),
        &[("Accept", "text/csv")],
        b"SELECT id FROM signins WHERE 1 = 0",
    );
    assert_eq!(a.text().trim(), "id");
    for bad in [
        &b"SELECT nope FROM signins"[..],
        b"DROP TABLE signins",
        b"COPY signins TO '/tmp/x.parquet'",
        b"\xff\xfe",
        b"SELECT (((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))",
    ] {
        let a = server.post("/gatehouse/sql", Some(&reader), &[], bad);
        assert!(
            a.status == 400 || a.status == 200,
            "{}: {} {}",
            String::from_utf8_lossy(bad),
            a.status,
            a.text()
        );
        if a.status == 400 {
            assert!(a.json()["error"]["message"].as_str().is_some());
        }
    }
    assert_eq!(
        server
            .post("/gatehouse/sql", Some(&reader), &[], b"DROP TABLE signins")
            .status,
        400
    );
    let a = server.post(
        "/gatehouse/sql",
        Some(&reader),
        &[("Accept", "image/png")],
        q,
    );
    assert_eq!(a.status, 406);
    // No rows from nothing: the tables are the only sources.
    let a = server.post(
        "/gatehouse/sql",
        Some(&reader),
        &[],
        b"SELECT count(*) FROM generate_series(1, 1000000000000)",
    );
    assert_eq!(a.status, 400, "{}", a.text());
    server.stop();
}

#[test]
fn a_watched_folder_is_ingested_once_and_emptied() {
    let gh = Gh::new();
    let landing = gh.dir.join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    let reader = gh.token("contoso", "global-reader");
    let server = Served::start(
        &gh,
        &[
            "--watch",
            landing.to_str().unwrap(),
            "--watch-tenant",
            "contoso",
        ],
    );
    // One good file, one with a bad line, one gzip-compressed, one hidden (left alone).
    std::fs::write(landing.join("a.json"), ndjson(&signins(11, 100))).unwrap();
    let mut bad = ndjson(&signins(12, 10));
    bad.push_str("{not json\n");
    std::fs::write(landing.join("b.json"), &bad).unwrap();
    std::fs::write(
        landing.join("c.json.gz"),
        gzip(ndjson(&signins(13, 50)).as_bytes()),
    )
    .unwrap();
    std::fs::write(landing.join(".partial"), "{}").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if landing.join("done/a.json").exists()
            && landing.join("done/c.json.gz").exists()
            && landing.join("rejected/b.json").exists()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(landing.join("done/a.json").exists(), "{}", server.log());
    assert!(landing.join("done/c.json.gz").exists());
    assert!(landing.join("rejected/b.json").exists());
    let reason = std::fs::read_to_string(landing.join("rejected/b.json.reason.txt")).unwrap();
    assert!(reason.contains("line 11: [malformed_json]"), "{reason}");
    assert!(reason.starts_with("10 record(s) stored"), "{reason}");
    assert!(!landing.join("a.json").exists());
    assert!(landing.join(".partial").exists());
    assert_eq!(server.sql_int(&reader, "SELECT count(*) FROM signins"), 160);
    // The files' positions were committed with their rows.
    let positions: Value =
        serde_json::from_slice(&std::fs::read(gh.data.join("_gatehouse/positions.json")).unwrap())
            .unwrap();
    assert!(
        positions["watch:a.json"].as_i64().unwrap() > 0,
        "{positions}"
    );
    // The same file dropped again: nothing stored twice, and it moves on.
    std::fs::copy(landing.join("done/a.json"), landing.join("a.json")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while landing.join("a.json").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(landing.join("done/a.json.1").exists());
    assert_eq!(server.sql_int(&reader, "SELECT count(*) FROM signins"), 160);
    server.stop();
}

#[test]
fn cli_commands_work_while_the_server_holds_the_store() {
    let gh = Gh::new();
    let reader = gh.token("contoso", "global-reader");
    let server = Served::start(&gh, &[]);
    // ingest goes through the server, with the same summary and exit codes.
    let mut files = Vec::new();
    for part in 0..6u64 {
        files.push(gh.write(
            &format!("in-{part}.jsonl"),
            ndjson(&signins(20 + part as u32, 50)),
        ));
    }
    let mut args: Vec<&std::ffi::OsStr> = vec!["--tenant".as_ref(), "contoso".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let run = gh.ingest(&args);
    run.expect_code(0, "ingest through serve");
    assert!(
        run.stderr.contains("through gatehouse serve"),
        "{}",
        run.stderr
    );
    assert_eq!(run.summary().stored, 300);
    let bad = gh.write("bad.jsonl", "{oops\n");
    let run = gh.ingest(&[bad.as_os_str()]);
    run.expect_code(2, "a rejection through serve");
    assert_eq!(run.summary().rejected.len(), 1);
    assert_eq!(server.sql_int(&reader, "SELECT count(*) FROM signins"), 300);
    // sql reads the Delta tables directly, beside the server.
    assert_eq!(gh.count("signins"), 300);
    // compact, retention and vacuum run on the server's writer.
    let run = gh.run(&["compact"]);
    run.expect_code(0, "compact");
    assert!(run.stdout.contains("Compacted"), "{}", run.stdout);
    let run = gh.run(&["retention", "--days", "36500"]);
    run.expect_code(0, "retention");
    assert!(run.stdout.contains("Removed 0 records"), "{}", run.stdout);
    let run = gh.run(&["vacuum", "--older-than-hours", "0"]);
    run.expect_code(0, "vacuum");
    assert!(run.stdout.contains("Deleted"), "{}", run.stdout);
    assert_eq!(gh.count("signins"), 300);
    assert_eq!(gh.parquet_on_disk(), gh.live_files());
    // Standard input cannot be forwarded: a clear error.
    let run = gh.run_stdin(&["ingest", "-"], b"{}\n");
    run.expect_code(1, "stdin through serve");
    assert!(run.stderr.contains("POST"), "{}", run.stderr);
    let log = server.stop();
    assert!(!log.contains("ERROR"), "{log}");
    // Stopped: the CLI writes directly again.
    let run = gh.ingest(&[files[0].as_os_str()]);
    run.expect_code(0, "ingest after serve stopped");
    assert!(!run.stderr.contains("through gatehouse serve"));
}

#[test]
fn queries_during_compaction_retention_and_vacuum_see_whole_snapshots() {
    let gh = Gh::new();
    // Old audits for retention to remove while everything runs.
    let old: Vec<Value> = (0..30u64)
        .map(|n| {
            json!({"id": guid(60, n), "activityDateTime": ts(978_307_200 + n as i64 * 3600),
                   "activityDisplayName": "Add user", "category": "UserManagement",
                   "result": "success", "loggedByService": "Core Directory"})
        })
        .collect();
    let path = gh.write("old.jsonl", ndjson(&old));
    gh.ingest(&["--tenant".as_ref(), "contoso".as_ref(), path.as_os_str()])
        .expect_code(0, "old audits");
    let ingest = gh.token("contoso", "ingest");
    let reader = gh.token("contoso", "global-reader");
    let server = Served::start(&gh, &["--commit-interval-ms", "100"]);
    // Pushed again, they are duplicates (the server now holds their keys).
    let a = server.post(
        "/gatehouse/ingest",
        Some(&ingest),
        &[NDJSON],
        ndjson(&old).as_bytes(),
    );
    assert_eq!(a.json()["duplicates"], 30, "{}", a.text());
    const BATCHES: u32 = 60;
    const PER_BATCH: u64 = 20;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|scope| {
        let pusher = scope.spawn(|| {
            for b in 0..BATCHES {
                let a = server.post(
                    "/gatehouse/ingest",
                    Some(&ingest),
                    &[NDJSON],
                    ndjson(&signins(100 + b, PER_BATCH)).as_bytes(),
                );
                assert_eq!(a.json()["stored"], PER_BATCH, "{}", a.text());
                std::thread::sleep(Duration::from_millis(20));
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let maintainer = scope.spawn(|| {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || runs < 3 {
                gh.run(&["compact"]).expect_code(0, "compact");
                let r = gh.run(&["retention", "--days", "3650", "--log", "audits"]);
                r.expect_code(0, "retention");
                assert!(r.stderr.contains("through gatehouse serve"), "{}", r.stderr);
                gh.run(&["vacuum", "--older-than-seconds", "2"])
                    .expect_code(0, "vacuum");
                runs += 1;
            }
            runs
        });
        let querier = scope.spawn(|| {
            let (mut last, mut queries, mut audits_gone) = (0i64, 0, false);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let rows = server.sql(
                    &reader,
                    "SELECT count(*) AS n, count(DISTINCT id) AS d FROM signins",
                );
                let (n, d) = (
                    rows[0]["n"].as_i64().unwrap(),
                    rows[0]["d"].as_i64().unwrap(),
                );
                assert_eq!(n, d, "a row repeated within a snapshot");
                assert!(n >= last, "rows went missing: {n} after {last}");
                last = n;
                let audits = server.sql_int(&reader, "SELECT count(*) FROM audits");
                assert!(
                    audits == 30 || audits == 0,
                    "{audits} audits: a day half removed"
                );
                assert!(!(audits_gone && audits == 30), "removed audits came back");
                audits_gone |= audits == 0;
                queries += 2;
            }
            queries
        });
        pusher.join().unwrap();
        let runs = maintainer.join().unwrap();
        let queries = querier.join().unwrap();
        eprintln!("{queries} queries during {runs} rounds of compaction, retention and vacuum");
        assert!(
            runs >= 3 && queries > 20,
            "{runs} rounds, {queries} queries"
        );
    });
    let total = i64::from(BATCHES) * PER_BATCH as i64;
    assert_eq!(
        server.sql_int(&reader, "SELECT count(*) FROM signins"),
        total
    );
    assert_eq!(server.sql_int(&reader, "SELECT count(*) FROM audits"), 0);
    // Retention removed them, so pushed again they are new records (the server forgot their
    // keys with their days).
    let a = server.post(
        "/gatehouse/ingest",
        Some(&ingest),
        &[NDJSON],
        ndjson(&old).as_bytes(),
    );
    assert_eq!(a.json()["stored"], 30, "{}", a.text());
    let r = gh.run(&["retention", "--days", "3650", "--log", "audits"]);
    r.expect_code(0, "retention");
    let ops = gh.operations("contoso", "signins");
    assert!(ops.iter().any(|o| o == "OPTIMIZE"), "{ops:?}");
    std::thread::sleep(Duration::from_millis(2_100));
    gh.run(&["vacuum", "--older-than-seconds", "2"])
        .expect_code(0, "vacuum");
    assert_eq!(gh.parquet_on_disk(), gh.live_files());
    server.stop();
}

#[test]
fn a_pipeline_that_cannot_commit_fails_its_pushes_instead_of_hanging() {
    let gh = Gh::new();
    let ingest = gh.token("contoso", "ingest");
    let reader = gh.token("contoso", "global-reader");
    let server = Served::start(&gh, &[]);
    let push = |series: u32| {
        server.post(
            "/gatehouse/ingest",
            Some(&ingest),
            &[NDJSON],
            ndjson(&signins(series, 10)).as_bytes(),
        )
    };
    assert_eq!(push(80).json()["stored"], 10);
    // The table's log becomes unwritable (a file where its folder was): the next commit fails.
    let log = gh.data.join("tenants/contoso/signins/_delta_log");
    std::fs::rename(&log, log.with_extension("moved")).unwrap();
    std::fs::write(&log, "not a folder").unwrap();
    let started = Instant::now();
    let a = push(81);
    assert_eq!(a.status, 500, "{}", a.text());
    assert!(started.elapsed() < Duration::from_secs(30));
    // Health says so, and later pushes fail at once rather than wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/healthz", Some(&reader)).status != 503 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.get("/healthz", Some(&reader)).status, 503);
    let started = Instant::now();
    let a = push(82);
    assert!(a.status >= 400, "{}", a.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    // It still stops when asked; after a repair a new server takes the store on again, with the
    // rows committed before the failure.
    let mut server = server;
    stop_whatever_the_status(&mut server);
    std::fs::remove_file(&log).unwrap();
    std::fs::rename(log.with_extension("moved"), &log).unwrap();
    let server = Served::start(&gh, &[]);
    assert_eq!(server.sql_int(&reader, "SELECT count(*) FROM signins"), 10);
    server.stop();
}

/// Stops a server with SIGTERM and waits for it, whatever its exit status.
fn stop_whatever_the_status(server: &mut Served) {
    let _ = std::process::Command::new("kill")
        .arg("-15")
        .arg(server.child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if server.child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not stop on SIGTERM:\n{}", server.log());
}

/// The server writes the copy of an interactive sign-in file clustered by user in the
/// background, one user's queries read it with the same answers, and the footers of the files
/// are read into the query metadata cache at start.
#[test]
fn the_server_clusters_interactive_sign_ins_by_user_in_the_background() {
    let gh = Gh::new();
    let ingest = gh.token("contoso", "ingest");
    let reader = gh.token("contoso", "global-reader");
    let config = gh.dir.join("gatehouse.toml");
    std::fs::write(&config, "[maintenance]\ncluster_every_seconds = 1\n").unwrap();
    let server = Served::start(&gh, &["--config", config.to_str().unwrap()]);

    // 9,000 interactive sign-ins of 30 users in one push: one file, large enough for a copy.
    let records: Vec<Value> = (0..9_000u64)
        .map(|i| {
            let mut r = signin(&guid(77, i), &ts(1_709_251_200 + i as i64 * 7));
            r["userPrincipalName"] = json!(format!("user{}@contoso.example", i % 30));
            r
        })
        .collect();
    server.push(&ingest, &records);
    let page = |s: &Served| {
        let a = s.get(
            "/v1.0/auditLogs/signIns?$filter=userPrincipalName%20eq%20'user7@contoso.example'&$top=1000",
            Some(&reader),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let ids: Vec<String> = a.json()["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids
    };
    let before = page(&server);
    assert_eq!(before.len(), 300);

    let copies = gh.data.join("_gatehouse/clustered/tenants/contoso/signins");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let copy = loop {
        let found = std::fs::read_dir(&copies).ok().and_then(|days| {
            days.flatten()
                .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
                .map(|f| f.path())
                .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no copy clustered by user after a minute:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    // The copy mirrors a file of the table, by name.
    let day = copy.parent().unwrap().file_name().unwrap();
    let table_dir = gh.data.join("tenants/contoso/signins").join(day);
    assert!(table_dir.join(copy.file_name().unwrap()).exists());
    assert_eq!(page(&server), before);
    let count = server.sql_int(
        &reader,
        "SELECT count(*) FROM signins WHERE \"userPrincipalName\" = 'user7@contoso.example'",
    );
    assert_eq!(count, 300);
    let log = server.stop();
    assert!(log.contains("query metadata cache warmed"), "{log}");
    assert!(
        log.contains("clustered interactive sign-ins by user"),
        "{log}"
    );
}
