//! Log Analytics rows mapped to the Graph shape.
//!
//! A Log Analytics export (query results as JSON, or the portal's CSV export) is a flat row of
//! PascalCase columns: the Graph properties of the record (`AppDisplayName`, `Status`, …, some of
//! them renamed: `ConditionalAccessPolicies`, `LocationDetails`, `ResourceIdentity`, …) mixed with
//! the Azure Monitor envelope (`TimeGenerated`, `OperationName`, `AADTenantId`, …) and the
//! workspace's own columns (`TenantId` is the *workspace*, `_ResourceId`, `_ItemId`, …).
//!
//! [`row_to_record`] splits a row into a Graph-shaped body, using an explicit column table per log
//! (never guessing a Graph name from a column name), and an envelope holding every other column
//! under its own name. Values are typed by the stored schema ([`TableSchema`]): JSON carried as
//! text is parsed back, `"TRUE"`/`"3535"` become booleans and numbers where the schema says so,
//! empty values are absent. Nested values are left as Log Analytics wrote them (e.g. Conditional
//! Access conditions as integer bitmasks, as in the diagnostic export).
//!
//! Supported tables: SigninLogs, AADNonInteractiveUserSignInLogs, AADServicePrincipalSignInLogs,
//! AADManagedIdentitySignInLogs, MicrosoftServicePrincipalSignInLogs, ADFSSignInLogs, AuditLogs,
//! AADProvisioningLogs, AADRiskyUsers and AADUserRiskEvents.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use gatehouse_model::schema::{ColumnKind, TableSchema};
use gatehouse_model::time::parse_timestamp;
use gatehouse_model::{LogKind, SignInKind};
use serde_json::{Number, Value};

use crate::{shorten, Object, Record};

/// A Log Analytics table Gatehouse reads.
struct Table {
    /// The table name (`Type` column).
    name: &'static str,
    /// The diagnostic category name (`Category` column of the sign-in tables).
    category: &'static str,
    log: LogKind,
    /// The sign-in kind every row of the table has, if one.
    sign_in: Option<SignInKind>,
}

const TABLES: &[Table] = &[
    Table {
        name: "SigninLogs",
        category: "SignInLogs",
        log: LogKind::SignIns,
        sign_in: Some(SignInKind::InteractiveUser),
    },
    Table {
        name: "AADNonInteractiveUserSignInLogs",
        category: "NonInteractiveUserSignInLogs",
        log: LogKind::SignIns,
        sign_in: Some(SignInKind::NonInteractiveUser),
    },
    Table {
        name: "AADServicePrincipalSignInLogs",
        category: "ServicePrincipalSignInLogs",
        log: LogKind::SignIns,
        sign_in: Some(SignInKind::ServicePrincipal),
    },
    Table {
        name: "AADManagedIdentitySignInLogs",
        category: "ManagedIdentitySignInLogs",
        log: LogKind::SignIns,
        sign_in: Some(SignInKind::ManagedIdentity),
    },
    Table {
        name: "MicrosoftServicePrincipalSignInLogs",
        category: "MicrosoftServicePrincipalSignInLogs",
        log: LogKind::SignIns,
        sign_in: Some(SignInKind::ServicePrincipal),
    },
    Table {
        name: "ADFSSignInLogs",
        category: "ADFSSignInLogs",
        log: LogKind::SignIns,
        sign_in: None,
    },
    Table {
        name: "AuditLogs",
        category: "AuditLogs",
        log: LogKind::Audits,
        sign_in: None,
    },
    Table {
        name: "AADProvisioningLogs",
        category: "ProvisioningLogs",
        log: LogKind::Provisioning,
        sign_in: None,
    },
    Table {
        name: "AADRiskyUsers",
        category: "RiskyUsers",
        log: LogKind::RiskyUsers,
        sign_in: None,
    },
    Table {
        name: "AADUserRiskEvents",
        category: "UserRiskEvents",
        log: LogKind::RiskDetections,
        sign_in: None,
    },
];

const SUPPORTED: &str = "SigninLogs, AADNonInteractiveUserSignInLogs, \
AADServicePrincipalSignInLogs, AADManagedIdentitySignInLogs, MicrosoftServicePrincipalSignInLogs, \
ADFSSignInLogs, AuditLogs, AADProvisioningLogs, AADRiskyUsers, AADUserRiskEvents";

fn table_by_name(name: &str) -> Option<&'static Table> {
    let name = name.trim();
    TABLES.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

