//! Shape of the output: every line is JSON with the fields its type needs, realistic mixes
//! and rates, time order, the diagnostic envelope and its categories.

mod common;

use std::collections::BTreeMap;

use common::{parse_time, records, small};
use gatehouse_sim::{AttackSelection, OutputFormat};
use serde_json::Value;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string {k} in {v}"))
}

fn is_guid(x: &str) -> bool {
    x.len() == 36
        && x.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[test]
fn graph_signins_have_the_beta_shape_and_realistic_mix() {
    let tree = common::shared_graph(false);
    let recs = records(tree, "graph/signins/");
    assert!(recs.len() > 5_000, "only {} sign-ins", recs.len());
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut user_fail = 0u64;
    let mut user_total = 0u64;
    let mut ids = std::collections::HashSet::new();
    for r in &recs {
        for k in [
            "id",
            "createdDateTime",
            "appId",
            "correlationId",
            "conditionalAccessStatus",
            "resourceId",
            "resourceTenantId",
            "uniqueTokenIdentifier",
            "tokenIssuerType",
            "riskState",
            "clientCredentialType",
        ] {
            s(r, k);
        }
        for k in [
            "status",
            "deviceDetail",
            "location",
            "managedServiceIdentity",
            "privateLinkDetails",
        ] {
            assert!(r[k].is_object(), "{k} not an object");
        }
        for k in [
            "appliedConditionalAccessPolicies",
            "authenticationDetails",
            "authenticationProcessingDetails",
            "riskEventTypes_v2",
            "conditionalAccessAudiences",
        ] {
            assert!(r[k].is_array(), "{k} not an array");
        }
        assert!(is_guid(s(r, "id")) && is_guid(s(r, "correlationId")));
        assert!(ids.insert(s(r, "id").to_string()), "duplicate id");
        assert!(s(r, "createdDateTime").ends_with('Z'));
        assert_eq!(s(r, "uniqueTokenIdentifier").len(), 22);
        let types = r["signInEventTypes"].as_array().expect("signInEventTypes");
        assert_eq!(types.len(), 1);
        let kind = types[0].as_str().expect("type").to_string();
        let interactive = r["isInteractive"].as_bool().expect("isInteractive");
        assert_eq!(
            interactive,
            kind == "interactiveUser",
            "isInteractive inconsistent for {kind}"
        );
        let code = r["status"]["errorCode"].as_i64().expect("errorCode");
        match kind.as_str() {
            "interactiveUser" | "nonInteractiveUser" => {
                assert!(s(r, "userPrincipalName").contains('@'));
                assert!(is_guid(s(r, "userId")));
                assert!(["member", "guest"].contains(&s(r, "userType")));
                user_total += 1;
                if code != 0 {
                    user_fail += 1;
                }
                if code != 0 && code != 50126 && code != 50053 && code != 50057 {
                    assert!(!r["status"]["failureReason"]
                        .as_str()
                        .unwrap_or("")
                        .is_empty());
                }
                if s(r, "userType") == "guest" {
                    assert_eq!(s(r, "crossTenantAccessType"), "b2bCollaboration");
                    assert_ne!(s(r, "homeTenantId"), s(r, "resourceTenantId"));
                }
            }
            "servicePrincipal" => {
                assert!(r["userId"].as_str().unwrap_or("").is_empty());
                assert!(!s(r, "servicePrincipalName").is_empty());
                assert!(
                    ["clientSecret", "certificate", "federatedIdentityCredential"]
                        .contains(&s(r, "clientCredentialType"))
                );
            }
            "managedIdentity" => {
                assert!(["systemAssigned", "userAssigned"].contains(
                    &r["managedServiceIdentity"]["msiType"]
                        .as_str()
                        .unwrap_or("")
                ));
                assert!(s(r, "azureResourceId").starts_with("/subscriptions/"));
                assert_eq!(s(r, "ipAddress"), "");
            }
            other => panic!("unexpected type {other}"),
        }
        *kinds.entry(kind).or_default() += 1;
    }
    for k in [
        "interactiveUser",
        "nonInteractiveUser",
        "servicePrincipal",
        "managedIdentity",
    ] {
        assert!(kinds.get(k).copied().unwrap_or(0) > 0, "no {k} sign-ins");
    }
    let ni = kinds["nonInteractiveUser"] as f64
        / (kinds["nonInteractiveUser"] + kinds["interactiveUser"]) as f64;
    assert!((0.80..=0.95).contains(&ni), "non-interactive share {ni}");
    let fail = user_fail as f64 / user_total as f64;
    assert!((0.02..=0.15).contains(&fail), "user failure rate {fail}");
    // AD FS sign-ins are interactive with the federation issuer.
    let adfs: Vec<&Value> = recs
        .iter()
        .filter(|r| r["tokenIssuerType"] == "ADFederationServices")
        .collect();
    assert!(!adfs.is_empty());
    assert!(adfs.iter().all(|r| r["tokenIssuerName"]
        .as_str()
        .unwrap_or("")
        .starts_with("sts.")));
}

#[test]
fn graph_records_are_sorted_and_inside_their_day() {
    let tree = common::shared_graph(true);
    for (name, data) in tree {
        if !name.starts_with("graph/") {
            continue;
        }
        let day = &name[name.len() - 16..name.len() - 6];
        let mut prev = None;
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let r: Value = serde_json::from_slice(line).expect("json");
            let t = r
                .get("createdDateTime")
                .or_else(|| r.get("activityDateTime"))
                .and_then(Value::as_str)
                .expect("time");
            assert!(t.starts_with(day), "{t} in {name}");
            let t = parse_time(t);
            if let Some(p) = prev {
                assert!(t >= p, "unsorted in {name}");
            }
            prev = Some(t);
        }
    }
}

