//! Microsoft Graph's Usage & insights report endpoints (`/beta/reports/…`):
//! `getAzureADApplicationSignInSummary(period='D7'|'D30')`, `applicationSignInDetailedSummary`
//! and `servicePrincipalSignInActivities`, in Graph's shapes, over the token's tenant, in pages of
//! `$top` joined by `@odata.nextLink` (the whole report without `$top`); and
//! `GET /gatehouse/insights/daily`, sign-ins per day and type.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use gatehouse_insights::{ActivityScope, DetailedSummaryFilter, Period};
use gatehouse_model::LogKind;
use gatehouse_odata::{CompareOp, ExprKind, Literal, QueryOptions};
use serde_json::{json, Value};

use crate::routes::{ApiError, Caller};
use crate::AppState;

/// How far back a report without a period reaches: all history Gatehouse keeps (Graph keeps
/// 30 days).
const ALL_HISTORY_DAYS: i64 = 365 * 100;

/// `GET /{version}/reports/{report}`.
pub(crate) async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, report)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    if version != "beta" {
        return Err(ApiError::not_found(format!(
            "Resource not found for the segment 'reports' in {version}: the Usage & insights reports are in beta."
        )));
    }
    crate::insights::require_sign_ins(&caller)?;
    let pairs = crate::graph::decode_query(query.as_deref().unwrap_or(""))?;
    let options = QueryOptions::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let scope = scope(&options)?;
    let top = options.top.map(|t| t as usize);
    let (name, args) = match report.split_once('(') {
        Some((name, rest)) => (
            name,
            Some(rest.strip_suffix(')').ok_or_else(|| {
                ApiError::bad_request(format!("{report}: the function call is not closed."))
            })?),
        ),
        None => (report.as_str(), None),
    };
    // Gatehouse's extension `asOf`: the report as it was at that time (periods end there). A
    // page after the first takes the walk's time from its `$skiptoken`.
    let resume = options
        .skiptoken
        .as_deref()
        .map(PageToken::parse)
        .transpose()?;
    let now = match (&resume, options.other.iter().find(|(k, _)| k == "asOf")) {
        (Some(token), _) => token.as_of,
        (None, Some((_, t))) => gatehouse_insights::parse_instant(t, "asOf")
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        (None, None) => chrono::Utc::now(),
    };
    let base = crate::graph::base_url(&headers);
    let _turn = state.admission.admit().await;
    let started = Instant::now();
    let audits = caller.readable_logs().contains(&LogKind::Audits);
    let logs: &[LogKind] = if audits {
        &[LogKind::SignIns, LogKind::Audits]
    } else {
        &[LogKind::SignIns]
    };
    let engine = crate::insights::engine(&state, &caller, logs)?;
    // Reports that group days read the days the server keeps.
    let src = gatehouse_insights::Source {
        engine: &engine,
        tenant: caller.tenant(),
        partials: state.partials.as_ref(),
    };
    let failed = |e: gatehouse_insights::InsightsError| match e {
        gatehouse_insights::InsightsError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    };
    let (context, value) = match (name, args) {
        ("getAzureADApplicationSignInSummary", Some(args)) => {
            let period = period_arg(args, &[7, 30], now)?;
            no_filter(&options)?;
            let rows = gatehouse_insights::application_sign_in_summary(&engine, period, scope)
                .await
                .map_err(failed)?;
            ("Collection(microsoft.graph.applicationSignInSummary)", json!(rows))
        }
        ("applicationSignInDetailedSummary", None) => {
            let (filter, period) = detailed_filter(&options, now)?;
            let rows = gatehouse_insights::application_sign_in_detailed_summary(
                &engine, period, scope, &filter,
            )
            .await
            .map_err(failed)?;
            ("reports/applicationSignInDetailedSummary", json!(rows))
        }
        ("servicePrincipalSignInActivities", None) => {
            let app_id = app_id_filter(&options)?;
            let all = Period::last(chrono::Duration::days(ALL_HISTORY_DAYS), now);
            let rows =
                gatehouse_insights::service_principal_sign_in_activities(&src, all, app_id.as_deref())
                    .await
                    .map_err(failed)?;
            ("reports/servicePrincipalSignInActivities", json!(rows))
        }
        ("getRelyingPartyDetailedSummary", Some(args)) => {
            let period = period_arg(args, &[1, 7, 30], now)?;
            no_filter(&options)?;
            let rows = gatehouse_insights::relying_party_summary(&src, period)
                .await
                .map_err(failed)?;
            (
                "Collection(microsoft.graph.relyingPartyDetailedSummary)",
                json!(rows),
            )
        }
        ("appCredentialSignInActivities", None) => {
            let app_id = app_id_filter(&options)?;
            let mut rows =
                gatehouse_insights::app_credential_sign_in_activities(&engine, now, audits)
                    .await
                    .map_err(failed)?;
            rows.retain(|r| app_id.is_none() || r.app_id == app_id);
            ("reports/appCredentialSignInActivities", json!(rows))
        }
        ("authenticationMethods/userSignInsByAuthMethodSummary", Some(args)) => {
            let period = period_arg(args, &[1, 7, 30], now)?;
            no_filter(&options)?;
            let rows = gatehouse_insights::sign_ins_by_auth_method(&src, period)
                .await
                .map_err(failed)?;
            (
                "Collection(microsoft.graph.userSignInsByAuthMethodSummary)",
                json!(rows),
            )
        }
        ("authenticationMethods/userRegistrationDetails", None) => {
            need_audits(audits)?;
            let rows = gatehouse_insights::user_registration_details(&engine)
                .await
                .map_err(failed)?;
            ("reports/authenticationMethods/userRegistrationDetails", json!(rows))
        }
        ("authenticationMethods/usersRegisteredByMethod", _) => {
            need_audits(audits)?;
            let users = gatehouse_insights::user_registration_details(&engine)
                .await
                .map_err(failed)?;
            let summary = gatehouse_insights::users_registered_by_method(&users);
            state.metrics.query_done(started.elapsed());
            let mut body = json!(summary);
            body["@odata.context"] =
                json!(format!("{base}/beta/$metadata#microsoft.graph.userRegistrationMethodSummary"));
            return Ok(Json(body));
        }
        ("getAzureADApplicationSignInSummary", None) => {
            return Err(ApiError::bad_request(
                "getAzureADApplicationSignInSummary needs its period: getAzureADApplicationSignInSummary(period='D7').",
            ))
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "Resource not found for the segment '{report}'. Gatehouse serves getAzureADApplicationSignInSummary(period='D7'|'D30'), applicationSignInDetailedSummary, servicePrincipalSignInActivities, appCredentialSignInActivities, getRelyingPartyDetailedSummary(period='D1'|'D7'|'D30') and authenticationMethods/userSignInsByAuthMethodSummary(period='D1'|'D7'|'D30'), userRegistrationDetails and usersRegisteredByMethod."
            )))
        }
    };
    state.metrics.query_done(started.elapsed());
    let Value::Array(rows) = value else {
        return Err(ApiError::internal("a report that is not a list"));
    };
    let (rows, next) = page(rows, top, resume.as_ref(), now);
    let mut body = json!({
        "@odata.context": format!("{base}/beta/$metadata#{context}"),
        "value": rows,
    });
    if let Some(token) = next {
        let mut pairs = vec![("$skiptoken".to_string(), token)];
        if let Some(top) = top {
            pairs.push(("$top".to_string(), top.to_string()));
        }
        if let Some(f) = &options.filter {
            pairs.push(("$filter".to_string(), f.source.clone()));
        }
        pairs.extend(options.other.iter().filter(|(k, _)| k != "asOf").cloned());
        body["@odata.nextLink"] = json!(format!(
            "{base}/beta/reports/{report}?{}",
            crate::graph::encode_query(&pairs)
        ));
    }
    Ok(Json(body))
}

