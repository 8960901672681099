//! Entra admin center CSV downloads mapped to the Graph shape.
//!
//! The "Sign-in logs" blade downloads one CSV per tab: `InteractiveSignIns_<from>_<to>.csv` and
//! `NonInteractiveSignIns_…` (the same 57-column header), `ApplicationSignIns_…` (service
//! principals, 22 columns), `MSISignIns_…` (managed identities) and `…_AuthDetails_…` (the
//! authentication steps of the sign-ins, joined on Request ID). Older downloads have a short
//! header (`CreatedDateTime,UserPrincipalName,…`). Headers are English display names with quirks:
//! trailing spaces (`Application ID `), a double space (`Autonomous system  number`) and a
//! duplicated `Incoming token type` column; they are matched ignoring case and runs of spaces.
//!
//! [`PortalHeader::detect`] recognises a header (using the file name, when known, to tell the
//! interactive and non-interactive downloads apart) and [`PortalHeader::row_to_record`] maps a
//! row to a Graph `signIn`. Columns without a Graph counterpart (`Status`,
//! `Multifactor authentication result`, …) and values that do not fit their property's type go
//! to the envelope under their header names. Localised headers are not recognised.

use gatehouse_model::enums::{
    ClientCredentialType, ConditionalAccessStatus, MsiType, SignInUserType, TokenIssuerType,
};
use gatehouse_model::time::parse_timestamp;
use gatehouse_model::{LogKind, SignInKind};
use serde_json::Value;

use crate::loganalytics::{parse_bool, parse_int};
use crate::{Object, Record};

/// Which admin center download a CSV header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalCsvKind {
    /// `InteractiveSignIns_…csv`: interactive user sign-ins.
    InteractiveSignIns,
    /// `NonInteractiveSignIns_…csv`: the same header, told apart by the file name only.
    NonInteractiveSignIns,
    /// `ApplicationSignIns_…csv`: service principal sign-ins.
    ApplicationSignIns,
    /// `MSISignIns_…csv`: managed identity sign-ins.
    ManagedIdentitySignIns,
    /// `…_AuthDetails_…csv`: authentication steps, joined to a sign-in file on Request ID.
    AuthDetails,
    /// The older sign-in download (`CreatedDateTime,UserPrincipalName,…`), which has no request id.
    LegacySignIns,
    /// The audit log download (`Date (UTC),CorrelationId,Service,Category,Activity,…`).
    AuditLogs,
}

impl PortalCsvKind {
    /// The `signInEventTypes` value rows of this download get, if any.
    pub fn sign_in_kind(self) -> Option<SignInKind> {
        match self {
            PortalCsvKind::InteractiveSignIns | PortalCsvKind::LegacySignIns => {
                Some(SignInKind::InteractiveUser)
            }
            PortalCsvKind::NonInteractiveSignIns => Some(SignInKind::NonInteractiveUser),
            PortalCsvKind::ApplicationSignIns => Some(SignInKind::ServicePrincipal),
            PortalCsvKind::ManagedIdentitySignIns => Some(SignInKind::ManagedIdentity),
            PortalCsvKind::AuthDetails | PortalCsvKind::AuditLogs => None,
        }
    }
}

