//! Microsoft Graph's log endpoints: `GET /{v1.0|beta}/auditLogs/{signIns|directoryAudits|provisioning}`
//! and `…/{id}`, with OData query options and `@odata.nextLink` paging.
//!
//! The handlers parse the request ([`gatehouse_odata::QueryOptions`]), check the caller's role
//! and answer from [`gatehouse_graph::GraphApi`] over the caller's tenant only.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_graph::{ApiVersion, GetQuery, GraphError, GraphResource, ListQuery, DEFAULT_TOP};
use gatehouse_odata::QueryOptions;
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::routes::{ApiError, Caller};
use crate::AppState;

/// The largest page a client may ask for with `Prefer: odata.maxpagesize=N` (a Gatehouse
/// extension; Graph's own limit is [`DEFAULT_TOP`]).
pub const MAX_PAGE_SIZE: usize = 100_000;

/// `GET /{version}/auditLogs/{resource}`: one page of a log.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, resource)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if resource.starts_with("getSummarized") {
        return crate::reports::summarized(
            state,
            caller,
            &version,
            &resource,
            query.as_deref(),
            &headers,
        )
        .await
        .map(|json| json.into_response());
    }
    let (version, resource) = route(&version, &resource)?;
    list_page(&state, &caller, version, resource, query, &headers).await
}

/// `GET /{version}/identityProtection/{riskDetections|servicePrincipalRiskDetections}`: one page
/// of detections, each with its state as it is now (an admin's dismiss or confirm of the user
/// after the detection shows in `riskState` and `riskDetail`).
pub(crate) async fn identity_protection_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, resource)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if resource.eq_ignore_ascii_case("riskyUsers") {
        return crate::risk::risky_users(state, caller, &version, query.as_deref(), &headers).await;
    }
    let v = ApiVersion::from_segment(&version);
    let r = GraphResource::from_identity_protection_segment(&resource);
    let (Some(version), Some(resource)) = (v, r) else {
        return Err(ApiError::not_found(format!(
            "No resource /{version}/identityProtection/{resource}: Gatehouse serves riskDetections, servicePrincipalRiskDetections and riskyUsers."
        )));
    };
    list_page(&state, &caller, version, resource, query, &headers).await
}

