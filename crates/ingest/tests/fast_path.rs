//! The fast path (tape + `fast::recognize` + `TableBuilder::append_tape`) must store exactly
//! what the general path (serde_json → shape → normalize → `TableBuilder::append`) stores, for
//! every record it accepts. This runs both on the simulator's records, on every record of the
//! samples and fixtures in `testdata/`, and on hand-made edge cases, and compares the rows.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use gatehouse_formats::fast::{recognize, FastRecord};
use gatehouse_formats::read::parse_item;
use gatehouse_formats::split::Splitter;
use gatehouse_formats::tape::{NodeKind, Tape};
use gatehouse_ingest::{SystemFields, TableBuilder};
use gatehouse_model::time::parse_timestamp;
use gatehouse_model::{LogKind, SignInKind, TableSchema};
use gatehouse_sim::{stream_day, RecordKind, SimOptions, Tenant};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const SYS: SystemFields<'static> = SystemFields {
    tenant_id: "t",
    ingested_at_ns: 7,
    source: "graph",
    envelope: None,
};

#[derive(Debug, PartialEq, Eq)]
enum Path_ {
    /// Stored by the direct path (and identically by the tape path).
    Direct,
    /// Stored by the tape path; the direct path gave it up.
    Fast,
    General,
}

/// What the direct path stored for a record, after the reference row.
struct DirectStored {
    log: LogKind,
    batch: RecordBatch,
    id: String,
    time_ns: i64,
    tenant_id: Option<String>,
    signin_kind: Option<SignInKind>,
}

/// Offers `text` to the direct path on a builder of each table that can take it, each holding
/// a reference row first; checks that a record given up leaves that row alone.
fn direct_path(text: &[u8], what: &str) -> Option<DirectStored> {
    let mut stored = None;
    let mut tape = Tape::new();
    for log in [LogKind::SignIns, LogKind::Audits] {
        let schema = TableSchema::of(log);
        let time_column = log.time_column();
        let reference = reference_row(log);
        let mut b = TableBuilder::new(&schema);
        b.append(&reference, time_column, &SYS)
            .expect("the reference row is valid");
        match b.append_direct(text, &mut tape, &SYS, |_| true) {
            Ok(row) => {
                assert!(
                    stored.is_none(),
                    "{what}: the direct path took it for two logs"
                );
                assert_eq!(row.log, log, "{what}");
                stored = Some(DirectStored {
                    log,
                    id: row.id.to_string(),
                    time_ns: row.time_ns,
                    tenant_id: row.tenant_id.map(str::to_string),
                    signin_kind: row.signin_kind,
                    batch: b.finish(),
                });
            }
            Err(_) => assert_bail_left_the_reference_alone(b, log, &reference, what),
        }
    }
    stored
}

/// The sign-in type of a record the general path read (from its first `signInEventTypes`).
fn signin_kind_of(rec: &gatehouse_formats::Record) -> Option<SignInKind> {
    rec.body
        .get("signInEventTypes")
        .and_then(|v| v.get(0))
        .and_then(|v| v.as_str())
        .and_then(SignInKind::from_graph_name)
}

/// Checks that a builder of `log` holding the reference row, whose direct path gave a record up,
/// still holds that row alone and whole (a row appended after it comes out right).
fn assert_bail_left_the_reference_alone(
    mut b: TableBuilder,
    log: LogKind,
    reference: &serde_json::Map<String, serde_json::Value>,
    what: &str,
) {
    let schema = TableSchema::of(log);
    let time_column = log.time_column();
    assert_eq!(b.len(), 1, "{what}: a direct bail appended a row");
    b.append(reference, time_column, &SYS).unwrap();
    let mut twice = TableBuilder::new(&schema);
    for _ in 0..2 {
        twice.append(reference, time_column, &SYS).unwrap();
    }
    assert_same_rows(&twice.finish(), &b.finish(), what);
}

/// Runs one raw record through every path; panics when they disagree.
fn both_paths(text: &str, what: &str) -> Path_ {
    let direct = direct_path(text.as_bytes(), what);
    let path = tape_and_general_paths(text, what, direct.as_ref());
    if direct.is_some() {
        assert_eq!(
            path,
            Path_::Fast,
            "{what}: the direct path took what the tape path did not"
        );
        return Path_::Direct;
    }
    path
}

/// Runs one raw record through the tape and general paths (and compares what `direct` stored
/// with them); panics when they disagree.
fn tape_and_general_paths(text: &str, what: &str, direct: Option<&DirectStored>) -> Path_ {
    let mut general = Vec::new();
    parse_item(text.as_bytes(), 1, None, &mut general);
    let mut tape = Tape::new();
    let fast: Option<FastRecord> = match tape.parse(text) {
        Ok(()) => recognize(&tape, text, None),
        Err(_) => {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{what}: the tape refused valid JSON"
            );
            None
        }
    };
    let Some(fast) = fast else {
        return Path_::General;
    };
    let time_column = fast.log.time_column();
    let schema = TableSchema::of(fast.log);
    let time = fast.time;
    assert_eq!(
        Some(time),
        tape.get(text, fast.object, time_column),
        "{what}"
    );
    let time_ns = (tape.node(time).kind == NodeKind::String)
        .then(|| parse_timestamp(&tape.str(text, time)).ok())
        .flatten()
        .and_then(|t| t.timestamp_nanos_opt());
    let Some(time_ns) = time_ns else {
        return Path_::General;
    };
    // Both builders start with a reference row, so a record the fast path gives up half-way
    // must be cut back without touching the row before it.
    let reference = reference_row(fast.log);
    let mut fast_builder = TableBuilder::new(&schema);
    fast_builder
        .append(&reference, time_column, &SYS)
        .expect("the reference row is valid");
    let Ok(appended) =
        fast_builder.append_tape(&tape, text, fast.object, time_column, time_ns, &SYS)
    else {
        assert_eq!(fast_builder.len(), 1, "{what}: a bail appended a row");
        // Whatever the bail left in any column (list items included) would shift this row.
        fast_builder
            .append(&reference, time_column, &SYS)
            .expect("the reference row is valid");
        let mut twice = TableBuilder::new(&schema);
        for _ in 0..2 {
            twice.append(&reference, time_column, &SYS).unwrap();
        }
        assert_same_rows(&twice.finish(), &fast_builder.finish(), what);
        return Path_::General;
    };
    // The fast path stored it: the general path must store the very same row.
    assert_eq!(general.len(), 1, "{what}: fast path took a container");
    let rec = general[0].1.as_ref().unwrap_or_else(|e| {
        panic!("{what}: fast path stored a record the general path rejects: {e}")
    });
    assert_eq!(rec.log, fast.log, "{what}");
    assert_eq!(rec.tenant_id, fast.tenant_id, "{what}");
    assert_eq!(signin_kind_of(rec), fast.signin_kind, "{what}");
    let mut slow_builder = TableBuilder::new(&schema);
    slow_builder
        .append(&reference, time_column, &SYS)
        .expect("the reference row is valid");
    let slow = slow_builder
        .append(&rec.body, time_column, &SYS)
        .unwrap_or_else(|e| {
            panic!("{what}: fast path stored a record the general path rejects: {e}")
        });
    assert_eq!(slow.id.as_deref(), Some(&*appended.id), "{what}");
    assert_eq!(slow.time_ns, time_ns, "{what}");
    let slow_batch = slow_builder.finish();
    assert_same_rows(&slow_batch, &fast_builder.finish(), what);
    if let Some(d) = direct {
        assert_eq!(d.log, fast.log, "{what}");
        assert_eq!(Some(d.id.clone()), slow.id, "{what}");
        assert_eq!(d.time_ns, time_ns, "{what}");
        assert_eq!(d.tenant_id, fast.tenant_id, "{what}");
        assert_eq!(d.signin_kind, fast.signin_kind, "{what}");
        assert_same_rows(&slow_batch, &d.batch, what);
    }
    Path_::Fast
}