/// How a cell becomes a Graph value.
#[derive(Clone, Copy)]
enum Conv {
    Str,
    Int,
    Bool,
    /// A timestamp, validated and kept as text.
    Time,
    /// A Graph enum written as a display name (`Not Applied`, `Single-factor authentication`).
    Enum(fn(&str) -> Option<&'static str>),
    /// `City, State, CC`.
    Location,
    /// `Success` / `Failure` / `Interrupted`.
    Status,
}

/// Header (normalised: lower case, single spaces) → Graph path (dot-separated) and conversion.
const COLUMNS: &[(&str, &str, Conv)] = &[
    ("date (utc)", "createdDateTime", Conv::Time),
    ("request id", "id", Conv::Str),
    ("user agent", "userAgent", Conv::Str),
    ("correlation id", "correlationId", Conv::Str),
    ("user id", "userId", Conv::Str),
    ("user", "userDisplayName", Conv::Str),
    ("username", "userPrincipalName", Conv::Str),
    ("user type", "userType", Conv::Enum(user_type)),
    (
        "cross tenant access type",
        "crossTenantAccessType",
        Conv::Str,
    ),
    ("incoming token type", "incomingTokenType", Conv::Str),
    (
        "authentication protocol",
        "authenticationProtocol",
        Conv::Str,
    ),
    (
        "unique token identifier",
        "uniqueTokenIdentifier",
        Conv::Str,
    ),
    (
        "original transfer method",
        "originalTransferMethod",
        Conv::Str,
    ),
    (
        "client credential type",
        "clientCredentialType",
        Conv::Enum(client_credential_type),
    ),
    (
        "token protection - sign in session",
        "tokenProtectionStatusDetails.signInSessionStatus",
        Conv::Str,
    ),
    (
        "token protection - sign in session statuscode",
        "tokenProtectionStatusDetails.signInSessionStatusCode",
        Conv::Int,
    ),
    ("application", "appDisplayName", Conv::Str),
    ("application id", "appId", Conv::Str),
    ("app owner tenant id", "appOwnerTenantId", Conv::Str),
    ("resource", "resourceDisplayName", Conv::Str),
    ("resource id", "resourceId", Conv::Str),
    ("resource tenant id", "resourceTenantId", Conv::Str),
    (
        "resource owner tenant id",
        "resourceOwnerTenantId",
        Conv::Str,
    ),
    ("home tenant id", "homeTenantId", Conv::Str),
    ("home tenant name", "homeTenantName", Conv::Str),
    ("ip address", "ipAddress", Conv::Str),
    ("location", "location", Conv::Location),
    ("status", "status", Conv::Status),
    ("sign-in error code", "status.errorCode", Conv::Int),
    ("failure reason", "status.failureReason", Conv::Str),
    ("client app", "clientAppUsed", Conv::Str),
    ("device id", "deviceDetail.deviceId", Conv::Str),
    ("browser", "deviceDetail.browser", Conv::Str),
    (
        "operating system",
        "deviceDetail.operatingSystem",
        Conv::Str,
    ),
    ("compliant", "deviceDetail.isCompliant", Conv::Bool),
    ("managed", "deviceDetail.isManaged", Conv::Bool),
    ("join type", "deviceDetail.trustType", Conv::Str),
    (
        "multifactor authentication auth method",
        "mfaDetail.authMethod",
        Conv::Str,
    ),
    (
        "multifactor authentication auth detail",
        "mfaDetail.authDetail",
        Conv::Str,
    ),
    (
        "authentication requirement",
        "authenticationRequirement",
        Conv::Enum(authentication_requirement),
    ),
    ("sign-in identifier", "signInIdentifier", Conv::Str),
    ("session id", "sessionId", Conv::Str),
    (
        "ip address (seen by resource)",
        "ipAddressFromResourceProvider",
        Conv::Str,
    ),
    (
        "through global secure access",
        "isThroughGlobalSecureAccess",
        Conv::Bool,
    ),
    (
        "global secure access ip address",
        "globalSecureAccessIpAddress",
        Conv::Str,
    ),
    (
        "autonomous system number",
        "autonomousSystemNumber",
        Conv::Int,
    ),
    ("flagged for review", "flaggedForReview", Conv::Bool),
    (
        "token issuer type",
        "tokenIssuerType",
        Conv::Enum(token_issuer_type),
    ),
    ("token issuer name", "tokenIssuerName", Conv::Str),
    ("latency", "processingTimeInMilliseconds", Conv::Int),
    (
        "conditional access",
        "conditionalAccessStatus",
        Conv::Enum(ca_status),
    ),
    (
        "managed identity type",
        "managedServiceIdentity.msiType",
        Conv::Enum(msi_type),
    ),
    (
        "associated resource id",
        "managedServiceIdentity.associatedResourceId",
        Conv::Str,
    ),
    (
        "federated token id",
        "managedServiceIdentity.federatedTokenId",
        Conv::Str,
    ),
    (
        "federated token issuer",
        "managedServiceIdentity.federatedTokenIssuer",
        Conv::Str,
    ),
    ("service principal id", "servicePrincipalId", Conv::Str),
    ("service principal name", "servicePrincipalName", Conv::Str),
    (
        "credential key id",
        "servicePrincipalCredentialKeyId",
        Conv::Str,
    ),
    (
        "credential thumbprint",
        "servicePrincipalCredentialThumbprint",
        Conv::Str,
    ),
    // The legacy download.
    ("createddatetime", "createdDateTime", Conv::Time),
    ("userprincipalname", "userPrincipalName", Conv::Str),
    ("userdisplayname", "userDisplayName", Conv::Str),
    ("appdisplayname", "appDisplayName", Conv::Str),
    ("ipaddress", "ipAddress", Conv::Str),
    ("city", "location.city", Conv::Str),
    ("country", "location.countryOrRegion", Conv::Str),
    ("os", "deviceDetail.operatingSystem", Conv::Str),
    ("riskstate", "riskState", Conv::Str),
    ("risklevelduringsignin", "riskLevelDuringSignIn", Conv::Str),
    ("risklevelaggregated", "riskLevelAggregated", Conv::Str),
    (
        "conditionalaccessstatus",
        "conditionalAccessStatus",
        Conv::Enum(ca_status),
    ),
];

const LEGACY_COLUMNS: &[&str] = &[
    "createddatetime",
    "userprincipalname",
    "userdisplayname",
    "appdisplayname",
    "ipaddress",
    "city",
    "country",
    "device",
    "browser",
    "os",
    "status",
    "riskstate",
    "risklevelduringsignin",
    "risklevelaggregated",
    "conditionalaccessstatus",
];

/// A recognised admin center CSV header.
#[derive(Debug, Clone)]
pub struct PortalHeader {
    /// Which download it is.
    pub kind: PortalCsvKind,
    /// Each column's header as written (trimmed), for messages.
    names: Vec<String>,
    /// Each column's envelope key: its header, or `<header> (column N)` for a repeated header.
    keys: Vec<String>,
    /// Each column's index into [`COLUMNS`], if it maps to a Graph property.
    targets: Vec<Option<usize>>,
}

/// Lower case, trimmed, runs of whitespace collapsed to one space.
fn normalise(header: &str) -> String {
    header
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl PortalHeader {
    /// Recognises an admin center download from its header row. `file_name` (the path or just the
    /// name) tells `NonInteractiveSignIns_…` from `InteractiveSignIns_…` (same header) and
    /// confirms `MSISignIns_…` and `…_AuthDetails_…`; without it the sign-in header is taken as
    /// interactive. `None` when the header is not a known download.
    pub fn detect(headers: &[&str], file_name: Option<&str>) -> Option<PortalHeader> {
        let norm: Vec<String> = headers.iter().map(|h| normalise(h)).collect();
        let has = |n: &str| norm.iter().any(|h| h == n);
        let base = file_name
            .map(|f| {
                f.rsplit(['/', '\\'])
                    .next()
                    .unwrap_or(f)
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();

        let user = has("username") || has("user id") || has("user");
        let app = has("service principal id")
            || has("service principal name")
            || has("credential key id");
        let modern = has("date (utc)") || has("request id");
        let auth_method = norm.iter().any(|h| h.starts_with("authentication method"));

        let auth_details = (base.contains("authdetails") && (modern || auth_method))
            || (has("request id") && auth_method && !user && !app && !has("application"));
        let kind = if auth_details {
            PortalCsvKind::AuthDetails
        } else if has("date (utc)")
            && has("activity")
            && (has("service") || norm.iter().any(|h| h.starts_with("target1")))
        {
            PortalCsvKind::AuditLogs
        } else if modern && user {
            if base.contains("noninteractive") {
                PortalCsvKind::NonInteractiveSignIns
            } else {
                PortalCsvKind::InteractiveSignIns
            }
        } else if modern && !user && (base.contains("msisignins") || has("managed identity type")) {
            PortalCsvKind::ManagedIdentitySignIns
        } else if modern && app {
            PortalCsvKind::ApplicationSignIns
        } else if has("createddatetime")
            && has("userprincipalname")
            && !has("id")
            && !has("timegenerated")
            && norm
                .iter()
                .filter(|h| LEGACY_COLUMNS.contains(&h.as_str()))
                .count()
                * 2
                >= norm.len()
        {
            PortalCsvKind::LegacySignIns
        } else {
            return None;
        };

        let targets = norm
            .iter()
            .map(|h| COLUMNS.iter().position(|(name, _, _)| name == h))
            .collect();
        let names: Vec<String> = headers.iter().map(|h| h.trim().to_string()).collect();
        let keys = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                if name.is_empty() || norm[..i].contains(&norm[i]) {
                    format!("{name} (column {})", i + 1)
                } else {
                    name.clone()
                }
            })
            .collect();
        Some(PortalHeader {
            kind,
            names,
            keys,
            targets,
        })
    }

    /// A reason to reject the whole file instead of its rows, for downloads Gatehouse cannot read.
    pub fn unsupported(&self) -> Option<String> {
        match self.kind {
            PortalCsvKind::AuditLogs => Some(
                "an Entra admin center audit log CSV download: its flattened Actor/Target1…/\
                 AdditionalDetail1… columns are not documented and carry no audit record id, so \
                 Gatehouse cannot store it; download the audit log as JSON instead"
                    .to_string(),
            ),
            _ => None,
        }
    }

    /// Maps one row (the cells in header order) to a Graph `signIn` [`Record`] with source
    /// `portal:csv`, or says why it cannot. The row must have as many cells as the header.
    pub fn row_to_record(&self, cells: &[&str]) -> Result<Record, String> {
        if cells.len() != self.names.len() {
            return Err(format!(
                "row has {} columns, the header has {}",
                cells.len(),
                self.names.len()
            ));
        }
        if let Some(reason) = self.unsupported() {
            return Err(reason);
        }
        if self.kind == PortalCsvKind::AuthDetails {
            let request = self
                .column("request id")
                .map(|i| cells[i].trim())
                .filter(|s| !s.is_empty())
                .map(|s| format!(" of sign-in {s}"))
                .unwrap_or_default();
            return Err(format!(
                "authentication details row{request} from an `_AuthDetails` download: these rows \
                 only complete the sign-ins of the matching InteractiveSignIns/NonInteractiveSignIns \
                 file (joined on Request ID) and are not ingested on their own; ingest the sign-in \
                 file, or the JSON download, which carries authenticationDetails inline"
            ));
        }

        let mut body = Object::new();
        let mut envelope = Object::new();
        let mut status_text: Option<&str> = None;
        for (i, raw) in cells.iter().enumerate() {
            let cell = raw.trim();
            if cell.is_empty() {
                continue;
            }
            let name = &self.names[i];
            let key = &self.keys[i];
            let Some((_, path, conv)) = self.targets[i].and_then(|t| COLUMNS.get(t)) else {
                put_envelope(&mut envelope, key, cell);
                continue;
            };
            let value = match conv {
                Conv::Str => Some(Value::String(cell.to_string())),
                Conv::Time => {
                    if let Err(e) = parse_timestamp(cell) {
                        return Err(format!("{name}: {e}"));
                    }
                    Some(Value::String(cell.to_string()))
                }
                Conv::Int => parse_int(cell).map(|n| Value::Number(n.into())),
                Conv::Bool => parse_bool(cell).map(Value::Bool),
                Conv::Enum(f) => Some(Value::String(
                    f(cell).map_or_else(|| cell.to_string(), str::to_string),
                )),
                Conv::Location => {
                    match parse_location(cell) {
                        Some(loc) => merge(&mut body, "location", loc),
                        None => put_envelope(&mut envelope, key, cell),
                    }
                    continue;
                }
                Conv::Status => {
                    status_text = Some(cell);
                    put_envelope(&mut envelope, key, cell);
                    continue;
                }
            };
            // A value that does not fit its property's type stays in the envelope as written.
            let Some(value) = value else {
                put_envelope(&mut envelope, key, cell);
                continue;
            };
            if !set_path(&mut body, path, value.clone()) {
                // A duplicated column (`Incoming token type`): the first non-empty value wins.
                if get_path(&body, path) != Some(&value) {
                    put_envelope(&mut envelope, key, cell);
                }
            }
        }

        if status_text.is_some_and(|s| s.eq_ignore_ascii_case("success"))
            && get_path(&body, "status.errorCode").is_none()
        {
            set_path(&mut body, "status.errorCode", Value::Number(0.into()));
        }

        if self.kind != PortalCsvKind::LegacySignIns
            && !matches!(body.get("id"), Some(Value::String(_)))
        {
            return Err("row without a Request ID".to_string());
        }
        if !body.contains_key("createdDateTime") {
            let column = if self.kind == PortalCsvKind::LegacySignIns {
                "CreatedDateTime"
            } else {
                "Date (UTC)"
            };
            return Err(format!("row without a {column} value"));
        }
        if let Some(kind) = self.kind.sign_in_kind() {
            body.insert(
                "signInEventTypes".to_string(),
                Value::Array(vec![Value::String(kind.graph_name().to_string())]),
            );
        }

        let tenant_id = ["resourceTenantId", "homeTenantId"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str))
            .map(str::to_string);
        Ok(Record {
            log: LogKind::SignIns,
            body,
            tenant_id,
            source: "portal:csv".to_string(),
            envelope: if envelope.is_empty() {
                None
            } else {
                Some(envelope)
            },
        })
    }

    /// The index of the first column with this normalised name.
    fn column(&self, normalised: &str) -> Option<usize> {
        self.names.iter().position(|n| normalise(n) == normalised)
    }
}

/// Puts a cell in the envelope under its column's key.
fn put_envelope(envelope: &mut Object, key: &str, cell: &str) {
    envelope.insert(key.to_string(), Value::String(cell.to_string()));
}

/// Sets `a.b.c` in `body`, creating objects on the way. False when the leaf is already set or a
/// step is not an object.
fn set_path(body: &mut Object, path: &str, value: Value) -> bool {
    let mut parts = path.split('.').peekable();
    let mut current = body;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            if current.contains_key(part) {
                return false;
            }
            current.insert(part.to_string(), value);
            return true;
        }
        let next = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Object::new()));
        match next {
            Value::Object(o) => current = o,
            _ => return false,
        }
    }
    false
}

