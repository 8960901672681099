//! The HTTP handlers: small functions over the shared [`AppState`], with errors in Microsoft
//! Graph's envelope.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use gatehouse_formats::input::{expand_paths, InputFile};
use gatehouse_formats::InputFormat;
use gatehouse_ingest::{IngestSummary, InputsJob, Maintenance, Outcome, SourcePosition};
use gatehouse_model::LogKind;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{constant_time_eq, Principal};
use crate::AppState;

type Shared = State<Arc<AppState>>;

/// The routes, with the body limit from the config.
pub fn router(state: Arc<AppState>) -> Router {
    let limit =
        usize::try_from(state.config.max_body_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    Router::new()
        .route("/", get(crate::console::index))
        .route("/console/{name}", get(crate::console::asset))
        .route("/gatehouse/console/login", post(crate::console::login))
        .route("/gatehouse/console/logout", post(crate::console::logout))
        .route("/gatehouse/me", get(crate::console::me))
        .route(
            "/gatehouse/export-tickets",
            post(crate::console::export_ticket),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/gatehouse/ingest", post(ingest))
        .route("/gatehouse/sources/{name}", get(source_position))
        .route("/gatehouse/sql", post(sql))
        .route("/gatehouse/admin/ingest", post(admin_ingest))
        .route("/gatehouse/admin/compact", post(admin_compact))
        .route("/gatehouse/admin/retention", post(admin_retention))
        .route("/gatehouse/admin/vacuum", post(admin_vacuum))
        .route("/gatehouse/export/{resource}", get(crate::graph::export))
        .route(
            "/gatehouse/insights/{question}",
            get(crate::insights::question),
        )
        .route(
            "/gatehouse/signIns/{id}/explain",
            get(crate::insights::explain),
        )
        .route("/gatehouse/insights/daily", get(crate::reports::daily))
        .route("/{version}/reports/{report}", get(crate::reports::report))
        .route(
            "/{version}/reports/authenticationMethods/{report}",
            get(crate::reports::authentication_methods),
        )
        .route(
            "/{version}/identityProtection/{resource}",
            get(crate::graph::identity_protection_list),
        )
        .route(
            "/{version}/identityProtection/{resource}/{id}",
            get(crate::graph::identity_protection_get),
        )
        .route(
            "/{version}/identityProtection/riskyUsers/{id}",
            get(crate::risk::risky_user).post(crate::risk::risky_users_action),
        )
        .route(
            "/{version}/identityProtection/riskyUsers/{id}/history",
            get(crate::risk::risky_user_history),
        )
        .route("/{version}/auditLogs/{resource}", get(crate::graph::list))
        .route(
            "/{version}/auditLogs/{resource}/{id}",
            get(crate::graph::get),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// An error answered in Graph's envelope: `{"error": {"code", "message", "innerError"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            message,
        )
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            message,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
        }
        response
    }
}

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        let unauthorized = ApiError::unauthorized;
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            // A download link from the console carries a single-use ticket instead.
            if let Some(ticket) = export_ticket(parts) {
                return state.tickets.redeem(ticket).map(Caller).ok_or_else(|| {
                    unauthorized("The download ticket was used already or has expired.")
                });
            }
            return Err(unauthorized("Access token is empty."));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| unauthorized("Expected a Bearer token."))?;
        if constant_time_eq(token.as_bytes(), state.local_admin.as_bytes()) {
            return Ok(Caller(Principal::LocalAdmin));
        }
        state
            .tokens
            .verify(token)
            .map(Caller)
            .ok_or_else(|| unauthorized("Access token is invalid or revoked."))
    }
}

/// The `ticket` of an export's query string (`GET /gatehouse/export/…?ticket=…`).
fn export_ticket(parts: &Parts) -> Option<&str> {
    if !parts.uri.path().starts_with("/gatehouse/export/") {
        return None;
    }
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("ticket="))
}

impl Caller {
    /// The tenant the caller sees (`None`: every tenant, for the local administrator).
    pub(crate) fn tenant(&self) -> Option<&str> {
        match &self.0 {
            Principal::Token { tenant, .. } => Some(tenant),
            Principal::LocalAdmin => None,
        }
    }

