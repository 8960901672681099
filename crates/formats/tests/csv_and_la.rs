//! Log Analytics rows (JSON and CSV) and Entra admin center CSV downloads.

#![recursion_limit = "256"]

use std::path::PathBuf;

use gatehouse_formats::csv_input::read_csv;
use gatehouse_formats::loganalytics::{looks_like_row, row_to_record};
use gatehouse_formats::portal::{PortalCsvKind, PortalHeader};
use gatehouse_formats::{Object, Record};
use gatehouse_model::time::parse_timestamp;
use gatehouse_model::LogKind;
use serde_json::{json, Value};

/// A file under the repository's `testdata/` (sources in `testdata/NOTICE.md`).
fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

const SENTINEL_CSV: &str = "fixtures/azure-sentinel/sign-in_adelete.first3rows.csv";

type Rows = Vec<(u64, Result<Record, String>)>;

fn read(bytes: &[u8], name: Option<&str>) -> (Rows, Result<(), String>) {
    let mut rows = Vec::new();
    let mut reader = bytes;
    let result = read_csv(&mut reader, name, &mut |line, r| rows.push((line, r)));
    (rows, result)
}

fn ok(r: &(u64, Result<Record, String>)) -> &Record {
    match &r.1 {
        Ok(rec) => rec,
        Err(e) => panic!("line {}: unexpected rejection: {e}", r.0),
    }
}

fn at<'a>(v: &'a Object, path: &str) -> &'a Value {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let mut cur = v.get(first).unwrap_or(&Value::Null);
    for p in parts {
        cur = match cur {
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get(i)),
            Value::Object(o) => o.get(p),
            _ => None,
        }
        .unwrap_or(&Value::Null);
    }
    cur
}

fn obj(v: Value) -> Object {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The real Log Analytics portal CSV export (Azure-Sentinel training lab).

#[test]
fn sentinel_la_csv_export() {
    let bytes = std::fs::read(testdata(SENTINEL_CSV)).expect("fixture present");
    let (rows, result) = read(&bytes, Some("sign-in_adelete.first3rows.csv"));
    assert_eq!(result, Ok(()));
    assert_eq!(rows.len(), 3);
    // Rows start after multi-line JSON cells: line numbers are each row's first line.
    let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(lines, [2, 18, 34]);

    let ids = [
        "cfb68155-70f5-4e28-b046-0a3a7086c401",
        "ff7972e5-bd41-4c6a-9cc9-c34dc63e5701",
        "797afc36-b046-45b1-93bf-7d0b66357301",
    ];
    for (row, id) in rows.iter().zip(ids) {
        let rec = ok(row);
        let b = &rec.body;
        assert_eq!(rec.log, LogKind::SignIns);
        assert_eq!(rec.source, "loganalytics:SigninLogs");
        assert_eq!(b["id"], json!(id));
        assert_eq!(
            rec.tenant_id.as_deref(),
            Some("2ad3fc79-1859-42fa-9011-6f8df2251b22"),
            "tenant from AADTenantId, not the workspace TenantId"
        );
        let created = b["createdDateTime"].as_str().expect("createdDateTime text");
        assert!(created.starts_with("4/28/2021, "), "{created}");
        assert!(parse_timestamp(created).is_ok());
        // JSON cells parsed back (the `_dynamic` half of each pair).
        assert_eq!(at(b, "deviceDetail.operatingSystem"), &json!("Windows 10"));
        assert_eq!(at(b, "deviceDetail.browser"), &json!("Edge 90.0.818"));
        assert_eq!(at(b, "location.city"), &json!("Azor"));
        assert_eq!(at(b, "location.state"), &json!("Tel Aviv"));
        assert_eq!(at(b, "location.countryOrRegion"), &json!("IL"));
        assert!(at(b, "location.geoCoordinates.latitude").is_f64());
        assert_eq!(at(b, "status.errorCode"), &json!(0));
        assert_eq!(b["mfaDetail"], json!({}));
        // Integer CA conditions are kept for the normaliser.
        let policy = at(b, "appliedConditionalAccessPolicies.0");
        assert_eq!(policy["conditionsSatisfied"], json!(0));
        assert_eq!(policy["result"], json!("notEnabled"));
        assert_eq!(policy["id"], json!("defb835a-eb9f-4346-a2ca-7a9184867bf1"));
        // Typed scalars.
        assert_eq!(b["isInteractive"], json!(true));
        assert!(b["processingTimeInMilliseconds"].is_i64());
        assert_eq!(at(b, "authenticationDetails.0.succeeded"), &json!(true));
        assert_eq!(at(b, "authenticationDetails.0.StatusSequence"), &json!(0));
        assert_eq!(b["riskEventTypes_v2"], json!([]));
        assert_eq!(b["authenticationRequirementPolicies"], json!([]));
        assert_eq!(b["userType"], json!("Member"));
        assert_eq!(b["conditionalAccessStatus"], json!("notApplied"));
        assert_eq!(b["ipAddress"], json!("175.45.176.99"));
        assert_eq!(b["appId"].as_str().map(str::len), Some(36));
        assert_eq!(b["signInEventTypes"], json!(["interactiveUser"]));
        // No envelope column leaks into the body.
        for k in [
            "TenantId",
            "tenantId",
            "Level",
            "Type",
            "Category",
            "OperationName",
        ] {
            assert!(!b.contains_key(k), "{k} in body");
        }
        assert!(!b.contains_key("AADTenantId"));
        let env = rec.envelope.as_ref().expect("envelope");
        assert_eq!(
            env["TenantId"],
            json!("7c759f10-811c-4db8-ad6d-f07d8ae3f8ea")
        );
        assert_eq!(env["Level"], json!("4"));
        assert_eq!(env["Type"], json!("SigninLogs"));
        assert_eq!(env["Category"], json!("SignInLogs"));
        assert_eq!(env["OperationName"], json!("Sign-in activity"));
        assert_eq!(
            env["AADTenantId"],
            json!("2ad3fc79-1859-42fa-9011-6f8df2251b22")
        );
        assert_eq!(env["Location"], json!("IL"));
        assert!(env
            .keys()
            .all(|k| !k.ends_with("_dynamic") && !k.ends_with("_string")));
        assert!(
            !env.contains_key("ResultDescription"),
            "empty cells are absent"
        );
    }
    let first = ok(&rows[0]);
    assert_eq!(
        first.body["resourceId"],
        json!("797f4846-ba00-4fd7-ba43-dac1f8f63013"),
        "ResourceIdentity is the Graph resourceId"
    );
    assert_eq!(first.body["processingTimeInMilliseconds"], json!(3535));
    assert_eq!(first.body["appDisplayName"], json!("Azure Portal"));
    // The third row has empty ResourceIdentity/ResourceDisplayName: absent, not "".
    let third = ok(&rows[2]);
    assert!(!third.body.contains_key("resourceId"));
    assert!(!third.body.contains_key("resourceDisplayName"));
    assert_eq!(
        at(&third.body, "authenticationProcessingDetails.0.key"),
        &json!("Login Hint Present")
    );
}

#[test]
fn la_csv_prefers_the_non_empty_half_of_a_pair_and_reports_missing_cells() {
    let csv = "TimeGenerated [UTC],Id,Type,AADTenantId,Status_dynamic,Status_string,DeviceDetail_dynamic,DeviceDetail_string,IsInteractive,CreatedDateTime [UTC]\n\
2024-05-01T10:00:00Z,a1,AADNonInteractiveUserSignInLogs,t1,,\"{\"\"errorCode\"\":50126}\",\"{\"\"isCompliant\"\":true}\",,False,\"5/1/2024, 9:59:58.120 AM\"\n\
2024-05-01T10:00:01Z,a2,AADNonInteractiveUserSignInLogs,t1\n\
2024-05-01T10:00:02Z,a3,AADNonInteractiveUserSignInLogs,t1,,,,,,\n";
    let (rows, result) = read(csv.as_bytes(), None);
    assert_eq!(result, Ok(()));
    assert_eq!(rows.len(), 3);
    let a1 = ok(&rows[0]);
    assert_eq!(rows[0].0, 2);
    assert_eq!(a1.source, "loganalytics:AADNonInteractiveUserSignInLogs");
    assert_eq!(at(&a1.body, "status.errorCode"), &json!(50126));
    assert_eq!(at(&a1.body, "deviceDetail.isCompliant"), &json!(true));
    assert_eq!(a1.body["isInteractive"], json!(false));
    assert_eq!(
        a1.body["createdDateTime"],
        json!("5/1/2024, 9:59:58.120 AM")
    );
    assert_eq!(a1.body["signInEventTypes"], json!(["nonInteractiveUser"]));
    assert_eq!(
        a1.envelope.as_ref().map(|e| e["TimeGenerated"].clone()),
        Some(json!("2024-05-01T10:00:00Z")),
        "the [UTC] suffix is stripped"
    );
    // The short row is rejected, naming the count; the rows around it still come through.
    assert_eq!(rows[1].0, 3);
    let err = rows[1].1.as_ref().expect_err("short row");
    assert!(
        err.contains("row has 4 columns, the header has 10"),
        "{err}"
    );
    assert!(err.contains("`Status_dynamic`"), "{err}");
    let a3 = ok(&rows[2]);
    assert_eq!(a3.body["id"], json!("a3"));
    assert_eq!(
        a3.body["createdDateTime"],
        json!("2024-05-01T10:00:02Z"),
        "TimeGenerated stands in for a missing CreatedDateTime"
    );
}

#[test]
fn multi_line_cells_keep_first_line_numbers() {
    let csv = "Id,Type,TimeGenerated,AADTenantId,Status\r\n\
r1,SigninLogs,2024-01-01T00:00:00Z,t,\"{\r\n  \"\"errorCode\"\": 0\r\n}\"\r\n\
\r\n\
r2,SigninLogs,2024-01-01T00:00:01Z,t,\"{\n\"\"errorCode\"\":\n50126,\n\"\"failureReason\"\":\n\"\"Invalid username or password\"\"}\"\n\
r3,SigninLogs,2024-01-01T00:00:02Z,t,\"{}\"\n";
    let (rows, result) = read(csv.as_bytes(), None);
    assert_eq!(result, Ok(()));
    let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(lines, [2, 6, 11]);
    assert_eq!(at(&ok(&rows[1]).body, "status.errorCode"), &json!(50126));
    assert_eq!(
        at(&ok(&rows[1]).body, "status.failureReason"),
        &json!("Invalid username or password")
    );
    // Blank lines before the header and between rows are counted too.
    let csv = "\n\nId,Type,TimeGenerated\nx,SigninLogs,2024-01-01T00:00:00Z\n\n\ny,SigninLogs,2024-01-01T00:00:00Z";
    let (rows, result) = read(csv.as_bytes(), None);
    assert_eq!(result, Ok(()));
    let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(lines, [4, 7]);
}

/// The whole Azure-Sentinel export the three rows above come from: 56 sign-ins, each with its
/// own `Id`; four pairs of rows share a `CorrelationId` (a sign-in interrupted, then completed).
#[test]
fn sentinel_la_csv_export_whole_file() {
    let bytes = std::fs::read(testdata("fixtures/azure-sentinel/sign-in_adelete.csv"))
        .expect("fixture present");
    assert_eq!(bytes.len(), 112_758, "the upstream file, byte for byte");
    let (rows, result) = read(&bytes, Some("sign-in_adelete.csv"));
    assert_eq!(result, Ok(()));
    assert_eq!(rows.len(), 56);
    assert_eq!(
        rows[55].0, 1150,
        "last row's first line (multi-line JSON cells)"
    );

    let mut ids = std::collections::BTreeSet::new();
    let mut correlations = std::collections::BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    for row in &rows {
        let rec = ok(row);
        assert_eq!(rec.log, LogKind::SignIns, "line {}", row.0);
        assert_eq!(rec.source, "loganalytics:SigninLogs");
        assert_eq!(
            rec.tenant_id.as_deref(),
            Some("2ad3fc79-1859-42fa-9011-6f8df2251b22")
        );
        let b = &rec.body;
        let created = b["createdDateTime"].as_str().expect("createdDateTime text");
        assert!(
            parse_timestamp(created).is_ok(),
            "line {}: {created}",
            row.0
        );
        assert!(ids.insert(b["id"].as_str().expect("id").to_string()));
        let corr = b["correlationId"].as_str().expect("correlationId");
        *correlations.entry(corr.to_string()).or_default() += 1;
        let code = at(b, "status.errorCode").as_i64().expect("errorCode");
        if code != 0 {
            failures.push(code);
        }
    }
    assert_eq!(ids.len(), 56, "no two rows share an Id");
    assert_eq!(
        correlations.values().filter(|&&n| n == 2).count(),
        4,
        "rows sharing a CorrelationId"
    );
    assert_eq!(correlations.len(), 52);
    failures.sort_unstable();
    assert_eq!(failures, [16000, 16000, 50058]);

    // Its first three rows read exactly as the three-row extract does.
    let first3 = std::fs::read(testdata(SENTINEL_CSV)).expect("fixture present");
    let (rows3, result3) = read(&first3, Some("sign-in_adelete.first3rows.csv"));
    assert_eq!(result3, Ok(()));
    assert_eq!(rows3.len(), 3);
    for (a, b) in rows.iter().zip(&rows3) {
        assert_eq!(a.0, b.0);
        assert_eq!(ok(a), ok(b));
    }
}

// ---------------------------------------------------------------------------------------------
// Entra admin center CSV downloads.

fn portal_header(file: &str) -> String {
    let text = std::fs::read_to_string(testdata(file)).expect("header sample present");
    text.lines().next().unwrap_or_default().to_string()
}

/// Quotes a cell the way the portal does when needed.
fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(cells: &[&str]) -> String {
    cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",")
}