#[test]
fn multi_step_sign_ins_share_a_correlation_id() {
    let tree = common::shared_graph(false);
    let recs = records(tree, "graph/signins/");
    let mut by_corr: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for r in recs
        .iter()
        .filter(|r| r["signInEventTypes"][0] == "interactiveUser")
    {
        by_corr
            .entry(s(r, "correlationId"))
            .or_default()
            .push(r["status"]["errorCode"].as_i64().unwrap_or(-1));
    }
    let mfa_then_ok = by_corr
        .values()
        .filter(|v| v.len() >= 2 && v.contains(&50074) && v.last() == Some(&0))
        .count();
    assert!(mfa_then_ok > 0, "no MFA interrupt followed by success");
}

#[test]
fn audits_and_provisioning_have_their_shapes() {
    let tree = common::shared_graph(true);
    let audits = records(tree, "graph/audits/");
    assert!(!audits.is_empty());
    for a in &audits {
        for k in [
            "id",
            "category",
            "correlationId",
            "result",
            "activityDisplayName",
            "activityDateTime",
            "loggedByService",
            "operationType",
        ] {
            s(a, k);
        }
        assert!(a["initiatedBy"].is_object() && a["targetResources"].is_array());
        for t in a["targetResources"].as_array().into_iter().flatten() {
            for m in t["modifiedProperties"].as_array().into_iter().flatten() {
                // Values are JSON-encoded strings.
                if let Some(v) = m["newValue"].as_str() {
                    assert!(
                        serde_json::from_str::<Value>(v).is_ok(),
                        "newValue not JSON: {v}"
                    );
                }
            }
        }
    }
    assert!(audits.iter().any(
        |a| a["activityDisplayName"] == "User registered security info"
            && a["loggedByService"] == "Authentication Methods"
    ));
    assert!(audits
        .iter()
        .any(|a| a["activityDisplayName"]
            == "Update application – Certificates and secrets management "));
    let prov = records(tree, "graph/provisioning/");
    assert!(!prov.is_empty());
    let statuses: std::collections::BTreeSet<&str> = prov
        .iter()
        .map(|p| p["provisioningStatusInfo"]["status"].as_str().unwrap_or(""))
        .collect();
    assert!(
        statuses.contains("success") && statuses.contains("skipped"),
        "{statuses:?}"
    );
    for p in &prov {
        for k in [
            "id",
            "activityDateTime",
            "jobId",
            "cycleId",
            "changeId",
            "provisioningAction",
        ] {
            s(p, k);
        }
        assert!(p["provisioningSteps"]
            .as_array()
            .map(|v| !v.is_empty())
            .unwrap_or(false));
        if p["provisioningStatusInfo"]["status"] == "failure" {
            assert!(p["provisioningStatusInfo"]["errorInformation"]["errorCode"].is_string());
        }
    }
}

