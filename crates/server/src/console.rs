//! The web console's routes: its files (public: they hold no data), the one-time login link's
//! exchange for a session token, who the caller is, and export tickets for downloads.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Principal, TICKET_LIFETIME};
use crate::routes::{ApiError, Caller};
use crate::AppState;

/// `GET /`: the console's page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    file("index.html", &headers)
}

/// `GET /console/{name}`: the console's script, styles and icon.
pub(crate) async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    file(&name, &headers)
}

fn file(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = gatehouse_console::asset(name) else {
        return ApiError::not_found(format!("No console file {name:?}.")).into_response();
    };
    let etag = asset.etag();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidated on every load: a new binary serves its own console at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(gatehouse_console::CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The body of `POST /gatehouse/console/login`.
#[derive(Deserialize)]
pub(crate) struct LoginRequest {
    code: String,
}

/// `POST /gatehouse/console/login` `{"code": …}`: a login link's code, exchanged once for a
/// session token (`{"token", "tenant", "role", "expires"}`); 401 for an unknown, used or
/// expired code.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<Value>, ApiError> {
    if request.code.len() > 256 {
        return Err(ApiError::unauthorized("This login link is not valid."));
    }
    let redeemed = tokio::task::spawn_blocking({
        let state = state.clone();
        move || state.tokens.redeem_login_code(&request.code)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let (token, record) = redeemed.ok_or_else(|| {
        ApiError::unauthorized(
            "This login link was used already or has expired: make a new one \
             (gatehouse token login-link), or sign in with a token.",
        )
    })?;
    tracing::info!(tenant = %record.tenant, role = %record.role, id = %record.id, "console session started from a login link");
    Ok(Json(json!({
        "token": token,
        "tenant": record.tenant,
        "role": record.role.name(),
        "expires": record.expires,
    })))
}

/// `GET /gatehouse/me`: who the token is (tenant, role, the logs it may read).
pub(crate) async fn me(caller: Caller) -> Json<Value> {
    let logs: Vec<&str> = caller
        .readable_logs()
        .into_iter()
        .map(|l| l.table_name())
        .collect();
    Json(match &caller.0 {
        Principal::Token { id, tenant, role } => json!({
            "tokenId": id,
            "tenant": tenant,
            "role": role.name(),
            "logs": logs,
            "maySetRisk": *role == crate::auth::Role::SecurityAdmin,
        }),
        Principal::LocalAdmin => json!({
            "tokenId": null,
            "tenant": null,
            "role": "local-admin",
            "logs": logs,
            "maySetRisk": false,
        }),
    })
}

/// `POST /gatehouse/console/logout`: ends the caller's console session (its token, when a login
/// link made it, is revoked at once; other tokens are untouched). 204.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    if let Principal::Token { id, .. } = &caller.0 {
        let id = id.clone();
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.tokens.end_session(&id))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /gatehouse/export-tickets`: a single-use ticket, good for a minute, that stands for
/// the caller in one `GET /gatehouse/export/…?ticket=…` (a link a browser downloads from).
pub(crate) async fn export_ticket(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let ticket = state
        .tickets
        .issue(caller.0)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "ticket": ticket,
        "expiresInSeconds": TICKET_LIFETIME.as_secs(),
    })))
}