/// Where a walk over a report's pages stands: the time the report is as of (every page of a
/// walk answers for the same periods), how many rows the pages before returned, and the `id` of
/// the last of them. Written `<asOf µs>_<offset>_<id>` in `$skiptoken`.
struct PageToken {
    as_of: chrono::DateTime<chrono::Utc>,
    offset: usize,
    last_id: String,
}

impl PageToken {
    fn parse(token: &str) -> Result<PageToken, ApiError> {
        let mut parts = token.splitn(3, '_');
        let (as_of, offset, last_id) = (parts.next(), parts.next(), parts.next());
        as_of
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_micros)
            .zip(offset.and_then(|o| o.parse::<usize>().ok()))
            .zip(last_id)
            .map(|((as_of, offset), last_id)| PageToken {
                as_of,
                offset,
                last_id: last_id.to_string(),
            })
            .ok_or_else(|| ApiError::bad_request("$skiptoken is not one this server gave."))
    }
}

/// One page of a report's rows: `top` of them (all without `$top`: Gatehouse caps nothing),
/// after the row the previous page ended with (found again by its `id`, so rows that arrived
/// meanwhile before it neither repeat nor push one out of the walk; by position when it is gone),
/// and the token of the next page while rows remain.
fn page(
    rows: Vec<Value>,
    top: Option<usize>,
    resume: Option<&PageToken>,
    as_of: chrono::DateTime<chrono::Utc>,
) -> (Vec<Value>, Option<String>) {
    fn id(row: &Value) -> Option<&str> {
        row.get("id").and_then(Value::as_str)
    }
    let start = match resume {
        None => 0,
        Some(token) => rows
            .iter()
            .position(|r| id(r) == Some(token.last_id.as_str()))
            .map_or(token.offset, |i| i + 1)
            .min(rows.len()),
    };
    let Some(top) = top else {
        return (rows.into_iter().skip(start).collect(), None);
    };
    let end = start.saturating_add(top).min(rows.len());
    let next = (end < rows.len() && end > start).then(|| {
        format!(
            "{}_{end}_{}",
            as_of.timestamp_micros(),
            id(&rows[end - 1]).unwrap_or_default()
        )
    });
    (
        rows.into_iter().skip(start).take(end - start).collect(),
        next,
    )
}