fn table_by_category(category: &str) -> Option<&'static Table> {
    let category = category.trim();
    TABLES.iter().find(|t| {
        t.category.eq_ignore_ascii_case(category) || t.name.eq_ignore_ascii_case(category)
    })
}

fn table_named(name: &str) -> &'static Table {
    table_by_name(name).unwrap_or(&TABLES[0])
}

/// How a column maps to the Graph body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Any value of the column is the Graph property.
    Any,
    /// Only a JSON object is the Graph property; anything else belongs to the envelope (for
    /// column names the standard Log Analytics columns share: `SourceSystem`, `Location`).
    ObjectOnly,
}

use Fit::{Any, ObjectOnly};

/// Sign-in columns of every sign-in table (§5.1–5.3, 5.6 and the Sentinel schemas). Where two
/// columns map to one property, the first listed wins.
const SIGNIN_COLUMNS: &[(&str, &str, Fit)] = &[
    ("Id", "id", Any),
    ("CreatedDateTime", "createdDateTime", Any),
    ("Agent", "agent", Any),
    ("AlternateSignInName", "alternateSignInName", Any),
    ("AppDisplayName", "appDisplayName", Any),
    ("AppId", "appId", Any),
    ("AppOwnerTenantId", "appOwnerTenantId", Any),
    (
        "ConditionalAccessPolicies",
        "appliedConditionalAccessPolicies",
        Any,
    ),
    (
        "ConditionalAccessPoliciesV2",
        "appliedConditionalAccessPolicies",
        Any,
    ),
    (
        "AppliedConditionalAccessPolicies",
        "appliedConditionalAccessPolicies",
        Any,
    ),
    ("AppliedEventListeners", "appliedEventListeners", Any),
    (
        "AuthenticationContextClassReferences",
        "authenticationContextClassReferences",
        Any,
    ),
    ("AuthenticationDetails", "authenticationDetails", Any),
    (
        "AuthenticationMethodsUsed",
        "authenticationMethodsUsed",
        Any,
    ),
    (
        "AuthenticationProcessingDetails",
        "authenticationProcessingDetails",
        Any,
    ),
    ("AuthenticationProtocol", "authenticationProtocol", Any),
    (
        "AuthenticationRequirement",
        "authenticationRequirement",
        Any,
    ),
    (
        "AuthenticationRequirementPolicies",
        "authenticationRequirementPolicies",
        Any,
    ),
    ("AutonomousSystemNumber", "autonomousSystemNumber", Any),
    ("ClientAppUsed", "clientAppUsed", Any),
    ("ClientCredentialType", "clientCredentialType", Any),
    (
        "ConditionalAccessAudiences",
        "conditionalAccessAudiences",
        Any,
    ),
    ("ConditionalAccessStatus", "conditionalAccessStatus", Any),
    ("CorrelationId", "correlationId", Any),
    ("CrossTenantAccessType", "crossTenantAccessType", Any),
    ("DeviceDetail", "deviceDetail", Any),
    ("FederatedCredentialId", "federatedCredentialId", Any),
    ("FlaggedForReview", "flaggedForReview", Any),
    (
        "GlobalSecureAccessIpAddress",
        "globalSecureAccessIpAddress",
        Any,
    ),
    ("HomeTenantId", "homeTenantId", Any),
    ("HomeTenantName", "homeTenantName", Any),
    ("IncomingTokenType", "incomingTokenType", Any),
    ("IPAddress", "ipAddress", Any),
    (
        "IPAddressFromResourceProvider",
        "ipAddressFromResourceProvider",
        Any,
    ),
    ("IsInteractive", "isInteractive", Any),
    ("IsTenantRestricted", "isTenantRestricted", Any),
    (
        "IsThroughGlobalSecureAccess",
        "isThroughGlobalSecureAccess",
        Any,
    ),
    ("LocationDetails", "location", Any),
    ("MfaDetail", "mfaDetail", Any),
    ("NetworkLocationDetails", "networkLocationDetails", Any),
    ("OriginalRequestId", "originalRequestId", Any),
    ("OriginalTransferMethod", "originalTransferMethod", Any),
    (
        "ProcessingTimeInMilliseconds",
        "processingTimeInMilliseconds",
        Any,
    ),
    ("ProcessingTimeInMs", "processingTimeInMilliseconds", Any),
    ("ResourceDisplayName", "resourceDisplayName", Any),
    ("ResourceIdentity", "resourceId", Any),
    ("ResourceOwnerTenantId", "resourceOwnerTenantId", Any),
    (
        "ResourceServicePrincipalId",
        "resourceServicePrincipalId",
        Any,
    ),
    ("ResourceTenantId", "resourceTenantId", Any),
    ("RiskDetail", "riskDetail", Any),
    ("RiskEventTypes", "riskEventTypes", Any),
    ("RiskEventTypes_V2", "riskEventTypes_v2", Any),
    ("RiskLevelAggregated", "riskLevelAggregated", Any),
    ("RiskLevelDuringSignIn", "riskLevelDuringSignIn", Any),
    ("RiskState", "riskState", Any),
    (
        "ServicePrincipalCredentialKeyId",
        "servicePrincipalCredentialKeyId",
        Any,
    ),
    (
        "ServicePrincipalCredentialThumbprint",
        "servicePrincipalCredentialThumbprint",
        Any,
    ),
    ("ServicePrincipalId", "servicePrincipalId", Any),
    ("ServicePrincipalName", "servicePrincipalName", Any),
    ("SessionId", "sessionId", Any),
    ("SessionLifetimePolicies", "sessionLifetimePolicies", Any),
    ("SignInEventTypes", "signInEventTypes", Any),
    ("SignInIdentifier", "signInIdentifier", Any),
    ("SignInIdentifierType", "signInIdentifierType", Any),
    ("Status", "status", Any),
    ("TokenIssuerName", "tokenIssuerName", Any),
    ("TokenIssuerType", "tokenIssuerType", Any),
    (
        "TokenProtectionStatusDetails",
        "tokenProtectionStatusDetails",
        Any,
    ),
    ("UniqueTokenIdentifier", "uniqueTokenIdentifier", Any),
    ("UserAgent", "userAgent", Any),
    ("UserDisplayName", "userDisplayName", Any),
    ("UserId", "userId", Any),
    ("UserPrincipalName", "userPrincipalName", Any),
    ("UserType", "userType", Any),
];

