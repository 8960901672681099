//! Labels point at real records of the right identity inside the label's window, every
//! scenario is present by default, and a clean tenant has neither labels nor attack traffic.

mod common;

use std::collections::HashMap;

use common::{parse_time, records, small};
use gatehouse_sim::{parse_attack_list, AttackSelection, OutputFormat, Scenario, SimError};
use serde_json::Value;

fn check_labels(format: OutputFormat) {
    let owned;
    let tree = if format == OutputFormat::Graph {
        common::shared_graph(true)
    } else {
        owned = common::run(&small(format, AttackSelection::Default));
        &owned.1
    };
    let labels: Vec<Value> = records(tree, "labels.jsonl");
    assert!(!labels.is_empty());
    let mut by_id: HashMap<String, Value> = HashMap::new();
    for r in records(
        tree,
        if format == OutputFormat::Graph {
            "graph/"
        } else {
            "insights-logs-"
        },
    ) {
        let r = if format == OutputFormat::Graph {
            r
        } else {
            r["properties"].clone()
        };
        let id = r["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| r["Id"].as_str().map(str::to_string))
            .expect("id");
        by_id.insert(id, r);
    }
    let mut scenarios = std::collections::BTreeSet::new();
    for l in &labels {
        let sc = l["scenario"].as_str().expect("scenario");
        scenarios.insert(sc.to_string());
        let ident = l["identity"].as_str().expect("identity");
        let start = parse_time(l["start"].as_str().expect("start"));
        let end = parse_time(l["end"].as_str().expect("end"));
        assert!(start <= end);
        let benign = sc == "vpn_travel" || sc == "new_phone";
        assert_eq!(l["malicious"].as_bool(), Some(!benign));
        let ids = l["record_ids"].as_array().expect("ids");
        assert!(!ids.is_empty(), "empty label {sc}");
        for id in ids {
            let id = id.as_str().expect("id");
            let r = by_id
                .get(id)
                .unwrap_or_else(|| panic!("label {sc} names unknown record {id}"));
            let t = r
                .get("createdDateTime")
                .or_else(|| r.get("activityDateTime"))
                .and_then(Value::as_str)
                .expect("time");
            let t = parse_time(t);
            // Graph sign-in times are truncated to the second.
            let start_floor =
                start - chrono::Duration::nanoseconds(start.timestamp_subsec_nanos() as i64);
            assert!(
                t >= start_floor && t <= end,
                "{sc}: record {id} at {t} outside {start}..{end}"
            );
            if r.get("activityDisplayName").is_some() {
                let init = r["initiatedBy"]["user"]["userPrincipalName"]
                    .as_str()
                    .unwrap_or("");
                let targets = r["targetResources"].as_array().cloned().unwrap_or_default();
                let hit = init == ident
                    || targets
                        .iter()
                        .any(|t| t["displayName"] == ident || t["userPrincipalName"] == ident);
                assert!(hit, "{sc}: audit {id} does not involve {ident}");
            } else {
                let who = r["userPrincipalName"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .or_else(|| r["servicePrincipalName"].as_str())
                    .unwrap_or("");
                assert_eq!(who, ident, "{sc}: record {id} belongs to someone else");
            }
        }
    }
    for sc in Scenario::ALL {
        assert!(
            scenarios.contains(sc.name()),
            "scenario {} missing",
            sc.name()
        );
    }
}

#[test]
fn graph_labels_name_real_records() {
    check_labels(OutputFormat::Graph);
}

#[test]
fn diagnostic_labels_name_real_records() {
    check_labels(OutputFormat::Diagnostic);
}

#[test]
fn scenario_traffic_looks_like_the_scenario() {
    let tree = common::shared_graph(true);
    let labels = records(tree, "labels.jsonl");
    let recs: HashMap<String, Value> = records(tree, "graph/")
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap_or("").to_string(), r))
        .collect();
    let codes = |sc: &str| -> Vec<i64> {
        labels
            .iter()
            .filter(|l| l["scenario"] == sc)
            .flat_map(|l| l["record_ids"].as_array().cloned().unwrap_or_default())
            .filter_map(|id| {
                recs.get(id.as_str().unwrap_or(""))
                    .and_then(|r| r["status"]["errorCode"].as_i64())
            })
            .collect()
    };
    assert!(
        codes("password_spray")
            .iter()
            .filter(|&&c| c == 50126)
            .count()
            > 10
    );
    assert!(codes("brute_force").contains(&50053));
    let fatigue = codes("mfa_fatigue");
    assert!(fatigue.iter().filter(|&&c| c == 500121).count() >= 5 && fatigue.contains(&0));
    assert!(codes("disabled_account").iter().all(|&c| c == 50057));
    let legacy: Vec<&Value> = labels
        .iter()
        .filter(|l| l["scenario"] == "legacy_protocol")
        .flat_map(|l| l["record_ids"].as_array().into_iter().flatten())
        .filter_map(|id| recs.get(id.as_str().unwrap_or("")))
        .collect();
    assert!(!legacy.is_empty());
    assert!(legacy
        .iter()
        .all(|r| ["IMAP4", "POP3", "Authenticated SMTP"]
            .contains(&r["clientAppUsed"].as_str().unwrap_or(""))));
    // The SP scenario: the audit adds a key, the sign-ins use that key.
    let sp = labels
        .iter()
        .find(|l| l["scenario"] == "sp_new_credential")
        .expect("sp label");
    let sp_recs: Vec<&Value> = sp["record_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| recs.get(id.as_str().unwrap_or("")))
        .collect();
    let audit = sp_recs
        .iter()
        .find(|r| {
            r["activityDisplayName"] == "Update application – Certificates and secrets management "
        })
        .expect("audit");
    let key = sp_recs
        .iter()
        .find_map(|r| r["servicePrincipalCredentialKeyId"].as_str())
        .expect("key id");
    let newv = audit["targetResources"][0]["modifiedProperties"][0]["newValue"]
        .as_str()
        .unwrap_or("");
    assert!(newv.contains(key), "sign-ins do not use the added key");
    // Token replay reuses a session id seen from the user's own devices.
    let tr = labels
        .iter()
        .find(|l| l["scenario"] == "token_replay")
        .expect("replay label");
    let tr_ids: std::collections::HashSet<&str> = tr["record_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let session = recs[*tr_ids.iter().next().expect("id")]["sessionId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(recs
        .values()
        .any(|r| r["sessionId"] == session.as_str()
            && !tr_ids.contains(r["id"].as_str().unwrap_or(""))));
}

#[test]
fn no_attacks_means_no_labels_and_no_attack_traffic() {
    let tree = common::shared_graph(false);
    assert!(tree["labels.jsonl"].is_empty());
    for r in records(tree, "graph/signins/") {
        let cau = r["clientAppUsed"].as_str().unwrap_or("");
        assert!(!["IMAP4", "POP3", "Authenticated SMTP"].contains(&cau));
        assert_ne!(r["userAgent"], "BAV2ROPC");
        let code = r["status"]["errorCode"].as_i64().unwrap_or(0);
        assert!(
            ![50057, 50034, 53003].contains(&code),
            "attack-like code {code}"
        );
        assert_ne!(r["riskState"], "atRisk");
        assert_ne!(r["authenticationProtocol"], "ropc");
    }
}

#[test]
fn attack_list_parsing() {
    assert_eq!(
        parse_attack_list("default").expect("default"),
        AttackSelection::Default
    );
    assert_eq!(
        parse_attack_list("none").expect("none"),
        AttackSelection::None
    );
    assert_eq!(
        parse_attack_list("password_spray, brute_force,password_spray").expect("list"),
        AttackSelection::List(vec![Scenario::PasswordSpray, Scenario::BruteForce])
    );
    assert!(matches!(
        parse_attack_list("password_spray,nope"),
        Err(SimError::UnknownScenario(..))
    ));
    for sc in Scenario::ALL {
        assert_eq!(Scenario::from_name(sc.name()), Some(sc));
    }
}

#[test]
fn selected_scenarios_only() {
    let mut opts = small(
        OutputFormat::Graph,
        parse_attack_list("brute_force").expect("list"),
    );
    opts.days = 1;
    let (_d, tree) = common::run(&opts);
    let labels = records(&tree, "labels.jsonl");
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0]["scenario"], "brute_force");
}