/// `GET /{version}/reports/authenticationMethods/{report}`: the same handler, the report named
/// `authenticationMethods/{report}`.
pub(crate) async fn authentication_methods(
    state: State<Arc<AppState>>,
    caller: Caller,
    Path((version, report)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    self::report(
        state,
        caller,
        Path((version, format!("authenticationMethods/{report}"))),
        query,
        headers,
    )
    .await
}

/// `GET /gatehouse/insights/daily?since=30d` (or `from` / `to`): sign-ins per UTC day and type.
pub(crate) async fn daily(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    crate::insights::require_sign_ins(&caller)?;
    let pairs = crate::graph::decode_query(query.as_deref().unwrap_or(""))?;
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !["since", "from", "to"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Unknown option `{k}`: use since, from, to."
        )));
    }
    let period = Period::resolve(
        get("since"),
        get("from"),
        get("to"),
        chrono::Duration::days(30),
        chrono::Utc::now(),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let _turn = state.admission.admit().await;
    let engine = crate::insights::engine(&state, &caller, &[LogKind::SignIns])?;
    let src = gatehouse_insights::Source {
        engine: &engine,
        tenant: caller.tenant(),
        partials: state.partials.as_ref(),
    };
    let days = gatehouse_insights::daily_sign_ins(&src, period)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({ "period": period, "days": days })))
}

/// Gatehouse's extensions: `signInTypes=interactive|all` (Entra's application activity counts
/// interactive sign-ins; `all` counts every type) and `asOf` (a day or RFC 3339 time the
/// report's period ends at, instead of now).
fn scope(options: &QueryOptions) -> Result<ActivityScope, ApiError> {
    let mut scope = ActivityScope::Interactive;
    for (k, v) in &options.other {
        match (k.as_str(), v.as_str()) {
            ("signInTypes", "interactive") => scope = ActivityScope::Interactive,
            ("signInTypes", "all") => scope = ActivityScope::All,
            ("asOf", _) => {}
            ("signInTypes", other) => {
                return Err(ApiError::bad_request(format!(
                    "signInTypes must be interactive or all; got {other:?}."
                )))
            }
            (k, _) => {
                return Err(ApiError::bad_request(format!(
                    "Unknown query parameter {k:?}."
                )))
            }
        }
    }
    if options.skip.is_some() || !options.orderby.is_empty() {
        return Err(ApiError::bad_request(
            "The reports take $filter, $top and $skiptoken only.",
        ));
    }
    Ok(scope)
}