/// AuditLogs columns (§5.4). `Category` is the audit category here, not the diagnostic one.
const AUDIT_COLUMNS: &[(&str, &str, Fit)] = &[
    ("Id", "id", Any),
    ("ActivityDateTime", "activityDateTime", Any),
    ("ActivityDisplayName", "activityDisplayName", Any),
    ("AdditionalDetails", "additionalDetails", Any),
    ("Category", "category", Any),
    ("CorrelationId", "correlationId", Any),
    ("InitiatedBy", "initiatedBy", Any),
    ("LoggedByService", "loggedByService", Any),
    ("AADOperationType", "operationType", Any),
    ("Result", "result", Any),
    ("ResultReason", "resultReason", Any),
    ("TargetResources", "targetResources", Any),
];

/// AADProvisioningLogs columns (§5.5). `SourceSystem` is both the standard column (`Azure`) and
/// the provisioning source system (an object): only the object is the Graph property.
const PROVISIONING_COLUMNS: &[(&str, &str, Fit)] = &[
    ("Id", "id", Any),
    ("ActivityDateTime", "activityDateTime", Any),
    ("ChangeId", "changeId", Any),
    ("CycleId", "cycleId", Any),
    ("InitiatedBy", "initiatedBy", Any),
    ("JobId", "jobId", Any),
    ("ModifiedProperties", "modifiedProperties", Any),
    ("ProvisioningAction", "provisioningAction", Any),
    ("ProvisioningStatusInfo", "provisioningStatusInfo", Any),
    ("ProvisioningSteps", "provisioningSteps", Any),
    ("ServicePrincipal", "servicePrincipal", Any),
    ("SourceIdentity", "sourceIdentity", Any),
    ("SourceSystem", "sourceSystem", ObjectOnly),
    ("TargetIdentity", "targetIdentity", Any),
    ("TargetSystem", "targetSystem", Any),
];

/// AADRiskyUsers columns (§5.7).
const RISKY_USER_COLUMNS: &[(&str, &str, Fit)] = &[
    ("Id", "id", Any),
    ("RiskLastUpdatedDateTime", "riskLastUpdatedDateTime", Any),
    ("IsDeleted", "isDeleted", Any),
    ("IsProcessing", "isProcessing", Any),
    ("RiskDetail", "riskDetail", Any),
    ("RiskLevel", "riskLevel", Any),
    ("RiskState", "riskState", Any),
    ("UserDisplayName", "userDisplayName", Any),
    ("UserPrincipalName", "userPrincipalName", Any),
];

