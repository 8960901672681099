//! Microsoft Graph's log endpoints on `gatehouse serve`, over real HTTP on loopback: filters
//! checked against an independent evaluation of the exported records, keyset paging over one
//! snapshot while records arrive and compaction runs, v1.0 and beta shapes, errors in Graph's
//! envelope, tenants and roles on every endpoint, and hostile query strings.

mod common;

use std::time::{Duration, Instant};

use common::{guid, signin, ts, Gh, Served};
use serde_json::{Map, Value};

const TENANT: &str = "contoso";

/// A simulated tenant (every record type) stored under `TENANT`.
fn simulated(users: &str, days: &str, seed: &str) -> Gh {
    let gh = Gh::new();
    // A Monday: the simulated tenant has audits and provisioning on working days.
    let sim = gh.simulate(&[
        "--users",
        users,
        "--days",
        days,
        "--seed",
        seed,
        "--start",
        "2026-10-05",
    ]);
    gh.ingest(&["--tenant".as_ref(), TENANT.as_ref(), sim.as_os_str()])
        .expect_code(0, "ingest the simulated tenant");
    gh
}

/// `%`-encodes a query value the way the Graph SDK does (space as `%20`).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Follows `@odata.nextLink` from `first` to the end; returns every record and the pages seen.
fn walk(server: &Served, token: &str, first: &str) -> (Vec<Map<String, Value>>, usize) {
    let mut records = Vec::new();
    let mut path = first.to_string();
    let mut pages = 0;
    loop {
        let a = server.get(&path, Some(token));
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        let body = a.json();
        pages += 1;
        for r in body["value"].as_array().expect("value") {
            records.push(r.as_object().unwrap().clone());
        }
        match body.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(
                    next.starts_with(&server.url),
                    "absolute, on this server: {next}"
                );
                path = next[server.url.len()..].to_string();
            }
            None => break,
        }
        assert!(pages < 10_000, "paging does not end");
    }
    (records, pages)
}

/// The value at an OData path (`status/errorCode`) of a JSON record.
fn at<'a>(r: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('/');
    let mut v = r.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    (!v.is_null()).then_some(v)
}

fn s<'a>(r: &'a Map<String, Value>, path: &str) -> &'a str {
    at(r, path).and_then(Value::as_str).unwrap_or("")
}

fn strings<'a>(r: &'a Map<String, Value>, path: &str) -> Vec<&'a str> {
    at(r, path)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn micros(r: &Map<String, Value>, path: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s(r, path))
        .unwrap_or_else(|e| panic!("{path} of {r:?}: {e}"))
        .timestamp_micros()
}

fn interactive(r: &Map<String, Value>) -> bool {
    strings(r, "signInEventTypes").contains(&"interactiveUser")
}

fn ids(records: &[Map<String, Value>]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| s(r, "id").to_string()).collect();
    v.sort();
    v
}

type Predicate = Box<dyn Fn(&Map<String, Value>) -> bool>;

