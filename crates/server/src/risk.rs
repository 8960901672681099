//! The risk engine inside `gatehouse serve`, and Identity Protection's endpoints.
//!
//! A thread of its own ([`run`]) polls the store every `[risk] every_seconds`: for each tenant a
//! [`RiskScanner`] reads the sign-ins stored since its last poll, and the detections it finds,
//! with the risky-user changes they cause, go into the store through the ingestor (the one
//! writer) as `riskDetection` and `riskyUser` records. [`RiskHub`] keeps, per tenant, each
//! user's current risk and the risk of each sign-in that triggered a detection: handlers join
//! them into what they answer (sign-ins' `riskLevelDuringSignIn`, `riskEventTypes_v2`, …;
//! detections' `riskState` after an admin's verdict), so the stored logs never change.
//!
//! | endpoint | who | what |
//! |---|---|---|
//! | `GET /{v}/identityProtection/riskDetections` | security roles | users' detections (OData, paging) |
//! | `GET /{v}/identityProtection/servicePrincipalRiskDetections` | security roles | workload identities' detections |
//! | `GET /{v}/identityProtection/riskyUsers[/{id}[/history]]` | security roles | users' risk now, and its history |
//! | `POST /{v}/identityProtection/riskyUsers/{dismiss,confirmCompromised}` | `security-admin` | admin verdicts, audited |

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_formats::input::InputFile;
use gatehouse_graph::GraphResource;
use gatehouse_ingest::InputsJob;
use gatehouse_model::LogKind;
use gatehouse_odata::{CompareOp, ExprKind, Literal};
use gatehouse_risk::{
    admin_audit_records, graph_time, records_jsonl, stored_detections, AdminAction, Detection,
    IpList, RiskConfig, RiskEngine, RiskLevel, RiskScanner, RiskyUsers, Subject,
};
use serde_json::{json, Map, Value};

use crate::auth::{Principal, Role};
use crate::routes::{ApiError, Caller};
use crate::AppState;

/// The risk of one sign-in, from the detections it triggered.
#[derive(Debug, Clone)]
struct SignInRisk {
    level: RiskLevel,
    types: BTreeSet<String>,
    user_id: String,
    detected: i64,
}

/// One tenant's risk state as handlers see it.
#[derive(Debug, Default)]
struct TenantRisk {
    users: RiskyUsers,
    sign_ins: HashMap<String, SignInRisk>,
}

/// Every tenant's risky users and risky sign-ins, shared by the engine's thread and the handlers.
#[derive(Debug)]
pub(crate) struct RiskHub {
    tenants: Mutex<HashMap<String, TenantRisk>>,
    /// Detections stored since the start.
    pub(crate) detections: AtomicU64,
    /// Sign-ins the engine looked at since the start.
    pub(crate) sign_ins: AtomicU64,
    /// The newest `_ingestedAt` the engine has read (µs), 0 before the first poll.
    pub(crate) watermark: AtomicU64,
    /// The store generation every sign-in of which the engine has scored (-1 before its first
    /// round).
    pub(crate) generation: std::sync::atomic::AtomicI64,
}

impl Default for RiskHub {
    fn default() -> Self {
        RiskHub {
            tenants: Mutex::default(),
            detections: AtomicU64::new(0),
            sign_ins: AtomicU64::new(0),
            watermark: AtomicU64::new(0),
            generation: std::sync::atomic::AtomicI64::new(-1),
        }
    }
}