/// AADUserRiskEvents columns (§5.7). `Location` is the sign-in location object here; a plain
/// string would be the standard column and stays in the envelope.
const RISK_EVENT_COLUMNS: &[(&str, &str, Fit)] = &[
    ("Id", "id", Any),
    ("ActivityDateTime", "activityDateTime", Any),
    ("Activity", "activity", Any),
    ("AdditionalInfo", "additionalInfo", Any),
    ("CorrelationId", "correlationId", Any),
    ("CrossTenantAccessType", "crossTenantAccessType", Any),
    ("DetectedDateTime", "detectedDateTime", Any),
    ("DetectionTimingType", "detectionTimingType", Any),
    ("HomeTenantId", "homeTenantId", Any),
    ("IpAddress", "ipAddress", Any),
    ("LastUpdatedDateTime", "lastUpdatedDateTime", Any),
    ("Location", "location", ObjectOnly),
    ("RequestId", "requestId", Any),
    ("ResourceTenantId", "resourceTenantId", Any),
    ("RiskDetail", "riskDetail", Any),
    ("RiskEventType", "riskEventType", Any),
    ("RiskLevel", "riskLevel", Any),
    ("RiskState", "riskState", Any),
    ("RiskType", "riskType", Any),
    ("Source", "source", Any),
    ("TokenIssuerType", "tokenIssuerType", Any),
    ("UserDisplayName", "userDisplayName", Any),
    ("UserId", "userId", Any),
    ("UserPrincipalName", "userPrincipalName", Any),
    ("UserType", "userType", Any),
];

fn columns_of(log: LogKind) -> &'static [(&'static str, &'static str, Fit)] {
    match log {
        LogKind::SignIns => SIGNIN_COLUMNS,
        LogKind::Audits => AUDIT_COLUMNS,
        LogKind::Provisioning => PROVISIONING_COLUMNS,
        LogKind::RiskyUsers => RISKY_USER_COLUMNS,
        LogKind::RiskDetections => RISK_EVENT_COLUMNS,
    }
}

/// The stored schema of a log, built once.
fn schema(log: LogKind) -> &'static TableSchema {
    static SCHEMAS: OnceLock<Vec<TableSchema>> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| LogKind::ALL.iter().map(|l| TableSchema::of(*l)).collect());
    let index = LogKind::ALL.iter().position(|l| *l == log).unwrap_or(0);
    &all[index]
}

/// Columns that only Log Analytics rows have (standard workspace and envelope columns).
const LA_MARKERS: &[&str] = &[
    "TimeGenerated",
    "TenantId",
    "AADTenantId",
    "SourceSystem",
    "OperationName",
    "OperationVersion",
    "ResultType",
    "ResultSignature",
    "ResultDescription",
    "DurationMs",
    "Type",
    "_ResourceId",
    "_ItemId",
    "_BilledSize",
    "_IsBillable",
];

/// Is `key` one of the columns only Log Analytics rows have (`TimeGenerated [UTC]` included)?
pub(crate) fn is_marker_column(key: &str) -> bool {
    LA_MARKERS.contains(&strip_utc(key))
}

/// Is this object a Log Analytics row? True for PascalCase rows with `TimeGenerated` (or
/// `TimeGenerated [UTC]`), a `Type` naming a supported table, or several standard Log Analytics
/// columns (`TenantId`, `OperationName`, `ResultType`, …). False for Graph records (camelCase) and
/// diagnostic records (they have a `properties` object).
pub fn looks_like_row(obj: &Object) -> bool {
    if obj.get("properties").is_some_and(Value::is_object) {
        return false;
    }
    if let Some(Value::String(t)) = obj.get("Type") {
        if table_by_name(t).is_some() {
            return true;
        }
    }
    let mut markers = 0;
    for key in obj.keys() {
        let name = strip_utc(key);
        if name == "TimeGenerated" {
            return true;
        }
        if LA_MARKERS.contains(&name) {
            markers += 1;
        }
    }
    markers >= 3
}

