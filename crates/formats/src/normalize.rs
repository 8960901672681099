//! Rewriting records of every shape to the Graph shape.
//!
//! The diagnostic export wraps the Graph object in an envelope (`time`, `category`, `properties`…)
//! and spells several things differently. [`diagnostic_to_record`] unwraps it; [`finish`] then applies
//! the documented normalisations to every record, whatever its shape:
//! - Conditional Access `conditionsSatisfied` / `conditionsNotSatisfied` integer bitmasks become
//!   Graph's comma-joined flags (`1035` → `"application,users,location,ipAddressSeenByAzureAD"`),
//!   and rule objects sent as JSON text are parsed;
//! - `userType` `Member`/`Guest` becomes `member`/`guest`;
//! - provisioning records' PascalCase members (`Id`, `Name`, `Type`, `Status`) and integer step
//!   types and results become Graph's camelCase names and strings;
//! - `signInEventTypes` is filled in when the source omits it (from the diagnostic category, or from
//!   `isInteractive` and the service principal / managed identity fields).
//!
//! Each rewrite is reversible, and fields not mentioned here pass through untouched.

use gatehouse_model::enums::{
    conditions_from_bits, provisioning_result_from_int, provisioning_step_type_from_int,
};
use gatehouse_model::{is_valid_tenant_id, LogKind, SignInKind};
use serde_json::Value;

use crate::{Object, Record};

/// Classifies a bare Graph object and wraps it as a [`Record`].
pub fn graph_to_record(
    body: Object,
    hint: Option<LogKind>,
    source: &str,
) -> Result<Record, String> {
    let log = classify_graph(&body, hint)?;
    let tenant_id = tenant_from_body(&body);
    Ok(Record {
        log,
        body,
        tenant_id,
        source: source.to_string(),
        envelope: None,
    })
}

fn classify_graph(body: &Object, hint: Option<LogKind>) -> Result<LogKind, String> {
    let has = |k: &str| body.contains_key(k);
    let by_shape = if has("createdDateTime")
        && (has("userPrincipalName")
            || has("appId")
            || has("status")
            || has("signInEventTypes")
            || has("isInteractive")
            || has("ipAddress"))
    {
        Some(LogKind::SignIns)
    } else if has("riskLastUpdatedDateTime") {
        Some(LogKind::RiskyUsers)
    } else if has("riskEventType") && (has("detectedDateTime") || has("activityDateTime")) {
        Some(LogKind::RiskDetections)
    } else if has("activityDateTime")
        && (has("provisioningAction")
            || has("jobId")
            || has("cycleId")
            || has("provisioningSteps")
            || has("provisioningStatusInfo"))
    {
        Some(LogKind::Provisioning)
    } else if has("activityDateTime")
        && (has("activityDisplayName")
            || has("loggedByService")
            || has("targetResources")
            || has("operationType"))
    {
        Some(LogKind::Audits)
    } else {
        None
    };
    match (by_shape, hint) {
        (Some(log), _) => Ok(log),
        (None, Some(log)) if has(log.time_column()) => Ok(log),
        _ => {
            let mut keys: Vec<&str> = body.keys().map(String::as_str).take(8).collect();
            if body.len() > 8 {
                keys.push("…");
            }
            Err(format!(
                "not a sign-in, audit, provisioning or risk record: no createdDateTime/activityDateTime with the fields that go with it (keys: {})",
                keys.join(", ")
            ))
        }
    }
}

/// What a diagnostic category holds.
enum Category {
    SignIn(Option<SignInKind>),
    Log(LogKind),
}

