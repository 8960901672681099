//! Every sample under `testdata/formats` and `testdata/fixtures`, through the real binary.
//!
//! 1. Ingest both folders in one run and check the exact set of rejections: each expected one is
//!    listed below with the reason it is not a log record; any other rejection fails the test.
//! 2. Read every input again *independently of the product's readers* (plain `serde_json` and
//!    `csv`), work out which objects are log records, and compare each with what `gatehouse
//!    export` gives back: every input field must come back equal, modulo the documented
//!    normalisations (implemented here, separately): timestamps as instants, diagnostic records
//!    compared on `properties`, `userType` case, Conditional Access bitmasks ↔ flag names,
//!    provisioning PascalCase and integer enums, numbers sent as strings, null ≡ absent, floats
//!    within 1e-9 relative.
//! 3. Count rows per table with `gatehouse sql` against our own count of unique records.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::{clip, parse_instant, Gh, TABLES};
use serde_json::{Map, Value};

/// A rejection we expect: file (relative to `testdata/`), line, a piece of the reason, and why the
/// input is not a record.
struct Expected {
    file: &'static str,
    line: u64,
    reason: &'static str,
}

const NOT_A_RECORD: &str = "not a sign-in, audit, provisioning or risk record";
const NOT_CSV: &str = "not a recognised CSV export";
const NO_PROPERTIES: &str = "without `properties`";

fn expected_rejections() -> Vec<Expected> {
    let mut v = Vec::new();
    let mut add = |file: &'static str, line: u64, reason: &'static str| {
        v.push(Expected { file, line, reason })
    };
    // Time-format corner cases: each line is only `{"time": …, "category": "SignInLogs"}`, an
    // envelope without `properties`, so there is no event in it (11 lines in each of two copies).
    for line in 1..=11 {
        add(
            "formats/diag-time-format-variants.jsonl",
            line,
            NO_PROPERTIES,
        );
        add(
            "fixtures/diagnostic-logs/time-formats-corner-cases.log",
            line,
            NO_PROPERTIES,
        );
    }
    // A Graph error envelope (403 for a tenant without a premium licence): no records.
    add(
        "formats/graph-error-nonpremium-tenant.json",
        1,
        "Graph error response",
    );
    // Usage & insights report responses: aggregates, not events. Two are recognised by their
    // @odata.context; the other two have none, so each row is rejected for lacking event fields
    // (one relying-party object; six per-auth-method counters).
    add(
        "formats/graph-reports-applicationsignindetailedsummary-beta-response.json",
        1,
        "report response",
    );
    add(
        "formats/graph-reports-applicationsigninsummary-beta-response.json",
        1,
        "report response",
    );
    add(
        "formats/graph-reports-relyingpartydetailedsummary-beta-response.json",
        1,
        NOT_A_RECORD,
    );
    for _ in 0..6 {
        add(
            "formats/graph-reports-usersigninsbyauthmethodsummary-beta-response.json",
            1,
            NOT_A_RECORD,
        );
    }
    // Conditional Access policy fragments (the `appliedConditionalAccessPolicies` items of a
    // sign-in, on their own): four objects starting on these lines of a JSON array.
    for line in [2, 15, 31, 50] {
        add(
            "formats/graph-signin-beta-appliedcapolicies-sample.json",
            line,
            NOT_A_RECORD,
        );
    }
    // Summarized (aggregated) non-interactive sign-ins: two rows of counts, no createdDateTime.
    for _ in 0..2 {
        add(
            "formats/graph-summarizedsignin-beta-response.json",
            1,
            NOT_A_RECORD,
        );
    }
    // Log Analytics query result rows of an mv-expanded ConditionalAccessPolicies column: one
    // policy per row, no sign-in Id.
    for line in [2, 27] {
        add(
            "formats/la-conditionalaccesspolicies-expanded-sample.json",
            line,
            "mv-expanded ConditionalAccessPolicies",
        );
    }
    // Microsoft Graph activity logs (API request logs): a diagnostic category Gatehouse does not
    // store.
    for f in [
        "fixtures/forwarder-wrapped/diagnostic/graph_activity.json",
        "fixtures/forwarder-wrapped/diagnostic/graph_activity_1.json",
        "fixtures/forwarder-wrapped/diagnostic/graph_activity_2.json",
    ] {
        add(f, 1, "`MicrosoftGraphActivityLogs`");
    }
    // Notes in the fixture folders (a Markdown table, two text notes, a one-line commit hash):
    // plain text, read as CSV and refused whole.
    add("fixtures/MANIFEST.md", 1, NOT_CSV);
    add("fixtures/azure-sentinel/SOURCE.txt", 1, NOT_CSV);
    add("fixtures/azure-sentinel/SOURCE_COMMIT.txt", 1, NOT_CSV);
    add("fixtures/diagnostic-logs/SOURCE.txt", 1, NOT_CSV);
    v
}

