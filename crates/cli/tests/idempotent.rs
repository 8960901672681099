//! Ingest is idempotent; stdin works; `compact` and `retention` keep what they should.

mod common;

use common::{guid, ndjson, signin, testdata, ts, Gh, TABLES};
use serde_json::{json, Value};

fn counts(gh: &Gh) -> Vec<i64> {
    TABLES.iter().map(|t| gh.count(t)).collect()
}

#[test]
fn ingesting_the_same_files_twice_stores_nothing_new() {
    let data = testdata();
    let gh = Gh::new();
    let inputs = [data.join("formats"), data.join("fixtures")];
    let first = gh.ingest(&inputs);
    first.expect_code(2, "first ingest (the samples include non-records)");
    let s1 = first.summary();
    assert!(s1.stored > 100, "first run stored {}", s1.stored);
    let before = counts(&gh);
    assert_eq!(before.iter().sum::<i64>(), s1.stored as i64);
    let files_before = gh.parquet_on_disk();

    let second = gh.ingest(&inputs);
    second.expect_code(2, "second ingest");
    let s2 = second.summary();
    assert_eq!(s2.stored, 0, "second run stored records again");
    assert_eq!(
        s2.duplicates,
        s1.stored + s1.duplicates,
        "every record of the second run is a duplicate"
    );
    assert_eq!(s2.rejected, s1.rejected, "same rejections both times");
    assert_eq!(counts(&gh), before, "counts unchanged");
    assert_eq!(gh.parquet_on_disk(), files_before, "no new files");
    for t in TABLES {
        assert_eq!(
            gh.sql_int(&format!(
                "SELECT count(*) - count(DISTINCT id || '|' || \"_tenantId\" || '|' || CAST(\"{}\" AS VARCHAR) || '|' || CAST(\"_contentHash\" AS VARCHAR)) FROM \"{t}\"",
                match *t {
                    "signins" => "createdDateTime",
                    "riskyUsers" => "riskLastUpdatedDateTime",
                    "riskDetections" => "detectedDateTime",
                    _ => "activityDateTime",
                }
            )),
            0,
            "{t}: a record stored twice"
        );
    }
}

#[test]
fn duplicates_inside_one_input_are_skipped() {
    let gh = Gh::new();
    let a = signin("dup-a", "2024-03-01T10:00:00Z");
    let b = signin("dup-b", "2024-03-01T11:00:00Z");
    // The same record again, even with a differently written time, is the same record.
    let mut a_again = a.clone();
    a_again["createdDateTime"] = json!("2024-03-01T10:00:00.0000000+00:00");
    let c = signin("dup-c", "2024-03-02T11:00:00Z");
    let path = gh.write(
        "in.jsonl",
        ndjson(&[a.clone(), b.clone(), a_again, c.clone(), b]),
    );
    let run = gh.ingest(&[&path]);
    run.expect_code(0, "ingest with repeats");
    let s = run.summary();
    assert_eq!((s.stored, s.duplicates), (3, 2), "{}", run.stdout);
    assert_eq!(gh.count("signins"), 3);
    assert_eq!(
        gh.sql_int("SELECT count(DISTINCT id) FROM signins"),
        3,
        "distinct ids"
    );
    // Repeats across files of one run too.
    let gh = Gh::new();
    let p1 = gh.write("one.jsonl", ndjson(&[a.clone(), c.clone()]));
    let p2 = gh.write("two.jsonl", ndjson(&[c, a]));
    let s = gh.ingest(&[&p1, &p2]).expect_code(0, "two files").summary();
    assert_eq!((s.stored, s.duplicates), (2, 2));
    assert_eq!(gh.count("signins"), 2);
}

