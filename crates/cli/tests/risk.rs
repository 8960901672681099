//! The risk engine against the simulator's ground truth, through the real binary and the real
//! server: detections found for every labelled attack and for no benign look-alike (checked here
//! from the raw labels, not only by `risk evaluate`), evidence on every detection, scans that
//! store nothing twice, the anonymiser list, admin verdicts, detections within seconds of a push,
//! and Identity Protection's Graph endpoints.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Gh, Served};
use serde_json::{json, Value};

fn labels(sim: &Path) -> Vec<Value> {
    std::fs::read_to_string(sim.join("labels.jsonl"))
        .expect("labels.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a label"))
        .collect()
}

fn detections(gh: &Gh) -> Vec<Value> {
    let r = gh.run(&["risk", "detections", "--json", "--top", "1000000"]);
    r.expect_code(0, "risk detections");
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a detection"))
        .collect()
}

fn info(d: &Value, key: &str) -> Value {
    let text = d["additionalInfo"].as_str().expect("additionalInfo");
    let list: Vec<Value> = serde_json::from_str(text).expect("additionalInfo is a JSON list");
    list.into_iter()
        .find(|kv| kv["Key"] == key)
        .map(|kv| kv["Value"].clone())
        .unwrap_or(Value::Null)
}

/// A path with its query's spaces and quotes percent-encoded.
fn enc(path: &str) -> String {
    path.replace(' ', "%20").replace('\'', "%27")
}

fn tenant(gh: &Gh) -> String {
    let rows = gh.sql("SELECT DISTINCT _tenantId AS t FROM signins");
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0]["t"].as_str().expect("tenant").to_string()
}

