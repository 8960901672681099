//! `GET /gatehouse/insights/{question}`: the everyday questions as JSON (the reports of
//! `gatehouse ask … --json`), over the token's tenant.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use gatehouse_insights::{Filters, Period, Question};
use gatehouse_model::{LogKind, SignInKind};
use serde_json::Value;

use crate::routes::{ApiError, Caller};
use crate::AppState;

/// Answers one question. Query options: `since` (`24h`, `7d`) or `from` / `to` (a day or an
/// RFC 3339 time), `app`, `user`, `type` (comma-separated sign-in types), `top`, `versions`
/// (`true` keeps browser and OS versions). An unknown option is an error, not ignored.
pub(crate) async fn question(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    crate::insights::require_sign_ins(&caller)?;
    let question = Question::from_name(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "No question {name:?}: ask applications, failures, clients or workloads."
        ))
    })?;
    let pairs = crate::graph::decode_query(query.as_deref().unwrap_or(""))?;
    let option = |key: &str| -> Result<Option<String>, ApiError> {
        let mut values = pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(format!("`{key}` is given twice.")));
        }
        Ok(first)
    };
    let (since, from, to) = (option("since")?, option("from")?, option("to")?);
    let (app, user, kinds) = (option("app")?, option("user")?, option("type")?);
    let (top, versions) = (option("top")?, option("versions")?);
    const KNOWN: [&str; 8] = [
        "since", "from", "to", "app", "user", "type", "top", "versions",
    ];
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Unknown option `{k}`: use {}.",
            KNOWN.join(", ")
        )));
    }
    let period = Period::resolve(
        since.as_deref(),
        from.as_deref(),
        to.as_deref(),
        question.default_span(),
        chrono::Utc::now(),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let kinds = kinds
        .iter()
        .flat_map(|k| k.split(','))
        .filter(|k| !k.trim().is_empty())
        .map(|k| {
            SignInKind::from_exact_graph_name(k.trim()).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Unknown sign-in type {k:?}: use interactiveUser, nonInteractiveUser, \
                     servicePrincipal or managedIdentity."
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let top = top
        .map(|t| {
            t.parse::<usize>()
                .ok()
                .filter(|t| (1..=10_000).contains(t))
                .ok_or_else(|| ApiError::bad_request("`top` must be a number from 1 to 10000."))
        })
        .transpose()?;
    let versions = match versions.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("`versions` must be true or false.")),
    };
    let filters = Filters {
        app,
        user,
        kinds,
        top,
    };

    let _turn = state.admission.admit().await;
    let started = Instant::now();
    let engine = crate::insights::engine(&state, &caller, &[LogKind::SignIns])?;
    use gatehouse_insights as i;
    let failed = |e: gatehouse_insights::InsightsError| ApiError::internal(e.to_string());
    let src = i::Source {
        engine: &engine,
        tenant: caller.tenant(),
        partials: state.partials.as_ref(),
    };
    let report = match question {
        Question::Applications => to_json(i::applications(&src, period, &filters).await),
        Question::Failures => to_json(i::failures(&src, period, &filters).await),
        Question::Clients => to_json(i::clients(&src, period, &filters, versions).await),
        Question::Workloads => to_json(i::workloads(&src, period, &filters).await),
    }
    .map_err(failed)?;
    state.metrics.query_done(started.elapsed());
    Ok(Json(report))
}

fn to_json<T: serde::Serialize>(
    r: gatehouse_insights::Result<T>,
) -> gatehouse_insights::Result<Value> {
    // Serialising plain structs of strings and numbers cannot fail.
    r.map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
}

/// `GET /gatehouse/signIns/{id}/explain`: who, how, what and why of one sign-in of the token's
/// tenant (the most complete version where several share the id), 404 when it has none.
pub(crate) async fn explain(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::insights::require_sign_ins(&caller)?;
    let _turn = state.admission.admit().await;
    let engine = crate::insights::engine(&state, &caller, &[LogKind::SignIns])?;
    let record = engine
        .lookup(LogKind::SignIns, &id)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("No sign-in has the id '{id}'.")))?;
    let explanation = gatehouse_insights::explain(&record);
    Ok(Json(
        serde_json::to_value(explanation).unwrap_or(Value::Null),
    ))
}

/// Refuses a caller whose role may not read sign-ins (403).
pub(crate) fn require_sign_ins(caller: &Caller) -> Result<(), ApiError> {
    if caller.readable_logs().contains(&LogKind::SignIns) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "This token's role may not read sign-ins.",
        ))
    }
}

/// An engine over the current snapshot with the tables of `logs`, seeing the caller's tenant.
pub(crate) fn engine(
    state: &AppState,
    caller: &Caller,
    logs: &[LogKind],
) -> Result<gatehouse_query::QueryEngine, ApiError> {
    state
        .queries
        .engine_for(state.ingestor.snapshot(), caller.tenant(), logs)
        .map_err(|e| ApiError::internal(e.to_string()))
}