const INTERACTIVE_OK: [&str; 57] = [
    "2025-03-12T07:22:01Z",                                     // Date (UTC)
    "0b8e4b1f-2f7e-4c1a-9d0e-3f5b2a6c7d00",                     // Request ID
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0",
    "6a1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",                     // Correlation ID
    "9b117c67-170e-4aed-9702-658b3fddc889",                     // User ID
    "Adele Vance",                                              // User
    "adelev@contoso.onmicrosoft.com",                           // Username
    "Member",                                                   // User type
    "None",                                                     // Cross tenant access type
    "none",                                                     // Incoming token type
    "OAuth 2.0",                                                // Authentication Protocol
    "H0t9dXJvTUq2n3Y8X1fAAA",                                   // Unique token identifier
    "",                                                         // Original transfer method
    "",                                                         // Client credential type
    "Unbound",                                                  // Token Protection - Sign In Session
    "1002",                                                     // ... StatusCode
    "Azure Portal",                                             // Application
    "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",                     // Application ID
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a",                     // App owner tenant ID
    "Windows Azure Service Management API",                     // Resource
    "797f4846-ba00-4fd7-ba43-dac1f8f63013",                     // Resource ID
    "2ad3fc79-1859-42fa-9011-6f8df2251b22",                     // Resource tenant ID
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a",                     // Resource owner tenant ID
    "2ad3fc79-1859-42fa-9011-6f8df2251b22",                     // Home tenant ID
    "Contoso",                                                  // Home tenant name
    "203.0.113.24",                                             // IP address
    "Melbourne, Victoria, AU",                                  // Location
    "Success",                                                  // Status
    "",                                                         // Sign-in error code
    "",                                                         // Failure reason
    "Browser",                                                  // Client app
    "5e9a1c3b-7d2f-4e6a-8b0c-1d2e3f4a5b6c",                     // Device ID
    "Edge 122.0.0",                                             // Browser
    "Windows10",                                                // Operating System
    "TRUE",                                                     // Compliant
    "FALSE",                                                    // Managed
    "Microsoft Entra joined",                                   // Join Type
    "MFA requirement satisfied by claim in the token",          // MFA result
    "",                                                         // MFA auth method
    "",                                                         // MFA auth detail
    "Multifactor authentication",                               // Authentication requirement
    "adelev@contoso.onmicrosoft.com",                           // Sign-in identifier
    "2f0c8e1d-55b4-4c3a-a6e1-9d8b7c6a5f40",                     // Session ID
    "",                                                         // IP address (seen by resource)
    "No",                                                       // Through Global Secure Access
    "",                                                         // Global Secure Access IP address
    "4826",                                                     // Autonomous system number
    "FALSE",                                                    // Flagged for review
    "Azure AD",                                                 // Token issuer type
    "",                                                         // Incoming token type (duplicate)
    "",                                                         // Token issuer name
    "187",                                                      // Latency
    "Not Applied",                                              // Conditional Access
    "",                                                         // Managed Identity type
    "",                                                         // Associated Resource Id
    "",                                                         // Federated Token Id
    "",                                                         // Federated Token Issuer
];

