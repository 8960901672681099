//! The real Microsoft Graph Python SDK (`msgraph-sdk`, `msgraph-beta-sdk`, from the venv the
//! test command creates) pointed at `gatehouse serve` with a static bearer token: it lists
//! sign-ins with filters following every `@odata.nextLink`, lists directory audits and
//! provisioning records, gets a sign-in by id and sees Graph's errors; every answer is compared
//! with `gatehouse sql` over the same server.

mod common;

use common::{python, run_python, Gh, Served};
use serde_json::Value;

const TENANT: &str = "contoso";
const SCRIPT: &str = include_str!("python/graph_sdk.py");

/// A JSON list of strings, in its order.
fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = strings(v).into_iter().map(str::to_string).collect();
    out.sort();
    out
}

#[test]
fn the_graph_sdk_lists_pages_and_gets_what_gatehouse_sql_says() {
    let py = python();
    let gh = Gh::new();
    let sim = gh.simulate(&["--users", "40", "--days", "2", "--start", "2026-10-01"]);
    gh.ingest(&["--tenant".as_ref(), TENANT.as_ref(), sim.as_os_str()])
        .expect_code(0, "ingest");
    let reader = gh.token(TENANT, "reports-reader");
    let server = Served::start(&gh, &[]);
    let ids = |sql: &str| -> Vec<String> {
        let mut v: Vec<String> = server
            .sql(&reader, sql)
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let interactive = "array_has(\"signInEventTypes\", 'interactiveUser')";
    let failed = ids(&format!(
        "SELECT id FROM signins WHERE {interactive} AND status.\"errorCode\" <> 0"
    ));
    let service_principals = ids(
        "SELECT id FROM signins WHERE array_has(\"signInEventTypes\", 'servicePrincipal') \
         AND \"createdDateTime\" >= TIMESTAMP '2026-10-01T00:00:00Z'",
    );
    let interactive_all = ids(&format!("SELECT id FROM signins WHERE {interactive}"));
    let audits = ids("SELECT id FROM audits");
    let provisioning = ids("SELECT id FROM provisioning");
    assert!(
        failed.len() > 100 && service_principals.len() > 50 && audits.len() > 10,
        "{} failed, {} service principal sign-ins, {} audits",
        failed.len(),
        service_principals.len(),
        audits.len()
    );
    let one = &server.sql(
        &reader,
        &format!(
            "SELECT id, \"appDisplayName\" AS app, status.\"errorCode\" AS code, \
             CAST(\"createdDateTime\" AS VARCHAR) AS t FROM signins WHERE {interactive} LIMIT 1"
        ),
    )[0];

    let out = run_python(
        &py,
        SCRIPT,
        &[
            server.url.as_ref(),
            reader.as_ref(),
            one["id"].as_str().unwrap().as_ref(),
        ],
    );

    let f = &out["v1_failed"];
    assert_eq!(sorted(&f["ids"]), failed, "v1.0 failed sign-ins");
    assert_eq!(f["pages"], failed.len().div_ceil(100), "pages of 100");
    assert_eq!(f["count"], failed.len(), "@odata.count");
    assert!(f["codes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.as_i64() != Some(0)));
    let times = strings(&f["times"]);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(
        times.iter().all(|t| t.ends_with("+00:00")),
        "UTC datetimes: {:?}",
        &times[..3]
    );

    let sp = &out["beta_service_principals"];
    assert_eq!(sorted(&sp["ids"]), service_principals, "beta lambda filter");
    assert_eq!(sp["types"], serde_json::json!(["servicePrincipal"]));
    let times = strings(&sp["times"]);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "$orderby asc");
    assert!(sp["pages"].as_u64().unwrap() > 1);

    let sel = &out["beta_selected"];
    assert_eq!(
        sel["n"],
        interactive_all.len(),
        "every page of the selected list"
    );
    assert_eq!(sel["with_status"], 0, "$select leaves status out");
    assert_eq!(sel["with_upn"], sel["n"]);

    assert_eq!(sorted(&out["audits"]["ids"]), audits);
    assert_eq!(out["audits"]["pages"], audits.len().div_ceil(5));
    assert_eq!(
        out["provisioning"]["pages"],
        provisioning.len().div_ceil(5).max(1)
    );
    assert_eq!(sorted(&out["provisioning"]["ids"]), provisioning);

    let got = &out["one"];
    assert_eq!(got["id"], one["id"]);
    assert_eq!(got["app"], one["app"]);
    assert_eq!(got["error_code"], one["code"]);
    let sql_time = one["t"].as_str().unwrap().replace(' ', "T");
    assert!(
        got["created"]
            .as_str()
            .unwrap()
            .starts_with(&sql_time[..19]),
        "{} vs {sql_time}",
        got["created"]
    );

    let e = &out["errors"];
    assert_eq!(e["bad_filter"]["status"], 400, "{e}");
    assert_eq!(e["bad_filter"]["code"], "BadRequest");
    assert!(e["bad_filter"]["message"]
        .as_str()
        .unwrap()
        .contains("position"));
    assert_eq!(e["unknown_id"]["status"], 404);
    assert_eq!(e["unknown_id"]["code"], "Request_ResourceNotFound");
    assert_eq!(e["no_token"]["status"], 401);
    assert_eq!(e["no_token"]["code"], "InvalidAuthenticationToken");
}
