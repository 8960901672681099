//! The copies of interactive sign-in files clustered by user: written for the files that want
//! one, holding exactly their rows sorted by user in small row groups, read instead of the file by
//! queries for one user (with the same answers), and deleted by the vacuum that deletes their
//! file.

use std::collections::BTreeSet;
use std::fs::File;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use gatehouse_ingest::TableBuilder;
use gatehouse_model::{LogKind, TableSchema};
use gatehouse_query::QueryEngine;
use gatehouse_store::clustered::{self, cluster_missing, clustered_path};
use gatehouse_store::maintenance::apply_retention;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::json;

mod common;
use common::{at_second, row_groups, store_with, DAY, SYS};

/// `rows` sign-ins of `kind` in time order over the day, by 97 users in turn, from row `from`.
fn sign_ins(kind: &str, from: usize, rows: usize) -> RecordBatch {
    let table = TableSchema::of(LogKind::SignIns);
    let mut b = TableBuilder::new(&table);
    for n in from..from + rows {
        let second = n * 86_399 / 40_000;
        let record = json!({
            "id": format!("{kind}-{n}"),
            "createdDateTime": at_second(second),
            "userPrincipalName": format!("user{}@contoso.com", n % 97),
            "userId": format!("00000000-0000-0000-0000-{:012}", n % 97),
            "appDisplayName": if n % 3 == 0 { "Outlook" } else { "Teams" },
            "signInEventTypes": [kind],
            "status": {"errorCode": if n % 10 == 0 { 50126 } else { 0 }},
        });
        b.append(record.as_object().unwrap(), "createdDateTime", &SYS)
            .unwrap();
    }
    b.finish()
}