const INTERACTIVE_FAIL: [&str; 57] = [
    "3/12/2025 7:25:44 AM",
    "7c3d9a2e-1b4f-4e8d-a6c5-0f1e2d3c4b00",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "e4d3c2b1-a098-4f7e-8d6c-5b4a39281706",
    "3c1f5e7a-9b2d-4f60-8e1a-2c4b6d8f0a13",
    "Alex Wilber",
    "alexw@contoso.onmicrosoft.com",
    "Guest",
    "B2B collaboration",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "Microsoft Office 365 Portal",
    "00000006-0000-0ff1-ce00-000000000000",
    "",
    "Office 365 Exchange Online",
    "00000002-0000-0ff1-ce00-000000000000",
    "2ad3fc79-1859-42fa-9011-6f8df2251b22",
    "",
    "8a2b3c4d-5e6f-4a1b-9c8d-7e6f5a4b3c2d",
    "Fabrikam",
    "198.51.100.7",
    "Saint-Denis, Île-de-France, FR",
    "Failure",
    "50126",
    "Error validating credentials due to invalid username or password.",
    "Browser",
    "",
    "Safari 17.3",
    "MacOs",
    "No",
    "No",
    "",
    "",
    "Text message",
    "+X XXXXXXXX34",
    "Single-factor authentication",
    "alexw@contoso.onmicrosoft.com",
    "",
    "",
    "",
    "",
    "3215",
    "TRUE",
    "AzureAD",
    "refreshToken",
    "",
    "2033",
    "Failure",
    "",
    "",
    "",
    "",
];

#[test]
fn portal_interactive_download() {
    let header = portal_header("formats/entra-portal-interactivesignins-csv-header.csv");
    let csv = format!(
        "\u{feff}{header}\r\n{}\r\n{}\r\n",
        csv_row(&INTERACTIVE_OK),
        csv_row(&INTERACTIVE_FAIL)
    );
    let (rows, result) = read(
        csv.as_bytes(),
        Some("/downloads/InteractiveSignIns_2025-03-11_2025-03-12.csv"),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].0, rows[1].0), (2, 3));

    let ok_rec = ok(&rows[0]);
    let b = &ok_rec.body;
    assert_eq!(ok_rec.log, LogKind::SignIns);
    assert_eq!(ok_rec.source, "portal:csv");
    assert_eq!(
        ok_rec.tenant_id.as_deref(),
        Some("2ad3fc79-1859-42fa-9011-6f8df2251b22")
    );
    assert_eq!(b["id"], json!("0b8e4b1f-2f7e-4c1a-9d0e-3f5b2a6c7d00"));
    assert_eq!(b["createdDateTime"], json!("2025-03-12T07:22:01Z"));
    assert_eq!(
        b["userPrincipalName"],
        json!("adelev@contoso.onmicrosoft.com")
    );
    assert_eq!(b["userDisplayName"], json!("Adele Vance"));
    assert_eq!(b["userType"], json!("member"));
    assert_eq!(
        b["appId"],
        json!("c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
        "`Application ID `"
    );
    assert_eq!(
        b["resourceId"],
        json!("797f4846-ba00-4fd7-ba43-dac1f8f63013")
    );
    assert_eq!(b["incomingTokenType"], json!("none"));
    assert_eq!(at(b, "status.errorCode"), &json!(0));
    assert_eq!(
        b["location"],
        json!({"city": "Melbourne", "state": "Victoria", "countryOrRegion": "AU"})
    );
    assert_eq!(at(b, "deviceDetail.isCompliant"), &json!(true));
    assert_eq!(at(b, "deviceDetail.isManaged"), &json!(false));
    assert_eq!(
        at(b, "deviceDetail.trustType"),
        &json!("Microsoft Entra joined")
    );
    assert_eq!(at(b, "deviceDetail.operatingSystem"), &json!("Windows10"));
    assert_eq!(
        b["autonomousSystemNumber"],
        json!(4826),
        "`Autonomous system  number`"
    );
    assert_eq!(b["processingTimeInMilliseconds"], json!(187));
    assert_eq!(b["conditionalAccessStatus"], json!("notApplied"));
    assert_eq!(
        b["authenticationRequirement"],
        json!("multiFactorAuthentication")
    );
    assert_eq!(b["tokenIssuerType"], json!("AzureAD"));
    assert_eq!(b["isThroughGlobalSecureAccess"], json!(false));
    assert_eq!(b["flaggedForReview"], json!(false));
    assert_eq!(
        at(b, "tokenProtectionStatusDetails.signInSessionStatusCode"),
        &json!(1002)
    );
    assert_eq!(b["signInEventTypes"], json!(["interactiveUser"]));
    assert!(!b.contains_key("mfaDetail"), "empty cells are absent");
    let env = ok_rec.envelope.as_ref().expect("envelope");
    assert_eq!(env["Status"], json!("Success"));
    assert_eq!(
        env["Multifactor authentication result"],
        json!("MFA requirement satisfied by claim in the token")
    );

    let fail = ok(&rows[1]);
    let b = &fail.body;
    assert_eq!(
        b["createdDateTime"],
        json!("3/12/2025 7:25:44 AM"),
        "dates stay text"
    );
    assert_eq!(at(b, "status.errorCode"), &json!(50126));
    assert_eq!(
        at(b, "status.failureReason"),
        &json!("Error validating credentials due to invalid username or password.")
    );
    assert_eq!(b["userType"], json!("guest"));
    assert_eq!(at(b, "location.city"), &json!("Saint-Denis"));
    assert_eq!(at(b, "location.state"), &json!("Île-de-France"));
    assert_eq!(at(b, "location.countryOrRegion"), &json!("FR"));
    assert_eq!(at(b, "deviceDetail.isCompliant"), &json!(false));
    assert_eq!(
        b["mfaDetail"],
        json!({"authMethod": "Text message", "authDetail": "+X XXXXXXXX34"})
    );
    assert_eq!(
        b["incomingTokenType"],
        json!("refreshToken"),
        "second of the duplicated columns"
    );
    assert_eq!(
        b["authenticationRequirement"],
        json!("singleFactorAuthentication")
    );
    assert_eq!(b["conditionalAccessStatus"], json!("failure"));
    assert_eq!(b["flaggedForReview"], json!(true));
    assert!(fail
        .envelope
        .as_ref()
        .is_some_and(|e| !e.keys().any(|k| k.starts_with("Incoming token type"))));
    assert_eq!(
        fail.tenant_id.as_deref(),
        Some("2ad3fc79-1859-42fa-9011-6f8df2251b22")
    );

    // The same file named NonInteractiveSignIns_… is non-interactive.
    let (rows, _) = read(
        csv.as_bytes(),
        Some("NonInteractiveSignIns_2025-03-11_2025-03-12.csv"),
    );
    assert_eq!(
        ok(&rows[0]).body["signInEventTypes"],
        json!(["nonInteractiveUser"])
    );
}

const APP_ROWS: [[&str; 22]; 3] = [
    [
        "2025-03-12T07:30:12Z",
        "d5935dca-86f2-4ac9-a42c-3593b00af801",
        "59fe2cc8-d7b0-4f88-a541-3399f4eff9b2",
        "b029d485-a308-4311-8720-fb3192e5284e",
        "Terraform-Datadog-CLI",
        "dbcd79c0-c3ea-46b9-9604-ff40d43b8618",
        "",
        "Terraform-Datadog-CLI",
        "6131d760-7fda-4db5-8bb1-b771898e9f15",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "Windows Azure Service Management API",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "",
        "192.0.2.10",
        "Hyderabad, Telangana, IN",
        "Success",
        "0",
        "",
        "Not Applied",
    ],
    [
        "2025-03-12T07:31:00Z",
        "989c6c81-1332-4d1c-b496-b26124ab9000",
        "cfb5ff5b-1886-497c-86a5-443fb26aefa5",
        "b029d485-a308-4311-8720-fb3192e5284e",
        "Terraform-Datadog-CLI",
        "dbcd79c0-c3ea-46b9-9604-ff40d43b8618",
        "",
        "Terraform-Datadog-CLI",
        "6131d760-7fda-4db5-8bb1-b771898e9f15",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "Windows Azure Service Management API",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "",
        "192.0.2.10",
        "Hyderabad, Telangana, IN",
        "Failure",
        "7000215",
        "Invalid client secret is provided.",
        "", // the row is cut here (see below)
    ],
    [
        "2025-03-12T07:32:00Z",
        "a08869a8-3b15-46e4-8de3-273849e60100",
        "ad8c289f-a81d-4959-bacc-c5774ab9baaa",
        "9d370547-cb61-4753-be23-68534909af90",
        "build-agent",
        "",
        "7F3C2A9B1E4D6F8A0B2C4D6E8F0A1B3C5D7E9F1A",
        "build-agent",
        "b3b975ac-995b-426e-8b5d-363a165df41c",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "Microsoft Graph",
        "00000003-0000-0000-c000-000000000000",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "",
        "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "",
        "192.0.2.11",
        "",
        "Success",
        "0",
        "",
        "Success",
    ],
];