fn category(name: &str) -> Result<Category, String> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "signinlogs" => Category::SignIn(Some(SignInKind::InteractiveUser)),
        "noninteractiveusersigninlogs" => Category::SignIn(Some(SignInKind::NonInteractiveUser)),
        "serviceprincipalsigninlogs" | "microsoftserviceprincipalsigninlogs" => {
            Category::SignIn(Some(SignInKind::ServicePrincipal))
        }
        "managedidentitysigninlogs" => Category::SignIn(Some(SignInKind::ManagedIdentity)),
        "adfssigninlogs" => Category::SignIn(None),
        "auditlogs" => Category::Log(LogKind::Audits),
        "provisioninglogs" => Category::Log(LogKind::Provisioning),
        "riskyusers" => Category::Log(LogKind::RiskyUsers),
        "userriskevents" => Category::Log(LogKind::RiskDetections),
        "riskyserviceprincipals" | "serviceprincipalriskevents" | "riskyagents" | "agentriskevents" => {
            return Err(format!(
                "diagnostic category `{name}`: service principal and agent risk feeds are not stored yet (RiskyUsers and UserRiskEvents are)"
            ))
        }
        _ => {
            return Err(format!(
                "diagnostic category `{name}` is not an Entra sign-in, audit, provisioning or risk log; Gatehouse does not store it"
            ))
        }
    })
}

/// The log a diagnostic category's records are stored in (matched as [`diagnostic_to_record`]
/// matches it: without regard to case) and, for sign-ins, the type it names (`None` for AD FS
/// sign-ins, whose type the record says); `None` for a category that is not stored.
pub fn diagnostic_category(name: &str) -> Option<(LogKind, Option<SignInKind>)> {
    match category(name).ok()? {
        Category::SignIn(kind) => Some((LogKind::SignIns, kind)),
        Category::Log(log) => Some((log, None)),
    }
}

/// Unwraps an Azure Monitor diagnostic record (blob line or Event Hub record).
pub fn diagnostic_to_record(mut obj: Object) -> Result<Record, String> {
    let cat_name = get_ci(&obj, "category")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "diagnostic record without a `category`".to_string())?;
    let cat = category(&cat_name)?;
    let body = match obj.remove("properties") {
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(format!(
                "diagnostic {cat_name} record: `properties` is {}, not an object",
                crate::shape::kind_of(&other)
            ))
        }
        None => {
            return Err(format!(
                "diagnostic {cat_name} record without `properties` (only {}): there is no event to store",
                obj.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
    };
    let envelope = obj;
    let mut body = body;
    let log = match cat {
        Category::SignIn(kind) => {
            if !body.contains_key("signInEventTypes") {
                let kind = kind.unwrap_or_else(|| {
                    if body.get("isInteractive") == Some(&Value::Bool(false)) {
                        SignInKind::NonInteractiveUser
                    } else {
                        SignInKind::InteractiveUser
                    }
                });
                body.insert(
                    "signInEventTypes".into(),
                    Value::Array(vec![Value::String(kind.graph_name().into())]),
                );
            }
            LogKind::SignIns
        }
        Category::Log(log) => log,
    };
    // The event time lives in `properties`; fall back to the envelope's `time`.
    let time_col = log.time_column();
    if !body.contains_key(time_col) {
        if let Some(t) = get_ci(&envelope, "time") {
            body.insert(time_col.into(), t.clone());
        }
    }
    // The first tenant id that is usable; placeholders (`<tenant id>` in docs samples) are skipped.
    let tenant_id = get_ci(&envelope, "tenantId")
        .and_then(Value::as_str)
        .filter(|s| is_valid_tenant_id(s))
        .map(str::to_string)
        .or_else(|| tenant_from_body(&body))
        .or_else(|| {
            get_ci(&envelope, "resourceId")
                .and_then(Value::as_str)
                .and_then(tenant_from_resource_id)
                .filter(|s| is_valid_tenant_id(s))
        });
    Ok(Record {
        log,
        body,
        tenant_id,
        source: format!("diagnostic:{cat_name}"),
        envelope: Some(envelope),
    })
}

/// The tenant named in `/tenants/<id>/providers/…`.
pub fn tenant_from_resource_id(resource_id: &str) -> Option<String> {
    tenant_in_resource_id(resource_id).map(str::to_string)
}

/// [`tenant_from_resource_id`], as a part of `resource_id`.
pub fn tenant_in_resource_id(resource_id: &str) -> Option<&str> {
    const MARK: &[u8] = b"/tenants/";
    let start = resource_id
        .as_bytes()
        .windows(MARK.len())
        .position(|w| w.eq_ignore_ascii_case(MARK))?
        + MARK.len();
    let id = resource_id[start..].split('/').next()?;
    (!id.is_empty()).then_some(id)
}

fn tenant_from_body(body: &Object) -> Option<String> {
    ["tenantId", "resourceTenantId", "homeTenantId"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_str))
        .find(|s| is_valid_tenant_id(s))
        .map(str::to_string)
}