impl RiskHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TenantRisk>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn loaded(&self, tenant: &str) -> bool {
        self.lock().contains_key(tenant)
    }

    /// Reads a tenant's state from the store unless it is already held.
    pub(crate) async fn ensure(&self, state: &AppState, tenant: &str) -> Result<(), ApiError> {
        if self.loaded(tenant) {
            return Ok(());
        }
        let snapshot = state.ingestor.snapshot();
        let users = RiskyUsers::load(&state.queries, &snapshot, tenant)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let stored = stored_detections(&state.queries, &snapshot, tenant)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut t = TenantRisk {
            users,
            sign_ins: HashMap::new(),
        };
        for d in stored {
            note_sign_in(
                &mut t.sign_ins,
                &d.request_id,
                RiskLevel::from_name(&d.level),
                &d.event_type,
                &d.user_id,
                d.detected,
            );
        }
        self.lock().entry(tenant.to_string()).or_insert(t);
        Ok(())
    }

    /// Joins the current risk into a page of records: sign-ins get the risk of the detections
    /// they triggered; detections get the state an admin's verdict gave their user since.
    pub(crate) fn overlay(&self, tenant: &str, resource: GraphResource, records: &mut [String]) {
        let tenants = self.lock();
        let Some(t) = tenants.get(tenant) else {
            return;
        };
        for record in records.iter_mut() {
            let touched = match resource {
                GraphResource::SignIns => {
                    if t.sign_ins.is_empty()
                        || !record_id(record).is_some_and(|id| t.sign_ins.contains_key(id))
                    {
                        continue;
                    }
                    serde_json::from_str::<Map<String, Value>>(record)
                        .ok()
                        .map(|mut m| {
                            overlay_sign_in(t, &mut m);
                            m
                        })
                }
                GraphResource::RiskDetections => serde_json::from_str::<Map<String, Value>>(record)
                    .ok()
                    .map(|mut m| {
                        overlay_detection(t, &mut m);
                        m
                    }),
                _ => None,
            };
            if let Some(m) = touched {
                *record = Value::Object(m).to_string();
            }
        }
    }

    /// Every flagged sign-in of a tenant with its risk now, for `$filter`s on risk properties.
    pub(crate) fn sign_in_overlay(&self, tenant: &str) -> gatehouse_graph::SignInRiskOverlay {
        let tenants = self.lock();
        let Some(t) = tenants.get(tenant) else {
            return Default::default();
        };
        gatehouse_graph::SignInRiskOverlay {
            sign_ins: t
                .sign_ins
                .iter()
                .map(|(id, r)| {
                    let (state, detail) = current_state(t, r);
                    gatehouse_graph::SignInRisk {
                        id: id.clone(),
                        level: r.level.name(),
                        types: r.types.iter().cloned().collect(),
                        state,
                        detail,
                    }
                })
                .collect(),
        }
    }

    /// [`RiskHub::overlay`] for one record.
    pub(crate) fn overlay_record(
        &self,
        tenant: &str,
        resource: GraphResource,
        record: &mut Map<String, Value>,
    ) {
        let tenants = self.lock();
        let Some(t) = tenants.get(tenant) else {
            return;
        };
        match resource {
            GraphResource::SignIns => overlay_sign_in(t, record),
            GraphResource::RiskDetections => overlay_detection(t, record),
            _ => {}
        }
    }
}

/// The `id` of a record written by the Graph writer (it comes first), without parsing it.
fn record_id(record: &str) -> Option<&str> {
    let rest = record.strip_prefix("{\"id\":\"")?;
    rest.split('"').next()
}

fn note_sign_in(
    map: &mut HashMap<String, SignInRisk>,
    request_id: &str,
    level: RiskLevel,
    event_type: &str,
    user_id: &str,
    detected: i64,
) {
    if request_id.is_empty() {
        return;
    }
    let e = map.entry(request_id.to_string()).or_insert(SignInRisk {
        level,
        types: BTreeSet::new(),
        user_id: user_id.to_string(),
        detected,
    });
    e.level = e.level.max(level);
    e.types.insert(event_type.to_string());
}

fn level_of(v: Option<&Value>) -> RiskLevel {
    v.and_then(Value::as_str)
        .map_or(RiskLevel::None, RiskLevel::from_name)
}

fn overlay_sign_in(t: &TenantRisk, m: &mut Map<String, Value>) {
    let Some(id) = m.get("id").and_then(Value::as_str) else {
        return;
    };
    let Some(r) = t.sign_ins.get(id) else {
        return;
    };
    let r = r.clone();
    for key in ["riskLevelDuringSignIn", "riskLevelAggregated"] {
        let level = level_of(m.get(key)).max(r.level);
        m.insert(key.into(), json!(level.name()));
    }
    let mut types: BTreeSet<String> = m
        .get("riskEventTypes_v2")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    types.extend(r.types.iter().cloned());
    m.insert("riskEventTypes_v2".into(), json!(types));
    let (state, detail) = current_state(t, &r);
    m.insert("riskState".into(), json!(state));
    m.insert("riskDetail".into(), json!(detail));
}