/// Does a CSV header look like a Log Analytics export? True when it has `TimeGenerated` or at
/// least two standard Log Analytics columns (`TenantId`, `Type`, `OperationName`, …), or an `Id`
/// column together with one of them.
pub fn looks_like_header(columns: &[&str]) -> bool {
    let mut markers = 0;
    let mut has_id = false;
    for c in columns {
        let name = strip_utc(c.trim());
        if name == "TimeGenerated" {
            return true;
        }
        if LA_MARKERS.contains(&name) {
            markers += 1;
        }
        has_id |= name == "Id";
    }
    markers >= 2 || (has_id && markers >= 1)
}

/// Strips the ` [UTC]` suffix the Log Analytics portal adds to datetime column headers.
fn strip_utc(name: &str) -> &str {
    let trimmed = name.trim();
    match trimmed.strip_suffix("[UTC]") {
        Some(base) => base.trim_end(),
        None => trimmed,
    }
}

/// A column with a ` [Local Time]`-like suffix: a time the export shifted away from UTC.
fn non_utc_suffix(name: &str) -> bool {
    let name = name.trim();
    name.ends_with(']') && name.contains(" [") && !name.ends_with("[UTC]")
}

/// Case-insensitive lookup of a column value that is not absent.
fn get_ci<'a>(cols: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    cols.iter()
        .find(|(k, v)| k.eq_ignore_ascii_case(name) && !is_absent(v))
        .map(|(_, v)| v)
}

fn get_str<'a>(cols: &'a [(String, Value)], name: &str) -> Option<&'a str> {
    match get_ci(cols, name) {
        Some(Value::String(s)) => Some(s.trim()),
        _ => None,
    }
}

fn has_col(cols: &[(String, Value)], name: &str) -> bool {
    get_ci(cols, name).is_some()
}

/// Null, an empty string or whitespace: Log Analytics' "no value".
fn is_absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Maps one row (column name → value) of a supported Log Analytics table to a Graph-shaped
/// [`Record`], or says why the row is not such a record.
pub fn row_to_record(row: Object) -> Result<Record, String> {
    // Normalise names, drop absent values, note columns not in UTC.
    let mut cols: Vec<(String, Value)> = Vec::with_capacity(row.len());
    let mut shifted: Vec<String> = Vec::new();
    for (key, value) in row {
        if non_utc_suffix(&key) {
            shifted.push(key.trim().to_string());
        }
        if is_absent(&value) {
            continue;
        }
        cols.push((strip_utc(&key).to_string(), value));
    }

    let named = named_table(&cols)?;
    if !has_col(&cols, "Id") {
        return Err(no_id_reason(&cols, named));
    }
    let (table, inferred) = match named {
        Some(table) => (table, false),
        None => (infer_table(&cols)?, true),
    };
    let log = table.log;

    let (mut body, mut envelope) = map_columns(cols.clone(), log);

    // The event time: the log's own column, else TimeGenerated.
    let time_column = log.time_column();
    if !body.contains_key(time_column) {
        match get_ci(&cols, "TimeGenerated") {
            Some(v) => {
                body.insert(time_column.to_string(), v.clone());
            }
            None => {
                let own = columns_of(log)
                    .iter()
                    .find(|(_, g, _)| *g == time_column)
                    .map_or("", |(la, _, _)| *la);
                let mut reason = if own.is_empty() {
                    format!("{} row without a TimeGenerated value", table.name)
                } else {
                    format!("{} row without {own} or TimeGenerated values", table.name)
                };
                if !shifted.is_empty() {
                    reason.push_str(&format!(
                        " (column {} is not in UTC: export with UTC times)",
                        shifted.join(", ")
                    ));
                }
                return Err(reason);
            }
        }
    }
    if let Some(t) = body.get(time_column) {
        let text = match t {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Err(e) = parse_timestamp(&text) {
            return Err(format!("{} row, {time_column}: {e}", table.name));
        }
    }

    if log == LogKind::Provisioning && !body.contains_key("durationInMilliseconds") {
        if let Some(v) = get_ci(&cols, "DurationMs") {
            if let Coerced::Value(n) = coerce(v.clone(), &ColumnKind::Int32) {
                body.insert("durationInMilliseconds".to_string(), n);
            }
        }
    }
    if let (Some(kind), false) = (table.sign_in, inferred) {
        body.entry("signInEventTypes".to_string())
            .or_insert_with(|| Value::Array(vec![Value::String(kind.graph_name().to_string())]));
    }

    let tenant_id = tenant_of(&cols, &body);
    envelope.retain(|_, v| !is_absent(v));
    Ok(Record {
        log,
        body,
        tenant_id,
        source: format!("loganalytics:{}", table.name),
        envelope: if envelope.is_empty() {
            None
        } else {
            Some(envelope)
        },
    })
}

/// The table the row names: its `Type` column (a table name), else its `Category` column (a
/// diagnostic category name). An error for a `Type` naming a table Gatehouse does not store.
fn named_table(cols: &[(String, Value)]) -> Result<Option<&'static Table>, String> {
    if let Some(t) = get_str(cols, "Type") {
        return match table_by_name(t) {
            Some(table) => Ok(Some(table)),
            None => Err(format!(
                "a row of the Log Analytics table `{}`, which Gatehouse does not store \
                 (supported: {SUPPORTED})",
                shorten(t, 80)
            )),
        };
    }
    Ok(get_str(cols, "Category").and_then(table_by_category))
}