#[test]
fn portal_application_download_with_a_short_row() {
    let header = portal_header("formats/entra-portal-applicationsignins-csv-header.csv");
    let short: Vec<&str> = APP_ROWS[1][..21].to_vec();
    let csv = format!(
        "{header}\n{}\n{}\n{}\n",
        csv_row(&APP_ROWS[0]),
        csv_row(&short),
        csv_row(&APP_ROWS[2])
    );
    let (rows, result) = read(csv.as_bytes(), None);
    assert_eq!(result, Ok(()));
    assert_eq!(rows.len(), 3);

    let sp = ok(&rows[0]);
    let b = &sp.body;
    assert_eq!(b["signInEventTypes"], json!(["servicePrincipal"]));
    assert_eq!(
        b["servicePrincipalId"],
        json!("b029d485-a308-4311-8720-fb3192e5284e")
    );
    assert_eq!(b["servicePrincipalName"], json!("Terraform-Datadog-CLI"));
    assert_eq!(
        b["servicePrincipalCredentialKeyId"],
        json!("dbcd79c0-c3ea-46b9-9604-ff40d43b8618")
    );
    assert_eq!(b["appId"], json!("6131d760-7fda-4db5-8bb1-b771898e9f15"));
    assert_eq!(b["conditionalAccessStatus"], json!("notApplied"));
    assert_eq!(at(b, "status.errorCode"), &json!(0));
    assert_eq!(at(b, "location.countryOrRegion"), &json!("IN"));
    assert_eq!(
        sp.tenant_id.as_deref(),
        Some("4bbb79f7-5724-4c9e-95f3-de075f6ec090")
    );
    assert!(!b.contains_key("userPrincipalName"));

    assert_eq!(rows[1].0, 3);
    let err = rows[1].1.as_ref().expect_err("short row");
    assert!(
        err.contains("row has 21 columns, the header has 22"),
        "{err}"
    );
    assert!(err.contains("`Conditional Access`"), "{err}");

    let third = ok(&rows[2]);
    assert_eq!(
        third.body["servicePrincipalCredentialThumbprint"],
        json!("7F3C2A9B1E4D6F8A0B2C4D6E8F0A1B3C5D7E9F1A")
    );
    assert_eq!(third.body["conditionalAccessStatus"], json!("success"));
    assert!(!third.body.contains_key("location"));

    // The same header in a file named MSISignIns_… is managed identity sign-ins.
    let (rows, _) = read(csv.as_bytes(), Some("MSISignIns_2025-03-11_2025-03-12.csv"));
    assert_eq!(
        ok(&rows[0]).body["signInEventTypes"],
        json!(["managedIdentity"])
    );
}

#[test]
fn portal_msi_auth_details_legacy_and_audit_downloads() {
    // A managed identity download: no user or credential columns, a Managed Identity type.
    let csv = "Date (UTC),Request ID,Correlation ID,Service principal ID,Service principal name,Application ID ,Resource,Resource ID ,Resource tenant ID,IP address,Status,Sign-in error code,Managed Identity type,Associated Resource Id\n\
2025-03-12T08:00:00Z,f17106d8-8648-40e3-883e-fe9b3db23400,a215db46-9d3b-4d28-8e0e-ae2363072d43,9d370547-cb61-4753-be23-68534909af90,func-orders,8e1e40fc-5ec1-4077-b595-08d5cf42fef4,Azure Key Vault,cfa8b339-82a2-471a-a3c9-0fc0be7a4093,4bbb79f7-5724-4c9e-95f3-de075f6ec090,,Success,0,User assigned,/subscriptions/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/resourceGroups/rg-orders/providers/Microsoft.Web/sites/func-orders\n";
    let (rows, result) = read(csv.as_bytes(), None);
    assert_eq!(result, Ok(()));
    let msi = ok(&rows[0]);
    assert_eq!(msi.body["signInEventTypes"], json!(["managedIdentity"]));
    assert_eq!(
        at(&msi.body, "managedServiceIdentity.msiType"),
        &json!("userAssigned")
    );
    assert!(at(&msi.body, "managedServiceIdentity.associatedResourceId")
        .as_str()
        .is_some_and(|s| s.ends_with("/sites/func-orders")));

    // Authentication details: rejected per row with a reason that says what to do.
    let csv = "Request ID,Authentication method,Authentication method detail,Succeeded,Result detail,Requirement\n\
0b8e4b1f-2f7e-4c1a-9d0e-3f5b2a6c7d00,Password,Password in the cloud,true,Correct password,Primary authentication\n";
    let (rows, result) = read(
        csv.as_bytes(),
        Some("InteractiveSignIns_AuthDetails_2025-03-11_2025-03-12.csv"),
    );
    assert_eq!(result, Ok(()));
    let err = rows[0].1.as_ref().expect_err("auth details row");
    assert!(
        err.contains("0b8e4b1f-2f7e-4c1a-9d0e-3f5b2a6c7d00"),
        "{err}"
    );
    assert!(err.contains("sign-in file"), "{err}");

    // The legacy download: no request id, locale dates, separate City/Country.
    let csv = "CreatedDateTime,UserPrincipalName,UserDisplayName,AppDisplayName,IPAddress,City,Country,Device,Browser,OS,Status,RiskState,RiskLevelDuringSignIn,RiskLevelAggregated,ConditionalAccessStatus\n\
3/12/2025 7:22:01 AM,adelev@contoso.onmicrosoft.com,Adele Vance,Microsoft Teams,203.0.113.24,Melbourne,AU,LAPTOP-7Q2,Chrome 122.0.0,Windows10,Success,none,none,none,Success\n";
    let (rows, result) = read(csv.as_bytes(), Some("01_SignInLogs.csv"));
    assert_eq!(result, Ok(()));
    let legacy = ok(&rows[0]);
    assert_eq!(
        legacy.body["createdDateTime"],
        json!("3/12/2025 7:22:01 AM")
    );
    assert_eq!(at(&legacy.body, "location.city"), &json!("Melbourne"));
    assert_eq!(
        at(&legacy.body, "deviceDetail.browser"),
        &json!("Chrome 122.0.0")
    );
    assert_eq!(legacy.body["conditionalAccessStatus"], json!("success"));
    assert!(!legacy.body.contains_key("id"));
    assert_eq!(
        legacy.envelope.as_ref().map(|e| e["Device"].clone()),
        Some(json!("LAPTOP-7Q2"))
    );

    // The audit download is recognised and refused as a whole, with a reason.
    let csv = "Date (UTC),CorrelationId,Service,Category,Activity,Result,ResultReason,ActorType,ActorDisplayName,Target1Type\n\
2025-03-12T08:00:00Z,53161141-e3f4-4944-85b6-7b953f17265e,Core Directory,UserManagement,Update user,Success,,User,Adele Vance,User\n";
    let (rows, result) = read(csv.as_bytes(), Some("AuditLogs_2025-03-12.csv"));
    assert!(rows.is_empty());
    let err = result.expect_err("audit csv");
    assert!(
        err.contains("audit log CSV") && err.contains("JSON"),
        "{err}"
    );

    // Header detection by name alone.
    let header: Vec<&str> = vec!["Date (UTC)", "Request ID", "Username"];
    let h = PortalHeader::detect(&header, Some("x/NonInteractiveSignIns_1.csv"));
    assert_eq!(
        h.map(|h| h.kind),
        Some(PortalCsvKind::NonInteractiveSignIns)
    );
}

// ---------------------------------------------------------------------------------------------
// Log Analytics JSON rows, one per table.

fn la(v: Value) -> Record {
    let row = obj(v);
    assert!(looks_like_row(&row), "looks like a row: {row:?}");
    match row_to_record(row) {
        Ok(r) => r,
        Err(e) => panic!("rejected: {e}"),
    }
}

