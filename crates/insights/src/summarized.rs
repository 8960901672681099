//! Summarized sign-ins, as the Entra portal groups non-interactive, service principal and
//! managed identity sign-ins and as Graph's `getSummarizedNonInteractiveSignIns`,
//! `getSummarizedServicePrincipalSignIns` and `getSummarizedMSISignIns` return them: the
//! sign-ins of one window (1 hour, 6 hours or a day, UTC) that share user, application, IP
//! address, resource, status and Conditional Access status, counted, newest window first, paged
//! by key.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use datafusion::scalar::ScalarValue;
use gatehouse_model::SignInKind;
use gatehouse_query::QueryEngine;
use serde::Serialize;

use crate::questions::{int, rfc3339, run, text, timestamp, Strings};
use crate::{InsightsError, Period, Result};

/// Which sign-ins are summarized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryOf {
    /// `nonInteractiveUser` (`getSummarizedNonInteractiveSignIns`).
    NonInteractive,
    /// `servicePrincipal` (`getSummarizedServicePrincipalSignIns`).
    ServicePrincipal,
    /// `managedIdentity` (`getSummarizedMSISignIns`).
    ManagedIdentity,
}

impl SummaryOf {
    /// The function of Graph's that returns it.
    pub fn from_function(name: &str) -> Option<SummaryOf> {
        match name {
            "getSummarizedNonInteractiveSignIns" => Some(SummaryOf::NonInteractive),
            "getSummarizedServicePrincipalSignIns" => Some(SummaryOf::ServicePrincipal),
            "getSummarizedMSISignIns" => Some(SummaryOf::ManagedIdentity),
            _ => None,
        }
    }

    fn kind(self) -> SignInKind {
        match self {
            SummaryOf::NonInteractive => SignInKind::NonInteractiveUser,
            SummaryOf::ServicePrincipal => SignInKind::ServicePrincipal,
            SummaryOf::ManagedIdentity => SignInKind::ManagedIdentity,
        }
    }
}

/// The aggregation window: `h1`, `h6` or `d1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// One hour.
    H1,
    /// Six hours.
    H6,
    /// One day.
    D1,
}

impl Window {
    /// Parses Graph's `aggregationWindow` value (any case).
    pub fn parse(s: &str) -> std::result::Result<Window, InsightsError> {
        match s.to_ascii_lowercase().as_str() {
            "h1" => Ok(Window::H1),
            "h6" => Ok(Window::H6),
            "d1" => Ok(Window::D1),
            _ => Err(InsightsError::Invalid(format!(
                "aggregationWindow must be 'h1', 'h6' or 'd1'; got {s:?}"
            ))),
        }
    }

    /// Its length in microseconds.
    pub fn micros(self) -> i64 {
        3_600_000_000
            * match self {
                Window::H1 => 1,
                Window::H6 => 6,
                Window::D1 => 24,
            }
    }
}

/// What the summary is narrowed to: `$filter` terms. Strings compare exactly (`eq`) or as
/// prefixes (`startswith`).
#[derive(Debug, Clone, Default)]
pub struct SummaryFilter {
    /// `(property, value, prefix)`: property is one of [`FILTERABLE`].
    pub terms: Vec<(String, String, bool)>,
    /// `status/errorCode eq N`.
    pub error_code: Option<i32>,
}

/// The properties a summary's `$filter` compares (Graph's names).
pub const FILTERABLE: &[&str] = &[
    "userPrincipalName",
    "appId",
    "appDisplayName",
    "ipAddress",
    "resourceId",
    "resourceDisplayName",
    "servicePrincipalId",
    "servicePrincipalName",
    "conditionalAccessStatus",
];

/// `signInStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryStatus {
    /// The code.
    pub error_code: i32,
    /// The log's reason.
    pub failure_reason: Option<String>,
    /// Details.
    pub additional_details: Option<String>,
}

/// `managedIdentity` of a summarized sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryIdentity {
    /// `none`, `systemAssigned`, `userAssigned`.
    pub msi_type: Option<String>,
    /// The Azure resource it belongs to.
    pub associated_resource_id: Option<String>,
    /// Not grouped on: `null`.
    pub federated_token_id: Option<String>,
    /// Not grouped on: `null`.
    pub federated_token_issuer: Option<String>,
}

/// `summarizedSignIn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummarizedSignIn {
    /// Stable id of the group (a hash of its window and properties).
    pub id: String,
    /// Sign-ins in it.
    pub sign_in_count: u64,
    /// The window's start.
    pub aggregation_date_time: String,
    /// Its first sign-in.
    pub first_sign_in_date_time: String,
    /// The user.
    pub user_principal_name: Option<String>,
    /// The application id.
    pub app_id: Option<String>,
    /// Its name.
    pub app_display_name: Option<String>,
    /// The IP address.
    pub ip_address: Option<String>,
    /// `success`, `failure`, `notApplied`.
    pub conditional_access_status: Option<String>,
    /// The resource's name.
    pub resource_display_name: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// The resource tenant.
    pub tenant_id: Option<String>,
    /// The service principal's name.
    pub service_principal_name: Option<String>,
    /// Its id.
    pub service_principal_id: Option<String>,
    /// The status.
    pub status: SummaryStatus,
    /// The managed identity.
    pub managed_service_identity: SummaryIdentity,
}

