//! Recognising what a parsed JSON value is: a Graph record, a Graph list response, an Event Hub
//! message, a diagnostic record, a Log Analytics row, a forwarder's wrapper around one of those —
//! or something that is not a log record at all (a Graph error, a report, a query result), which is
//! rejected with a reason saying what it is.

use gatehouse_model::LogKind;
use serde_json::Value;

use crate::normalize::{diagnostic_to_record, graph_to_record};
use crate::{loganalytics, InputFormat, Object, Record};

/// How deep wrappers may nest before we give up (guards against hostile input).
const MAX_NESTING: u32 = 4;

/// Expands one parsed top-level value into records (or rejection reasons), in order.
pub fn expand(value: Value, forced: Option<InputFormat>, out: &mut Vec<Result<Record, String>>) {
    expand_inner(value, forced, None, 0, out);
}

fn expand_inner(
    value: Value,
    forced: Option<InputFormat>,
    hint: Option<LogKind>,
    nesting: u32,
    out: &mut Vec<Result<Record, String>>,
) {
    if nesting > MAX_NESTING {
        out.push(Err("records nested too deeply in wrappers".into()));
        return;
    }
    match value {
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) => expand_inner(item, forced, hint, nesting + 1, out),
                    other => out.push(Err(format!(
                        "array element is {}, not a JSON object",
                        kind_of(&other)
                    ))),
                }
            }
        }
        Value::Object(obj) => expand_object(obj, forced, hint, nesting, out),
        other => out.push(Err(format!(
            "expected a JSON object or array, found {}",
            kind_of(&other)
        ))),
    }
}

fn expand_object(
    mut obj: Object,
    forced: Option<InputFormat>,
    hint: Option<LogKind>,
    nesting: u32,
    out: &mut Vec<Result<Record, String>>,
) {
    // Graph error envelope.
    if let Some(Value::Object(err)) = obj.get("error") {
        if err.contains_key("code") || err.contains_key("message") {
            let code = err.get("code").and_then(Value::as_str).unwrap_or("?");
            let message = err.get("message").and_then(Value::as_str).unwrap_or("");
            out.push(Err(format!(
                "a Microsoft Graph error response, not a log record: {code}: {message}"
            )));
            return;
        }
    }
    // Graph list response.
    if let Some(Value::Array(_)) = obj.get("value") {
        let context = obj
            .get("@odata.context")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(what) = non_record_context(&context) {
            out.push(Err(format!(
                "a Microsoft Graph {what} response, not log records (@odata.context {context})"
            )));
            return;
        }
        let hint = hint_from_context(&context).or(hint);
        if let Some(Value::Array(items)) = obj.remove("value") {
            if items.is_empty() {
                return;
            }
            expand_inner(Value::Array(items), forced, hint, nesting + 1, out);
        }
        return;
    }
    // Event Hub message (and pre-2018 blobs).
    if let Some(Value::Array(_)) = obj.get("records") {
        if let Some(Value::Array(items)) = obj.remove("records") {
            expand_inner(Value::Array(items), forced, hint, nesting + 1, out);
        }
        return;
    }
    // A forwarder's wrapper: {"message": "<json>"} or {"input": {"message": "<json>"}}.
    if let Some(inner) = wrapped_message(&obj) {
        match serde_json::from_str::<Value>(inner) {
            Ok(v) => expand_inner(v, forced, hint, nesting + 1, out),
            Err(e) => out.push(Err(format!("wrapped `message` is not valid JSON: {e}"))),
        }
        return;
    }
    // A diagnostic record.
    let is_diag = matches!(obj.get("properties"), Some(Value::Object(_)))
        || (obj.contains_key("category")
            && obj.contains_key("time")
            && obj.contains_key("operationName"))
        || (obj.contains_key("category") && obj.contains_key("time") && obj.len() <= 3);
    if forced == Some(InputFormat::Diagnostic)
        || (forced.is_none() && is_diag && !looks_graph(&obj))
    {
        out.push(diagnostic_to_record(obj));
        return;
    }
    if forced == Some(InputFormat::LogAnalytics)
        || (forced.is_none() && loganalytics::looks_like_row(&obj))
    {
        out.push(loganalytics::row_to_record(obj));
        return;
    }
    let source = if forced == Some(InputFormat::Portal) {
        "portal:json"
    } else {
        "graph"
    };
    out.push(graph_to_record(obj, hint, source));
}

