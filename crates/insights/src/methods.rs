//! Authentication methods activity and application credential activity, in Graph's shapes:
//! usage from the sign-ins' `authenticationDetails`, registration from the audit log
//! ("User registered security info" / "User deleted security info"), credentials from service
//! principals' sign-ins and the audit log's "Certificates and secrets management" records.
//!
//! What the logs do not tell is not invented: a method registered before the retained audit
//! records is not known to be registered, and a credential's expiry is `null` unless a record
//! states it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Utc};
use gatehouse_model::SignInKind;
use gatehouse_query::QueryEngine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::questions::{int, rfc3339, run, text};
use crate::{Period, Result};

/// The Graph `userSignInUsageByAuthMethod` name of an `authenticationDetails` method as Entra
/// logs it; `None` for entries that are not a method used in the sign-in ("Previously
/// satisfied", which reuses an earlier MFA claim) or that Graph's enumeration has no value for.
pub fn graph_method(logged: &str) -> Option<&'static str> {
    Some(match logged.trim().to_ascii_lowercase().as_str() {
        "password" => "password",
        "text message" | "sms" => "sms",
        "sms sign-in" => "smsSignIn",
        "phone call" | "mobile phone call" => "mobilePhone",
        "alternate mobile phone call" => "alternateMobilePhone",
        "office phone call" => "officePhone",
        "mobile app notification" | "microsoft authenticator app (push)" => {
            "microsoftAuthenticatorPush"
        }
        "oath verification code"
        | "mobile app verification code"
        | "oath software token"
        | "oath hardware token" => "oneTimePasscode",
        "passwordless phone sign-in" | "microsoft authenticator (passwordless)" => {
            "microsoftAuthenticatorPasswordless"
        }
        "windows hello for business" => "windowsHelloForBusiness",
        "fido2 security key" => "fido2SecurityKey",
        "temporary access pass" => "temporaryAccessPass",
        "macos platform credential" | "platform credential for macos" => "macOsSecureEnclaveKey",
        "passkey (device-bound)" | "passkey (microsoft authenticator)" => "passKeyDeviceBound",
        "passkey (synced)" => "passKeySynced",
        "external authentication method" => "externalAuthMethod",
        _ => return None,
    })
}

/// `userSignInUsageByAuthMethodActivity`: successful uses of one method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodUsage {
    /// Graph's name of the method.
    pub authentication_method: &'static str,
    /// Successful steps with it in successful user sign-ins.
    pub success_activity_count: u64,
}

/// `userSignInsByAuthMethodSummary(period=…)`: per method, its successful steps in successful
/// interactive user sign-ins of `period`, most used first. Whole days come from the days a
/// server keeps ([`crate::Source::partials`]).
pub async fn sign_ins_by_auth_method(
    src: &crate::Source<'_>,
    period: Period,
) -> Result<Vec<MethodUsage>> {
    let interactive = SignInKind::InteractiveUser.graph_name();
    let sql = |time: &str, by_day: bool| {
        // The inner query computes `_day`; the outer one carries it and groups by it.
        let day = crate::partials::day_group(by_day, true);
        format!(
            "SELECT d['authenticationMethod'] AS method, count(*) AS n{day} FROM \
             (SELECT unnest(authenticationDetails) AS d{} FROM signins \
              WHERE {time} AND array_has(signInEventTypes, '{interactive}') \
              AND status.errorCode = 0) \
             WHERE d['succeeded'] GROUP BY 1{day}",
            crate::partials::day_column(by_day),
        )
    };
    let batches = crate::partials::grouped(src, period, &sql, Vec::new()).await?;
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            if let Some(m) = text(b, "method", i).as_deref().and_then(graph_method) {
                *counts.entry(m).or_default() += int(b, "n", i);
            }
        }
    }
    let mut out: Vec<MethodUsage> = counts
        .into_iter()
        .map(
            |(authentication_method, success_activity_count)| MethodUsage {
                authentication_method,
                success_activity_count,
            },
        )
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.success_activity_count));
    Ok(out)
}

