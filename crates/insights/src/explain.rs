//! Who, how, what and why of one sign-in: [`explain`] reads a stored sign-in (Graph JSON) and
//! says who signed in (user, service principal or managed identity), how (application, client,
//! protocol, authentication methods and requirement), to what (the resource), the outcome, and a
//! diagnosis in the spirit of Entra's sign-in diagnostic: what the error code means, whether it
//! is a failure or an expected interruption, which Conditional Access policies decided it, and
//! what an admin should do.

use serde::Serialize;
use serde_json::{Map, Value};

use gatehouse_model::error_codes::{describe, CodeDescription, ErrorClass, Outcome};

/// The client apps Entra logs for legacy authentication (basic authentication protocols that
/// cannot do MFA); `Browser` and `Mobile Apps and Desktop clients` are modern.
pub const LEGACY_CLIENT_APPS: &[&str] = &[
    "Exchange ActiveSync",
    "IMAP4",
    "POP3",
    "Authenticated SMTP",
    "Other clients",
    "Exchange Web Services",
    "MAPI Over HTTP",
    "Offline Address Book",
    "Outlook Anywhere (RPC over HTTP)",
    "AutoDiscover",
    "Exchange Online PowerShell",
    "Reporting Web Services",
];

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Who {
    /// `user`, `servicePrincipal` or `managedIdentity`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The user's or the identity's display name.
    pub display_name: Option<String>,
    /// The user principal name (users).
    pub user_principal_name: Option<String>,
    /// The user's object id, or the service principal's.
    pub id: Option<String>,
    /// `member` or `guest` (users).
    pub user_type: Option<String>,
    /// `systemAssigned` or `userAssigned` (managed identities).
    pub managed_identity_type: Option<String>,
    /// The Azure resource a managed identity belongs to.
    pub associated_resource_id: Option<String>,
    /// The credential a service principal used (its key id).
    pub credential_key_id: Option<String>,
}

/// How they signed in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct How {
    /// The sign-in type (`interactiveUser`, …).
    pub sign_in_type: Option<String>,
    /// The client application's id.
    pub app_id: Option<String>,
    /// Its name.
    pub app_display_name: Option<String>,
    /// The client app type (`Browser`, `Mobile Apps and Desktop clients`, `IMAP4`, …).
    pub client_app_used: Option<String>,
    /// Whether that client app is legacy authentication ([`LEGACY_CLIENT_APPS`]).
    pub legacy_authentication: bool,
    /// The protocol (`deviceCode`, `ropc`, `none`, …).
    pub authentication_protocol: Option<String>,
    /// `singleFactorAuthentication` or `multiFactorAuthentication`.
    pub authentication_requirement: Option<String>,
    /// Each authentication step: method, detail, whether it succeeded, and why.
    pub authentication_steps: Vec<AuthenticationStep>,
    /// The IP address.
    pub ip_address: Option<String>,
    /// "City, State, CC".
    pub location: Option<String>,
    /// The browser.
    pub browser: Option<String>,
    /// The operating system.
    pub operating_system: Option<String>,
    /// The device's name, if registered.
    pub device: Option<String>,
    /// Whether the device is compliant / managed.
    pub device_compliant: Option<bool>,
    /// Whether the device is managed.
    pub device_managed: Option<bool>,
}

/// One step of authentication (`authenticationDetails`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationStep {
    /// The method (`Password`, `Mobile app notification`, …).
    pub method: Option<String>,
    /// Its detail (`Password Hash Sync`).
    pub detail: Option<String>,
    /// Whether it succeeded.
    pub succeeded: Option<bool>,
    /// Why (`MFA successfully completed`, `Invalid username or password…`).
    pub result: Option<String>,
    /// `Primary authentication` or `MFA`.
    pub requirement: Option<String>,
}

/// What they signed into.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct What {
    /// The resource's id.
    pub resource_id: Option<String>,
    /// Its name.
    pub resource_display_name: Option<String>,
    /// The tenant the resource belongs to.
    pub resource_tenant_id: Option<String>,
}