/// Infers the table of a row that does not name it from the columns it has.
fn infer_table(cols: &[(String, Value)]) -> Result<&'static Table, String> {
    let any = |names: &[&str]| names.iter().any(|n| has_col(cols, n));
    let table = if any(&["ActivityDisplayName", "AADOperationType", "TargetResources"]) {
        table_named("AuditLogs")
    } else if any(&[
        "JobId",
        "CycleId",
        "ProvisioningSteps",
        "ProvisioningAction",
    ]) {
        table_named("AADProvisioningLogs")
    } else if any(&["RiskLastUpdatedDateTime"]) {
        table_named("AADRiskyUsers")
    } else if any(&["RiskEventType", "DetectionTimingType"]) {
        table_named("AADUserRiskEvents")
    } else if any(&["UserPrincipalName", "UserId"]) && any(&["AppId", "CreatedDateTime"]) {
        let interactive = get_ci(cols, "IsInteractive")
            .map(|v| coerce(v.clone(), &ColumnKind::Bool))
            .and_then(|c| match c {
                Coerced::Value(Value::Bool(b)) => Some(b),
                _ => None,
            });
        if interactive == Some(false) {
            table_named("AADNonInteractiveUserSignInLogs")
        } else {
            table_named("SigninLogs")
        }
    } else if any(&["ServicePrincipalId", "ServicePrincipalName"]) && any(&["AppId"]) {
        table_named("AADServicePrincipalSignInLogs")
    } else if any(&["CreatedDateTime"]) && any(&["AppId", "IPAddress", "ConditionalAccessStatus"]) {
        table_named("SigninLogs")
    } else {
        return Err(format!(
            "not a SigninLogs/AuditLogs/… record: no Type or Category column naming a supported \
             table ({SUPPORTED}) and no columns identifying one (columns: {})",
            column_list(cols)
        ));
    };
    Ok(table)
}

/// The reason a row without `Id` is rejected.
fn no_id_reason(cols: &[(String, Value)], named: Option<&Table>) -> String {
    let ca_expanded = ["policyId", "conditionsSatisfied", "conditionsNotSatisfied"]
        .iter()
        .any(|n| has_col(cols, n));
    if ca_expanded {
        format!(
            "a Log Analytics query result row (an mv-expanded ConditionalAccessPolicies entry), \
             not a SigninLogs/AuditLogs/… record: no Id column (columns: {})",
            column_list(cols)
        )
    } else if let Some(table) = named {
        format!(
            "{} row without an Id column (a projected query result?): Gatehouse needs the \
             record id; export whole rows (columns: {})",
            table.name,
            column_list(cols)
        )
    } else {
        format!(
            "a Log Analytics query result row, not a SigninLogs/AuditLogs/… record: no Id column \
             (columns: {})",
            column_list(cols)
        )
    }
}

fn column_list(cols: &[(String, Value)]) -> String {
    let mut names: Vec<&str> = cols.iter().map(|(k, _)| k.as_str()).take(12).collect();
    if cols.len() > names.len() {
        names.push("…");
    }
    if names.is_empty() {
        return "none with a value".to_string();
    }
    names.join(", ")
}

/// A candidate value for a Graph property.
struct Candidate {
    /// Lower wins: (position in the column table, suffix preference).
    rank: (usize, u8),
    column: String,
    original: Value,
    value: Value,
}