#[test]
fn filters_answer_what_an_independent_evaluation_of_the_records_says() {
    let gh = simulated("60", "3", "11");
    let signins = gh.export("signins");
    let audits = gh.export("audits");
    let provisioning = gh.export("provisioning");
    assert!(signins.len() > 2000 && !audits.is_empty() && !provisioning.is_empty());
    let reader = gh.token(TENANT, "security-reader");
    // The filters are checked against the records as stored: the risk engine, whose verdicts a
    // filter on risk properties sees too (tests/risk.rs), stays off here.
    std::fs::write(gh.data.join("gatehouse.toml"), "[risk]\nenabled = false\n").unwrap();
    let server = Served::start(&gh, &[]);

    // Pick constants that occur in the data, so that every filter selects something.
    let sample = signins.iter().find(|r| interactive(r)).unwrap();
    let upn = s(sample, "userPrincipalName").to_string();
    let app = s(sample, "appDisplayName").to_string();
    let prefix: String = app.chars().take(4).collect();
    let browser = s(sample, "deviceDetail/browser").to_string();
    let mid = {
        let mut t: Vec<i64> = signins
            .iter()
            .map(|r| micros(r, "createdDateTime"))
            .collect();
        t.sort_unstable();
        t[t.len() / 2]
    };
    let mid_text = chrono::DateTime::from_timestamp_micros(mid)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let day_text = &mid_text[..10];
    let day_start = chrono::NaiveDate::parse_from_str(day_text, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let audit = &audits[audits.len() / 2];
    let category = s(audit, "category").to_string();
    let target_type = audit["targetResources"][0]["type"]
        .as_str()
        .unwrap_or("User")
        .to_string();

    let signin_cases: Vec<(String, Predicate)> = vec![
        ("status/errorCode eq 0".into(), Box::new(|r| interactive(r) && at(r, "status/errorCode").and_then(Value::as_i64) == Some(0))),
        ("status/errorCode ne 0".into(), Box::new(|r| interactive(r) && at(r, "status/errorCode").and_then(Value::as_i64).is_some_and(|c| c != 0))),
        (format!("userPrincipalName eq '{upn}'"), { let upn = upn.clone(); Box::new(move |r| interactive(r) && s(r, "userPrincipalName") == upn) }),
        (format!("startsWith(appDisplayName, '{prefix}')"), { let p = prefix.clone(); Box::new(move |r| interactive(r) && s(r, "appDisplayName").starts_with(&p)) }),
        (format!("deviceDetail/browser eq '{browser}' and not(status/errorCode eq 0)"), { let b = browser.clone(); Box::new(move |r| interactive(r) && s(r, "deviceDetail/browser") == b && at(r, "status/errorCode").and_then(Value::as_i64) != Some(0)) }),
        (format!("createdDateTime ge {mid_text}"), Box::new(move |r| interactive(r) && micros(r, "createdDateTime") >= mid)),
        (format!("createdDateTime lt {mid_text} or userPrincipalName eq '{upn}'"), { let upn = upn.clone(); Box::new(move |r| interactive(r) && (micros(r, "createdDateTime") < mid || s(r, "userPrincipalName") == upn)) }),
        (format!("createdDateTime ge {day_text}"), Box::new(move |r| interactive(r) && micros(r, "createdDateTime") >= day_start)),
        ("signInEventTypes/any(t: t eq 'servicePrincipal')".into(), Box::new(|r| strings(r, "signInEventTypes").contains(&"servicePrincipal"))),
        ("signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')".into(), Box::new(|r| strings(r, "signInEventTypes").iter().any(|t| *t == "interactiveUser" || *t == "nonInteractiveUser"))),
        ("signInEventTypes/any(t: t ne 'interactiveUser')".into(), Box::new(|r| strings(r, "signInEventTypes").iter().any(|t| *t != "interactiveUser"))),
        ("signInEventTypes/any(t: t eq 'managedIdentity') and startswith(resourceDisplayName, 'Azure')".into(), Box::new(|r| strings(r, "signInEventTypes").contains(&"managedIdentity") && s(r, "resourceDisplayName").starts_with("Azure"))),
        ("riskEventTypes_v2/any(x: startswith(x, 'unfamiliar') or x eq 'anonymizedIPAddress')".into(), Box::new(|r| interactive(r) && strings(r, "riskEventTypes_v2").iter().any(|x| x.starts_with("unfamiliar") || *x == "anonymizedIPAddress"))),
        ("appliedConditionalAccessPolicies/any(p: p/result eq 'failure')".into(), Box::new(|r| interactive(r) && at(r, "appliedConditionalAccessPolicies").and_then(Value::as_array).is_some_and(|ps| ps.iter().any(|p| p["result"] == "failure")))),
        ("appliedConditionalAccessPolicies/any()".into(), Box::new(|r| interactive(r) && at(r, "appliedConditionalAccessPolicies").and_then(Value::as_array).is_some_and(|ps| !ps.is_empty()))),
        ("location/countryOrRegion in ('US', 'GB', 'DE')".into(), Box::new(|r| interactive(r) && ["US", "GB", "DE"].contains(&s(r, "location/countryOrRegion")))),
        ("contains(userPrincipalName, 'a') and endswith(userPrincipalName, '.com')".into(), Box::new(|r| interactive(r) && s(r, "userPrincipalName").contains('a') && s(r, "userPrincipalName").ends_with(".com"))),
        ("conditionalAccessStatus eq 'failure' or riskLevelDuringSignIn eq 'high'".into(), Box::new(|r| interactive(r) && (s(r, "conditionalAccessStatus") == "failure" || s(r, "riskLevelDuringSignIn") == "high"))),
        ("isInteractive eq false".into(), Box::new(|r| interactive(r) && at(r, "isInteractive") == Some(&Value::Bool(false)))),
        ("location/city eq null".into(), Box::new(|r| interactive(r) && at(r, "location/city").is_none())),
    ];
    let mut nonempty = 0;
    for (filter, expect) in &signin_cases {
        let want: Vec<_> = signins.iter().filter(|r| expect(r)).cloned().collect();
        let path = format!(
            "/beta/auditLogs/signIns?$filter={}&$top=400&$count=true",
            enc(filter)
        );
        let (got, pages) = walk(&server, &reader, &path);
        assert_eq!(
            ids(&got),
            ids(&want),
            "{filter}: {} records, expected {}",
            got.len(),
            want.len()
        );
        assert_eq!(pages, want.len().div_ceil(400).max(1), "{filter}");
        let first = server.get(&path, Some(&reader)).json();
        assert_eq!(first["@odata.count"], want.len(), "{filter}");
        // Newest first, by (time, id).
        let keys: Vec<(i64, String)> = got
            .iter()
            .map(|r| (micros(r, "createdDateTime"), s(r, "id").to_string()))
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] >= w[1]),
            "{filter}: not newest first"
        );
        nonempty += usize::from(!want.is_empty());
    }
    assert!(
        nonempty >= signin_cases.len() - 4,
        "most filters select something ({nonempty})"
    );

    let audit_cases: Vec<(String, Predicate)> = vec![
        (format!("category eq '{category}'"), {
            let c = category.clone();
            Box::new(move |r| s(r, "category") == c)
        }),
        (
            format!("targetResources/any(t: t/type eq '{target_type}')"),
            {
                let t = target_type.clone();
                Box::new(move |r| {
                    r["targetResources"]
                        .as_array()
                        .is_some_and(|ts| ts.iter().any(|x| x["type"] == t.as_str()))
                })
            },
        ),
        (
            "initiatedBy/user/userPrincipalName ne null and result eq 'success'".into(),
            Box::new(|r| {
                at(r, "initiatedBy/user/userPrincipalName").is_some() && s(r, "result") == "success"
            }),
        ),
        (
            "startswith(activityDisplayName, 'Add')".into(),
            Box::new(|r| s(r, "activityDisplayName").starts_with("Add")),
        ),
    ];
    for (filter, expect) in &audit_cases {
        let want: Vec<_> = audits.iter().filter(|r| expect(r)).cloned().collect();
        let (got, _) = walk(
            &server,
            &reader,
            &format!(
                "/v1.0/auditLogs/directoryAudits?$filter={}&$top=50",
                enc(filter)
            ),
        );
        assert_eq!(ids(&got), ids(&want), "{filter}");
        assert!(!want.is_empty(), "{filter} selects something");
    }
    let prov_cases: Vec<(String, Predicate)> = vec![
        (
            "provisioningStatusInfo/status eq 'failure'".into(),
            Box::new(|r| s(r, "provisioningStatusInfo/status") == "failure"),
        ),
        (
            "provisioningAction eq 'create' or provisioningAction eq 'update'".into(),
            Box::new(|r| ["create", "update"].contains(&s(r, "provisioningAction"))),
        ),
    ];
    for (filter, expect) in &prov_cases {
        let want: Vec<_> = provisioning.iter().filter(|r| expect(r)).cloned().collect();
        let (got, _) = walk(
            &server,
            &reader,
            &format!(
                "/beta/auditLogs/provisioning?$filter={}&$orderby=activityDateTime%20asc&$top=25",
                enc(filter)
            ),
        );
        assert_eq!(ids(&got), ids(&want), "{filter}");
        let keys: Vec<i64> = got.iter().map(|r| micros(r, "activityDateTime")).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{filter}: asc");
    }

    // Without a filter: interactive sign-ins only (Graph's default population), everything
    // else is in the log all the same.
    let (all, _) = walk(&server, &reader, "/beta/auditLogs/signIns");
    assert_eq!(
        ids(&all),
        ids(&signins
            .iter()
            .filter(|r| interactive(r))
            .cloned()
            .collect::<Vec<_>>())
    );
    assert!(all.len() < signins.len());
}

