//! Bad input never takes good records down with it, and never crashes the binary.
//!
//! Each case runs in a fresh data directory: a file with good records around a bad one. The run
//! must exit 2 (some records rejected; never 101), the rejection line must name the file, the
//! right line and a reason, and every good record must be stored (counted with `gatehouse sql`).
//! Fatal misuse (a hostile `--tenant`, hostile SQL) must exit 1 with a clear message.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::{assert_one_rejection, clip, guid, ndjson, signin, ts, Gh};
use serde_json::{json, Value};

/// 2024-03-01T00:00:00Z.
const T0: i64 = 1_709_251_200;

fn good(n: u64) -> Value {
    signin(&guid(7, n), &ts(T0 + n as i64 * 60))
}

fn good_line(n: u64) -> String {
    good(n).to_string()
}

/// Ingests one file in a fresh store, expecting exactly one rejection at `line` (reason
/// containing `reason`) and `stored` sign-ins in the store.
fn one_bad(name: &str, content: impl AsRef<[u8]>, line: u64, reason: &[&str], stored: i64) -> Gh {
    let gh = Gh::new();
    let path = gh.write(name, content);
    let run = gh.ingest(&[&path]);
    run.expect_code(2, name);
    assert_one_rejection(&run, &path, line, reason);
    assert_eq!(
        run.summary().stored as i64,
        stored,
        "{name}: stored per summary"
    );
    assert_eq!(gh.count("signins"), stored, "{name}: sign-ins in the store");
    gh
}

/// Good lines with `bad` inserted as line `at` (1-based).
fn around(bad: &str, at: usize, total_good: u64) -> String {
    let mut lines: Vec<String> = (0..total_good).map(good_line).collect();
    lines.insert(at - 1, bad.to_string());
    lines.join("\n") + "\n"
}

#[test]
fn malformed_json_line_in_ndjson() {
    let bad =
        r#"{"id": "broken", "createdDateTime": "2024-03-01T00:00:00Z", "status": {"errorCode": 0"#;
    one_bad(
        "signins.jsonl",
        around(bad, 3, 4),
        3,
        &["malformed JSON"],
        4,
    );
    // Invalid JSON that is not merely cut short.
    let bad = r#"{"id": "broken", "createdDateTime": nope}"#;
    one_bad(
        "signins2.jsonl",
        around(bad, 2, 3),
        2,
        &["malformed JSON"],
        3,
    );
}

#[test]
fn truncated_json_array() {
    let text = format!(
        "[\n{},\n{},\n{}\n",
        good_line(0),
        good_line(1),
        &good_line(2)[..40]
    );
    one_bad("array.json", text, 4, &["truncated"], 2);
}

#[test]
fn truncated_gzip() {
    let text: String = (0..1000u64).map(|n| good_line(n) + "\n").collect();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let cut = &gz[..gz.len() * 2 / 3];

    // What survives the cut: the complete lines a decoder yields before the stream ends.
    let mut dec = flate2::read::MultiGzDecoder::new(cut);
    let mut prefix = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => prefix.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let complete = prefix.iter().filter(|b| **b == b'\n').count() as i64;
    assert!(
        (300..1000).contains(&complete),
        "cut should leave a part of the records: {complete}"
    );
    one_bad(
        "signins.jsonl.gz",
        cut,
        complete as u64 + 1,
        &["truncated"],
        complete,
    );
}

#[test]
fn wrong_types_are_rejected_with_the_field() {
    let mut bad = good(100);
    bad["isInteractive"] = json!("maybe");
    one_bad(
        "interactive.jsonl",
        around(&bad.to_string(), 2, 3),
        2,
        &["isInteractive", "true or false"],
        3,
    );
    let mut bad = good(100);
    bad["status"]["errorCode"] = json!("abc");
    one_bad(
        "errorcode.jsonl",
        around(&bad.to_string(), 3, 3),
        3,
        &["status.errorCode", "integer"],
        3,
    );
    let mut bad = good(100);
    bad["createdDateTime"] = json!("not a date");
    one_bad(
        "created.jsonl",
        around(&bad.to_string(), 1, 3),
        1,
        &["createdDateTime", "not a date"],
        3,
    );
}