/// Splits the columns into the Graph body and the envelope.
fn map_columns(cols: Vec<(String, Value)>, log: LogKind) -> (Object, Object) {
    let table_cols = columns_of(log);
    let schema = schema(log);
    let mut envelope = Object::new();
    let mut candidates: BTreeMap<&'static str, Vec<Candidate>> = BTreeMap::new();

    for (name, value) in cols {
        // `X_dynamic` / `X_string` pairs of the portal CSV export: prefer the dynamic one.
        let (base, suffix_rank) = if let Some(b) = name.strip_suffix("_dynamic") {
            (b, 0)
        } else if let Some(b) = name.strip_suffix("_string") {
            (b, 2)
        } else {
            (name.as_str(), 1)
        };
        let entry = table_cols
            .iter()
            .enumerate()
            .find(|(_, (la, _, _))| la.eq_ignore_ascii_case(base))
            .or_else(|| {
                // A suffix that is part of the real column name (none today, but be safe).
                table_cols
                    .iter()
                    .enumerate()
                    .find(|(_, (la, _, _))| la.eq_ignore_ascii_case(&name))
            });
        let Some((index, (_, graph, fit))) = entry else {
            envelope.insert(name, value);
            continue;
        };
        // AuditLogs' Category is the audit category; the diagnostic category name is envelope.
        if log == LogKind::Audits && *graph == "category" {
            if let Value::String(s) = &value {
                if s.trim().eq_ignore_ascii_case("AuditLogs") {
                    envelope.insert(name, value);
                    continue;
                }
            }
        }
        let kind = schema
            .column(graph)
            .map(|c| c.kind.clone())
            .unwrap_or(ColumnKind::Json);
        match coerce(value.clone(), &kind) {
            Coerced::Absent => {}
            Coerced::Value(v) if *fit == ObjectOnly && !v.is_object() => {
                envelope.insert(name, value);
            }
            Coerced::Value(v) => {
                candidates.entry(graph).or_default().push(Candidate {
                    rank: (index, suffix_rank),
                    column: name,
                    original: value,
                    value: v,
                });
            }
            Coerced::Mismatch => {
                envelope.insert(name, value);
            }
        }
    }

    let mut body = Object::new();
    for (graph, mut list) in candidates {
        list.sort_by_key(|c| c.rank);
        let mut list = list.into_iter();
        let Some(winner) = list.next() else { continue };
        for loser in list {
            if loser.value != winner.value {
                envelope.insert(loser.column, loser.original);
            }
        }
        body.insert(graph.to_string(), winner.value);
    }
    (body, envelope)
}

/// The tenant: `AADTenantId`, else the tenant in `ResourceId`, else the body's tenant fields.
fn tenant_of(cols: &[(String, Value)], body: &Object) -> Option<String> {
    if let Some(t) = get_str(cols, "AADTenantId").filter(|t| gatehouse_model::is_valid_tenant_id(t))
    {
        return Some(t.to_string());
    }
    for name in ["ResourceId", "_ResourceId"] {
        if let Some(t) = get_str(cols, name)
            .and_then(tenant_in_resource_id)
            .filter(|t| gatehouse_model::is_valid_tenant_id(t))
        {
            return Some(t);
        }
    }
    ["resourceTenantId", "tenantId", "homeTenantId"]
        .iter()
        .find_map(|k| match body.get(*k) {
            Some(Value::String(s)) if gatehouse_model::is_valid_tenant_id(s.trim()) => {
                Some(s.trim().to_string())
            }
            _ => None,
        })
}

/// The `<tid>` of `/tenants/<tid>/providers/…`.
fn tenant_in_resource_id(resource_id: &str) -> Option<String> {
    let mut parts = resource_id.split('/').filter(|p| !p.is_empty());
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case("tenants") {
            return parts
                .next()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
        }
    }
    None
}

/// The outcome of typing a value by its schema kind.
pub(crate) enum Coerced {
    /// No value (null, empty text, JSON `null`).
    Absent,
    /// The typed value.
    Value(Value),
    /// The value cannot have the schema's type (e.g. `"n/a"` for a number).
    Mismatch,
}

