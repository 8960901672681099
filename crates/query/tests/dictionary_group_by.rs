//! Grouping by the Parquet dictionaries' codes (`DictionaryGroupByExec`) answers exactly what
//! DataFusion's own aggregation answers: the same queries over the same store, with the rule on
//! and off, give the same rows, including null keys, keys missing from some records, struct
//! fields, integer keys, filters on the keys, unique keys, several files, and partitions that
//! send their groups on early.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use gatehouse_ingest::TableBuilder;
use gatehouse_model::{LogKind, TableSchema};
use gatehouse_query::QueryService;
use serde_json::json;
use tokio::runtime::Runtime;

mod common;
use common::{at_second, store_with, SYS};

const BROWSERS: [&str; 4] = ["Chrome 120.0.0", "Edge 119.0.2151", "Firefox", "Safari 17"];
const SYSTEMS: [&str; 3] = ["Windows 10", "MacOs", "Ios 17.1.2 (Build 21B101)"];
const APPS: [&str; 5] = [
    "Microsoft Teams",
    "Office 365 Exchange Online",
    "Azure Portal",
    "SharePoint",
    "Microsoft Authentication Broker",
];

/// Sign-ins `from..from + rows`: 313 users over 5 apps; every 7th has no application name,
/// every 11th no device details, every 13th device details without a browser.
fn sign_ins(from: usize, rows: usize) -> RecordBatch {
    let table = TableSchema::of(LogKind::SignIns);
    let mut b = TableBuilder::new(&table);
    for n in from..from + rows {
        let second = n % 86_400;
        let mut record = json!({
            "id": format!("sign-in-{n}"),
            "createdDateTime": at_second(second),
            "userPrincipalName": format!("user{}@contoso.com", n % 313),
            "userId": format!("00000000-0000-0000-0000-{:012}", n % 313),
            "appDisplayName": APPS[(n / 3) % APPS.len()],
            "ipAddress": format!("10.0.{}.{}", n % 7, n % 5),
            "deviceDetail": {
                "browser": BROWSERS[n % BROWSERS.len()],
                "operatingSystem": SYSTEMS[(n / 2) % SYSTEMS.len()],
            },
            "status": {"errorCode": if n % 10 == 0 { 50126 } else { 0 }},
        });
        let object = record.as_object_mut().unwrap();
        if n % 7 == 0 {
            object.remove("appDisplayName");
        }
        if n % 11 == 0 {
            object.remove("deviceDetail");
        } else if n % 13 == 0 {
            object["deviceDetail"] = json!({"operatingSystem": "Linux"});
        }
        b.append(object, "createdDateTime", &SYS).unwrap();
    }
    b.finish()
}

/// A store whose sign-in table holds three files of day [`common::DAY`] (one of several row groups).
fn store(rt: &Runtime) -> (tempfile::TempDir, Arc<gatehouse_store::StoreSnapshot>) {
    let streams = [(0, 30_000), (30_000, 7_000), (37_000, 500)]
        .map(|(from, rows)| {
            (from..from + rows)
                .step_by(2_500)
                .map(|start| sign_ins(start, 2_500.min(from + rows - start)))
                .collect()
        })
        .to_vec();
    let (dir, store, writer) = store_with(streams);
    let files = writer.snapshot().files().count();
    assert!(files >= 3, "{files} files");
    let snapshot = Arc::new(rt.block_on(store.snapshot()).unwrap());
    (dir, snapshot)
}

