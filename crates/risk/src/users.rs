//! Risky users: each user's current risk level and state, changed by new detections and by
//! admins (`dismiss`, `confirmCompromised`). Every change is a new `riskyUser` row (the table is
//! the history; the newest row of a user is the state), so nothing is ever rewritten.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use serde_json::{json, Value};

use crate::detection::{graph_time, Detection, RiskLevel, Subject};
use crate::Result;

/// A user's current risk.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRisk {
    /// `riskLevel`.
    pub level: RiskLevel,
    /// `riskState`: `atRisk`, `dismissed`, `confirmedCompromised`, `remediated`, `none`.
    pub state: String,
    /// `riskDetail`.
    pub detail: String,
    /// `riskLastUpdatedDateTime` (µs).
    pub updated: i64,
    /// `userPrincipalName`.
    pub upn: String,
    /// `userDisplayName`.
    pub display: String,
}

/// What an admin did to a user's risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// `dismiss`: the detections were not an attack.
    Dismiss,
    /// `confirmCompromised`: the account is in an attacker's hands.
    ConfirmCompromised,
}

impl AdminAction {
    /// Graph's action name.
    pub fn name(self) -> &'static str {
        match self {
            AdminAction::Dismiss => "dismiss",
            AdminAction::ConfirmCompromised => "confirmCompromised",
        }
    }

    /// The audit log's activity name for it (as Identity Protection writes it).
    pub fn activity(self) -> &'static str {
        match self {
            AdminAction::Dismiss => "DismissUser",
            AdminAction::ConfirmCompromised => "ConfirmAccountCompromised",
        }
    }
}

/// Every user's current risk in one tenant.
#[derive(Debug, Default)]
pub struct RiskyUsers {
    users: HashMap<String, UserRisk>,
}

impl RiskyUsers {
    /// The newest state of each user in the tenant's `riskyUsers` rows.
    pub async fn load(
        service: &gatehouse_query::QueryService,
        snapshot: &std::sync::Arc<gatehouse_store::StoreSnapshot>,
        tenant: &str,
    ) -> Result<RiskyUsers> {
        use gatehouse_model::LogKind;
        let mut out = RiskyUsers::default();
        if snapshot.table(tenant, LogKind::RiskyUsers).is_none() {
            return Ok(out);
        }
        let engine = service.engine_for(
            std::sync::Arc::clone(snapshot),
            Some(tenant),
            &[LogKind::RiskyUsers],
        )?;
        let result = engine
            .sql(
                "SELECT id, CAST(riskLastUpdatedDateTime AS BIGINT) AS updated_us, riskLevel, riskState, \
                 riskDetail, userPrincipalName, userDisplayName, _ingestedAt AS stored FROM riskyUsers \
                 ORDER BY updated_us, stored",
            )
            .await?;
        for batch in &result.batches {
            let strings = |i: usize| -> Result<arrow::array::StringArray> {
                Ok(cast(batch.column(i), &DataType::Utf8)?
                    .as_string::<i32>()
                    .clone())
            };
            let times = cast(batch.column(1), &DataType::Int64)?;
            let times = times.as_primitive::<arrow::datatypes::Int64Type>();
            let (id, level, state, detail, upn, display) = (
                strings(0)?,
                strings(2)?,
                strings(3)?,
                strings(4)?,
                strings(5)?,
                strings(6)?,
            );
            let s = crate::event::owned_text;
            for i in 0..batch.num_rows() {
                out.users.insert(
                    s(&id, i),
                    UserRisk {
                        level: RiskLevel::from_name(&s(&level, i)),
                        state: s(&state, i),
                        detail: s(&detail, i),
                        updated: if times.is_valid(i) { times.value(i) } else { 0 },
                        upn: s(&upn, i),
                        display: s(&display, i),
                    },
                );
            }
        }
        Ok(out)
    }

    /// A user's current risk.
    pub fn get(&self, user_id: &str) -> Option<&UserRisk> {
        self.users.get(user_id)
    }

