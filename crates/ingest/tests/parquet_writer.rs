//! Gatehouse's Parquet writer and file statistics, fed with rows built the way ingest builds them:
//! the files read back exactly as arrow-rs's own writer would have stored them, and the Delta
//! statistics hold every row.

use std::fs::File;
use std::path::Path;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use gatehouse_ingest::{SystemFields, TableBuilder};
use gatehouse_model::{LogKind, TableSchema};
use gatehouse_store::layout::PartitionKey;
use gatehouse_store::stats::{time_bounds, FileStats};
use gatehouse_store::writer::{
    read_file, write_partition_stream, writer_properties, ROW_GROUP_ROWS,
};
use gatehouse_store::DataFile;
use serde_json::{json, Value};

/// Rows the writer gathers before encoding them (`writer::ENCODE_ROWS`).
const ENCODE_ROWS: usize = 8 * 1024;

/// Tenant `t`, ingested at 0, from Graph JSON.
const SYS: SystemFields<'static> = SystemFields {
    tenant_id: "t",
    ingested_at_ns: 0,
    source: "graph",
    envelope: None,
};

/// Writes `batches` with Gatehouse's writer and with arrow-rs's `ArrowWriter` (same
/// properties); the entry of ours, and every row each file reads back as.
fn write_both(
    dir: &Path,
    key: &PartitionKey,
    batches: &[RecordBatch],
) -> (DataFile, RecordBatch, RecordBatch) {
    let mut entries = write_partition_stream(dir, key, batches.iter().cloned().map(Ok)).unwrap();
    assert_eq!(entries.len(), 1, "rows of one sign-in type make one file");
    let entry = entries.remove(0);
    let theirs = dir.join("arrow-writer.parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        File::create(&theirs).unwrap(),
        batches[0].schema(),
        Some(writer_properties()),
    )
    .unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
    let all = |path: &Path| {
        let batches = read_file(path).unwrap();
        concat_batches(&batches[0].schema(), &batches).unwrap()
    };
    let ours = all(&dir.join(&entry.path));
    (entry, ours, all(&theirs))
}

/// The parallel writer stores what `ArrowWriter` stores: the same rows, row groups of
/// `ROW_GROUP_ROWS` (the rows here cross a row group and several encode batches), and a
/// footer any Parquet reader opens.
#[test]
fn parallel_writer_matches_arrow_writer() {
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let dir = tempfile::tempdir().unwrap();
    let table = TableSchema::of(LogKind::SignIns);
    let mut builder = TableBuilder::new(&table);
    let sys = SYS;
    let mut batches = Vec::new();
    let rows = ROW_GROUP_ROWS + 3 * ENCODE_ROWS / 2;
    for n in 0..rows {
        let record = serde_json::json!({
            "id": format!("id-{n}"),
            "createdDateTime": format!("2024-01-01T00:{:02}:{:02}Z", n / 3600 % 60, n / 60 % 60),
            "userPrincipalName": format!("user{}@contoso.com", n % 97),
            "status": {"errorCode": (n % 7) as i64},
            "appliedConditionalAccessPolicies": (0..n % 3)
                .map(|p| serde_json::json!({"id": format!("p{p}"), "enforcedGrantControls": ["Mfa"]}))
                .collect::<Vec<_>>(),
        });
        builder
            .append(record.as_object().unwrap(), "createdDateTime", &sys)
            .unwrap();
        // Uneven batches, as ingest makes them.
        if builder.len() == 700 + n % 300 {
            batches.push(builder.finish());
        }
    }
    batches.push(builder.finish());
    let key = PartitionKey {
        tenant: "t".into(),
        log: LogKind::SignIns,
        day: 19723,
    };
    let (entry, a, b) = write_both(dir.path(), &key, &batches);
    assert_eq!(entry.rows, rows as u64);
    let ours = dir.path().join(&entry.path);
    let reader = SerializedFileReader::new(File::open(&ours).unwrap()).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 2);
    assert_eq!(
        reader.metadata().row_group(0).num_rows(),
        ROW_GROUP_ROWS as i64
    );
    assert_eq!(a.num_rows(), rows);
    assert_eq!(a, b);
    assert_eq!(a, concat_batches(&batches[0].schema(), &batches).unwrap());

    // A batch of other columns is an error, not a panic.
    let narrower = batches[0]
        .project(&(0..batches[0].num_columns() - 1).collect::<Vec<_>>())
        .unwrap();
    let mixed = [batches[0].clone(), narrower];
    let err = write_partition_stream(dir.path(), &key, mixed.into_iter().map(Ok)).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
}