    /// The connectors (or streams out) the caller sees: those bound to its tenant (one bound to
    /// no tenant only for the local administrator), all for the local administrator.
    fn visible<'s, T>(
        &'s self,
        list: &'s [(Option<String>, Arc<T>)],
    ) -> impl Iterator<Item = &'s Arc<T>> + 's {
        list.iter()
            .filter(move |(tenant, _)| match (&self.0, tenant) {
                (Principal::LocalAdmin, _) => true,
                (Principal::Token { tenant: mine, .. }, Some(t)) => mine.eq_ignore_ascii_case(t),
                (Principal::Token { .. }, None) => false,
            })
            .map(|(_, status)| status)
    }

    /// The logs the caller may read.
    pub(crate) fn readable_logs(&self) -> Vec<LogKind> {
        match &self.0 {
            Principal::Token { role, .. } => LogKind::ALL
                .into_iter()
                .filter(|l| role.may_read(*l))
                .collect(),
            Principal::LocalAdmin => LogKind::ALL.to_vec(),
        }
    }

    fn require_admin(&self) -> Result<(), ApiError> {
        match self.0 {
            Principal::LocalAdmin => Ok(()),
            Principal::Token { .. } => Err(ApiError::forbidden(
                "Only the local administrator (a command on the server's machine) may do this.",
            )),
        }
    }
}

async fn not_found(_caller: Caller) -> ApiError {
    ApiError::not_found("No such resource.")
}