/// A flagged sign-in's `riskState` and `riskDetail` now: its user's verdict when an admin gave
/// one after the detection, else at risk.
fn current_state(t: &TenantRisk, r: &SignInRisk) -> (String, String) {
    match t.users.get(&r.user_id) {
        Some(u) if u.state != "atRisk" && u.updated >= r.detected => {
            (u.state.clone(), u.detail.clone())
        }
        _ => ("atRisk".to_string(), "none".to_string()),
    }
}

fn overlay_detection(t: &TenantRisk, m: &mut Map<String, Value>) {
    let Some(user) = m.get("userId").and_then(Value::as_str) else {
        return;
    };
    let Some(u) = t.users.get(user) else { return };
    if u.state == "atRisk" {
        return;
    }
    let detected = m
        .get("detectedDateTime")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or(i64::MAX, |t| t.timestamp_micros());
    if u.updated >= detected {
        m.insert("riskState".into(), json!(u.state));
        m.insert("riskDetail".into(), json!(u.detail));
        m.insert("lastUpdatedDateTime".into(), json!(graph_time(u.updated)));
    }
}

/// Submits records through the ingestor and waits until they are committed.
async fn store_records(state: &Arc<AppState>, tenant: &str, bytes: Vec<u8>) -> Result<(), String> {
    let rx = state
        .ingestor
        .submit_inputs(InputsJob {
            inputs: vec![InputFile::memory("risk engine", bytes)],
            tenant: Some(tenant.to_string()),
            exclusive: true,
            ..InputsJob::default()
        })
        .map_err(|e| e.to_string())?;
    let outcome = tokio::task::spawn_blocking(move || rx.recv())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the ingest pipeline stopped".to_string())?;
    let summary = outcome?;
    match summary.rejected.first() {
        Some(r) => Err(format!(
            "{} risk records rejected: {r:?}",
            summary.rejected.len()
        )),
        None => Ok(()),
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The engine's loop: runs on a thread of its own (its work is CPU-bound) until `stop`.
pub(crate) fn run(state: Arc<AppState>, stop: Arc<AtomicBool>) {
    let every = Duration::from_millis(state.config.risk.every_ms.max(100));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the risk engine could not start");
            return;
        }
    };
    let data = state.store.root().to_path_buf();
    let mut scanners: HashMap<String, RiskScanner> = HashMap::new();
    let mut lists_stamp = None;
    let mut lists = IpList::default();
    let mut done_up_to = None;
    let mut retry_at: HashMap<String, std::time::Instant> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(every);
        // The anonymiser list, again when its file changed.
        let stamp = std::fs::metadata(data.join(gatehouse_risk::ANONYMIZERS_FILE))
            .and_then(|m| m.modified())
            .ok();
        if stamp != lists_stamp {
            match IpList::load_anonymizers(&data) {
                Ok(l) => {
                    lists = l;
                    lists_stamp = stamp;
                    for s in scanners.values_mut() {
                        s.engine_mut().set_anonymizers(lists.clone());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the anonymiser list"),
            }
        }
        let snapshot = state.ingestor.snapshot();
        if done_up_to == Some(snapshot.generation()) {
            continue;
        }
        let mut ok = true;
        for tenant in snapshot.tenants() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if retry_at
                .get(&tenant)
                .is_some_and(|at| std::time::Instant::now() < *at)
            {
                ok = false;
                continue;
            }
            let scanner = scanners.entry(tenant.clone()).or_insert_with(|| {
                RiskScanner::new(
                    RiskEngine::new(&tenant, RiskConfig::default(), lists.clone()),
                    &data,
                )
            });
            let round = runtime.block_on(async {
                state
                    .risk
                    .ensure(&state, &tenant)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                let found = scanner
                    .poll(&state.queries, &snapshot, |n| {
                        state.risk.sign_ins.fetch_add(n, Ordering::Relaxed);
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(w) = scanner.watermark() {
                    state
                        .risk
                        .watermark
                        .store(w.max(0) as u64, Ordering::Relaxed);
                }
                if found.is_empty() {
                    return Ok(());
                }
                let now = now_us();
                let rows = apply(&state, &tenant, &found, now);
                let bytes = records_jsonl(&tenant, &found, &rows, now);
                store_records(&state, &tenant, bytes).await?;
                state
                    .risk
                    .detections
                    .fetch_add(found.len() as u64, Ordering::Relaxed);
                tracing::info!(
                    tenant,
                    detections = found.len(),
                    users = rows.len(),
                    "risk detections stored"
                );
                Ok::<(), String>(())
            });
            if let Err(e) = round {
                ok = false;
                tracing::warn!(tenant, error = %e, "the risk engine's round failed; it tries again in 30 s");
                // A scanner whose round failed half-way starts over (its detections are skipped
                // by id when they are stored already), after a pause: a failure that persists
                // (a damaged file) must not have it reread the tenant every second.
                scanners.remove(&tenant);
                retry_at.insert(
                    tenant.clone(),
                    std::time::Instant::now() + Duration::from_secs(30),
                );
            }
        }
        if ok {
            done_up_to = Some(snapshot.generation());
            state
                .risk
                .generation
                .store(snapshot.generation(), Ordering::Relaxed);
        }
    }
}

/// Applies new detections to the shared state; returns the risky-user rows to store.
fn apply(state: &AppState, tenant: &str, found: &[Detection], now: i64) -> Vec<Value> {
    let mut tenants = state.risk.lock();
    let t = tenants.entry(tenant.to_string()).or_default();
    for d in found {
        let user = match &d.subject {
            Subject::User { id, .. } => id.as_str(),
            Subject::ServicePrincipal { .. } => "",
        };
        note_sign_in(
            &mut t.sign_ins,
            &d.request_id,
            d.level,
            d.event_type.name(),
            user,
            now,
        );
    }
    t.users.on_detections(found, now)
}

fn security_tenant(caller: &Caller, admin: bool) -> Result<String, ApiError> {
    match &caller.0 {
        Principal::Token { tenant, role, .. } => {
            let allowed = if admin {
                *role == Role::SecurityAdmin
            } else {
                role.may_read(LogKind::RiskyUsers)
            };
            if allowed {
                Ok(tenant.clone())
            } else if admin {
                Err(ApiError::forbidden(format!(
                    "A {role} token may not change users' risk: that takes security-admin."
                )))
            } else {
                Err(ApiError::forbidden(format!(
                    "A {role} token may not read Identity Protection's data."
                )))
            }
        }
        Principal::LocalAdmin => Err(ApiError::forbidden(
            "Identity Protection's endpoints answer a tenant's token.",
        )),
    }
}

fn risky_user_json(id: &str, u: &gatehouse_risk::UserRisk) -> Value {
    json!({
        "id": id,
        "isDeleted": false,
        "isProcessing": false,
        "riskLastUpdatedDateTime": graph_time(u.updated),
        "riskLevel": u.level.name(),
        "riskState": u.state,
        "riskDetail": u.detail,
        "userDisplayName": u.display,
        "userPrincipalName": u.upn,
    })
}

/// Evaluates a `$filter` over a risky user's properties: comparisons, `in`, `and`, `or`, `not`
/// and `startswith` / `endswith` / `contains` on `id`, `riskLevel`, `riskState`, `riskDetail`,
/// `userPrincipalName`, `userDisplayName` and `riskLastUpdatedDateTime`.
fn matches(e: &gatehouse_odata::Expr, user: &Value) -> Result<bool, ApiError> {
    let text = |e: &gatehouse_odata::Expr| -> Result<Option<String>, ApiError> {
        match &e.kind {
            ExprKind::Path(p) if p.segments.len() == 1 => {
                let name = p.segments[0].as_str();
                match user.get(name) {
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                    _ => Err(ApiError::bad_request(format!(
                        "riskyUsers cannot be filtered on {name:?}"
                    ))),
                }
            }
            ExprKind::Literal(Literal::String(s)) => Ok(Some(s.clone())),
            ExprKind::Literal(Literal::Bool(b)) => Ok(Some(b.to_string())),
            ExprKind::Literal(Literal::DateTimeOffset { text, .. }) => Ok(Some(text.clone())),
            ExprKind::Literal(Literal::Guid(g)) => Ok(Some(g.clone())),
            ExprKind::Literal(Literal::Null) => Ok(None),
            _ => Err(ApiError::bad_request(
                "riskyUsers $filter compares properties with strings",
            )),
        }
    };
    Ok(match &e.kind {
        ExprKind::And(terms) => {
            for t in terms {
                if !matches(t, user)? {
                    return Ok(false);
                }
            }
            true
        }
        ExprKind::Or(terms) => {
            for t in terms {
                if matches(t, user)? {
                    return Ok(true);
                }
            }
            false
        }
        ExprKind::Not(inner) => !matches(inner, user)?,
        ExprKind::Compare { op, left, right } => {
            let (a, b) = (text(left)?, text(right)?);
            let ord = a
                .as_deref()
                .map(str::to_ascii_lowercase)
                .cmp(&b.as_deref().map(str::to_ascii_lowercase));
            match op {
                CompareOp::Eq => ord.is_eq(),
                CompareOp::Ne => ord.is_ne(),
                CompareOp::Gt => ord.is_gt(),
                CompareOp::Ge => ord.is_ge(),
                CompareOp::Lt => ord.is_lt(),
                CompareOp::Le => ord.is_le(),
            }
        }
        ExprKind::In { operand, values } => {
            let a = text(operand)?.unwrap_or_default().to_ascii_lowercase();
            values.iter().any(|(v, _)| match v {
                Literal::String(s) => s.to_ascii_lowercase() == a,
                _ => false,
            })
        }
        ExprKind::Call { func, args } if args.len() == 2 => {
            let a = text(&args[0])?.unwrap_or_default().to_ascii_lowercase();
            let b = text(&args[1])?.unwrap_or_default().to_ascii_lowercase();
            match func {
                gatehouse_odata::Function::StartsWith => a.starts_with(&b),
                gatehouse_odata::Function::EndsWith => a.ends_with(&b),
                gatehouse_odata::Function::Contains => a.contains(&b),
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "riskyUsers $filter takes eq, ne, gt, ge, lt, le, in, and, or, not, startswith, endswith and contains",
            ))
        }
    })
}

/// `GET /{v}/identityProtection/riskyUsers`: every user with a risk state, highest risk first.
pub(crate) async fn risky_users(
    state: Arc<AppState>,
    caller: Caller,
    version: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    check_version(version)?;
    let tenant = security_tenant(&caller, false)?;
    let pairs = crate::graph::decode_query(query.unwrap_or(""))?;
    let options =
        gatehouse_odata::QueryOptions::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    state.risk.ensure(&state, &tenant).await?;
    let mut users: Vec<Value> = {
        let tenants = state.risk.lock();
        let Some(t) = tenants.get(&tenant) else {
            return Err(ApiError::internal("the tenant's risk state is not loaded"));
        };
        let mut list: Vec<_> = t.users.iter().collect();
        list.sort_by(|a, b| {
            b.1.level
                .cmp(&a.1.level)
                .then(b.1.updated.cmp(&a.1.updated))
                .then(a.0.cmp(b.0))
        });
        list.into_iter()
            .map(|(id, u)| risky_user_json(id, u))
            .collect()
    };
    if let Some(f) = &options.filter {
        let mut kept = Vec::with_capacity(users.len());
        for u in users {
            if matches(&f.expr, &u)? {
                kept.push(u);
            }
        }
        users = kept;
    }
    let count = users.len();
    let skip: usize = options
        .skiptoken
        .as_deref()
        .map(|s| {
            s.parse()
                .map_err(|_| ApiError::bad_request("The $skiptoken is not one this server gave."))
        })
        .transpose()?
        .unwrap_or(0);
    let top = options
        .top
        .map_or(gatehouse_graph::DEFAULT_TOP, |t| t.clamp(1, 1000) as usize);
    let page: Vec<Value> = users.into_iter().skip(skip).take(top).collect();
    let base = crate::graph::base_url(headers);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{base}/{version}/$metadata#identityProtection/riskyUsers"
        )),
    );
    if options.count == Some(true) {
        body.insert("@odata.count".into(), json!(count));
    }
    if skip + page.len() < count {
        let mut params: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .collect();
        params.push(("$skiptoken".into(), (skip + page.len()).to_string()));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!(
                "{base}/{version}/identityProtection/riskyUsers?{}",
                crate::graph::encode_query(&params)
            )),
        );
    }
    body.insert("value".into(), Value::Array(page));
    Ok(Json(Value::Object(body)).into_response())
}