#[test]
fn records_without_an_id_are_stored_under_one_derived_from_their_content() {
    // The direct path takes a record after the first of its batch, the tape the first; the
    // general path (--no-fast-path) all of them: on each, a record without a usable id (none,
    // null, empty, blank) is stored, marked as derived, under an id made from its content.
    let mut derived_ids = std::collections::BTreeSet::new();
    let variants = [
        json!(null),
        json!(""),
        json!(" "),
        json!("\t"),
        json!("  \u{a0}"),
    ];
    for (n, id) in variants.iter().enumerate() {
        for at in [1, 3] {
            for general in [false, true] {
                let mut record = good(100);
                if id.is_null() {
                    record.as_object_mut().unwrap().remove("id");
                } else {
                    record["id"] = id.clone();
                }
                let gh = Gh::new();
                let path = gh.write(
                    &format!("blank-{n}-{at}.jsonl"),
                    around(&record.to_string(), at, 3),
                );
                let mut args = vec![path.as_os_str()];
                if general {
                    args.push("--no-fast-path".as_ref());
                }
                let run = gh.ingest(&args);
                run.expect_code(0, &format!("id {id}, line {at}, general path {general}"));
                let s = run.summary();
                assert_eq!((s.stored, s.derived_ids), (4, 1), "{}", run.stdout);
                let rows =
                    gh.sql("SELECT id, \"_idDerived\" AS d FROM signins WHERE \"_idDerived\"");
                assert_eq!(rows.len(), 1, "{rows:?}");
                derived_ids.insert(rows[0]["id"].as_str().unwrap().to_string());
                assert_eq!(
                    gh.sql_int("SELECT count(*) FROM signins WHERE \"_idDerived\" IS NULL"),
                    3
                );
            }
        }
    }
    // The same content gets the same id however its id was missing, so a second ingest of such a
    // record is a duplicate.
    assert_eq!(derived_ids.len(), 1, "{derived_ids:?}");
    let derived = derived_ids.into_iter().next().unwrap();
    assert!(
        derived.starts_with("derived-") && derived.len() == 24,
        "{derived}"
    );
    let gh = Gh::new();
    let mut record = good(100);
    record.as_object_mut().unwrap().remove("id");
    let path = gh.write("twice.jsonl", ndjson(&[record.clone(), record]));
    let s = gh.ingest(&[&path]).expect_code(0, "twice").summary();
    assert_eq!((s.stored, s.duplicates, s.derived_ids), (1, 1, 1));
    let again = gh.ingest(&[&path]).expect_code(0, "again").summary();
    assert_eq!((again.stored, again.duplicates), (0, 2));
    // An id of the wrong type is still an error.
    let mut record = good(100);
    record["id"] = json!(5);
    one_bad(
        "number.jsonl",
        around(&record.to_string(), 2, 3),
        2,
        &["field `id`", "string"],
        3,
    );
}

fn diag(category: &str, properties: Option<Value>) -> Value {
    let mut v = json!({
        "time": "2024-03-01T00:00:00.1234567Z",
        "resourceId": "/tenants/4bbb79f7-5724-4c9e-95f3-de075f6ec090/providers/Microsoft.aadiam",
        "operationName": "Sign-in activity",
        "category": category,
        "tenantId": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "Level": 4
    });
    if let Some(p) = properties {
        v["properties"] = p;
    }
    v
}

#[test]
fn unknown_diagnostic_category() {
    let bad = diag("NetworkAccessTrafficLogs", Some(good(50)));
    let lines = [
        diag("SignInLogs", Some(good(1))).to_string(),
        bad.to_string(),
        diag("SignInLogs", Some(good(2))).to_string(),
    ];
    one_bad(
        "diag.json",
        lines.join("\n"),
        2,
        &["`NetworkAccessTrafficLogs`"],
        2,
    );
}

#[test]
fn diagnostic_record_without_properties() {
    let lines = [
        diag("SignInLogs", Some(good(1))).to_string(),
        diag("SignInLogs", Some(good(2))).to_string(),
        diag("SignInLogs", None).to_string(),
        diag("NonInteractiveUserSignInLogs", Some(good(3))).to_string(),
    ];
    one_bad(
        "PT1H.json",
        lines.join("\n") + "\n",
        3,
        &["without `properties`"],
        3,
    );
}

#[test]
fn empty_and_whitespace_only_files() {
    let gh = Gh::new();
    let good_file = gh.write("a-good.jsonl", ndjson(&[good(1), good(2)]));
    let empty = gh.write("b-empty.json", "");
    let blank = gh.write("c-blank.json", "  \n\n\t \r\n");
    let run = gh.ingest(&[&good_file, &empty, &blank]);
    run.expect_code(2, "empty files");
    let s = run.summary();
    let got: Vec<(String, u64)> = s
        .rejected
        .iter()
        .map(|r| (r.file.clone(), r.line))
        .collect();
    assert_eq!(
        got,
        vec![
            (empty.display().to_string(), 1),
            (blank.display().to_string(), 1)
        ],
        "{}",
        run.stdout
    );
    assert!(s.rejected.iter().all(|r| r.reason.contains("empty")));
    assert_eq!(gh.count("signins"), 2);
}

