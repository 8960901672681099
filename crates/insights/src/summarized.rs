//! Summarized sign-ins, as the Entra portal groups non-interactive, service principal and
//! managed identity sign-ins and as Graph's `getSummarizedNonInteractiveSignIns`,
//! `getSummarizedServicePrincipalSignIns` and `getSummarizedMSISignIns` return them: the
//! sign-ins of one window (1 hour, 6 hours or a day, UTC) that share user, application, IP
//! address, resource, status and Conditional Access status, counted, newest window first, paged
//! by key.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type};
use datafusion::scalar::ScalarValue;
use gatehouse_model::SignInKind;
use gatehouse_query::QueryEngine;
use serde::Serialize;

use crate::partials::micros_time;
use crate::questions::{planned, rfc3339, timestamp, Strings};
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
///
/// A page is the groups with the smallest `(newest window first, id)` after `after`, and a
/// group's id is a hash of its window and properties, which each sign-in has: so the sign-ins
/// are read (not grouped by the engine: most groups of a busy day are one or two sign-ins, and
/// grouping them all to keep a thousand was nearly all of a page's time) and only the groups
/// that can still be on the page are counted, `top + 1` at most (a group pushed out by smaller
/// ones can never come back). Windows are read newest first in spans of whole windows (one
/// window, then twice as many each time) until the page is full or the period is done; no page
/// reads what earlier pages returned (keyset paging).
pub async fn summarized_sign_ins(
    engine: &QueryEngine,
    of: SummaryOf,
    window: Window,
    period: Period,
    filter: &SummaryFilter,
    top: usize,
    after: Option<&SummaryKey>,
) -> Result<SummaryPage> {
    use futures_util::StreamExt;
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
    let mut page = TopGroups::new(top + 1);
    let mut scratch = Vec::new();
    let mut windows = 1i64;
    let mut hi = to;
    while hi > from && page.len() <= top {
        let lo = (hi.saturating_sub(1).div_euclid(w) - (windows - 1))
            .saturating_mul(w)
            .max(from);
        let sql = format!(
            "SELECT CAST(createdDateTime AS BIGINT) AS t, \
             NULLIF(userPrincipalName, '') AS upn, NULLIF(appId, '') AS appId, \
             NULLIF(appDisplayName, '') AS appName, NULLIF(ipAddress, '') AS ip, \
             NULLIF(conditionalAccessStatus, '') AS ca, NULLIF(resourceDisplayName, '') AS resourceName, \
             NULLIF(resourceId, '') AS resourceId, NULLIF(servicePrincipalName, '') AS spName, \
             NULLIF(servicePrincipalId, '') AS spId, status.errorCode AS code, \
             NULLIF(managedServiceIdentity.msiType, '') AS msiType, \
             NULLIF(managedServiceIdentity.associatedResourceId, '') AS msiResource, \
             resourceTenantId AS tenant, status.failureReason AS reason, \
             status.additionalDetails AS details \
             FROM signins WHERE createdDateTime >= {} AND createdDateTime < {} AND {condition}",
            timestamp(micros_time(lo)),
            timestamp(micros_time(hi)),
        );
        let mut stream = planned(engine.context(), &sql, params.clone())
            .await?
            .execute_stream()
            .await?;
        while let Some(b) = stream.next().await {
            let b = b?;
            let Some(times) = b
                .column_by_name("t")
                .and_then(|c| c.as_primitive_opt::<Int64Type>())
            else {
                continue;
            };
            let codes = b
                .column_by_name("code")
                .and_then(|c| c.as_primitive_opt::<Int32Type>());
            let keys = KEY_COLUMNS.map(|k| Strings::of(&b, k));
            let (tenants, reasons, details) = (
                Strings::of(&b, "tenant"),
                Strings::of(&b, "reason"),
                Strings::of(&b, "details"),
            );
            for i in 0..b.num_rows() {
                if times.is_null(i) {
                    continue;
                }
                let t = times.value(i);
                let start = t.div_euclid(w).saturating_mul(w);
                let code = codes.filter(|c| c.is_valid(i)).map_or(0, |c| c.value(i));
                let id = group_hash(&mut scratch, start, code, keys.iter().map(|k| k.get(i)));
                // Rows up to the key (newer windows, or the key's window up to its id) were
                // on earlier pages.
                if after.is_some_and(|(s, a)| start > s || (start == s && id <= a)) {
                    continue;
                }
                let Some(group) = page.group((std::cmp::Reverse(start), id), || Group {
                    code,
                    keys: keys.each_ref().map(|k| k.get(i).map(str::to_string)),
                    count: 0,
                    first: t,
                    tenant: None,
                    reason: None,
                    details: None,
                }) else {
                    continue;
                };
                group.count += 1;
                group.first = group.first.min(t);
                keep_max(&mut group.tenant, tenants.get(i));
                keep_max(&mut group.reason, reasons.get(i));
                keep_max(&mut group.details, details.get(i));
            }
        }
        hi = lo;
        windows = windows.saturating_mul(2);
    }
    let mut found = page.into_sorted();
    let more = found.len() > top;
    found.truncate(top);
    let next = if more {
        found
            .last()
            .map(|((start, id), _)| (start.0, format_group_id(*id)))
    } else {
        None
    };
    let rows = found
        .into_iter()
        .map(|((start, id), g)| {
            let [upn, app_id, app_name, ip, ca, resource_name, resource_id, sp_name, sp_id, msi_type, msi_resource] =
                g.keys;
            SummarizedSignIn {
                id: format_group_id(id),
                sign_in_count: g.count,
                aggregation_date_time: rfc3339(start.0),
                first_sign_in_date_time: rfc3339(g.first),
                user_principal_name: upn,
                app_id,
                app_display_name: app_name,
                ip_address: ip,
                conditional_access_status: ca,
                resource_display_name: resource_name,
                resource_id,
                tenant_id: g.tenant,
                service_principal_name: sp_name,
                service_principal_id: sp_id,
                status: SummaryStatus {
                    error_code: g.code,
                    failure_reason: g.reason,
                    additional_details: g.details,
                },
                managed_service_identity: SummaryIdentity {
                    msi_type,
                    associated_resource_id: msi_resource,
                    federated_token_id: None,
                    federated_token_issuer: None,
                },
            }
        })
        .collect();
    Ok(SummaryPage { rows, next })
}