fn get_path<'a>(body: &'a Object, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = body.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Merges the members of `value` into the object at `key`, keeping members already set.
fn merge(body: &mut Object, key: &str, value: Object) {
    let entry = body
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Object::new()));
    if let Value::Object(target) = entry {
        for (k, v) in value {
            target.entry(k).or_insert(v);
        }
    }
}

/// `City, State, CC` → `{city, state, countryOrRegion}` (a city with a comma keeps it). A lone
/// two-letter value is a country. `None` when the text has another shape.
fn parse_location(text: &str) -> Option<Object> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let mut loc = Object::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            loc.insert(k.to_string(), Value::String(v.to_string()));
        }
    };
    match parts.as_slice() {
        [country] if country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic()) => {
            put("countryOrRegion", country);
        }
        [city @ .., state, country] if !city.is_empty() => {
            put("city", &city.join(", "));
            put("state", state);
            put("countryOrRegion", country);
        }
        _ => return None,
    }
    Some(loc)
}

/// Removes spaces, hyphens and underscores: `Not Applied` → `NotApplied`.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .collect()
}

fn ca_status(s: &str) -> Option<&'static str> {
    ConditionalAccessStatus::parse(&squash(s)).map(ConditionalAccessStatus::graph_name)
}

fn user_type(s: &str) -> Option<&'static str> {
    SignInUserType::parse(&squash(s)).map(SignInUserType::graph_name)
}