/// The audit records whose activity matches the SQL pattern `like` (a constant of this
/// module), oldest first, as Graph JSON.
async fn audits(engine: &QueryEngine, like: &str) -> Result<Vec<Map<String, Value>>> {
    let sql = format!(
        "SELECT * FROM audits WHERE activityDisplayName LIKE '{like}' ORDER BY activityDateTime"
    );
    let mut out = Vec::new();
    for b in &run(engine, &sql, Vec::new()).await? {
        for row in 0..b.num_rows() {
            out.push(gatehouse_export::record_to_json(b, row));
        }
    }
    Ok(out)
}

/// The method a "User registered/deleted security info" record names (`resultReason` is
/// "User registered Authenticator App with Notification and Code").
fn registered_method(reason: &str) -> Option<&'static str> {
    let what = reason
        .strip_prefix("User registered ")
        .or_else(|| reason.strip_prefix("User deleted "))
        .or_else(|| reason.strip_prefix("User changed default security info to "))?
        .to_ascii_lowercase();
    Some(if what.contains("authenticator app") {
        if what.contains("passwordless") {
            "microsoftAuthenticatorPasswordless"
        } else {
            "microsoftAuthenticatorPush"
        }
    } else if what.contains("fido") || what.contains("security key") {
        "fido2"
    } else if what.contains("passkey") {
        "passKeyDeviceBound"
    } else if what.contains("hello") {
        "windowsHelloForBusiness"
    } else if what.contains("alternate") {
        "alternateMobilePhone"
    } else if what.contains("office phone") {
        "officePhone"
    } else if what.contains("phone") || what.contains("sms") {
        "mobilePhone"
    } else if what.contains("email") {
        "email"
    } else if what.contains("temporary access pass") {
        "temporaryAccessPass"
    } else if what.contains("software oath") || what.contains("hardware oath") {
        "softwareOneTimePasscode"
    } else if what.contains("security question") {
        "securityQuestion"
    } else {
        return None;
    })
}

/// Methods that make a user MFA-capable.
const MFA_METHODS: &[&str] = &[
    "microsoftAuthenticatorPush",
    "microsoftAuthenticatorPasswordless",
    "fido2",
    "passKeyDeviceBound",
    "windowsHelloForBusiness",
    "mobilePhone",
    "alternateMobilePhone",
    "officePhone",
    "softwareOneTimePasscode",
];

/// `userRegistrationDetails` as far as the retained audit records tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistration {
    /// The user's object id.
    pub id: String,
    /// Their user principal name.
    pub user_principal_name: Option<String>,
    /// Methods registered (and not deleted since) in the records.
    pub methods_registered: Vec<&'static str>,
    /// Whether one of them is an MFA method.
    pub is_mfa_registered: bool,
    /// Whether one of them is passwordless.
    pub is_passwordless_capable: bool,
    /// The last registration change.
    pub last_updated_date_time: String,
}