/// Sign-ins with every kind of absence the string chunks must encode: null and empty lists,
/// null structs inside lists, null strings at every depth, lists of lists, empty strings,
/// non-ASCII text, a column too varied for its dictionary (so its chunk falls back to PLAIN
/// pages) and one that is null throughout; over a row group, in uneven batches.
#[test]
fn string_chunks_read_back_as_arrow_rs_writes_them() {
    use serde_json::{json, Value};

    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let words = [
        "",
        "none",
        "success",
        "Mfa",
        "Ünïcødé ✓",
        "Office 365 Exchange Online",
    ];
    let word = |next: &mut dyn FnMut(u64) -> u64| -> Value {
        match next(8) {
            0 => Value::Null,
            n => json!(words[(n as usize) % words.len()]),
        }
    };
    let table = TableSchema::of(LogKind::SignIns);
    let mut builder = TableBuilder::new(&table);
    let sys = SYS;
    let rows = ROW_GROUP_ROWS + 9_000;
    let mut batches = Vec::new();
    for n in 0..rows {
        let mut record = serde_json::Map::new();
        record.insert("id".into(), json!(format!("id-{n}")));
        record.insert(
            "createdDateTime".into(),
            json!(format!(
                "2024-01-01T{:02}:{:02}:{:02}Z",
                n / 3600 % 24,
                n / 60 % 60,
                n % 60
            )),
        );
        record.insert(
            "userPrincipalName".into(),
            json!(format!("user{}@contoso.com", next(500))),
        );
        record.insert("appDisplayName".into(), word(&mut next));
        // Unique and long: its dictionary outgrows 1 MiB within the row group.
        record.insert(
            "userAgent".into(),
            json!(format!("agent {n} {}", "x".repeat(40))),
        );
        if next(3) > 0 {
            record.insert(
                "status".into(),
                match next(4) {
                    0 => Value::Null,
                    _ => json!({"errorCode": next(3), "failureReason": word(&mut next)}),
                },
            );
        }
        if next(4) > 0 {
            let policies: Value = match next(5) {
                    0 => Value::Null,
                    1 => json!([]),
                    _ => (0..next(6))
                        .map(|p| {
                            if next(9) == 0 {
                                return Value::Null;
                            }
                            let grants: Value = match next(4) {
                                0 => Value::Null,
                                1 => json!([]),
                                _ => (0..next(4)).map(|_| word(&mut next)).collect(),
                            };
                            let rules: Value = match next(3) {
                                0 => json!([]),
                                _ => (0..next(3))
                                    .map(|_| json!({"conditionalAccessCondition": word(&mut next), "ruleSatisfied": word(&mut next)}))
                                    .collect(),
                            };
                            let strength = match next(3) {
                                0 => Value::Null,
                                _ => json!({"displayName": word(&mut next)}),
                            };
                            json!({
                                "id": format!("policy-{p}"),
                                "displayName": word(&mut next),
                                "enforcedGrantControls": grants,
                                "result": word(&mut next),
                                "includeRulesSatisfied": rules,
                                "authenticationStrength": strength,
                            })
                        })
                        .collect(),
                };
            record.insert("appliedConditionalAccessPolicies".into(), policies);
        }
        builder.append(&record, "createdDateTime", &sys).unwrap();
        if builder.len() == 500 + n % 2_000 {
            batches.push(builder.finish());
        }
    }
    batches.push(builder.finish());
    let input = concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(input.num_rows(), rows);

    let dir = tempfile::tempdir().unwrap();
    let key = PartitionKey {
        tenant: "t".into(),
        log: LogKind::SignIns,
        day: 19723,
    };
    let (entry, a, b) = write_both(dir.path(), &key, &batches);
    let ours = dir.path().join(&entry.path);
    for (i, field) in input.schema().fields().iter().enumerate() {
        assert_eq!(a.column(i), input.column(i), "column {}", field.name());
    }
    assert_eq!(a, b);

    // The chunks look like arrow-rs's: dictionary first, the varied column fell back to
    // PLAIN, pages of at most 20 000 rows with an offset index.
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(File::open(&ours).unwrap()).unwrap();
    let meta = reader.metadata();
    let column = |name: &str| {
        let rg = meta.row_group(0);
        (0..rg.num_columns())
            .map(|c| rg.column(c))
            .find(|c| c.column_path().string() == name)
            .unwrap()
            .clone()
    };
    use parquet::basic::Encoding;
    let agent = column("userAgent");
    assert!(agent.dictionary_page_offset().is_some());
    let data_pages = agent.page_encoding_stats_mask().unwrap();
    assert!(data_pages.is_set(Encoding::PLAIN) && data_pages.is_set(Encoding::RLE_DICTIONARY));
    let app = column("appDisplayName");
    assert!(app.dictionary_page_offset().is_some());
    assert!(app
        .page_encoding_stats_mask()
        .unwrap()
        .is_only(Encoding::RLE_DICTIONARY));
    let reader = parquet::file::serialized_reader::SerializedFileReader::new_with_options(
        File::open(&ours).unwrap(),
        parquet::file::serialized_reader::ReadOptionsBuilder::new()
            .with_page_index()
            .build(),
    )
    .unwrap();
    let offsets = reader.metadata().offset_index().unwrap();
    let leaf = (0..meta.row_group(0).num_columns())
        .find(|c| meta.row_group(0).column(*c).column_path().string() == "appDisplayName")
        .unwrap();
    let pages = offsets[0][leaf].page_locations();
    assert_eq!(pages.len(), ROW_GROUP_ROWS.div_ceil(20_000));
    assert!(pages
        .windows(2)
        .all(|w| w[1].first_row_index - w[0].first_row_index == 20_000));
}

