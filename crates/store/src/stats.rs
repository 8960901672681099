//! Per-file column statistics, committed with each file's `add` action in the Delta log.
//!
//! Delta readers (Gatehouse, Spark, Databricks, Fabric, DuckDB, delta-rs) skip a file when its
//! `minValues` / `maxValues` / `nullCount` show that no row can match a filter, without opening it.
//! Gatehouse records them for the event time, `id`, `_ingestedAt` and the columns each log is
//! commonly filtered on ([`stats_columns`]); the table property `delta.dataSkippingStatsColumns`
//! names them, so no reader assumes statistics for other columns.
//!
//! Timestamps are written with millisecond precision, the lower bound rounded down and the upper
//! bound rounded up (Spark reads them as milliseconds). A string longer than
//! [`MAX_STRING_STAT`] characters gets its prefix as the lower bound and no upper bound.

use arrow::array::StringArray;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::compute::{max, min};
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use gatehouse_model::schema::INGESTED_COLUMN;
use gatehouse_model::LogKind;
use serde_json::{Map, Value};

/// Longest string kept whole in statistics.
pub const MAX_STRING_STAT: usize = 64;

/// The columns (dotted paths into structs) whose statistics a log's files carry.
pub fn stats_columns(log: LogKind) -> Vec<&'static str> {
    let mut columns = vec![log.time_column(), "id", INGESTED_COLUMN];
    columns.extend_from_slice(match log {
        LogKind::SignIns => &[
            "userPrincipalName",
            "userId",
            "appId",
            "ipAddress",
            "status.errorCode",
            "correlationId",
            "servicePrincipalId",
            "resourceId",
        ][..],
        LogKind::Audits => &["category", "activityDisplayName", "correlationId", "result"][..],
        LogKind::Provisioning => &["jobId", "cycleId", "changeId"][..],
        LogKind::RiskyUsers => &["userPrincipalName", "riskLevel"][..],
        LogKind::RiskDetections => &["userPrincipalName", "riskEventType", "ipAddress"][..],
    });
    columns
}

/// One column's statistics so far.
#[derive(Debug, Clone, PartialEq)]
enum Bounds {
    None,
    Int(i64, i64),
    /// Microseconds since the epoch.
    Time(i64, i64),
    /// The lower bound and, unless some value was too long, the upper one.
    Str(String, Option<String>),
}

/// Statistics of one file being written, gathered batch by batch.
#[derive(Debug, Clone)]
pub struct FileStats {
    columns: Vec<(&'static str, Bounds, u64)>,
    rows: u64,
}

impl FileStats {
    /// Empty statistics for a file of `log`'s table.
    pub fn new(log: LogKind) -> FileStats {
        FileStats {
            columns: stats_columns(log)
                .into_iter()
                .map(|c| (c, Bounds::None, 0))
                .collect(),
            rows: 0,
        }
    }

    /// Takes in a batch of the file's rows.
    pub fn update(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        for (path, bounds, nulls) in &mut self.columns {
            let Some((array, null_mask)) = leaf(batch, path) else {
                *nulls += batch.num_rows() as u64;
                continue;
            };
            let array = match &null_mask {
                // A member of a null struct counts as null.
                Some(mask) if mask.null_count() > array.null_count() => {
                    match array
                        .to_data()
                        .into_builder()
                        .nulls(Some(mask.clone()))
                        .build()
                    {
                        Ok(data) => arrow::array::make_array(data),
                        Err(_) => continue,
                    }
                }
                _ => array,
            };
            *nulls += array.null_count() as u64;
            merge(bounds, &array);
        }
    }