/// No such API version: 404, as for any unknown path.
fn check_version(version: &str) -> Result<(), ApiError> {
    match gatehouse_graph::ApiVersion::from_segment(version) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("No API version {version:?}."))),
    }
}

/// `GET /{v}/identityProtection/riskyUsers/{id}`: one user's risk now.
pub(crate) async fn risky_user(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_version(&version)?;
    let tenant = security_tenant(&caller, false)?;
    state.risk.ensure(&state, &tenant).await?;
    let tenants = state.risk.lock();
    let user = tenants
        .get(&tenant)
        .and_then(|t| t.users.get(&id))
        .map(|u| risky_user_json(&id, u))
        .ok_or_else(|| ApiError::not_found(format!("No risky user {id:?}.")))?;
    drop(tenants);
    let base = crate::graph::base_url(&headers);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{base}/{version}/$metadata#identityProtection/riskyUsers/$entity"
        )),
    );
    if let Value::Object(m) = user {
        body.extend(m);
    }
    Ok(Json(Value::Object(body)).into_response())
}

/// `GET /{v}/identityProtection/riskyUsers/{id}/history`: every change of the user's risk,
/// newest first (Graph `riskyUserHistoryItem`).
pub(crate) async fn risky_user_history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_version(&version)?;
    let tenant = security_tenant(&caller, false)?;
    let snapshot = state.ingestor.snapshot();
    let mut items = Vec::new();
    if snapshot.table(&tenant, LogKind::RiskyUsers).is_some() {
        let engine = state
            .queries
            .engine_for(snapshot, Some(&tenant), &[LogKind::RiskyUsers])
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let _turn = state.admission.admit().await;
        let sql = format!(
            "SELECT * FROM riskyUsers WHERE id = '{}' ORDER BY riskLastUpdatedDateTime DESC, _ingestedAt DESC",
            id.replace('\'', "''")
        );
        let result = engine
            .sql(&sql)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for b in &result.batches {
            for row in 0..b.num_rows() {
                let mut m = gatehouse_export::record_to_json(b, row);
                m.insert("userId".into(), json!(id));
                let by = m.remove("initiatedBy").unwrap_or(Value::Null);
                m.insert("initiatedBy".into(), by);
                items.push(Value::Object(m));
            }
        }
    }
    if items.is_empty() {
        return Err(ApiError::not_found(format!("No risky user {id:?}.")));
    }
    let base = crate::graph::base_url(&headers);
    Ok(Json(json!({
        "@odata.context": format!("{base}/{version}/$metadata#identityProtection/riskyUsers('{id}')/history"),
        "value": items,
    }))
    .into_response())
}