/// `userRegistrationDetails`: per user with a registration in the audit log, the methods they
/// registered and kept, sorted by user principal name.
pub async fn user_registration_details(engine: &QueryEngine) -> Result<Vec<UserRegistration>> {
    let records = audits(engine, "User % security info%").await?;
    let mut users: HashMap<String, (Option<String>, BTreeSet<&'static str>, String)> =
        HashMap::new();
    for r in &records {
        if r.get("result").and_then(Value::as_str) != Some("success") {
            continue;
        }
        let reason = r.get("resultReason").and_then(Value::as_str).unwrap_or("");
        let Some(method) = registered_method(reason) else {
            continue;
        };
        let target = r
            .get("targetResources")
            .and_then(|t| t.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        let Some(id) = target.get("id").and_then(Value::as_str) else {
            continue;
        };
        let at = r
            .get("activityDateTime")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let e = users.entry(id.to_string()).or_default();
        if let Some(upn) = target.get("userPrincipalName").and_then(Value::as_str) {
            e.0 = Some(upn.to_string());
        }
        if reason.starts_with("User deleted ") {
            e.1.remove(method);
        } else {
            e.1.insert(method);
        }
        e.2 = at;
    }
    let mut out: Vec<UserRegistration> = users
        .into_iter()
        .map(|(id, (upn, methods, at))| UserRegistration {
            is_mfa_registered: methods.iter().any(|m| MFA_METHODS.contains(m)),
            is_passwordless_capable: methods.iter().any(|m| {
                matches!(
                    *m,
                    "microsoftAuthenticatorPasswordless"
                        | "fido2"
                        | "passKeyDeviceBound"
                        | "windowsHelloForBusiness"
                )
            }),
            id,
            user_principal_name: upn,
            methods_registered: methods.into_iter().collect(),
            last_updated_date_time: at,
        })
        .collect();
    out.sort_by(|a, b| {
        a.user_principal_name
            .cmp(&b.user_principal_name)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}

/// `userRegistrationMethodCount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodCount {
    /// The method.
    pub authentication_method: &'static str,
    /// Users with it registered.
    pub user_count: u64,
}

/// `userRegistrationMethodSummary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationSummary {
    /// Users with a registration in the audit log.
    pub total_user_count: u64,
    /// `all`.
    pub user_types: &'static str,
    /// `all`.
    pub user_roles: &'static str,
    /// Per method.
    pub user_registration_method_counts: Vec<MethodCount>,
}

/// `usersRegisteredByMethod`: users per registered method, from [`user_registration_details`].
pub fn users_registered_by_method(users: &[UserRegistration]) -> RegistrationSummary {
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for u in users {
        for m in &u.methods_registered {
            *counts.entry(m).or_default() += 1;
        }
    }
    RegistrationSummary {
        total_user_count: users.len() as u64,
        user_types: "all",
        user_roles: "all",
        user_registration_method_counts: counts
            .into_iter()
            .map(|(authentication_method, user_count)| MethodCount {
                authentication_method,
                user_count,
            })
            .collect(),
    }
}

/// `signInActivity` of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSignIn {
    /// The last sign-in with it.
    pub last_sign_in_date_time: String,
    /// That sign-in's id.
    pub last_sign_in_request_id: Option<String>,
}

/// `appCredentialSignInActivity`, with Gatehouse's flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialActivity {
    /// `<appId>_<keyId>`.
    pub id: String,
    /// The credential's key id.
    pub key_id: String,
    /// `clientSecret` or `certificate`.
    pub key_type: Option<String>,
    /// `verify` (secrets and certificates that prove the app's identity).
    pub key_usage: Option<String>,
    /// The application id.
    pub app_id: Option<String>,
    /// The application object (from the audit record).
    pub app_object_id: Option<String>,
    /// The service principal that signed in with it.
    pub service_principal_object_id: Option<String>,
    /// The resource of its last sign-in.
    pub resource_id: Option<String>,
    /// `application` (added to the app registration) or `servicePrincipal`.
    pub credential_origin: Option<String>,
    /// When it was added, if the audit log tells.
    pub created_date_time: Option<String>,
    /// When it expires, if a record tells (Entra's audit records do not carry it).
    pub expiration_date_time: Option<String>,
    /// Its last sign-in (`null`: none in the retained logs).
    pub sign_in_activity: Option<CredentialSignIn>,
    /// Sign-ins with it in the retained logs (Gatehouse).
    pub sign_in_count: u64,
    /// `unusedFor90Days`, `neverUsed`, `expiresWithin30Days`, `expired` (Gatehouse).
    pub flags: Vec<&'static str>,
}