#[test]
fn la_signinlogs_row_with_dynamic_columns() {
    let r = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "SourceSystem": "Azure AD",
        "TimeGenerated": "2022-01-24T05:10:08.6816663Z",
        "ResourceId": "/tenants/4bbb79f7-5724-4c9e-95f3-de075f6ec090/providers/Microsoft.aadiam",
        "OperationName": "Sign-in activity",
        "OperationVersion": "1.0",
        "Category": "SignInLogs",
        "ResultType": "0",
        "ResultSignature": "None",
        "ResultDescription": "",
        "DurationMs": 0,
        "CorrelationId": "7532b99a-06da-4c23-91e5-0f062bc0dcb3",
        "Identity": "elastic testing",
        "Level": "4",
        "Location": "IN",
        "AppDisplayName": "Azure Portal",
        "AppId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "AuthenticationDetails": "[{\"authenticationStepDateTime\":\"2022-01-24T05:10:08.6816663+00:00\",\"authenticationMethod\":\"Previously satisfied\",\"succeeded\":true}]",
        "AuthenticationProcessingDetails": "[{\"key\":\"Login Hint Present\",\"value\":\"True\"}]",
        "AuthenticationRequirement": "singleFactorAuthentication",
        "ClientAppUsed": "Browser",
        "ConditionalAccessPolicies": [{"id": "b8944f3f-001d-4d7a-ad95-4b110f20a9f5", "displayName": "Block All Access from Untrusted IP", "enforcedGrantControls": ["Block"], "enforcedSessionControls": [], "result": "failure", "conditionsSatisfied": 1035, "conditionsNotSatisfied": 0}],
        "ConditionalAccessStatus": "failure",
        "CreatedDateTime": "2022-01-24T05:10:08.6816663Z",
        "DeviceDetail": {"deviceId": "", "operatingSystem": "Windows 10", "browser": "Edge 97.0.1072", "isCompliant": false},
        "IsInteractive": true,
        "Id": "933f20c0-efdf-477f-9586-e5cc566d2e00",
        "IPAddress": "1.128.3.4",
        "IsRisky": false,
        "LocationDetails": {"city": "Nizampet", "state": "Telangana", "countryOrRegion": "IN", "geoCoordinates": {"latitude": 17.5164794921875, "longitude": 78.37663269042969}},
        "MfaDetail": {},
        "NetworkLocationDetails": "[]",
        "OriginalRequestId": "933f20c0-efdf-477f-9586-e5cc566d2e00",
        "ProcessingTimeInMilliseconds": "5662",
        "RiskDetail": "none",
        "RiskEventTypes": "[]",
        "RiskEventTypes_V2": "[\"unfamiliarFeatures\"]",
        "RiskLevelAggregated": "none",
        "RiskLevelDuringSignIn": "none",
        "RiskState": "none",
        "ResourceDisplayName": "Windows Azure Service Management API",
        "ResourceIdentity": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "Status": {"errorCode": 53003, "failureReason": "Access has been blocked by Conditional Access policies."},
        "TokenIssuerType": "AzureAD",
        "UserAgent": "Mozilla/5.0",
        "UserDisplayName": "elastic testing",
        "UserId": "2ce85a15-8640-465d-b916-d2eac620a717",
        "UserPrincipalName": "mpliftrelastic20210901@outlook.com",
        "AADTenantId": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "UserType": "Member",
        "FlaggedForReview": false,
        "AutonomousSystemNumber": "55836",
        "ResourceTenantId": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "HomeTenantId": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "SomeNewThing": "kept in the envelope, not guessed",
        "Type": "SigninLogs",
        "_ResourceId": "",
        "_ItemId": "3e7f1a2b-0c4d-4e5f-8a9b-1c2d3e4f5a6b",
    }));
    let b = &r.body;
    assert_eq!(r.log, LogKind::SignIns);
    assert_eq!(r.source, "loganalytics:SigninLogs");
    assert_eq!(
        r.tenant_id.as_deref(),
        Some("4bbb79f7-5724-4c9e-95f3-de075f6ec090")
    );
    assert_eq!(b["id"], json!("933f20c0-efdf-477f-9586-e5cc566d2e00"));
    assert_eq!(
        at(b, "appliedConditionalAccessPolicies.0.conditionsSatisfied"),
        &json!(1035)
    );
    assert_eq!(at(b, "status.errorCode"), &json!(53003));
    assert_eq!(at(b, "location.city"), &json!("Nizampet"));
    assert_eq!(
        at(b, "authenticationDetails.0.authenticationMethod"),
        &json!("Previously satisfied")
    );
    assert_eq!(b["processingTimeInMilliseconds"], json!(5662));
    assert_eq!(b["autonomousSystemNumber"], json!(55836));
    assert_eq!(b["riskEventTypes_v2"], json!(["unfamiliarFeatures"]));
    assert_eq!(b["networkLocationDetails"], json!([]));
    assert_eq!(
        b["resourceId"],
        json!("797f4846-ba00-4fd7-ba43-dac1f8f63013")
    );
    assert_eq!(
        b["correlationId"],
        json!("7532b99a-06da-4c23-91e5-0f062bc0dcb3")
    );
    assert_eq!(b["isInteractive"], json!(true));
    assert!(!b.contains_key("someNewThing") && !b.contains_key("SomeNewThing"));
    let env = r.envelope.as_ref().expect("envelope");
    assert_eq!(
        env["SomeNewThing"],
        json!("kept in the envelope, not guessed")
    );
    assert_eq!(env["IsRisky"], json!(false));
    assert_eq!(env["DurationMs"], json!(0));
    assert_eq!(
        env["TenantId"],
        json!("b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24")
    );
    assert_eq!(
        env["ResourceId"],
        json!("/tenants/4bbb79f7-5724-4c9e-95f3-de075f6ec090/providers/Microsoft.aadiam")
    );
    assert_eq!(env["Location"], json!("IN"));
    assert!(!env.contains_key("ResultDescription") && !env.contains_key("_ResourceId"));
}

#[test]
fn la_noninteractive_row_with_json_text_columns() {
    let r = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "TimeGenerated": "2025-02-01T16:27:59.3432132Z",
        "Category": "NonInteractiveUserSignInLogs",
        "Type": "AADNonInteractiveUserSignInLogs",
        "ResultType": "50097",
        "Id": "4d63c1c4-c95b-4d3c-8e0a-1271fd813e00",
        "CreatedDateTime": "2025-02-01T16:26:24.6955459Z",
        "AppDisplayName": "Outlook for iOS and Android",
        "AppId": "27922004-5251-4030-b22d-91ecd9a37ea4",
        "ConditionalAccessPolicies": "[{\"id\":\"627ea70c-8186-40a5-aafb-d681edbc2d88\",\"displayName\":\"Block Access to O365 from Mobile Devices for All Users\",\"enforcedGrantControls\":[\"Block\"],\"enforcedSessionControls\":[],\"result\":\"failure\",\"conditionsSatisfied\":7,\"conditionsNotSatisfied\":0}]",
        "ConditionalAccessAudiences": "[{\"applicationId\":\"00000002-0000-0ff1-ce00-000000000000\",\"audienceReasons\":\"none\"}]",
        "DeviceDetail": "{\"deviceId\":\"30a4051b-7be0-4754-a3b8-755991aa69e0\",\"displayName\":\"WS3A7C1DBA\",\"operatingSystem\":\"Ios 18.2.1\",\"trustType\":\"Azure AD registered\"}",
        "LocationDetails": "{\"city\":\"Chengdu\",\"state\":\"Sichuan\",\"countryOrRegion\":\"CN\",\"geoCoordinates\":{\"latitude\":30.653060913085938,\"longitude\":104.06749725341797}}",
        "MfaDetail": "{}",
        "Status": "{\"errorCode\":50097,\"failureReason\":\"Device Authentication Required\",\"additionalDetails\":\"MFA requirement satisfied by claim in the token\"}",
        "IsInteractive": "false",
        "IsTenantRestricted": "False",
        "ProcessingTimeInMs": "46",
        "IncomingTokenType": "refreshToken",
        "SessionId": "0a5b4c3d-2e1f-4a9b-8c7d-6e5f4a3b2c1d",
        "TokenProtectionStatusDetails": "{\"signInSessionStatus\":\"unbound\",\"signInSessionStatusCode\":1002}",
        "UserPrincipalName": "user_468aad99@domain_e9c4f53a.com",
        "UserType": "Member",
        "AADTenantId": "bc0b541e-cf5f-48a5-a45d-7d041fe508a0",
        "AuthenticatorAppLocation": "",
        "ClientSessionId": "",
    }));
    let b = &r.body;
    assert_eq!(r.source, "loganalytics:AADNonInteractiveUserSignInLogs");
    assert_eq!(
        at(b, "appliedConditionalAccessPolicies.0.conditionsSatisfied"),
        &json!(7)
    );
    assert_eq!(
        at(b, "conditionalAccessAudiences.0.audienceReasons"),
        &json!("none")
    );
    assert_eq!(
        at(b, "deviceDetail.trustType"),
        &json!("Azure AD registered")
    );
    assert_eq!(at(b, "location.countryOrRegion"), &json!("CN"));
    assert_eq!(at(b, "status.errorCode"), &json!(50097));
    assert_eq!(
        at(b, "tokenProtectionStatusDetails.signInSessionStatusCode"),
        &json!(1002)
    );
    assert_eq!(b["isInteractive"], json!(false));
    assert_eq!(b["isTenantRestricted"], json!(false));
    assert_eq!(
        b["processingTimeInMilliseconds"],
        json!(46),
        "ProcessingTimeInMs"
    );
    assert_eq!(b["signInEventTypes"], json!(["nonInteractiveUser"]));
    assert_eq!(
        r.tenant_id.as_deref(),
        Some("bc0b541e-cf5f-48a5-a45d-7d041fe508a0")
    );
}