async fn healthz(State(state): Shared, caller: Caller) -> Response {
    let snapshot = state.ingestor.snapshot();
    let tables = snapshot
        .tables()
        .filter(|t| {
            caller
                .tenant()
                .is_none_or(|want| t.tenant.eq_ignore_ascii_case(want))
        })
        .count();
    if !state.ingestor.is_running() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The ingest pipeline has stopped (see the server's log); restart the server.",
        )
        .into_response();
    }
    use std::sync::atomic::Ordering::Relaxed;
    Json(json!({
        "status": "ok",
        "tables": tables,
        "generation": snapshot.generation(),
        "risk": {
            "enabled": state.config.risk.enabled,
            "signInsScored": state.risk.sign_ins.load(Relaxed),
            "detectionsStored": state.risk.detections.load(Relaxed),
            "scoredUpToGeneration": state.risk.generation.load(Relaxed),
        },
        "connectors": caller
            .visible(&state.connectors)
            .map(|s| s.to_json())
            .collect::<Vec<_>>(),
        "streams": caller
            .visible(&state.streams)
            .map(|s| s.to_json())
            .collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn metrics(State(state): Shared, caller: Caller) -> Response {
    let mut text = state.metrics.render(
        &state.ingestor.snapshot(),
        caller.tenant(),
        state.admission.load(),
    );
    let connectors: Vec<_> = caller.visible(&state.connectors).collect();
    if !connectors.is_empty() {
        text.push_str(
            "# HELP gatehouse_connector_records_total Records a connector stored; also _duplicates_total, _rejected_total, _batches_total, _errors_total, _sources (positions kept), _behind (bytes not read yet) and _lag_seconds (since it last had read everything).\n",
        );
        for status in connectors {
            status.render_metrics(&mut text);
        }
    }
    let streams: Vec<_> = caller.visible(&state.streams).collect();
    if !streams.is_empty() {
        text.push_str(
            "# HELP gatehouse_stream_records_total Records a stream out delivered; also _deliveries_total, _failures_total (attempts that failed), _gaps_total (commits or files gone before they were sent), _behind_commits and _lag_seconds (since it last had delivered everything).\n",
        );
        for status in streams {
            status.render_metrics(&mut text);
        }
    }
    if let Some(partials) = &state.partials {
        let (hits, misses) = partials.hits_and_misses();
        let bytes = partials.memory_bytes();
        text.push_str(&format!(
            "# HELP gatehouse_insights_days_total Whole days of the everyday questions answered from kept days, in memory or in files (hit), or grouped (miss).\n\
             # TYPE gatehouse_insights_days_total counter\n\
             gatehouse_insights_days_total{{result=\"hit\"}} {hits}\n\
             gatehouse_insights_days_total{{result=\"miss\"}} {misses}\n\
             # HELP gatehouse_insights_memory_bytes Memory the kept days hold (at most insights_cache_mb).\n\
             # TYPE gatehouse_insights_memory_bytes gauge\n\
             gatehouse_insights_memory_bytes {bytes}\n"
        ));
    }
    {
        use std::sync::atomic::Ordering::Relaxed;
        let risk = &state.risk;
        let watermark = risk.watermark.load(Relaxed);
        let lag = if watermark == 0 {
            0.0
        } else {
            (chrono::Utc::now().timestamp_micros() - watermark as i64).max(0) as f64 / 1e6
        };
        text.push_str(&format!(
            "# HELP gatehouse_risk_detections_total Detections the risk engine stored since the start.\n\
             # TYPE gatehouse_risk_detections_total counter\n\
             gatehouse_risk_detections_total {}\n\
             # HELP gatehouse_risk_sign_ins_total Sign-ins the risk engine looked at since the start.\n\
             # TYPE gatehouse_risk_sign_ins_total counter\n\
             gatehouse_risk_sign_ins_total {}\n\
             # HELP gatehouse_risk_lag_seconds Time since the newest sign-in the risk engine read was stored.\n\
             # TYPE gatehouse_risk_lag_seconds gauge\n\
             gatehouse_risk_lag_seconds {lag:.3}\n",
            risk.detections.load(Relaxed),
            risk.sign_ins.load(Relaxed),
        ));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Content types a push may have (absent is fine too): the readers detect the shape themselves.
const PUSH_TYPES: &[&str] = &[
    "application/json",
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-seq",
    "text/csv",
    "text/plain",
    "application/gzip",
    "application/x-gzip",
    "application/octet-stream",
    // What `curl --data-binary` sends unless told otherwise: the bytes are the body all the same.
    "application/x-www-form-urlencoded",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestParams {
    tenant: Option<String>,
    format: Option<String>,
    /// Names the source whose position this push brings along (with `position`).
    source: Option<String>,
    position: Option<i64>,
}

/// `POST /gatehouse/ingest`: one body of any shape the readers know.
async fn ingest(
    State(state): Shared,
    caller: Caller,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = match &caller.0 {
        Principal::Token { tenant, role, .. } => {
            if !role.may_ingest() {
                return Err(ApiError::forbidden(format!(
                    "A {role} token may not ingest; create an ingest token."
                )));
            }
            if let Some(asked) = &params.tenant {
                if !asked.eq_ignore_ascii_case(tenant) {
                    // Another tenant does not exist for this token.
                    return Err(ApiError::not_found(format!("No tenant {asked:?}.")));
                }
            }
            tenant.clone()
        }
        Principal::LocalAdmin => params
            .tenant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| ApiError::bad_request("Name the tenant with ?tenant=."))?,
    };
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default();
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !PUSH_TYPES.contains(&essence.as_str()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "Content-Type {ct:?} is not a log export: send one of {} (or none); gzip is detected from the bytes",
                    PUSH_TYPES.join(", ")
                ),
            ));
        }
    }
    let format = parse_format(params.format.as_deref())?;
    let position = match (&params.source, params.position) {
        (Some(name), Some(version)) => Some(SourcePosition {
            app_id: source_app_id(&tenant, name)?,
            version,
        }),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "?source= and ?position= go together.",
            ))
        }
    };
    let job = InputsJob {
        inputs: vec![InputFile::memory("body", body)],
        format,
        tenant: Some(tenant.clone()),
        exclusive: true,
        position,
    };
    let summary = run_job(&state, &tenant, job).await?;
    Ok(Json(summary_json(&summary)).into_response())
}