#[test]
fn standard_input() {
    let gh = Gh::new();
    let records: Vec<Value> = (0..50)
        .map(|n| signin(&guid(3, n), &ts(1_709_251_200 + n as i64 * 3600)))
        .collect();
    let run = gh.run_stdin(&["ingest", "-"], ndjson(&records).as_bytes());
    run.expect_code(0, "ingest -");
    assert_eq!(run.summary().stored, 50);
    assert_eq!(gh.count("signins"), 50);
    // Bad records from stdin are reported against `-`.
    let run = gh.run_stdin(
        &["ingest", "-"],
        format!("{}\n{{oops\n", records[0]).as_bytes(),
    );
    run.expect_code(2, "ingest - with a bad line");
    let s = run.summary();
    assert_eq!((s.stored, s.duplicates), (0, 1));
    assert_eq!(s.rejected.len(), 1);
    assert_eq!((s.rejected[0].file.as_str(), s.rejected[0].line), ("-", 2));
    // gzip on stdin is detected by its magic bytes.
    let more: Vec<Value> = (50..60)
        .map(|n| signin(&guid(3, n), &ts(1_709_251_200 + n as i64 * 3600)))
        .collect();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, ndjson(&more).as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let run = gh.run_stdin(&["ingest", "-"], &gz);
    run.expect_code(0, "ingest - (gzip)");
    assert_eq!(run.summary().stored, 10);
    assert_eq!(gh.count("signins"), 60);
}

#[test]
fn compact_merges_small_files_and_keeps_every_row() {
    const DAYS: i64 = 12;
    const FILES_PER_DAY: u64 = 3;
    const PER_FILE: u64 = 10;
    let gh = Gh::new();
    let mut paths = Vec::new();
    let mut n = 0u64;
    for f in 0..FILES_PER_DAY {
        for d in 0..DAYS {
            let recs: Vec<Value> = (0..PER_FILE)
                .map(|i| {
                    n += 1;
                    signin(
                        &guid(5, n),
                        &ts(1_704_067_200 + d * 86_400 + (f * PER_FILE + i) as i64 * 60),
                    )
                })
                .collect();
            paths.push(gh.write(&format!("in/{f}-{d:02}.jsonl"), ndjson(&recs)));
        }
    }
    let total = (DAYS as u64 * FILES_PER_DAY * PER_FILE) as i64;
    let mut args: Vec<std::ffi::OsString> = vec!["--file-rows".into(), "10".into()];
    args.extend(paths.iter().map(|p| p.as_os_str().to_os_string()));
    gh.ingest(&args).expect_code(0, "ingest");
    assert_eq!(gh.count("signins"), total);

    let before = gh.parquet_on_disk();
    assert_eq!(before, gh.live_files());
    assert!(
        before.len() as i64 >= 2 * DAYS,
        "--file-rows 10 should leave several files per day, got {}",
        before.len()
    );
    let ids_before = gh.sql("SELECT id, \"createdDateTime\" FROM signins ORDER BY id");

    let run = gh.run(&["compact"]);
    run.expect_code(0, "compact");
    assert!(run.stdout.contains("Compacted"), "{}", run.stdout);
    let after = gh.live_files();
    assert_eq!(
        after.len() as i64,
        DAYS,
        "one file per day partition after compact (was {})",
        before.len()
    );
    // The replaced files stay for older snapshots until a vacuum past the grace period.
    let mut on_disk = after.clone();
    on_disk.extend(before.iter().cloned());
    on_disk.sort();
    assert_eq!(gh.parquet_on_disk(), on_disk);
    let run = gh.run(&["vacuum"]);
    run.expect_code(0, "vacuum");
    assert_eq!(
        gh.parquet_on_disk(),
        on_disk,
        "vacuum within the grace period"
    );
    let run = gh.run(&["vacuum", "--older-than-hours", "0"]);
    run.expect_code(0, "vacuum");
    assert!(
        run.stdout
            .contains(&format!("Deleted {} file(s)", before.len())),
        "{}",
        run.stdout
    );
    assert_eq!(gh.parquet_on_disk(), after, "files on disk = live files");
    assert_eq!(gh.count("signins"), total);
    assert_eq!(
        gh.sql("SELECT id, \"createdDateTime\" FROM signins ORDER BY id"),
        ids_before,
        "same rows after compaction"
    );
    // Compacting again has nothing to do; ingesting the same inputs again adds nothing.
    gh.run(&["compact"]).expect_code(0, "compact again");
    assert_eq!(gh.live_files(), after);
    let s = gh.ingest(&args).expect_code(0, "re-ingest").summary();
    assert_eq!((s.stored, s.duplicates as i64), (0, total));
    assert_eq!(gh.count("signins"), total);
}