/// A Graph record has its id and time at top level in camelCase.
fn looks_graph(obj: &Object) -> bool {
    obj.contains_key("id")
        && (obj.contains_key("createdDateTime") || obj.contains_key("activityDateTime"))
        && !obj.contains_key("properties")
}

fn wrapped_message(obj: &Object) -> Option<&str> {
    if let Some(Value::Object(input)) = obj.get("input") {
        if let Some(Value::String(m)) = input.get("message") {
            return Some(m);
        }
    }
    match obj.get("message") {
        Some(Value::String(m)) if m.trim_start().starts_with('{') && !obj.contains_key("id") => {
            Some(m)
        }
        _ => None,
    }
}

/// Expands one element of a Graph list response's `value` array exactly as [`expand`] does when
/// it meets it inside the page (`hint` comes from the page's `@odata.context`).
pub fn expand_list_element(
    value: Value,
    forced: Option<InputFormat>,
    hint: Option<LogKind>,
    out: &mut Vec<Result<Record, String>>,
) {
    // The page is level 0, its `value` array level 1, each element level 2.
    expand_inner(value, forced, hint, 2, out);
}

/// Expands one element of an Event Hub message's `records` array exactly as [`expand`] does
/// when it meets it inside the message.
pub fn expand_records_item(
    item: Value,
    forced: Option<InputFormat>,
    out: &mut Vec<Result<Record, String>>,
) {
    match item {
        // The message is level 0, its `records` array level 1, each element level 2.
        Value::Object(_) => expand_inner(item, forced, None, 2, out),
        other => out.push(Err(format!(
            "array element is {}, not a JSON object",
            kind_of(&other)
        ))),
    }
}

/// The log a list response's `@odata.context` names.
pub(crate) fn hint_from_context(context: &str) -> Option<LogKind> {
    let c = context.to_ascii_lowercase();
    if c.contains("signins") {
        Some(LogKind::SignIns)
    } else if c.contains("directoryaudits") {
        Some(LogKind::Audits)
    } else if c.contains("auditlogs/provisioning") {
        Some(LogKind::Provisioning)
    } else if c.contains("riskyusers") {
        Some(LogKind::RiskyUsers)
    } else if c.contains("riskdetections") {
        Some(LogKind::RiskDetections)
    } else {
        None
    }
}

pub(crate) fn non_record_context(context: &str) -> Option<&'static str> {
    let c = context.to_ascii_lowercase();
    if c.contains("summarizedsignin") || c.contains("getsummarized") {
        Some("summarized sign-ins (aggregates)")
    } else if c.contains("reports") || c.contains("signinsummary") || c.contains("detailedsummary")
    {
        Some("report")
    } else {
        None
    }
}

/// Names a JSON value's type for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Vec<Result<Record, String>> {
        let mut out = Vec::new();
        expand(v, None, &mut out);
        out
    }

    #[test]
    fn list_response_and_error() {
        let out = run(
            json!({"@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns",
            "value": [{"id": "a", "createdDateTime": "2024-01-01T00:00:00Z"}]}),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ref().unwrap().log, LogKind::SignIns);
        let out = run(json!({"error": {"code": "Forbidden", "message": "no"}}));
        assert!(out[0]
            .as_ref()
            .unwrap_err()
            .contains("Graph error response"));
    }

    #[test]
    fn wrapper_is_unwrapped() {
        let inner = json!({"id": "x", "activityDateTime": "2024-01-01T00:00:00Z", "activityDisplayName": "Add user"});
        let out = run(json!({"input": {"message": inner.to_string()}, "expected": {}}));
        assert_eq!(out[0].as_ref().unwrap().log, LogKind::Audits);
    }

    #[test]
    fn scalars_are_rejected() {
        let out = run(json!([1, "x"]));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|r| r.is_err()));
    }
}
