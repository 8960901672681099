//! Content hashes: what makes two stored records "the same".
//!
//! Two records are duplicates only when they would store the same row, not merely when they share
//! an `id`: real exports hold different records under one id (Log Analytics logs an interactive
//! sign-in again after MFA, with another `authenticationRequirement`). Every row therefore
//! carries `_contentHash`, a 64-bit hash of its stored values, and ingest skips a record only when
//! a row with the same `id` *and* the same content hash is stored already.
//!
//! The hash is part of the stored format (it is compared with hashes written by earlier runs), so
//! it is defined exactly and never changes (format 1):
//!
//! - it covers every Graph column and `_extra` (fields the schema does not know), in schema order,
//!   and none of Gatehouse's other columns (`_tenantId` is the partition, `_ingestedAt` and
//!   `_source` say how the record arrived, `_envelope` is the transport around it);
//! - a null value contributes nothing, so a column added to the schema later leaves the hashes of
//!   stored rows unchanged;
//! - each present value is hashed with XXH3-64 seeded by its column path (strings by their UTF-8
//!   bytes, numbers, booleans and timestamps by their 8-byte little-endian value), a present struct
//!   or list adds a marker (with the list's length) before its members, and the values of a row
//!   are folded in order.
//!
//! The hash is not a cryptographic one: someone who can put records into the pipeline and knows a
//! record before it arrives could make another record with its id hide it. The `id` is part of
//! the duplicate test, so unrelated records never collide.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray,
    MapArray, StructArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Fields, TimeUnit};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The columns (besides the Graph ones) whose values are content.
const CONTENT_SYSTEM_COLUMNS: &[&str] = &[gatehouse_model::schema::EXTRA_COLUMN];

/// Whether a top-level column takes part in the content hash.
pub fn is_content_column(name: &str) -> bool {
    !name.starts_with('_') || CONTENT_SYSTEM_COLUMNS.contains(&name)
}

/// The content hash of every row of `columns` (the arrays of a table batch, with their `fields`).
pub fn content_hashes(fields: &Fields, columns: &[ArrayRef], rows: usize) -> Vec<u64> {
    let mut hashes = vec![0u64; rows];
    for (field, array) in fields.iter().zip(columns) {
        // A column no row has contributes nothing (most Graph columns, in most batches).
        if !is_content_column(field.name()) || array.null_count() == array.len() {
            continue;
        }
        let values = value_hashes(
            field.data_type(),
            array.as_ref(),
            path_seed(0, field.name()),
        );
        fold_present(&mut hashes, &values, array.nulls());
    }
    hashes.into_iter().map(finish).collect()
}

/// Folds each present value's hash into its row's (nulls contribute nothing), reading the
/// validity bits directly rather than through `Array::is_valid` per row.
#[inline]
fn fold_present(hashes: &mut [u64], values: &[u64], nulls: Option<&arrow::buffer::NullBuffer>) {
    match nulls {
        None => {
            for (h, v) in hashes.iter_mut().zip(values) {
                *h = fold(*h, *v);
            }
        }
        Some(nulls) => {
            for ((h, v), valid) in hashes.iter_mut().zip(values).zip(nulls.iter()) {
                if valid {
                    *h = fold(*h, *v);
                }
            }
        }
    }
}

/// The seed of a column path: the parent's seed and the member's name.
fn path_seed(parent: u64, name: &str) -> u64 {
    xxh3_64_with_seed(name.as_bytes(), parent ^ 0x6761_7465_686f_7573)
}