fn assert_same_rows(a: &RecordBatch, b: &RecordBatch, what: &str) {
    assert_eq!(a.num_rows(), b.num_rows(), "{what}");
    for (i, field) in a.schema().fields().iter().enumerate() {
        assert_eq!(
            a.column(i),
            b.column(i),
            "{what}: column `{}` differs",
            field.name()
        );
    }
}

/// A valid record of `log` with nested structs, lists of structs and lists in lists.
fn reference_row(log: LogKind) -> serde_json::Map<String, serde_json::Value> {
    let v = match log {
        LogKind::Audits => serde_json::json!({
            "id": "reference", "activityDateTime": "2024-01-01T00:00:00Z",
            "activityDisplayName": "Update user", "result": "success",
            "initiatedBy": {"user": {"id": "u", "userPrincipalName": "a@b.c"}},
            "additionalDetails": [{"key": "k", "value": "v"}],
            "targetResources": [{"id": "t", "type": "User", "modifiedProperties": [
                {"displayName": "p", "oldValue": "[]", "newValue": "[\"x\"]"}]}]
        }),
        _ => serde_json::json!({
            "id": "reference", "createdDateTime": "2024-01-01T00:00:00Z",
            "userPrincipalName": "a@b.c", "signInEventTypes": ["interactiveUser"],
            "status": {"errorCode": 0},
            "location": {"city": "Oslo", "geoCoordinates": {"latitude": 59.9}},
            "appliedConditionalAccessPolicies": [{"id": "p", "result": "success",
                "enforcedGrantControls": ["Mfa", "Block"],
                "includeRulesSatisfied": [{"conditionalAccessCondition": "users",
                    "ruleSatisfied": "allUsers"}]}],
            "authenticationDetails": [{"authenticationMethod": "Password", "succeeded": true,
                "authenticationStepDateTime": "2024-01-01T00:00:00Z"}],
            "networkLocationDetails": [{"networkType": "namedNetwork", "networkNames": ["HQ"]}]
        }),
    };
    v.as_object().cloned().expect("an object")
}

/// Every record the simulator writes for a tenant of `users` users over `days` days, with the
/// stream it belongs to, one JSON text each.
fn simulated(users: u32, days: u32) -> Vec<(RecordKind, String)> {
    simulated_as(users, days, gatehouse_sim::OutputFormat::Graph)
}

/// Every record the simulator writes in `format`, with the stream it belongs to.
fn simulated_as(
    users: u32,
    days: u32,
    format: gatehouse_sim::OutputFormat,
) -> Vec<(RecordKind, String)> {
    let opts = SimOptions {
        users,
        days,
        format,
        ..SimOptions::default()
    };
    let tenant = Tenant::generate(&opts);
    let mut records = Vec::new();
    for day in 0..days {
        stream_day(&tenant, &opts, day, 1 << 20, &mut |kind, bytes| {
            let text = std::str::from_utf8(bytes).expect("the simulator writes UTF-8");
            records.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| (kind, l.to_string())),
            );
            Ok(())
        })
        .expect("simulated");
    }
    records
}

#[test]
fn simulated_graph_records_all_take_the_fast_path_and_match() {
    let (mut fast, mut total, mut provisioning) = (0, 0, 0);
    for (kind, line) in simulated(40, 2) {
        total += 1;
        let path = both_paths(&line, "simulated record");
        match kind {
            // Provisioning records are reshaped by the general path.
            RecordKind::Provisioning => {
                provisioning += 1;
                assert_eq!(path, Path_::General);
            }
            // Everything else goes straight from the text into the columns.
            _ => {
                assert_eq!(path, Path_::Direct, "{line}");
                fast += 1;
            }
        }
    }
    assert!(fast > 1000, "only {fast} of {total} records were compared");
    assert!(provisioning > 0);
}