#[test]
fn diagnostic_envelopes_have_the_right_category() {
    let mut opts = small(OutputFormat::Diagnostic, AttackSelection::Default);
    opts.days = 2;
    let (_d, tree) = common::run(&opts);
    let tid = opts.effective_tenant_id();
    let mut seen = std::collections::BTreeSet::new();
    for (name, data) in &tree {
        if !name.starts_with("insights-logs-") {
            continue;
        }
        let container = name.split('/').next().unwrap_or("");
        assert!(
            name.contains(&format!("/tenantId={tid}/y=2026/m=11/d=0")),
            "{name}"
        );
        assert!(name.ends_with("/m=00/PT1H.json"), "{name}");
        let hour: u32 = name
            .split("/h=")
            .nth(1)
            .and_then(|x| x.get(..2))
            .and_then(|x| x.parse().ok())
            .expect("hour");
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let r: Value = serde_json::from_slice(line).expect("json");
            let cat = s(&r, "category");
            assert_eq!(
                container,
                format!("insights-logs-{}", cat.to_ascii_lowercase())
            );
            seen.insert(cat.to_string());
            assert_eq!(s(&r, "tenantId"), tid);
            assert!(s(&r, "resourceId").starts_with("/tenants/"));
            s(&r, "operationName");
            s(&r, "correlationId");
            let t = parse_time(s(&r, "time"));
            assert_eq!(
                chrono::Timelike::hour(&t),
                hour,
                "record outside its hourly blob"
            );
            let p = &r["properties"];
            assert!(p.is_object());
            match cat {
                "SignInLogs" | "NonInteractiveUserSignInLogs" => {
                    assert!(s(p, "createdDateTime").ends_with("+00:00"));
                    assert!(["Member", "Guest"].contains(&s(p, "userType")));
                    assert_eq!(
                        s(&r, "resultType"),
                        p["status"]["errorCode"].as_i64().expect("code").to_string()
                    );
                    for pol in p["appliedConditionalAccessPolicies"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        assert!(
                            pol["conditionsSatisfied"].is_i64(),
                            "CA conditions must be integers"
                        );
                    }
                    let want = if cat == "SignInLogs" {
                        "interactiveUser"
                    } else {
                        "nonInteractiveUser"
                    };
                    assert_eq!(p["signInEventTypes"][0], want);
                    assert_eq!(p["isInteractive"].as_bool(), Some(cat == "SignInLogs"));
                    assert!(r["Level"] == 4 && r["durationMs"] == 0);
                }
                "ServicePrincipalSignInLogs" => {
                    assert!(p["userId"].is_null());
                    s(p, "servicePrincipalName");
                    assert!(r.get("identity").is_none());
                }
                "ManagedIdentitySignInLogs" => {
                    assert!(r.get("callerIpAddress").is_none());
                    assert_eq!(s(p, "ipAddress"), "");
                    s(&p["managedServiceIdentity"], "msiType");
                }
                "ADFSSignInLogs" => {
                    assert_eq!(s(p, "tokenIssuerType"), "ADFederationServices");
                    assert_eq!(s(&r, "durationMs"), "0");
                    assert_eq!(s(&r, "level"), "4");
                }
                "AuditLogs" => {
                    s(p, "activityDisplayName");
                    assert!(s(p, "activityDateTime").ends_with("+00:00"));
                }
                "ProvisioningLogs" => {
                    assert!(["Success", "Failure", "Skipped"].contains(&s(&r, "resultType")));
                    s(&p["servicePrincipal"], "Id");
                    s(&p["servicePrincipal"], "Name");
                    for st in p["provisioningSteps"].as_array().into_iter().flatten() {
                        assert!(st["provisioningStepType"].is_i64() && st["status"].is_i64());
                    }
                }
                other => panic!("unexpected category {other}"),
            }
        }
    }
    for c in [
        "SignInLogs",
        "NonInteractiveUserSignInLogs",
        "ServicePrincipalSignInLogs",
        "ManagedIdentitySignInLogs",
        "ADFSSignInLogs",
        "AuditLogs",
        "ProvisioningLogs",
    ] {
        assert!(seen.contains(c), "no {c} records");
    }
}

#[test]
fn tenant_directory_is_written() {
    let mut opts = small(OutputFormat::Graph, AttackSelection::None);
    opts.days = 1;
    let (_d, tree) = common::run(&opts);
    let t: Value = serde_json::from_slice(&tree["tenant.json"]).expect("tenant.json");
    assert_eq!(t["tenantId"], opts.effective_tenant_id());
    let users = t["users"].as_array().expect("users");
    assert_eq!(users.len(), 30);
    assert!(users.iter().any(|u| u["userType"] == "Guest"));
    assert!(users.iter().any(|u| u["accountEnabled"] == false));
    let apps = t["applications"].as_array().expect("apps");
    assert!(apps
        .iter()
        .any(|a| a["appId"] == "1fec8e78-bce4-4aaf-ab1b-5451cc387264"
            && a["displayName"] == "Microsoft Teams"));
    assert!(!t["servicePrincipals"].as_array().expect("sps").is_empty());
    assert!(!t["managedIdentities"].as_array().expect("mis").is_empty());
}