/// Registration reports read the audit log.
fn need_audits(audits: bool) -> Result<(), ApiError> {
    if audits {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "This report reads the audit log, which this token's role may not read.",
        ))
    }
}

/// `period='D7'` (quotes optional).
fn period_arg(
    args: &str,
    allowed: &[u32],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Period, ApiError> {
    let value = args
        .trim()
        .strip_prefix("period")
        .and_then(|r| r.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('\''))
        .ok_or_else(|| ApiError::bad_request(format!("Expected period='D7'; got ({args}).")))?;
    gatehouse_insights::report_period(value, allowed, now)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn no_filter(options: &QueryOptions) -> Result<(), ApiError> {
    if options.filter.is_some() {
        return Err(ApiError::bad_request("This report takes no $filter."));
    }
    Ok(())
}

/// The terms of a `$filter` joined by `and`, each `property op literal`.
fn terms(options: &QueryOptions) -> Result<Vec<(String, CompareOp, Literal)>, ApiError> {
    let Some(filter) = &options.filter else {
        return Ok(Vec::new());
    };
    let unsupported = || {
        ApiError::bad_request(format!(
            "$filter: only comparisons of a property with a constant, joined by `and`, are supported here; got {}.",
            filter.source
        ))
    };
    let list = match &filter.expr.kind {
        ExprKind::And(terms) => terms.iter().collect::<Vec<_>>(),
        _ => vec![&filter.expr],
    };
    list.into_iter()
        .map(|t| match &t.kind {
            ExprKind::Compare { op, left, right } => match (&left.kind, &right.kind) {
                (ExprKind::Path(p), ExprKind::Literal(l)) => {
                    Ok((p.segments.join("/"), *op, l.clone()))
                }
                _ => Err(unsupported()),
            },
            _ => Err(unsupported()),
        })
        .collect()
}

/// The detailed summary's `$filter`: `appId`, `appDisplayName`, `status/errorCode` (eq) and
/// `aggregatedEventDateTime` (ge, gt, le, lt). Without a time bound: all history.
fn detailed_filter(
    options: &QueryOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(DetailedSummaryFilter, Period), ApiError> {
    let mut filter = DetailedSummaryFilter::default();
    let mut period = Period::last(chrono::Duration::days(ALL_HISTORY_DAYS), now);
    // The end is exclusive; a day bound `le` includes its whole day.
    let day = chrono::Duration::days(1);
    for (path, op, literal) in terms(options)? {
        match (path.as_str(), op, literal) {
            ("appId", CompareOp::Eq, Literal::String(s) | Literal::Guid(s)) => filter.app_id = Some(s),
            ("appDisplayName", CompareOp::Eq, Literal::String(s)) => {
                filter.app_display_name = Some(s)
            }
            ("status/errorCode", CompareOp::Eq, Literal::Int(c)) => {
                filter.error_code = Some(i32::try_from(c).map_err(|_| {
                    ApiError::bad_request(format!("status/errorCode {c} is out of range."))
                })?)
            }
            ("aggregatedEventDateTime", op, literal) => {
                let t = match literal {
                    Literal::DateTimeOffset { utc_nanos, .. } => {
                        chrono::DateTime::from_timestamp_nanos(utc_nanos as i64)
                    }
                    Literal::Date { days, .. } => chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                        .unwrap_or_default(),
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "aggregatedEventDateTime compares with a date or time; got {other:?}."
                        )))
                    }
                };
                // Rows are whole days: bounds act on the day's midnight.
                match op {
                    CompareOp::Ge => period.from = period.from.max(t),
                    CompareOp::Gt => period.from = period.from.max(t + chrono::Duration::microseconds(1)),
                    CompareOp::Lt => period.to = period.to.min(t),
                    CompareOp::Le => period.to = period.to.min(t + day),
                    CompareOp::Eq => {
                        period.from = period.from.max(t);
                        period.to = period.to.min(t + day);
                    }
                    CompareOp::Ne => {
                        return Err(ApiError::bad_request(
                            "aggregatedEventDateTime takes eq, ge, gt, le or lt.",
                        ))
                    }
                }
            }
            (path, op, _) => {
                return Err(ApiError::bad_request(format!(
                    "$filter on applicationSignInDetailedSummary: {path} {op:?} is not supported (appId eq, appDisplayName eq, status/errorCode eq, aggregatedEventDateTime ge/gt/le/lt/eq)."
                )))
            }
        }
    }
    if period.from >= period.to {
        period.to = period.from;
    }
    Ok((filter, period))
}