#[test]
fn invalid_utf8_inside_a_record() {
    // A Latin-1 byte in a display name, near the start of the file: only that line is rejected,
    // with serde_json's wording, and the records around it are stored.
    // The marker U+FFFD stands for the byte until the text is bytes.
    let bad = good_line(100).replace("\"id\"", "\"userDisplayName\":\"Zo\u{fffd}\",\"id\"");
    let mut content = around(&bad, 2, 3).into_bytes();
    let marker = "\u{fffd}".as_bytes();
    let at = content
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the marker");
    content.splice(at..at + marker.len(), [0xEB]);
    one_bad(
        "latin1.jsonl",
        content,
        2,
        &["malformed JSON", "unicode"],
        3,
    );
}

#[test]
fn binary_garbage() {
    // Deterministic pseudo-random bytes with NULs, not starting with the gzip magic.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut bytes: Vec<u8> = (0..64 * 1024)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 97 == 0 {
                0
            } else {
                (x >> 24) as u8
            }
        })
        .collect();
    bytes[0] = b'P';
    let gh = Gh::new();
    let good_file = gh.write("good.jsonl", ndjson(&[good(1), good(2), good(3)]));
    let junk = gh.write("junk.bin", &bytes);
    let run = gh.ingest(&[&good_file, &junk]);
    run.expect_code(2, "binary garbage");
    assert_one_rejection(&run, &junk, 1, &["binary"]);
    assert_eq!(gh.count("signins"), 3);
}

/// About 50 MB (a whole number of 12-byte user-agent pieces).
const BIG: usize = 12 * 4_166_667;

#[test]
fn fifty_megabyte_valid_line_is_stored_and_readable() {
    let mut big = good(99);
    big["id"] = json!("big-one");
    let agent = "Mozilla/5.0 ".repeat(BIG / 12);
    assert_eq!(agent.len(), BIG);
    big["userAgent"] = json!(agent);
    drop(agent);
    let text = format!("{}\n{}\n{}\n", good_line(1), big, good_line(2));
    drop(big);
    let gh = Gh::new();
    let path = gh.write("big.jsonl", text);
    let run = gh.ingest(&[&path]);
    run.expect_code(0, "a 50 MB record");
    assert_eq!(run.summary().stored, 3);
    let rows = gh.sql(
        "SELECT length(\"userAgent\") AS n, substr(\"userAgent\", 1, 12) AS head, \
         substr(\"userAgent\", length(\"userAgent\") - 11) AS tail \
         FROM signins WHERE id = 'big-one'",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["n"], json!(BIG));
    assert_eq!(rows[0]["head"], json!("Mozilla/5.0 "));
    assert_eq!(rows[0]["tail"], json!("Mozilla/5.0 "));
    assert_eq!(gh.count("signins"), 3);
}