fn ids(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            // Queries read strings as views.
            let a = b.column(0).as_string_view();
            (0..a.len())
                .map(|i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn one_users_queries_read_the_copy_clustered_by_user_and_answer_the_same() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // 20,000 interactive sign-ins (one file, wanting a copy) and 300 of a service principal
    // (a file of another type: none).
    let (dir, store, mut writer) = store_with(vec![vec![
        sign_ins("interactiveUser", 0, 20_000),
        sign_ins("servicePrincipal", 0, 300),
    ]]);
    let snapshot = std::sync::Arc::clone(writer.snapshot());
    let files: Vec<_> = snapshot.files().cloned().collect();
    assert_eq!(files.len(), 2);
    let interactive = files.iter().find(|f| f.rows == 20_000).unwrap();
    let other = files.iter().find(|f| f.rows == 300).unwrap();
    assert!(clustered::wants_companion(interactive));
    assert!(!clustered::wants_companion(other));

    let queries = [
        "SELECT id FROM signins WHERE \"userPrincipalName\" = 'user7@contoso.com' \
         ORDER BY \"createdDateTime\" DESC, id",
        "SELECT id FROM signins WHERE \"userId\" = '00000000-0000-0000-0000-000000000042' \
         AND status.\"errorCode\" <> 0 AND \"createdDateTime\" >= TIMESTAMP '2024-01-01T06:00:00Z' \
         ORDER BY \"createdDateTime\" DESC, id",
        "SELECT id FROM signins WHERE \"appDisplayName\" = 'Outlook' ORDER BY \"createdDateTime\", id",
    ];
    let engine = rt.block_on(QueryEngine::open(&store, Some("t"))).unwrap();
    let mut before = Vec::new();
    for q in queries {
        let answer = ids(&rt.block_on(engine.sql(q)).unwrap().batches);
        assert!(!answer.is_empty(), "{q}");
        before.push(answer);
    }

    let report = cluster_missing(dir.path(), &snapshot, &|| true);
    assert_eq!((report.written, report.rows, report.failed), (1, 20_000, 0));
    let copy = clustered_path(dir.path(), interactive);
    assert!(copy.exists());
    assert!(!clustered_path(dir.path(), other).exists());
    // Nothing more to do on a second round.
    assert_eq!(
        cluster_missing(dir.path(), &snapshot, &|| true),
        Default::default()
    );

    // The copy: the file's rows exactly, sorted by user (newest first within a user) in every
    // sorted run, row groups of at most 4,096 rows with the user's min/max statistics.
    let reader = SerializedFileReader::new(File::open(&copy).unwrap()).unwrap();
    let meta = reader.metadata();
    assert!(meta.num_row_groups() >= 5);
    let upn = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == "userPrincipalName")
        .unwrap();
    for g in meta.row_groups() {
        assert!(g.num_rows() <= clustered::ROW_GROUP_ROWS as i64);
        let stats = g
            .column(upn)
            .statistics()
            .expect("userPrincipalName statistics");
        assert!(stats.min_bytes_opt().is_some() && stats.max_bytes_opt().is_some());
    }
    let rows: Vec<RecordBatch> = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
        File::open(&copy).unwrap(),
        8192,
    )
    .unwrap()
    .map(Result::unwrap)
    .collect();
    let mut keys = Vec::new();
    for b in &rows {
        let schema = b.schema();
        let u = b
            .column(schema.index_of("userPrincipalName").unwrap())
            .as_string::<i32>();
        let t = b
            .column(schema.index_of("createdDateTime").unwrap())
            .as_primitive::<TimestampMicrosecondType>();
        let id = b.column(schema.index_of("id").unwrap()).as_string::<i32>();
        for i in 0..b.num_rows() {
            keys.push((u.value(i).to_string(), -t.value(i), id.value(i).to_string()));
        }
    }
    assert_eq!(keys.len(), 20_000);
    // One source row group (20,000 < 65,536 rows): one sorted run.
    assert!(keys
        .windows(2)
        .all(|w| (&w[0].0, w[0].1) <= (&w[1].0, w[1].1)));
    let all: BTreeSet<String> = keys.into_iter().map(|k| k.2).collect();
    assert_eq!(all.len(), 20_000);
    assert!(all.contains("interactiveUser-0") && all.contains("interactiveUser-19999"));

    // Queries for one user read the copy and answer the same; the others read the file.
    let engine = rt.block_on(QueryEngine::open(&store, Some("t"))).unwrap();
    for (q, expected) in queries.iter().zip(&before) {
        assert_eq!(
            &ids(&rt.block_on(engine.sql(q)).unwrap().batches),
            expected,
            "{q}"
        );
        let plan = rt.block_on(engine.sql(&format!("EXPLAIN {q}"))).unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&plan.batches)
            .unwrap()
            .to_string();
        let reads_copy = text.contains("_gatehouse/clustered/");
        assert_eq!(reads_copy, !q.contains("appDisplayName"), "{q}\n{text}");
    }
    // …and skip the row groups of other users.
    let analyzed = rt
        .block_on(engine.sql(&format!("EXPLAIN ANALYZE {}", queries[0])))
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&analyzed.batches)
        .unwrap()
        .to_string();
    // "6 total → 2 matched": of the copy's row groups, only those holding the user are read.
    let (all, read) = row_groups(&text, "row_groups_pruned_statistics");
    assert!(
        all >= 5 && read <= 2,
        "row groups not skipped: {all} total, {read} read"
    );

    // Retention removes the day; the vacuum deletes the file and its copy.
    apply_retention(
        &mut writer,
        &[LogKind::SignIns],
        i64::from(DAY + 1) * 86_400_000_000_000,
    )
    .unwrap();
    assert!(
        copy.exists(),
        "kept while older snapshots may read the file"
    );
    writer.vacuum_older_than(std::time::Duration::ZERO).unwrap();
    assert!(!dir.path().join(&interactive.path).exists());
    assert!(!copy.exists());
}

/// A copy that cannot be written is counted and skipped (queries read the file meanwhile), and
/// written at a later round.
#[test]
fn a_copy_that_cannot_be_written_is_skipped_and_tried_again() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (dir, store, writer) = store_with(vec![vec![sign_ins("interactiveUser", 0, 10_000)]]);
    let snapshot = std::sync::Arc::clone(writer.snapshot());
    let file = snapshot.files().next().unwrap().clone();
    let copy = clustered_path(dir.path(), &file);
    // A plain file where the copy's folder should be.
    let folder = copy.parent().unwrap();
    std::fs::create_dir_all(folder.parent().unwrap()).unwrap();
    std::fs::write(folder, b"in the way").unwrap();

    let report = cluster_missing(dir.path(), &snapshot, &|| true);
    assert_eq!((report.written, report.failed), (0, 1));
    let engine = rt.block_on(QueryEngine::open(&store, Some("t"))).unwrap();
    let q = "SELECT id FROM signins WHERE \"userPrincipalName\" = 'user3@contoso.com' ORDER BY id";
    let answer = ids(&rt.block_on(engine.sql(q)).unwrap().batches);
    // Rows 3, 100, …, 9,994: 104 of them.
    assert_eq!(answer.len(), 104);

    std::fs::remove_file(folder).unwrap();
    let report = cluster_missing(dir.path(), &snapshot, &|| true);
    assert_eq!((report.written, report.failed), (1, 0));
    assert!(copy.exists());
    assert_eq!(ids(&rt.block_on(engine.sql(q)).unwrap().batches), answer);
}
