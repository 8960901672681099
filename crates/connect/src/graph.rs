//! The Graph connector: polls Microsoft Graph's log APIs (`/auditLogs/signIns` for each of the
//! four sign-in types, `directoryAudits`, `provisioning`) with an application's client
//! credentials, and stores every page with the newest event time seen as the source's position.
//!
//! Each poll asks for the records since the committed position minus a lookback window, oldest
//! first, following `@odata.nextLink`: records Entra logs late (up to the lookback after their
//! event time) are caught, and those seen before are skipped as duplicates. A 429 or 503 waits
//! for its `Retry-After`; an expired token is renewed once and the request repeated.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::sink::{Batch, Sink};
use crate::status::ConnectorStatus;
use crate::ConnectError;

/// What the Graph connector reads and how.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// The Entra tenant the application signs in to (its id or domain).
    pub tenant: String,
    /// The application (client) id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// The token authority (`https://login.microsoftonline.com`).
    pub authority: String,
    /// Graph's base URL (`https://graph.microsoft.com`); requests go to `{base}/beta/…`.
    pub graph: String,
    /// Records logged up to this long after their event time are still caught (by a deep poll).
    pub lookback: Duration,
    /// How often a poll goes back the whole lookback (the others go back one minute).
    pub deep_every: Duration,
    /// How often to poll.
    pub every: Duration,
    /// Where to start when a source has no position yet (how far back).
    pub initial: Duration,
    /// Records per page asked for (`$top`).
    pub page_size: u32,
}

/// One log the connector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Feed {
    /// The position's source name.
    source: &'static str,
    /// The resource below `/beta/auditLogs/`.
    resource: &'static str,
    /// The event time property.
    time: &'static str,
    /// For sign-ins: the type.
    sign_in_type: Option<&'static str>,
}

const FEEDS: [Feed; 6] = [
    Feed {
        source: "graph:signIns:interactiveUser",
        resource: "signIns",
        time: "createdDateTime",
        sign_in_type: Some("interactiveUser"),
    },
    Feed {
        source: "graph:signIns:nonInteractiveUser",
        resource: "signIns",
        time: "createdDateTime",
        sign_in_type: Some("nonInteractiveUser"),
    },
    Feed {
        source: "graph:signIns:servicePrincipal",
        resource: "signIns",
        time: "createdDateTime",
        sign_in_type: Some("servicePrincipal"),
    },
    Feed {
        source: "graph:signIns:managedIdentity",
        resource: "signIns",
        time: "createdDateTime",
        sign_in_type: Some("managedIdentity"),
    },
    Feed {
        source: "graph:directoryAudits",
        resource: "directoryAudits",
        time: "activityDateTime",
        sign_in_type: None,
    },
    Feed {
        source: "graph:provisioning",
        resource: "provisioning",
        time: "activityDateTime",
        sign_in_type: None,
    },
];

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphPollReport {
    /// Pages read.
    pub pages: usize,
    /// Records stored.
    pub stored: u64,
    /// Records skipped as stored before (the lookback's overlap).
    pub duplicates: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Throttled answers waited out.
    pub throttled: u64,
}

/// Polls Microsoft Graph's log APIs into a [`Sink`].
pub struct GraphConnector {
    config: GraphConfig,
    agent: ureq::Agent,
    token: std::sync::Mutex<Option<(String, Instant)>>,
    last_deep: std::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for GraphConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConnector")
            .field("tenant", &self.config.tenant)
            .field("client_id", &self.config.client_id)
            .field("graph", &self.config.graph)
            .finish_non_exhaustive()
    }
}

impl GraphConnector {
    /// A connector with these settings.
    pub fn new(config: GraphConfig) -> GraphConnector {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        GraphConnector {
            config,
            agent,
            token: std::sync::Mutex::new(None),
            last_deep: std::sync::Mutex::new(None),
        }
    }