/// A Conditional Access policy that took part.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDecision {
    /// Its id.
    pub id: Option<String>,
    /// Its name.
    pub display_name: Option<String>,
    /// `success`, `failure`, `notApplied`, `reportOnly…`.
    pub result: String,
    /// The grant controls it enforced (`Mfa`, `Block`, `RequireCompliantDevice`).
    pub grant_controls: Vec<String>,
    /// Its session controls.
    pub session_controls: Vec<String>,
}

/// Why the sign-in ended as it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// The outcome.
    pub outcome: Outcome,
    /// One sentence on what happened.
    pub summary: String,
    /// The error code and what it means.
    pub error: CodeDescription,
    /// The log's own words (`status.failureReason`).
    pub failure_reason: Option<String>,
    /// `status.additionalDetails`.
    pub additional_details: Option<String>,
    /// `success`, `failure` or `notApplied`.
    pub conditional_access_status: Option<String>,
    /// The policies that decided: those that failed (they blocked it or asked for more) and
    /// those that applied with success.
    pub deciding_policies: Vec<PolicyDecision>,
    /// Report-only policies that would have acted (`reportOnlyFailure`, `reportOnlyInterrupted`).
    pub report_only_policies: Vec<PolicyDecision>,
    /// Risk the sign-in carried (`riskLevelDuringSignIn` and event types), when any.
    pub risk: Option<String>,
    /// What an admin should do, most specific first.
    pub actions: Vec<String>,
}

/// A sign-in explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The sign-in's id.
    pub id: Option<String>,
    /// When.
    pub created_date_time: Option<String>,
    /// Who.
    pub who: Who,
    /// How.
    pub how: How,
    /// To what.
    pub what: What,
    /// Why it ended so.
    pub diagnosis: Diagnosis,
}