// ---------------------------------------------------------------------------------------------
// Reading the inputs independently.

/// How a record reached the store.
#[derive(Debug, Clone)]
enum Shape {
    /// A Graph object (possibly inside a list response or a forwarder's wrapper).
    Graph,
    /// A diagnostic record: the envelope (everything but `properties`) and its category.
    Diagnostic {
        category: String,
        envelope: Map<String, Value>,
    },
    /// A Log Analytics CSV row: header → cell.
    LogAnalytics { row: BTreeMap<String, String> },
}

#[derive(Debug, Clone)]
struct Candidate {
    file: String,
    table: &'static str,
    /// The Graph body (diagnostic: `properties`; Log Analytics: empty).
    body: Map<String, Value>,
    shape: Shape,
}

impl Candidate {
    fn id(&self) -> String {
        match &self.shape {
            Shape::LogAnalytics { row } => row.get("Id").cloned().unwrap_or_default(),
            _ => self.body["id"].as_str().unwrap_or_default().to_string(),
        }
    }

    /// The event time (the table's time column; diagnostic records fall back on `time`).
    fn time(&self) -> String {
        let col = time_column(self.table);
        if let Shape::LogAnalytics { row } = &self.shape {
            return row
                .get("CreatedDateTime [UTC]")
                .or_else(|| row.get("TimeGenerated [UTC]"))
                .cloned()
                .unwrap_or_default();
        }
        match (self.body.get(col), &self.shape) {
            (Some(Value::String(s)), _) => s.clone(),
            (_, Shape::Diagnostic { envelope, .. }) => envelope
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("time"))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        }
    }

    /// What makes a record itself: its table, id and event time, and its content (two records
    /// sharing an id but not their content are both stored).
    fn key(&self) -> (&'static str, String, i64, String) {
        let t = self.time();
        let instant =
            parse_instant(&t).unwrap_or_else(|| panic!("{}: unparseable time {t:?}", self.file));
        let content = match &self.shape {
            Shape::LogAnalytics { row } => format!("{:?}", row.iter().collect::<BTreeMap<_, _>>()),
            // The category decides the sign-in type (`signInEventTypes`) when the body has none;
            // Microsoft's own service principals sign in as service principals.
            Shape::Diagnostic { category, .. } => format!(
                "{} {}",
                category.trim_start_matches("Microsoft"),
                Value::Object(self.body.clone())
            ),
            // `serde_json::Map` keeps its keys sorted: equal objects print alike.
            Shape::Graph => Value::Object(self.body.clone()).to_string(),
        };
        (self.table, self.id(), instant, content)
    }
}

fn time_column(table: &str) -> &'static str {
    match table {
        "signins" => "createdDateTime",
        "riskyUsers" => "riskLastUpdatedDateTime",
        "riskDetections" => "detectedDateTime",
        _ => "activityDateTime",
    }
}

/// The table a diagnostic category lands in, or `None` for categories that hold no sign-in,
/// audit, provisioning or user-risk events.
fn category_table(category: &str) -> Option<&'static str> {
    Some(match category.to_ascii_lowercase().as_str() {
        "signinlogs"
        | "noninteractiveusersigninlogs"
        | "serviceprincipalsigninlogs"
        | "microsoftserviceprincipalsigninlogs"
        | "managedidentitysigninlogs"
        | "adfssigninlogs" => "signins",
        "auditlogs" => "audits",
        "provisioninglogs" => "provisioning",
        "riskyusers" => "riskyUsers",
        "userriskevents" => "riskDetections",
        _ => return None,
    })
}