/// The repository's `testdata/` (sources in `testdata/NOTICE.md`).
fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every JSON text in `dir`, cut into records by the real splitter; list responses and arrays
/// are also taken apart so each element is compared on its own.
fn records_under(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in walkdir(dir) {
        let name = entry.display().to_string();
        if !(name.ends_with(".json") || name.ends_with(".jsonl") || name.ends_with(".ndjson")) {
            continue;
        }
        let mut splitter = Splitter::new(BufReader::new(File::open(&entry).unwrap()));
        while let Some(chunk) = splitter.next_chunk(1 << 20) {
            for item in &chunk.items {
                let Ok(text) = std::str::from_utf8(chunk.bytes(item)) else {
                    continue;
                };
                let what = format!("{name}:{}", item.line);
                let mut tape = Tape::new();
                if tape.parse(text).is_ok() {
                    let mut containers = vec![0];
                    if let Some(v) = (tape.node(0).kind == NodeKind::Object)
                        .then(|| tape.get(text, 0, "value"))
                        .flatten()
                    {
                        containers.push(v);
                    }
                    for c in containers {
                        if tape.node(c).kind == NodeKind::Array {
                            for (n, element) in tape.items(c).enumerate() {
                                out.push((format!("{what}[{n}]"), tape.json(text, element).into()));
                            }
                        }
                    }
                }
                out.push((what, text.to_string()));
            }
        }
    }
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_sample_and_fixture_record_matches() {
    let mut records = Vec::new();
    records_under(&testdata().join("formats"), &mut records);
    records_under(&testdata().join("fixtures"), &mut records);
    assert!(records.len() > 100, "found only {} records", records.len());
    let fast: Vec<&str> = records
        .iter()
        .filter(|(what, text)| both_paths(text, what) != Path_::General)
        .map(|(what, _)| what.as_str())
        .collect();
    // The beta sign-ins in the Graph shape are stored by the fast path (the v1.0 ones lack
    // `signInEventTypes`, which the general path infers).
    for expected in [
        "graph-signin-beta-record-2024.json:1",
        "graph-signin-beta-list-response.json:1[0]",
    ] {
        assert!(
            fast.iter().any(|f| f.ends_with(expected)),
            "{expected} did not take the fast path (fast: {fast:?})"
        );
    }
}

#[test]
fn edge_cases_match_or_take_the_general_path() {
    let base = r#""id":"e1","createdDateTime":"2024-05-01T10:00:00Z","appId":"a","signInEventTypes":["interactiveUser"]"#;
    let fast_cases = [
        // escapes everywhere: values, nested members, list items
        (r#""userDisplayName":"Zo\u00eb \"Z\" \\ O'Neil\ttab","status":{"failureReason":"line\nbreak"},"authenticationMethodsUsed":["a\/b"]"#, Path_::Direct),
        // unknown fields, top level and nested (lossy), with unsorted and repeated keys inside:
        // kept in `_extra` by the tape path
        (r#""brandNew":{"z":1,"a":[1.5,-0,1e3,12345678901234567890]},"status":{"errorCode":0,"newMember":{"b":2,"a":1,"b":3}}"#, Path_::Fast),
        (r#""status":{"errorCode":0,"newMember":1}"#, Path_::Fast),
        // an escaped key
        (r#""\u0061ppDisplayName":"x""#, Path_::General),
        // a non-empty map
        (r#""authenticationProcessingDetails":[{"key":"k","value":"v"}]"#, Path_::Direct),
        // numbers sent as strings, floats in integer columns, booleans as strings
        (r#""processingTimeInMilliseconds":"42","status":{"errorCode":5.0},"isInteractive":"TRUE","flaggedForReview":"false""#, Path_::Direct),
        // JSON columns: nested objects with unsorted keys, floats, escapes, duplicates
        (r#""conditionalAccessAudiences":[{"b":1,"a":"x\u0041"},2.50,[],"s",-7,-0,0,1E2,18446744073709551615,18446744073709551616,-9223372036854775808]"#, Path_::Direct),
        (r#""conditionalAccessAudiences":{"k":1,"k":2}"#, Path_::Direct),
        // nulls and empty containers
        (r#""location":null,"deviceDetail":{},"appliedConditionalAccessPolicies":[],"userAgent":null"#, Path_::Direct),
        // timestamps in other forms
        (r#""status":{"errorCode":0},"riskLastUpdatedDateTime":"2024-05-01T10:00:00.1234567+02:00""#, Path_::Fast),
        (r#""authenticationDetails":[{"authenticationStepDateTime":"5/1/2024 10:00:00 AM"}]"#, Path_::Direct),
        // geo coordinates
        (r#""location":{"city":"Oslo","geoCoordinates":{"latitude":59.913868,"longitude":10.752245,"altitude":null}}"#, Path_::Direct),
        // whitespace between every token
        (" \"location\" : { \"city\" :\t\"Oslo\" , \"geoCoordinates\" : { } } ,\n\"authenticationMethodsUsed\" : [ \"a\" , \"b\" ] , \"resourceTenantId\" : \"T1\" ", Path_::Direct),
        // Conditional Access conditions as Graph writes them, and escaped
        (r#""appliedConditionalAccessPolicies":[{"id":"p","conditionsSatisfied":"application,users","conditionsNotSatisfied":"none"}]"#, Path_::Direct),
        (r#""appliedConditionalAccessPolicies":[{"id":"p","conditionsSatisfied":"\u0033"}]"#, Path_::General),
        (r#""appliedConditionalAccessPolicies":[{"id":"p","conditionsSatisfied":"\u0061"}]"#, Path_::Fast),
        // tenants: the first valid one, upper case kept as the record writes it
        (r#""homeTenantId":"not valid!","resourceTenantId":"AbC-1""#, Path_::Direct),
        (r#""resourceTenantId":"\u0041bc""#, Path_::Fast),
    ];
    for (extra, path) in fast_cases {
        let text = format!("{{{base},{extra}}}");
        assert_eq!(both_paths(&text, &text), path, "{text}");
    }
    // Records whose type or key order differ from the previous one's.
    for text in [
        r#"{"signInEventTypes":["servicePrincipal"],"createdDateTime":"2024-05-01T10:00:00Z","id":"s","appId":"a"}"#,
        r#"{"id":"s","createdDateTime":"2024-05-01T10:00:00Z","appId":"a","signInEventTypes":[]}"#,
        r#"{"id":"s","createdDateTime":"2024-05-01T10:00:00Z","appId":"a","signInEventTypes":null}"#,
        r#"{"id":"s","createdDateTime":"2024-05-01T10:00:00Z","appId":"a","signInEventTypes":["someFutureType"]}"#,
        r#"{"id":"a","activityDateTime":"2024-05-01T10:00:00Z","activityDisplayName":"Add user","category":"UserManagement","targetResources":[{"type":"User"}]}"#,
    ] {
        assert_eq!(both_paths(text, text), Path_::Direct, "{text}");
    }
    let general_cases = [
        // wrong types: the general path words the rejection
        r#""status":{"errorCode":"nope"}"#,
        r#""status":{"errorCode":3000000000}"#,
        r#""isInteractive":"maybe""#,
        r#""location":[1]"#,
        // a repeated known field
        r#""appId":"b""#,
        // a number out of range
        r#""brandNew":1e999"#,
        // normalisations
        r#""userType":"Guest""#,
        // a Log Analytics column (names are trimmed by the general path)
        r#"" TimeGenerated":"2024-05-01T10:00:00Z""#,
        "\"\u{3000}TenantId\":\"t\",\" OperationName\":\"o\",\" ResultType\":\"0\"",
        r#""appliedConditionalAccessPolicies":[{"id":"p","conditionsSatisfied":3}]"#,
    ];
    for extra in general_cases {
        let text = format!("{{{base},{extra}}}");
        assert_eq!(both_paths(&text, &text), Path_::General, "{text}");
    }
    // Not even JSON, or not one record.
    for text in [
        r#"{"id":"x","#,
        r#"[{"id":"x"}]"#,
        "\"s\"",
        "{\"id\":\"\u{1}\"}",
    ] {
        assert_eq!(both_paths(text, text), Path_::General, "{text}");
    }
}

/// Every row of a store, per table, as its partition folder and JSON row, sorted (without
/// `_ingestedAt`, which is the time of the run).
fn store_rows(root: &Path) -> Vec<(String, Vec<String>)> {
    let store = gatehouse_store::Store::open(root).unwrap();
    let snapshot = store.snapshot_blocking().unwrap();
    let mut tables: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in snapshot.files() {
        for batch in gatehouse_store::writer::read_file(&root.join(&f.path)).unwrap() {
            let keep: Vec<usize> = (0..batch.num_columns())
                .filter(|i| batch.schema().field(*i).name() != "_ingestedAt")
                .collect();
            let batch = batch.project(&keep).unwrap();
            let rows = tables.entry(f.log.table_name().to_string()).or_default();
            // Each row with the partition (tenant, day) it is stored in.
            let partition = Path::new(&f.path).parent().unwrap().display().to_string();
            rows.extend(
                gatehouse_export::batch_to_json_rows(&batch)
                    .into_iter()
                    .map(|r| format!("{partition} {}", serde_json::Value::Object(r))),
            );
        }
    }
    tables
        .into_iter()
        .map(|(t, mut rows)| {
            rows.sort();
            (t, rows)
        })
        .collect()
}

/// Ingests `paths` with and without the fast path and asserts the stores and summaries agree.
fn ingest_both_ways(paths: &[String]) -> gatehouse_ingest::IngestSummary {
    use gatehouse_ingest::{ingest, IngestOptions};
    let inputs = gatehouse_formats::input::expand_paths(paths).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for fast_path in [true, false] {
        let root = dir.path().join(if fast_path { "fast" } else { "general" });
        let store = gatehouse_store::Store::open(&root).unwrap();
        let mut writer = store.writer().unwrap();
        let opts = IngestOptions {
            fast_path,
            ..IngestOptions::default()
        };
        let summary = ingest(&mut writer, &inputs, &opts, &mut |_| {}).unwrap();
        drop(writer);
        results.push((summary, store_rows(&root)));
    }
    let (general, fast) = (results.pop().unwrap(), results.pop().unwrap());
    assert_eq!(fast.0.stored, general.0.stored);
    assert_eq!(fast.0.signins_by_kind, general.0.signins_by_kind);
    assert_eq!(fast.0.duplicates, general.0.duplicates);
    let reasons = |s: &gatehouse_ingest::IngestSummary| {
        let mut r: Vec<String> = s.rejected.iter().map(|r| r.to_string()).collect();
        r.sort();
        r
    };
    assert_eq!(reasons(&fast.0), reasons(&general.0));
    assert_eq!(fast.1.len(), general.1.len());
    for ((table, a), (_, b)) in fast.1.iter().zip(&general.1) {
        assert_eq!(a.len(), b.len(), "{table}");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{table}");
        }
    }
    fast.0
}

/// The direct path appends each record into the partition of the previous one and must give
/// the record back when it belongs elsewhere: records here switch day, tenant (named in other
/// case, another one, none) and log from line to line, and repeat ids within and across
/// partitions.
#[test]
fn the_direct_path_follows_partitions() {
    let (mut signins, mut audits) = (Vec::new(), Vec::new());
    for (kind, line) in simulated(10, 1) {
        match kind {
            RecordKind::SignIns => signins.push(line),
            RecordKind::Audits => audits.push(line),
            _ => {}
        }
    }
    assert!(signins.len() > 100 && !audits.is_empty());
    let set_day = |line: &str, day: &str| {
        let at = line.find("\"createdDateTime\":\"").unwrap() + 19;
        format!("{}{}{}", &line[..at], day, &line[at + 10..])
    };
    let mut out = Vec::new();
    for (i, line) in signins.iter().take(120).enumerate() {
        let line = set_day(line, ["2026-10-01", "2026-10-01", "2026-10-02"][i % 3]);
        let tid = &line[line.find("\"homeTenantId\":\"").unwrap() + 16..][..36];
        let line = match i % 4 {
            0 => line.replace(tid, &tid.to_ascii_uppercase()),
            1 => line.replace(tid, "11111111-2222-3333-4444-555555555555"),
            2 => line
                .replace(
                    &format!("\"homeTenantId\":\"{tid}\""),
                    "\"homeTenantId\":null",
                )
                .replace(
                    &format!("\"resourceTenantId\":\"{tid}\""),
                    "\"resourceTenantId\":null",
                ),
            _ => line,
        };
        out.push(line);
        if i % 10 == 0 {
            out.push(audits[i % audits.len()].clone());
        }
        if i % 7 == 0 && i > 0 {
            out.push(out[out.len() - 2].clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, out.join("\n")).unwrap();
    let summary = ingest_both_ways(&[file.display().to_string()]);
    assert!(summary.duplicates > 0);
    assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
}

#[test]
fn whole_ingests_agree_with_and_without_the_fast_path() {
    // The samples and fixtures in testdata/.
    let data = testdata();
    ingest_both_ways(&[
        data.join("formats").display().to_string(),
        data.join("fixtures").display().to_string(),
    ]);

    // Simulated sign-ins as NDJSON, and as Graph list response pages with, in the middle of one
    // page, an element with a wrong type, one needing a normalisation and a duplicate.
    let lines: Vec<String> = simulated(20, 1)
        .into_iter()
        .filter(|(kind, _)| *kind == RecordKind::SignIns)
        .map(|(_, line)| line)
        .collect();
    assert!(lines.len() > 200);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signins.jsonl"), lines.join("\n")).unwrap();
    let mut odd = lines[..30].to_vec();
    odd[3] = odd[3].replacen("\"errorCode\":", "\"errorCode\":\"x\",\"was\":", 1);
    // Without `signInEventTypes` the type is inferred by the general path.
    odd[4] = odd[4].replacen("\"signInEventTypes\":", "\"eventTypesOfOld\":", 1);
    odd[5] = odd[0].clone();
    let context = "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns";
    let page = |items: &[String]| {
        format!(
            "{{\"@odata.context\":\"{context}\",\"value\":[{}],\"@odata.nextLink\":\"x\"}}",
            items.join(",")
        )
    };
    let pages = [
        page(&lines[30..100]),
        // all recognised; one element given back to the general path, one duplicate
        page(&[&odd[..4], &odd[5..]].concat()),
        // one element needs a normalisation: the whole page takes the general path
        page(&odd[4..5]),
        page(&[]),
        page(&lines[100..]),
    ];
    let recognised = |text: &str| {
        let mut tape = Tape::new();
        tape.parse(text).unwrap();
        let p = gatehouse_formats::fast::list_page(&tape, text, None).unwrap();
        p.elements
            .iter()
            .all(|e| gatehouse_formats::fast::recognize_at(&tape, text, None, *e).is_some())
    };
    assert!(recognised(&pages[0]));
    assert!(recognised(&pages[1]));
    assert!(!recognised(&pages[2]));
    std::fs::write(dir.path().join("pages.json"), pages.join("\n")).unwrap();
    let summary = ingest_both_ways(&[dir.path().display().to_string()]);
    assert_eq!(summary.rejected.len(), 1, "{:?}", summary.rejected);
    assert!(summary.duplicates > 0);
}

/// A small deterministic generator for the mutation test (no dependency needed).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_records_never_make_the_paths_disagree() {
    let lines: Vec<String> = simulated(15, 1)
        .into_iter()
        .step_by(7)
        .map(|(_, line)| line)
        .collect();
    // Splices that change a value's type, spelling or escaping, or the object's keys.
    let splices: &[&str] = &[
        "1",
        "-0",
        "1e999",
        "\"1\"",
        "\"TRUE\"",
        "null",
        "true",
        "[]",
        "{}",
        "{\"x\":1}",
        "\"\\u00e9\\n\"",
        "\"\\ud83d\\ude00\"",
        "\"2024-01-01T00:00:00Z\"",
        "\"Member\"",
        "\"12\"",
        "3.5",
        "\"id\":\"dup\",",
        "\"zzUnknown\":[1,{\"a\":null}],",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut fast, mut total) = (0, 0);
    for line in &lines {
        for _ in 0..12 {
            let bytes = line.as_bytes();
            // Pick a value start (after a colon) or a key start (after a comma or brace).
            let at = rng.below(bytes.len());
            let text = match bytes[at..].iter().position(|b| matches!(b, b':' | b',')) {
                Some(off) => {
                    let pos = at + off + 1;
                    let splice = splices[rng.below(splices.len())];
                    if splice.ends_with(',') {
                        // Insert a member before the next key.
                        if bytes[pos - 1] != b',' {
                            continue;
                        }
                        format!("{}{}{}", &line[..pos], splice, &line[pos..])
                    } else {
                        if bytes[pos - 1] != b':' {
                            continue;
                        }
                        // Replace the value that starts here, up to the next comma or brace
                        // at any depth (the result may be malformed: that is part of the test).
                        let end = bytes[pos..]
                            .iter()
                            .position(|b| matches!(b, b',' | b'}' | b']'))
                            .map_or(bytes.len(), |e| pos + e);
                        format!("{}{}{}", &line[..pos], splice, &line[end..])
                    }
                }
                None => continue,
            };
            total += 1;
            if both_paths(&text, &text) != Path_::General {
                fast += 1;
            }
        }
    }
    assert!(total > 500, "{total}");
    assert!(
        fast > total / 10 && fast < total,
        "{fast} of {total} took the fast path"
    );
}

/// A string leaf starting with this is written as the raw JSON text after it (number literals
/// `serde_json` would normalise).
const RAW: &str = "__RAW__";

/// A random replacement value.
fn leaves(rng: &mut XorShift) -> Value {
    let opts: Vec<Value> = vec![
        Value::Null,
        json!("x"),
        json!(""),
        json!("Zo\u{00eb} \"q\" \\ \u{1F600}"),
        json!(true),
        json!(false),
        json!("TRUE"),
        json!("maybe"),
        json!(0),
        json!(-5),
        json!(3000000000u64),
        json!(" 42 "),
        json!("4.0"),
        json!(1.5),
        json!(5.0),
        json!([]),
        json!({}),
        json!({"zz": 1, "a": "b"}),
        json!({"k": "v", "a": null}),
        json!({"k": 1}),
        json!(["a", "b"]),
        json!([1, "a", null, {"x": 1}]),
        json!([{}]),
        json!([{"unknownMember": 1}]),
        json!([null]),
        json!("2024-01-01T00:00:00Z"),
        json!("2500-01-01T00:00:00Z"),
        json!("0001-01-01T00:00:00Z"),
        json!("not a time"),
        json!(format!("{RAW}-0")),
        json!(format!("{RAW}1E2")),
        json!(format!("{RAW}12345678901234567890")),
        json!(format!("{RAW}9007199254740993")),
        json!(format!("{RAW}-9223372036854775808")),
        json!(format!("{RAW}9.1e15")),
        json!(format!("{RAW}2147483648")),
        json!(format!("{RAW}-2147483648")),
        json!(format!("{RAW}1.0e0")),
    ];
    opts[rng.below(opts.len())].clone()
}

/// All paths to nodes of `v`.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                prefix.push(json!(k));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                prefix.push(json!(i));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// The node at `path`.
fn at<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    let mut cur = v;
    for p in path {
        cur = match p {
            Value::String(k) => cur.get_mut(k.as_str()).unwrap(),
            Value::Number(n) => cur.get_mut(n.as_u64().unwrap() as usize).unwrap(),
            _ => unreachable!(),
        };
    }
    cur
}

/// One random change somewhere in `v` (the top-level members named in `keep` stay).
fn mutate(rng: &mut XorShift, v: &mut Value, keep: &[&str]) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let p = &all[rng.below(all.len())];
    if p.len() == 1 && keep.contains(&p[0].as_str().unwrap_or("")) {
        return;
    }
    let node = at(v, p);
    match rng.below(6) {
        0..=2 => *node = leaves(rng),
        3 => {
            if let Value::Object(o) = node {
                o.insert(format!("unknown{}", rng.below(3)), leaves(rng));
            } else if let Value::Array(a) = node {
                let c = a.first().cloned().unwrap_or(Value::Null);
                a.push(c);
            }
        }
        4 => {
            if let Value::Object(o) = node {
                if !o.is_empty() && !p.is_empty() {
                    let k = o.keys().nth(rng.below(o.len())).unwrap().clone();
                    o.remove(&k);
                }
            } else if let Value::Array(a) = node {
                if !a.is_empty() {
                    a.remove(rng.below(a.len()));
                }
            }
        }
        _ => {
            let c = node.clone();
            *node = json!([c.clone(), c]);
        }
    }
}

/// Writes `v` with members sometimes shuffled and, when `dup`, sometimes one repeated.
fn write(rng: &mut XorShift, v: &Value, out: &mut String, dup: bool, top: bool) {
    match v {
        Value::String(s) if s.starts_with(RAW) => out.push_str(&s[RAW.len()..]),
        Value::Object(o) => {
            let mut members: Vec<(&String, &Value)> = o.iter().collect();
            if rng.below(3) == 0 {
                for i in (1..members.len()).rev() {
                    let j = rng.below(i + 1);
                    members.swap(i, j);
                }
            }
            if dup && !members.is_empty() && rng.below(8) == 0 {
                let m = members[rng.below(members.len())];
                if !(top && (m.0 == "id" || m.0 == "createdDateTime" || m.0 == "activityDateTime"))
                {
                    members.push(m);
                }
            }
            out.push('{');
            space(rng, out);
            for (n, (k, c)) in members.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                    space(rng, out);
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                space(rng, out);
                out.push(':');
                space(rng, out);
                write(rng, c, out, dup, false);
                space(rng, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            space(rng, out);
            for (n, c) in a.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                    space(rng, out);
                }
                write(rng, c, out, dup, false);
                space(rng, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Now and then, JSON whitespace between tokens.
fn space(rng: &mut XorShift, out: &mut String) {
    if rng.below(40) == 0 {
        out.push_str([" ", "\n", "\t ", "\r\n"][rng.below(4)]);
    }
}

/// What `fast::recognize` says of a whole text.
fn recognize_text(text: &str) -> Option<FastRecord> {
    let mut tape = Tape::new();
    tape.parse(text).ok()?;
    recognize(&tape, text, None)
}

/// The event time of a record, if it has a usable one.
fn time_ns_of(body: &Map<String, Value>, time_column: &str) -> Option<i64> {
    body.get(time_column)
        .and_then(|t| t.as_str())
        .and_then(|s| parse_timestamp(s).ok())
        .and_then(|t| t.timestamp_nanos_opt())
}

/// Seeded random mutations of simulated sign-ins and audits (wrong types, nulls, numbers as
/// strings, odd number literals, out-of-range times, unknown and deleted members, reordered and
/// repeated keys), fed the way ingest feeds them: through `append_tape`, falling back to `append`
/// after a bail, on one builder; through `append` only on another. Builders are reused across
/// `finish` and bails follow each other, so a bail that leaves anything behind, or a row the two
/// paths store differently, shows up as differing batches. `FUZZ_ITERS` and `FUZZ_SEED` widen it.
#[test]
fn random_mutations_store_the_same_rows_on_both_paths() {
    let bases: Vec<(LogKind, Value)> = simulated(20, 1)
        .into_iter()
        .filter_map(|(_, line)| {
            let log = recognize_text(&line)?.log;
            Some((log, serde_json::from_str(&line).unwrap()))
        })
        .collect();
    assert!(bases.len() > 100);
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e3779b97f4a7c15);
    let mut rng = XorShift(seed);
    // Per log: the tape path then the general path; the general path alone; the direct path,
    // then the general path; the texts of the batch.
    type Builders = (TableBuilder, TableBuilder, TableBuilder, Vec<String>);
    let mut builders: HashMap<LogKind, Builders> = HashMap::new();
    let (mut fast, mut bail, mut rejected, mut direct) = (0, 0, 0, 0);
    let mut tape = Tape::new();
    for iter in 0..iters {
        let (log, base) = &bases[rng.below(bases.len())];
        let time_column = log.time_column();
        let mut v = base.clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut v, &["id", time_column]);
        }
        let mut text = String::new();
        let dup = rng.below(4) == 0;
        write(&mut rng, &v, &mut text, dup, true);
        let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let body: Map<String, Value> = body;
        let schema = TableSchema::of(*log);
        let (f, g, d, texts) = builders.entry(*log).or_insert_with(|| {
            (
                TableBuilder::new(&schema),
                TableBuilder::new(&schema),
                TableBuilder::new(&schema),
                Vec::new(),
            )
        });
        match d.append_direct(text.as_bytes(), &mut tape, &SYS, |_| true) {
            Ok(row) => {
                let r = recognize_text(&text);
                assert_eq!(r.map(|r| r.log), Some(*log), "{text}");
                assert_eq!(row.time_ns, time_ns_of(&body, time_column).unwrap());
                direct += 1;
            }
            Err(_) => {
                let _ = d.append(&body, time_column, &SYS);
            }
        }
        let time_ns = time_ns_of(&body, time_column);
        tape.parse(&text).unwrap();
        let took_fast = match time_ns {
            Some(ns) => match f.append_tape(&tape, &text, 0, time_column, ns, &SYS) {
                Ok(a) => {
                    let r = g.append(&body, time_column, &SYS);
                    match r {
                        Ok(s) => assert_eq!(s.id.as_deref(), Some(&*a.id)),
                        Err(e) => panic!("fast stored what general rejects ({e}): {text}"),
                    }
                    fast += 1;
                    true
                }
                Err(_) => {
                    bail += 1;
                    false
                }
            },
            None => false,
        };
        if !took_fast {
            let rf = f.append(&body, time_column, &SYS);
            let rg = g.append(&body, time_column, &SYS);
            assert_eq!(rf.is_ok(), rg.is_ok());
            if rf.is_err() {
                rejected += 1;
            }
        }
        assert_eq!(f.len(), g.len());
        assert_eq!(d.len(), g.len());
        texts.push(text);
        if iter % 97 == 0 || iter + 1 == iters {
            for (log, (f, g, d, texts)) in builders.iter_mut() {
                let what = format!("{log:?} batch ending at iter {iter}");
                let fb = f.finish();
                let gb = g.finish();
                let db = d.finish();
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    assert_same_rows(&gb, &fb, &what);
                    assert_same_rows(&gb, &db, &format!("{what} (direct path)"));
                }))
                .is_err()
                {
                    panic!("{what} (seed {seed}); its records:\n{}", texts.join("\n"));
                }
                for batch in [fb, db] {
                    batch
                        .columns()
                        .iter()
                        .for_each(|c| c.to_data().validate_full().unwrap());
                }
                texts.clear();
            }
        }
    }
    assert!(direct > iters / 20, "direct {direct} of {iters}");
    // The mutations must exercise all three outcomes, or the test proves little.
    assert!(fast > iters / 10, "fast {fast} of {iters}");
    assert!(bail > iters / 50, "bail {bail} of {iters}");
    assert!(rejected > 0, "rejected {rejected} of {iters}");
}

/// Damaged records (cut short anywhere, or with one byte replaced by a JSON token character)
/// are taken by the direct path only when they are still valid records it stores exactly as
/// the other paths do: `both_paths` checks that on every one.
#[test]
fn damaged_records_never_fool_the_direct_path() {
    let records = simulated(5, 1);
    let of = |kind: RecordKind, step: usize, n: usize| {
        records
            .iter()
            .filter(move |(k, _)| *k == kind)
            .step_by(step)
            .take(n)
            .map(|(_, line)| line.clone())
    };
    let lines: Vec<String> = of(RecordKind::SignIns, 17, 5)
        .chain(of(RecordKind::Audits, 1, 3))
        .collect();
    assert_eq!(lines.len(), 8);
    let mut rng = XorShift(0x2545f4914f6cdd1d);
    let (mut direct, mut other) = (0, 0);
    for line in &lines {
        let cuts = (0..line.len()).step_by(7).chain([line.len() - 1]);
        for end in cuts.filter(|e| line.is_char_boundary(*e)) {
            assert_ne!(both_paths(&line[..end], "a cut record"), Path_::Direct);
        }
        for _ in 0..300 {
            let mut bytes = line.clone().into_bytes();
            let at = rng.below(bytes.len());
            if !bytes[at].is_ascii() {
                continue;
            }
            let tokens = b"{}[]:,\"\\ -0e.tfn";
            bytes[at] = tokens[rng.below(tokens.len())];
            let text = String::from_utf8(bytes).unwrap();
            match both_paths(&text, &text) {
                Path_::Direct => direct += 1,
                _ => other += 1,
            }
        }
    }
    // Most single-byte changes land inside a string and leave a valid record.
    assert!(direct > 0 && other > 0, "direct {direct}, other {other}");
}

/// The direct path reads text that was not checked as UTF-8 beforehand and checks it as it
/// goes. Bytes that are not UTF-8, in a value, a nested value, a JSON-text column, a key or
/// between tokens, are never taken (ingest then rejects the record with a reason); well-formed
/// characters of every length are, and stored as the tape path stores them.
#[test]
fn the_direct_path_checks_utf8_as_it_reads() {
    let line = simulated(2, 1)
        .into_iter()
        .find(|(k, l)| {
            *k == RecordKind::SignIns && l.contains(r#""conditionalAccessAudiences":[""#)
        })
        .expect("a sign-in with audiences")
        .1;
    // Where bytes go in: after each of these markers.
    let places = [
        ("a string value", r#""userDisplayName":""#),
        ("a nested value", r#""city":""#),
        ("a JSON-text column", r#""conditionalAccessAudiences":[""#),
        ("a key", r#""userDisplay"#),
        ("between tokens", r#""userDisplayName":"#),
    ];
    let bad: [&[u8]; 10] = [
        b"\xFF",
        b"\x80",
        b"\xC0\x80",
        b"\xC1\xBF",
        b"\xE0\x80\x80",
        b"\xED\xA0\x80",
        b"\xF4\x90\x80\x80",
        b"\xF8\x88\x80\x80\x80",
        b"\xE2\x82",
        b"\xF0\x9F\x98",
    ];
    // The first and last character encoded in two, three and four bytes, and a common one of each.
    let good: Vec<String> = [
        0x80, 0x7FF, 0xE9, 0x800, 0xFFFF, 0x20AC, 0x10000, 0x10FFFF, 0x1F600,
    ]
    .into_iter()
    .map(|c| char::from_u32(c).expect("a character").to_string())
    .collect();
    let with = |marker: &str, insert: &[u8], times: usize| {
        let at = line.find(marker).expect("marker") + marker.len();
        let mut bytes = line.as_bytes()[..at].to_vec();
        for _ in 0..times {
            bytes.extend_from_slice(insert);
        }
        bytes.extend_from_slice(&line.as_bytes()[at..]);
        bytes
    };
    for (place, marker) in places {
        for insert in bad {
            // Alone, and after enough ASCII-free text that the scanner's eight-byte loop meets it.
            for times in [1, 9] {
                let bytes = with(marker, insert, times);
                let what = format!("{insert:02x?} x{times} in {place}");
                assert!(direct_path(&bytes, &what).is_none(), "{what}: taken");
                let mut general = Vec::new();
                parse_item(&bytes, 1, None, &mut general);
                assert!(
                    general.iter().all(|(_, r)| r.is_err()),
                    "{what}: the general path took it"
                );
            }
        }
    }
    let mut direct = 0;
    for (place, marker) in places {
        for insert in &good {
            for times in [1, 9] {
                let text = String::from_utf8(with(marker, insert.as_bytes(), times)).unwrap();
                let what = format!("{insert:?} x{times} in {place}");
                if both_paths(&text, &what) == Path_::Direct {
                    direct += 1;
                }
            }
        }
    }
    // Everywhere but in the key (an unknown key goes to `_extra`) and between tokens (not JSON).
    assert_eq!(direct, 3 * good.len() * 2);
}

/// Records whose keys differ from one to the next, through one builder: the direct path fills
/// each column a record lacks with a null (it remembers which those are while records keep the
/// same keys), so the batch equals the general path's.
#[test]
fn the_direct_path_fills_the_columns_each_record_lacks() {
    let lines: Vec<String> = simulated(3, 1)
        .into_iter()
        .filter(|(k, _)| *k == RecordKind::SignIns)
        .map(|(_, l)| l)
        .take(400)
        .collect();
    assert_eq!(lines.len(), 400);
    let schema = TableSchema::of(LogKind::SignIns);
    let (mut d, mut g) = (TableBuilder::new(&schema), TableBuilder::new(&schema));
    let mut tape = Tape::new();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let kept = ["id", "createdDateTime", "signInEventTypes"];
    let (mut direct, mut lacking) = (0, 0);
    for (n, line) in lines.iter().enumerate() {
        let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(line) else {
            panic!("simulated JSON: {line}");
        };
        // Runs of records with all their keys, and of records lacking one to four of them.
        if n / 5 % 2 == 1 {
            let keys: Vec<String> = body
                .keys()
                .filter(|k| !kept.contains(&k.as_str()))
                .cloned()
                .collect();
            for _ in 0..1 + rng.below(4) {
                body.remove(&keys[rng.below(keys.len())]);
            }
            lacking += 1;
        }
        let text = serde_json::to_string(&body).unwrap();
        match d.append_direct(text.as_bytes(), &mut tape, &SYS, |_| true) {
            Ok(_) => direct += 1,
            Err(_) => {
                d.append(&body, "createdDateTime", &SYS).unwrap();
            }
        }
        g.append(&body, "createdDateTime", &SYS).unwrap();
    }
    assert!(
        direct > 350 && lacking == 200,
        "direct {direct}, lacking {lacking}"
    );
    let db = d.finish();
    db.columns()
        .iter()
        .for_each(|c| c.to_data().validate_full().unwrap());
    assert_same_rows(&g.finish(), &db, "records lacking keys");
}

/// Every record the simulator writes in the diagnostic shape (storage blob lines).
fn simulated_diagnostic(users: u32, days: u32) -> Vec<(RecordKind, String)> {
    simulated_as(users, days, gatehouse_sim::OutputFormat::Diagnostic)
}

/// Offers a diagnostic record to the direct path of each table that has one (after a reference
/// row) and compares what it stored with what the general path stores; whether it was taken.
fn diagnostic_both_paths(text: &str, what: &str) -> bool {
    let mut general = Vec::new();
    parse_item(text.as_bytes(), 1, None, &mut general);
    let mut tape = Tape::new();
    let mut taken = false;
    for log in [LogKind::SignIns, LogKind::Audits] {
        let schema = TableSchema::of(log);
        let time_column = log.time_column();
        let reference = reference_row(log);
        let mut direct = TableBuilder::new(&schema);
        direct.append(&reference, time_column, &SYS).unwrap();
        let row = direct.append_diagnostic_direct(
            text.as_bytes(),
            Some(true),
            0,
            &mut tape,
            "t",
            7,
            |_| true,
        );
        let Ok(row) = row else {
            assert_bail_left_the_reference_alone(direct, log, &reference, what);
            continue;
        };
        assert!(!taken, "{what}: taken for two logs");
        taken = true;
        assert_eq!(general.len(), 1, "{what}");
        let rec = general[0].1.as_ref().unwrap_or_else(|e| {
            panic!("{what}: the direct path stored a record the general path rejects: {e}")
        });
        assert_eq!(rec.log, log, "{what}");
        assert_eq!(row.tenant_id.map(str::to_string), rec.tenant_id, "{what}");
        assert_eq!(row.signin_kind, signin_kind_of(rec), "{what}");
        let sys = SystemFields {
            source: &rec.source,
            envelope: rec.envelope.as_ref(),
            ..SYS
        };
        let mut slow = TableBuilder::new(&schema);
        slow.append(&reference, time_column, &SYS).unwrap();
        let appended = slow
            .append(&rec.body, time_column, &sys)
            .unwrap_or_else(|e| panic!("{what}: the general path rejects it: {e}"));
        assert_eq!(appended.id.as_deref(), Some(&*row.id), "{what}");
        assert_eq!(appended.time_ns, row.time_ns, "{what}");
        assert_same_rows(&slow.finish(), &direct.finish(), what);
    }
    taken
}

#[test]
fn simulated_diagnostic_records_take_the_direct_path_and_match() {
    let (mut taken, mut total) = (0, 0);
    for (kind, line) in simulated_diagnostic(40, 2) {
        let direct = diagnostic_both_paths(&line, &line);
        // Provisioning records are reshaped by the general path; everything else goes
        // straight from the text into the columns.
        assert_eq!(direct, kind != RecordKind::Provisioning, "{line}");
        taken += direct as usize;
        total += 1;
    }
    assert!(
        taken > 1000,
        "only {taken} of {total} records were compared"
    );
}

#[test]
fn diagnostic_edge_cases_match_or_take_the_general_path() {
    let props = r#""id":"d1","createdDateTime":"2024-05-01T10:00:00Z","appId":"a","signInEventTypes":["interactiveUser"]"#;
    let env = r#""time":"2024-05-01T10:00:00Z","category":"SignInLogs","tenantId":"8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60""#;
    let cases = [
        // rewrites on the way: condition bitmasks as numbers and digit strings, userType
        (
            env,
            r#","userType":"Guest","appliedConditionalAccessPolicies":[{"id":"p","conditionsSatisfied":1035,"conditionsNotSatisfied":"0"},{"conditionsSatisfied":"application","conditionsNotSatisfied":9223372036854775808}]"#,
            true,
        ),
        (env, r#","userType":"member""#, true),
        (env, r#","userType":"Élan""#, true),
        // a bitmask the general path keeps as it is (negative, fraction, too large, escaped)
        (
            env,
            r#","appliedConditionalAccessPolicies":[{"conditionsSatisfied":-1}]"#,
            false,
        ),
        (
            env,
            r#","appliedConditionalAccessPolicies":[{"conditionsSatisfied":1.0}]"#,
            false,
        ),
        (
            env,
            r#","appliedConditionalAccessPolicies":[{"conditionsSatisfied":"99999999999999999999"}]"#,
            false,
        ),
        (
            env,
            r#","appliedConditionalAccessPolicies":[{"conditionsSatisfied":"\u0031"}]"#,
            false,
        ),
        (env, r#","userType":"\u0047uest""#, false),
        // rules sent as JSON text
        (
            env,
            r#","appliedConditionalAccessPolicies":[{"includeRulesSatisfied":["{\"ruleSatisfied\":\"x\"}"]}]"#,
            false,
        ),
        // the envelope: every kind of value, escapes, unsorted keys, the tenant elsewhere
        (
            r#""zeta":{"b":[1,2.50,-0,1E2],"a":null},"alpha":"\u00e9\n\"q\"","time":"x","num":-3,"big":18446744073709551616,"f":1.5,"t":true,"category":"NonInteractiveUserSignInLogs","resourceId":"/TENANTS/8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60/providers/x""#,
            "",
            true,
        ),
        (
            r#""category":"SignInLogs","tenantId":"not a tenant","resourceId":"/tenants/8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60/providers/x""#,
            r#","homeTenantId":"11111111-2222-3333-4444-555555555555""#,
            true,
        ),
        (r#""category":"SignInLogs","tenantId":7"#, "", true),
        (r#""category":"signinlogs""#, "", true),
        // keys the general path reads another way
        (r#""Category":"SignInLogs""#, "", false),
        (
            r#""category":"SignInLogs","TenantId":"8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60""#,
            "",
            false,
        ),
        (
            r#""category":"SignInLogs","AADTenantId":"8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60""#,
            "",
            false,
        ),
        (r#""category":"SignInLogs","id":"x""#, "", false),
        (r#""category":"SignInLogs","records":[]"#, "", false),
        (r#""category":"SignInLogs","k":1,"k":2"#, "", false),
        (r#""category":"SignInLogs","\u006b":1"#, "", false),
        (r#""category":"Sign\u0049nLogs""#, "", false),
        (r#""category":"ProvisioningLogs""#, "", false),
        (r#""category":"NoSuchLogs""#, "", false),
        (r#""category":5"#, "", false),
        (r#""big":1e999,"category":"SignInLogs""#, "", false),
    ];
    for (envelope, more, direct) in cases {
        let text = format!("{{{envelope},\"properties\":{{{props}{more}}}}}");
        assert_eq!(diagnostic_both_paths(&text, &text), direct, "{text}");
    }
    // The sign-in type from the category when the properties do not say it, an audit, the
    // properties before the envelope.
    for (text, direct) in [
        (
            r#"{"category":"ManagedIdentitySignInLogs","properties":{"id":"m","createdDateTime":"2024-05-01T10:00:00Z","appId":"a"}}"#,
            true,
        ),
        (
            r#"{"category":"ADFSSignInLogs","properties":{"id":"m","createdDateTime":"2024-05-01T10:00:00Z","appId":"a"}}"#,
            false,
        ),
        (
            r#"{"properties":{"id":"m","createdDateTime":"2024-05-01T10:00:00Z"},"category":"ServicePrincipalSignInLogs","tenantId":"8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60"}"#,
            true,
        ),
        (
            r#"{"category":"AuditLogs","properties":{"id":"a","activityDateTime":"2024-05-01T10:00:00Z","activityDisplayName":"Add user","targetResources":[{"type":"User"}]}}"#,
            true,
        ),
        (
            r#"{"category":"AuditLogs","properties":{"id":"a","activityDateTime":"2024-05-01T10:00:00Z","targetResources":[{"Type":"User"}]}}"#,
            false,
        ),
        // no time in the properties (the envelope's is used), no properties, no category
        (
            r#"{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","properties":{"id":"m","appId":"a"}}"#,
            false,
        ),
        (
            r#"{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","operationName":"x"}"#,
            false,
        ),
        (
            r#"{"properties":{"id":"m","createdDateTime":"2024-05-01T10:00:00Z"}}"#,
            false,
        ),
        // an unknown property goes to `_extra` on the general path
        (
            r#"{"category":"SignInLogs","properties":{"id":"m","createdDateTime":"2024-05-01T10:00:00Z","brandNew":1}}"#,
            false,
        ),
    ] {
        assert_eq!(diagnostic_both_paths(text, text), direct, "{text}");
    }
}

/// Seeded random mutations of simulated diagnostic records (of their envelopes and of their
/// properties), stored as blob lines and as Event Hub messages of several records (some of them
/// not objects, some messages cut short or followed by more), with and without the fast path:
/// the stores and the rejections must be the same.
#[test]
fn mutated_diagnostic_records_and_messages_store_the_same_rows_on_both_paths() {
    let bases: Vec<Value> = simulated_diagnostic(15, 1)
        .into_iter()
        .step_by(5)
        .map(|(_, line)| serde_json::from_str(&line).unwrap())
        .collect();
    assert!(bases.len() > 100);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut lines = Vec::new();
    for (n, base) in bases.iter().enumerate() {
        let mut v = base.clone();
        // A third stay as they are, so the direct path has partitions to follow.
        if n % 3 != 0 {
            for _ in 0..1 + rng.below(2) {
                mutate(&mut rng, &mut v, &["properties"]);
            }
        }
        let mut text = String::new();
        let dup = rng.below(4) == 0;
        write(&mut rng, &v, &mut text, dup, true);
        // One record per line (a newline can only be whitespace between tokens).
        lines.push(text.replace('\n', " "));
    }
    let mut messages = Vec::new();
    for (n, group) in lines.chunks(7).enumerate() {
        let mut items: Vec<String> = group.to_vec();
        match n % 9 {
            1 => items.insert(2, "42".into()),
            2 => items.insert(1, "[{\"category\":\"SignInLogs\"}]".into()),
            _ => {}
        }
        let mut message = format!("{{\"records\":[{}]}}", items.join(","));
        match n % 11 {
            3 => message.truncate(message.len() - 40),
            5 => message.insert_str(message.len() - 1, ",\"more\":1"),
            7 => message = message.replacen("[", " [ ", 1) + " ",
            _ => {}
        }
        messages.push(message);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("PT1H.json"), lines.join("\n")).unwrap();
    std::fs::write(dir.path().join("messages.json"), messages.join("\n")).unwrap();
    let summary = ingest_both_ways(&[dir.path().display().to_string()]);
    assert!(summary.total_stored() > 100, "{summary:?}");
    assert!(!summary.rejected.is_empty());
}

/// Event Hub messages as the connectors read them, unmutated: with and without the fast path
/// alike, every record stored, including a message that mixes categories and days.
#[test]
fn diagnostic_messages_store_the_same_rows_on_both_paths() {
    let lines: Vec<String> = simulated_diagnostic(20, 2)
        .into_iter()
        .map(|(_, line)| line)
        .collect();
    let mut messages: Vec<String> = lines
        .chunks(50)
        .map(|c| format!("{{\"records\":[{}]}}", c.join(",")))
        .collect();
    let step = lines.len() / 40;
    let mixed: Vec<&str> = lines.iter().step_by(step).map(String::as_str).collect();
    messages.push(format!("{{ \"records\" : [ {} ] }}", mixed.join(" , ")));
    messages.push("{\"records\":[]}".into());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("messages.json"), messages.join("\n")).unwrap();
    let summary = ingest_both_ways(&[dir.path().display().to_string()]);
    assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
    assert_eq!(summary.total_stored(), lines.len() as u64);
    assert_eq!(summary.duplicates, mixed.len() as u64);
}