/// Per scenario: (labels, labels with a detection on their records); and the benign labels hit.
fn score(labels: &[Value], dets: &[Value]) -> (BTreeMap<String, (usize, usize)>, Vec<String>) {
    let triggers: BTreeSet<&str> = dets
        .iter()
        .map(|d| d["requestId"].as_str().expect("requestId"))
        .collect();
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut benign_hit = Vec::new();
    for l in labels {
        let ids: Vec<&str> = l["record_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let hit = ids.iter().any(|id| triggers.contains(id));
        let scenario = l["scenario"].as_str().unwrap().to_string();
        if l["malicious"].as_bool().unwrap() {
            let e = per.entry(scenario).or_default();
            e.0 += 1;
            e.1 += usize::from(hit);
        } else if hit {
            benign_hit.push(format!("{scenario} {}", l["identity"]));
        }
    }
    (per, benign_hit)
}

#[test]
fn a_simulated_month_of_attacks_is_found_explained_and_served() {
    let gh = Gh::new();
    let sim = gh.simulate(&[
        "--users",
        "120",
        "--days",
        "30",
        "--seed",
        "3",
        "--into-store",
    ]);
    let labels = labels(&sim);
    let t = tenant(&gh);

    let scan = gh.run(&["risk", "scan"]);
    scan.expect_code(0, "risk scan");
    assert!(
        scan.stdout.contains("new detections stored"),
        "{}",
        scan.stdout
    );
    let dets = detections(&gh);
    assert!(!dets.is_empty());

    // Recall from the raw labels: every attack label has a detection on its own records, no
    // benign look-alike has one, and every detection is on some attack's records.
    let (per, benign_hit) = score(&labels, &dets);
    let scenarios: BTreeSet<&str> = per.keys().map(String::as_str).collect();
    for s in [
        "password_spray",
        "brute_force",
        "credential_theft",
        "mfa_fatigue",
        "legacy_protocol",
        "token_replay",
        "sp_new_credential",
        "disabled_account",
    ] {
        assert!(scenarios.contains(s), "the simulation has no {s}: {per:?}");
    }
    for (s, (n, hit)) in &per {
        assert!(
            *hit as f64 >= 0.9 * *n as f64,
            "{s}: {hit} of {n} labels detected"
        );
    }
    assert!(
        benign_hit.is_empty(),
        "benign look-alikes flagged: {benign_hit:?}"
    );
    let attack_records: BTreeSet<String> = labels
        .iter()
        .filter(|l| l["malicious"].as_bool().unwrap())
        .flat_map(|l| l["record_ids"].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let false_ones: Vec<&Value> = dets
        .iter()
        .filter(|d| !attack_records.contains(d["requestId"].as_str().unwrap()))
        .collect();
    assert!(
        false_ones.len() * 10 <= dets.len(),
        "{} of {} detections are on no attack's records: {:?}",
        false_ones.len(),
        dets.len(),
        false_ones.iter().take(3).collect::<Vec<_>>()
    );

    // Every detection explains itself.
    let types: BTreeSet<&str> = dets
        .iter()
        .map(|d| d["riskEventType"].as_str().unwrap())
        .collect();
    for ty in [
        "passwordSpray",
        "bruteForce",
        "mfaFatigue",
        "legacyAuthentication",
        "anomalousToken",
        "disabledAccountSignIn",
        "maliciousIPAddress",
    ] {
        assert!(types.contains(ty), "no {ty} among {types:?}");
    }
    for d in &dets {
        assert_eq!(d["source"], "gatehouse");
        assert!(["low", "medium", "high"].contains(&d["riskLevel"].as_str().unwrap()));
        let reason = info(d, "reason");
        assert!(
            reason.as_str().is_some_and(|r| r.len() > 20),
            "no reason: {d}"
        );
        assert!(info(d, "observed").is_object(), "no observed values: {d}");
        assert!(info(d, "baseline").is_object(), "no baseline: {d}");
    }
    // A run of bad passwords (the other brute-force detection is the right password after one).
    let brute = dets
        .iter()
        .find(|d| {
            d["riskEventType"] == "bruteForce" && info(d, "observed")["badPasswords"].is_u64()
        })
        .expect("a brute-force run");
    assert!(info(brute, "observed")["badPasswords"].as_u64().unwrap() >= 10);
    let sp = dets
        .iter()
        .find(|d| d["riskEventType"] == "suspiciousSignins")
        .expect("a workload identity detection");
    assert!(info(sp, "observed")["newKeyId"].as_bool().unwrap(), "{sp}");
    assert!(!sp["servicePrincipalId"].as_str().unwrap().is_empty());

    // `risk evaluate` agrees and holds the bar.
    let eval = gh.run(&[
        "risk".as_ref(),
        "evaluate".as_ref(),
        "--labels".as_ref(),
        sim.join("labels.jsonl").as_os_str(),
        "--require".as_ref(),
        "0.9".as_ref(),
    ]);
    eval.expect_code(0, "risk evaluate --require 0.9");
    assert!(eval.stdout.contains("credential_theft"), "{}", eval.stdout);

    // A second scan stores nothing twice.
    let stored = gh.count("riskDetections");
    assert_eq!(stored as usize, dets.len());
    let again = gh.run(&["risk", "scan"]);
    again.expect_code(0, "risk scan again");
    assert!(
        again.stdout.contains("0 new detections stored"),
        "{}",
        again.stdout
    );
    assert_eq!(gh.count("riskDetections"), stored);

    // The anonymiser list: bad lines are named and skipped, the good ones used.
    let spray_ip = dets
        .iter()
        .find(|d| d["riskEventType"] == "passwordSpray")
        .unwrap()["ipAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let list = gh.write(
        "tor.txt",
        format!("# exits\n{spray_ip}\nnot an address\n2001:db8::/32\n"),
    );
    let load = gh.run(&[
        "risk".as_ref(),
        "lists".as_ref(),
        "load".as_ref(),
        list.as_os_str(),
    ]);
    load.expect_code(2, "lists load with a bad line");
    assert!(load.stderr.contains(":3:"), "{}", load.stderr);
    assert!(load.stdout.contains("2 entries"), "{}", load.stdout);
    gh.run(&["risk", "scan"])
        .expect_code(0, "scan with the list");
    let anonymized: Vec<Value> = detections(&gh)
        .into_iter()
        .filter(|d| d["riskEventType"] == "anonymizedIPAddress")
        .collect();
    assert!(!anonymized.is_empty());
    assert!(anonymized
        .iter()
        .all(|d| d["ipAddress"] == spray_ip.as_str()));

    // Risky users: the fatigue victim is at high risk.
    let fatigue = labels
        .iter()
        .find(|l| l["scenario"] == "mfa_fatigue")
        .unwrap()["identity"]
        .as_str()
        .unwrap()
        .to_string();
    let users = gh.run(&["risk", "users", "--json", "--top", "100000"]);
    users.expect_code(0, "risk users");
    let users: Vec<Value> = users
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let victim = users
        .iter()
        .find(|u| u["userPrincipalName"] == fatigue.as_str())
        .unwrap_or_else(|| panic!("{fatigue} is not a risky user"));
    assert_eq!(victim["riskLevel"], "high");
    assert_eq!(victim["riskState"], "atRisk");
    let victim_id = victim["id"].as_str().unwrap().to_string();

    // The server: it primes from the store (nothing stored twice), serves Identity Protection,
    // and finds a pushed brute force within seconds.
    let server = Served::start(&gh, &[]);
    let reader = gh.token(&t, "security-reader");
    let admin = gh.token(&t, "security-admin");
    let ingest = gh.token(&t, "ingest");
    let reports = gh.token(&t, "reports-reader");

    let a = server.get(
        "/beta/identityProtection/riskDetections?$top=5",
        Some(&reports),
    );
    assert_eq!(a.status, 403, "{}", a.text());
    let a = server.get(
        &enc("/beta/identityProtection/riskDetections?$filter=riskEventType eq 'mfaFatigue'"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let page = a.json();
    let fatigue_dets = page["value"].as_array().unwrap();
    assert!(!fatigue_dets.is_empty());
    assert!(fatigue_dets
        .iter()
        .all(|d| d["userPrincipalName"] == fatigue.as_str()));
    let one = &fatigue_dets[0];
    let a = server.get(
        &format!(
            "/beta/identityProtection/riskDetections/{}",
            one["id"].as_str().unwrap()
        ),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["requestId"], one["requestId"]);
    let a = server.get(
        "/beta/identityProtection/riskDetections/nope",
        Some(&reader),
    );
    assert_eq!(a.status, 404, "{}", a.text());
    let a = server.get(
        "/beta/identityProtection/servicePrincipalRiskDetections",
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let sps = a.json()["value"].as_array().unwrap().clone();
    assert!(!sps.is_empty());
    assert!(sps
        .iter()
        .all(|d| d["riskEventType"] == "suspiciousSignins"));
    // Paging walks every user detection once.
    let mut seen = BTreeSet::new();
    let mut next = Some("/beta/identityProtection/riskDetections?$top=40".to_string());
    while let Some(path) = next.take() {
        let a = server.get(&path, Some(&reader));
        assert_eq!(a.status, 200, "{}", a.text());
        let v = a.json();
        for d in v["value"].as_array().unwrap() {
            assert!(
                seen.insert(d["id"].as_str().unwrap().to_string()),
                "twice: {d}"
            );
        }
        next = v["@odata.nextLink"]
            .as_str()
            .map(|l| l.strip_prefix(&server.url).unwrap().to_string());
    }
    let users_dets = dets
        .iter()
        .filter(|d| d["servicePrincipalId"].as_str().unwrap_or("").is_empty())
        .count()
        + anonymized.len();
    assert_eq!(seen.len(), users_dets);

    // Sign-ins carry the risk of the detections they triggered.
    let trigger = fatigue_dets
        .iter()
        .find(|d| d["riskLevel"] == "high")
        .unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let a = server.get(&format!("/beta/auditLogs/signIns/{trigger}"), Some(&reader));
    assert_eq!(a.status, 200, "{}", a.text());
    let s = a.json();
    assert_eq!(s["riskLevelDuringSignIn"], "high", "{s}");
    assert!(s["riskEventTypes_v2"]
        .as_array()
        .unwrap()
        .contains(&json!("mfaFatigue")));
    assert_eq!(s["riskState"], "atRisk");

    // ... and a $filter on them sees the same.
    let a = server.get(
        &enc("/beta/auditLogs/signIns?$filter=riskLevelDuringSignIn eq 'high'&$top=1000"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let high_sign_ins = a.json()["value"].as_array().unwrap().clone();
    assert!(high_sign_ins.iter().any(|s| s["id"] == trigger.as_str()));
    assert!(high_sign_ins
        .iter()
        .all(|s| s["riskLevelDuringSignIn"] == "high"));
    let a = server.get(
        &enc("/beta/auditLogs/signIns?$filter=riskEventTypes_v2/any(t: t eq 'mfaFatigue')"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let ids: BTreeSet<String> = a.json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let fatigue_interactive: BTreeSet<String> = fatigue_dets
        .iter()
        .map(|d| d["requestId"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&trigger), "{ids:?}");
    assert!(
        ids.is_subset(&fatigue_interactive),
        "{ids:?} {fatigue_interactive:?}"
    );

    // riskyUsers: filtered, one by id, its history.
    let a = server.get(
        &enc("/beta/identityProtection/riskyUsers?$filter=riskLevel eq 'high' and riskState eq 'atRisk'"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let high = a.json()["value"].as_array().unwrap().clone();
    assert!(high.iter().any(|u| u["id"] == victim_id.as_str()));
    assert!(high.iter().all(|u| u["riskLevel"] == "high"));
    let a = server.get(
        &enc("/beta/identityProtection/riskyUsers?$filter=riskLevel eq 'high' or"),
        Some(&reader),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let a = server.get(
        &enc("/beta/identityProtection/riskDetections?$filter=riskLevel eq"),
        Some(&reader),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let a = server.get(
        &format!("/v9/identityProtection/riskyUsers/{victim_id}"),
        Some(&reader),
    );
    assert_eq!(a.status, 404, "{}", a.text());

    // Verdicts: security-admin only, recorded in riskyUsers' history and in the audit log.
    let body = json!({"userIds": [victim_id]}).to_string();
    let a = server.post(
        "/beta/identityProtection/riskyUsers/dismiss",
        Some(&reader),
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 403, "{}", a.text());
    let a = server.post(
        "/beta/identityProtection/riskyUsers/dismiss",
        Some(&admin),
        &[("content-type", "application/json")],
        b"{\"userIds\": 5}",
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let a = server.post(
        "/beta/identityProtection/riskyUsers/dismiss",
        Some(&admin),
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let a = server.get(
        &format!("/beta/identityProtection/riskyUsers/{victim_id}"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["riskState"], "dismissed");
    assert_eq!(a.json()["riskLevel"], "none");
    let a = server.get(
        &format!("/beta/identityProtection/riskyUsers/{victim_id}/history"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let history = a.json()["value"].as_array().unwrap().clone();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["riskState"], "dismissed");
    assert_eq!(history[1]["riskState"], "atRisk");
    let a = server.get(
        &enc("/beta/identityProtection/riskDetections?$filter=riskEventType eq 'mfaFatigue'"),
        Some(&reader),
    );
    assert!(a.json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["riskState"] == "dismissed"));
    let a = server.get(&format!("/beta/auditLogs/signIns/{trigger}"), Some(&reader));
    assert_eq!(a.json()["riskState"], "dismissed");
    let a = server.get(
        &enc("/beta/auditLogs/signIns?$filter=riskState eq 'dismissed'&$top=1000"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == trigger.as_str()));
    let a = server.get(
        &enc("/beta/auditLogs/directoryAudits?$filter=activityDisplayName eq 'DismissUser'"),
        Some(&reports),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let audits = a.json()["value"].as_array().unwrap().clone();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0]["category"], "IdentityProtection");
    assert_eq!(audits[0]["targetResources"][0]["id"], victim_id.as_str());

    // A brute force pushed now is a detection within 10 seconds.
    let user = gh.sql(
        "SELECT userId, userPrincipalName, userDisplayName FROM signins \
         WHERE array_has(signInEventTypes, 'interactiveUser') AND status.errorCode = 0 \
         ORDER BY userPrincipalName LIMIT 1",
    );
    let (uid, upn) = (
        user[0]["userId"].as_str().unwrap().to_string(),
        user[0]["userPrincipalName"].as_str().unwrap().to_string(),
    );
    let now = chrono::Utc::now();
    let records: Vec<Value> = (0..14)
        .map(|i| {
            json!({
                "id": format!("b7e1f7a4-0000-4000-8000-{:012x}", i),
                "createdDateTime": (now - chrono::Duration::seconds(60 - i * 3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "userId": uid, "userPrincipalName": upn, "userDisplayName": "Pushed",
                "appId": "4765445b-32c6-49b0-83e6-1d93765276ca", "appDisplayName": "OfficeHome",
                "ipAddress": "198.51.100.23", "clientAppUsed": "Browser", "isInteractive": true,
                "signInEventTypes": ["interactiveUser"],
                "status": {"errorCode": if i < 12 { 50126 } else { 50053 }, "failureReason": "Invalid username or password."},
                "location": {"city": "Helsinki", "countryOrRegion": "FI"},
            })
        })
        .collect();
    let pushed = Instant::now();
    server.push(&ingest, &records);
    let found = loop {
        let a = server.get(
            &enc("/beta/identityProtection/riskDetections?$filter=riskEventType eq 'bruteForce' and ipAddress eq '198.51.100.23'"),
            Some(&reader),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let v = a.json()["value"].as_array().unwrap().clone();
        if !v.is_empty() {
            break v;
        }
        assert!(
            pushed.elapsed() < Duration::from_secs(10),
            "no detection 10 s after the push:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(found[0]["userId"], uid.as_str());
    let latency = pushed.elapsed();
    eprintln!("push to queryable detection: {latency:?}");
    let a = server.get(
        &format!("/beta/identityProtection/riskyUsers/{uid}"),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["riskState"], "atRisk");
    let metrics = server.get("/metrics", Some(&reader)).text();
    assert!(
        metrics.contains("gatehouse_risk_detections_total"),
        "{metrics}"
    );
    server.stop();
}

#[test]
fn an_attack_free_month_with_travel_and_new_phones_raises_almost_no_alarms() {
    let gh = Gh::new();
    let sim = gh.simulate(&[
        "--users",
        "120",
        "--days",
        "30",
        "--seed",
        "5",
        "--attacks",
        "vpn_travel,new_phone",
        "--into-store",
    ]);
    let labels = labels(&sim);
    assert_eq!(labels.len(), 2, "{labels:?}");
    gh.run(&["risk", "scan"]).expect_code(0, "risk scan");
    let dets = detections(&gh);
    let (_, benign_hit) = score(&labels, &dets);
    assert!(benign_hit.is_empty(), "{benign_hit:?}");
    let users = gh.sql_int("SELECT COUNT(DISTINCT userId) FROM signins") as f64;
    let rate = dets.len() as f64 * 1000.0 / (users * 30.0);
    let mut by_type: HashMap<String, usize> = HashMap::new();
    for d in &dets {
        *by_type
            .entry(d["riskEventType"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        rate <= 1.0,
        "{rate} false detections per 1,000 users per day: {by_type:?}"
    );
    let eval = gh.run(&[
        "risk".as_ref(),
        "evaluate".as_ref(),
        "--labels".as_ref(),
        sim.join("labels.jsonl").as_os_str(),
    ]);
    eval.expect_code(0, "risk evaluate");
    assert!(eval.stdout.contains("vpn_travel"), "{}", eval.stdout);
    assert!(eval.stdout.contains("0 flagged"), "{}", eval.stdout);
}
