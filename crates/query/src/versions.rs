//! The versions of one record, and which of them a lookup by id answers.
//!
//! Gatehouse keeps every distinct record even when several share an `id` (Log Analytics logs an
//! interactive sign-in again after MFA, with another `authenticationRequirement`). An export
//! returns them all; a lookup by id answers one, chosen by this rule:
//!
//! 1. the most complete: the most fields present (values that are not null, counted at every
//!    depth, in lists too, unknown fields included);
//! 2. then the latest event time;
//! 3. then the latest `_ingestedAt`;
//! 4. then the lowest `_contentHash`, so the answer never depends on file order.

use std::cmp::Ordering;

use gatehouse_model::schema::{CONTENT_HASH_COLUMN, INGESTED_COLUMN};
use gatehouse_model::LogKind;
use serde_json::{Map, Value};

use crate::{QueryEngine, Result};

/// One stored version of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordVersion {
    /// The record as Graph JSON (as `gatehouse export` writes it).
    pub record: Map<String, Value>,
    /// Its `_contentHash`.
    pub content_hash: i64,
    /// Its `_ingestedAt` (RFC 3339).
    pub ingested_at: String,
    /// Fields present ([`completeness`]).
    pub fields: usize,
}

/// Values present in a JSON value: 1 for a non-null scalar, the sum of the members or items of
/// an object or a list, 0 for null.
pub fn completeness(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Object(m) => m.values().map(completeness).sum(),
        Value::Array(a) => a.iter().map(completeness).sum(),
        _ => 1,
    }
}

impl RecordVersion {
    /// Orders versions by the lookup rule: the one a lookup answers comes first.
    pub fn lookup_order(&self, other: &RecordVersion, time_column: &str) -> Ordering {
        let time = |r: &RecordVersion| {
            r.record
                .get(time_column)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        other
            .fields
            .cmp(&self.fields)
            .then_with(|| time(other).cmp(&time(self)))
            .then_with(|| other.ingested_at.cmp(&self.ingested_at))
            .then_with(|| self.content_hash.cmp(&other.content_hash))
    }
}

impl QueryEngine {
    /// Every stored version of the record `id` of `log`, the one a lookup by id answers first.
    pub async fn versions(&self, log: LogKind, id: &str) -> Result<Vec<RecordVersion>> {
        let sql = format!(
            "SELECT * FROM \"{}\" WHERE id = '{}'",
            log.table_name(),
            id.replace('\'', "''")
        );
        let result = self.sql(&sql).await?;
        let mut out = Vec::new();
        for batch in &result.batches {
            let rows = gatehouse_export::batch_to_json_rows(batch);
            for (row, all) in rows.into_iter().enumerate() {
                let record = gatehouse_export::record_to_json(batch, row);
                out.push(RecordVersion {
                    fields: completeness(&Value::Object(record.clone())),
                    content_hash: all
                        .get(CONTENT_HASH_COLUMN)
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    ingested_at: all
                        .get(INGESTED_COLUMN)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    record,
                });
            }
        }
        out.sort_by(|a, b| a.lookup_order(b, log.time_column()));
        Ok(out)
    }

    /// The version of the record `id` a lookup answers (see the module comment), if it is stored.
    pub async fn lookup(&self, log: LogKind, id: &str) -> Result<Option<Map<String, Value>>> {
        Ok(self
            .versions(log, id)
            .await?
            .into_iter()
            .next()
            .map(|v| v.record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(record: Value, ingested: &str, hash: i64) -> RecordVersion {
        let record = record.as_object().unwrap().clone();
        RecordVersion {
            fields: completeness(&Value::Object(record.clone())),
            record,
            content_hash: hash,
            ingested_at: ingested.into(),
        }
    }

    #[test]
    fn the_most_complete_version_comes_first() {
        assert_eq!(
            completeness(&json!({"a": null, "b": [1, null, {"c": "x"}], "d": {}})),
            2
        );
        let t = "createdDateTime";
        let mut v = [
            version(
                json!({"id": "a", t: "2024-01-01T00:00:00Z", "x": 1}),
                "2024-02-01T00:00:00Z",
                5,
            ),
            version(
                json!({"id": "a", t: "2024-01-01T00:00:00Z", "x": 1, "riskEventTypes_v2": ["mfa"]}),
                "2024-01-01T00:00:00Z",
                9,
            ),
            version(
                json!({"id": "a", t: "2024-01-01T00:00:01Z", "y": 1}),
                "2024-01-01T00:00:00Z",
                1,
            ),
            version(
                json!({"id": "a", t: "2024-01-01T00:00:00Z", "z": 1}),
                "2024-03-01T00:00:00Z",
                7,
            ),
            version(
                json!({"id": "a", t: "2024-01-01T00:00:00Z", "w": 1}),
                "2024-03-01T00:00:00Z",
                3,
            ),
        ];
        v.sort_by(|a, b| a.lookup_order(b, t));
        // Most fields; then the latest event time; then the latest ingest; then the lowest hash.
        assert_eq!(
            v.iter().map(|v| v.content_hash).collect::<Vec<_>>(),
            [9, 1, 3, 7, 5]
        );
    }
}