/// Folds one value's hash into a row's.
#[inline]
fn fold(h: u64, v: u64) -> u64 {
    (h.rotate_left(5) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The last mixing step (murmur3's finaliser), so that every bit of the folds reaches every bit.
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn num(v: i64, seed: u64) -> u64 {
    xxh3_64_with_seed(&v.to_le_bytes(), seed)
}

/// The hash of every value of `array` (whatever for a null one: callers skip nulls), a column at
/// a time: each struct member and list item column is hashed whole, then folded into its parents.
fn value_hashes(data_type: &DataType, array: &dyn Array, seed: u64) -> Vec<u64> {
    let n = array.len();
    match data_type {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            let (offsets, bytes) = (a.value_offsets(), a.values().as_slice());
            (0..n)
                .map(|i| {
                    xxh3_64_with_seed(&bytes[offsets[i] as usize..offsets[i + 1] as usize], seed)
                })
                .collect()
        }
        DataType::Int32 => {
            let a: &Int32Array = array.as_primitive();
            a.values()
                .iter()
                .map(|v| num(i64::from(*v), seed))
                .collect()
        }
        DataType::Int64 => {
            let a: &Int64Array = array.as_primitive();
            a.values().iter().map(|v| num(*v, seed)).collect()
        }
        DataType::Float64 => {
            let a: &Float64Array = array.as_primitive();
            a.values()
                .iter()
                .map(|v| num(v.to_bits() as i64, seed))
                .collect()
        }
        DataType::Boolean => {
            let a: &BooleanArray = array.as_boolean();
            (0..n).map(|i| num(i64::from(a.value(i)), seed)).collect()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a: &TimestampMicrosecondArray = array.as_primitive();
            a.values().iter().map(|v| num(*v, seed)).collect()
        }
        DataType::Struct(members) => {
            let s: &StructArray = array.as_struct();
            let mut out = vec![num(-1, seed); n];
            for (m, c) in members.iter().zip(s.columns()) {
                if c.null_count() == c.len() {
                    continue;
                }
                let child = value_hashes(m.data_type(), c.as_ref(), path_seed(seed, m.name()));
                fold_present(&mut out, &child, c.nulls());
            }
            out
        }
        DataType::List(item) => {
            let l: &ListArray = array.as_list::<i32>();
            let items = l.values();
            let child = value_hashes(item.data_type(), items.as_ref(), path_seed(seed, "[]"));
            let offsets = l.value_offsets();
            let item_nulls = items.nulls();
            (0..n)
                .map(|i| {
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let mut h = num((end - start) as i64, seed);
                    for (j, item) in child.iter().enumerate().take(end).skip(start) {
                        // A null item still takes its place in the list.
                        let valid = item_nulls.is_none_or(|n| n.is_valid(j));
                        h = fold(h, if valid { *item } else { 0 });
                    }
                    h
                })
                .collect()
        }
        DataType::Map(entries, _) => {
            let m: &MapArray = array.as_map();
            let DataType::Struct(kv) = entries.data_type() else {
                return display_hashes(array, seed);
            };
            let (keys, values) = (m.keys(), m.values());
            let key_hashes = value_hashes(kv[0].data_type(), keys.as_ref(), path_seed(seed, "key"));
            let value_hashes_ =
                value_hashes(kv[1].data_type(), values.as_ref(), path_seed(seed, "value"));
            let offsets = m.value_offsets();
            (0..n)
                .map(|i| {
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let mut h = num((end - start) as i64, seed);
                    for (j, (k, v)) in key_hashes
                        .iter()
                        .zip(&value_hashes_)
                        .enumerate()
                        .take(end)
                        .skip(start)
                    {
                        h = fold(h, if keys.is_valid(j) { *k } else { 0 });
                        h = fold(h, if values.is_valid(j) { *v } else { 0 });
                    }
                    h
                })
                .collect()
        }
        _ => display_hashes(array, seed),
    }
}

/// A type the stored schemas do not use: each value hashed by its display form.
fn display_hashes(array: &dyn Array, seed: u64) -> Vec<u64> {
    (0..array.len())
        .map(|i| {
            let shown = arrow::util::display::array_value_to_string(array, i).unwrap_or_default();
            xxh3_64_with_seed(shown.as_bytes(), seed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{SystemFields, TableBuilder};
    use arrow::record_batch::RecordBatch;
    use gatehouse_model::{LogKind, TableSchema};
    use serde_json::json;

    fn batch(records: &[serde_json::Value], sys: &SystemFields<'_>) -> RecordBatch {
        let mut b = TableBuilder::new(&TableSchema::of(LogKind::SignIns));
        for r in records {
            b.append(r.as_object().unwrap(), "createdDateTime", sys)
                .unwrap();
        }
        b.finish()
    }

    const PINNED: [u64; 2] = [7_052_509_875_764_178_868, 15_293_720_289_628_194_903];

    fn hashes(records: &[serde_json::Value]) -> Vec<u64> {
        let b = batch(records, &SystemFields::TEST);
        content_hashes(b.schema().fields(), b.columns(), b.num_rows())
    }

    /// The hash is part of the stored format: these values were computed by format 1 as first
    /// written, and a change that alters them breaks every store's duplicate test.
    #[test]
    fn the_format_is_pinned() {
        let got = hashes(&[
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {"errorCode": 50126, "failureReason": "bad"},
                "riskEventTypes_v2": ["x", null, "y"], "deviceDetail": {"browser": "Edge"},
                "brandNew": {"n": 1}}),
            json!({"id": "b", "createdDateTime": "2024-01-01T00:00:00Z"}),
        ]);
        assert_eq!(got, PINNED);
    }

    #[test]
    fn equal_content_equal_hash_any_difference_another() {
        let base = json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
            "status": {"errorCode": 0}, "riskEventTypes_v2": ["x", "y"], "brandNew": 1});
        let variants = [
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {"errorCode": 0}, "riskEventTypes_v2": ["x", "y"], "brandNew": 1}),
            json!({"id": "b", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {"errorCode": 0}, "riskEventTypes_v2": ["x", "y"], "brandNew": 1}),
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:01Z",
                "status": {"errorCode": 0}, "riskEventTypes_v2": ["x", "y"], "brandNew": 1}),
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {"errorCode": 1}, "riskEventTypes_v2": ["x", "y"], "brandNew": 1}),
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {"errorCode": 0}, "riskEventTypes_v2": ["y", "x"], "brandNew": 1}),
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {"errorCode": 0}, "riskEventTypes_v2": ["x", "y"], "brandNew": 2}),
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {}, "riskEventTypes_v2": ["x", "y"], "brandNew": 1}),
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
                "status": {"errorCode": 0}, "riskEventTypes_v2": [], "brandNew": 1}),
            // One value moved to another column.
            json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z", "appId": "x",
                "status": {"errorCode": 0}, "riskEventTypes_v2": ["y"], "brandNew": 1}),
        ];
        let mut all = vec![base];
        all.extend(variants);
        let h = hashes(&all);
        assert_eq!(h[0], h[1], "the same record");
        for (i, v) in h.iter().enumerate().skip(2) {
            assert_ne!(h[0], *v, "variant {i} differs from the base");
        }
        let distinct: std::collections::HashSet<_> = h[1..].iter().collect();
        assert_eq!(distinct.len(), h.len() - 1);
    }

    #[test]
    fn how_a_record_arrived_is_not_content() {
        let r = [json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z", "appId": "x"})];
        let env = serde_json::Map::from_iter([("time".to_string(), json!("t"))]);
        let other = SystemFields {
            tenant_id: "t",
            ingested_at_ns: 123_456_789_000,
            source: "diagnostic:SignInLogs",
            envelope: Some(&env),
        };
        let a = batch(&r, &SystemFields::TEST);
        let b = batch(&r, &other);
        assert_eq!(
            content_hashes(a.schema().fields(), a.columns(), 1),
            content_hashes(b.schema().fields(), b.columns(), 1)
        );
    }

    #[test]
    fn the_hash_is_stable() {
        // Stored hashes are compared with new ones: this value must never change.
        let h = hashes(
            &[json!({"id": "a", "createdDateTime": "2024-01-01T00:00:00Z",
            "status": {"errorCode": 50126}, "riskEventTypes_v2": ["x"], "isInteractive": true})],
        );
        assert_eq!(h[0], STABLE_HASH, "{:#x}", h[0]);
    }

    const STABLE_HASH: u64 = 0x881c_7fbb_d4fa_3bb5;
}
