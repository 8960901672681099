//! The everyday questions (`gatehouse ask`, `GET /gatehouse/insights/{question}`) checked
//! against an independent computation over the simulator's raw Graph JSON: the records are read
//! here with serde_json and counted in plain Rust, without the store, SQL or the product's
//! classification code (the interrupt codes are copied from the reference by hand).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{parse_instant, Gh, Served};
use serde_json::Value;

const TENANT: &str = "contoso";
/// A period that starts and ends inside days (not on file or day boundaries).
const FROM: &str = "2026-10-05T06:30:00Z";
const TO: &str = "2026-10-07T13:15:00Z";
/// The reference's interrupt codes (entra-log-formats.md, section 8, class I).
const INTERRUPTS: &[i64] = &[
    50074, 50076, 50079, 50072, 50125, 50140, 50158, 50199, 50097, 50058, 16000, 16001,
];

/// Every simulated sign-in whose time is in `[FROM, TO)`.
fn signins_in_period(sim: &Path) -> Vec<Value> {
    let (from, to) = (parse_instant(FROM).unwrap(), parse_instant(TO).unwrap());
    signins_between(sim, from, to)
}

/// Every simulated sign-in whose time (ns) is in `[from, to)`.
fn signins_between(sim: &Path, from: i64, to: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(sim.join("graph/signins")).expect("signins folder") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let r: Value = serde_json::from_str(line).unwrap();
            let t = parse_instant(r["createdDateTime"].as_str().unwrap()).unwrap();
            if t >= from && t < to {
                out.push(r);
            }
        }
    }
    out
}

fn kind(r: &Value) -> &str {
    r["signInEventTypes"][0].as_str().unwrap_or("")
}

fn is_user(r: &Value) -> bool {
    matches!(kind(r), "interactiveUser" | "nonInteractiveUser")
}

fn code(r: &Value) -> i64 {
    r["status"]["errorCode"].as_i64().unwrap()
}