/// The table of a Graph object, judged by the fields each resource has.
fn graph_table(o: &Map<String, Value>) -> Option<&'static str> {
    let has = |k: &str| o.contains_key(k);
    if has("createdDateTime") && has("id") {
        Some("signins")
    } else if has("riskLastUpdatedDateTime") {
        Some("riskyUsers")
    } else if has("riskEventType") {
        Some("riskDetections")
    } else if has("activityDateTime")
        && (has("provisioningAction") || has("jobId") || has("cycleId") || has("provisioningSteps"))
    {
        Some("provisioning")
    } else if has("activityDateTime") && has("activityDisplayName") {
        Some("audits")
    } else {
        None
    }
}

fn expand(v: Value, file: &str, out: &mut Vec<Candidate>) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| expand(i, file, out)),
        Value::Object(mut o) => {
            if o.get("error").is_some_and(Value::is_object) {
                return; // a Graph error response
            }
            if let Some(Value::Array(items)) = o.remove("value") {
                items.into_iter().for_each(|i| expand(i, file, out));
                return;
            }
            if let Some(Value::Array(items)) = o.remove("records") {
                items.into_iter().for_each(|i| expand(i, file, out));
                return;
            }
            if let Some(msg) = o
                .get("input")
                .and_then(|i| i.get("message"))
                .and_then(Value::as_str)
            {
                let inner: Value = serde_json::from_str(msg)
                    .unwrap_or_else(|e| panic!("{file}: wrapped message is not JSON: {e}"));
                expand(inner, file, out);
                return;
            }
            let graph_like = o.contains_key("id")
                && (o.contains_key("createdDateTime") || o.contains_key("activityDateTime"));
            if o.contains_key("category")
                && (o.contains_key("properties") || o.contains_key("time"))
                && !graph_like
            {
                let category = o["category"].as_str().unwrap_or_default().to_string();
                let Some(table) = category_table(&category) else {
                    return;
                };
                let Some(Value::Object(body)) = o.remove("properties") else {
                    return; // an envelope without an event
                };
                out.push(Candidate {
                    file: file.to_string(),
                    table,
                    body,
                    shape: Shape::Diagnostic {
                        category,
                        envelope: o,
                    },
                });
                return;
            }
            if o.contains_key("TimeGenerated") || o.contains_key("RequestId") {
                // Log Analytics query rows; the only ones in the samples have no Id.
                assert!(
                    !o.contains_key("Id"),
                    "{file}: unexpected Log Analytics JSON row with an Id"
                );
                return;
            }
            if let Some(table) = graph_table(&o) {
                out.push(Candidate {
                    file: file.to_string(),
                    table,
                    body: o,
                    shape: Shape::Graph,
                });
            }
        }
        _ => {}
    }
}