    /// Every user with a state, by user id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &UserRisk)> {
        self.users.iter()
    }

    /// Users with a state.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// No user has a state.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Applies new detections; returns the `riskyUser` rows of the changes (a user's level rises,
    /// or a user not at risk becomes so). Detections of accounts without an id and of service
    /// principals change no user.
    pub fn on_detections(&mut self, detections: &[Detection], now: i64) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut by_user: HashMap<&str, Vec<&Detection>> = HashMap::new();
        for d in detections {
            if let Subject::User { id, .. } = &d.subject {
                if !id.is_empty() {
                    by_user.entry(id.as_str()).or_default().push(d);
                }
            }
        }
        let mut ids: Vec<&str> = by_user.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let ds = &by_user[id];
            let Some(level) = ds.iter().map(|d| d.level).max() else {
                continue;
            };
            let (upn, display) = match &ds[0].subject {
                Subject::User { upn, display, .. } => (upn.clone(), display.clone()),
                Subject::ServicePrincipal { .. } => continue,
            };
            let current = self.users.get(id);
            let at_risk = current.is_some_and(|c| c.state == "atRisk");
            let compromised = current.is_some_and(|c| c.state == "confirmedCompromised");
            if compromised || (at_risk && current.is_some_and(|c| c.level >= level)) {
                continue;
            }
            let mut types: Vec<&str> = ds.iter().map(|d| d.event_type.name()).collect();
            types.sort_unstable();
            types.dedup();
            let risk = UserRisk {
                level,
                state: "atRisk".into(),
                detail: "none".into(),
                updated: now,
                upn,
                display,
            };
            rows.push(row(id, &risk, "gatehouse", "none", &types));
            self.users.insert(id.to_string(), risk);
        }
        rows
    }

    /// An admin's action on users; returns the `riskyUser` rows (unknown users get one too: an
    /// admin may confirm a compromise Gatehouse did not see).
    pub fn admin(
        &mut self,
        action: AdminAction,
        users: &[(String, String, String)],
        by: &str,
        now: i64,
    ) -> Vec<Value> {
        let mut rows = Vec::new();
        for (id, upn, display) in users {
            let (level, state, detail) = match action {
                AdminAction::Dismiss => {
                    (RiskLevel::None, "dismissed", "adminDismissedAllRiskForUser")
                }
                AdminAction::ConfirmCompromised => (
                    RiskLevel::High,
                    "confirmedCompromised",
                    "adminConfirmedUserCompromised",
                ),
            };
            let known = self.users.get(id);
            let risk = UserRisk {
                level,
                state: state.into(),
                detail: detail.into(),
                updated: now,
                upn: known.map_or_else(|| upn.clone(), |k| k.upn.clone()),
                display: known.map_or_else(|| display.clone(), |k| k.display.clone()),
            };
            rows.push(row(id, &risk, by, detail, &[]));
            self.users.insert(id.clone(), risk);
        }
        rows
    }
}

fn row(id: &str, r: &UserRisk, by: &str, detail: &str, types: &[&str]) -> Value {
    json!({
        "id": id,
        "userId": id,
        "riskLastUpdatedDateTime": graph_time(r.updated),
        "userPrincipalName": r.upn,
        "userDisplayName": r.display,
        "riskLevel": r.level.name(),
        "riskState": r.state,
        "riskDetail": r.detail,
        "isDeleted": false,
        "isProcessing": false,
        "initiatedBy": by,
        "activity": {"detail": detail, "riskEventTypes": types},
    })
}

/// The directory audit records of an admin's action on users' risk (one per user), as Identity
/// Protection writes them: category `IdentityProtection`, activity `DismissUser` or
/// `ConfirmAccountCompromised`, the admin in `initiatedBy`, the user in `targetResources`.
pub fn admin_audit_records(
    action: AdminAction,
    users: &[(String, String, String)],
    by: &str,
    by_ip: Option<&str>,
    now: i64,
) -> Vec<Value> {
    let state = match action {
        AdminAction::Dismiss => "dismissed",
        AdminAction::ConfirmCompromised => "confirmedCompromised",
    };
    let correlation = crate::detection::detection_id(&[by, action.name(), &now.to_string()]);
    let guid = crate::detection::guid_from_hex;
    users
        .iter()
        .map(|(id, upn, display)| {
            let h = crate::detection::detection_id(&[&correlation, id]);
            json!({
                "id": format!("IdentityProtection_{}", guid(&h)),
                "category": "IdentityProtection",
                "correlationId": guid(&correlation),
                "result": "success",
                "resultReason": "",
                "activityDisplayName": action.activity(),
                "activityDateTime": graph_time(now),
                "loggedByService": "Identity Protection",
                "operationType": "Update",
                "initiatedBy": {"user": {"id": null, "displayName": null, "userPrincipalName": by, "ipAddress": by_ip}, "app": null},
                "targetResources": [{
                    "id": id,
                    "displayName": display,
                    "type": "User",
                    "userPrincipalName": upn,
                    "modifiedProperties": [{"displayName": "RiskState", "oldValue": null, "newValue": format!("\"{state}\"")}],
                }],
                "additionalDetails": [],
            })
        })
        .collect()
}