#[test]
fn retention_removes_whole_days_before_the_cutoff() {
    let gh = Gh::new();
    let now = chrono::Utc::now().timestamp();
    const DAYS: i64 = 30;
    let cutoff = now - DAYS * 86_400;
    let mut recs = Vec::new();
    // Far in the past.
    for n in 0..20u64 {
        recs.push(signin(
            &format!("old-{n}"),
            &ts(978_307_200 + n as i64 * 7200),
        ));
    }
    // The day before the cutoff's day goes; the cutoff's own day stays whole (retention works on
    // whole days), so records early on that day stay too.
    let cutoff_day_start = cutoff - cutoff.rem_euclid(86_400);
    for n in 0..5i64 {
        recs.push(signin(
            &format!("day-before-cutoff-{n}"),
            &ts(cutoff_day_start - 7200 - n * 60),
        ));
        recs.push(signin(
            &format!("cutoff-day-{n}"),
            &ts(cutoff_day_start + n * 60),
        ));
    }
    // Today.
    for n in 0..10i64 {
        recs.push(signin(&format!("today-{n}"), &ts(now - 3600 - n * 60)));
    }
    let audit_old = json!({
        "id": "audit-old", "activityDateTime": ts(978_307_200), "activityDisplayName": "Add user",
        "category": "UserManagement", "result": "success", "loggedByService": "Core Directory"
    });
    let audit_new = json!({
        "id": "audit-new", "activityDateTime": ts(now - 60), "activityDisplayName": "Add user",
        "category": "UserManagement", "result": "success", "loggedByService": "Core Directory"
    });
    recs.push(audit_old);
    recs.push(audit_new);
    let path = gh.write("in.jsonl", ndjson(&recs));
    gh.ingest(&[&path]).expect_code(0, "ingest");
    assert_eq!(gh.count("signins"), 40);
    assert_eq!(gh.count("audits"), 2);

    // Only sign-ins: the old audit stays.
    let run = gh.run(&["retention", "--days", "30", "--log", "signins"]);
    run.expect_code(0, "retention");
    assert!(run.stdout.contains("Removed 25 records"), "{}", run.stdout);
    let left = gh.sql("SELECT id FROM signins ORDER BY id");
    let left: Vec<&str> = left.iter().filter_map(|r| r["id"].as_str()).collect();
    let mut want: Vec<String> = (0..5)
        .map(|n| format!("cutoff-day-{n}"))
        .chain((0..10).map(|n| format!("today-{n}")))
        .collect();
    want.sort();
    assert_eq!(left, want);
    assert_eq!(gh.count("audits"), 2, "--log signins leaves audits alone");

    // All logs.
    gh.run(&["retention", "--days", "30"])
        .expect_code(0, "retention (all logs)");
    assert_eq!(
        gh.sql_int("SELECT count(*) FROM audits WHERE id = 'audit-new'"),
        1
    );
    assert_eq!(gh.count("audits"), 1);
    assert_eq!(gh.count("signins"), 15);
    // The removed files stay for older snapshots until a vacuum past the grace period.
    assert!(gh.parquet_on_disk().len() > gh.live_files().len());
    gh.run(&["vacuum", "--older-than-hours", "0"])
        .expect_code(0, "vacuum");
    assert_eq!(gh.parquet_on_disk(), gh.live_files());
    // The deleted records are not duplicates any more: ingesting them again stores them again
    // (and a second retention run removes them again).
    let s = gh.ingest(&[&path]).expect_code(0, "re-ingest").summary();
    assert_eq!((s.stored, s.duplicates), (26, 16));
}

