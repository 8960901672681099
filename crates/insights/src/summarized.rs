//! Summarized sign-ins, as the Entra portal groups non-interactive, service principal and
//! managed identity sign-ins and as Graph's `getSummarizedNonInteractiveSignIns`,
//! `getSummarizedServicePrincipalSignIns` and `getSummarizedMSISignIns` return them: the
//! sign-ins of one window (1 hour, 6 hours or a day, UTC) that share user, application, IP
//! address, resource, status and Conditional Access status, counted, newest window first, paged
//! by key.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use chrono::DateTime;
use datafusion::scalar::ScalarValue;
use gatehouse_model::SignInKind;
use gatehouse_query::QueryEngine;
use serde::Serialize;

use crate::questions::{rfc3339, run, text, timestamp};
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

/// The groups of `of` sign-ins in `period` by `window`, at most `top` of them after `after`.
/// Each page reads only the windows from `after`'s back (keyset paging: no page reads what
/// earlier pages returned).
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
    let mut condition = format!(
        "createdDateTime >= {} AND createdDateTime < {} AND array_has(signInEventTypes, '{}')",
        timestamp(period.from),
        timestamp(period.to),
        of.kind().graph_name()
    );
    if let Some((start, _)) = after {
        // Windows after the key's are done; its own may hold groups after the key.
        condition.push_str(&format!(
            " AND CAST(createdDateTime AS BIGINT) < {}",
            start.saturating_add(w)
        ));
    }
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
         FROM signins WHERE {condition} \
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
    );
    let mut rows: BTreeMap<(std::cmp::Reverse<i64>, String), SummarizedSignIn> = BTreeMap::new();
    for b in &run(engine, &sql, params).await? {
        let buckets = b
            .column_by_name("bucket")
            .map(|c| c.as_primitive::<Int64Type>().clone());
        let codes = b
            .column_by_name("code")
            .map(|c| c.as_primitive::<Int32Type>().clone());
        let firsts = b
            .column_by_name("first")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>().cloned());
        let counts = b
            .column_by_name("n")
            .map(|c| c.as_primitive::<Int64Type>().clone());
        let (Some(buckets), Some(firsts), Some(counts)) = (buckets, firsts, counts) else {
            continue;
        };
        for i in 0..b.num_rows() {
            let start = buckets.value(i).saturating_mul(w);
            let code = codes
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map_or(0, |c| c.value(i));
            let t = |name: &str| text(b, name, i);
            let key_text = [
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
            ]
            .iter()
            .map(|k| t(k).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{1f}");
            let id = group_id(start, code, &key_text);
            if let Some((after_start, after_id)) = after {
                // Rows up to the key (newer windows, or the key's window up to its id) were
                // on earlier pages.
                if start > *after_start
                    || (start == *after_start && id.as_str() <= after_id.as_str())
                {
                    continue;
                }
            }
            rows.insert(
                (std::cmp::Reverse(start), id.clone()),
                SummarizedSignIn {
                    id,
                    sign_in_count: counts.value(i).max(0) as u64,
                    aggregation_date_time: rfc3339(start),
                    first_sign_in_date_time: rfc3339(firsts.value(i)),
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
                        error_code: code,
                        failure_reason: t("reason"),
                        additional_details: t("details"),
                    },
                    managed_service_identity: SummaryIdentity {
                        msi_type: t("msiType"),
                        associated_resource_id: t("msiResource"),
                        federated_token_id: None,
                        federated_token_issuer: None,
                    },
                },
            );
        }
    }
    let more = rows.len() > top;
    let rows: Vec<SummarizedSignIn> = rows.into_values().take(top).collect();
    let next = if more {
        rows.last().map(|r| {
            let start = DateTime::parse_from_rfc3339(&r.aggregation_date_time)
                .map(|t| t.timestamp_micros())
                .unwrap_or(0);
            (start, r.id.clone())
        })
    } else {
        None
    };
    Ok(SummaryPage { rows, next })
}

/// A GUID-shaped id from the group's window, code and properties (XXH3-128).
fn group_id(start: i64, code: i32, key: &str) -> String {
    let mut bytes = Vec::with_capacity(key.len() + 12);
    bytes.extend_from_slice(&start.to_le_bytes());
    bytes.extend_from_slice(&code.to_le_bytes());
    bytes.extend_from_slice(key.as_bytes());
    let h = xxhash_rust::xxh3::xxh3_128(&bytes);
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
