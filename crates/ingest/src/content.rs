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
    MapArray, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
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
        let node = Node::of(field, array, path_seed(0, field.name()));
        for (row, h) in hashes.iter_mut().enumerate() {
            if let Some(v) = node.hash(row) {
                *h = fold(*h, v);
            }
        }
    }
    hashes.into_iter().map(finish).collect()
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

/// A column (or struct member, or list item) with its typed array, ready to hash values by index.
enum Node<'a> {
    Str(&'a StringArray, u64),
    I32(&'a Int32Array, u64),
    I64(&'a Int64Array, u64),
    F64(&'a Float64Array, u64),
    Bool(&'a BooleanArray, u64),
    Ts(&'a TimestampMicrosecondArray, u64),
    Struct(&'a StructArray, u64, Vec<Node<'a>>),
    List(&'a ListArray, u64, Box<Node<'a>>),
    Map(&'a MapArray, u64, Box<Node<'a>>, Box<Node<'a>>),
    /// A type the stored schemas do not use: hashed by its display form.
    Other(&'a dyn Array, u64),
}

impl<'a> Node<'a> {
    fn of(field: &Field, array: &'a ArrayRef, seed: u64) -> Node<'a> {
        Self::of_array(field.data_type(), array.as_ref(), seed)
    }

    fn of_array(data_type: &DataType, array: &'a dyn Array, seed: u64) -> Node<'a> {
        match data_type {
            DataType::Utf8 => Node::Str(array.as_string::<i32>(), seed),
            DataType::Int32 => Node::I32(array.as_primitive(), seed),
            DataType::Int64 => Node::I64(array.as_primitive(), seed),
            DataType::Float64 => Node::F64(array.as_primitive(), seed),
            DataType::Boolean => Node::Bool(array.as_boolean(), seed),
            DataType::Timestamp(TimeUnit::Microsecond, _) => Node::Ts(array.as_primitive(), seed),
            DataType::Struct(members) => {
                let s = array.as_struct();
                let children = members
                    .iter()
                    .zip(s.columns())
                    .filter(|(_, c)| c.null_count() < c.len())
                    .map(|(m, c)| Node::of(m, c, path_seed(seed, m.name())))
                    .collect();
                Node::Struct(s, seed, children)
            }
            DataType::List(item) => {
                let l = array.as_list::<i32>();
                let child = Node::of(item, l.values(), path_seed(seed, "[]"));
                Node::List(l, seed, Box::new(child))
            }
            DataType::Map(entries, _) => {
                let m = array.as_map();
                let DataType::Struct(kv) = entries.data_type() else {
                    return Node::Other(array, seed);
                };
                let keys = Node::of(&kv[0], m.keys(), path_seed(seed, "key"));
                let values = Node::of(&kv[1], m.values(), path_seed(seed, "value"));
                Node::Map(m, seed, Box::new(keys), Box::new(values))
            }
            _ => Node::Other(array, seed),
        }
    }

    /// The hash of the value at `i`, `None` when it is null.
    fn hash(&self, i: usize) -> Option<u64> {
        let num = |v: i64, seed: u64| xxh3_64_with_seed(&v.to_le_bytes(), seed);
        Some(match self {
            Node::Str(a, seed) => {
                a.is_valid(i).then_some(())?;
                xxh3_64_with_seed(a.value(i).as_bytes(), *seed)
            }
            Node::I32(a, seed) => num(i64::from(a.is_valid(i).then(|| a.value(i))?), *seed),
            Node::I64(a, seed) => num(a.is_valid(i).then(|| a.value(i))?, *seed),
            Node::F64(a, seed) => num(a.is_valid(i).then(|| a.value(i))?.to_bits() as i64, *seed),
            Node::Bool(a, seed) => num(i64::from(a.is_valid(i).then(|| a.value(i))?), *seed),
            Node::Ts(a, seed) => num(a.is_valid(i).then(|| a.value(i))?, *seed),
            Node::Struct(a, seed, children) => {
                a.is_valid(i).then_some(())?;
                let mut h = num(-1, *seed);
                for c in children {
                    if let Some(v) = c.hash(i) {
                        h = fold(h, v);
                    }
                }
                h
            }
            Node::List(a, seed, child) => {
                a.is_valid(i).then_some(())?;
                let offsets = a.value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                let mut h = num((end - start) as i64, *seed);
                for j in start..end {
                    // A null item still takes its place in the list.
                    h = fold(h, child.hash(j).unwrap_or(0));
                }
                h
            }
            Node::Map(a, seed, keys, values) => {
                a.is_valid(i).then_some(())?;
                let offsets = a.value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                let mut h = num((end - start) as i64, *seed);
                for j in start..end {
                    h = fold(h, keys.hash(j).unwrap_or(0));
                    h = fold(h, values.hash(j).unwrap_or(0));
                }
                h
            }
            Node::Other(a, seed) => {
                a.is_valid(i).then_some(())?;
                let shown = arrow::util::display::array_value_to_string(*a, i).unwrap_or_default();
                xxh3_64_with_seed(shown.as_bytes(), *seed)
            }
        })
    }
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

    fn hashes(records: &[serde_json::Value]) -> Vec<u64> {
        let b = batch(records, &SystemFields::TEST);
        content_hashes(b.schema().fields(), b.columns(), b.num_rows())
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