/// Queues a job and waits (off the async threads) for its rows to be committed.
async fn run_job(
    state: &Arc<AppState>,
    tenant: &str,
    job: InputsJob,
) -> Result<IngestSummary, ApiError> {
    let waiting = state.metrics.job_started();
    let receiver = {
        let state = Arc::clone(state);
        tokio::task::spawn_blocking(move || state.ingestor.submit_inputs(job))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let outcome: Outcome = tokio::task::spawn_blocking(move || receiver.recv())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|_| ApiError::internal("the ingest pipeline stopped"))?;
    let summary = outcome.map_err(|e| ApiError::internal(format!("ingest failed: {e}")))?;
    waiting.acknowledged();
    state.metrics.job_done(tenant, &summary);
    Ok(summary)
}

fn parse_format(format: Option<&str>) -> Result<Option<InputFormat>, ApiError> {
    format
        .map(|f| f.parse::<InputFormat>().map_err(ApiError::bad_request))
        .transpose()
}

/// A tenant's source name as the application id its positions are committed under.
fn source_app_id(tenant: &str, name: &str) -> Result<String, ApiError> {
    if name.is_empty()
        || name.len() > 200
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b))
    {
        return Err(ApiError::bad_request(
            "A source name is 1-200 letters, digits and - _ . : / @.",
        ));
    }
    Ok(format!("{tenant}/{name}"))
}

/// `GET /gatehouse/sources/{name}`: where a pusher's source got to (to resume after a restart).
async fn source_position(
    State(state): Shared,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = match &caller.0 {
        Principal::Token { tenant, role, .. } if role.may_ingest() => tenant.clone(),
        Principal::Token { role, .. } => {
            return Err(ApiError::forbidden(format!(
                "A {role} token has no sources."
            )))
        }
        Principal::LocalAdmin => {
            return Err(ApiError::bad_request("Sources belong to ingest tokens."))
        }
    };
    let app = source_app_id(&tenant, &name)?;
    let positions = state
        .store
        .positions()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "source": name,
        "position": positions.get(&app),
    })))
}