/// A group being counted: its properties and what is summed over its sign-ins.
struct Group {
    code: i32,
    /// The values of [`KEY_COLUMNS`].
    keys: [Option<String>; 11],
    count: u64,
    /// Its first sign-in (µs).
    first: i64,
    /// The largest of each (as SQL's `max`: nulls ignored).
    tenant: Option<String>,
    reason: Option<String>,
    details: Option<String>,
}

/// `(newest window first, id)`: a group's place on the pages.
type Place = (std::cmp::Reverse<i64>, u128);

/// The `limit` groups with the smallest places seen so far.
struct TopGroups {
    limit: usize,
    groups: std::collections::HashMap<Place, Group>,
    /// The places in `groups`, largest on top.
    places: std::collections::BinaryHeap<Place>,
}

impl TopGroups {
    fn new(limit: usize) -> TopGroups {
        TopGroups {
            limit: limit.max(1),
            groups: Default::default(),
            places: Default::default(),
        }
    }

    fn len(&self) -> usize {
        self.groups.len()
    }

    /// The group at `place`, made with `new` when it is not counted yet; `None` when `limit`
    /// smaller places are already counted (it can never be among them). A new group pushes
    /// out the largest when the limit is reached.
    fn group(&mut self, place: Place, new: impl FnOnce() -> Group) -> Option<&mut Group> {
        if self.groups.len() >= self.limit
            && !self.groups.contains_key(&place)
            && self.places.peek().is_some_and(|largest| place > *largest)
        {
            return None;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.groups.entry(place) {
            slot.insert(new());
            self.places.push(place);
            if self.groups.len() > self.limit {
                if let Some(largest) = self.places.pop() {
                    self.groups.remove(&largest);
                }
            }
        }
        self.groups.get_mut(&place)
    }

    fn into_sorted(self) -> Vec<(Place, Group)> {
        let mut out: Vec<(Place, Group)> = self.groups.into_iter().collect();
        out.sort_unstable_by_key(|(place, _)| *place);
        out
    }
}

/// `slot` becomes `value` when that is larger (`None` is smallest).
fn keep_max(slot: &mut Option<String>, value: Option<&str>) {
    if let Some(v) = value {
        if slot.as_deref().is_none_or(|s| v > s) {
            *slot = Some(v.to_string());
        }
    }
}

/// The XXH3-128 of a group's window, code and properties (each missing one as empty text,
/// separated by U+001F): the number [`format_group_id`] writes as the group's id. The bytes are
/// laid out in `scratch` and hashed at once.
fn group_hash<'a>(
    scratch: &mut Vec<u8>,
    start: i64,
    code: i32,
    keys: impl Iterator<Item = Option<&'a str>>,
) -> u128 {
    scratch.clear();
    scratch.extend_from_slice(&start.to_le_bytes());
    scratch.extend_from_slice(&code.to_le_bytes());
    for (n, k) in keys.enumerate() {
        if n > 0 {
            scratch.extend_from_slice("\u{1f}".as_bytes());
        }
        scratch.extend_from_slice(k.unwrap_or_default().as_bytes());
    }
    xxhash_rust::xxh3::xxh3_128(scratch)
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
    format_group_id(group_hash(
        &mut Vec::new(),
        start,
        code,
        key.split('\u{1f}').map(Some),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting only the groups that can still be on the page gives the page that counting
    /// every group and sorting them gives.
    #[test]
    fn top_groups_are_the_smallest_places_counted_whole() {
        let mut all: std::collections::BTreeMap<Place, u64> = Default::default();
        let mut top = TopGroups::new(50);
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let place = (std::cmp::Reverse((x % 5) as i64), u128::from(x % 700));
            *all.entry(place).or_default() += 1;
            if let Some(g) = top.group(place, || Group {
                code: 0,
                keys: Default::default(),
                count: 0,
                first: 0,
                tenant: None,
                reason: None,
                details: None,
            }) {
                g.count += 1;
            }
        }
        let got: Vec<(Place, u64)> = top
            .into_sorted()
            .into_iter()
            .map(|(p, g)| (p, g.count))
            .collect();
        let expected: Vec<(Place, u64)> = all.into_iter().take(50).collect();
        assert_eq!(got, expected);
    }

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