#[test]
fn la_service_principal_and_managed_identity_rows_use_time_generated() {
    let sp = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "SourceSystem": "Azure AD",
        "TimeGenerated": "2022-02-08T06:22:28.3518405Z",
        "OperationName": "Sign-in activity",
        "Category": "ServicePrincipalSignInLogs",
        "ResultType": "0",
        "DurationMs": 0,
        "CorrelationId": "59fe2cc8-d7b0-4f88-a541-3399f4eff9b2",
        "Level": "4",
        "Location": "IN",
        "AppId": "6131d760-7fda-4db5-8bb1-b771898e9f15",
        "AuthenticationProcessingDetails": "[{\"key\":\"Azure AD App Authentication Library\",\"value\":\"\"}]",
        "ConditionalAccessPolicies": "[]",
        "ConditionalAccessStatus": "notApplied",
        "Id": "d5935dca-86f2-4ac9-a42c-3593b00af801",
        "IPAddress": "1.128.3.4",
        "LocationDetails": "{\"city\":\"Hyderabad\",\"state\":\"Telangana\",\"countryOrRegion\":\"IN\",\"geoCoordinates\":{\"latitude\":17.385000228881836,\"longitude\":78.48670196533203}}",
        "ResourceDisplayName": "Windows Azure Service Management API",
        "ResourceIdentity": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "ServicePrincipalCredentialKeyId": "dbcd79c0-c3ea-46b9-9604-ff40d43b8618",
        "ServicePrincipalId": "b029d485-a308-4311-8720-fb3192e5284e",
        "ServicePrincipalName": "Terraform-Datadog-CLI",
        "UniqueTokenIdentifier": "ZDU5MzVkY2EtODZmMi00YWM5LWE0MmMtMzU5M2IwMGFmODAx",
        "Type": "AADServicePrincipalSignInLogs",
        "_ResourceId": "/tenants/4bbb79f7-5724-4c9e-95f3-de075f6ec090/providers/microsoft.aadiam",
    }));
    assert_eq!(sp.source, "loganalytics:AADServicePrincipalSignInLogs");
    assert_eq!(
        sp.body["createdDateTime"],
        json!("2022-02-08T06:22:28.3518405Z")
    );
    assert_eq!(sp.body["signInEventTypes"], json!(["servicePrincipal"]));
    assert_eq!(sp.body["appliedConditionalAccessPolicies"], json!([]));
    assert_eq!(
        sp.body["servicePrincipalCredentialKeyId"],
        json!("dbcd79c0-c3ea-46b9-9604-ff40d43b8618")
    );
    assert_eq!(
        sp.tenant_id.as_deref(),
        Some("4bbb79f7-5724-4c9e-95f3-de075f6ec090"),
        "tenant from _ResourceId when AADTenantId is absent"
    );

    let mi = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "TimeGenerated [UTC]": "1/24/2022, 4:59:49.227 AM",
        "Category": "ManagedIdentitySignInLogs",
        "ResultType": "0",
        "AppId": "b3b975ac-995b-426e-8b5d-363a165df41c",
        "ConditionalAccessPoliciesV2": [],
        "ConditionalAccessStatus": "notApplied",
        "Id": "a08869a8-3b15-46e4-8de3-273849e60100",
        "IPAddress": "",
        "LocationDetails": "{\"city\":\"\",\"state\":\"\",\"countryOrRegion\":\"\",\"geoCoordinates\":{\"latitude\":0.0,\"longitude\":0.0}}",
        "ResourceIdentity": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "ServicePrincipalId": "9d370547-cb61-4753-be23-68534909af90",
        "ServicePrincipalName": "testplatformlogslube",
        "Type": "AADManagedIdentitySignInLogs",
    }));
    assert_eq!(mi.source, "loganalytics:AADManagedIdentitySignInLogs");
    assert_eq!(
        mi.body["createdDateTime"],
        json!("1/24/2022, 4:59:49.227 AM")
    );
    assert_eq!(mi.body["signInEventTypes"], json!(["managedIdentity"]));
    assert!(!mi.body.contains_key("ipAddress"));
    assert_eq!(mi.body["appliedConditionalAccessPolicies"], json!([]));
    assert_eq!(
        mi.tenant_id, None,
        "no AADTenantId, ResourceId or tenant fields"
    );
}

#[test]
fn la_adfs_row() {
    let r = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "TimeGenerated": "2025-12-12T15:03:58Z",
        "Category": "ADFSSignInLogs",
        "ResultType": "0",
        "ResultSignature": "SUCCESS",
        "DurationMs": "0",
        "Identity": "April Oniel",
        "Level": "4",
        "AlternateSignInName": "april.oniel@turtles.com",
        "AppDisplayName": "Shield Autho - Native application",
        "AppId": "60e924dc-9ed6-4ef8-91a4-e15f434d8bef",
        "AuthenticationDetails": "[{\"RequestSequence\":1,\"StatusSequence\":0,\"authenticationMethod\":\"Password\",\"authenticationMethodDetail\":\"Forms Authentication\",\"authenticationStepDateTime\":\"2025-12-12T14:56:31+00:00\",\"succeeded\":true}]",
        "CreatedDateTime": "2025-12-12T14:56:31Z",
        "DeviceDetail": "{\"browser\":\"\",\"deviceId\":\"\",\"operatingSystem\":\"\"}",
        "Id": "58f8ce73-9fc8-4f02-8ea8-1908964f842e",
        "IPAddress": "10.205.19.37",
        "IsInteractive": "True",
        "ProcessingTimeInMs": "0",
        "Requirement": "primaryAuthentication",
        "ResourceIdentity": "https://api.splinter.com",
        "ResourceTenantId": "043q12e-2cf7-4ca6-8d10-9a639dbeab71",
        "Status": "{\"errorCode\":0}",
        "TokenIssuerName": "AD FS",
        "TokenIssuerType": "ADFederationServices",
        "UserPrincipalName": "april.oniel@turtles.com",
        "Type": "ADFSSignInLogs",
    }));
    assert_eq!(r.source, "loganalytics:ADFSSignInLogs");
    assert_eq!(r.body["tokenIssuerType"], json!("ADFederationServices"));
    assert_eq!(r.body["isInteractive"], json!(true));
    assert_eq!(
        at(&r.body, "authenticationDetails.0.RequestSequence"),
        &json!(1)
    );
    assert_eq!(r.body["resourceId"], json!("https://api.splinter.com"));
    assert!(
        !r.body.contains_key("signInEventTypes"),
        "ADFS rows are left to the normaliser"
    );
    assert_eq!(
        r.envelope.as_ref().map(|e| e["Requirement"].clone()),
        Some(json!("primaryAuthentication"))
    );
    assert_eq!(
        r.tenant_id.as_deref(),
        Some("043q12e-2cf7-4ca6-8d10-9a639dbeab71")
    );
}

