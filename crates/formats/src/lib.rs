//! Readers for every Entra log export shape.
//!
//! Input arrives as Microsoft Graph JSON (one object, an array, a list response, NDJSON), Azure
//! Monitor diagnostic-settings exports (storage blobs and Event Hub messages), Log Analytics exports
//! (JSON and CSV) and Entra admin center downloads (JSON and CSV), any of them gzip-compressed.
//! This crate turns all of them into one thing: a [`Record`], a Graph-shaped JSON object tagged with
//! its log, tenant and origin, or a [`Rejection`] naming the file, line and reason.
//!
//! The flow is: [`input`] opens paths (walking directories, un-gzipping) → [`split`] cuts a byte
//! stream into raw records without parsing them (so parsing can run in parallel; [`mapped`] does
//! it for uncompressed NDJSON files in place, through memory maps) → [`shape`]
//! recognises each record's export shape and [`normalize`] rewrites it to the Graph shape.
//! CSV files go through [`csv_input`], whose rows are mapped by [`loganalytics`] or [`portal`].
//!
//! Bare Graph records that need no reshaping (most of any large export) can skip the general path:
//! [`tape`] tokenizes a record without building a tree and [`fast`] recognises it, so the store can
//! convert it to columns straight from the source text.

pub mod csv_input;
pub mod fast;
pub mod input;
pub mod loganalytics;
pub mod mapped;
pub mod normalize;
pub mod portal;
pub mod read;
pub mod shape;
pub mod split;
pub mod tape;

use std::fmt;
use std::sync::Arc;

use gatehouse_model::LogKind;
use serde_json::{Map, Value};

/// A JSON object.
pub type Object = Map<String, Value>;

/// Where a record came from: a file (or `-` for standard input) and a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file path as given (or as found while walking a directory).
    pub file: Arc<str>,
    /// The 1-based line the record starts on (for CSV: the row's first line); 0 when the problem
    /// concerns the whole file.
    pub line: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// A record in the Graph shape, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Which log it belongs to.
    pub log: LogKind,
    /// The Graph-shaped object (`signIn`, `directoryAudit`, …). Unknown fields are kept as they were.
    pub body: Object,
    /// The tenant named by the record itself (diagnostic `tenantId`, Log Analytics `AADTenantId`, …).
    pub tenant_id: Option<String>,
    /// The export shape, e.g. `graph`, `diagnostic:SignInLogs`, `loganalytics:SigninLogs`,
    /// `portal:csv`.
    pub source: String,
    /// For diagnostic and Log Analytics records: the envelope (every field outside the Graph body).
    pub envelope: Option<Object>,
}

/// A record that could not be read, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Where it was.
    pub origin: Origin,
    /// Why it was rejected, in words a person can act on.
    pub reason: String,
}

impl Rejection {
    /// A stable code for the kind of problem (for metrics and APIs; the reason says the rest):
    /// `malformed_json`, `too_large`, `too_deep`, `unreadable_input`, `not_text`, `empty_input`,
    /// `not_a_log_record`, `unsupported_category`, `other_tenant`, `bad_tenant`, `bad_timestamp`,
    /// `missing_field`, `wrong_type`, `bad_csv`, or `other`.
    pub fn code(&self) -> &'static str {
        reason_code(&self.reason)
    }
}

/// The [`Rejection::code`] of a reason text.
pub fn reason_code(reason: &str) -> &'static str {
    let has = |s: &str| reason.contains(s);
    if has("malformed JSON") || has("not valid JSON") || has("`]` missing") {
        "malformed_json"
    } else if has("line longer than") || has("larger than") {
        "too_large"
    } else if has("nested too deeply") || has("too deep") {
        "too_deep"
    } else if has("cannot read") || has("corrupt input") || has("read error") || has("ends early") {
        "unreadable_input"
    } else if has("binary data") || has("UTF-16") || has("not valid UTF-8") {
        "not_text"
    } else if has("empty file") || has("no records") {
        "empty_input"
    } else if has("not a log record")
        || has("not log records")
        || has("not a sign-in")
        || has("error response")
        || has("query result")
    {
        "not_a_log_record"
    } else if has("category") {
        "unsupported_category"
    } else if has("names tenant") {
        "other_tenant"
    } else if has("tenant id") {
        "bad_tenant"
    } else if has("timestamp") || has("outside 1677") || has("out of range") {
        "bad_timestamp"
    } else if has("missing `") || has("without") {
        "missing_field"
    } else if has("expected") || has("found") {
        "wrong_type"
    } else if has("column") || has("header") || has("row ") {
        "bad_csv"
    } else {
        "other"
    }
}