/// `appCredentialSignInActivities`: every credential that service principals signed in with,
/// and every one the audit log shows added, with its last sign-in and flags for credentials
/// unused for 90 days or near expiry (relative to `now`). Sorted by application, then key.
pub async fn app_credential_sign_in_activities(
    engine: &QueryEngine,
    now: DateTime<Utc>,
    with_audits: bool,
) -> Result<Vec<CredentialActivity>> {
    let sql = format!(
        "SELECT appId, servicePrincipalId AS sp, servicePrincipalCredentialKeyId AS key, \
         max(clientCredentialType) AS type, count(*) AS n, max(createdDateTime) AS last, \
         last_value(id ORDER BY createdDateTime) AS request, \
         last_value(resourceId ORDER BY createdDateTime) AS resource \
         FROM signins WHERE array_has(signInEventTypes, '{}') \
         AND servicePrincipalCredentialKeyId IS NOT NULL AND servicePrincipalCredentialKeyId <> '' \
         GROUP BY 1, 2, 3",
        SignInKind::ServicePrincipal.graph_name()
    );
    let mut keys: BTreeMap<(Option<String>, String), CredentialActivity> = BTreeMap::new();
    let mut last_use: HashMap<(Option<String>, String), i64> = HashMap::new();
    for b in &run(engine, &sql, Vec::new()).await? {
        let lasts = b
            .column_by_name("last")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>().cloned());
        for i in 0..b.num_rows() {
            let Some(key) = text(b, "key", i) else {
                continue;
            };
            let app = text(b, "appId", i);
            let last = lasts.as_ref().filter(|l| l.is_valid(i)).map(|l| l.value(i));
            if let Some(t) = last {
                last_use.insert((app.clone(), key.clone()), t);
            }
            keys.insert(
                (app.clone(), key.clone()),
                CredentialActivity {
                    id: format!("{}_{key}", app.clone().unwrap_or_default()),
                    key_id: key,
                    key_type: text(b, "type", i),
                    key_usage: Some("verify".into()),
                    app_id: app,
                    app_object_id: None,
                    service_principal_object_id: text(b, "sp", i),
                    resource_id: text(b, "resource", i),
                    credential_origin: None,
                    created_date_time: None,
                    expiration_date_time: None,
                    sign_in_activity: last.map(|t| CredentialSignIn {
                        last_sign_in_date_time: rfc3339(t),
                        last_sign_in_request_id: text(b, "request", i),
                    }),
                    sign_in_count: int(b, "n", i),
                    flags: Vec::new(),
                },
            );
        }
    }
    if with_audits {
        for r in audits(engine, "%Certificates and secrets management%").await? {
            credential_audit(&r, &mut keys);
        }
    }
    let now_us = now.timestamp_micros();
    const DAY_US: i64 = 86_400 * 1_000_000;
    let mut out: Vec<CredentialActivity> = keys
        .into_iter()
        .map(|(k, mut c)| {
            match last_use.get(&k) {
                None => c.flags.push("neverUsed"),
                Some(t) if now_us - t > 90 * DAY_US => c.flags.push("unusedFor90Days"),
                _ => {}
            }
            if let Some(exp) = c
                .expiration_date_time
                .as_deref()
                .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            {
                let left = exp.timestamp_micros() - now_us;
                if left < 0 {
                    c.flags.push("expired");
                } else if left < 30 * DAY_US {
                    c.flags.push("expiresWithin30Days");
                }
            }
            c
        })
        .collect();
    out.sort_by(|a, b| (&a.app_id, &a.key_id).cmp(&(&b.app_id, &b.key_id)));
    Ok(out)
}