#[test]
fn statistics_of_a_file_in_delta_form() {
    let mut b = TableBuilder::new(&TableSchema::of(LogKind::SignIns));
    let long = "z".repeat(100);
    for r in [
        json!({"id": "b", "createdDateTime": "2024-01-01T00:00:00.0001234Z",
                "userPrincipalName": "zed@x", "status": {"errorCode": 50126}}),
        json!({"id": "a", "createdDateTime": "2024-01-01T10:00:00.5Z",
                "userPrincipalName": long, "status": {"errorCode": 0}}),
        json!({"id": "c", "createdDateTime": "2024-01-01T05:00:00.0004Z"}),
    ] {
        b.append(r.as_object().unwrap(), "createdDateTime", &SYS)
            .unwrap();
    }
    let batch = b.finish();
    let mut stats = FileStats::new(LogKind::SignIns);
    stats.update(&batch.slice(0, 2));
    stats.update(&batch.slice(2, 1));
    let v: Value = serde_json::from_str(&stats.to_delta_json()).unwrap();
    assert_eq!(v["numRecords"], 3);
    assert_eq!(
        v["minValues"]["createdDateTime"],
        "2024-01-01T00:00:00.000Z"
    );
    assert_eq!(
        v["maxValues"]["createdDateTime"],
        "2024-01-01T10:00:00.500Z"
    );
    assert_eq!(v["minValues"]["id"], "a");
    assert_eq!(v["maxValues"]["id"], "c");
    assert_eq!(v["minValues"]["status"]["errorCode"], 0);
    assert_eq!(v["maxValues"]["status"]["errorCode"], 50126);
    // The third row has no status: its member counts as null.
    assert_eq!(v["nullCount"]["status"]["errorCode"], 1);
    assert_eq!(v["nullCount"]["userPrincipalName"], 1);
    // The longest value is the greatest: too long to be an upper bound, so there is none.
    assert_eq!(v["minValues"]["userPrincipalName"], "zed@x");
    assert!(v["maxValues"].get("userPrincipalName").is_none());
    assert_eq!(v["nullCount"]["appId"], 3);
    assert!(v["minValues"].get("appId").is_none());
    let bounds = time_bounds(&stats.to_delta_json(), LogKind::SignIns).unwrap();
    assert_eq!(bounds.rows, 3);
    // Bounds hold every row: rounded outwards to the millisecond.
    assert_eq!(bounds.min_time_ns, 1_704_067_200_000_000_000);
    assert_eq!(bounds.max_time_ns, 1_704_103_200_500_000_000);
    let max_up = {
        let mut s = FileStats::new(LogKind::SignIns);
        s.update(&batch.slice(2, 1));
        time_bounds(&s.to_delta_json(), LogKind::SignIns).unwrap()
    };
    assert_eq!(max_up.max_time_ns, 1_704_085_200_001_000_000);
}