fn get_ci<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Applies the documented normalisations (module docs) to a record of any shape.
pub fn finish(mut record: Record) -> Record {
    match record.log {
        LogKind::SignIns => finish_signin(&mut record.body),
        LogKind::Provisioning => finish_provisioning(&mut record.body),
        LogKind::Audits => finish_audit(&mut record.body),
        LogKind::RiskDetections => lower_first_member(&mut record.body, "userType"),
        LogKind::RiskyUsers => {}
    }
    record
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn lower_first_member(obj: &mut Object, key: &str) {
    if let Some(Value::String(s)) = obj.get_mut(key) {
        if s.starts_with(|c: char| c.is_ascii_uppercase()) {
            *s = lower_first(s);
        }
    }
}

fn finish_signin(body: &mut Object) {
    lower_first_member(body, "userType");
    if let Some(Value::Array(policies)) = body.get_mut("appliedConditionalAccessPolicies") {
        for p in policies.iter_mut() {
            let Value::Object(p) = p else { continue };
            for key in ["conditionsSatisfied", "conditionsNotSatisfied"] {
                let bits = match p.get(key) {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s))
                        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        s.parse().ok()
                    }
                    _ => None,
                };
                if let Some(bits) = bits {
                    p.insert(key.into(), Value::String(conditions_from_bits(bits)));
                }
            }
            for key in ["includeRulesSatisfied", "excludeRulesSatisfied"] {
                if let Some(Value::Array(rules)) = p.get_mut(key) {
                    for r in rules.iter_mut() {
                        if let Value::String(text) = r {
                            if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
                                *r = v;
                            }
                        }
                    }
                }
            }
        }
    }
    if !body.contains_key("signInEventTypes") {
        let kind = infer_signin_kind(body);
        body.insert(
            "signInEventTypes".into(),
            Value::Array(vec![Value::String(kind.graph_name().into())]),
        );
    }
}

fn non_empty_str(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if !s.is_empty())
}