/// The JSON answer of an ingest: what `gatehouse ingest` prints, as data.
pub fn summary_json(s: &IngestSummary) -> Value {
    json!({
        "stored": s.total_stored(),
        "tables": s.stored.iter().map(|(l, n)| (l.table_name().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "signInTypes": s.signins_by_kind.iter().map(|(k, n)| (k.graph_name().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "duplicates": s.duplicates,
        "derivedIds": s.derived_ids,
        "inputs": s.inputs,
        "bytesRead": s.bytes_read,
        "rejected": s.rejected.iter().map(|r| json!({
            "file": r.origin.file.as_ref(),
            "line": r.origin.line,
            "code": r.code(),
            "reason": r.reason,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlBody {
    query: String,
}

/// How SQL results are written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ResultFormat {
    JsonLines,
    Csv,
    ArrowIpc,
}

const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

impl ResultFormat {
    fn from_accept(headers: &HeaderMap) -> Result<ResultFormat, ApiError> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Ok(ResultFormat::JsonLines);
        };
        for item in accept.split(',') {
            match item.split(';').next().unwrap_or_default().trim() {
                "application/x-ndjson" | "application/jsonl" | "application/json" | "*/*" => {
                    return Ok(ResultFormat::JsonLines)
                }
                "text/csv" => return Ok(ResultFormat::Csv),
                ARROW_STREAM => return Ok(ResultFormat::ArrowIpc),
                _ => {}
            }
        }
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            format!("Accept one of application/x-ndjson, text/csv, {ARROW_STREAM}."),
        ))
    }

    fn content_type(self) -> &'static str {
        match self {
            ResultFormat::JsonLines => "application/x-ndjson",
            ResultFormat::Csv => "text/csv; charset=utf-8",
            ResultFormat::ArrowIpc => ARROW_STREAM,
        }
    }
}

/// `POST /gatehouse/sql`: SQL (the body, or `{"query": …}`) over the caller's tenant, streamed.
async fn sql(
    State(state): Shared,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let logs = caller.readable_logs();
    if logs.is_empty() {
        return Err(ApiError::forbidden("This token's role may not read logs."));
    }
    let format = ResultFormat::from_accept(&headers)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let query = if is_json {
        serde_json::from_slice::<SqlBody>(&body)
            .map_err(|e| ApiError::bad_request(format!("The body is not {{\"query\": …}}: {e}")))?
            .query
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("The SQL is not UTF-8 text."))?
    };
    let mut turn = Some(state.admission.admit().await);
    let started = Instant::now();
    let engine = state
        .queries
        .engine_for(state.ingestor.snapshot(), caller.tenant(), &logs)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let stream = engine.sql_stream(&query).await.map_err(|e| {
        let message = e.to_string();
        // A table the role may not read is not registered for it: say why, not "not found".
        match LogKind::ALL
            .into_iter()
            .filter(|l| !logs.contains(l))
            .find(|l| message.contains(&format!("{}' not found", l.table_name())))
        {
            Some(log) => ApiError::forbidden(format!(
                "This token's role may not read {}.",
                log.table_name()
            )),
            None => ApiError::bad_request(message),
        }
    })?;
    let schema = stream.schema();
    let mut encoder = Encoder::new(format, schema);
    let metrics = Arc::clone(&state.metrics);
    let body = async_stream_body(stream, move |batch| match batch {
        Some(batch) => encoder.batch(&batch),
        None => {
            metrics.query_done(started.elapsed());
            // The query's turn lasts until its last row is encoded.
            drop(turn.take());
            encoder.finish()
        }
    });
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(body),
    )
        .into_response())
}

/// The result stream as bytes: `encode` is given each batch, then `None` at the end.
fn async_stream_body(
    stream: datafusion_stream::Stream,
    mut encode: impl FnMut(Option<arrow::record_batch::RecordBatch>) -> Result<Vec<u8>, String>
        + Send
        + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let batches = stream
        .map(Some)
        .chain(futures_util::stream::once(async { None }));
    batches.map(move |item| {
        let encoded = match item {
            Some(Ok(batch)) => encode(Some(batch)),
            Some(Err(e)) => Err(e.to_string()),
            None => encode(None),
        };
        encoded.map(Bytes::from).map_err(|e| {
            tracing::warn!(error = %e, "a query failed while its result was streamed");
            std::io::Error::other(e)
        })
    })
}

mod datafusion_stream {
    /// The record batch stream a query returns.
    pub type Stream = gatehouse_query::RecordBatchStream;
}

/// Writes batches in one of the result formats.
struct Encoder {
    format: ResultFormat,
    schema: arrow::datatypes::SchemaRef,
    ipc: Option<arrow::ipc::writer::StreamWriter<Vec<u8>>>,
    header_written: bool,
}

impl Encoder {
    fn new(format: ResultFormat, schema: arrow::datatypes::SchemaRef) -> Encoder {
        Encoder {
            format,
            schema,
            ipc: None,
            header_written: false,
        }
    }

    fn batch(&mut self, batch: &arrow::record_batch::RecordBatch) -> Result<Vec<u8>, String> {
        match self.format {
            ResultFormat::JsonLines => {
                let mut out = Vec::new();
                for row in gatehouse_export::batch_to_json_rows(batch) {
                    serde_json::to_writer(&mut out, &Value::Object(row))
                        .map_err(|e| e.to_string())?;
                    out.push(b'\n');
                }
                Ok(out)
            }
            ResultFormat::Csv => self.csv(Some(batch)),
            ResultFormat::ArrowIpc => {
                let writer = match &mut self.ipc {
                    Some(w) => w,
                    None => self.ipc.insert(
                        arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &self.schema)
                            .map_err(|e| e.to_string())?,
                    ),
                };
                writer.write(batch).map_err(|e| e.to_string())?;
                Ok(std::mem::take(writer.get_mut()))
            }
        }
    }

    /// CSV of a batch's rows (none at the end), after the header if it is not written yet.
    fn csv(&mut self, batch: Option<&arrow::record_batch::RecordBatch>) -> Result<Vec<u8>, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let names: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        if !self.header_written {
            w.write_record(&names).map_err(|e| e.to_string())?;
            self.header_written = true;
        }
        for row in batch
            .map(gatehouse_export::batch_to_json_rows)
            .unwrap_or_default()
        {
            let cells: Vec<String> = names
                .iter()
                .map(|n| gatehouse_export::cell_text(row.get(*n)))
                .collect();
            w.write_record(&cells).map_err(|e| e.to_string())?;
        }
        w.into_inner().map_err(|e| e.to_string())
    }

    fn finish(&mut self) -> Result<Vec<u8>, String> {
        match self.format {
            ResultFormat::JsonLines => Ok(Vec::new()),
            ResultFormat::Csv => self.csv(None),
            ResultFormat::ArrowIpc => {
                let mut writer = match self.ipc.take() {
                    Some(w) => w,
                    None => arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &self.schema)
                        .map_err(|e| e.to_string())?,
                };
                writer.finish().map_err(|e| e.to_string())?;
                writer.into_inner().map_err(|e| e.to_string())
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminIngest {
    paths: Vec<String>,
    tenant: Option<String>,
    format: Option<String>,
}

/// `POST /gatehouse/admin/ingest`: `gatehouse ingest` forwarded to the running server, which reads
/// the files itself (they are on its machine).
async fn admin_ingest(
    State(state): Shared,
    caller: Caller,
    Json(request): Json<AdminIngest>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let inputs = expand_paths(&request.paths).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if inputs.iter().any(|i| i.path.is_none()) {
        return Err(ApiError::bad_request(
            "Standard input cannot be forwarded to the server; give files.",
        ));
    }
    let format = parse_format(request.format.as_deref())?;
    let tenant = request.tenant.clone().map(|t| t.to_ascii_lowercase());
    let job = InputsJob {
        inputs,
        format,
        tenant: tenant.clone(),
        exclusive: false,
        position: None,
    };
    let summary = run_job(&state, tenant.as_deref().unwrap_or("*"), job).await?;
    Ok(Json(summary_json(&summary)))
}

/// Runs maintenance on the ingestor's thread and answers with its report.
async fn admin_task<T: Send + 'static>(
    state: &Arc<AppState>,
    make: impl FnOnce(Box<dyn FnOnce(gatehouse_ingest::Result<T>) + Send>) -> Maintenance,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = make(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    state
        .ingestor
        .maintain(task)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    rx.await
        .map_err(|_| ApiError::internal("the ingest pipeline stopped"))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn admin_compact(State(state): Shared, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let r = admin_task(&state, Maintenance::Compact).await?;
    Ok(Json(json!({
        "partitions": r.partitions,
        "filesBefore": r.files_before,
        "filesAfter": r.files_after,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminRetention {
    days: u32,
    log: Option<String>,
}

async fn admin_retention(
    State(state): Shared,
    caller: Caller,
    Json(request): Json<AdminRetention>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let logs = match &request.log {
        Some(l) => vec![l.parse::<LogKind>().map_err(ApiError::bad_request)?],
        None => LogKind::ALL.to_vec(),
    };
    let cutoff = crate::retention_cutoff(request.days);
    let cutoff_ns = cutoff.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let r = admin_task(&state, |done| Maintenance::Retention {
        logs,
        cutoff_ns,
        done,
    })
    .await?;
    Ok(Json(json!({
        "rowsDeleted": r.rows_deleted,
        "filesAffected": r.files_affected,
        "daysRemoved": r.days_removed,
        "cutoff": cutoff.format("%Y-%m-%d").to_string(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AdminVacuum {
    older_than_seconds: Option<u64>,
}

async fn admin_vacuum(
    State(state): Shared,
    caller: Caller,
    Json(request): Json<AdminVacuum>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let seconds = request
        .older_than_seconds
        .unwrap_or(state.config.maintenance.vacuum_grace_hours * 3600);
    let grace = std::time::Duration::from_secs(seconds);
    let deleted = admin_task(&state, |done| Maintenance::Vacuum { grace, done }).await?;
    Ok(Json(json!({ "deleted": deleted })))
}