impl fmt::Display for Rejection {
    /// `file:line: reason` on one line: control characters that input text brought into the file
    /// name or the reason (a newline in a quoted CSV header, an escape sequence) are shown escaped,
    /// so every rejection is one line and cannot drive the terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            OneLine(&self.origin.to_string()),
            OneLine(&self.reason)
        )
    }
}

/// Text shown with its control characters escaped (`\n`, `\u{1b}`).
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// At most `max` characters of `s`, with `…` when cut (for quoting input in messages).
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// A format a user can force with `--format` instead of detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Microsoft Graph JSON (bare records, arrays, list responses, NDJSON).
    Graph,
    /// Azure Monitor diagnostic export (blob JSON lines or Event Hub `{"records": [...]}`).
    Diagnostic,
    /// Log Analytics export, JSON or CSV.
    LogAnalytics,
    /// Entra admin center download, JSON or CSV.
    Portal,
}

impl std::str::FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "graph" => Ok(InputFormat::Graph),
            "diagnostic" | "diag" | "azure-monitor" | "eventhub" => Ok(InputFormat::Diagnostic),
            "loganalytics" | "log-analytics" | "la" => Ok(InputFormat::LogAnalytics),
            "portal" => Ok(InputFormat::Portal),
            other => Err(format!(
                "unknown format `{other}` (expected graph, diagnostic, loganalytics or portal)"
            )),
        }
    }
}

/// Errors that stop reading a whole input (as opposed to one record).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A path that does not exist or is not a file or directory.
    #[error("{0}: no such file or directory")]
    NotFound(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_prints_on_one_line_with_control_characters_escaped() {
        let r = Rejection {
            origin: Origin {
                file: "in/odd\nname.csv".into(),
                line: 3,
            },
            reason: "found 1 column: `a\nb\u{1b}[31m`".into(),
        };
        let shown = r.to_string();
        assert_eq!(
            shown,
            "in/odd\\nname.csv:3: found 1 column: `a\\nb\\u{1b}[31m`"
        );
        assert!(!shown.chars().any(char::is_control));
    }
}

#[cfg(test)]
mod code_tests {
    use super::reason_code;

    #[test]
    fn reasons_have_stable_codes() {
        for (reason, code) in [
            (
                "malformed JSON: expected value at line 1 column 2",
                "malformed_json",
            ),
            (
                "malformed JSON: record is cut short (column 40)",
                "malformed_json",
            ),
            (
                "input ends inside a JSON array: `]` missing (truncated file?)",
                "malformed_json",
            ),
            ("line longer than 64 MiB; skipped", "too_large"),
            ("records nested too deeply in wrappers", "too_deep"),
            (
                "cannot read: invalid gzip header (corrupt or truncated gzip?)",
                "unreadable_input",
            ),
            (
                "binary data: not JSON or CSV (is this a compressed format other than gzip?)",
                "not_text",
            ),
            ("empty file: no records", "empty_input"),
            (
                "a Microsoft Graph error response, not a log record: x: y",
                "not_a_log_record",
            ),
            (
                "diagnostic record without a `category`",
                "unsupported_category",
            ),
            (
                "record names tenant a, but this token ingests for tenant b",
                "other_tenant",
            ),
            (
                "tenant id \"a b\" is not usable: only letters",
                "bad_tenant",
            ),
            (
                "field `createdDateTime`: unrecognised timestamp \"soon\"",
                "bad_timestamp",
            ),
            ("missing `createdDateTime`", "missing_field"),
            (
                "field `status.errorCode`: expected an integer, found \"x\"",
                "wrong_type",
            ),
            ("row has 3 columns, the header has 5", "bad_csv"),
            ("something new", "other"),
        ] {
            assert_eq!(reason_code(reason), code, "{reason}");
        }
    }
}