/// `POST /{v}/identityProtection/riskyUsers/dismiss` and `…/confirmCompromised` with
/// `{"userIds": [...]}`: the verdict is a new `riskyUser` row per user and an audit record;
/// answers 204 as Graph does.
pub(crate) async fn risky_users_action(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((version, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_version(&version)?;
    let action = match action.as_str() {
        a if a.eq_ignore_ascii_case("dismiss") => AdminAction::Dismiss,
        a if a.eq_ignore_ascii_case("confirmCompromised") => AdminAction::ConfirmCompromised,
        other => {
            return Err(ApiError::not_found(format!(
                "No action riskyUsers/{other}: dismiss or confirmCompromised."
            )))
        }
    };
    let tenant = security_tenant(&caller, true)?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("The body is not JSON: {e}.")))?;
    let ids: Vec<String> = match request.get("userIds") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= 60 => a
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.is_empty() && s.len() <= 128)
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request("userIds holds non-empty strings."))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::bad_request(
                "The body is {\"userIds\": [...]} with 1 to 60 user ids.",
            ))
        }
    };
    state.risk.ensure(&state, &tenant).await?;
    let by = match &caller.0 {
        Principal::Token { id, .. } => format!("token {id}"),
        Principal::LocalAdmin => "local administrator".into(),
    };
    let ip = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = now_us();
    let (rows, audits) = {
        let mut tenants = state.risk.lock();
        let t = tenants.entry(tenant.clone()).or_default();
        let who: Vec<(String, String, String)> = ids
            .iter()
            .map(|id| {
                let (upn, display) = t
                    .users
                    .get(id)
                    .map(|u| (u.upn.clone(), u.display.clone()))
                    .unwrap_or_default();
                (id.clone(), upn, display)
            })
            .collect();
        let rows = t.users.admin(action, &who, &by, now);
        let audits = admin_audit_records(action, &who, &by, ip.as_deref(), now);
        (rows, audits)
    };
    let mut bytes = records_jsonl(&tenant, &[], &rows, now);
    bytes.extend(records_jsonl(&tenant, &[], &audits, now));
    store_records(&state, &tenant, bytes)
        .await
        .map_err(ApiError::internal)?;
    Ok((StatusCode::NO_CONTENT, [(header::CONTENT_LENGTH, "0")]).into_response())
}