    /// Rows taken in.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The statistics as Delta's `stats` JSON.
    pub fn to_delta_json(&self) -> String {
        let mut min_values = Map::new();
        let mut max_values = Map::new();
        let mut null_count = Map::new();
        for (path, bounds, nulls) in &self.columns {
            let (lo, hi) = match bounds {
                Bounds::None => (None, None),
                Bounds::Int(lo, hi) => (Some(Value::from(*lo)), Some(Value::from(*hi))),
                Bounds::Time(lo, hi) => (
                    Some(Value::String(format_millis(lo.div_euclid(1000)))),
                    Some(Value::String(format_millis(
                        hi.div_euclid(1000) + i64::from(hi.rem_euclid(1000) != 0),
                    ))),
                ),
                Bounds::Str(lo, hi) => (
                    Some(Value::String(lo.clone())),
                    hi.clone().map(Value::String),
                ),
            };
            if let Some(lo) = lo {
                insert_path(&mut min_values, path, lo);
            }
            if let Some(hi) = hi {
                insert_path(&mut max_values, path, hi);
            }
            insert_path(&mut null_count, path, Value::from(*nulls));
        }
        serde_json::json!({
            "numRecords": self.rows,
            "minValues": min_values,
            "maxValues": max_values,
            "nullCount": null_count,
        })
        .to_string()
    }
}

/// A leaf column of a batch by dotted path, with the combined nulls of the structs above it.
fn leaf(batch: &RecordBatch, path: &str) -> Option<(ArrayRef, Option<NullBuffer>)> {
    let mut parts = path.split('.');
    let mut array = batch.column_by_name(parts.next()?)?.clone();
    let mut nulls: Option<NullBuffer> = None;
    for part in parts {
        let s = array.as_struct_opt()?;
        nulls = NullBuffer::union(nulls.as_ref(), s.nulls());
        array = s.column_by_name(part)?.clone();
    }
    let nulls = NullBuffer::union(nulls.as_ref(), array.nulls());
    Some((array, nulls))
}

fn merge(bounds: &mut Bounds, array: &ArrayRef) {
    if array.null_count() == array.len() {
        return;
    }
    let next = match array.data_type() {
        DataType::Int32 => {
            let a = array.as_primitive::<Int32Type>();
            match (min(a), max(a)) {
                (Some(lo), Some(hi)) => Bounds::Int(i64::from(lo), i64::from(hi)),
                _ => return,
            }
        }
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            match (min(a), max(a)) {
                (Some(lo), Some(hi)) => Bounds::Int(lo, hi),
                _ => return,
            }
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            match (min(a), max(a)) {
                (Some(lo), Some(hi)) => Bounds::Time(lo, hi),
                _ => return,
            }
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            match string_bounds(a) {
                Some((lo, hi)) => Bounds::Str(prefix(lo).to_string(), whole(hi)),
                _ => return,
            }
        }
        _ => return,
    };
    *bounds = match (std::mem::replace(bounds, Bounds::None), next) {
        (Bounds::None, next) => next,
        (Bounds::Int(a, b), Bounds::Int(c, d)) => Bounds::Int(a.min(c), b.max(d)),
        (Bounds::Time(a, b), Bounds::Time(c, d)) => Bounds::Time(a.min(c), b.max(d)),
        (Bounds::Str(a, b), Bounds::Str(c, d)) => Bounds::Str(
            a.min(c),
            match (b, d) {
                (Some(b), Some(d)) => Some(b.max(d)),
                _ => None,
            },
        ),
        (_, other) => other,
    };
}