/// Files under `dir` in the order `gatehouse` walks them: sorted by name at each level, depth
/// first, hidden entries skipped.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn read_candidates(root: &Path, file: &Path) -> Vec<Candidate> {
    let rel = file
        .strip_prefix(root)
        .expect("under testdata")
        .to_string_lossy()
        .into_owned();
    let bytes = std::fs::read(file).expect("read input");
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_start_matches('\u{feff}');
    let mut out = Vec::new();
    if rel.ends_with(".csv") {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = rdr
            .headers()
            .expect("csv header")
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        for rec in rdr.records() {
            let rec = rec.unwrap_or_else(|e| panic!("{rel}: bad CSV row: {e}"));
            let row: BTreeMap<String, String> = headers
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect();
            out.push(Candidate {
                file: rel.clone(),
                table: "signins",
                body: Map::new(),
                shape: Shape::LogAnalytics { row },
            });
        }
        return out;
    }
    if !text.trim_start().starts_with(['{', '[']) {
        return out; // notes, not exports
    }
    for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let v = v.unwrap_or_else(|e| panic!("{rel}: not JSON: {e}"));
        expand(v, &rel, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The documented normalisations, and the comparison.

/// `conditionalAccessConditions` flags by bit.
const CA_FLAGS: &[&str] = &[
    "application",
    "users",
    "devicePlatform",
    "location",
    "clientType",
    "signInRisk",
    "userRisk",
    "time",
    "deviceState",
    "client",
    "ipAddressSeenByAzureAD",
    "ipAddressSeenByResourceProvider",
    "unknownFutureValue",
    "servicePrincipals",
    "servicePrincipalRisk",
    "authenticationFlows",
    "insiderRisk",
];

fn ca_flags(bits: u64) -> String {
    if bits == 0 {
        return "none".into();
    }
    (0..64)
        .filter(|i| bits & (1u64 << i) != 0)
        .map(|i| {
            CA_FLAGS
                .get(i)
                .map_or_else(|| format!("bit{i}"), |s| s.to_string())
        })
        .collect::<Vec<_>>()
        .join(",")
}

const STEP_TYPES: &[&str] = &[
    "import",
    "scoping",
    "matching",
    "processing",
    "referenceResolution",
    "export",
];
const RESULTS: &[&str] = &["success", "failure", "skipped", "warning"];

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn rename(o: &mut Map<String, Value>, from: &str, to: &str) {
    if !o.contains_key(to) {
        if let Some(v) = o.remove(from) {
            o.insert(to.into(), v);
        }
    }
}

fn int_name(v: &mut Value, names: &[&str]) {
    if let Some(n) = v.as_u64() {
        if let Some(name) = names.get(n as usize) {
            *v = Value::String((*name).into());
        }
    }
    if let Value::String(s) = v {
        *s = lower_first(s);
    }
}

/// The input body as Graph spells it: the renames and enum translations of the documented
/// normalisations. (Value-level equivalences are in [`same`].)
fn normalise(table: &str, body: &Map<String, Value>) -> Map<String, Value> {
    let mut b = body.clone();
    if table == "signins" || table == "riskDetections" {
        if let Some(Value::String(s)) = b.get_mut("userType") {
            *s = lower_first(s); // Member → member
        }
    }
    if table == "signins" {
        if let Some(Value::Array(policies)) = b.get_mut("appliedConditionalAccessPolicies") {
            for p in policies.iter_mut().filter_map(Value::as_object_mut) {
                for k in ["conditionsSatisfied", "conditionsNotSatisfied"] {
                    let bits = match p.get(k) {
                        Some(Value::Number(n)) => n.as_u64(),
                        Some(Value::String(s)) if s.bytes().all(|b| b.is_ascii_digit()) => {
                            s.parse().ok()
                        }
                        _ => None,
                    };
                    if let Some(bits) = bits {
                        p.insert(k.into(), Value::String(ca_flags(bits)));
                    }
                }
                for k in ["includeRulesSatisfied", "excludeRulesSatisfied"] {
                    if let Some(Value::Array(rules)) = p.get_mut(k) {
                        for r in rules.iter_mut() {
                            if let Some(Ok(v @ Value::Object(_))) =
                                r.as_str().map(serde_json::from_str::<Value>)
                            {
                                *r = v; // rule objects sent as JSON text
                            }
                        }
                    }
                }
            }
        }
    }
    if table == "audits" {
        // Reference §3.1: a docs example capitalises `targetResources[].Type`.
        if let Some(Value::Array(targets)) = b.get_mut("targetResources") {
            for t in targets.iter_mut().filter_map(Value::as_object_mut) {
                rename(t, "Type", "type");
            }
        }
    }
    if table == "provisioning" {
        for k in [
            "servicePrincipal",
            "sourceSystem",
            "targetSystem",
            "sourceIdentity",
            "targetIdentity",
        ] {
            if let Some(Value::Object(o)) = b.get_mut(k) {
                rename(o, "Id", "id");
                rename(o, "Name", "displayName");
            }
        }
        if let Some(Value::Object(o)) = b.get_mut("initiatedBy") {
            rename(o, "Id", "id");
            rename(o, "Name", "displayName");
            rename(o, "Type", "initiatorType");
            // Reference §3.2: docs examples spell it `initiatingType`.
            rename(o, "initiatingType", "initiatorType");
        }
        if let Some(Value::Object(o)) = b.get_mut("provisioningStatusInfo") {
            rename(o, "Status", "status");
            if let Some(s) = o.get_mut("status") {
                int_name(s, RESULTS);
            }
        }
        if let Some(Value::Array(steps)) = b.get_mut("provisioningSteps") {
            for s in steps.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(t) = s.get_mut("provisioningStepType") {
                    int_name(t, STEP_TYPES);
                }
                if let Some(t) = s.get_mut("status") {
                    int_name(t, RESULTS);
                }
            }
        }
    }
    b
}