    /// A token for Graph: the cached one while it has a minute left, else a new one from the
    /// authority (client credentials).
    fn token(&self, renew: bool) -> Result<String, ConnectError> {
        let mut cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = cached.as_ref() {
            if !renew && *until > Instant::now() + Duration::from_secs(60) {
                return Ok(token.clone());
            }
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.config.authority.trim_end_matches('/'),
            self.config.tenant
        );
        let scope = format!("{}/.default", self.config.graph.trim_end_matches('/'));
        let mut response = self
            .agent
            .post(&url)
            .send_form([
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.as_str()),
                ("scope", scope.as_str()),
                ("grant_type", "client_credentials"),
            ])
            .map_err(|e| ConnectError::Unreachable(format!("POST {url}: {e}")))?;
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if status != 200 {
            let why = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given");
            return Err(ConnectError::Denied(format!(
                "the token endpoint answered {status}: {why}"
            )));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| ConnectError::Source("the token endpoint gave no access_token".into()))?
            .to_string();
        let lifetime = body["expires_in"]
            .as_u64()
            .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(3600);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        ));
        Ok(token)
    }

    /// One GET of Graph, waiting out throttling and renewing an expired token.
    fn get(
        &self,
        url: &str,
        report: &mut GraphPollReport,
        stop: &dyn Fn() -> bool,
    ) -> Result<Value, ConnectError> {
        let mut renewed = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let token = self.token(false)?;
            let mut response = self
                .agent
                .get(url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Accept", "application/json")
                .call()
                .map_err(|e| ConnectError::Unreachable(format!("GET {url}: {e}")))?;
            let status = response.status().as_u16();
            match status {
                200 => {
                    return response
                        .body_mut()
                        .with_config()
                        .limit(1 << 30)
                        .read_json()
                        .map_err(|e| ConnectError::Source(format!("GET {url}: not JSON: {e}")))
                }
                401 if !renewed => {
                    renewed = true;
                    self.token(true)?;
                }
                429 | 503 | 504 if attempts < 20 => {
                    let wait = response
                        .headers()
                        .get("Retry-After")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(attempts.min(30));
                    report.throttled += 1;
                    tracing::info!(status, wait, "Graph asks to wait");
                    crate::sleep_unless(Duration::from_secs(wait.min(300)), stop);
                    if stop() {
                        return Err(ConnectError::Source(format!(
                            "GET {url}: stopped while throttled"
                        )));
                    }
                }
                _ => {
                    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
                    let message = body["error"]["message"].as_str().unwrap_or("").to_string();
                    let text = format!("GET {url}: {status} {message}");
                    return Err(match status {
                        401 | 403 => ConnectError::Denied(text),
                        404 => ConnectError::NotFound(text),
                        _ => ConnectError::Source(text),
                    });
                }
            }
        }
    }

    /// Reads every feed once, from its position to now: back the whole lookback when the last
    /// such deep poll is [`GraphConfig::deep_every`] old (and the first time), else back one
    /// minute.
    pub fn poll(
        &self,
        sink: &dyn Sink,
        status: &ConnectorStatus,
        stop: &dyn Fn() -> bool,
    ) -> Result<GraphPollReport, ConnectError> {
        let deep = {
            let last = self.last_deep.lock().unwrap_or_else(|e| e.into_inner());
            last.is_none_or(|t| t.elapsed() >= self.config.deep_every)
        };
        let overlap = if deep {
            self.config.lookback
        } else {
            Duration::from_secs(60).min(self.config.lookback)
        };
        let mut report = GraphPollReport::default();
        for feed in FEEDS {
            self.poll_feed(feed, overlap, sink, status, &mut report, stop)?;
        }
        if deep {
            *self.last_deep.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        Ok(report)
    }

    fn poll_feed(
        &self,
        feed: Feed,
        overlap: Duration,
        sink: &dyn Sink,
        status: &ConnectorStatus,
        report: &mut GraphPollReport,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), ConnectError> {
        let now = chrono::Utc::now().timestamp_micros();
        let committed = sink.position(feed.source)?;
        let from_micros = match committed {
            Some(p) => p - overlap.as_micros() as i64,
            None => now - self.config.initial.as_micros() as i64,
        };
        let from = chrono::DateTime::from_timestamp_micros(from_micros)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut filter = format!("{} ge {from}", feed.time);
        if let Some(t) = feed.sign_in_type {
            filter.push_str(&format!(" and signInEventTypes/any(t: t eq '{t}')"));
        }
        let mut url = format!(
            "{}/beta/auditLogs/{}?$filter={}&$orderby={}%20asc&$top={}",
            self.config.graph.trim_end_matches('/'),
            feed.resource,
            crate::percent_encode(&filter, b"-_.~"),
            feed.time,
            self.config.page_size
        );
        let mut position = committed.unwrap_or(from_micros);
        loop {
            let page = self.get(&url, report, stop)?;
            report.pages += 1;
            let records = page["value"].as_array().map_or(&[][..], Vec::as_slice);
            for r in records {
                if let Some(t) = r[feed.time]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                {
                    position = position.max(t.timestamp_micros());
                }
            }
            if !records.is_empty() {
                let body = serde_json::to_vec(&page)
                    .map_err(|e| ConnectError::Source(format!("re-encoding a page: {e}")))?;
                let stored = sink.store(Batch {
                    source: feed.source.to_string(),
                    position,
                    body: body.into(),
                    display: format!("{}#{}", feed.source, report.pages),
                })?;
                stored.committed(feed.source, position, status);
                report.stored += stored.stored;
                report.duplicates += stored.duplicates;
                report.rejected += stored.rejected.len() as u64;
            }
            match page["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_string(),
                None => return Ok(()),
            }
        }
    }

    /// Polls until `stop` says so; failures are reported and retried with backoff.
    pub fn run(&self, sink: &dyn Sink, status: &ConnectorStatus, stop: &dyn Fn() -> bool) {
        crate::poll_until_stopped("graph", self.config.every, status, stop, || {
            self.poll(sink, status, stop).map(|_| 0)
        });
    }
}