#[test]
fn la_audit_row() {
    let r = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "SourceSystem": "Azure AD",
        "TimeGenerated": "2022-01-22T18:15:02.5168093Z",
        "ResourceId": "/tenants/4bbb79f7-5724-4c9e-95f3-de075f6ec090/providers/Microsoft.aadiam",
        "OperationName": "Add service principal credentials",
        "OperationVersion": "1.0",
        "Category": "ApplicationManagement",
        "ResultSignature": "None",
        "DurationMs": 0,
        "CorrelationId": "53161141-e3f4-4944-85b6-7b953f17265e",
        "Resource": "Microsoft.aadiam",
        "ResourceGroup": "Microsoft.aadiam",
        "Identity": "Managed Service Identity",
        "Level": "4",
        "Location": "",
        "AdditionalDetails": [{"key": "User-Agent", "value": "Microsoft Azure Graph Client Library 2.1.17-internal"}, {"key": "AppId", "value": "a70a7931-c387-4dce-9f35-fbf95bdcc91e"}],
        "Id": "Directory_53161141-e3f4-4944-85b6-7b953f17265e_6X649_134684731",
        "InitiatedBy": {"app": {"appId": null, "displayName": "Managed Service Identity", "servicePrincipalId": "b9814691-9ca1-4e55-a1ac-8ef5dd010ec0", "servicePrincipalName": null}},
        "LoggedByService": "Core Directory",
        "Result": "success",
        "ResultReason": "",
        "TargetResources": [{"id": "a7d5dcbe-0627-4ddf-a2f4-86b6785bcc42", "displayName": "billing-test-wus", "type": "ServicePrincipal", "modifiedProperties": [{"displayName": "Included Updated Properties", "oldValue": null, "newValue": "\"KeyDescription\""}], "administrativeUnits": []}],
        "AADTenantId": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
        "ActivityDisplayName": "Add service principal credentials",
        "ActivityDateTime": "2022-01-22T18:15:02.5168093Z",
        "AADOperationType": "Update",
        "Type": "AuditLogs",
    }));
    let b = &r.body;
    assert_eq!(r.log, LogKind::Audits);
    assert_eq!(r.source, "loganalytics:AuditLogs");
    assert_eq!(b["category"], json!("ApplicationManagement"));
    assert_eq!(b["operationType"], json!("Update"));
    assert_eq!(b["result"], json!("success"));
    assert!(!b.contains_key("resultReason"));
    assert_eq!(b["activityDateTime"], json!("2022-01-22T18:15:02.5168093Z"));
    assert_eq!(
        at(b, "initiatedBy.app.displayName"),
        &json!("Managed Service Identity")
    );
    assert_eq!(at(b, "targetResources.0.type"), &json!("ServicePrincipal"));
    assert_eq!(at(b, "additionalDetails.1.key"), &json!("AppId"));
    assert_eq!(b["loggedByService"], json!("Core Directory"));
    assert!(!b.contains_key("signInEventTypes"));
    let env = r.envelope.as_ref().expect("envelope");
    assert_eq!(
        env["OperationName"],
        json!("Add service principal credentials")
    );
    assert_eq!(env["Identity"], json!("Managed Service Identity"));
    assert!(
        !env.contains_key("Category"),
        "the audit category is a Graph property"
    );
}

#[test]
fn la_provisioning_row() {
    let r = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "SourceSystem": "Azure AD",
        "TimeGenerated": "2022-08-23T13:36:50.3538931Z",
        "OperationName": "Provisioning activity",
        "Category": "ProvisioningLogs",
        "ResultType": "Skipped",
        "DurationMs": 828,
        "CorrelationId": "54416401-eef2-461c-8de7-385dde2b3cba",
        "Id": "d6cbb0bd-c3ec-6455-bd3e-4282141ce369",
        "JobId": "DropboxSCIMOutDelta.5611623b9128461e9d7fa0d9c270ead2.d6163622-bdf8-4b26-976f-7d573c638e2a",
        "CycleId": "cc305635-a28e-4139-a056-42b5102933fe",
        "ChangeId": "54416401-eef2-461c-8de7-385dde2b3cba",
        "ProvisioningAction": "create",
        "ServicePrincipal": "{\"Id\":\"74866461-3754-40ed-a743-9c88ff29643e\",\"Name\":\"Dropbox Business\"}",
        "SourceIdentity": "{\"identityType\":\"User\",\"details\":{\"id\":\"7383d412-41f2-478f-a317-7396cc32ce9e\"},\"Id\":\"7383d412-41f2-478f-a317-7396cc32ce9e\",\"Name\":\"Ellie\"}",
        "TargetSystem": "{\"details\":{},\"Id\":\"011a448f-1441-4336-8c20-e2d2cef9c410\",\"Name\":\"Dropbox\"}",
        "InitiatedBy": "{\"Type\":\"system\",\"Id\":\"\",\"Name\":\"Azure AD Provisioning Service\"}",
        "ProvisioningStatusInfo": "{\"Status\":\"skipped\",\"errorInformation\":null}",
        "ProvisioningSteps": "[{\"name\":\"EntryImportAdd\",\"provisioningStepType\":0,\"status\":0}]",
        "ModifiedProperties": "[]",
        "AADTenantId": "5611623b-9128-461e-9d7f-a0d9c270ead2",
        "Type": "AADProvisioningLogs",
    }));
    let b = &r.body;
    assert_eq!(r.log, LogKind::Provisioning);
    assert_eq!(b["activityDateTime"], json!("2022-08-23T13:36:50.3538931Z"));
    assert_eq!(b["durationInMilliseconds"], json!(828));
    assert_eq!(at(b, "servicePrincipal.Name"), &json!("Dropbox Business"));
    assert_eq!(at(b, "provisioningSteps.0.provisioningStepType"), &json!(0));
    assert_eq!(b["modifiedProperties"], json!([]));
    assert!(
        !b.contains_key("sourceSystem"),
        "`Azure AD` is the standard SourceSystem column"
    );
    let env = r.envelope.as_ref().expect("envelope");
    assert_eq!(env["SourceSystem"], json!("Azure AD"));
    assert_eq!(env["ResultType"], json!("Skipped"));
    assert_eq!(
        r.tenant_id.as_deref(),
        Some("5611623b-9128-461e-9d7f-a0d9c270ead2")
    );
}

#[test]
fn la_risky_user_and_risk_event_rows() {
    let ru = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "TimeGenerated": "2022-09-09T09:59:27Z",
        "OperationName": "Risky user",
        "CorrelationId": "e3b2b242-4ccb-4cf1-9b8b-004cf034a458",
        "Id": "e3b2b242-4ccb-4cf1-9b8b-004cf034a458",
        "IsDeleted": "True",
        "IsProcessing": false,
        "RiskDetail": "none",
        "RiskLastUpdatedDateTime": "2022-09-09T9:59:27.958Z",
        "RiskLevel": "high",
        "RiskState": "atRisk",
        "UserDisplayName": "Joel Miller",
        "UserPrincipalName": "joel.miller@mauriziobrancaoutlook.onmicrosoft.com",
        "Type": "AADRiskyUsers",
    }));
    assert_eq!(ru.log, LogKind::RiskyUsers);
    assert_eq!(ru.body["isDeleted"], json!(true));
    assert_eq!(ru.body["isProcessing"], json!(false));
    assert_eq!(
        ru.body["riskLastUpdatedDateTime"],
        json!("2022-09-09T9:59:27.958Z")
    );
    assert_eq!(
        ru.envelope.as_ref().map(|e| e["CorrelationId"].clone()),
        Some(json!("e3b2b242-4ccb-4cf1-9b8b-004cf034a458"))
    );

    let re = la(json!({
        "TenantId": "b7c3f0e2-9a61-4d2f-8c1e-5a3b7d9f1c24",
        "TimeGenerated": "2022-08-22T18:07:16Z",
        "OperationName": "User Risk Detection",
        "Activity": "signin",
        "ActivityDateTime": "2022-08-22T18:05:06.133Z",
        "AdditionalInfo": [{"Key": "userAgent", "Value": "Mozilla/5.0 (Windows NT 10.0; rv:91.0) Gecko/20100101 Firefox/91.0"}],
        "CorrelationId": "266133c2-fabb-492f-9ebf-bdf12317b817",
        "DetectedDateTime": "2022-08-22T18:05:06.133Z",
        "DetectionTimingType": "realtime",
        "Id": "ce0ed07f9ccf5be15e4b97d2979af6569b1f67db87ddc9b88b5bb743ea091e47",
        "IpAddress": "67.43.156.42",
        "LastUpdatedDateTime": "2022-08-22T18:07:16.894Z",
        "Location": {"city": "Dresden", "state": "Sachsen", "countryOrRegion": "DE", "geoCoordinates": {"altitude": 0, "latitude": 51.0714, "longitude": 13.7399}},
        "RequestId": "e1b6d9d7-5fc0-4638-ae1a-e0abceb92200",
        "RiskDetail": "none",
        "RiskEventType": "anonymizedIPAddress",
        "RiskLevel": "high",
        "RiskState": "atRisk",
        "Source": "IdentityProtection",
        "TokenIssuerType": "AzureAD",
        "UserDisplayName": "Joe Danger",
        "UserId": "51e26eae-d07b-44e5-bb0b-249f49569a8c",
        "UserPrincipalName": "joe.danger@mauriziobrancaoutlook.onmicrosoft.com",
        "Type": "AADUserRiskEvents",
    }));
    let b = &re.body;
    assert_eq!(re.log, LogKind::RiskDetections);
    assert_eq!(re.source, "loganalytics:AADUserRiskEvents");
    assert_eq!(at(b, "location.city"), &json!("Dresden"));
    assert_eq!(b["ipAddress"], json!("67.43.156.42"));
    assert_eq!(b["riskEventType"], json!("anonymizedIPAddress"));
    assert_eq!(b["source"], json!("IdentityProtection"));
    // Graph sends additionalInfo as JSON text; the dynamic column is written back as text.
    let info = b["additionalInfo"].as_str().expect("text");
    assert!(info.starts_with("[{\"Key\":\"userAgent\""), "{info}");
}