/// Takes the credentials an "Update application – Certificates and secrets management" record
/// adds (`KeyDescription` entries in the new value and not the old one) into `keys`.
fn credential_audit(
    r: &Map<String, Value>,
    keys: &mut BTreeMap<(Option<String>, String), CredentialActivity>,
) {
    let at = r
        .get("activityDateTime")
        .and_then(Value::as_str)
        .map(str::to_string);
    let app_id = r
        .get("additionalDetails")
        .and_then(Value::as_array)
        .and_then(|d| {
            d.iter()
                .find(|kv| kv.get("key").and_then(Value::as_str) == Some("AppId"))
        })
        .and_then(|kv| kv.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let targets = r
        .get("targetResources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in targets {
        let object = t.get("id").and_then(Value::as_str).map(str::to_string);
        let props = t
            .get("modifiedProperties")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for p in props {
            if p.get("displayName").and_then(Value::as_str) != Some("KeyDescription") {
                continue;
            }
            let old = key_descriptions(p.get("oldValue"));
            for (key_id, fields) in key_descriptions(p.get("newValue")) {
                let c = keys
                    .entry((app_id.clone(), key_id.clone()))
                    .or_insert_with(|| CredentialActivity {
                        id: format!("{}_{key_id}", app_id.clone().unwrap_or_default()),
                        key_id: key_id.clone(),
                        key_type: None,
                        key_usage: None,
                        app_id: app_id.clone(),
                        app_object_id: None,
                        service_principal_object_id: None,
                        resource_id: None,
                        credential_origin: None,
                        created_date_time: None,
                        expiration_date_time: None,
                        sign_in_activity: None,
                        sign_in_count: 0,
                        flags: Vec::new(),
                    });
                c.app_object_id = c.app_object_id.take().or_else(|| object.clone());
                c.credential_origin = Some("application".into());
                if c.key_type.is_none() {
                    c.key_type = fields.get("KeyType").map(|t| match t.as_str() {
                        "Password" => "clientSecret".to_string(),
                        "AsymmetricX509Cert" => "certificate".to_string(),
                        other => other.to_string(),
                    });
                }
                if let Some(u) = fields.get("KeyUsage") {
                    c.key_usage = Some(u.to_ascii_lowercase());
                }
                if let Some(end) = fields.get("EndDate").or_else(|| fields.get("EndDateTime")) {
                    c.expiration_date_time = Some(end.clone());
                }
                if !old.iter().any(|(k, _)| *k == key_id) && c.created_date_time.is_none() {
                    c.created_date_time = at.clone();
                }
            }
        }
    }
}

/// The entries of a `KeyDescription` value: a JSON array of strings like
/// `[KeyIdentifier=…,KeyType=Password,KeyUsage=Verify,DisplayName=…]`.
fn key_descriptions(v: Option<&Value>) -> Vec<(String, BTreeMap<String, String>)> {
    let Some(text) = v.and_then(Value::as_str) else {
        return Vec::new();
    };
    let entries: Vec<String> = serde_json::from_str(text).unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| {
            let inner = e.trim().trim_start_matches('[').trim_end_matches(']');
            let fields: BTreeMap<String, String> = inner
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            Some((fields.get("KeyIdentifier")?.clone(), fields))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_methods_map_to_graphs_names() {
        assert_eq!(graph_method("Password"), Some("password"));
        assert_eq!(
            graph_method("Mobile app notification"),
            Some("microsoftAuthenticatorPush")
        );
        assert_eq!(graph_method("Text message"), Some("sms"));
        assert_eq!(
            graph_method("Windows Hello for Business"),
            Some("windowsHelloForBusiness")
        );
        assert_eq!(graph_method("Previously satisfied"), None);
        assert_eq!(
            registered_method("User registered Authenticator App with Notification and Code"),
            Some("microsoftAuthenticatorPush")
        );
        assert_eq!(
            registered_method("User deleted Mobile Phone SMS"),
            Some("mobilePhone")
        );
        assert_eq!(registered_method("Something else"), None);
    }

    #[test]
    fn key_descriptions_are_parsed() {
        let v = Value::String(
            "[\"[KeyIdentifier=k1,KeyType=Password,KeyUsage=Verify,DisplayName=a]\",\"[KeyIdentifier=k2,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=b,EndDate=2027-01-01T00:00:00Z]\"]".into(),
        );
        let keys = key_descriptions(Some(&v));
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].0, "k2");
        assert_eq!(keys[1].1["EndDate"], "2027-01-01T00:00:00Z");
        assert!(key_descriptions(Some(&Value::String("not json".into()))).is_empty());
    }
}