/// The query's rows, sorted, as text; and its plan.
async fn answer(
    service: &QueryService,
    snapshot: &Arc<gatehouse_store::StoreSnapshot>,
    sql: &str,
) -> (Vec<String>, String) {
    let engine = service.engine(Arc::clone(snapshot), Some("t")).unwrap();
    let result = engine.sql(sql).await.unwrap();
    let text = pretty_format_batches(&result.batches).unwrap().to_string();
    let mut rows: Vec<String> = text
        .lines()
        .skip(3)
        .filter(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect();
    rows.sort();
    let plan = engine.sql(&format!("EXPLAIN {sql}")).await.unwrap();
    let plan = pretty_format_batches(&plan.batches).unwrap().to_string();
    (rows, plan)
}

const GROUPED: [&str; 10] = [
    "SELECT appDisplayName, count(DISTINCT userId) AS users FROM signins GROUP BY 1",
    "SELECT deviceDetail.browser AS b, deviceDetail.operatingSystem AS os, count(*) AS n \
     FROM signins GROUP BY 1, 2",
    "SELECT id, count(*) AS n FROM signins GROUP BY id",
    "SELECT appDisplayName, userPrincipalName, ipAddress, count(*) AS n, count(1) AS again \
     FROM signins GROUP BY 1, 2, 3",
    "SELECT count(*) FROM (SELECT DISTINCT deviceDetail.browser FROM signins)",
    "SELECT appDisplayName, count(*) AS n FROM signins GROUP BY 1 ORDER BY n DESC, 1 LIMIT 3",
    // Integer keys, and filters on the keys alone (applied to each group as it leaves).
    "SELECT status.errorCode, count(*) FROM signins GROUP BY 1",
    "SELECT status.errorCode AS code, count(*) AS n FROM signins WHERE status.errorCode <> 0 \
     GROUP BY 1 ORDER BY n DESC LIMIT 10",
    "SELECT appDisplayName, userId, count(*) FROM signins \
     WHERE appDisplayName LIKE 'Microsoft%' AND appDisplayName <> 'Microsoft Teams' GROUP BY 1, 2",
    "SELECT deviceDetail.browser, deviceDetail.operatingSystem, count(*) FROM signins \
     WHERE deviceDetail.browser IS NULL GROUP BY 1, 2",
];

/// Not answered by the exec (a filter on another column, a count of a column, a key that is
/// not a string or an integer), answered the same.
const OTHERS: [&str; 3] = [
    "SELECT appDisplayName, count(*) FROM signins WHERE status.errorCode <> 0 GROUP BY 1",
    "SELECT appDisplayName, count(userId) FROM signins GROUP BY 1",
    "SELECT createdDateTime, count(*) FROM signins GROUP BY 1",
];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn grouping_by_dictionary_codes_answers_as_datafusion_does() {
    let rt = runtime();
    let (dir, snapshot) = store(&rt);
    let on = QueryService::new(dir.path(), 1 << 30);
    let off = QueryService::new(dir.path(), 1 << 30).with_dictionary_group_by(false);
    for sql in GROUPED.iter().chain(&OTHERS) {
        let (rows, plan) = rt.block_on(answer(&on, &snapshot, sql));
        let (expected, plain) = rt.block_on(answer(&off, &snapshot, sql));
        assert!(!expected.is_empty(), "{sql}");
        assert_eq!(rows, expected, "{sql}\n{plan}");
        assert!(!plain.contains("DictionaryGroupByExec"), "{plain}");
        assert_eq!(
            plan.contains("DictionaryGroupByExec"),
            GROUPED.contains(sql),
            "{sql}\n{plan}"
        );
    }
    // The null groups are there: records without an application name, without device details.
    let (rows, _) = rt.block_on(answer(&on, &snapshot, GROUPED[1]));
    let cell = |row: &String, i: usize| row.split('|').nth(i).unwrap().trim().to_string();
    assert!(
        rows.iter()
            .any(|r| cell(r, 1).is_empty() && cell(r, 2) == "Linux"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| cell(r, 1).is_empty() && cell(r, 2).is_empty()),
        "{rows:?}"
    );
    let (rows, _) = rt.block_on(answer(
        &on,
        &snapshot,
        "SELECT count(*) FROM (SELECT id FROM signins GROUP BY id)",
    ));
    assert!(rows[0].contains("37500"), "{rows:?}");
}

#[test]
fn groups_sent_on_early_add_up_to_the_same_answer() {
    let rt = runtime();
    let (dir, snapshot) = store(&rt);
    let sql = "SELECT id, userId, count(*) AS n FROM signins GROUP BY 1, 2";
    let small = QueryService::new(dir.path(), 1 << 30).with_dictionary_max_groups(1_000);
    let off = QueryService::new(dir.path(), 1 << 30).with_dictionary_group_by(false);
    let (rows, plan) = rt.block_on(answer(&small, &snapshot, sql));
    assert!(plan.contains("DictionaryGroupByExec"), "{plan}");
    let (expected, _) = rt.block_on(answer(&off, &snapshot, sql));
    assert_eq!(rows.len(), 37_500);
    assert_eq!(rows, expected);
    // It did send groups on early (the metric counts it), and the answer is still exact.
    let engine = small.engine(Arc::clone(&snapshot), Some("t")).unwrap();
    let analyzed = rt
        .block_on(engine.sql(&format!("EXPLAIN ANALYZE {sql}")))
        .unwrap();
    let analyzed = pretty_format_batches(&analyzed.batches)
        .unwrap()
        .to_string();
    let early: usize = analyzed
        .split("early_emissions=")
        .skip(1)
        .map(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert!(early > 0, "{analyzed}");
}