#[test]
fn a_walk_reads_one_snapshot_while_records_arrive_and_compaction_runs() {
    let gh = Gh::new();
    let ingest = gh.token(TENANT, "ingest");
    let reader = gh.token(TENANT, "reports-reader");
    let server = Served::start(&gh, &[]);
    let push = |records: &[Value]| server.push(&ingest, records);
    // Three days, pushed in several bodies (several files per day for compaction to merge),
    // and some records sharing a time (the order breaks ties by id).
    let base = 1_767_225_600; // 2026-01-01
    let mut before = Vec::new();
    for body in 0..6u32 {
        let records: Vec<Value> = (0..40u64)
            .map(|i| {
                signin(
                    &guid(body, i),
                    &ts(base + (i as i64 % 20) * 3_600 * 3 + i64::from(body)),
                )
            })
            .collect();
        push(&records);
        before.extend(records);
    }
    let first = "/v1.0/auditLogs/signIns?$top=17";
    let a = server.get(first, Some(&reader));
    assert_eq!(a.status, 200, "{}", a.text());
    let mut body = a.json();
    let mut got: Vec<Map<String, Value>> = Vec::new();
    let mut round = 0u32;
    loop {
        got.extend(
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_object().unwrap().clone()),
        );
        let Some(next) = body
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            break;
        };
        // Meanwhile: new records, older and newer than the walk's position, and a compaction.
        round += 1;
        let newer: Vec<Value> = (0..5u64)
            .map(|i| {
                signin(
                    &guid(1000 + round, i),
                    &ts(base + 40_000 + i as i64 * 7_000),
                )
            })
            .collect();
        push(&newer);
        if round.is_multiple_of(3) {
            gh.run(&["compact"])
                .expect_code(0, "compact during the walk");
        }
        let a = server.get(&next[server.url.len()..], Some(&reader));
        assert_eq!(a.status, 200, "{}", a.text());
        body = a.json();
    }
    assert!(round >= 10, "the walk had {round} pages");
    let mut seen = std::collections::HashSet::new();
    for r in &got {
        assert!(
            seen.insert(s(r, "id").to_string()),
            "{} returned twice",
            s(r, "id")
        );
    }
    let want: Vec<String> = {
        let mut v: Vec<String> = before
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(&got),
        want,
        "exactly the records that existed when the walk began"
    );
    assert!(
        gh.operations(TENANT, "signins")
            .iter()
            .any(|o| o == "OPTIMIZE"),
        "compaction ran"
    );
    // A new walk sees the new records.
    let (again, _) = walk(&server, &reader, "/v1.0/auditLogs/signIns");
    assert_eq!(again.len(), want.len() + 5 * round as usize);
}

