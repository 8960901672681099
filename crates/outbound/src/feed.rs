//! What a stream sends: a Graph log's new records matching a `$filter`, or alerts.

use gatehouse_graph::GraphResource;
use gatehouse_model::LogKind;
use gatehouse_odata::Filter;
use serde_json::{json, Value};

use crate::OutboundError;

/// A risk level, ordered (`low` < `medium` < `high`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RiskRank {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

impl RiskRank {
    /// The rank of a Graph `riskLevel` (`none`, `hidden` and unknown values have none).
    pub fn of(level: &str) -> Option<RiskRank> {
        match level {
            "low" => Some(RiskRank::Low),
            "medium" => Some(RiskRank::Medium),
            "high" => Some(RiskRank::High),
            _ => None,
        }
    }
}

/// What a stream delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum Feed {
    /// The new records of a Graph log collection that a `$filter` matches (every one without),
    /// as the collection lists them: sign-ins are the interactive ones unless the filter names
    /// `signInEventTypes`, as in Graph.
    Records {
        /// The collection.
        resource: GraphResource,
        /// Its `$filter`.
        filter: Option<Filter>,
    },
    /// Identity Protection's "users at risk detected" alert: a user whose risk (a new `riskyUser`
    /// state, `riskState` `atRisk`) reached `min_level`.
    Alerts {
        /// The lowest level alerted.
        min_level: RiskRank,
    },
}

impl Feed {
    /// The feed named in settings (`signIns`, `directoryAudits`, `provisioning`,
    /// `riskDetections`, `servicePrincipalRiskDetections` or `alerts`).
    pub fn parse(
        name: &str,
        filter: Option<&str>,
        min_level: Option<&str>,
    ) -> Result<Feed, OutboundError> {
        if name == "alerts" {
            if filter.is_some() {
                return Err(OutboundError::Config(
                    "the alerts feed takes min_level, not a filter".into(),
                ));
            }
            let level = min_level.unwrap_or("high");
            let min_level = RiskRank::of(level).ok_or_else(|| {
                OutboundError::Config(format!("min_level {level:?}: low, medium or high"))
            })?;
            return Ok(Feed::Alerts { min_level });
        }
        if min_level.is_some() {
            return Err(OutboundError::Config(
                "min_level is a setting of the alerts feed".into(),
            ));
        }
        let resource = GraphResource::from_segment(name)
            .or_else(|| GraphResource::from_identity_protection_segment(name))
            .ok_or_else(|| {
                OutboundError::Config(format!(
                    "feed {name:?}: signIns, directoryAudits, provisioning, riskDetections, \
                     servicePrincipalRiskDetections or alerts"
                ))
            })?;
        let filter = filter
            .map(|f| {
                gatehouse_odata::parse_filter(f)
                    .map_err(|e| OutboundError::Config(format!("filter {f:?}: {e}")))
            })
            .transpose()?;
        Ok(Feed::Records { resource, filter })
    }

    /// The feed's name, as settings and deliveries give it.
    pub fn name(&self) -> &'static str {
        match self {
            Feed::Records { resource, .. } => resource.segment(),
            Feed::Alerts { .. } => "alerts",
        }
    }

    /// The log whose tables the feed follows.
    pub fn log(&self) -> LogKind {
        match self {
            Feed::Records { resource, .. } => resource.log(),
            Feed::Alerts { .. } => LogKind::RiskyUsers,
        }
    }

    /// What a matching row becomes in a delivery (`None`: the row is not delivered).
    pub(crate) fn record(&self, json: String) -> Option<String> {
        match self {
            Feed::Records { .. } => Some(json),
            Feed::Alerts { min_level } => alert(&json, *min_level),
        }
    }
}

/// The alert a `riskyUser` state is, when it is one.
fn alert(json: &str, min_level: RiskRank) -> Option<String> {
    let user: Value = serde_json::from_str(json).ok()?;
    let text = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or("");
    if text("riskState") != "atRisk" {
        return None;
    }
    let level = text("riskLevel");
    if RiskRank::of(level)? < min_level {
        return None;
    }
    let who = if text("userPrincipalName").is_empty() {
        text("userDisplayName")
    } else {
        text("userPrincipalName")
    };
    let at = text("riskLastUpdatedDateTime");
    let alert = json!({
        "id": format!("{}:{}", text("id"), at),
        "alertType": "usersAtRiskDetected",
        "title": format!("User at risk detected: {who} ({level})"),
        "severity": level,
        "createdDateTime": at,
        "riskDetail": text("riskDetail"),
        "riskyUser": user,
    });
    Some(alert.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_are_named_as_graph_collections() {
        let f = Feed::parse("signIns", Some("status/errorCode ne 0"), None).unwrap();
        assert_eq!(f.name(), "signIns");
        assert_eq!(f.log(), LogKind::SignIns);
        assert_eq!(
            Feed::parse("riskDetections", None, None).unwrap().log(),
            LogKind::RiskDetections
        );
        assert_eq!(
            Feed::parse("alerts", None, Some("medium")).unwrap(),
            Feed::Alerts {
                min_level: RiskRank::Medium
            }
        );
        for (name, filter, level, why) in [
            ("signins2", None, None, "feed \"signins2\""),
            ("signIns", Some("status/errorCode nee 0"), None, "filter"),
            ("alerts", Some("x eq 1"), None, "min_level, not a filter"),
            ("alerts", None, Some("severe"), "min_level \"severe\""),
            ("signIns", None, Some("high"), "alerts feed"),
        ] {
            let e = Feed::parse(name, filter, level).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn an_alert_is_a_user_at_risk_at_or_above_the_level() {
        let user = |level: &str, state: &str| {
            json!({
                "id": "u1", "userPrincipalName": "ann@contoso.com", "riskLevel": level,
                "riskState": state, "riskDetail": "none",
                "riskLastUpdatedDateTime": "2026-12-05T10:00:00Z"
            })
            .to_string()
        };
        let feed = Feed::Alerts {
            min_level: RiskRank::Medium,
        };
        assert!(feed.record(user("low", "atRisk")).is_none());
        assert!(feed.record(user("high", "dismissed")).is_none());
        assert!(feed.record(user("none", "atRisk")).is_none());
        let a: Value = serde_json::from_str(&feed.record(user("high", "atRisk")).unwrap()).unwrap();
        assert_eq!(a["alertType"], "usersAtRiskDetected");
        assert_eq!(a["severity"], "high");
        assert_eq!(a["riskyUser"]["userPrincipalName"], "ann@contoso.com");
        assert_eq!(a["id"], "u1:2026-12-05T10:00:00Z");
        assert!(a["title"].as_str().unwrap().contains("ann@contoso.com"));
    }
}