/// Explains one sign-in from its Graph JSON (as `gatehouse show` prints it). Missing fields are
/// `null`, never guessed.
pub fn explain(r: &Map<String, Value>) -> Explanation {
    let kind = r
        .get("signInEventTypes")
        .and_then(|v| v.get(0))
        .and_then(Value::as_str)
        .map(str::to_string);
    let msi = text(r, &["managedServiceIdentity", "msiType"]).filter(|t| t != "none");
    let who_kind = match kind.as_deref() {
        Some("managedIdentity") => "managedIdentity",
        Some("servicePrincipal") => "servicePrincipal",
        _ if msi.is_some() => "managedIdentity",
        _ => "user",
    };
    let user = who_kind == "user";
    let who = Who {
        kind: who_kind,
        display_name: if user {
            text(r, &["userDisplayName"])
        } else {
            text(r, &["servicePrincipalName"]).or_else(|| text(r, &["appDisplayName"]))
        },
        user_principal_name: if user {
            text(r, &["userPrincipalName"])
        } else {
            None
        },
        id: if user {
            text(r, &["userId"])
        } else {
            text(r, &["servicePrincipalId"])
        },
        user_type: if user { text(r, &["userType"]) } else { None },
        managed_identity_type: msi,
        associated_resource_id: text(r, &["managedServiceIdentity", "associatedResourceId"]),
        credential_key_id: text(r, &["servicePrincipalCredentialKeyId"]),
    };
    let client_app = text(r, &["clientAppUsed"]);
    let legacy = client_app
        .as_deref()
        .is_some_and(|c| LEGACY_CLIENT_APPS.iter().any(|l| l.eq_ignore_ascii_case(c)));
    let steps: Vec<AuthenticationStep> = r
        .get("authenticationDetails")
        .and_then(Value::as_array)
        .map(|steps| {
            steps
                .iter()
                .filter_map(Value::as_object)
                .map(|s| AuthenticationStep {
                    method: text(s, &["authenticationMethod"]),
                    detail: text(s, &["authenticationMethodDetail"]),
                    succeeded: s.get("succeeded").and_then(Value::as_bool),
                    result: text(s, &["authenticationStepResultDetail"]),
                    requirement: text(s, &["authenticationStepRequirement"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let location = {
        let parts: Vec<String> = [
            text(r, &["location", "city"]),
            text(r, &["location", "state"]),
            text(r, &["location", "countryOrRegion"]),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    };
    let how = How {
        sign_in_type: kind,
        app_id: text(r, &["appId"]),
        app_display_name: text(r, &["appDisplayName"]),
        client_app_used: client_app.clone(),
        legacy_authentication: legacy,
        authentication_protocol: text(r, &["authenticationProtocol"]),
        authentication_requirement: text(r, &["authenticationRequirement"]),
        authentication_steps: steps,
        ip_address: text(r, &["ipAddress"]),
        location,
        browser: text(r, &["deviceDetail", "browser"]),
        operating_system: text(r, &["deviceDetail", "operatingSystem"]),
        device: text(r, &["deviceDetail", "displayName"]),
        device_compliant: r
            .get("deviceDetail")
            .and_then(|d| d.get("isCompliant"))
            .and_then(Value::as_bool),
        device_managed: r
            .get("deviceDetail")
            .and_then(|d| d.get("isManaged"))
            .and_then(Value::as_bool),
    };
    let what = What {
        resource_id: text(r, &["resourceId"]),
        resource_display_name: text(r, &["resourceDisplayName"]),
        resource_tenant_id: text(r, &["resourceTenantId"]),
    };
    let diagnosis = diagnose(r, &who, &how, &what);
    Explanation {
        id: text(r, &["id"]),
        created_date_time: text(r, &["createdDateTime"]),
        who,
        how,
        what,
        diagnosis,
    }
}

fn diagnose(r: &Map<String, Value>, who: &Who, how: &How, what: &What) -> Diagnosis {
    let code = r
        .get("status")
        .and_then(|s| s.get("errorCode"))
        .and_then(Value::as_i64)
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(0);
    let error = describe(code);
    let outcome = error.class.outcome();
    let policies: Vec<PolicyDecision> = r
        .get("appliedConditionalAccessPolicies")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(Value::as_object)
                .map(|p| PolicyDecision {
                    id: text(p, &["id"]),
                    display_name: text(p, &["displayName"]),
                    result: text(p, &["result"]).unwrap_or_else(|| "unknown".into()),
                    grant_controls: strings(p.get("enforcedGrantControls")),
                    session_controls: strings(p.get("enforcedSessionControls")),
                })
                .collect()
        })
        .unwrap_or_default();
    let failed_policies: Vec<&PolicyDecision> =
        policies.iter().filter(|p| p.result == "failure").collect();
    let deciding_policies: Vec<PolicyDecision> = policies
        .iter()
        .filter(|p| p.result == "failure" || p.result == "success")
        .cloned()
        .collect();
    let report_only_policies: Vec<PolicyDecision> = policies
        .iter()
        .filter(|p| {
            p.result.starts_with("reportOnly")
                && p.result != "reportOnlyNotApplied"
                && p.result != "reportOnlySuccess"
        })
        .cloned()
        .collect();

    let identity = who
        .user_principal_name
        .clone()
        .or_else(|| who.display_name.clone())
        .unwrap_or_else(|| "An unnamed identity".into());
    let app = how
        .app_display_name
        .clone()
        .unwrap_or_else(|| "an application".into());
    let resource = what
        .resource_display_name
        .clone()
        .map(|r| format!(" to {r}"))
        .unwrap_or_default();
    let names = |ps: &[&PolicyDecision]| {
        ps.iter()
            .map(|p| {
                format!(
                    "\"{}\"{}",
                    p.display_name.as_deref().unwrap_or("(unnamed policy)"),
                    if p.grant_controls.is_empty() {
                        String::new()
                    } else {
                        format!(" (requires {})", p.grant_controls.join(", "))
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mfa_done = how
        .authentication_steps
        .iter()
        .any(|s| s.requirement.as_deref() == Some("MFA") && s.succeeded == Some(true))
        || how.authentication_requirement.as_deref() == Some("multiFactorAuthentication")
            && outcome == Outcome::Success;
    let summary = match outcome {
        Outcome::Success => format!(
            "{identity} signed into {app}{resource} successfully{}.",
            if mfa_done {
                " with multifactor authentication"
            } else {
                ""
            }
        ),
        Outcome::Interrupted => format!(
            "{identity}'s sign-in to {app} was interrupted, an expected step rather than a failure: {}{}",
            error.meaning,
            if failed_policies.is_empty() {
                String::new()
            } else {
                format!(" Asked for by Conditional Access: {}.", names(&failed_policies))
            }
        ),
        Outcome::Failure => format!(
            "{identity}'s sign-in to {app} failed with error {code}: {}{}",
            error.meaning,
            if failed_policies.is_empty() {
                String::new()
            } else {
                format!(" Decided by Conditional Access: {}.", names(&failed_policies))
            }
        ),
    };

    let risk_level = text(r, &["riskLevelDuringSignIn"]).filter(|l| l != "none" && l != "hidden");
    let events = strings(r.get("riskEventTypes_v2"));
    let risk = match (&risk_level, events.is_empty()) {
        (None, true) => None,
        (level, _) => Some(format!(
            "risk level during sign-in {}{}",
            level.as_deref().unwrap_or("none"),
            if events.is_empty() {
                String::new()
            } else {
                format!("; detections: {}", events.join(", "))
            }
        )),
    };

    let mut actions = Vec::new();
    if !failed_policies.is_empty() && outcome == Outcome::Failure {
        actions.push(format!(
            "Conditional Access blocked it: review {} (its conditions and grant controls) if the block is unwanted.",
            names(&failed_policies)
        ));
    }
    if how.legacy_authentication {
        actions.push(format!(
            "{} is legacy authentication, which cannot do MFA: block it with Conditional Access and move the client to modern authentication.",
            how.client_app_used.as_deref().unwrap_or("The client")
        ));
    }
    if risk.is_some() {
        actions.push(
            "The sign-in carried risk: check the user's other sign-ins from this IP address and location, and confirm with the user.".into(),
        );
    }
    if let Some(a) = error.action {
        if outcome != Outcome::Success {
            actions.push(a.to_string());
        }
    }
    if error.class == ErrorClass::Unknown {
        actions.push(format!(
            "Look up AADSTS{code} in Microsoft's error code reference; Gatehouse's catalogue does not know it."
        ));
    }
    if !report_only_policies.is_empty() {
        actions.push(format!(
            "Report-only policies would have acted: {} (results {}).",
            names(&report_only_policies.iter().collect::<Vec<_>>()),
            report_only_policies
                .iter()
                .map(|p| p.result.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if actions.is_empty() {
        actions.push("Nothing to do.".into());
    }

    Diagnosis {
        outcome,
        summary,
        error,
        failure_reason: text(r, &["status", "failureReason"]),
        additional_details: text(r, &["status", "additionalDetails"]),
        conditional_access_status: text(r, &["conditionalAccessStatus"]),
        deciding_policies,
        report_only_policies,
        risk,
        actions,
    }
}

/// A string at `path` (`None` when missing, null or empty).
fn text(r: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    let mut v = r.get(*first)?;
    for p in rest {
        v = v.get(*p)?;
    }
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_wrong_password_is_a_credential_failure_with_its_step() {
        let e = explain(&record(json!({
            "id": "a", "createdDateTime": "2026-10-06T13:42:28Z",
            "userDisplayName": "Astrid Nowak", "userPrincipalName": "astrid@contoso.com",
            "userId": "u1", "appDisplayName": "OfficeHome", "clientAppUsed": "Browser",
            "signInEventTypes": ["interactiveUser"],
            "status": {"errorCode": 50126, "failureReason": "Invalid username or password."},
            "authenticationDetails": [{"authenticationMethod": "Password", "succeeded": false,
                "authenticationStepRequirement": "Primary authentication"}],
            "location": {"city": "Helsinki", "state": "Uusimaa", "countryOrRegion": "FI"},
            "appliedConditionalAccessPolicies": [],
        })));
        assert_eq!(e.who.kind, "user");
        assert_eq!(e.how.location.as_deref(), Some("Helsinki, Uusimaa, FI"));
        assert_eq!(e.diagnosis.outcome, Outcome::Failure);
        assert_eq!(e.diagnosis.error.class, ErrorClass::Credential);
        assert!(
            e.diagnosis.summary.contains("failed with error 50126"),
            "{}",
            e.diagnosis.summary
        );
        assert!(
            e.diagnosis.actions[0].contains("password"),
            "{:?}",
            e.diagnosis.actions
        );
        assert_eq!(e.how.authentication_steps[0].succeeded, Some(false));
    }

    #[test]
    fn an_mfa_prompt_is_an_interruption_asked_for_by_its_policy() {
        let e = explain(&record(json!({
            "userPrincipalName": "bob@contoso.com", "appDisplayName": "Teams",
            "signInEventTypes": ["interactiveUser"], "status": {"errorCode": 50076},
            "conditionalAccessStatus": "failure",
            "appliedConditionalAccessPolicies": [
                {"id": "p1", "displayName": "Require MFA outside trusted locations",
                 "result": "failure", "enforcedGrantControls": ["Mfa"]},
                {"id": "p2", "displayName": "Admins", "result": "notApplied",
                 "enforcedGrantControls": ["Mfa"]},
                {"id": "p3", "displayName": "Block legacy (report-only)",
                 "result": "reportOnlyFailure", "enforcedGrantControls": ["Block"]},
            ],
        })));
        let d = &e.diagnosis;
        assert_eq!(d.outcome, Outcome::Interrupted);
        assert!(d.summary.contains("expected step"), "{}", d.summary);
        assert!(
            d.summary.contains("Require MFA outside trusted locations"),
            "{}",
            d.summary
        );
        assert_eq!(d.deciding_policies.len(), 1);
        assert_eq!(d.report_only_policies.len(), 1);
        assert!(
            d.actions.iter().any(|a| a.contains("Report-only")),
            "{:?}",
            d.actions
        );
    }

    #[test]
    fn a_block_names_the_policy_and_legacy_clients_are_flagged() {
        let e = explain(&record(json!({
            "userPrincipalName": "c@contoso.com", "clientAppUsed": "IMAP4",
            "status": {"errorCode": 53003},
            "appliedConditionalAccessPolicies": [
                {"displayName": "Block legacy authentication", "result": "failure",
                 "enforcedGrantControls": ["Block"]}],
            "riskLevelDuringSignIn": "high", "riskEventTypes_v2": ["passwordSpray"],
        })));
        let d = &e.diagnosis;
        assert!(e.how.legacy_authentication);
        assert!(
            d.actions[0].contains("Block legacy authentication"),
            "{:?}",
            d.actions
        );
        assert!(
            d.actions
                .iter()
                .any(|a| a.contains("legacy authentication")),
            "{:?}",
            d.actions
        );
        assert_eq!(
            d.risk.as_deref(),
            Some("risk level during sign-in high; detections: passwordSpray")
        );
    }

    #[test]
    fn workload_identities_and_unknown_codes() {
        let e = explain(&record(json!({
            "signInEventTypes": ["managedIdentity"], "servicePrincipalName": "id-aks",
            "servicePrincipalId": "sp1", "resourceDisplayName": "Azure Key Vault",
            "managedServiceIdentity": {"msiType": "userAssigned", "associatedResourceId": "/sub/x"},
            "status": {"errorCode": 0},
        })));
        assert_eq!(e.who.kind, "managedIdentity");
        assert_eq!(e.who.id.as_deref(), Some("sp1"));
        assert_eq!(e.who.managed_identity_type.as_deref(), Some("userAssigned"));
        assert_eq!(e.diagnosis.outcome, Outcome::Success);
        assert!(
            e.diagnosis
                .summary
                .contains("to Azure Key Vault successfully"),
            "{}",
            e.diagnosis.summary
        );
        assert_eq!(e.diagnosis.actions, vec!["Nothing to do.".to_string()]);

        let e = explain(&record(json!({"status": {"errorCode": 999_999}})));
        assert_eq!(e.diagnosis.error.class, ErrorClass::Unknown);
        assert!(e
            .diagnosis
            .actions
            .iter()
            .any(|a| a.contains("AADSTS999999")));
        // Nothing at all: still an explanation, with nulls.
        let e = explain(&Map::new());
        assert_eq!(e.who.kind, "user");
        assert!(e.id.is_none());
    }
}