/// A string property, `None` when missing, null or empty (as Gatehouse reports "not reported").
fn s(r: &Value, path: &[&str]) -> Option<String> {
    let mut v = r;
    for p in path {
        v = &v[*p];
    }
    v.as_str().filter(|x| !x.is_empty()).map(str::to_string)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The stored data and a server over it.
struct Setup {
    gh: Gh,
    sim: std::path::PathBuf,
    records: Vec<Value>,
    server: Served,
    token: String,
}

fn setup() -> Setup {
    let gh = Gh::new();
    let sim = gh.simulate(&[
        "--users",
        "60",
        "--days",
        "3",
        "--seed",
        "11",
        "--start",
        "2026-10-05",
    ]);
    gh.ingest(&["--tenant".as_ref(), TENANT.as_ref(), sim.as_os_str()])
        .expect_code(0, "ingest the simulated tenant");
    let records = signins_in_period(&sim);
    assert!(records.len() > 10_000, "{} sign-ins", records.len());
    let token = gh.token(TENANT, "reports-reader");
    let server = Served::start(&gh, &[]);
    Setup {
        gh,
        sim,
        records,
        server,
        token,
    }
}

impl Setup {
    /// The report from the CLI and from HTTP, which must be equal; returns it.
    fn ask(&self, question: &str, extra: &[(&str, &str)]) -> Value {
        // The CLI groups everything itself: an answer independent of the days the server keeps.
        let mut args = vec![
            "ask",
            question,
            "--json",
            "--from",
            FROM,
            "--to",
            TO,
            "--top",
            "10000",
            "--regroup",
        ];
        let mut query = format!("from={FROM}&to={TO}&top=10000");
        for (k, v) in extra {
            args.push(match *k {
                "type" => "--type",
                "app" => "--app",
                "user" => "--user",
                "versions" => "--versions",
                other => panic!("no flag for {other}"),
            });
            if *k != "versions" {
                args.push(v);
            }
            query.push_str(&format!("&{k}={}", v.replace(' ', "%20")));
        }
        let run = self.gh.run(&args);
        run.expect_code(0, question);
        let cli: Value = serde_json::from_str(&run.stdout).unwrap();
        let a = self.server.get(
            &format!("/gatehouse/insights/{question}?{query}"),
            Some(&self.token),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json(), cli, "HTTP and CLI differ for {question}");
        cli
    }
}

#[test]
fn the_four_questions_equal_an_independent_count_of_the_raw_records() {
    let t = setup();
    applications_equal_the_raw_records(&t);
    failures_equal_the_raw_records(&t);
    clients_equal_the_raw_records(&t);
    workloads_equal_the_raw_records(&t);
    filters_narrow_the_answers(&t);
    requests_are_checked(&t);
    sign_ins_are_explained(&t);
    graph_reports_equal_the_raw_records(&t);
    graph_reports_page_with_next_links(&t);
    summarized_sign_ins_equal_the_raw_records(&t);
    // Last: it adds a record.
    kept_days_answer_as_the_files_do(&t);
}

#[derive(Default, Debug, PartialEq)]
struct Tally {
    users: BTreeSet<String>,
    sign_ins: u64,
    succeeded: u64,
    interrupted: u64,
    failed: u64,
}

impl Tally {
    fn add(&mut self, r: &Value) {
        self.users.extend(s(r, &["userId"]));
        self.sign_ins += 1;
        match code(r) {
            0 => self.succeeded += 1,
            c if INTERRUPTS.contains(&c) => self.interrupted += 1,
            _ => self.failed += 1,
        }
    }

    fn assert_eq(&self, v: &Value, what: &str) {
        assert_eq!(u(&v["users"]), self.users.len() as u64, "{what} users");
        assert_eq!(u(&v["signIns"]), self.sign_ins, "{what} signIns");
        assert_eq!(u(&v["succeeded"]), self.succeeded, "{what} succeeded");
        assert_eq!(u(&v["interrupted"]), self.interrupted, "{what} interrupted");
        assert_eq!(u(&v["failed"]), self.failed, "{what} failed");
    }
}

fn applications_equal_the_raw_records(t: &Setup) {
    let report = t.ask("applications", &[]);
    let mut total = Tally::default();
    let mut apps: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for r in t.records.iter().filter(|r| is_user(r)) {
        total.add(r);
        apps.entry(s(r, &["appId"])).or_default().add(r);
    }
    total.assert_eq(&report["total"], "total");
    let listed = report["applications"].as_array().unwrap();
    assert_eq!(listed.len(), apps.len());
    assert_eq!(u(&report["applicationsUsed"]), apps.len() as u64);
    for a in listed {
        let id = a["appId"].as_str().map(str::to_string);
        apps[&id].assert_eq(a, &format!("application {id:?}"));
    }
    // Most users first.
    let users: Vec<u64> = listed.iter().map(|a| u(&a["users"])).collect();
    assert!(users.windows(2).all(|w| w[0] >= w[1]), "{users:?}");
    assert!(
        total.interrupted > 0 && total.failed > 0,
        "the data has both"
    );
}

fn failures_equal_the_raw_records(t: &Setup) {
    let report = t.ask("failures", &[]);
    let failed: Vec<&Value> = t
        .records
        .iter()
        .filter(|r| code(r) != 0 && !INTERRUPTS.contains(&code(r)))
        .collect();
    let interrupted = t
        .records
        .iter()
        .filter(|r| INTERRUPTS.contains(&code(r)))
        .count();
    assert_eq!(u(&report["failures"]), failed.len() as u64);
    assert_eq!(u(&report["interrupted"]), interrupted as u64);
    let users: BTreeSet<String> = failed.iter().filter_map(|r| s(r, &["userId"])).collect();
    assert_eq!(u(&report["users"]), users.len() as u64);

    let mut by_code: BTreeMap<i64, (u64, BTreeSet<String>)> = BTreeMap::new();
    for r in &failed {
        let e = by_code.entry(code(r)).or_default();
        e.0 += 1;
        e.1.extend(s(r, &["userId"]));
    }
    let codes = report["byErrorCode"].as_array().unwrap();
    assert_eq!(codes.len(), by_code.len());
    for c in codes {
        let (n, users) = &by_code[&c["code"].as_i64().unwrap()];
        assert_eq!(u(&c["failures"]), *n, "{c}");
        assert_eq!(u(&c["users"]), users.len() as u64, "{c}");
        assert!(!c["meaning"].as_str().unwrap().is_empty(), "{c}");
    }
    // The password spray's code is there with its meaning.
    let wrong_password = codes.iter().find(|c| c["code"] == 50126).expect("50126");
    assert_eq!(wrong_password["name"], "InvalidUserNameOrPassword");
    assert_eq!(wrong_password["class"], "credential");

    let breakdown = |key: &str, f: &dyn Fn(&Value) -> Option<String>| {
        let mut m: BTreeMap<Option<String>, u64> = BTreeMap::new();
        for r in &failed {
            *m.entry(f(r)).or_default() += 1;
        }
        let listed = report[key].as_array().unwrap();
        assert_eq!(listed.len(), m.len(), "{key}");
        for e in listed {
            let v = e["value"].as_str().map(str::to_string);
            assert_eq!(u(&e["failures"]), m[&v], "{key} {v:?}");
        }
        let n: Vec<u64> = listed.iter().map(|e| u(&e["failures"])).collect();
        assert!(n.windows(2).all(|w| w[0] >= w[1]), "{key}: {n:?}");
    };
    breakdown("byUser", &|r| {
        s(r, &["userPrincipalName"]).map(|u| u.to_lowercase())
    });
    breakdown("byApplication", &|r| s(r, &["appId"]));
    breakdown("byIpAddress", &|r| s(r, &["ipAddress"]));
    breakdown("byCountry", &|r| s(r, &["location", "countryOrRegion"]));
}

fn clients_equal_the_raw_records(t: &Setup) {
    let report = t.ask("clients", &[("versions", "true")]);
    let users: Vec<&Value> = t.records.iter().filter(|r| is_user(r)).collect();
    assert_eq!(u(&report["signIns"]), users.len() as u64);
    type Pair = (Option<String>, Option<String>);
    let mut pairs: BTreeMap<Pair, (u64, BTreeSet<String>)> = BTreeMap::new();
    for r in &users {
        let e = pairs
            .entry((
                s(r, &["deviceDetail", "browser"]),
                s(r, &["deviceDetail", "operatingSystem"]),
            ))
            .or_default();
        e.0 += 1;
        e.1.extend(s(r, &["userId"]));
    }
    let listed = report["pairs"].as_array().unwrap();
    assert_eq!(listed.len(), pairs.len());
    for p in listed {
        let key = (
            p["browser"].as_str().map(str::to_string),
            p["operatingSystem"].as_str().map(str::to_string),
        );
        let (n, who) = &pairs[&key];
        assert_eq!(u(&p["signIns"]), *n, "{key:?}");
        assert_eq!(u(&p["users"]), who.len() as u64, "{key:?}");
    }
    // Without versions, families: every browser's name has no dotted version, and the counts
    // still add up to every sign-in.
    let families = t.ask("clients", &[]);
    let browsers = families["browsers"].as_array().unwrap();
    let sum: u64 = browsers.iter().map(|b| u(&b["signIns"])).sum();
    assert_eq!(sum, users.len() as u64);
    assert!(
        browsers.iter().any(|b| b["browser"] == "Chrome"),
        "{browsers:?}"
    );
    for b in browsers {
        if let Some(name) = b["browser"].as_str() {
            assert!(
                !name
                    .split(' ')
                    .any(|w| w.contains('.') && w.starts_with(|c: char| c.is_ascii_digit())),
                "{name}"
            );
        }
    }
}

fn workloads_equal_the_raw_records(t: &Setup) {
    let report = t.ask("workloads", &[]);
    #[derive(Default)]
    struct Access {
        n: u64,
        failed: u64,
        first: String,
        last: String,
    }
    let mut expected: BTreeMap<(String, Option<String>, Option<String>), Access> = BTreeMap::new();
    for r in t.records.iter().filter(|r| !is_user(r)) {
        let t = r["createdDateTime"].as_str().unwrap().to_string();
        let e = expected
            .entry((
                s(r, &["servicePrincipalId"]).unwrap_or_default(),
                s(r, &["resourceId"]),
                Some(kind(r).to_string()),
            ))
            .or_default();
        e.n += 1;
        e.failed += u64::from(code(r) != 0);
        if e.first.is_empty() || t < e.first {
            e.first = t.clone();
        }
        if t > e.last {
            e.last = t;
        }
    }
    let identities = report["identities"].as_array().unwrap();
    let mut seen = 0;
    for id in identities {
        let sp = id["servicePrincipalId"].as_str().unwrap().to_string();
        let kind = id["signInType"].as_str().map(str::to_string);
        let mut total = 0;
        for r in id["resources"].as_array().unwrap() {
            let key = (
                sp.clone(),
                r["resourceId"].as_str().map(str::to_string),
                kind.clone(),
            );
            let e = &expected[&key];
            assert_eq!(u(&r["signIns"]), e.n, "{key:?}");
            assert_eq!(u(&r["failures"]), e.failed, "{key:?}");
            // The simulator writes whole seconds in UTC with `Z`, as the report does.
            assert_eq!(r["firstAccess"], e.first.as_str(), "{key:?}");
            assert_eq!(r["lastAccess"], e.last.as_str(), "{key:?}");
            total += e.n;
            seen += 1;
        }
        assert_eq!(u(&id["signIns"]), total);
    }
    assert_eq!(
        seen,
        expected.len(),
        "every identity and resource is listed"
    );
    let kinds: BTreeSet<&str> = identities
        .iter()
        .map(|i| i["signInType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["managedIdentity", "servicePrincipal"])
    );
}

fn filters_narrow_the_answers(t: &Setup) {
    // One application, by display name in another case.
    let teams: Vec<&Value> = t
        .records
        .iter()
        .filter(|r| is_user(r) && r["appDisplayName"] == "Microsoft Teams")
        .collect();
    assert!(!teams.is_empty());
    let report = t.ask("applications", &[("app", "microsoft teams")]);
    let apps = report["applications"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(u(&apps[0]["signIns"]), teams.len() as u64);
    // Interactive sign-ins only.
    let interactive = t
        .records
        .iter()
        .filter(|r| kind(r) == "interactiveUser")
        .count();
    let report = t.ask("applications", &[("type", "interactiveUser")]);
    assert_eq!(u(&report["total"]["signIns"]), interactive as u64);
    assert_eq!(
        report["signInTypes"],
        serde_json::json!(["interactiveUser"])
    );
    // One user's failures, by UPN in capitals.
    let upn = t
        .records
        .iter()
        .filter(|r| code(r) == 50126)
        .find_map(|r| s(r, &["userPrincipalName"]))
        .expect("a wrong password");
    let theirs = t
        .records
        .iter()
        .filter(|r| {
            s(r, &["userPrincipalName"]).is_some_and(|u| u.eq_ignore_ascii_case(&upn))
                && code(r) != 0
                && !INTERRUPTS.contains(&code(r))
        })
        .count();
    let report = t.ask("failures", &[("user", &upn.to_uppercase())]);
    assert_eq!(u(&report["failures"]), theirs as u64);
    // A filter value with quotes is a value, not SQL.
    let report = t.ask("applications", &[("app", "x' OR '1'='1")]);
    assert_eq!(u(&report["total"]["signIns"]), 0);
}

fn requests_are_checked(t: &Setup) {
    let get = |path: &str, token: Option<&str>| t.server.get(path, token);
    // Another tenant sees nothing of this one.
    let other = t.gh.token("fabrikam", "reports-reader");
    let a = get(
        &format!("/gatehouse/insights/applications?from={FROM}&to={TO}"),
        Some(&other),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(u(&a.json()["total"]["signIns"]), 0);
    // Authentication and roles.
    assert_eq!(get("/gatehouse/insights/failures", None).status, 401);
    let ingest = t.gh.token(TENANT, "ingest");
    assert_eq!(
        get("/gatehouse/insights/failures", Some(&ingest)).status,
        403
    );
    // Bad requests name what is wrong.
    for (path, status, words) in [
        ("/gatehouse/insights/nope", 404, "applications, failures"),
        ("/gatehouse/insights/failures?since=7", 400, "since"),
        (
            "/gatehouse/insights/failures?since=7d&from=2026-10-01",
            400,
            "either",
        ),
        (
            "/gatehouse/insights/failures?from=2026-10-09&to=2026-10-01",
            400,
            "empty",
        ),
        ("/gatehouse/insights/failures?type=robot", 400, "robot"),
        ("/gatehouse/insights/failures?top=0", 400, "top"),
        ("/gatehouse/insights/failures?sinse=7d", 400, "sinse"),
        ("/gatehouse/insights/failures?top=1&top=2", 400, "twice"),
    ] {
        let a = get(path, Some(&t.token));
        assert_eq!(a.status, status, "{path}: {}", a.text());
        let body = a.json();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{path}: {message}");
    }
    // The CLI says what is wrong too.
    let run = t.gh.run(&["ask", "failures", "--since", "yesterday"]);
    run.expect_code(1, "a bad --since");
    assert!(run.stderr.contains("since"), "{}", run.stderr);
}

fn sign_ins_are_explained(t: &Setup) {
    let pick = |f: &dyn Fn(&Value) -> bool| {
        t.records
            .iter()
            .find(|r| f(r))
            .expect("a sign-in of that kind in the simulated data")
            .clone()
    };
    let wrong_password = pick(&|r| code(r) == 50126);
    let mfa_prompt = pick(&|r| {
        code(r) == 50076
            && r["appliedConditionalAccessPolicies"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["result"] == "failure"))
    });
    let managed_identity = pick(&|r| kind(r) == "managedIdentity" && code(r) == 0);
    for (r, outcome, who) in [
        (&wrong_password, "failure", "user"),
        (&mfa_prompt, "interrupted", "user"),
        (&managed_identity, "success", "managedIdentity"),
    ] {
        let id = r["id"].as_str().unwrap();
        let a = t
            .server
            .get(&format!("/gatehouse/signIns/{id}/explain"), Some(&t.token));
        assert_eq!(a.status, 200, "{}", a.text());
        let e = a.json();
        let run = t.gh.run(&["explain", id, "--json"]);
        run.expect_code(0, "explain");
        let cli: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(e, cli, "HTTP and CLI explain {id} alike");
        // Text for a person, with the same verdict.
        let text = t.gh.run(&["explain", id]);
        text.expect_code(0, "explain as text");
        assert!(text.stdout.contains("What to do"), "{}", text.stdout);

        assert_eq!(e["id"], id);
        assert_eq!(e["who"]["type"], who, "{id}");
        assert_eq!(e["diagnosis"]["outcome"], outcome, "{id}");
        assert_eq!(
            e["diagnosis"]["error"]["code"], r["status"]["errorCode"],
            "{id}"
        );
        assert_eq!(
            e["diagnosis"]["failureReason"], r["status"]["failureReason"],
            "{id}"
        );
        assert_eq!(e["how"]["appDisplayName"], r["appDisplayName"], "{id}");
        assert_eq!(e["what"]["resourceId"], r["resourceId"], "{id}");
        let expected_id = if who == "user" {
            &r["userId"]
        } else {
            &r["servicePrincipalId"]
        };
        assert_eq!(&e["who"]["id"], expected_id, "{id}");
        // The deciding policies are exactly the raw record's failed and succeeded ones.
        let deciding: BTreeSet<String> = r["appliedConditionalAccessPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["result"] == "failure" || p["result"] == "success")
            .map(|p| p["displayName"].as_str().unwrap().to_string())
            .collect();
        let listed: BTreeSet<String> = e["diagnosis"]["decidingPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["displayName"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, deciding, "{id}");
        assert!(!e["diagnosis"]["actions"].as_array().unwrap().is_empty());
    }
    let summary = |r: &Value| {
        let id = r["id"].as_str().unwrap();
        t.server
            .get(&format!("/gatehouse/signIns/{id}/explain"), Some(&t.token))
            .json()["diagnosis"]["summary"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(summary(&wrong_password).contains("failed with error 50126"));
    assert!(summary(&mfa_prompt).contains("expected step"));
    // Unknown ids and other tenants' ids are not found.
    let a = t
        .server
        .get("/gatehouse/signIns/no-such-id/explain", Some(&t.token));
    assert_eq!(a.status, 404, "{}", a.text());
    let other = t.gh.token("fabrikam", "security-reader");
    let id = wrong_password["id"].as_str().unwrap();
    let a = t
        .server
        .get(&format!("/gatehouse/signIns/{id}/explain"), Some(&other));
    assert_eq!(a.status, 404, "{}", a.text());
    t.gh.run(&["explain", "no-such-id"])
        .expect_code(1, "explain an unknown id");
}

fn graph_reports_equal_the_raw_records(t: &Setup) {
    let all = signins_between(&t.sim, i64::MIN, i64::MAX);
    let get = |path: &str| {
        let a = t.server.get(path, Some(&t.token));
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        let v = a.json();
        assert!(
            v["@odata.context"].as_str().unwrap().contains("$metadata#"),
            "{v}"
        );
        v["value"].as_array().unwrap().clone()
    };

    // Detailed summary: one application, one day, every code.
    let rows = get(
        "/beta/reports/applicationSignInDetailedSummary?$filter=appDisplayName%20eq%20'officehome'%20and%20aggregatedEventDateTime%20ge%202026-10-06T00:00:00Z%20and%20aggregatedEventDateTime%20lt%202026-10-07T00:00:00Z",
    );
    let mut expected: BTreeMap<i64, u64> = BTreeMap::new();
    for r in all.iter().filter(|r| {
        kind(r) == "interactiveUser"
            && r["appDisplayName"] == "OfficeHome"
            && r["createdDateTime"]
                .as_str()
                .unwrap()
                .starts_with("2026-10-06")
    }) {
        *expected.entry(code(r)).or_default() += 1;
    }
    assert!(!expected.is_empty());
    let got: BTreeMap<i64, u64> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["aggregatedEventDateTime"], "2026-10-06T00:00:00Z", "{r}");
            assert_eq!(r["appDisplayName"], "OfficeHome", "{r}");
            (
                r["status"]["errorCode"].as_i64().unwrap(),
                u(&r["signInCount"]),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Every sign-in type when asked, and $top.
    let rows = get("/beta/reports/applicationSignInDetailedSummary?signInTypes=all&$top=3");
    assert_eq!(rows.len(), 3);
    let total: u64 = get("/beta/reports/applicationSignInDetailedSummary?signInTypes=all")
        .iter()
        .map(|r| u(&r["signInCount"]))
        .sum();
    let with_app = all.iter().filter(|r| s(r, &["appId"]).is_some()).count() as u64;
    assert_eq!(total, with_app);

    // Service principal activity: each role's last sign-in, for an application that is a
    // delegated client, and one that is an application client.
    let rows = get("/beta/reports/servicePrincipalSignInActivities");
    let last = |f: &dyn Fn(&Value) -> bool| {
        all.iter()
            .filter(|r| f(r))
            .map(|r| r["createdDateTime"].as_str().unwrap().to_string())
            .max()
    };
    for row in &rows {
        let app = row["appId"].as_str().unwrap();
        for (field, f) in [
            (
                "delegatedClientSignInActivity",
                &(|r: &Value| is_user(r) && r["appId"] == app) as &dyn Fn(&Value) -> bool,
            ),
            ("delegatedResourceSignInActivity", &|r: &Value| {
                is_user(r) && r["resourceId"] == app
            }),
            (
                "applicationAuthenticationClientSignInActivity",
                &|r: &Value| !is_user(r) && r["appId"] == app,
            ),
            (
                "applicationAuthenticationResourceSignInActivity",
                &|r: &Value| !is_user(r) && r["resourceId"] == app,
            ),
        ] {
            let got = row[field]["lastSignInDateTime"]
                .as_str()
                .map(str::to_string);
            assert_eq!(got, last(f), "{app} {field}");
        }
    }
    assert!(rows
        .iter()
        .any(|r| !r["delegatedClientSignInActivity"].is_null()));
    assert!(rows
        .iter()
        .any(|r| !r["applicationAuthenticationClientSignInActivity"].is_null()));
    // The last sign-in's request id is that sign-in's id.
    let row = &rows[0];
    let id = row["lastSignInActivity"]["lastSignInRequestId"]
        .as_str()
        .unwrap();
    let r = all
        .iter()
        .find(|r| r["id"] == id)
        .expect("the request id is a sign-in");
    assert_eq!(
        r["createdDateTime"],
        row["lastSignInActivity"]["lastSignInDateTime"]
    );
    let one = get(&format!(
        "/beta/reports/servicePrincipalSignInActivities?$filter=appId%20eq%20'{}'",
        row["appId"].as_str().unwrap()
    ));
    assert_eq!(one, vec![row.clone()]);

    // Application summary: periods end now, so a tenant simulated over the last days.
    let recent = t.gh.dir.join("recent");
    let start = (chrono::Utc::now() - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    t.gh.run(&[
        "simulate".as_ref(),
        "--users".as_ref(),
        "20".as_ref(),
        "--days".as_ref(),
        "2".as_ref(),
        "--seed".as_ref(),
        "5".as_ref(),
        "--start".as_ref(),
        start.as_str().as_ref(),
        "--out".as_ref(),
        recent.as_os_str(),
    ])
    .expect_code(0, "simulate the last days");
    // Pushed to the running server (it holds the data directory).
    let ingest = t.gh.token("recent", "ingest");
    let mut body = Vec::new();
    for entry in std::fs::read_dir(recent.join("graph/signins")).unwrap() {
        body.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let a = t.server.post(
        "/gatehouse/ingest?tenant=recent",
        Some(&ingest),
        &[("Content-Type", "application/x-ndjson")],
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let reader = t.gh.token("recent", "reports-reader");
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in signins_between(&recent, now_ns - 7 * 86_400 * 1_000_000_000, now_ns) {
        if kind(&r) == "interactiveUser" {
            let e = expected.entry(s(&r, &["appId"]).unwrap()).or_default();
            if code(&r) == 0 {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    assert!(!expected.is_empty());
    let a = t.server.get(
        "/beta/reports/getAzureADApplicationSignInSummary(period='D7')",
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let got: BTreeMap<String, (u64, u64)> = a.json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let (ok, failed) = (u(&r["successfulSignInCount"]), u(&r["failedSignInCount"]));
            let pct = r["successPercentage"].as_f64().unwrap();
            assert!(
                (pct - ok as f64 * 100.0 / (ok + failed) as f64).abs() < 0.01,
                "{r}"
            );
            (r["id"].as_str().unwrap().to_string(), (ok, failed))
        })
        .collect();
    assert_eq!(got, expected);
    // Authentication methods used: successful steps of successful interactive sign-ins.
    let a = t.server.get(
        "/beta/reports/authenticationMethods/userSignInsByAuthMethodSummary(period='D30')",
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let got: BTreeMap<String, u64> = a.json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["authenticationMethod"].as_str().unwrap().to_string(),
                u(&m["successActivityCount"]),
            )
        })
        .collect();
    let graph_name = |logged: &str| match logged {
        "Password" => Some("password"),
        "Mobile app notification" => Some("microsoftAuthenticatorPush"),
        "OATH verification code" => Some("oneTimePasscode"),
        "Text message" => Some("sms"),
        "Windows Hello for Business" => Some("windowsHelloForBusiness"),
        "FIDO2 security key" => Some("fido2SecurityKey"),
        _ => None,
    };
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for r in signins_between(&recent, now_ns - 30 * 86_400 * 1_000_000_000, now_ns) {
        if kind(&r) != "interactiveUser" || code(&r) != 0 {
            continue;
        }
        for step in r["authenticationDetails"].as_array().unwrap() {
            if step["succeeded"] == true {
                if let Some(m) = graph_name(step["authenticationMethod"].as_str().unwrap()) {
                    *expected.entry(m.to_string()).or_default() += 1;
                }
            }
        }
    }
    assert!(expected.contains_key("password"), "{expected:?}");
    assert_eq!(got, expected);

    // The first tenant's October days are not in its last 30 days, but are as of October 8.
    assert!(get("/beta/reports/getAzureADApplicationSignInSummary(period='D30')").is_empty());
    let as_of: u64 =
        get("/beta/reports/getAzureADApplicationSignInSummary(period='D7')?asOf=2026-10-08")
            .iter()
            .map(|r| u(&r["successfulSignInCount"]) + u(&r["failedSignInCount"]))
            .sum();
    let interactive = all.iter().filter(|r| kind(r) == "interactiveUser").count() as u64;
    assert_eq!(as_of, interactive);

    // Daily counts per type and failures: whole days (asked twice: the second answer reads the
    // days the server kept), and a period starting and ending inside days.
    for (from, to, n_days) in [
        ("2026-10-05T00:00:00Z", "2026-10-08T00:00:00Z", 3),
        ("2026-10-05T00:00:00Z", "2026-10-08T00:00:00Z", 3),
        (FROM, TO, 3),
    ] {
        let a = t.server.get(
            &format!("/gatehouse/insights/daily?from={from}&to={to}"),
            Some(&t.token),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let days = a.json()["days"].as_array().unwrap().clone();
        assert_eq!(days.len(), n_days, "{from}..{to}");
        let (from_ns, to_ns) = (parse_instant(from).unwrap(), parse_instant(to).unwrap());
        for d in &days {
            let day = d["day"].as_str().unwrap();
            let of_day: Vec<&Value> = all
                .iter()
                .filter(|r| {
                    let at = r["createdDateTime"].as_str().unwrap();
                    let t = parse_instant(at).unwrap();
                    at.starts_with(day) && t >= from_ns && t < to_ns
                })
                .collect();
            let of = |k: &str| of_day.iter().filter(|r| kind(r) == k).count() as u64;
            let what = format!("{day} of {from}..{to}");
            assert_eq!(u(&d["interactiveUser"]), of("interactiveUser"), "{what}");
            assert_eq!(
                u(&d["nonInteractiveUser"]),
                of("nonInteractiveUser"),
                "{what}"
            );
            assert_eq!(u(&d["servicePrincipal"]), of("servicePrincipal"), "{what}");
            assert_eq!(u(&d["managedIdentity"]), of("managedIdentity"), "{what}");
            let failed = of_day
                .iter()
                .filter(|r| code(r) != 0 && !INTERRUPTS.contains(&code(r)))
                .count() as u64;
            assert!(failed > 0, "{what}");
            assert_eq!(u(&d["failed"]), failed, "{what}");
        }
    }

    // Registration, from the audit log's "User registered security info" records.
    let audits: Vec<Value> = std::fs::read_dir(t.sim.join("graph/audits"))
        .unwrap()
        .flat_map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let registered: BTreeSet<String> = audits
        .iter()
        .filter(|a| {
            a["activityDisplayName"] == "User registered security info"
                && a["resultReason"]
                    .as_str()
                    .unwrap()
                    .contains("Authenticator App")
        })
        .map(|a| a["targetResources"][0]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!registered.is_empty(), "the simulation registers methods");
    let rows = get("/beta/reports/authenticationMethods/userRegistrationDetails");
    let got: BTreeSet<String> = rows
        .iter()
        .map(|r| {
            assert_eq!(
                r["methodsRegistered"],
                serde_json::json!(["microsoftAuthenticatorPush"])
            );
            assert_eq!(r["isMfaRegistered"], true);
            r["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(got, registered);
    let a = t.server.get(
        "/beta/reports/authenticationMethods/usersRegisteredByMethod(includedUserTypes='all',includedUserRoles='all')",
        Some(&t.token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let summary = a.json();
    assert_eq!(u(&summary["totalUserCount"]), registered.len() as u64);
    assert_eq!(
        summary["userRegistrationMethodCounts"][0]["userCount"],
        registered.len() as u64
    );

    // Credentials: every key service principals signed in with, and every key the audit log
    // shows added (never used ones flagged).
    let rows = get("/beta/reports/appCredentialSignInActivities");
    let mut used: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    for r in all.iter().filter(|r| kind(r) == "servicePrincipal") {
        if let Some(key) = s(r, &["servicePrincipalCredentialKeyId"]) {
            let e = used
                .entry((s(r, &["appId"]).unwrap(), key))
                .or_insert((0, String::new()));
            e.0 += 1;
            let at = r["createdDateTime"].as_str().unwrap().to_string();
            if at > e.1 {
                e.1 = at;
            }
        }
    }
    assert!(!used.is_empty());
    for ((app, key), (n, last)) in &used {
        let row = rows
            .iter()
            .find(|r| r["appId"] == app.as_str() && r["keyId"] == key.as_str())
            .unwrap_or_else(|| panic!("{app} {key} listed"));
        assert_eq!(u(&row["signInCount"]), *n, "{app} {key}");
        assert_eq!(row["signInActivity"]["lastSignInDateTime"], last.as_str());
        assert!(!row["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "neverUsed"));
    }
    let added = audits
        .iter()
        .filter(|a| {
            a["activityDisplayName"]
                .as_str()
                .unwrap()
                .contains("Certificates and secrets management")
        })
        .count();
    assert!(added > 0, "the simulation rotates a secret");
    {
        let from_audit: Vec<&Value> = rows
            .iter()
            .filter(|r| r["credentialOrigin"] == "application")
            .collect();
        assert!(!from_audit.is_empty(), "keys from the audit log are listed");
        assert!(from_audit.iter().any(|r| r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "neverUsed")));
    }

    // Errors in Graph's envelope.
    for (path, status) in [
        ("/v1.0/reports/servicePrincipalSignInActivities", 404),
        (
            "/beta/reports/getAzureADApplicationSignInSummary(period='D2')",
            400,
        ),
        ("/beta/reports/getAzureADApplicationSignInSummary", 400),
        ("/beta/reports/nope", 404),
        (
            "/beta/reports/applicationSignInDetailedSummary?$filter=startswith(appDisplayName,'O')",
            400,
        ),
        (
            "/beta/reports/applicationSignInDetailedSummary?signInTypes=some",
            400,
        ),
    ] {
        let a = t.server.get(path, Some(&t.token));
        assert_eq!(a.status, status, "{path}: {}", a.text());
        assert!(a.json()["error"]["message"].is_string(), "{path}");
    }
}

/// With `$top`, each report comes in pages joined by `@odata.nextLink` (as Graph SDKs walk
/// them), and the pages put together are the whole report; a bad `$skiptoken` is refused.
fn graph_reports_page_with_next_links(t: &Setup) {
    let get = |path: &str| {
        let a = t.server.get(path, Some(&t.token));
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        a.json()
    };
    for (report, top) in [
        ("applicationSignInDetailedSummary?signInTypes=all", 7),
        ("servicePrincipalSignInActivities", 2),
        ("appCredentialSignInActivities", 3),
        ("authenticationMethods/userRegistrationDetails", 2),
        (
            "getAzureADApplicationSignInSummary(period='D30')?asOf=2026-10-08&signInTypes=all",
            4,
        ),
        (
            "authenticationMethods/userSignInsByAuthMethodSummary(period='D30')?asOf=2026-10-08",
            1,
        ),
    ] {
        let path = format!("/beta/reports/{report}");
        let whole = get(&path)["value"].as_array().unwrap().clone();
        assert!(
            whole.len() > top,
            "{report}: {} rows, too few to page",
            whole.len()
        );
        assert!(
            get(&path).get("@odata.nextLink").is_none(),
            "{report}: whole without $top"
        );
        let sep = if report.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{sep}$top={top}"));
        let (mut walked, mut pages) = (Vec::new(), 0);
        while let Some(link) = next {
            let at = link.find("/beta/").expect("a link to this server");
            let v = get(&link[at..]);
            let rows = v["value"].as_array().unwrap();
            assert!(
                !rows.is_empty() && rows.len() <= top,
                "{report}: page of {}",
                rows.len()
            );
            walked.extend(rows.iter().cloned());
            next = v["@odata.nextLink"].as_str().map(str::to_string);
            pages += 1;
            assert!(pages <= whole.len(), "{report}: the walk does not end");
        }
        assert_eq!(pages, whole.len().div_ceil(top), "{report}");
        assert_eq!(walked, whole, "{report}: the pages are the whole report");
    }
    let a = t.server.get(
        "/beta/reports/servicePrincipalSignInActivities?$top=2&$skiptoken=nonsense",
        Some(&t.token),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("skiptoken"), "{}", a.text());
}

fn summarized_sign_ins_equal_the_raw_records(t: &Setup) {
    // A period on window bounds: 2026-10-05T06:00 to 2026-10-07T12:00, 6-hour windows.
    let (from, to) = ("2026-10-05T06:00:00Z", "2026-10-07T12:00:00Z");
    let records = signins_between(
        &t.sim,
        parse_instant(from).unwrap(),
        parse_instant(to).unwrap(),
    );
    for (function, kind_name) in [
        ("getSummarizedNonInteractiveSignIns", "nonInteractiveUser"),
        ("getSummarizedMSISignIns", "managedIdentity"),
    ] {
        type Group = (i64, Vec<Option<String>>, i64);
        let mut expected: BTreeMap<Group, u64> = BTreeMap::new();
        for r in records.iter().filter(|r| kind(r) == kind_name) {
            let t_ns = parse_instant(r["createdDateTime"].as_str().unwrap()).unwrap();
            let window = t_ns.div_euclid(6 * 3_600 * 1_000_000_000);
            let key = vec![
                s(r, &["userPrincipalName"]),
                s(r, &["appId"]),
                s(r, &["ipAddress"]),
                s(r, &["resourceId"]),
                s(r, &["servicePrincipalId"]),
                s(r, &["conditionalAccessStatus"]),
            ];
            *expected.entry((window, key, code(r))).or_default() += 1;
        }
        assert!(!expected.is_empty(), "{kind_name}");
        let filter =
            format!("aggregationDateTime%20ge%20{from}%20and%20aggregationDateTime%20lt%20{to}");
        let mut path =
            format!("/beta/auditLogs/{function}(aggregationWindow='h6')?$top=40&$filter={filter}");
        let mut got: BTreeMap<Group, u64> = BTreeMap::new();
        let mut ids = BTreeSet::new();
        let mut pages = 0;
        let mut last_window = String::from("~");
        loop {
            let a = t.server.get(&path, Some(&t.token));
            assert_eq!(a.status, 200, "{path}: {}", a.text());
            let body = a.json();
            pages += 1;
            for row in body["value"].as_array().unwrap() {
                assert!(
                    ids.insert(row["id"].as_str().unwrap().to_string()),
                    "id repeated: {row}"
                );
                let window_start = row["aggregationDateTime"].as_str().unwrap().to_string();
                assert!(window_start <= last_window, "newest window first");
                last_window = window_start.clone();
                let window = parse_instant(&window_start).unwrap() / (6 * 3_600 * 1_000_000_000);
                let str_of = |k: &str| row[k].as_str().map(str::to_string);
                let key = vec![
                    str_of("userPrincipalName"),
                    str_of("appId"),
                    str_of("ipAddress"),
                    str_of("resourceId"),
                    str_of("servicePrincipalId"),
                    str_of("conditionalAccessStatus"),
                ];
                let group = (window, key, row["status"]["errorCode"].as_i64().unwrap());
                *got.entry(group).or_default() += u(&row["signInCount"]);
                assert!(
                    row["firstSignInDateTime"].as_str().unwrap() >= window_start.as_str(),
                    "{row}"
                );
            }
            match body["@odata.nextLink"].as_str() {
                Some(next) => {
                    assert!(next.starts_with(&t.server.url), "{next}");
                    path = next[t.server.url.len()..].to_string();
                }
                None => break,
            }
        }
        assert!(pages > 1 || expected.len() <= 40, "{function}: paged");
        assert_eq!(got, expected, "{function}");
    }
    // One user's non-interactive sign-ins by $filter eq.
    let upn = records
        .iter()
        .find(|r| kind(r) == "nonInteractiveUser")
        .and_then(|r| s(r, &["userPrincipalName"]))
        .unwrap();
    let theirs = records
        .iter()
        .filter(|r| {
            kind(r) == "nonInteractiveUser"
                && s(r, &["userPrincipalName"]).as_deref() == Some(upn.as_str())
        })
        .count() as u64;
    let a = t.server.get(
        &format!(
            "/beta/auditLogs/getSummarizedNonInteractiveSignIns(aggregationWindow='d1')?$filter=userPrincipalName%20eq%20'{upn}'%20and%20aggregationDateTime%20ge%20{from}%20and%20aggregationDateTime%20lt%20{to}"
        ),
        Some(&t.token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    let n: u64 = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| u(&r["signInCount"]))
        .sum();
    assert_eq!(n, theirs);
    for (path, status) in [
        (
            "/beta/auditLogs/getSummarizedNonInteractiveSignIns(aggregationWindow='h2')",
            400,
        ),
        ("/beta/auditLogs/getSummarizedNonInteractiveSignIns", 400),
        (
            "/beta/auditLogs/getSummarizedEverything(aggregationWindow='h1')",
            404,
        ),
        (
            "/beta/auditLogs/getSummarizedMSISignIns(aggregationWindow='h1')?$skiptoken=nope",
            400,
        ),
        (
            "/v1.0/auditLogs/getSummarizedMSISignIns(aggregationWindow='h1')",
            404,
        ),
    ] {
        let a = t.server.get(path, Some(&t.token));
        assert_eq!(a.status, status, "{path}: {}", a.text());
    }
}

/// AD FS application activity from AD FS sign-ins (the diagnostic sample, and variants of it for
/// other users, a failure and another relying party); a cloud sign-in beside them is not AD FS.
#[test]
fn ad_fs_application_activity_counts_ad_fs_sign_ins_per_relying_party() {
    let gh = Gh::new();
    let sample: Value = serde_json::from_str(
        std::fs::read_to_string(common::testdata().join("formats/diag-adfssigninlogs.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let variant = |n: u32, user: &str, code: i64, rp: Option<(&str, &str)>| {
        let mut r = sample.clone();
        let p = r["properties"].as_object_mut().unwrap();
        p.insert("id".into(), Value::String(common::guid(7, u64::from(n))));
        p.insert("userId".into(), Value::String(user.into()));
        p.insert(
            "userPrincipalName".into(),
            Value::String(format!("{user}@kestrel-health.example")),
        );
        p.insert("status".into(), serde_json::json!({"errorCode": code}));
        if let Some((id, name)) = rp {
            p.insert("resourceId".into(), Value::String(id.into()));
            p.insert("resourceDisplayName".into(), Value::String(name.into()));
        }
        r
    };
    let mut records = vec![
        sample.clone(),
        variant(1, "u1", 0, None),
        variant(2, "u1", 0, None),
        variant(3, "u2", 50126, None),
        variant(
            4,
            "u3",
            0,
            Some(("https://intranet.kestrel-health.example", "Intranet")),
        ),
    ];
    // A cloud sign-in: not AD FS.
    let mut cloud = variant(5, "u4", 0, None);
    cloud["properties"]["tokenIssuerType"] = Value::String("AzureAD".into());
    records.push(cloud);
    let file = gh.write("adfs.jsonl", common::ndjson(&records));
    gh.ingest(&["--tenant".as_ref(), TENANT.as_ref(), file.as_os_str()])
        .expect_code(0, "ingest AD FS sign-ins");
    let token = gh.token(TENANT, "reports-reader");
    let server = Served::start(&gh, &[]);
    let a = server.get(
        "/beta/reports/getRelyingPartyDetailedSummary(period='D7')?asOf=2025-03-08",
        Some(&token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let rows = a.json()["value"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let claims = &rows[0];
    assert_eq!(
        claims["relyingPartyId"],
        "https://claims-api.kestrel-health.example"
    );
    assert_eq!(claims["relyingPartyName"], "Claims Portal - API");
    assert_eq!(claims["serviceId"], "sts.kestrel-health.example");
    assert_eq!(u(&claims["totalSignInCount"]), 4);
    assert_eq!(u(&claims["successfulSignInCount"]), 3);
    assert_eq!(u(&claims["failedSignInCount"]), 1);
    // The sample's user, u1 and u2.
    assert_eq!(u(&claims["uniqueUserCount"]), 3);
    assert_eq!(claims["signInSuccessRate"], 75.0);
    assert_eq!(u(&rows[1]["totalSignInCount"]), 1);
    // Outside the period: nothing.
    let a = server.get(
        "/beta/reports/getRelyingPartyDetailedSummary(period='D1')?asOf=2025-03-10",
        Some(&token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.json()["value"].as_array().unwrap().is_empty());
}

/// The server keeps whole days' groups between questions: asked again, the answer comes from
/// memory (the metrics say so) and equals the CLI's, which groups everything; a record that
/// arrives late for a kept day changes that day's files, and the next answer counts it.
fn kept_days_answer_as_the_files_do(t: &Setup) {
    let days = |result: &str| -> u64 {
        let text = t.server.get("/metrics", Some(&t.token)).text();
        let line = format!("gatehouse_insights_days_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .unwrap_or_else(|| panic!("no {line} in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let before = days("hit");
    let first = t.ask("applications", &[]);
    let again = t.ask("applications", &[]);
    assert_eq!(first, again);
    assert!(
        days("hit") > before,
        "the second answer came from kept days"
    );
    // Filters are answered from the days kept without them (the groups carry the columns the
    // filters test): no day is grouped again, and the answers equal the CLI's filtered scans.
    t.ask("failures", &[]);
    t.ask("workloads", &[]);
    t.ask("clients", &[]);
    let (misses, hits) = (days("miss"), days("hit"));
    let app = t.ask("applications", &[("app", "MICROSOFT TEAMS")]);
    assert_eq!(app["applications"].as_array().unwrap().len(), 1, "{app}");
    let some_user = t
        .records
        .iter()
        .filter(|r| is_user(r) && code(r) != 0 && !INTERRUPTS.contains(&code(r)))
        .find_map(|r| s(r, &["userPrincipalName"]))
        .expect("a failed user sign-in");
    let failed = t.ask("failures", &[("user", &some_user.to_uppercase())]);
    assert!(u(&failed["failures"]) > 0, "{failed}");
    let clients = t.ask("clients", &[("user", &some_user)]);
    let users: Vec<u64> = clients["browsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u(&b["users"]))
        .collect();
    assert!(
        !users.is_empty() && users.iter().all(|n| *n == 1),
        "{clients}"
    );
    let workload = t
        .records
        .iter()
        .filter(|r| kind(r) == "managedIdentity")
        .find_map(|r| s(r, &["servicePrincipalName"]))
        .expect("a managed identity sign-in");
    let w = t.ask("workloads", &[("app", &workload.to_lowercase())]);
    assert_eq!(w["identities"].as_array().map(Vec::len), Some(1), "{w}");
    assert_eq!(
        days("miss"),
        misses,
        "filtered questions grouped days again"
    );
    assert!(days("hit") > hits);

    let mut late = common::signin("late-arrival-1", "2026-10-06T10:00:00Z");
    late["appDisplayName"] = Value::String("Late Arrival App".into());
    late["appId"] = Value::String("0f0f0f0f-0000-4000-8000-000000000001".into());
    late["userId"] = Value::String("0f0f0f0f-0000-4000-8000-0000000000aa".into());
    late["userPrincipalName"] = Value::String("late@contoso.com".into());
    late["signInEventTypes"] = serde_json::json!(["interactiveUser"]);
    late["status"] = serde_json::json!({"errorCode": 0});
    let ingest = t.gh.token(TENANT, "ingest");
    let a = t.server.post(
        "/gatehouse/ingest",
        Some(&ingest),
        &[("Content-Type", "application/x-ndjson")],
        common::ndjson(&[late]).as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["stored"], 1, "{}", a.text());
    // `ask` checks HTTP (kept days) against the CLI (everything grouped) again.
    let after = t.ask("applications", &[]);
    let late_app = after["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appDisplayName"] == "Late Arrival App")
        .expect("the late record is counted");
    assert_eq!(u(&late_app["signIns"]), 1);
    assert_eq!(
        u(&after["total"]["signIns"]),
        u(&first["total"]["signIns"]) + 1
    );
}

/// The server's count of days answered from kept days (`hit`) or grouped (`miss`).
fn kept_days_counted(server: &Served, token: &str, result: &str) -> u64 {
    let text = server.get("/metrics", Some(token)).text();
    let line = format!("gatehouse_insights_days_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// The server groups the questions' days ahead of them: with no question asked, the metrics
/// show days grouped; the first question then reads them.
#[test]
fn the_server_groups_days_ahead_of_the_questions() {
    let gh = Gh::new();
    let sim = gh.simulate(&[
        "--users",
        "20",
        "--days",
        "3",
        "--seed",
        "3",
        "--start",
        "2026-10-05",
    ]);
    gh.ingest(&["--tenant".as_ref(), TENANT.as_ref(), sim.as_os_str()])
        .expect_code(0, "ingest");
    let token = gh.token(TENANT, "reports-reader");
    let server = Served::start(&gh, &[]);
    let days = |result: &str| kept_days_counted(&server, &token, result);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while days("miss") < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no day grouped ahead:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The round done: the counts stay put (the next round is a minute away, and would find
    // nothing changed).
    let mut seen = (days("hit"), days("miss"));
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = (days("hit"), days("miss"));
        if now == seen {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the round never ends");
        seen = now;
    }
    let (hits, misses) = seen;
    let a = server.get(
        "/gatehouse/insights/applications?from=2026-10-05&to=2026-10-08",
        Some(&token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(u(&a.json()["total"]["signIns"]) > 0);
    assert_eq!(days("hit"), hits + 3, "the three days came from memory");
    assert_eq!(days("miss"), misses, "nothing grouped again");
    let answer = a.json();
    server.stop();

    // The grouped days are kept in files too: `ask` reads them, and answers as it does when it
    // groups everything itself.
    let kept_dir = gh.data.join("_gatehouse").join("insights");
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(&kept_dir)
        .expect("a folder of kept days")
        .flatten()
        .flat_map(|q| std::fs::read_dir(q.path()).unwrap().flatten())
        .map(|f| f.path())
        .collect();
    assert!(
        kept.iter()
            .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
            .count()
            >= 3,
        "{kept:?}"
    );
    let ask = |extra: &[&str]| -> Value {
        let mut args = vec![
            "ask",
            "applications",
            "--json",
            "--tenant",
            TENANT,
            "--from",
            "2026-10-05",
            "--to",
            "2026-10-08",
        ];
        args.extend_from_slice(extra);
        let run = gh.run(&args);
        run.expect_code(0, "ask");
        serde_json::from_str(&run.stdout).unwrap()
    };
    let from_files = ask(&[]);
    assert_eq!(from_files, ask(&["--regroup"]));
    assert_eq!(from_files["total"], answer["total"]);

    // A restarted server reads them instead of grouping the days again.
    let server = Served::start(&gh, &[]);
    let days = |result: &str| kept_days_counted(&server, &token, result);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while days("hit") < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no kept day read:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let a = server.get(
        "/gatehouse/insights/applications?from=2026-10-05&to=2026-10-08",
        Some(&token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json(), answer);
    assert_eq!(days("miss"), 0, "a kept day was grouped again");
    server.stop();

    // Retention removes the first day: the server's next round deletes that day's kept files
    // and keeps the others'.
    let day_number = |d: &str| {
        (chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days()
    };
    let today = day_number(&chrono::Utc::now().format("%Y-%m-%d").to_string());
    // Retention keeps the days from (now - N days)'s on.
    let keep = (today - day_number("2026-10-06")).to_string();
    gh.run(&["retention", "--days", &keep])
        .expect_code(0, "retention");
    let kept_of = |day: &str| {
        let prefix = format!("{}-", day_number(day));
        std::fs::read_dir(&kept_dir)
            .unwrap()
            .flatten()
            .flat_map(|q| std::fs::read_dir(q.path()).unwrap().flatten())
            .filter(|f| f.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    };
    assert!(kept_of("2026-10-05") > 0 && kept_of("2026-10-06") > 0);
    let server = Served::start(&gh, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while kept_of("2026-10-05") > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the removed day's kept files stay:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(kept_of("2026-10-06") > 0, "the other days' files stay");
    assert!(kept_of("2026-10-07") > 0, "the other days' files stay");
}