#[test]
fn v1_shows_v1_properties_beta_all_and_a_record_by_id() {
    let gh = simulated("20", "1", "5");
    let reader = gh.token(TENANT, "global-reader");
    let server = Served::start(&gh, &[]);
    let v1 = server
        .get("/v1.0/auditLogs/signIns?$top=5", Some(&reader))
        .json();
    let beta = server
        .get("/beta/auditLogs/signIns?$top=5", Some(&reader))
        .json();
    assert!(v1["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#auditLogs/signIns"));
    assert!(beta["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/beta/$metadata#auditLogs/signIns"));
    let (v1r, betar) = (
        v1["value"][0].as_object().unwrap(),
        beta["value"][0].as_object().unwrap(),
    );
    assert_eq!(v1r["id"], betar["id"], "the same first record");
    assert!(v1r.contains_key("status") && v1r.contains_key("deviceDetail"));
    for beta_only in [
        "signInEventTypes",
        "authenticationDetails",
        "userType",
        "_tenantId",
        "_contentHash",
    ] {
        assert!(!v1r.contains_key(beta_only), "v1.0 has no {beta_only}");
    }
    assert!(betar.contains_key("signInEventTypes"));
    assert!(
        !betar.keys().any(|k| k.starts_with('_')),
        "system columns are not Graph properties"
    );
    for (k, v) in v1r {
        assert_eq!(betar.get(k), Some(v), "v1.0's {k} is beta's");
    }
    // v1.0 has no signInEventTypes to filter on.
    let a = server.get(
        "/v1.0/auditLogs/signIns?$filter=signInEventTypes/any(t:t%20eq%20'servicePrincipal')",
        Some(&reader),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("signInEventTypes"));

    // $select.
    let sel = server
        .get(
            "/beta/auditLogs/signIns?$top=3&$select=id,createdDateTime,status",
            Some(&reader),
        )
        .json();
    for r in sel["value"].as_array().unwrap() {
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
    }

    // By id: the record the list gave, under its context.
    let id = betar["id"].as_str().unwrap();
    let one = server.get(&format!("/beta/auditLogs/signIns/{id}"), Some(&reader));
    assert_eq!(one.status, 200, "{}", one.text());
    let mut one = one.json().as_object().unwrap().clone();
    assert!(one
        .remove("@odata.context")
        .unwrap()
        .as_str()
        .unwrap()
        .ends_with("#auditLogs/signIns/$entity"));
    assert_eq!(&one, betar);
    // Every record of a page reads as it does by id, in both versions: pages are written straight
    // from the columns, a record by id through the general read-back.
    for (version, page) in [("v1.0", &v1), ("beta", &beta)] {
        for r in page["value"].as_array().unwrap() {
            let id = r["id"].as_str().unwrap();
            let mut one = server
                .get(&format!("/{version}/auditLogs/signIns/{id}"), Some(&reader))
                .json()
                .as_object()
                .unwrap()
                .clone();
            one.remove("@odata.context");
            assert_eq!(&Value::Object(one), r, "{version} record {id}");
        }
    }
    // By id with $select: those properties only (absent ones null), checked against the version.
    let sel = server.get(
        &format!("/beta/auditLogs/signIns/{id}?$select=id,status,nosuchinrecord"),
        Some(&reader),
    );
    assert_eq!(sel.status, 400, "{}", sel.text());
    assert!(sel.text().contains("nosuchinrecord"));
    let sel = server.get(
        &format!("/v1.0/auditLogs/signIns/{id}?$select=id,status"),
        Some(&reader),
    );
    assert_eq!(sel.status, 200, "{}", sel.text());
    let sel = sel.json();
    let keys: Vec<&String> = sel.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["@odata.context", "id", "status"]);
    assert_eq!(sel["status"], betar["status"]);
    let a = server.get(
        &format!("/v1.0/auditLogs/signIns/{id}?$select=signInEventTypes"),
        Some(&reader),
    );
    assert_eq!(a.status, 400, "v1.0 has no signInEventTypes: {}", a.text());
    let audit = server
        .get("/v1.0/auditLogs/directoryAudits?$top=1", Some(&reader))
        .json();
    let audit_id = audit["value"][0]["id"].as_str().unwrap();
    let a = server.get(
        &format!("/v1.0/auditLogs/directoryAudits/{}", enc(audit_id)),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["id"], audit_id);
    let a = server.get(
        "/v1.0/auditLogs/signIns/00000000-0000-0000-0000-000000000000",
        Some(&reader),
    );
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "Request_ResourceNotFound");
}