/// Where a page starts: after the group `(window start in µs, id)` in the summary's order.
pub type SummaryKey = (i64, String);

/// One page of a summary and where the next starts.
#[derive(Debug, Clone)]
pub struct SummaryPage {
    /// The groups, newest window first, then by id.
    pub rows: Vec<SummarizedSignIn>,
    /// Where the next page starts (`None`: this is the last).
    pub next: Option<SummaryKey>,
}

/// The grouped columns that make a group's id, in the id's order.
const KEY_COLUMNS: [&str; 11] = [
    "upn",
    "appId",
    "appName",
    "ip",
    "ca",
    "resourceName",
    "resourceId",
    "spName",
    "spId",
    "msiType",
    "msiResource",
];

/// The groups of `of` sign-ins in `period` by `window`, at most `top` of them after `after`.
/// Pages go newest window first, and a window's groups come whole from one query, so the
/// windows are grouped newest first in spans of whole windows (one window, then twice as many
/// each time) until more than `top` groups are found or the period is done: the first page of
/// a day in hours groups an hour or two, not the day, and no page reads what earlier pages
/// returned (keyset paging). Only the groups on the page are built into records.
pub async fn summarized_sign_ins(
    engine: &QueryEngine,
    of: SummaryOf,
    window: Window,
    period: Period,
    filter: &SummaryFilter,
    top: usize,
    after: Option<&SummaryKey>,
) -> Result<SummaryPage> {
    let w = window.micros();
    let mut params = Vec::new();
    let mut condition = format!("array_has(signInEventTypes, '{}')", of.kind().graph_name());
    for (property, value, prefix) in &filter.terms {
        if !FILTERABLE.contains(&property.as_str()) {
            return Err(InsightsError::Invalid(format!(
                "{property} cannot be filtered on; use {}",
                FILTERABLE.join(", ")
            )));
        }
        params.push(ScalarValue::Utf8(Some(value.clone())));
        let p = format!("${}", params.len());
        condition.push_str(&if *prefix {
            format!(" AND starts_with(\"{property}\", {p})")
        } else {
            format!(" AND \"{property}\" = {p}")
        });
    }
    if let Some(code) = filter.error_code {
        condition.push_str(&format!(" AND status.errorCode = {code}"));
    }
    let after = match after {
        Some((start, id)) => Some((*start, parse_group_id(id)?)),
        None => None,
    };
    let (from, mut to) = (period.from_micros(), period.to_micros());
    if let Some((start, _)) = after {
        // Windows after the key's are done; its own may hold groups after the key.
        to = to.min(start.saturating_add(w));
    }
    let mut batches = Vec::new();
    // (window start, id, batch, row) of each group after `after`.
    let mut found: Vec<(i64, u128, usize, usize)> = Vec::new();
    let mut windows = 1i64;
    let mut hi = to;
    while hi > from && found.len() <= top {
        let lo = (hi.saturating_sub(1).div_euclid(w) - (windows - 1))
            .saturating_mul(w)
            .max(from);
        let sql = format!(
            "SELECT CAST(createdDateTime AS BIGINT) / {w} AS bucket, \
             NULLIF(userPrincipalName, '') AS upn, NULLIF(appId, '') AS appId, \
             NULLIF(appDisplayName, '') AS appName, NULLIF(ipAddress, '') AS ip, \
             NULLIF(conditionalAccessStatus, '') AS ca, NULLIF(resourceDisplayName, '') AS resourceName, \
             NULLIF(resourceId, '') AS resourceId, NULLIF(servicePrincipalName, '') AS spName, \
             NULLIF(servicePrincipalId, '') AS spId, status.errorCode AS code, \
             NULLIF(managedServiceIdentity.msiType, '') AS msiType, \
             NULLIF(managedServiceIdentity.associatedResourceId, '') AS msiResource, \
             count(*) AS n, min(createdDateTime) AS first, max(resourceTenantId) AS tenant, \
             max(status.failureReason) AS reason, max(status.additionalDetails) AS details \
             FROM signins WHERE createdDateTime >= {} AND createdDateTime < {} AND {condition} \
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13",
            timestamp(micros_time(lo)),
            timestamp(micros_time(hi)),
        );
        for b in run(engine, &sql, params.clone()).await? {
            let n = batches.len();
            let (Some(buckets), codes) = (
                b.column_by_name("bucket")
                    .and_then(|c| c.as_primitive_opt::<Int64Type>()),
                b.column_by_name("code")
                    .and_then(|c| c.as_primitive_opt::<Int32Type>()),
            ) else {
                continue;
            };
            let keys = KEY_COLUMNS.map(|k| Strings::of(&b, k));
            for i in 0..b.num_rows() {
                let start = buckets.value(i).saturating_mul(w);
                let code = codes.filter(|c| c.is_valid(i)).map_or(0, |c| c.value(i));
                let id = group_hash(start, code, keys.iter().map(|k| k.get(i)));
                // Rows up to the key (newer windows, or the key's window up to its id) were
                // on earlier pages.
                if after.is_some_and(|(s, a)| start > s || (start == s && id <= a)) {
                    continue;
                }
                found.push((start, id, n, i));
            }
            batches.push(b);
        }
        hi = lo;
        windows = windows.saturating_mul(2);
    }
    // The page: newest window first, then by id (the hex id's order is its number's).
    let order = |a: &(i64, u128, usize, usize)| (std::cmp::Reverse(a.0), a.1);
    let more = found.len() > top;
    if more {
        found.select_nth_unstable_by_key(top, order);
        found.truncate(top);
    }
    found.sort_unstable_by_key(order);
    let rows: Vec<SummarizedSignIn> = found
        .iter()
        .map(|&(start, id, n, i)| {
            let b = &batches[n];
            let t = |name: &str| text(b, name, i);
            SummarizedSignIn {
                id: format_group_id(id),
                sign_in_count: int(b, "n", i),
                aggregation_date_time: rfc3339(start),
                first_sign_in_date_time: b
                    .column_by_name("first")
                    .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                    .map(|c| rfc3339(c.value(i)))
                    .unwrap_or_default(),
                user_principal_name: t("upn"),
                app_id: t("appId"),
                app_display_name: t("appName"),
                ip_address: t("ip"),
                conditional_access_status: t("ca"),
                resource_display_name: t("resourceName"),
                resource_id: t("resourceId"),
                tenant_id: t("tenant"),
                service_principal_name: t("spName"),
                service_principal_id: t("spId"),
                status: SummaryStatus {
                    error_code: b
                        .column_by_name("code")
                        .and_then(|c| c.as_primitive_opt::<Int32Type>())
                        .filter(|c| c.is_valid(i))
                        .map_or(0, |c| c.value(i)),
                    failure_reason: t("reason"),
                    additional_details: t("details"),
                },
                managed_service_identity: SummaryIdentity {
                    msi_type: t("msiType"),
                    associated_resource_id: t("msiResource"),
                    federated_token_id: None,
                    federated_token_issuer: None,
                },
            }
        })
        .collect();
    let next = if more {
        found
            .last()
            .map(|&(start, id, ..)| (start, format_group_id(id)))
    } else {
        None
    };
    Ok(SummaryPage { rows, next })
}