/// The least and the greatest of the present values of `a` (byte order, as `str`'s), in one
/// pass. Each value is first compared by its first eight bytes, as a big-endian word, with the
/// bounds' (most values of a column fall strictly between its bounds, and a random identifier
/// differs from them in its first bytes); only a tie compares the rest. arrow's `min_string` and
/// `max_string` make two passes with a call of `memcmp` per value.
fn string_bounds(a: &StringArray) -> Option<(&str, &str)> {
    /// The first eight bytes as a big-endian word, zero-padded: words compare as the bytes do,
    /// except that a tie may hide a difference (a shorter value, or one past the eighth byte).
    #[inline(always)]
    fn head(v: &[u8]) -> u64 {
        let mut word = [0u8; 8];
        let n = v.len().min(8);
        word[..n].copy_from_slice(&v[..n]);
        u64::from_be_bytes(word)
    }
    /// Byte order without a call of `memcmp` (ties are mostly values equal to a bound, or
    /// identifiers sharing a prefix): eight bytes at a time as big-endian words.
    #[inline(always)]
    fn less(a: &[u8], b: &[u8]) -> bool {
        let n = a.len().min(b.len());
        let mut i = 0;
        while i + 8 <= n {
            let word = |s: &[u8]| u64::from_be_bytes(s[i..i + 8].try_into().expect("8 bytes"));
            let (x, y) = (word(a), word(b));
            if x != y {
                return x < y;
            }
            i += 8;
        }
        match a[i..n].iter().zip(&b[i..n]).find(|(x, y)| x != y) {
            Some((x, y)) => x < y,
            None => a.len() < b.len(),
        }
    }
    let offsets = a.value_offsets();
    let data = a.value_data();
    let value = |i: usize| &data[offsets[i] as usize..offsets[i + 1] as usize];
    let mut present = (0..a.len()).filter(|&i| a.is_valid(i));
    let first = present.next()?;
    let (mut lo, mut hi) = (value(first), value(first));
    let (mut lo_head, mut hi_head) = (head(lo), head(hi));
    for i in present {
        let v = value(i);
        let h = head(v);
        if h < lo_head || (h == lo_head && less(v, lo)) {
            (lo, lo_head) = (v, h);
        }
        if h > hi_head || (h == hi_head && less(hi, v)) {
            (hi, hi_head) = (v, h);
        }
    }
    // Both are whole values of a string array, so UTF-8.
    Some((std::str::from_utf8(lo).ok()?, std::str::from_utf8(hi).ok()?))
}

/// The first [`MAX_STRING_STAT`] characters of `s`.
fn prefix(s: &str) -> &str {
    match s.char_indices().nth(MAX_STRING_STAT) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `s` as an upper bound: itself, or none when too long to keep whole.
fn whole(s: &str) -> Option<String> {
    (s.chars().count() <= MAX_STRING_STAT).then(|| s.to_string())
}

/// `2024-01-13T14:13:32.123Z` for milliseconds since the epoch.
fn format_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Sets `path` (dotted) in a nested JSON object.
fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = map
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert_path(child, rest, value);
            }
        }
    }
}

/// What a reader needs from a file's Delta statistics: its row count and the bounds of its event
/// times (ns since the epoch; millisecond precision, so bounds rather than exact values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// Rows in the file.
    pub rows: u64,
    /// No event time is earlier.
    pub min_time_ns: i64,
    /// No event time is later.
    pub max_time_ns: i64,
}

/// Reads [`TimeBounds`] from Delta `stats` JSON; `None` when they are not all there (a file some
/// other writer added without statistics).
pub fn time_bounds(stats: &str, log: LogKind) -> Option<TimeBounds> {
    let v: Value = serde_json::from_str(stats).ok()?;
    let time = |key: &str| -> Option<i64> {
        let text = v.get(key)?.get(log.time_column())?.as_str()?;
        gatehouse_model::time::parse_timestamp(text)
            .ok()?
            .timestamp_nanos_opt()
    };
    Some(TimeBounds {
        rows: v.get("numRecords")?.as_u64()?,
        min_time_ns: time("minValues")?,
        max_time_ns: time("maxValues")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::compute::{max_string, min_string};

    /// The one-pass bounds are arrow's: values sharing their first eight bytes, prefixes of each
    /// other, empty, non-ASCII, with and without nulls.
    #[test]
    fn string_bounds_are_the_least_and_greatest_values() {
        let pool = [
            "",
            "a",
            "ab",
            "abcdefgh",
            "abcdefgh\u{0}",
            "abcdefghi",
            "abcdefghj",
            "abcdefgg",
            "b",
            "zz",
            "é",
            "éa",
            "\u{7f}",
            "00000000-0000",
            "00000000-0001",
            "ffffffff",
        ];
        let mut seed = 7u64;
        for round in 0..500 {
            let n = 1 + round % 40;
            let values: Vec<Option<&str>> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let pick = (seed >> 33) as usize;
                    (!pick.is_multiple_of(7) || round % 3 == 0).then(|| pool[pick % pool.len()])
                })
                .collect();
            let a = StringArray::from(values.clone());
            let want = min_string(&a).zip(max_string(&a));
            assert_eq!(string_bounds(&a), want, "{values:?}");
        }
        assert_eq!(
            string_bounds(&StringArray::from(vec![None::<&str>; 3])),
            None
        );
    }
}
