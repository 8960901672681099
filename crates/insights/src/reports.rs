//! Usage & insights reports in Microsoft Graph's shapes (`/beta/reports/…`): application
//! activity (`getAzureADApplicationSignInSummary`, `applicationSignInDetailedSummary`) and
//! service principal sign-in activity (`servicePrincipalSignInActivities`), plus daily sign-in
//! counts per sign-in type. Each is one SQL query over the snapshot, over all retained history
//! where Graph keeps 30 days.

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use gatehouse_model::SignInKind;
use gatehouse_query::QueryEngine;
use serde::Serialize;

use crate::questions::{int, rfc3339, run, text, timestamp, Ints, Strings};
use crate::{InsightsError, Period, Result};

/// The `period` argument of Graph's summary functions: `D1`, `D7` or `D30` (any case).
pub fn report_period(
    value: &str,
    allowed: &[u32],
    now: DateTime<Utc>,
) -> std::result::Result<Period, InsightsError> {
    let days = value
        .strip_prefix(['D', 'd'])
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| allowed.contains(d))
        .ok_or_else(|| {
            InsightsError::Invalid(format!(
                "period must be one of {}; got {value:?}",
                allowed
                    .iter()
                    .map(|d| format!("'D{d}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    Ok(Period::last(chrono::Duration::days(i64::from(days)), now))
}

/// Which sign-ins application activity counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityScope {
    /// Interactive user sign-ins, as Entra's report counts.
    Interactive,
    /// Every sign-in type.
    All,
}

impl ActivityScope {
    fn condition(self) -> String {
        match self {
            ActivityScope::Interactive => format!(
                " AND array_has(signInEventTypes, '{}')",
                SignInKind::InteractiveUser.graph_name()
            ),
            ActivityScope::All => String::new(),
        }
    }
}

/// `applicationSignInSummary`: one application's sign-ins in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSignInSummary {
    /// The application id.
    pub id: String,
    /// Its display name.
    pub app_display_name: Option<String>,
    /// Sign-ins with `errorCode` 0.
    pub successful_sign_in_count: u64,
    /// The others.
    pub failed_sign_in_count: u64,
    /// Successful share, in percent.
    pub success_percentage: f64,
}

/// `getAzureADApplicationSignInSummary(period=…)`: per application, successful and failed
/// sign-ins in `period`, most sign-ins first.
pub async fn application_sign_in_summary(
    engine: &QueryEngine,
    period: Period,
    scope: ActivityScope,
) -> Result<Vec<ApplicationSignInSummary>> {
    let sql = format!(
        "SELECT appId, max(appDisplayName) AS name, \
         sum(CASE WHEN status.errorCode = 0 THEN 1 ELSE 0 END) AS ok, \
         sum(CASE WHEN status.errorCode <> 0 THEN 1 ELSE 0 END) AS failed \
         FROM signins WHERE createdDateTime >= {} AND createdDateTime < {}{} \
         AND appId IS NOT NULL AND appId <> '' GROUP BY appId",
        timestamp(period.from),
        timestamp(period.to),
        scope.condition()
    );
    let batches = run(engine, &sql, Vec::new()).await?;
    let mut out = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let (ok, failed) = (int(b, "ok", i), int(b, "failed", i));
            let total = ok + failed;
            out.push(ApplicationSignInSummary {
                id: text(b, "appId", i).unwrap_or_default(),
                app_display_name: text(b, "name", i),
                successful_sign_in_count: ok,
                failed_sign_in_count: failed,
                success_percentage: if total == 0 {
                    0.0
                } else {
                    // Two decimals, as the portal shows it.
                    (ok as f64 * 10_000.0 / total as f64).round() / 100.0
                },
            });
        }
    }
    out.sort_by(|a, b| {
        (b.successful_sign_in_count + b.failed_sign_in_count)
            .cmp(&(a.successful_sign_in_count + a.failed_sign_in_count))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}

/// `signInStatus` as the detailed summary shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInStatus {
    /// The code.
    pub error_code: i32,
    /// The log's reason (the most frequent wording aside, any one of them: they are the code's).
    pub failure_reason: Option<String>,
    /// Details.
    pub additional_details: Option<String>,
}

/// `applicationSignInDetailedSummary`: one application's sign-ins of one day with one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSignInDetailedSummary {
    /// Stable id of the row: `<appId>_<yyyy-mm-dd>_<errorCode>`.
    pub id: String,
    /// The application id.
    pub app_id: String,
    /// Its display name.
    pub app_display_name: Option<String>,
    /// The day (`…T00:00:00Z`).
    pub aggregated_event_date_time: String,
    /// Sign-ins.
    pub sign_in_count: u64,
    /// Their status.
    pub status: SignInStatus,
}

/// What the detailed summary is narrowed to (Graph's `$filter` on it).
#[derive(Debug, Clone, Default)]
pub struct DetailedSummaryFilter {
    /// `appId eq '…'`.
    pub app_id: Option<String>,
    /// `appDisplayName eq '…'` (any case).
    pub app_display_name: Option<String>,
    /// `status/errorCode eq N`.
    pub error_code: Option<i32>,
}

/// `applicationSignInDetailedSummary`: per application, day (UTC) and error code, the sign-ins
/// of `period` (newest day first, then most sign-ins).
pub async fn application_sign_in_detailed_summary(
    engine: &QueryEngine,
    period: Period,
    scope: ActivityScope,
    filter: &DetailedSummaryFilter,
) -> Result<Vec<ApplicationSignInDetailedSummary>> {
    let mut params = Vec::new();
    let mut condition = format!(
        "createdDateTime >= {} AND createdDateTime < {}{} AND appId IS NOT NULL AND appId <> ''",
        timestamp(period.from),
        timestamp(period.to),
        scope.condition()
    );
    if let Some(id) = &filter.app_id {
        params.push(datafusion::scalar::ScalarValue::Utf8(Some(id.clone())));
        condition.push_str(&format!(" AND appId = ${}", params.len()));
    }
    if let Some(name) = &filter.app_display_name {
        params.push(datafusion::scalar::ScalarValue::Utf8(Some(name.clone())));
        condition.push_str(&format!(
            " AND lower(appDisplayName) = lower(${})",
            params.len()
        ));
    }
    if let Some(code) = filter.error_code {
        condition.push_str(&format!(" AND status.errorCode = {code}"));
    }
    let sql = format!(
        "SELECT appId, max(appDisplayName) AS name, \
         {DAY} AS day, status.errorCode AS code, \
         count(*) AS n, max(status.failureReason) AS reason, \
         max(status.additionalDetails) AS details \
         FROM signins WHERE {condition} GROUP BY appId, 3, 4"
    );
    let batches = run(engine, &sql, params).await?;
    let mut out = Vec::new();
    for b in &batches {
        let codes = b
            .column_by_name("code")
            .map(|c| c.as_primitive::<Int32Type>().clone());
        for i in 0..b.num_rows() {
            let app_id = text(b, "appId", i).unwrap_or_default();
            let code = codes
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map_or(0, |c| c.value(i));
            let day = day_of(b, "day", i).unwrap_or_default();
            out.push(ApplicationSignInDetailedSummary {
                id: format!("{app_id}_{}_{code}", &day[..day.len().min(10)]),
                app_id,
                app_display_name: text(b, "name", i),
                aggregated_event_date_time: day,
                sign_in_count: int(b, "n", i),
                status: SignInStatus {
                    error_code: code,
                    failure_reason: text(b, "reason", i),
                    additional_details: text(b, "details", i),
                },
            });
        }
    }
    out.sort_by(|a, b| {
        b.aggregated_event_date_time
            .cmp(&a.aggregated_event_date_time)
            .then_with(|| b.sign_in_count.cmp(&a.sign_in_count))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}

/// `signInActivity`: the last sign-in of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInActivity {
    /// When (RFC 3339).
    pub last_sign_in_date_time: String,
    /// The sign-in's id (its request id).
    pub last_sign_in_request_id: Option<String>,
}

/// `servicePrincipalSignInActivity`: when an application last took part in a sign-in, by role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalSignInActivity {
    /// The application id (also the row's id).
    pub id: String,
    /// The application id.
    pub app_id: String,
    /// The latest of the four below.
    pub last_sign_in_activity: Option<SignInActivity>,
    /// A user signed in to it (it was the client of a delegated sign-in).
    pub delegated_client_sign_in_activity: Option<SignInActivity>,
    /// A user's sign-in was for it (it was the resource of a delegated sign-in).
    pub delegated_resource_sign_in_activity: Option<SignInActivity>,
    /// It signed in as itself (service principal or managed identity).
    pub application_authentication_client_sign_in_activity: Option<SignInActivity>,
    /// An application signed in as itself to it.
    pub application_authentication_resource_sign_in_activity: Option<SignInActivity>,
}

/// `servicePrincipalSignInActivities`: for every application that took part in a sign-in in
/// `period` (all history by default), its last sign-in as delegated client, delegated
/// resource, application client and application resource. Sorted by application id.
pub async fn service_principal_sign_in_activities(
    src: &crate::Source<'_>,
    period: Period,
    app_id: Option<&str>,
) -> Result<Vec<ServicePrincipalSignInActivity>> {
    let users = format!(
        "(array_has(signInEventTypes, '{}') OR array_has(signInEventTypes, '{}'))",
        SignInKind::InteractiveUser.graph_name(),
        SignInKind::NonInteractiveUser.graph_name()
    );
    let apps = format!(
        "(array_has(signInEventTypes, '{}') OR array_has(signInEventTypes, '{}'))",
        SignInKind::ServicePrincipal.graph_name(),
        SignInKind::ManagedIdentity.graph_name()
    );
    let mut params = Vec::new();
    let mut only = Vec::new();
    for column in ["appId", "resourceId", "appId", "resourceId"] {
        only.push(match app_id {
            Some(id) => {
                params.push(datafusion::scalar::ScalarValue::Utf8(Some(id.to_string())));
                format!(" AND {column} = ${}", params.len())
            }
            None => String::new(),
        });
    }
    // Four roles, one grouped query each, unioned: (role, application, last time, its id).
    let sql = |time: &str, by_day: bool| {
        [
            (0, "appId", &users),
            (1, "resourceId", &users),
            (2, "appId", &apps),
            (3, "resourceId", &apps),
        ]
        .iter()
        .map(|(role, column, kinds)| {
            let only = &only[*role];
            format!(
                "SELECT {role} AS role, {column} AS app, max(createdDateTime) AS last, \
                 last_value(id ORDER BY createdDateTime) AS request{} \
                 FROM signins WHERE {time} AND {kinds} AND {column} IS NOT NULL \
                 AND {column} <> ''{only} GROUP BY {column}{}",
                crate::partials::day_column(by_day),
                crate::partials::day_group(by_day, true)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
    };
    let batches = crate::partials::grouped(src, period, &sql, params).await?;
    let mut by_app: HashMap<String, [Option<(i64, SignInActivity)>; 4]> = HashMap::new();
    for b in &batches {
        let roles = Ints::of(b, "role");
        let Some(lasts) = b
            .column_by_name("last")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>().cloned())
        else {
            continue;
        };
        for i in 0..b.num_rows() {
            let role = roles.get(i) as usize;
            let (Some(app), true) = (text(b, "app", i), lasts.is_valid(i)) else {
                continue;
            };
            let micros = lasts.value(i);
            let activity = SignInActivity {
                last_sign_in_date_time: rfc3339(micros),
                last_sign_in_request_id: text(b, "request", i),
            };
            // A role's last sign-in may come once per day: the latest wins.
            let slot = &mut by_app.entry(app).or_default()[role.min(3)];
            if slot.as_ref().is_none_or(|(t, _)| micros > *t) {
                *slot = Some((micros, activity));
            }
        }
    }
    let mut out: Vec<ServicePrincipalSignInActivity> = by_app
        .into_iter()
        .map(|(app, roles)| {
            let last = roles
                .iter()
                .flatten()
                .max_by_key(|(t, _)| *t)
                .map(|(_, a)| a.clone());
            let [dc, dr, ac, ar] = roles.map(|r| r.map(|(_, a)| a));
            ServicePrincipalSignInActivity {
                id: app.clone(),
                app_id: app,
                last_sign_in_activity: last,
                delegated_client_sign_in_activity: dc,
                delegated_resource_sign_in_activity: dr,
                application_authentication_client_sign_in_activity: ac,
                application_authentication_resource_sign_in_activity: ar,
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Sign-ins of one UTC day, per sign-in type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailySignIns {
    /// The day (`yyyy-mm-dd`).
    pub day: String,
    /// `interactiveUser` sign-ins.
    pub interactive_user: u64,
    /// `nonInteractiveUser` sign-ins.
    pub non_interactive_user: u64,
    /// `servicePrincipal` sign-ins.
    pub service_principal: u64,
    /// `managedIdentity` sign-ins.
    pub managed_identity: u64,
    /// Of all of them, failed (`errorCode` not 0 and not an interruption).
    pub failed: u64,
}

/// Sign-ins per UTC day and sign-in type in `period`, oldest day first (days without any are
/// left out). Whole days come from the days a server keeps ([`crate::Source::partials`]).
pub async fn daily_sign_ins(src: &crate::Source<'_>, period: Period) -> Result<Vec<DailySignIns>> {
    let interrupts = gatehouse_model::error_codes::interrupt_codes()
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    // One grouped query per type, unioned: over files of one type each, the type condition
    // reads no row, and each query reads only the time and the error code. Grouped by day
    // already, so a kept day's `_day` is the same number again.
    let sql = |time: &str, by_day: bool| {
        SignInKind::ALL
            .iter()
            .enumerate()
            .map(|(n, k)| {
                format!(
                    "SELECT {n} AS kind, {DAY} AS day, count(*) AS n, \
                     sum(CASE WHEN status.errorCode <> 0 AND status.errorCode NOT IN ({interrupts}) \
                     THEN 1 ELSE 0 END) AS failed{} \
                     FROM signins WHERE {time} \
                     AND array_has(signInEventTypes, '{}') GROUP BY 2{}",
                    crate::partials::day_column(by_day),
                    k.graph_name(),
                    crate::partials::day_group(by_day, true),
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    };
    let batches = crate::partials::grouped(src, period, &sql, Vec::new()).await?;
    let mut days: BTreeMap<String, DailySignIns> = BTreeMap::new();
    for b in &batches {
        let kinds = Ints::of(b, "kind");
        for i in 0..b.num_rows() {
            let day = day_of(b, "day", i).unwrap_or_default();
            let day = day[..day.len().min(10)].to_string();
            let e = days.entry(day.clone()).or_insert_with(|| DailySignIns {
                day,
                interactive_user: 0,
                non_interactive_user: 0,
                service_principal: 0,
                managed_identity: 0,
                failed: 0,
            });
            let n = int(b, "n", i);
            e.failed += int(b, "failed", i);
            match kinds.get(i) {
                0 => e.interactive_user += n,
                1 => e.non_interactive_user += n,
                2 => e.service_principal += n,
                _ => e.managed_identity += n,
            }
        }
    }
    let out: Vec<DailySignIns> = days.into_values().collect();
    Ok(out)
}

/// The UTC day of `createdDateTime` as a number of days since 1970-01-01: integer arithmetic
/// on the stored microseconds (`date_trunc` on a time-zone-aware timestamp converts every value
/// through a calendar and took seven times as long over a month of sign-ins). Sign-ins are
/// after 1970, where division truncating toward zero is the floor.
const DAY: &str = "CAST(createdDateTime AS BIGINT) / 86400000000";

/// A [`DAY`] column's value as `yyyy-mm-ddT00:00:00Z`.
fn day_of(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let c = b.column_by_name(name)?;
    if c.is_null(i) {
        return None;
    }
    let days = c
        .as_primitive_opt::<arrow::datatypes::Int64Type>()?
        .value(i);
    Some(rfc3339(days.checked_mul(86_400_000_000)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_periods_are_graphs() {
        let now = Utc::now();
        let p = report_period("D7", &[7, 30], now).unwrap();
        assert_eq!(p.to - p.from, chrono::Duration::days(7));
        assert!(report_period("d30", &[7, 30], now).is_ok());
        let e = report_period("D1", &[7, 30], now).unwrap_err().to_string();
        assert!(e.contains("'D7', 'D30'"), "{e}");
        assert!(report_period("7", &[7], now).is_err());
        assert!(report_period("Dx", &[7], now).is_err());
    }
}

/// `keyValuePair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValuePair {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// `relyingPartyDetailedSummary`: one AD FS relying party's sign-ins in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelyingPartySummary {
    /// `<serviceId>_<relyingPartyId>`.
    pub id: String,
    /// The relying party's identifier (the sign-in's `resourceId`).
    pub relying_party_id: String,
    /// Its name (`resourceDisplayName`).
    pub relying_party_name: Option<String>,
    /// The federation service (`tokenIssuerName`).
    pub service_id: Option<String>,
    /// Not in sign-in logs: empty.
    pub reply_urls: Vec<String>,
    /// Sign-ins with `errorCode` 0.
    pub successful_sign_in_count: u64,
    /// The others.
    pub failed_sign_in_count: u64,
    /// All of them.
    pub total_sign_in_count: u64,
    /// Distinct users.
    pub unique_user_count: u64,
    /// Successful share in percent.
    pub sign_in_success_rate: f64,
    /// Gatehouse does not run Entra's migration checks: `unknownFutureValue`.
    pub migration_status: &'static str,
    /// Empty, for the same reason.
    pub migration_validation_details: Vec<KeyValuePair>,
}

/// `getRelyingPartyDetailedSummary(period=…)`: AD FS application activity, from sign-ins AD FS
/// issued the token for (`tokenIssuerType` `ADFederationServices`, as Entra Connect Health sends
/// them): per relying party, successes, failures, distinct users. Most sign-ins first. Whole
/// days come from the days a server keeps ([`crate::Source::partials`]): they are grouped by
/// user too, and the users counted as sets.
pub async fn relying_party_summary(
    src: &crate::Source<'_>,
    period: Period,
) -> Result<Vec<RelyingPartySummary>> {
    let sql = |time: &str, by_day: bool| {
        format!(
            "SELECT resourceId AS rp, max(resourceDisplayName) AS name, tokenIssuerName AS service, \
             NULLIF(userId, '') AS userId, \
             sum(CASE WHEN status.errorCode = 0 THEN 1 ELSE 0 END) AS ok, \
             sum(CASE WHEN status.errorCode <> 0 THEN 1 ELSE 0 END) AS failed{} \
             FROM signins WHERE {time} \
             AND tokenIssuerType = 'ADFederationServices' AND resourceId IS NOT NULL AND resourceId <> '' \
             GROUP BY 1, 3, 4{}",
            crate::partials::day_column(by_day),
            crate::partials::day_group(by_day, true)
        )
    };
    let batches = crate::partials::grouped(src, period, &sql, Vec::new()).await?;
    // (relying party, service) -> (name, successes, failures, users)
    type Party<'b> = (&'b str, Option<&'b str>);
    type Tally<'b> = (Option<&'b str>, u64, u64, HashSet<&'b str>);
    let mut parties: HashMap<Party<'_>, Tally<'_>> = HashMap::new();
    for b in &batches {
        let (rps, names, services, users) = (
            Strings::of(b, "rp"),
            Strings::of(b, "name"),
            Strings::of(b, "service"),
            Strings::of(b, "userId"),
        );
        let (oks, fails) = (Ints::of(b, "ok"), Ints::of(b, "failed"));
        for i in 0..b.num_rows() {
            let e = parties
                .entry((rps.get(i).unwrap_or_default(), services.get(i)))
                .or_default();
            e.0 = e.0.max(names.get(i));
            e.1 += oks.get(i);
            e.2 += fails.get(i);
            e.3.extend(users.get(i));
        }
    }
    let mut out: Vec<RelyingPartySummary> = parties
        .into_iter()
        .map(|((rp, service), (name, ok, failed, users))| {
            let total = ok + failed;
            RelyingPartySummary {
                id: format!("{}_{rp}", service.unwrap_or_default()),
                relying_party_id: rp.to_string(),
                relying_party_name: name.map(str::to_string),
                service_id: service.map(str::to_string),
                reply_urls: Vec::new(),
                successful_sign_in_count: ok,
                failed_sign_in_count: failed,
                total_sign_in_count: total,
                unique_user_count: users.len() as u64,
                sign_in_success_rate: if total == 0 {
                    0.0
                } else {
                    (ok as f64 * 10_000.0 / total as f64).round() / 100.0
                },
                migration_status: "unknownFutureValue",
                migration_validation_details: Vec::new(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.total_sign_in_count
            .cmp(&a.total_sign_in_count)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}