#[test]
fn fifty_megabyte_invalid_line_is_rejected_and_the_next_stored() {
    let mut bad = String::with_capacity(BIG + 100);
    bad.push_str(r#"{"id": "huge", "createdDateTime": "2024-03-01T00:00:00Z", "userAgent": ""#);
    bad.push_str(&"x".repeat(BIG));
    bad.push_str(r#"", "oops": }"#);
    let text = format!("{}\n{bad}\n{}\n", good_line(1), good_line(2));
    drop(bad);
    one_bad("huge.jsonl", text, 2, &["malformed JSON"], 2);
}

#[test]
fn csv_row_with_a_missing_column() {
    let header = "TimeGenerated [UTC],Id,Type,AADTenantId,CreatedDateTime [UTC],UserPrincipalName,AppDisplayName,IPAddress";
    let row = |i: u32| {
        format!(
            "2024-03-01T00:0{i}:00Z,la-{i},SigninLogs,4bbb79f7-5724-4c9e-95f3-de075f6ec090,\"3/1/2024, 12:0{i}:00.000 AM\",u{i}@contoso.example,Azure Portal,198.51.100.{i}"
        )
    };
    let short = "2024-03-01T00:05:00Z,la-5,SigninLogs,4bbb79f7-5724-4c9e-95f3-de075f6ec090,\"3/1/2024, 12:05:00.000 AM\",u5@contoso.example,Azure Portal";
    let text = format!("{header}\n{}\n{}\n{short}\n{}\n", row(1), row(2), row(3));
    let gh = one_bad(
        "SigninLogs.csv",
        text,
        4,
        &["row has 7 columns, the header has 8", "`IPAddress`"],
        3,
    );
    let ids = gh.sql("SELECT id FROM signins ORDER BY id");
    let ids: Vec<&str> = ids.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, ["la-1", "la-2", "la-3"]);
}

#[test]
fn hostile_tenant_option_is_refused() {
    let gh = Gh::new();
    let path = gh.write("good.jsonl", ndjson(&[good(1)]));
    for tenant in ["../../etc", "..", "a/b", ".hidden"] {
        let run = gh.ingest(&[
            std::ffi::OsStr::new("--tenant"),
            tenant.as_ref(),
            path.as_os_str(),
        ]);
        run.expect_code(1, &format!("--tenant {tenant}"));
        assert!(
            run.stderr.contains("tenant id") && run.stderr.contains(tenant),
            "--tenant {tenant}: message should name the tenant id: {}",
            run.stderr
        );
    }
    assert!(!gh.dir.join("etc").exists(), "nothing written outside");
    assert!(gh.parquet_on_disk().is_empty());
    assert_eq!(gh.count("signins"), 0);
}

#[test]
fn hostile_tenant_in_records_is_not_used_as_a_path() {
    // Tenant ids named by the records themselves are never trusted as folder names.
    let gh = Gh::new();
    let mut rec = diag("SignInLogs", Some(good(1)));
    rec["tenantId"] = json!("../../etc");
    rec["resourceId"] = json!("/tenants/../../etc/providers/Microsoft.aadiam");
    let mut graph = good(2);
    graph["tenantId"] = json!("../../../etc");
    let path = gh.write("t.jsonl", ndjson(&[rec, graph]));
    let run = gh.ingest(&[&path]);
    run.no_panic("hostile tenant ids in records");
    assert_eq!(gh.count("signins"), 2, "{}", run.stdout);
    assert!(!gh.dir.join("etc").exists());
    for f in gh.parquet_on_disk() {
        assert!(!f.contains(".."), "{f}");
        assert!(Path::new(&f).starts_with("tenants"), "{f} outside tenants/");
    }
}

#[test]
fn nonexistent_path_is_reported() {
    let gh = Gh::new();
    let good_file = gh.write("good.jsonl", ndjson(&[good(1)]));
    let missing = gh.dir.join("no-such-dir/none.jsonl");
    let run = gh.ingest(&[&good_file, &missing]);
    run.no_panic("missing path");
    let shown = missing.display().to_string();
    match run.code {
        // Fatal before anything is read.
        Some(1) => {
            assert!(
                run.stderr.contains(&shown) && run.stderr.contains("no such file"),
                "{}",
                run.stderr
            );
            assert_eq!(gh.count("signins"), 0);
        }
        // Or: the good file stored and the missing one listed as a rejection.
        Some(2) => {
            let s = run.summary();
            assert!(s.rejected.iter().any(|r| r.file == shown), "{}", run.stdout);
            assert_eq!(gh.count("signins"), 1);
        }
        other => panic!(
            "missing path: exit {other:?}\n{}\n{}",
            run.stdout, run.stderr
        ),
    }
}

#[test]
fn a_command_line_gatehouse_cannot_take_exits_1_not_2() {
    // 2 is ingest's "some records rejected": a mistyped flag must not look like that.
    let gh = Gh::new();
    for args in [
        &["ingest", "--no-such-flag", "x.jsonl"][..],
        &["ingest"][..],
        &["ingest", "--tenant"][..],
        &["no-such-command"][..],
        &["sql", "SELECT 1", "--format", "yaml"][..],
    ] {
        let run = gh.run(args);
        run.expect_code(1, &format!("gatehouse {args:?}"));
        assert!(run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
        assert!(
            !gh.data.join("tenants").exists(),
            "{args:?} wrote to the store"
        );
    }
    gh.run(&["--help"]).expect_code(0, "--help");
    gh.run(&["ingest", "--help"])
        .expect_code(0, "ingest --help");
    gh.run(&["--version"]).expect_code(0, "--version");
}

#[test]
fn hostile_sql_is_refused() {
    let gh = Gh::new();
    let path = gh.write("good.jsonl", ndjson(&[good(1), good(2)]));
    gh.ingest(&[&path]).expect_code(0, "ingest");
    let target = gh.dir.join("written-by-sql.csv");
    let copy = format!("COPY (SELECT * FROM signins) TO '{}'", target.display());
    for (sql, needle) in [
        ("DROP TABLE signins", "DDL"),
        ("CREATE TABLE x AS SELECT 1", "DDL"),
        (
            "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
            "DDL",
        ),
        ("INSERT INTO signins (id) VALUES ('x')", "DML"),
        (copy.as_str(), "DML"),
        ("SET datafusion.execution.batch_size = 1", "not supported"),
        ("SELEC id FROM signins", "SELEC"),
        ("SELECT id FROM signins WHERE", "error"),
        ("SELECT nope FROM signins", "nope"),
        ("", "error"),
    ] {
        let run = gh.run(&["sql", sql]);
        run.expect_code(1, &format!("sql {sql:?}"));
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains(needle),
            "sql {sql:?}: unclear message: {}",
            clip(&run.stderr)
        );
        assert!(
            run.stdout.trim().is_empty(),
            "sql {sql:?}: printed {}",
            run.stdout
        );
    }
    assert!(!target.exists(), "COPY wrote a file");
    // The store is intact.
    assert_eq!(gh.count("signins"), 2);
}