/// Sign-ins `ids` (id `id-n` at second `n` of 2024-01-01, of the types `types(n)`), as one batch.
fn sign_ins(ids: std::ops::Range<usize>, types: impl Fn(usize) -> Value) -> RecordBatch {
    let mut b = TableBuilder::new(&TableSchema::of(LogKind::SignIns));
    for n in ids {
        let record = json!({
            "id": format!("id-{n}"),
            "createdDateTime": format!("2024-01-01T{:02}:{:02}:{:02}Z", n / 3600, n / 60 % 60, n % 60),
            "signInEventTypes": types(n),
        });
        b.append(record.as_object().unwrap(), "createdDateTime", &SYS)
            .unwrap();
    }
    b.finish()
}

/// Sign-ins are written one file per sign-in type, each file's type travels through the Delta log
/// (its commits and its checkpoints), and compaction merges files of one type only: a store of
/// typed files compacts once, then stays as it is.
#[test]
fn sign_ins_are_stored_one_file_per_type() {
    use arrow::array::{Array, AsArray};
    use gatehouse_model::SignInKind;
    use gatehouse_store::maintenance::compact_all;
    use gatehouse_store::{Store, TableChange, TableConfig};

    let types: [Value; 6] = [
        json!(["interactiveUser"]),
        json!(["nonInteractiveUser"]),
        json!(["servicePrincipal"]),
        json!(["managedIdentity"]),
        json!(["interactiveUser", "nonInteractiveUser"]),
        json!(["InteractiveUser"]),
    ];
    // Types interleaved, as a tenant's sign-ins arrive, in time order.
    let batch = |from: usize| {
        sign_ins(from..from + 600, |n| {
            types[n * 7 % 11 % types.len()].clone()
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let key = PartitionKey {
        tenant: "t".into(),
        log: LogKind::SignIns,
        day: 19723,
    };
    let store = Store::open(dir.path()).unwrap();
    let mut writer = store
        .writer_with(TableConfig {
            checkpoint_interval: 1,
            ..TableConfig::default()
        })
        .unwrap();
    // Three ingests of 600 rows each, as three commits.
    for from in [0, 600, 1200] {
        let added =
            write_partition_stream(dir.path(), &key, [Ok(batch(from))].into_iter()).unwrap();
        let mut kinds: Vec<_> = added.iter().map(|f| f.sign_in_kind).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                None,
                Some(SignInKind::InteractiveUser),
                Some(SignInKind::NonInteractiveUser),
                Some(SignInKind::ServicePrincipal),
                Some(SignInKind::ManagedIdentity)
            ]
        );
        writer
            .commit(vec![TableChange::append("t", LogKind::SignIns, added)])
            .unwrap();
    }
    assert_eq!(compact_all(&mut writer).unwrap().files_after, 5);
    assert_eq!(
        compact_all(&mut writer).unwrap().partitions,
        0,
        "nothing more to merge"
    );

    // Reopened from its checkpoint: every file still has its type, and holds only rows of it, in
    // time order; no row is lost or doubled.
    let snapshot = Store::open(dir.path())
        .unwrap()
        .snapshot_blocking()
        .unwrap();
    let files: Vec<_> = snapshot.files().cloned().collect();
    assert_eq!(files.len(), 5);
    let mut ids = Vec::new();
    for f in &files {
        let rows = read_file(&dir.path().join(&f.path)).unwrap();
        let rows = concat_batches(&rows[0].schema(), &rows).unwrap();
        assert_eq!(rows.num_rows() as u64, f.rows);
        let list = rows
            .column_by_name("signInEventTypes")
            .unwrap()
            .as_list::<i32>();
        for row in 0..list.len() {
            let v = list.value(row);
            let v = v.as_string::<i32>();
            let names: Vec<&str> = (0..v.len()).map(|i| v.value(i)).collect();
            match f.sign_in_kind {
                Some(kind) => assert_eq!(names, [kind.graph_name()]),
                None => assert!(
                    names.len() != 1 || SignInKind::ALL.iter().all(|k| k.graph_name() != names[0]),
                    "{names:?} in the file of mixed types"
                ),
            }
        }
        let times = rows
            .column_by_name("createdDateTime")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert!(times.values().windows(2).all(|w| w[0] <= w[1]));
        let id = rows.column_by_name("id").unwrap().as_string::<i32>();
        ids.extend((0..id.len()).map(|i| id.value(i).to_string()));
    }
    ids.sort();
    let mut expected: Vec<String> = (0..1800).map(|n| format!("id-{n}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

/// A merge made beside the writer (as a running service's compacting thread makes them) is
/// committed only if every file it replaces is still live: after another compaction removed
/// them meanwhile, committing it changes nothing, and no row is doubled.
#[test]
fn a_merge_whose_files_changed_meanwhile_is_not_committed() {
    use gatehouse_store::maintenance::{commit_merge, compact_all, merge, plan_compaction};
    use gatehouse_store::{Store, TableChange};

    let batch = |from: usize| sign_ins(from..from + 100, |_| json!(["interactiveUser"]));
    let key = PartitionKey {
        tenant: "t".into(),
        log: LogKind::SignIns,
        day: 19723,
    };
    let rows = |store: &Store| -> (usize, u64) {
        let snapshot = store.snapshot_blocking().unwrap();
        (
            snapshot.files().count(),
            snapshot.files().map(|f| f.rows).sum(),
        )
    };
    for changed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut writer = store.writer().unwrap();
        for from in [0, 100, 200, 300] {
            let added =
                write_partition_stream(dir.path(), &key, [Ok(batch(from))].into_iter()).unwrap();
            writer
                .commit(vec![TableChange::append("t", LogKind::SignIns, added)])
                .unwrap();
        }
        let plans = plan_compaction(writer.snapshot(), std::slice::from_ref(&key), 4);
        assert_eq!(plans.len(), 1);
        let plan = plans.into_iter().next().unwrap();
        assert_eq!(plan.files.len(), 4);
        let merged = merge(dir.path(), &plan).unwrap();
        assert_eq!(merged.iter().map(|f| f.rows).sum::<u64>(), 400);
        // Not live until committed.
        assert_eq!(rows(&store), (4, 400));
        if changed {
            assert_eq!(compact_all(&mut writer).unwrap().files_after, 1);
        }
        let committed = commit_merge(&mut writer, plan, merged).unwrap();
        assert_eq!(committed, !changed);
        assert_eq!(rows(&store), (1, 400), "changed meanwhile: {changed}");
    }
}