fn micros_time(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us).unwrap_or_default()
}

/// The XXH3-128 of a group's window, code and properties (each missing one as empty text,
/// separated by U+001F): the number [`format_group_id`] writes as the group's id.
fn group_hash<'a>(start: i64, code: i32, keys: impl Iterator<Item = Option<&'a str>>) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&start.to_le_bytes());
    h.update(&code.to_le_bytes());
    for (n, k) in keys.enumerate() {
        if n > 0 {
            h.update("\u{1f}".as_bytes());
        }
        h.update(k.unwrap_or_default().as_bytes());
    }
    h.digest128()
}

/// A group id as GUID-shaped hex.
fn format_group_id(h: u128) -> String {
    let x = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The number of a group id that [`format_group_id`] wrote.
fn parse_group_id(id: &str) -> Result<u128> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return Err(InsightsError::Invalid(format!(
            "{id:?} is not a summary group's id"
        )));
    }
    u128::from_str_radix(&hex, 16)
        .map_err(|_| InsightsError::Invalid(format!("{id:?} is not a summary group's id")))
}

/// A GUID-shaped id from the group's window, code and properties joined by U+001F.
#[cfg(test)]
fn group_id(start: i64, code: i32, key: &str) -> String {
    format_group_id(group_hash(start, code, key.split('\u{1f}').map(Some)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_functions_are_graphs() {
        assert_eq!(Window::parse("H6").unwrap(), Window::H6);
        assert_eq!(Window::D1.micros(), 86_400_000_000);
        assert!(Window::parse("h2").is_err());
        assert_eq!(
            SummaryOf::from_function("getSummarizedMSISignIns"),
            Some(SummaryOf::ManagedIdentity)
        );
        assert_eq!(SummaryOf::from_function("signIns"), None);
        let a = group_id(0, 0, "a");
        assert_eq!(a.len(), 36);
        assert_eq!(a, group_id(0, 0, "a"));
        assert_ne!(a, group_id(1, 0, "a"));
    }
}