#[test]
fn la_row_detection_and_rejections() {
    // Graph (camelCase) and diagnostic records are not Log Analytics rows.
    let graph = obj(
        json!({"id": "x", "createdDateTime": "2024-01-13T14:13:32Z", "appId": "a", "status": {"errorCode": 0}}),
    );
    assert!(!looks_like_row(&graph));
    let diag = obj(
        json!({"time": "2022-01-24T05:10:08Z", "category": "SignInLogs", "operationName": "Sign-in activity", "tenantId": "t", "Level": 4, "properties": {"id": "x"}}),
    );
    assert!(!looks_like_row(&diag));
    // A row without TimeGenerated but with several standard columns.
    let projected = obj(
        json!({"TenantId": "w", "OperationName": "Sign-in activity", "ResultType": "0", "Id": "x"}),
    );
    assert!(looks_like_row(&projected));

    // A table Gatehouse does not store.
    let err = row_to_record(obj(json!({"TimeGenerated": "2024-01-01T00:00:00Z", "Id": "x", "Type": "MicrosoftGraphActivityLogs"})))
        .expect_err("unsupported table");
    assert!(
        err.contains("MicrosoftGraphActivityLogs") && err.contains("SigninLogs"),
        "{err}"
    );
    // A known table without its time.
    let err = row_to_record(obj(
        json!({"Id": "x", "Type": "AuditLogs", "OperationName": "Update user"}),
    ))
    .expect_err("no time");
    assert!(
        err.contains("ActivityDateTime") && err.contains("TimeGenerated"),
        "{err}"
    );
    // An unparseable time names the column.
    let err = row_to_record(obj(
        json!({"Id": "x", "Type": "SigninLogs", "CreatedDateTime": "yesterday"}),
    ))
    .expect_err("bad time");
    assert!(
        err.contains("createdDateTime") && err.contains("yesterday"),
        "{err}"
    );
    // A known table without an Id (a projected query).
    let err = row_to_record(obj(json!({"TimeGenerated": "2024-01-01T00:00:00Z", "Type": "SigninLogs", "UserPrincipalName": "u@x"})))
        .expect_err("no id");
    assert!(err.contains("SigninLogs row without an Id column"), "{err}");
    // No Type or Category: the table is inferred from the columns, and no signInEventTypes is set.
    let r = row_to_record(obj(json!({"TimeGenerated": "2024-01-01T00:00:00Z", "Id": "x", "ActivityDisplayName": "Update user", "Category": "UserManagement"})))
        .expect("audit inferred");
    assert_eq!(r.log, LogKind::Audits);
    assert_eq!(r.body["category"], json!("UserManagement"));
}

#[test]
fn la_conditional_access_expanded_rows_are_rejected() {
    let text = std::fs::read_to_string(testdata(
        "formats/la-conditionalaccesspolicies-expanded-sample.json",
    ))
    .expect("sample present");
    let Value::Array(rows) = serde_json::from_str::<Value>(&text).expect("json") else {
        panic!("an array")
    };
    assert_eq!(rows.len(), 2);
    for row in rows {
        let row = obj(row);
        assert!(
            looks_like_row(&row),
            "recognised as a Log Analytics row, so the reason is clear"
        );
        let err = row_to_record(row).expect_err("not a log record");
        assert!(err.contains("query result"), "{err}");
        assert!(err.contains("no Id column"), "{err}");
        assert!(err.contains("ConditionalAccessPolicies"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

#[test]
fn garbage_never_panics() {
    // Pseudo-random bytes, several seeds and lengths.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in [0usize, 1, 2, 3, 7, 64, 1000, 20_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let (_rows, _result) = read(&bytes, Some("garbage.csv"));
    }
    // Valid headers followed by random CSV-ish bytes: quotes, separators, JSON punctuation.
    let alphabet: &[u8] = b",,,\"\"\n\r{}[]:0129aZ T\xff\xc3-/.";
    let headers = [
        "Id,Type,TimeGenerated,Status,DeviceDetail,IsInteractive,ProcessingTimeInMs,Location"
            .to_string(),
        portal_header("formats/entra-portal-interactivesignins-csv-header.csv"),
        portal_header("formats/entra-portal-applicationsignins-csv-header.csv"),
    ];
    for header in &headers {
        for _ in 0..200 {
            let mut bytes = format!("{header}\n").into_bytes();
            for _ in 0..400 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let (rows, result) = read(&bytes, None);
            assert_eq!(result, Ok(()));
            let mut last = 1;
            for (line, _) in &rows {
                // A lone `\r` ends a record without starting a new `\n` line.
                assert!(*line >= last, "line numbers decrease: {line} after {last}");
                last = *line;
            }
        }
    }
    // Empty and header-only files.
    assert_eq!(read(b"", None), (vec![], Ok(())));
    let (rows, result) = read(b"\xEF\xBB\xBFId,Type,TimeGenerated\r\n", None);
    assert!(rows.is_empty());
    assert_eq!(result, Ok(()));
    // An invalid UTF-8 header: the whole file is refused, naming line 1.
    let (_, result) = read(b"Id,\xFF\xFEType\n1,2\n", None);
    assert!(result.expect_err("bad header").starts_with("line 1:"));
    // UTF-16.
    let (_, result) = read(b"\xFF\xFEI\x00d\x00", None);
    assert!(result.expect_err("utf-16").contains("UTF-16"));
    // Semicolon-separated.
    let (_, result) = read(b"Date (UTC);Request ID;Username\n", None);
    assert!(result.expect_err("semicolons").contains("semicolons"));
    // Unrecognisable columns are named.
    let (_, result) = read(b"foo,bar\n1,2\n", None);
    let err = result.expect_err("unknown header");
    assert!(err.contains("`foo`") && err.contains("`bar`"), "{err}");
    // An invalid UTF-8 cell rejects its row only, naming the column; later rows still come.
    let csv = b"Id,Type,TimeGenerated,UserPrincipalName\n\
a,SigninLogs,2024-01-01T00:00:00Z,\xC3\x28@x\n\
b,SigninLogs,2024-01-01T00:00:00Z,u@x\n";
    let (rows, result) = read(csv, None);
    assert_eq!(result, Ok(()));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, 2);
    let err = rows[0].1.as_ref().expect_err("bad utf-8");
    assert!(
        err.contains("UserPrincipalName") && err.contains("UTF-8"),
        "{err}"
    );
    assert!(rows[1].1.is_ok());
    // An unterminated quote swallows the rest of the file into one short row: a rejection.
    let csv =
        "Id,Type,TimeGenerated,Status\nx,SigninLogs,2024-01-01T00:00:00Z,\"{\n\"errorCode\": 0\n";
    let (_rows, result) = read(csv.as_bytes(), None);
    assert_eq!(result, Ok(()));
    // Binary zeros in cells and JSON that is not JSON.
    let csv = b"Id,Type,TimeGenerated,Status,DeviceDetail\nx,SigninLogs,2024-01-01T00:00:00Z,\"{not json\",\x00\x00\n";
    let (rows, _) = read(csv, None);
    let rec = ok(&rows[0]);
    let env = rec.envelope.as_ref().expect("envelope");
    assert_eq!(
        env["Status"],
        json!("{not json"),
        "unparseable JSON stays in the envelope"
    );
    assert!(env.contains_key("DeviceDetail"));
}
