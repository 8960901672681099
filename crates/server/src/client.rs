//! Commands on the server's machine talking to a running `gatehouse serve`: the CLI forwards
//! `ingest`, `compact`, `retention` and `vacuum` here when the server holds the data directory.
//!
//! The server writes its address and a fresh local administrator token into
//! `_gatehouse/serve.json` (readable by its owner only); being able to read that file is what
//! makes a command the local administrator.

use std::path::Path;

use gatehouse_formats::{Origin, Rejection};
use gatehouse_ingest::IngestSummary;
use gatehouse_model::{LogKind, SignInKind};
use serde_json::{json, Value};

use crate::ServeInfo;

/// A running server of a data directory.
pub struct LocalServer {
    info: ServeInfo,
    agent: ureq::Agent,
}

impl LocalServer {
    /// The server running over `data`, if one is (its `serve.json` names it).
    pub fn find(data: &Path) -> Option<LocalServer> {
        let info = ServeInfo::read(data)?;
        Some(LocalServer {
            info,
            agent: agent(),
        })
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.info.url
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.info.url);
        let mut response = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.info.token))
            .send_json(body)
            .map_err(|e| format!("the server at {} did not answer: {e}", self.info.url))?;
        let status = response.status();
        let value: Value = response
            .body_mut()
            .read_json()
            .map_err(|e| format!("the server answered {status} with no JSON: {e}"))?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(value["error"]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("the server answered {status}: {value}")))
        }
    }

    /// Ingests files on this machine through the server.
    pub fn ingest(
        &self,
        paths: &[String],
        tenant: Option<&str>,
        format: Option<&str>,
    ) -> Result<IngestSummary, String> {
        let v = self.post(
            "/gatehouse/admin/ingest",
            &json!({"paths": paths, "tenant": tenant, "format": format}),
        )?;
        Ok(summary_from_json(&v))
    }

    /// Compacts every partition.
    pub fn compact(&self) -> Result<Value, String> {
        self.post("/gatehouse/admin/compact", &json!({}))
    }

    /// Removes days older than `days` days.
    pub fn retention(&self, days: u32, log: Option<LogKind>) -> Result<Value, String> {
        self.post(
            "/gatehouse/admin/retention",
            &json!({"days": days, "log": log.map(|l| l.table_name())}),
        )
    }

    /// Vacuums (files replaced more than this many seconds ago; default: the grace period).
    pub fn vacuum(&self, older_than_seconds: Option<u64>) -> Result<Value, String> {
        self.post(
            "/gatehouse/admin/vacuum",
            &json!({"olderThanSeconds": older_than_seconds}),
        )
    }
}

/// Runs SQL on a server as `token` and reads the answer as Arrow record batches (the server
/// streams Arrow IPC).
pub fn sql_arrow(
    url: &str,
    token: &str,
    sql: &str,
) -> Result<Vec<arrow::record_batch::RecordBatch>, String> {
    let response = agent()
        .post(format!("{url}/gatehouse/sql"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/vnd.apache.arrow.stream")
        .send(sql.as_bytes())
        .map_err(|e| format!("the server at {url} did not answer: {e}"))?;
    let body = successful_body(response)?;
    arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
        .map_err(|e| e.to_string())?
        .map(|b| b.map_err(|e| e.to_string()))
        .collect()
}

/// GETs `path` from a server as `token` and reads the JSON answer (an error carries the
/// server's message).
pub fn get_json(url: &str, token: &str, path: &str) -> Result<Value, String> {
    let response = agent()
        .get(format!("{url}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| format!("the server at {url} did not answer: {e}"))?;
    let body = successful_body(response)?;
    serde_json::from_slice(&body).map_err(|e| format!("{path}: {e}"))
}

/// An HTTP client that hands error statuses back as answers.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// The body of a successful answer (up to 1 GiB), or the message of a failed one's Graph
/// error envelope.
fn successful_body(mut response: ureq::http::Response<ureq::Body>) -> Result<Vec<u8>, String> {
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        return Err(v["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {status}")));
    }
    Ok(body)
}

/// An ingest summary back from its JSON form ([`crate::summary_json`]).
pub fn summary_from_json(v: &Value) -> IngestSummary {
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let mut s = IngestSummary {
        duplicates: count(&v["duplicates"]),
        derived_ids: count(&v["derivedIds"]),
        inputs: count(&v["inputs"]) as usize,
        bytes_read: count(&v["bytesRead"]),
        ..IngestSummary::default()
    };
    for (table, n) in v["tables"].as_object().into_iter().flatten() {
        if let Ok(log) = table.parse::<LogKind>() {
            s.stored.insert(log, count(n));
        }
    }
    for (kind, n) in v["signInTypes"].as_object().into_iter().flatten() {
        if let Some(kind) = SignInKind::from_graph_name(kind) {
            s.signins_by_kind.insert(kind, count(n));
        }
    }
    for r in v["rejected"].as_array().into_iter().flatten() {
        s.rejected.push(Rejection {
            origin: Origin {
                file: r["file"].as_str().unwrap_or_default().into(),
                line: count(&r["line"]),
            },
            reason: r["reason"].as_str().unwrap_or_default().to_string(),
        });
    }
    s
}