fn num_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn floats_equal(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Compares an input value with the value read back, appending differences to `diffs`.
fn same(path: &str, input: &Value, output: &Value, diffs: &mut Vec<String>) {
    match (input, output) {
        (Value::Null, Value::Null) => {}
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                same(
                    &format!("{path}.{k}"),
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    diffs,
                );
            }
        }
        (Value::Object(a), Value::Null) if a.values().all(Value::is_null) => {}
        (Value::Null, Value::Object(b)) if b.values().all(Value::is_null) => {}
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                diffs.push(format!(
                    "{path}: {} items in, {} out\n    in:  {}\n    out: {}",
                    a.len(),
                    b.len(),
                    clip(&input.to_string()),
                    clip(&output.to_string())
                ));
                return;
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(&format!("{path}[{i}]"), x, y, diffs);
            }
        }
        (Value::String(a), Value::String(b)) => {
            if a == b {
                return;
            }
            if let (Some(x), Some(y)) = (parse_instant(a), parse_instant(b)) {
                if x == y {
                    return;
                }
            }
            diffs.push(format!("{path}: {input} in, {output} out"));
        }
        (Value::Bool(a), Value::String(s)) | (Value::String(s), Value::Bool(a))
            if s.eq_ignore_ascii_case(&a.to_string()) => {}
        (Value::Number(_) | Value::String(_), Value::Number(_) | Value::String(_)) => {
            match (num_of(input), num_of(output)) {
                (Some(x), Some(y)) if floats_equal(x, y) => {}
                _ => diffs.push(format!("{path}: {input} in, {output} out")),
            }
        }
        _ if input == output => {}
        _ => diffs.push(format!(
            "{path}: {} in, {} out",
            clip(&input.to_string()),
            clip(&output.to_string())
        )),
    }
}