/// Types a Log Analytics or CSV value by the kind of the Graph property it maps to.
pub(crate) fn coerce(value: Value, kind: &ColumnKind) -> Coerced {
    if is_absent(&value) {
        return Coerced::Absent;
    }
    match kind {
        ColumnKind::Str => match value {
            Value::String(_) => Coerced::Value(value),
            Value::Bool(_) | Value::Number(_) => Coerced::Value(Value::String(value.to_string())),
            // A dynamic column for a property Graph sends as text (e.g. `additionalInfo`).
            other => Coerced::Value(Value::String(other.to_string())),
        },
        ColumnKind::Timestamp => match value {
            Value::String(_) => Coerced::Value(value),
            _ => Coerced::Mismatch,
        },
        ColumnKind::Bool => match &value {
            Value::Bool(_) => Coerced::Value(value),
            Value::String(s) => {
                parse_bool(s).map_or(Coerced::Mismatch, |b| Coerced::Value(Value::Bool(b)))
            }
            Value::Number(n) => match n.as_i64() {
                Some(0) => Coerced::Value(Value::Bool(false)),
                Some(1) => Coerced::Value(Value::Bool(true)),
                _ => Coerced::Mismatch,
            },
            _ => Coerced::Mismatch,
        },
        ColumnKind::Int32 | ColumnKind::Int64 => {
            let n = match &value {
                Value::Number(n) => number_to_i64(n),
                Value::String(s) => parse_int(s),
                _ => None,
            };
            match n {
                Some(n) if *kind == ColumnKind::Int64 || i32::try_from(n).is_ok() => {
                    Coerced::Value(Value::Number(n.into()))
                }
                _ => Coerced::Mismatch,
            }
        }
        ColumnKind::Float64 => {
            let f = match &value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match f.and_then(Number::from_f64) {
                Some(n) => Coerced::Value(Value::Number(n)),
                None => Coerced::Mismatch,
            }
        }
        ColumnKind::Json => match value {
            Value::String(s) => match serde_json::from_str::<Value>(s.trim()) {
                Ok(Value::Null) => Coerced::Absent,
                Ok(v @ (Value::Array(_) | Value::Object(_))) => Coerced::Value(v),
                _ => Coerced::Value(Value::String(s)),
            },
            other => Coerced::Value(other),
        },
        ColumnKind::Struct(_) | ColumnKind::StrMap => json_shaped(value, Value::is_object),
        ColumnKind::List(_) => json_shaped(value, Value::is_array),
    }
}

/// A value that must be a JSON object or array, possibly carried as JSON text.
fn json_shaped(value: Value, fits: fn(&Value) -> bool) -> Coerced {
    let parsed = match value {
        Value::String(s) => match serde_json::from_str::<Value>(s.trim()) {
            Ok(v) => v,
            Err(_) => return Coerced::Mismatch,
        },
        other => other,
    };
    if parsed.is_null() {
        Coerced::Absent
    } else if fits(&parsed) {
        Coerced::Value(parsed)
    } else {
        Coerced::Mismatch
    }
}

/// `true`/`TRUE`/`True`/`yes`/`1` and their negatives.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if ["true", "yes", "1"]
        .iter()
        .any(|t| s.eq_ignore_ascii_case(t))
    {
        Some(true)
    } else if ["false", "no", "0"]
        .iter()
        .any(|t| s.eq_ignore_ascii_case(t))
    {
        Some(false)
    } else {
        None
    }
}

/// An integer, also written as an integral float (`"3535"`, `"3535.0"`).
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let f = s.parse::<f64>().ok()?;
    float_to_i64(f)
}

fn number_to_i64(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| n.as_f64().and_then(float_to_i64))
}

fn float_to_i64(f: f64) -> Option<i64> {
    // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
    const LIMIT: f64 = 9.223_372_036_854_776e18;
    if f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_from_resource_id() {
        assert_eq!(
            tenant_in_resource_id("/tenants/abc/providers/Microsoft.aadiam").as_deref(),
            Some("abc")
        );
        assert_eq!(tenant_in_resource_id("/subscriptions/x"), None);
    }

    #[test]
    fn coercions() {
        let v = |s: &str| Value::String(s.to_string());
        assert!(matches!(
            coerce(v("TRUE"), &ColumnKind::Bool),
            Coerced::Value(Value::Bool(true))
        ));
        assert!(matches!(
            coerce(v("3535.0"), &ColumnKind::Int64),
            Coerced::Value(Value::Number(_))
        ));
        assert!(matches!(
            coerce(v("n/a"), &ColumnKind::Int32),
            Coerced::Mismatch
        ));
        assert!(matches!(coerce(v(""), &ColumnKind::Str), Coerced::Absent));
        assert!(matches!(
            coerce(v("null"), &ColumnKind::List(Box::new(ColumnKind::Str))),
            Coerced::Absent
        ));
        assert!(matches!(
            coerce(v("1e300"), &ColumnKind::Int64),
            Coerced::Mismatch
        ));
    }
}