fn client_credential_type(s: &str) -> Option<&'static str> {
    ClientCredentialType::parse(&squash(s)).map(ClientCredentialType::graph_name)
}

fn token_issuer_type(s: &str) -> Option<&'static str> {
    TokenIssuerType::parse(&squash(s)).map(TokenIssuerType::graph_name)
}

fn msi_type(s: &str) -> Option<&'static str> {
    MsiType::parse(&squash(s)).map(MsiType::graph_name)
}

fn authentication_requirement(s: &str) -> Option<&'static str> {
    let s = squash(s);
    ["singleFactorAuthentication", "multiFactorAuthentication"]
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let loc = parse_location("Seattle, Washington, US").unwrap_or_default();
        assert_eq!(loc.get("city"), Some(&Value::String("Seattle".into())));
        assert_eq!(
            loc.get("countryOrRegion"),
            Some(&Value::String("US".into()))
        );
        let loc = parse_location(", , DE").unwrap_or_default();
        assert_eq!(loc.len(), 1);
        assert!(parse_location("Somewhere").is_none());
        assert!(parse_location("US").is_some());
    }

    #[test]
    fn display_enums() {
        assert_eq!(ca_status("Not Applied"), Some("notApplied"));
        assert_eq!(msi_type("User assigned"), Some("userAssigned"));
        assert_eq!(token_issuer_type("Azure AD"), Some("AzureAD"));
        assert_eq!(
            authentication_requirement("Single-factor authentication"),
            Some("singleFactorAuthentication")
        );
        assert_eq!(
            client_credential_type("Client secret"),
            Some("clientSecret")
        );
    }
}