#[test]
fn tenant_ids_are_case_insensitive() {
    let gh = Gh::new();
    let recs: Vec<Value> = (0..5)
        .map(|n| signin(&guid(9, n), &ts(1_704_067_200 + n as i64 * 60)))
        .collect();
    let path = gh.write("in.jsonl", ndjson(&recs));
    let path = path.to_str().unwrap();
    let s = gh
        .ingest(&["--tenant", "Contoso", path])
        .expect_code(0, "ingest")
        .summary();
    assert_eq!(s.stored, 5);
    // The same tenant spelt otherwise: the same partition, so every record is a duplicate.
    let s = gh
        .ingest(&["--tenant", "CONTOSO", path])
        .expect_code(0, "again")
        .summary();
    assert_eq!((s.stored, s.duplicates), (0, 5));
    let tenants: Vec<String> = std::fs::read_dir(gh.data.join("tenants"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(tenants, ["contoso"]);
    for spelling in ["contoso", "Contoso", "CONTOSO"] {
        let run = gh.run(&[
            "sql",
            "--tenant",
            spelling,
            "SELECT count(*) AS n, min(\"_tenantId\") AS t FROM signins",
            "--format",
            "json",
        ]);
        run.expect_code(0, spelling);
        let rows: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(rows, json!([{"n": 5, "t": "contoso"}]), "{spelling}");
    }
}

#[test]
fn distinct_records_sharing_an_id_are_all_kept() {
    // As Log Analytics exports an interactive sign-in twice: before MFA, and again after it with
    // another authenticationRequirement and a risk event. Both are records; re-ingesting the
    // export stores neither again.
    let gh = Gh::new();
    let id = guid(70, 1);
    let mut before_mfa = signin(&id, "2024-03-01T10:00:00Z");
    before_mfa["authenticationRequirement"] = json!("singleFactorAuthentication");
    let mut after_mfa = before_mfa.clone();
    after_mfa["authenticationRequirement"] = json!("multiFactorAuthentication");
    after_mfa["riskEventTypes_v2"] = json!(["unfamiliarFeatures"]);
    let other = signin(&guid(70, 2), "2024-03-01T11:00:00Z");
    let path = gh.write(
        "la-export.jsonl",
        ndjson(&[
            before_mfa.clone(),
            after_mfa.clone(),
            other,
            before_mfa.clone(),
        ]),
    );
    let s = gh.ingest(&[&path]).expect_code(0, "ingest").summary();
    assert_eq!(
        (s.stored, s.duplicates),
        (3, 1),
        "both versions kept, the repeat skipped"
    );
    assert_eq!(gh.count("signins"), 3);
    let again = gh.ingest(&[&path]).expect_code(0, "again").summary();
    assert_eq!((again.stored, again.duplicates), (0, 4));
    // A lookup by id answers the most complete version; every version is there for export.
    let shown = gh.run(&["show", &id]);
    shown.expect_code(0, "show");
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        shown["authenticationRequirement"],
        "multiFactorAuthentication"
    );
    assert_eq!(shown["riskEventTypes_v2"], json!(["unfamiliarFeatures"]));
    let all = gh.run(&["show", &id, "--all"]);
    all.expect_code(0, "show --all");
    let versions: Vec<Value> = all
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[1]["authenticationRequirement"],
        "singleFactorAuthentication"
    );
    let exported = gh.run(&["export"]);
    exported.expect_code(0, "export");
    assert_eq!(
        exported.stdout.lines().filter(|l| l.contains(&id)).count(),
        2
    );
    gh.run(&["show", "no-such-id"])
        .expect_code(1, "show of an unknown id");
}