/// `$filter=appId eq '…'` for the service principal activities (the only filter they take).
fn app_id_filter(options: &QueryOptions) -> Result<Option<String>, ApiError> {
    let mut app = None;
    for (path, op, literal) in terms(options)? {
        match (path.as_str(), op, literal) {
            ("appId" | "id", CompareOp::Eq, Literal::String(s) | Literal::Guid(s)) => app = Some(s),
            (path, _, _) => {
                return Err(ApiError::bad_request(format!(
                    "$filter on servicePrincipalSignInActivities: only appId eq '…' is supported; got {path}."
                )))
            }
        }
    }
    Ok(app)
}

/// `GET /beta/auditLogs/getSummarizedNonInteractiveSignIns(aggregationWindow='h1'|'h6'|'d1')`
/// and its `…ServicePrincipal…` and `…MSI…` siblings: sign-ins grouped as the portal groups them,
/// newest window first, `$top` (at most 1,000) per page with `@odata.nextLink`. `$filter`: `eq`
/// on the properties of [`gatehouse_insights::FILTERABLE`] and `status/errorCode`,
/// `startswith` on `ipAddress` and `servicePrincipalName`, `aggregationDateTime` ge/gt/le/lt.
/// Without a time bound: the last 24 hours (the portal's default). The period is fixed in the
/// `$skiptoken`, so every page of a walk sees the same span.
pub(crate) async fn summarized(
    state: Arc<AppState>,
    caller: Caller,
    version: &str,
    call: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Json<Value>, ApiError> {
    use gatehouse_insights::{SummaryFilter, SummaryOf, Window};
    if version != "beta" {
        return Err(ApiError::not_found(format!(
            "Resource not found for the segment in {version}: summarized sign-ins are in beta."
        )));
    }
    crate::insights::require_sign_ins(&caller)?;
    let (name, args) = call
        .split_once('(')
        .and_then(|(n, rest)| Some((n, rest.strip_suffix(')')?)))
        .ok_or_else(|| {
            ApiError::bad_request(format!("{call}: expected {call}(aggregationWindow='h1')."))
        })?;
    let of = SummaryOf::from_function(name).ok_or_else(|| {
        ApiError::not_found(format!("Resource not found for the segment '{name}'."))
    })?;
    let window = args
        .trim()
        .strip_prefix("aggregationWindow")
        .and_then(|r| r.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('\''))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Expected aggregationWindow='h1', 'h6' or 'd1'; got ({args})."
            ))
        })
        .and_then(|v| Window::parse(v).map_err(|e| ApiError::bad_request(e.to_string())))?;
    let pairs = crate::graph::decode_query(query.unwrap_or(""))?;
    let options = QueryOptions::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if !options.other.is_empty() || options.skip.is_some() || !options.orderby.is_empty() {
        return Err(ApiError::bad_request(
            "Summarized sign-ins take $filter, $top and $skiptoken.",
        ));
    }
    let top = options.top.unwrap_or(1000).min(1000) as usize;
    let now = chrono::Utc::now();
    let mut filter = SummaryFilter::default();
    let (mut from, mut to) = (None::<chrono::DateTime<chrono::Utc>>, None);
    if let Some(f) = &options.filter {
        let list = match &f.expr.kind {
            ExprKind::And(terms) => terms.iter().collect::<Vec<_>>(),
            _ => vec![&f.expr],
        };
        for term in list {
            match &term.kind {
                ExprKind::Compare { op, left, right } => match (&left.kind, &right.kind) {
                    (ExprKind::Path(p), ExprKind::Literal(l)) => {
                        let path = p.segments.join("/");
                        match (path.as_str(), op, l) {
                            ("status/errorCode", CompareOp::Eq, Literal::Int(c)) => {
                                filter.error_code = i32::try_from(*c).ok()
                            }
                            ("aggregationDateTime", op, Literal::DateTimeOffset { utc_nanos, .. }) => {
                                let t = chrono::DateTime::from_timestamp_nanos(*utc_nanos as i64);
                                match op {
                                    CompareOp::Ge | CompareOp::Gt => from = Some(t),
                                    CompareOp::Le | CompareOp::Lt => to = Some(t),
                                    _ => return Err(ApiError::bad_request("aggregationDateTime takes ge, gt, le or lt.")),
                                }
                            }
                            (p, CompareOp::Eq, Literal::String(s) | Literal::Guid(s)) => {
                                filter.terms.push((p.to_string(), s.clone(), false))
                            }
                            (p, op, _) => {
                                return Err(ApiError::bad_request(format!(
                                    "$filter: {p} {op:?} is not supported on summarized sign-ins."
                                )))
                            }
                        }
                    }
                    _ => return Err(ApiError::bad_request("$filter: compare a property with a constant.")),
                },
                ExprKind::Call { func: gatehouse_odata::Function::StartsWith, args } => {
                    match (args.first().map(|a| &a.kind), args.get(1).map(|a| &a.kind)) {
                        (Some(ExprKind::Path(p)), Some(ExprKind::Literal(Literal::String(s))))
                            if ["ipAddress", "servicePrincipalName"]
                                .contains(&p.segments.join("/").as_str()) =>
                        {
                            filter.terms.push((p.segments.join("/"), s.clone(), true))
                        }
                        _ => {
                            return Err(ApiError::bad_request(
                                "$filter: startswith is supported on ipAddress and servicePrincipalName.",
                            ))
                        }
                    }
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "$filter: terms joined by `and` only (eq, startswith, aggregationDateTime bounds).",
                    ))
                }
            }
        }
    }
    // The skiptoken holds the walk's period and the last group returned.
    let (period, after) = match &options.skiptoken {
        Some(token) => {
            let parts: Vec<&str> = token.splitn(4, '_').collect();
            let parsed = match parts.as_slice() {
                [f, t, s, id] => f
                    .parse::<i64>()
                    .ok()
                    .zip(t.parse::<i64>().ok())
                    .zip(s.parse::<i64>().ok())
                    .and_then(|((f, t), s)| {
                        Some((
                            Period {
                                from: chrono::DateTime::from_timestamp_micros(f)?,
                                to: chrono::DateTime::from_timestamp_micros(t)?,
                            },
                            (s, id.to_string()),
                        ))
                    }),
                _ => None,
            };
            let (p, a) = parsed
                .ok_or_else(|| ApiError::bad_request("$skiptoken is not one this server gave."))?;
            (p, Some(a))
        }
        None => {
            let to = to.unwrap_or(now);
            let from = from.unwrap_or(to - chrono::Duration::hours(24));
            (Period { from, to }, None)
        }
    };
    let _turn = state.admission.admit().await;
    let started = Instant::now();
    let engine = crate::insights::engine(&state, &caller, &[LogKind::SignIns])?;
    let page = gatehouse_insights::summarized_sign_ins(
        &engine,
        of,
        window,
        period,
        &filter,
        top,
        after.as_ref(),
    )
    .await
    .map_err(|e| match e {
        gatehouse_insights::InsightsError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    })?;
    state.metrics.query_done(started.elapsed());
    let base = crate::graph::base_url(headers);
    let mut body = json!({
        "@odata.context": format!("{base}/beta/$metadata#Collection(microsoft.graph.summarizedSignIn)"),
        "value": page.rows,
    });
    if let Some((start, id)) = page.next {
        let token = format!(
            "{}_{}_{start}_{id}",
            period.from.timestamp_micros(),
            period.to.timestamp_micros()
        );
        let mut pairs = vec![
            ("$top".to_string(), top.to_string()),
            ("$skiptoken".to_string(), token),
        ];
        if let Some(f) = &options.filter {
            pairs.push(("$filter".to_string(), f.source.clone()));
        }
        let next = format!(
            "{base}/beta/auditLogs/{call}?{}",
            crate::graph::encode_query(&pairs)
        );
        body["@odata.nextLink"] = json!(next);
    }
    Ok(Json(body))
}