/// One page of a resource's list, as Graph writes it.
async fn list_page(
    state: &Arc<AppState>,
    caller: &Caller,
    version: ApiVersion,
    resource: GraphResource,
    query: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let tenant = reader_tenant(caller, resource)?;
    let (pairs, options) = query_options(query.as_deref())?;
    let mut q = list_query(&options, version, resource, headers)?;
    if resource == GraphResource::SignIns && q.filter.is_some() {
        state.risk.ensure(state, &tenant).await?;
        q.risk = Some(Arc::new(state.risk.sign_in_overlay(&tenant)));
    }
    let _turn = state.admission.admit().await;
    let mut page = state
        .graph
        .list(
            &state.store,
            &state.queries,
            &state.ingestor.snapshot(),
            &tenant,
            &q,
        )
        .await
        .map_err(graph_error)?;
    state.risk.ensure(state, &tenant).await?;
    state.risk.overlay(&tenant, resource, &mut page.records);
    let base = base_url(headers);
    // The body is written as text: the records already are Graph JSON.
    let mut body =
        Vec::with_capacity(page.records.iter().map(|r| r.len() + 1).sum::<usize>() + 512);
    let mut member = |name: &str, value: &Value| {
        body.push(if body.is_empty() { b'{' } else { b',' });
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut body, name);
        body.push(b':');
        let _ = serde_json::to_writer(&mut body, value);
    };
    member(
        "@odata.context",
        &Value::String(format!(
            "{base}/{}/$metadata#{}/{}",
            version.segment(),
            resource.parent(),
            resource.segment()
        )),
    );
    if let Some(n) = page.count {
        member("@odata.count", &n.into());
    }
    if let Some(next) = &page.next {
        let mut params: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| !is_skiptoken(k))
            .collect();
        params.push(("$skiptoken".into(), next.encode()));
        member(
            "@odata.nextLink",
            &Value::String(format!(
                "{base}/{}/{}/{}?{}",
                version.segment(),
                resource.parent(),
                resource.segment(),
                encode_query(&params)
            )),
        );
    }
    body.extend_from_slice(b",\"value\":[");
    for (i, record) in page.records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(record.as_bytes());
    }
    body.extend_from_slice(b"]}");
    state.metrics.query_done(started.elapsed());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /{version}/identityProtection/{riskDetections|servicePrincipalRiskDetections}/{id}`: one
/// detection, with its state as it is now.
pub(crate) async fn identity_protection_get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, resource, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let v = ApiVersion::from_segment(&version);
    let r = GraphResource::from_identity_protection_segment(&resource);
    let (Some(version), Some(resource)) = (v, r) else {
        return Err(ApiError::not_found(format!(
            "No resource /{version}/identityProtection/{resource}/{id}."
        )));
    };
    get_record(&state, &caller, version, resource, &id, query, &headers).await
}

/// `GET /{version}/auditLogs/{resource}/{id}`: one record.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, resource, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (version, resource) = route(&version, &resource)?;
    get_record(&state, &caller, version, resource, &id, query, &headers).await
}

/// One record of a resource by id, as Graph writes it.
async fn get_record(
    state: &Arc<AppState>,
    caller: &Caller,
    version: ApiVersion,
    resource: GraphResource,
    id: &str,
    query: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = reader_tenant(caller, resource)?;
    let (_, options) = query_options(query.as_deref())?;
    if options.filter.is_some() || options.top.is_some() || options.skiptoken.is_some() {
        return Err(ApiError::bad_request(
            "A record by id takes no $filter, $top or $skiptoken.",
        ));
    }
    let select = selected(&options)?;
    let _turn = state.admission.admit().await;
    let mut record = state
        .graph
        .get(
            &state.queries,
            &state.ingestor.snapshot(),
            &tenant,
            &GetQuery {
                resource,
                version,
                id,
                select: select.as_deref(),
            },
        )
        .await
        .map_err(graph_error)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ))
        })?;
    state.risk.ensure(state, &tenant).await?;
    state.risk.overlay_record(&tenant, resource, &mut record);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/{}/$metadata#{}/{}/$entity",
            base_url(headers),
            version.segment(),
            resource.parent(),
            resource.segment()
        )),
    );
    body.extend(record);
    Ok(Json(Value::Object(body)).into_response())
}

/// `GET /gatehouse/export/{resource}?$filter=…&format=csv|json|ndjson|parquet`: every record the
/// filter matches (all sign-in kinds unless the filter says), uncapped, from one snapshot.
pub(crate) async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let resource = GraphResource::from_segment(&resource).ok_or_else(|| {
        ApiError::not_found(format!(
            "No export {resource:?}: signIns, directoryAudits or provisioning."
        ))
    })?;
    let tenant = reader_tenant(&caller, resource)?;
    let (_, options) = query_options(query.as_deref())?;
    if options.top.is_some()
        || options.skip.is_some()
        || options.skiptoken.is_some()
        || !options.select.is_empty()
        || options.count.is_some()
    {
        return Err(ApiError::bad_request(
            "An export takes $filter, $orderby and format= only: it is every matching record.",
        ));
    }
    let mut format = gatehouse_graph::ExportFormat::NdJson;
    for (name, value) in &options.other {
        match name.as_str() {
            "format" => {
                format = value.parse().map_err(ApiError::bad_request)?;
            }
            // Spent by the authentication (a console download link).
            "ticket" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown parameter {other:?}: an export takes $filter, $orderby and format=."
                )))
            }
        }
    }
    let ascending = ascending(&options, resource)?;
    let q = gatehouse_graph::ExportQuery {
        resource,
        filter: options.filter.clone(),
        ascending,
        format,
    };
    let body = gatehouse_graph::export(
        &state.queries,
        &state.ingestor.snapshot(),
        Some(&tenant),
        &q,
    )
    .await
    .map_err(graph_error)?;
    let body = futures_util::StreamExt::map(body, |chunk| {
        chunk.map(axum::body::Bytes::from).map_err(|e| {
            tracing::warn!(error = %e, "an export failed while it was streamed");
            std::io::Error::other(e.to_string())
        })
    });
    let file = format!(
        "attachment; filename=\"{}.{}\"",
        resource.segment(),
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, file),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// The version and resource a path names (404 for anything else, as for any unknown path).
fn route(version: &str, resource: &str) -> Result<(ApiVersion, GraphResource), ApiError> {
    let v = ApiVersion::from_segment(version);
    let r = GraphResource::from_segment(resource);
    match (v, r) {
        (Some(v), Some(r)) => Ok((v, r)),
        _ => Err(ApiError::not_found(format!(
            "No resource /{version}/auditLogs/{resource}: Gatehouse serves /v1.0 and /beta auditLogs/signIns, directoryAudits and provisioning."
        ))),
    }
}

/// The caller's tenant, if its role may read the resource's log.
fn reader_tenant(caller: &Caller, resource: GraphResource) -> Result<String, ApiError> {
    match &caller.0 {
        Principal::Token { tenant, role, .. } => {
            if role.may_read(resource.log()) {
                Ok(tenant.clone())
            } else {
                Err(ApiError::forbidden(format!(
                    "A {role} token may not read {}.",
                    resource.segment()
                )))
            }
        }
        Principal::LocalAdmin => Err(ApiError::forbidden(
            "The Graph endpoints answer a tenant's token (gatehouse token create --tenant ID --role ROLE).",
        )),
    }
}

/// The list request the options describe.
fn list_query(
    options: &QueryOptions,
    version: ApiVersion,
    resource: GraphResource,
    headers: &HeaderMap,
) -> Result<ListQuery, ApiError> {
    if options.skip.is_some() {
        return Err(ApiError::bad_request(
            "$skip is not supported: follow @odata.nextLink to page.",
        ));
    }
    let max_page = max_page_size(headers)?;
    let top = match options.top {
        None => max_page.unwrap_or(DEFAULT_TOP),
        Some(0) => return Err(ApiError::bad_request("$top must be at least 1.")),
        Some(n) => {
            let limit = max_page.unwrap_or(DEFAULT_TOP).max(DEFAULT_TOP);
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > limit {
                return Err(ApiError::bad_request(format!(
                    "$top is at most {limit} (larger pages: the header Prefer: odata.maxpagesize=N, N up to {MAX_PAGE_SIZE}; everything at once: /gatehouse/export)."
                )));
            }
            n
        }
    };
    Ok(ListQuery {
        resource,
        version,
        filter: options.filter.clone(),
        ascending: ascending(options, resource)?,
        top,
        select: selected(options)?,
        count: options.count.unwrap_or(false),
        skiptoken: options.skiptoken.clone(),
        risk: None,
    })
}

/// The request's query string as decoded pairs and the OData options among them.
fn query_options(query: Option<&str>) -> Result<(Vec<(String, String)>, QueryOptions), ApiError> {
    let pairs = decode_query(query.unwrap_or(""))?;
    let options = QueryOptions::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((pairs, options))
}

/// Whether `$orderby` asks for oldest first: only the time property may be named (newest first
/// when it is absent, as Graph).
fn ascending(options: &QueryOptions, resource: GraphResource) -> Result<bool, ApiError> {
    let time = resource.time_property();
    match options.orderby.as_slice() {
        [] => Ok(false),
        [one]
            if one.path.segments.len() == 1 && one.path.segments[0].eq_ignore_ascii_case(time) =>
        {
            Ok(!one.descending)
        }
        _ => Err(ApiError::bad_request(format!(
            "$orderby: only {time} (asc or desc) is supported."
        ))),
    }
}

/// `$select`'s property names (`None` when not given); only top-level properties.
fn selected(options: &QueryOptions) -> Result<Option<Vec<String>>, ApiError> {
    if options.select.is_empty() {
        return Ok(None);
    }
    options
        .select
        .iter()
        .map(|p| match p.segments.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(ApiError::bad_request(format!(
                "$select: only top-level properties can be selected, not {}.",
                p.segments.join("/")
            ))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `Prefer: odata.maxpagesize=N`, if given.
fn max_page_size(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    for value in headers.get_all("prefer") {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let item = item.trim();
            if let Some(n) = item.strip_prefix("odata.maxpagesize=") {
                let n: usize = n.trim().parse().map_err(|_| {
                    ApiError::bad_request("Prefer: odata.maxpagesize takes a whole number.")
                })?;
                if n == 0 || n > MAX_PAGE_SIZE {
                    return Err(ApiError::bad_request(format!(
                        "Prefer: odata.maxpagesize is between 1 and {MAX_PAGE_SIZE}."
                    )));
                }
                return Ok(Some(n));
            }
        }
    }
    Ok(None)
}

fn is_skiptoken(name: &str) -> bool {
    name.eq_ignore_ascii_case("$skiptoken") || name.eq_ignore_ascii_case("skiptoken")
}

/// The query string as decoded pairs (`+` is a space, `%XX` a byte; the text must be UTF-8).
pub(crate) fn decode_query(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "The query string has a bad escape at byte {i} of {s:?}."
                        ))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::bad_request("The query string is not UTF-8 once decoded."))
}

/// Pairs as a query string, every byte but unreserved ones (and `$`) percent-encoded.
pub(crate) fn encode_query(pairs: &[(String, String)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~$".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// `http://host` as the client reached the server.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn graph_error(e: GraphError) -> ApiError {
    match e {
        GraphError::BadRequest(m) => ApiError::bad_request(m),
        GraphError::Internal(m) | GraphError::Gone(m) => {
            tracing::error!(error = %m, "a Graph request failed");
            ApiError::internal(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_round_trip() {
        let pairs = vec![
            (
                "$filter".to_string(),
                "createdDateTime ge 2024-07-01T00:00:00+02:00 and appDisplayName eq 'a&b=c ü'"
                    .to_string(),
            ),
            ("$top".to_string(), "5".to_string()),
        ];
        let text = encode_query(&pairs);
        assert!(!text.contains(' ') && !text.contains('+') && !text.contains('\''));
        assert_eq!(decode_query(&text).unwrap(), pairs);
        assert!(decode_query("a=%zz").is_err());
        assert!(decode_query("a=%ff").is_err());
        assert!(decode_query("a=%4").is_err());
    }
}