#[test]
fn tenants_roles_and_errors_on_every_graph_endpoint() {
    let gh = simulated("10", "1", "3");
    let ingest_other = gh.token("fabrikam", "ingest");
    let reader = gh.token(TENANT, "reports-reader");
    let other = gh.token("fabrikam", "security-reader");
    let pusher = gh.token(TENANT, "ingest");
    let server = Served::start(&gh, &[]);
    let other_records: Vec<Value> = (0..3)
        .map(|i| signin(&guid(77, i), &ts(1_767_225_600 + i as i64)))
        .collect();
    server.push(&ingest_other, &other_records);
    let ours = server
        .get("/beta/auditLogs/signIns?$top=1", Some(&reader))
        .json();
    let our_id = ours["value"][0]["id"].as_str().unwrap().to_string();
    let foreign_id = other_records[0]["id"].as_str().unwrap();

    let lists = [
        "/v1.0/auditLogs/signIns",
        "/beta/auditLogs/directoryAudits",
        "/v1.0/auditLogs/provisioning",
    ];
    for path in lists {
        for (token, status) in [
            (None, 401),
            (Some("gh_nonsense"), 401),
            (Some(pusher.as_str()), 403),
        ] {
            let a = server.get(path, token);
            assert_eq!(a.status, status, "{path} {token:?}: {}", a.text());
            let e = a.json();
            assert!(
                e["error"]["code"].is_string()
                    && e["error"]["message"].is_string()
                    && e["error"]["innerError"]["date"].is_string(),
                "{e}"
            );
        }
        assert_eq!(server.get(path, Some(&reader)).status, 200, "{path}");
    }
    // Another tenant's records do not exist for this token, even by id.
    let a = server.get(
        &format!("/beta/auditLogs/signIns/{foreign_id}"),
        Some(&reader),
    );
    assert_eq!(a.status, 404, "{}", a.text());
    let a = server.get(&format!("/beta/auditLogs/signIns/{our_id}"), Some(&other));
    assert_eq!(a.status, 404, "{}", a.text());
    let theirs = server
        .get(
            "/beta/auditLogs/signIns?$filter=signInEventTypes/any(t:t%20ne%20'x')",
            Some(&other),
        )
        .json();
    assert_eq!(
        ids(&theirs["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect::<Vec<_>>()),
        {
            let mut v: Vec<String> = other_records
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            v.sort();
            v
        }
    );

    // Bad requests: 400 in Graph's envelope, the message says where.
    let bad = [
        ("$filter=status/errorCode%20eq", "position"),
        ("$filter=nosuch%20eq%201", "nosuch"),
        ("$filter=status/errorCode%20eq%20'50126'", "whole number"),
        (
            "$filter=createdDateTime%20ge%20'2024-01-01'",
            "date and time",
        ),
        (
            "$filter=createdDateTime%20ge%202024-13-01T00:00:00Z",
            "position",
        ),
        ("$filter=status%20eq%201", "object"),
        ("$filter=riskEventTypes_v2%20eq%20'x'", "collection"),
        ("$filter=deviceDetail/nosuch%20eq%20'x'", "nosuch"),
        ("$top=0", "$top"),
        ("$top=1001", "1000"),
        ("$top=abc", "$top"),
        ("$skip=10", "$skip"),
        ("$orderby=userId", "$orderby"),
        ("$expand=x", "$expand"),
        ("$select=nosuch", "nosuch"),
        ("$skiptoken=garbage", "skiptoken"),
        ("$filter=a%20eq%201&$filter=b%20eq%202", "more than once"),
        ("$filter=%ZZ", "escape"),
    ];
    for (query, says) in bad {
        let a = server.get(&format!("/beta/auditLogs/signIns?{query}"), Some(&reader));
        assert_eq!(a.status, 400, "{query}: {}", a.text());
        let e = a.json();
        assert_eq!(e["error"]["code"], "BadRequest", "{query}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
    // A skiptoken is good only for the query that made it.
    let page = server
        .get("/beta/auditLogs/signIns?$top=2", Some(&reader))
        .json();
    let next = page["@odata.nextLink"].as_str().unwrap();
    let token = next.split("$skiptoken=").nth(1).unwrap();
    let a = server.get(
        &format!("/beta/auditLogs/signIns?$top=3&$skiptoken={token}"),
        Some(&reader),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("another query"));
    // Larger pages on request (a Gatehouse extension).
    let big = server.get("/beta/auditLogs/signIns?$top=1", Some(&reader));
    assert_eq!(big.status, 200);
    let every = "$filter=signInEventTypes/any()";
    let all = server
        .get(
            &format!("/beta/auditLogs/signIns?{every}&$count=true&$top=1"),
            Some(&reader),
        )
        .json()["@odata.count"]
        .as_u64()
        .unwrap();
    assert!(all > 1000, "enough sign-ins for a large page: {all}");
    let a = server.get_with(
        &format!("/beta/auditLogs/signIns?{every}&$top=5000"),
        Some(&reader),
        &[("Prefer", "odata.maxpagesize=5000")],
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.json()["value"].as_array().unwrap().len() as u64,
        all.min(5000)
    );
    let a = server.get_with(
        &format!("/beta/auditLogs/signIns?{every}"),
        Some(&reader),
        &[("Prefer", "odata.maxpagesize=1200")],
    );
    assert_eq!(
        a.json()["value"].as_array().unwrap().len() as u64,
        all.min(1200)
    );
    let a = server.get_with(
        "/beta/auditLogs/signIns",
        Some(&reader),
        &[("Prefer", "odata.maxpagesize=100001")],
    );
    assert_eq!(a.status, 400);
    // Unknown collections and versions are unknown paths.
    for path in [
        "/v2.0/auditLogs/signIns",
        "/beta/auditLogs/riskyUsers",
        "/beta/auditLogs/signIns/x/y",
    ] {
        assert_eq!(server.get(path, Some(&reader)).status, 404, "{path}");
    }
}

#[test]
fn hostile_query_strings_get_a_400_never_a_500_or_a_hang() {
    let gh = simulated("5", "1", "2");
    let reader = gh.token(TENANT, "security-admin");
    let server = Served::start(&gh, &[]);
    // Each within what an HTTP client sends (a URI under 64 KiB), beyond the parser's limits.
    let deep = format!("{}a eq 1{}", "(".repeat(5_000), ")".repeat(5_000));
    let nots = format!("{}a eq 1", "not ".repeat(5_000));
    let huge = format!("userId eq '{}'", "x".repeat(20_000));
    let many_or = (0..1_500)
        .map(|i| format!("userId eq '{i}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    let many_in = format!(
        "userId in ({})",
        (0..2_000)
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let lambdas = format!(
        "{}t eq 'x'{}",
        "signInEventTypes/any(t: ".repeat(100),
        ")".repeat(100)
    );
    let cases: Vec<String> = vec![
        deep,
        nots,
        huge,
        many_or,
        many_in,
        lambdas,
        "userId eq 'x'; DROP TABLE signins; --'".into(),
        "userId eq 'x'' or ''1''=''1'".into(),
        "userId eq \"x\"".into(),
        "userId eq 1e999999".into(),
        "userId eq 99999999999999999999999".into(),
        "createdDateTime ge 9999-12-31T23:59:59Z".into(),
        "createdDateTime ge 0001-01-01T00:00:00Z".into(),
        "\u{0}\u{1}\u{7f}".into(),
        "userId eq 'é'".into(),
        "signInEventTypes/any(t: t/x/y eq 1)".into(),
        "signInEventTypes/all(t: userId eq 'x')".into(),
        "status/errorCode/any(t: t eq 1)".into(),
        "startswith(status/errorCode, 'x')".into(),
        "length(userId) gt 5".into(),
    ];
    for filter in &cases {
        let started = Instant::now();
        let a = server.get(
            &format!("/beta/auditLogs/signIns?$filter={}", enc(filter)),
            Some(&reader),
        );
        let took = started.elapsed();
        assert!(
            a.status == 400 || a.status == 200,
            "{}: {} {}",
            common::clip(filter),
            a.status,
            a.text()
        );
        assert!(
            took < Duration::from_secs(10),
            "{}: {took:?}",
            common::clip(filter)
        );
        let e = a.json();
        if a.status == 400 {
            assert_eq!(e["error"]["code"], "BadRequest");
        } else {
            assert!(e["value"].is_array());
        }
    }
    // A query string longer than clients send (1 MiB), over a raw connection.
    let status = raw_get(
        &server.url,
        &format!("/beta/auditLogs/signIns?$filter={}", "(".repeat(1 << 20)),
        &reader,
    );
    assert!((400..500).contains(&status), "{status}");
    // And the server is still well.
    assert_eq!(
        server
            .get("/beta/auditLogs/signIns?$top=1", Some(&reader))
            .status,
        200
    );
}

/// The status of a GET written by hand on a new connection (for requests no client would send).
fn raw_get(url: &str, path: &str, token: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    // The server may answer (and close) before it has read everything.
    let _ = tcp.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {}", common::clip(&text)))
}

#[test]
fn exports_stream_every_matching_record_in_four_formats_from_one_snapshot() {
    let py = common::python();
    let gh = simulated("30", "2", "9");
    let signins = gh.export("signins");
    let reader = gh.token(TENANT, "security-reader");
    let pusher = gh.token(TENANT, "ingest");
    let server = Served::start(&gh, &[]);
    let all_ids = ids(&signins);
    let failed: Vec<Map<String, Value>> = signins
        .iter()
        .filter(|r| {
            at(r, "status/errorCode")
                .and_then(Value::as_i64)
                .is_some_and(|c| c != 0)
        })
        .cloned()
        .collect();

    // NDJSON: every kind of sign-in (no default population), newest first.
    let a = server.get("/gatehouse/export/signIns?format=ndjson", Some(&reader));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.content_type, "application/x-ndjson");
    let rows: Vec<Map<String, Value>> = a
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap()
                .as_object()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(ids(&rows), all_ids);
    let days: Vec<i64> = rows
        .iter()
        .map(|r| micros(r, "createdDateTime").div_euclid(86_400_000_000))
        .collect();
    assert!(days.windows(2).all(|w| w[0] >= w[1]), "newest day first");
    assert!(days.first() > days.last(), "two days");
    assert_eq!(
        rows.iter().find(|r| s(r, "id") == s(&signins[0], "id")),
        Some(&signins[0]),
        "the record as gatehouse export gives it"
    );

    // A JSON array, filtered, oldest first.
    let q = format!(
        "$filter={}&$orderby=createdDateTime%20asc&format=json",
        enc("status/errorCode ne 0")
    );
    let a = server.get(&format!("/gatehouse/export/signIns?{q}"), Some(&reader));
    assert_eq!(a.status, 200, "{}", a.text());
    let rows: Vec<Map<String, Value>> = a
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    assert_eq!(ids(&rows), ids(&failed));
    let days: Vec<i64> = rows
        .iter()
        .map(|r| micros(r, "createdDateTime").div_euclid(86_400_000_000))
        .collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "oldest day first");

    // CSV with the admin center's columns; the CLI writes the same bytes.
    let a = server.get(
        &format!(
            "/gatehouse/export/signIns?format=csv&$filter={}",
            enc("status/errorCode ne 0")
        ),
        Some(&reader),
    );
    assert_eq!(a.status, 200);
    let mut csv = ::csv::ReaderBuilder::new().from_reader(a.body.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header.len(), 57);
    assert_eq!(
        (header[0].as_str(), header[1].as_str(), header[27].as_str()),
        ("Date (UTC)", "Request ID", "Status")
    );
    let records: Vec<::csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let mut csv_ids: Vec<String> = records.iter().map(|r| r[1].to_string()).collect();
    csv_ids.sort();
    assert_eq!(csv_ids, ids(&failed));
    assert!(records
        .iter()
        .all(|r| &r[27] == "Failure" || &r[27] == "Interrupted"));
    let cli = gh.run(&[
        "export",
        "--log",
        "signins",
        "--tenant",
        TENANT,
        "--format",
        "csv",
        "--newest-first",
        "--filter",
        "status/errorCode ne 0",
    ]);
    cli.expect_code(0, "export --format csv");
    let lines = |text: &str| {
        let mut l: Vec<String> = text.lines().map(str::to_owned).collect();
        l[1..].sort();
        l
    };
    assert_eq!(
        lines(&cli.stdout),
        lines(&a.text()),
        "the CLI and the server write the same CSV"
    );

    // Parquet, read by DuckDB.
    let a = server.get(
        "/gatehouse/export/directoryAudits?format=parquet",
        Some(&reader),
    );
    assert_eq!(a.status, 200);
    let file = gh.write("audits.parquet", &a.body);
    let duck = common::run_python(
        &py,
        "import duckdb, json, sys\nc = duckdb.connect()\nrows = c.execute(\"SELECT id, category FROM read_parquet(?)\", [sys.argv[1]]).fetchall()\nprint(json.dumps({'ids': sorted(r[0] for r in rows), 'cols': [d[0] for d in c.execute(\"DESCRIBE SELECT * FROM read_parquet(?)\", [sys.argv[1]]).fetchall()]}))",
        &[file.as_os_str()],
    );
    let audits = gh.export("audits");
    assert_eq!(duck["ids"], serde_json::json!(ids(&audits)));
    let cols: Vec<&str> = duck["cols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        cols.contains(&"activityDateTime")
            && cols.contains(&"_extra")
            && !cols.contains(&"_tenantId"),
        "{cols:?}"
    );

    // One snapshot: records pushed and a compaction while the export is being read change nothing.
    let mut response = ureq::get(format!("{}/gatehouse/export/signIns", server.url))
        .header("Authorization", &format!("Bearer {reader}"))
        .call()
        .unwrap();
    let more: Vec<Value> = (0..50u64)
        .map(|i| signin(&guid(4242, i), &ts(1_791_000_000 + i as i64)))
        .collect();
    server.push(&pusher, &more);
    gh.run(&["compact"])
        .expect_code(0, "compact during the export");
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    assert_eq!(
        body.lines().count(),
        signins.len(),
        "the export read the snapshot it started with"
    );
    let after = server.get("/gatehouse/export/signIns", Some(&reader));
    assert_eq!(after.text().lines().count(), signins.len() + 50);

    // Roles, tenants, bad requests.
    assert_eq!(
        server
            .get("/gatehouse/export/signIns", Some(&pusher))
            .status,
        403
    );
    assert_eq!(server.get("/gatehouse/export/signIns", None).status, 401);
    let other = gh.token("fabrikam", "global-reader");
    assert_eq!(
        server.get("/gatehouse/export/signIns", Some(&other)).text(),
        ""
    );
    for bad in [
        "format=xml",
        "$top=5",
        "$filter=nosuch%20eq%201",
        "$orderby=userId",
        "x=1",
    ] {
        let a = server.get(&format!("/gatehouse/export/signIns?{bad}"), Some(&reader));
        assert_eq!(a.status, 400, "{bad}: {}", a.text());
    }
    assert_eq!(
        server
            .get("/gatehouse/export/riskyUsers", Some(&reader))
            .status,
        404
    );
}

#[test]
fn queries_past_the_limit_wait_their_turn_and_all_answer() {
    let gh = simulated("20", "1", "9");
    // No grouping of the everyday questions ahead: it takes turns too, and would show in the
    // counts below.
    std::fs::write(
        gh.data.join("gatehouse.toml"),
        "max_running_queries = 1\n[maintenance]\ninsights_warm_every_seconds = 0\n",
    )
    .unwrap();
    let reader = gh.token(TENANT, "global-reader");
    let server = Served::start(&gh, &[]);
    let want = server
        .get("/beta/auditLogs/signIns?$top=50", Some(&reader))
        .json();
    // Twelve clients at once, pages and SQL: each answers in full, one runs at a time.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (server, reader, want) = (&server, &reader, &want);
                s.spawn(move || {
                    if i % 3 == 0 {
                        assert!(server.sql_int(reader, "SELECT count(*) FROM signins") > 0);
                    } else {
                        let a = server.get("/beta/auditLogs/signIns?$top=50", Some(reader));
                        assert_eq!(a.status, 200, "{}", a.text());
                        assert_eq!(a.json()["value"], want["value"]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let metrics = server.get("/metrics", Some(&reader)).text();
    for line in [
        "gatehouse_queries_limit 1",
        "gatehouse_queries_running 0",
        "gatehouse_queries_waiting 0",
        "gatehouse_queries_running_peak 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}