/// The sign-in type a record without `signInEventTypes` must be given.
fn expected_signin_kind(c: &Candidate) -> &'static str {
    let b = &c.body;
    if let Shape::Diagnostic { category, .. } = &c.shape {
        match category.to_ascii_lowercase().as_str() {
            "signinlogs" => return "interactiveUser",
            "noninteractiveusersigninlogs" => return "nonInteractiveUser",
            "serviceprincipalsigninlogs" | "microsoftserviceprincipalsigninlogs" => {
                return "servicePrincipal"
            }
            "managedidentitysigninlogs" => return "managedIdentity",
            _ => {}
        }
    }
    let msi = b
        .get("managedServiceIdentity")
        .and_then(|m| m.get("msiType"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty() && t != "none");
    let user = ["userId", "userPrincipalName"].iter().any(|k| {
        b.get(*k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    });
    let sp = b
        .get("servicePrincipalId")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if msi {
        "managedIdentity"
    } else if !user && sp {
        "servicePrincipal"
    } else if b.get("isInteractive") == Some(&Value::Bool(false)) {
        "nonInteractiveUser"
    } else {
        "interactiveUser"
    }
}

/// The differences between an input record and the record exported for it.
fn compare(c: &Candidate, out: &Map<String, Value>) -> Vec<String> {
    let mut expected = normalise(c.table, &c.body);
    let col = time_column(c.table);
    if !expected.contains_key(col) {
        // A diagnostic record whose event time is only in the envelope's `time`.
        expected.insert(col.into(), Value::String(c.time()));
    }
    if c.table == "signins" && !expected.contains_key("signInEventTypes") {
        let kind = expected_signin_kind(c);
        expected.insert("signInEventTypes".into(), serde_json::json!([kind]));
    }
    let mut diffs = Vec::new();
    same(
        "",
        &Value::Object(expected),
        &Value::Object(out.clone()),
        &mut diffs,
    );
    diffs
}

/// Log Analytics rows are renamed, not round-tripped: check the id, the time and a few columns.
fn compare_la(row: &BTreeMap<String, String>, out: &Map<String, Value>) -> Vec<String> {
    let mut diffs = Vec::new();
    let cell = |k: &str| row.get(k).map(String::as_str).unwrap_or_default();
    let mut check = |what: &str, input: Value, output: &Value| {
        // An empty Log Analytics cell is "no value".
        let input = match input {
            Value::String(s) if s.is_empty() => Value::Null,
            other => other,
        };
        same(what, &input, output, &mut diffs);
    };
    check("id", Value::String(cell("Id").into()), &out["id"]);
    check(
        "createdDateTime",
        Value::String(cell("CreatedDateTime [UTC]").into()),
        &out["createdDateTime"],
    );
    for (col, field) in [
        ("AppDisplayName", "appDisplayName"),
        ("AppId", "appId"),
        ("IPAddress", "ipAddress"),
        ("UserPrincipalName", "userPrincipalName"),
        ("UserDisplayName", "userDisplayName"),
        ("ClientAppUsed", "clientAppUsed"),
        ("ConditionalAccessStatus", "conditionalAccessStatus"),
        ("ResourceIdentity", "resourceId"),
    ] {
        check(field, Value::String(cell(col).into()), &out[field]);
    }
    check(
        "userType",
        Value::String(lower_first(cell("UserType"))),
        &out["userType"],
    );
    check(
        "isInteractive",
        Value::String(cell("IsInteractive").to_ascii_lowercase()),
        &out["isInteractive"],
    );
    for (col, field) in [
        ("DeviceDetail_dynamic", "deviceDetail"),
        ("LocationDetails_dynamic", "location"),
        ("Status_dynamic", "status"),
    ] {
        let parsed: Value = serde_json::from_str(cell(col))
            .unwrap_or_else(|e| panic!("{col} is not JSON: {e}: {}", cell(col)));
        check(field, parsed, &out[field]);
    }
    check(
        "signInEventTypes",
        serde_json::json!(["interactiveUser"]),
        &out["signInEventTypes"],
    );
    diffs
}

#[test]
fn every_sample_ingests_and_reads_back() {
    let data = testdata_checked();
    let gh = Gh::new();
    let formats = data.join("formats");
    let fixtures = data.join("fixtures");
    let run = gh.ingest(&[&formats, &fixtures]);
    run.expect_code(
        2,
        "ingest of formats + fixtures (some inputs are not records)",
    );
    let summary = run.summary();

    // 1. Exactly the expected rejections.
    let prefix = format!("{}/", data.display());
    let mut missing = expected_rejections();
    let mut unexpected = Vec::new();
    for r in &summary.rejected {
        let rel = r.file.strip_prefix(&prefix).unwrap_or(&r.file);
        match missing
            .iter()
            .position(|e| e.file == rel && e.line == r.line && r.reason.contains(e.reason))
        {
            Some(i) => {
                missing.remove(i);
            }
            None => unexpected.push(format!("{rel}:{}: {}", r.line, r.reason)),
        }
    }
    let missing: Vec<String> = missing
        .iter()
        .map(|e| format!("{}:{}: …{}…", e.file, e.line, e.reason))
        .collect();
    assert!(
        unexpected.is_empty() && missing.is_empty(),
        "rejections differ from the expected list\nunexpected:\n  {}\nexpected but absent:\n  {}",
        unexpected.join("\n  "),
        missing.join("\n  ")
    );

    // 2. Our own reading of the inputs, in the order the binary walks them.
    let mut files = Vec::new();
    walk(&formats, &mut files);
    walk(&fixtures, &mut files);
    let mut candidates = Vec::new();
    for f in &files {
        candidates.extend(read_candidates(&data, f));
    }
    // The first occurrence of a record is the one stored; later ones are duplicates.
    let mut first: HashMap<(&'static str, String, i64, String), Candidate> = HashMap::new();
    let mut order = Vec::new();
    for c in &candidates {
        let key = c.key();
        if let std::collections::hash_map::Entry::Vacant(e) = first.entry(key.clone()) {
            order.push(key);
            e.insert(c.clone());
        }
    }
    let duplicates = candidates.len() - first.len();
    assert!(
        first.len() > 100,
        "the samples should hold well over 100 records, found {}",
        first.len()
    );
    assert_eq!(
        summary.stored as usize,
        first.len(),
        "records stored by the run vs unique records in the inputs"
    );
    assert_eq!(
        summary.duplicates as usize, duplicates,
        "duplicates skipped vs records seen twice in the inputs"
    );

    // 3. Counts per table, from the store.
    let mut expected_per_table: BTreeMap<&str, i64> = BTreeMap::new();
    for k in &order {
        *expected_per_table.entry(k.0).or_default() += 1;
    }
    for t in TABLES {
        let want = expected_per_table.get(t).copied().unwrap_or(0);
        assert_eq!(gh.count(t), want, "rows in {t}");
        assert_eq!(summary.table(t) as i64, want, "summary line for {t}");
    }

    // 4. Round trip.
    let mut problems = Vec::new();
    for t in TABLES {
        let exported = gh.export(t);
        assert_eq!(
            exported.len() as i64,
            expected_per_table.get(t).copied().unwrap_or(0),
            "records exported from {t}"
        );
        let mut by_key: HashMap<(String, i64), Vec<&Map<String, Value>>> = HashMap::new();
        for o in &exported {
            let id = o["id"].as_str().unwrap_or_default().to_string();
            let time = o[time_column(t)].as_str().unwrap_or_default();
            let instant = parse_instant(time)
                .unwrap_or_else(|| panic!("exported {t} record {id}: bad time {time:?}"));
            by_key.entry((id, instant)).or_default().push(o);
        }
        // Records sharing an id and time but not their content are all stored: each must read
        // back as one of the exported versions, and there must be as many versions as records.
        let mut versions: HashMap<(String, i64), usize> = HashMap::new();
        for key in order.iter().filter(|k| k.0 == *t) {
            *versions.entry((key.1.clone(), key.2)).or_default() += 1;
        }
        for key in order.iter().filter(|k| k.0 == *t) {
            let c = &first[key];
            let Some(outs) = by_key.get(&(key.1.clone(), key.2)) else {
                problems.push(format!("{}: {t} record {} not exported", c.file, key.1));
                continue;
            };
            let want = versions[&(key.1.clone(), key.2)];
            if outs.len() != want {
                problems.push(format!(
                    "{}: {t} record {} exported {} times, not {want}",
                    c.file,
                    key.1,
                    outs.len()
                ));
                continue;
            }
            let diffs: Vec<Vec<String>> = outs
                .iter()
                .map(|out| match &c.shape {
                    Shape::LogAnalytics { row } => compare_la(row, out),
                    _ => compare(c, out),
                })
                .collect();
            if diffs.iter().all(|d| !d.is_empty()) {
                problems.push(format!(
                    "{}: {t} record {}:\n  {}",
                    c.file,
                    key.1,
                    diffs[0].join("\n  ")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} record(s) do not read back as they were ingested:\n{}",
        problems.len(),
        problems.join("\n")
    );

    // 5. Diagnostic envelopes are kept beside the body.
    let mut envelopes_checked = 0;
    for t in TABLES {
        let col = time_column(t);
        let rows = gh.sql(&format!(
            "SELECT id, \"{col}\" AS t, \"_envelope\" AS e FROM \"{t}\" WHERE \"_source\" LIKE 'diagnostic:%'"
        ));
        let mut stored: HashMap<(String, i64), Vec<Value>> = HashMap::new();
        for r in rows {
            let id = r["id"].as_str().unwrap_or_default().to_string();
            let instant = parse_instant(r["t"].as_str().unwrap_or_default()).expect("time");
            let env = match &r["e"] {
                Value::String(s) => serde_json::from_str(s).expect("envelope JSON"),
                other => other.clone(),
            };
            stored.entry((id, instant)).or_default().push(env);
        }
        for key in order.iter().filter(|k| k.0 == *t) {
            let c = &first[key];
            let Shape::Diagnostic { envelope, .. } = &c.shape else {
                continue;
            };
            let envs = stored
                .get(&(key.1.clone(), key.2))
                .unwrap_or_else(|| panic!("{}: no _envelope for {}", c.file, key.1));
            // One of the versions stored under this id and time has this envelope.
            let diffs = envs
                .iter()
                .map(|env| {
                    let mut diffs = Vec::new();
                    same(
                        "_envelope",
                        &Value::Object(envelope.clone()),
                        env,
                        &mut diffs,
                    );
                    diffs
                })
                .min_by_key(Vec::len)
                .unwrap_or_default();
            assert!(
                diffs.is_empty(),
                "{}: envelope of {}:\n  {}",
                c.file,
                key.1,
                diffs.join("\n  ")
            );
            envelopes_checked += 1;
        }
    }
    assert!(envelopes_checked > 30, "only {envelopes_checked} envelopes");
}

fn testdata_checked() -> PathBuf {
    let d = common::testdata();
    assert!(d.join("formats").is_dir() && d.join("fixtures").is_dir());
    d
}