/// Infers the sign-in type of a record that does not say (v1.0 records, old exports).
fn infer_signin_kind(body: &Object) -> SignInKind {
    let msi = body
        .get("managedServiceIdentity")
        .and_then(|m| m.get("msiType"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty() && t != "none");
    let user = non_empty_str(body.get("userId")) || non_empty_str(body.get("userPrincipalName"));
    if msi {
        SignInKind::ManagedIdentity
    } else if !user && non_empty_str(body.get("servicePrincipalId")) {
        SignInKind::ServicePrincipal
    } else if body.get("isInteractive") == Some(&Value::Bool(false)) {
        SignInKind::NonInteractiveUser
    } else {
        SignInKind::InteractiveUser
    }
}

fn finish_audit(body: &mut Object) {
    if let Some(Value::Array(targets)) = body.get_mut("targetResources") {
        for t in targets.iter_mut() {
            if let Value::Object(t) = t {
                rename(t, "Type", "type");
            }
        }
    }
}

fn rename(obj: &mut Object, from: &str, to: &str) {
    if obj.contains_key(to) {
        return;
    }
    if let Some(v) = obj.remove(from) {
        obj.insert(to.into(), v);
    }
}

fn finish_provisioning(body: &mut Object) {
    for key in [
        "servicePrincipal",
        "sourceSystem",
        "targetSystem",
        "sourceIdentity",
        "targetIdentity",
    ] {
        if let Some(Value::Object(o)) = body.get_mut(key) {
            rename(o, "Id", "id");
            rename(o, "Name", "displayName");
            rename(o, "DisplayName", "displayName");
            rename(o, "IdentityType", "identityType");
            rename(o, "Details", "details");
        }
    }
    if let Some(Value::Object(o)) = body.get_mut("initiatedBy") {
        rename(o, "Id", "id");
        rename(o, "Name", "displayName");
        rename(o, "Type", "initiatorType");
        rename(o, "initiatingType", "initiatorType");
    }
    if let Some(Value::Object(o)) = body.get_mut("provisioningStatusInfo") {
        rename(o, "Status", "status");
        rename(o, "ErrorInformation", "errorInformation");
        int_to_enum(o, "status", provisioning_result_from_int);
        lower_first_member(o, "status");
    }
    if let Some(Value::Array(steps)) = body.get_mut("provisioningSteps") {
        for s in steps.iter_mut() {
            if let Value::Object(s) = s {
                int_to_enum(s, "provisioningStepType", provisioning_step_type_from_int);
                int_to_enum(s, "status", provisioning_result_from_int);
                lower_first_member(s, "provisioningStepType");
                lower_first_member(s, "status");
            }
        }
    }
}

fn int_to_enum(obj: &mut Object, key: &str, f: fn(i64) -> Option<&'static str>) {
    if let Some(Value::Number(n)) = obj.get(key) {
        if let Some(name) = n.as_i64().and_then(f) {
            obj.insert(key.into(), Value::String(name.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn diagnostic_signin_is_unwrapped_and_normalised() {
        let rec = diagnostic_to_record(obj(json!({
            "time": "2022-01-24T05:10:08.6816663Z", "category": "NonInteractiveUserSignInLogs",
            "tenantId": "t1", "Level": 4,
            "properties": {"id": "a", "createdDateTime": "2022-01-24T05:10:08.6816663+00:00", "userType": "Member",
              "appliedConditionalAccessPolicies": [{"id": "p", "conditionsSatisfied": 1035, "conditionsNotSatisfied": 0}]}
        })))
        .unwrap();
        let rec = finish(rec);
        assert_eq!(rec.log, LogKind::SignIns);
        assert_eq!(rec.tenant_id.as_deref(), Some("t1"));
        assert_eq!(rec.body["signInEventTypes"], json!(["nonInteractiveUser"]));
        assert_eq!(rec.body["userType"], json!("member"));
        assert_eq!(
            rec.body["appliedConditionalAccessPolicies"][0]["conditionsSatisfied"],
            json!("application,users,location,ipAddressSeenByAzureAD")
        );
        assert_eq!(
            rec.body["appliedConditionalAccessPolicies"][0]["conditionsNotSatisfied"],
            json!("none")
        );
        assert_eq!(rec.envelope.unwrap()["Level"], json!(4));
    }

    #[test]
    fn diagnostic_without_properties_is_rejected_with_reason() {
        let err = diagnostic_to_record(obj(
            json!({"time": "1/9/2007 9:41:00 AM", "category": "SignInLogs"}),
        ))
        .unwrap_err();
        assert!(err.contains("without `properties`"), "{err}");
        let err = diagnostic_to_record(obj(
            json!({"time": "x", "category": "MicrosoftGraphActivityLogs", "properties": {}}),
        ))
        .unwrap_err();
        assert!(err.contains("does not store it"), "{err}");
    }

    #[test]
    fn provisioning_pascal_case() {
        let rec = finish(Record {
            log: LogKind::Provisioning,
            body: obj(json!({"servicePrincipal": {"Id": "1", "Name": "Dropbox"},
                "initiatedBy": {"Type": "system", "Id": "", "Name": "Azure AD Provisioning Service"},
                "provisioningStatusInfo": {"Status": "success"},
                "provisioningSteps": [{"provisioningStepType": 0, "status": 2}]})),
            tenant_id: None,
            source: "x".into(),
            envelope: None,
        });
        assert_eq!(
            rec.body["servicePrincipal"],
            json!({"id": "1", "displayName": "Dropbox"})
        );
        assert_eq!(rec.body["initiatedBy"]["initiatorType"], json!("system"));
        assert_eq!(
            rec.body["provisioningStatusInfo"]["status"],
            json!("success")
        );
        assert_eq!(
            rec.body["provisioningSteps"][0],
            json!({"provisioningStepType": "import", "status": "skipped"})
        );
    }

    #[test]
    fn tenant_from_resource_path() {
        assert_eq!(
            tenant_from_resource_id("/tenants/4bbb79f7/providers/Microsoft.aadiam").as_deref(),
            Some("4bbb79f7")
        );
        assert_eq!(tenant_from_resource_id("/subscriptions/x"), None);
    }
}
