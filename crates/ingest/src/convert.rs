//! JSON records → Arrow columns, driven by the explicit table schema.
//!
//! [`TableBuilder`] appends Graph-shaped objects to typed column buffers ([`crate::columns`]). A
//! record with a wrong type is rejected whole (with the path of the offending field) and the
//! columns stay consistent. Top-level fields the schema does not know, and known fields whose
//! nested objects carry members the schema does not know, are copied verbatim into the `_extra`
//! JSON column, so reading a record back gives every field it had.
//!
//! Records arrive as `serde_json` objects ([`TableBuilder::append`], which checks the whole
//! record and then appends it, so that it can word any error), as a tape of the source text
//! ([`TableBuilder::append_tape`], the fast path), or as the bare text itself
//! ([`TableBuilder::append_direct`], the direct path, in the `direct` module). The last two
//! append in one walk and give up ([`Bail`]) wherever the object version would reject the record
//! (the direct path far more often); they then cut every column back to the previous row, so
//! rejections are always worded by the general path and a record given up leaves no trace.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, MapArray, StringArray,
    StructArray,
};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int32Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use gatehouse_formats::tape::{NodeKind, Tape};
use gatehouse_model::schema::{Column, ColumnKind, TableSchema};
use gatehouse_model::time::parse_timestamp;
use serde_json::{Map, Value};

use crate::columns::{Fixed, Offsets, Strings, Validity};
use crate::content;

mod direct;

pub use direct::DirectRow;

/// One column (or struct member) being built.
enum ColBuilder {
    Str(Strings),
    Json {
        strings: Strings,
        /// Reused to write each value.
        scratch: String,
    },
    I32(Fixed<i32>),
    I64(Fixed<i64>),
    F64(Fixed<f64>),
    Bool(Fixed<bool>),
    /// Nanoseconds since the epoch, UTC.
    Ts(Fixed<i64>),
    StrMap {
        keys: Strings,
        values: Strings,
        lists: Offsets,
    },
    List {
        child: Box<ColBuilder>,
        lists: Offsets,
    },
    Struct {
        members: Vec<(&'static str, ColBuilder)>,
        valid: Validity,
        /// The fast path's guess of which member each key position holds (see [`member_at`]).
        order: Vec<u8>,
        /// Members (by bit) whose digits-only strings are Conditional Access condition bitmasks
        /// that the general path rewrites (the direct path gives such records up).
        bitmasks: u64,
    },
}

/// Whether a value fits its column exactly or needs its original kept in `_extra`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    Exact,
    /// Stored, but the typed column loses something (unknown nested members).
    Lossy,
}

impl Fit {
    fn and(self, other: Fit) -> Fit {
        if self == Fit::Exact && other == Fit::Exact {
            Fit::Exact
        } else {
            Fit::Lossy
        }
    }
}

impl ColBuilder {
    fn new(kind: &ColumnKind) -> ColBuilder {
        match kind {
            ColumnKind::Str => ColBuilder::Str(Strings::default()),
            ColumnKind::Json => ColBuilder::Json {
                strings: Strings::default(),
                scratch: String::new(),
            },
            ColumnKind::Int32 => ColBuilder::I32(Fixed::default()),
            ColumnKind::Int64 => ColBuilder::I64(Fixed::default()),
            ColumnKind::Float64 => ColBuilder::F64(Fixed::default()),
            ColumnKind::Bool => ColBuilder::Bool(Fixed::default()),
            ColumnKind::Timestamp => ColBuilder::Ts(Fixed::default()),
            ColumnKind::StrMap => ColBuilder::StrMap {
                keys: Strings::default(),
                values: Strings::default(),
                lists: Offsets::default(),
            },
            ColumnKind::List(item) => ColBuilder::List {
                child: Box::new(ColBuilder::new(item)),
                lists: Offsets::default(),
            },
            ColumnKind::Struct(cols) => ColBuilder::Struct {
                members: cols
                    .iter()
                    .map(|c| (c.name, ColBuilder::new(&c.kind)))
                    .collect(),
                valid: Validity::default(),
                order: Vec::new(),
                bitmasks: cols
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| {
                        matches!(c.name, "conditionsSatisfied" | "conditionsNotSatisfied")
                    })
                    .fold(0, |bits, (m, _)| {
                        bits | 1u64.checked_shl(m as u32).unwrap_or(0)
                    }),
            },
        }
    }

    fn append_null(&mut self) {
        match self {
            ColBuilder::Str(b) | ColBuilder::Json { strings: b, .. } => b.push_null(),
            ColBuilder::I32(b) => b.push_null(),
            ColBuilder::I64(b) => b.push_null(),
            ColBuilder::F64(b) => b.push_null(),
            ColBuilder::Bool(b) => b.push_option(None),
            ColBuilder::Ts(b) => b.push_null(),
            ColBuilder::StrMap { lists, .. } | ColBuilder::List { lists, .. } => lists.push_null(),
            ColBuilder::Struct { members, valid, .. } => {
                for (_, m) in members.iter_mut() {
                    m.append_null();
                }
                valid.push(false);
            }
        }
    }

    /// Appends `n` nulls, as `n` calls of [`ColBuilder::append_null`] would.
    fn append_nulls(&mut self, n: usize) {
        match self {
            ColBuilder::Str(b) | ColBuilder::Json { strings: b, .. } => b.push_nulls(n),
            ColBuilder::I32(b) => b.push_nulls(n),
            ColBuilder::I64(b) => b.push_nulls(n),
            ColBuilder::F64(b) => b.push_nulls(n),
            ColBuilder::Bool(b) => b.push_nulls(n),
            ColBuilder::Ts(b) => b.push_nulls(n),
            ColBuilder::StrMap { lists, .. } | ColBuilder::List { lists, .. } => {
                lists.push_nulls(n)
            }
            ColBuilder::Struct { members, valid, .. } => {
                for (_, m) in members.iter_mut() {
                    m.append_nulls(n);
                }
                valid.push_nulls(n);
            }
        }
    }

    /// Keeps the first `n` values (and, in lists and maps, the items they hold).
    fn truncate(&mut self, n: usize) {
        match self {
            ColBuilder::Str(b) | ColBuilder::Json { strings: b, .. } => b.truncate(n),
            ColBuilder::I32(b) => b.truncate(n),
            ColBuilder::I64(b) => b.truncate(n),
            ColBuilder::F64(b) => b.truncate(n),
            ColBuilder::Bool(b) => b.truncate(n),
            ColBuilder::Ts(b) => b.truncate(n),
            ColBuilder::StrMap {
                keys,
                values,
                lists,
            } => {
                let items = lists.truncate(n);
                keys.truncate(items);
                values.truncate(items);
            }
            ColBuilder::List { child, lists } => {
                let items = lists.truncate(n);
                child.truncate(items);
            }
            ColBuilder::Struct { members, valid, .. } => {
                valid.truncate(n);
                for (_, m) in members.iter_mut() {
                    m.truncate(n);
                }
            }
        }
    }

    /// Checks that `v` can be appended; says how exactly, or why not (`path` names the field).
    fn check(&self, v: &Value, path: &mut String) -> Result<Fit, String> {
        if v.is_null() {
            return Ok(Fit::Exact);
        }
        match self {
            ColBuilder::Str(_) => match v {
                Value::String(_) => Ok(Fit::Exact),
                _ => Err(type_error(path, "a string", v)),
            },
            ColBuilder::Json { .. } => Ok(Fit::Exact),
            ColBuilder::I32(_) => as_i64(v)
                .filter(|n| i32::try_from(*n).is_ok())
                .map(|_| Fit::Exact)
                .ok_or_else(|| type_error(path, "a 32-bit integer", v)),
            ColBuilder::I64(_) => as_i64(v)
                .map(|_| Fit::Exact)
                .ok_or_else(|| type_error(path, "an integer", v)),
            ColBuilder::F64(_) => as_f64(v)
                .map(|_| Fit::Exact)
                .ok_or_else(|| type_error(path, "a number", v)),
            ColBuilder::Bool(_) => as_bool(v)
                .map(|_| Fit::Exact)
                .ok_or_else(|| type_error(path, "true or false", v)),
            ColBuilder::Ts(_) => match v {
                Value::String(s) => parse_timestamp(s)
                    .map(|_| Fit::Exact)
                    .map_err(|e| format!("field `{path}`: {e}")),
                _ => Err(type_error(path, "a timestamp string", v)),
            },
            ColBuilder::StrMap { .. } => match v {
                Value::Object(o) => {
                    for (k, val) in o {
                        if !(val.is_string() || val.is_null()) {
                            let len = path.len();
                            path.push('.');
                            path.push_str(k);
                            let e = type_error(path, "a string", val);
                            path.truncate(len);
                            return Err(e);
                        }
                    }
                    Ok(Fit::Exact)
                }
                _ => Err(type_error(path, "an object of strings", v)),
            },
            ColBuilder::List { child, .. } => match v {
                Value::Array(items) => {
                    let mut fit = Fit::Exact;
                    let len = path.len();
                    for (i, item) in items.iter().enumerate() {
                        path.push_str(&format!("[{i}]"));
                        let r = child.check(item, path);
                        path.truncate(len);
                        fit = fit.and(r?);
                    }
                    Ok(fit)
                }
                _ => Err(type_error(path, "an array", v)),
            },
            ColBuilder::Struct { members, .. } => match v {
                Value::Object(o) => {
                    let mut fit = Fit::Exact;
                    let len = path.len();
                    for (k, val) in o {
                        match members.iter().find(|(name, _)| *name == k) {
                            Some((_, m)) => {
                                path.push('.');
                                path.push_str(k);
                                let r = m.check(val, path);
                                path.truncate(len);
                                fit = fit.and(r?);
                            }
                            None => fit = Fit::Lossy,
                        }
                    }
                    Ok(fit)
                }
                _ => Err(type_error(path, "an object", v)),
            },
        }
    }

    /// Appends a value that passed [`ColBuilder::check`].
    fn append(&mut self, v: Option<&Value>) {
        let v = match v {
            None | Some(Value::Null) => return self.append_null(),
            Some(v) => v,
        };
        match self {
            ColBuilder::Str(b) => b.push_option(v.as_str()),
            ColBuilder::Json { strings, scratch } => strings.push_with(scratch, |s| {
                // Writing into a `String` cannot fail.
                let _ = write!(s, "{v}");
            }),
            ColBuilder::I32(b) => b.push_option(as_i64(v).and_then(|n| i32::try_from(n).ok())),
            ColBuilder::I64(b) => b.push_option(as_i64(v)),
            ColBuilder::F64(b) => b.push_option(as_f64(v)),
            ColBuilder::Bool(b) => b.push_option(as_bool(v)),
            ColBuilder::Ts(b) => b.push_option(
                v.as_str()
                    .and_then(|s| parse_timestamp(s).ok())
                    .and_then(|t| t.timestamp_nanos_opt()),
            ),
            ColBuilder::StrMap {
                keys,
                values,
                lists,
            } => {
                for (k, val) in v.as_object().into_iter().flatten() {
                    keys.push(k);
                    values.push_option(val.as_str());
                }
                lists.push(keys.len());
            }
            ColBuilder::List { child, lists } => {
                let items = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
                for item in items {
                    child.append(Some(item));
                }
                lists.push(lists.items() + items.len());
            }
            ColBuilder::Struct { members, valid, .. } => {
                let o = v.as_object();
                for (name, m) in members.iter_mut() {
                    m.append(o.and_then(|o| o.get(*name)));
                }
                valid.push(true);
            }
        }
    }

    /// The values so far as an array of `data_type`; the builder starts again empty.
    fn finish(&mut self, data_type: &DataType) -> ArrayRef {
        match self {
            ColBuilder::Str(b) | ColBuilder::Json { strings: b, .. } => Arc::new(b.finish()),
            ColBuilder::I32(b) => Arc::new(b.finish_primitive::<Int32Type>()),
            ColBuilder::I64(b) => Arc::new(b.finish_primitive::<Int64Type>()),
            ColBuilder::F64(b) => Arc::new(b.finish_primitive::<Float64Type>()),
            ColBuilder::Bool(b) => Arc::new(b.finish_boolean()),
            ColBuilder::Ts(b) => Arc::new(b.finish_timestamps()),
            ColBuilder::StrMap {
                keys,
                values,
                lists,
            } => {
                let DataType::Map(entries_field, sorted) = data_type else {
                    unreachable!("StrMap is a Map")
                };
                let DataType::Struct(entry_fields) = entries_field.data_type() else {
                    unreachable!("map entries are a struct")
                };
                let entries = StructArray::new(
                    entry_fields.clone(),
                    vec![Arc::new(keys.finish()), Arc::new(values.finish())],
                    None,
                );
                let (offsets, nulls) = lists.finish();
                Arc::new(MapArray::new(
                    entries_field.clone(),
                    offsets,
                    entries,
                    nulls,
                    *sorted,
                ))
            }
            ColBuilder::List { child, lists } => {
                let DataType::List(item_field) = data_type else {
                    unreachable!("List is a List")
                };
                let values = child.finish(item_field.data_type());
                let (offsets, nulls) = lists.finish();
                Arc::new(ListArray::new(item_field.clone(), offsets, values, nulls))
            }
            ColBuilder::Struct { members, valid, .. } => {
                let DataType::Struct(fields) = data_type else {
                    unreachable!("Struct is a Struct")
                };
                let len = valid.len();
                let arrays: Vec<ArrayRef> = members
                    .iter_mut()
                    .zip(fields.iter())
                    .map(|((_, m), f)| m.finish(f.data_type()))
                    .collect();
                let nulls = valid.finish();
                if arrays.is_empty() {
                    Arc::new(StructArray::new_empty_fields(len, nulls))
                } else {
                    Arc::new(StructArray::new(fields.clone(), arrays, nulls))
                }
            }
        }
    }
}

/// The fast path could not take a record; the general path must (and words any error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bail;

/// No node (a missing field).
const NO_NODE: u32 = u32::MAX;

/// Key positions whose column the fast path remembers from record to record.
const MAX_PREDICTED_KEYS: usize = 256;

/// Struct members handled by the fast path's fixed-size scratch (every Graph type has fewer).
const MAX_STRUCT_MEMBERS: usize = 64;

/// `as_i64` for a tape node: the same numbers, and strings holding them.
fn tape_i64(t: &Tape, text: &str, i: usize) -> Option<i64> {
    match t.node(i).kind {
        NodeKind::Number => int_literal(t.raw(text, i)),
        NodeKind::String => int_in_text(&t.str(text, i)),
        _ => None,
    }
}

/// `as_f64` for a tape node.
fn tape_f64(t: &Tape, text: &str, i: usize) -> Option<f64> {
    match t.node(i).kind {
        NodeKind::Number => float_literal(t.raw(text, i)),
        NodeKind::String => float_in_text(&t.str(text, i)),
        _ => None,
    }
}

/// `as_bool` for a tape node.
fn tape_bool(t: &Tape, text: &str, i: usize) -> Option<bool> {
    match t.node(i).kind {
        NodeKind::True => Some(true),
        NodeKind::False => Some(false),
        NodeKind::String => bool_in_text(&t.str(text, i)),
        _ => None,
    }
}

/// Writes node `i` as `serde_json::Value::to_string` would: compact, object keys sorted and
/// unique (the last wins), strings re-escaped, floats in their shortest form.
fn write_compact_json(t: &Tape, text: &str, i: usize, out: &mut String) {
    let node = t.node(i);
    match node.kind {
        NodeKind::Null => out.push_str("null"),
        NodeKind::True => out.push_str("true"),
        NodeKind::False => out.push_str("false"),
        NodeKind::Number => {
            let raw = t.raw(text, i);
            let plain_int = raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') && raw != "-0";
            match (plain_int, raw.parse::<i64>(), raw.parse::<u64>()) {
                (true, Ok(n), _) => out.push_str(&n.to_string()),
                (true, _, Ok(n)) => out.push_str(&n.to_string()),
                _ => {
                    let f = raw.parse::<f64>().unwrap_or(f64::NAN);
                    out.push_str(&serde_json::Value::from(f).to_string())
                }
            }
        }
        NodeKind::String => {
            if node.escaped {
                out.push_str(&Value::String(t.str(text, i).into_owned()).to_string());
            } else {
                // Unescaped content has no quote, backslash or control character to escape.
                out.push('"');
                out.push_str(t.raw(text, i));
                out.push('"');
            }
        }
        NodeKind::Array => {
            out.push('[');
            for (n, item) in t.items(i).enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_compact_json(t, text, item, out);
            }
            out.push(']');
        }
        NodeKind::Object => {
            let mut members: Vec<(std::borrow::Cow<'_, str>, usize)> =
                t.members(i).map(|(k, v)| (t.str(text, k), v)).collect();
            // Stable: equal keys keep document order, so the last of a run is the one kept.
            members.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            let mut first = true;
            for (n, (key, value)) in members.iter().enumerate() {
                if members.get(n + 1).is_some_and(|next| next.0 == *key) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&Value::String(key.to_string()).to_string());
                out.push(':');
                write_compact_json(t, text, *value, out);
            }
            out.push('}');
        }
    }
}

/// Which member key node `k`, at position `pos` of its object, names. Records of one source
/// list members in the same order, so `order` remembers the member seen at each position and
/// most lookups cost one comparison.
#[inline]
fn member_at(
    members: &[(&'static str, ColBuilder)],
    order: &mut Vec<u8>,
    t: &Tape,
    text: &str,
    pos: usize,
    k: usize,
) -> Option<usize> {
    if let Some(&m) = order.get(pos) {
        if let Some((name, _)) = members.get(m as usize) {
            if t.key_is(text, k, name) {
                return Some(m as usize);
            }
        }
    }
    let found = members.iter().position(|(name, _)| t.key_is(text, k, name));
    remember_member(order, pos, found);
    found
}

/// Remembers that key position `pos` of a struct held member `found` (positions past 256 are
/// not remembered: every Graph type has fewer members).
#[inline]
fn remember_member(order: &mut Vec<u8>, pos: usize, found: Option<usize>) {
    if pos < 256 {
        if order.len() <= pos {
            order.resize(pos + 1, u8::MAX);
        }
        order[pos] = found.map_or(u8::MAX, |m| m as u8);
    }
}

/// Remembers that top-level key position `pos` held column `found`. Bounded, so one record with
/// countless keys does not pin memory in a builder that lives for the whole ingest.
#[inline]
fn remember_column(key_order: &mut Vec<u32>, pos: usize, found: Option<usize>) {
    if pos < MAX_PREDICTED_KEYS {
        if pos >= key_order.len() {
            key_order.resize(pos + 1, NO_NODE);
        }
        key_order[pos] = found.map_or(NO_NODE, |c| c as u32);
    }
}

/// Ends one present struct value: the members it did not have (`seen` holds a bit for each
/// one it had) get nulls.
#[inline]
fn close_struct(members: &mut [(&'static str, ColBuilder)], valid: &mut Validity, seen: u64) {
    // Every member's bit (none for a struct without members).
    let all = u64::MAX
        .checked_shr(u64::BITS - members.len() as u32)
        .unwrap_or(0);
    let mut missing = all & !seen;
    while missing != 0 {
        members[missing.trailing_zeros() as usize].1.append_null();
        missing &= missing - 1;
    }
    valid.push(true);
}

impl ColBuilder {
    /// Appends tape node `i` in one walk: what [`ColBuilder::check`] then [`ColBuilder::append`]
    /// store for the same value, or `Bail` wherever `check` would refuse it (or the fast path does
    /// not handle the value). After a `Bail` this column may hold part of the value: the caller
    /// cuts every column back with [`ColBuilder::truncate`].
    fn put_tape(&mut self, t: &Tape, text: &str, i: usize) -> Result<Fit, Bail> {
        let node = *t.node(i);
        if node.kind == NodeKind::Null {
            self.append_null();
            return Ok(Fit::Exact);
        }
        match self {
            ColBuilder::Str(b) => {
                if node.kind != NodeKind::String {
                    return Err(Bail);
                }
                if node.escaped {
                    b.push(&t.str(text, i));
                } else {
                    b.push(t.raw(text, i));
                }
            }
            ColBuilder::Json { strings, scratch } => {
                if !t.numbers_finite(text, i) {
                    return Err(Bail);
                }
                strings.push_with(scratch, |s| write_compact_json(t, text, i, s));
            }
            ColBuilder::I32(b) => b.push(
                tape_i64(t, text, i)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or(Bail)?,
            ),
            ColBuilder::I64(b) => b.push(tape_i64(t, text, i).ok_or(Bail)?),
            ColBuilder::F64(b) => b.push(tape_f64(t, text, i).ok_or(Bail)?),
            ColBuilder::Bool(b) => b.push_option(Some(tape_bool(t, text, i).ok_or(Bail)?)),
            ColBuilder::Ts(b) => {
                if node.kind != NodeKind::String {
                    return Err(Bail);
                }
                let time = parse_timestamp(&t.str(text, i)).map_err(|_| Bail)?;
                // As on the general path: a time too far out for nanoseconds is stored as null.
                b.push_option(time.timestamp_nanos_opt());
            }
            // Maps are ordered by key on the general path; the fast path takes only empty ones.
            ColBuilder::StrMap { lists, .. } => {
                if node.kind != NodeKind::Object || node.len != 0 {
                    return Err(Bail);
                }
                lists.push(lists.items());
            }
            ColBuilder::List { child, lists } => {
                if node.kind != NodeKind::Array {
                    return Err(Bail);
                }
                let mut fit = Fit::Exact;
                for item in t.items(i) {
                    fit = fit.and(child.put_tape(t, text, item)?);
                }
                lists.push(lists.items() + node.len as usize);
                return Ok(fit);
            }
            ColBuilder::Struct {
                members,
                valid,
                order,
                ..
            } => {
                if node.kind != NodeKind::Object || members.len() > MAX_STRUCT_MEMBERS {
                    return Err(Bail);
                }
                let mut fit = Fit::Exact;
                let mut seen = 0u64;
                for (pos, (k, v)) in t.members(i).enumerate() {
                    match member_at(members, order, t, text, pos, k) {
                        Some(m) => {
                            if seen & (1 << m) != 0 {
                                return Err(Bail); // a repeated member
                            }
                            seen |= 1 << m;
                            fit = fit.and(members[m].1.put_tape(t, text, v)?);
                        }
                        None => fit = Fit::Lossy,
                    }
                }
                close_struct(members, valid, seen);
                return Ok(fit);
            }
        }
        Ok(Fit::Exact)
    }
}

// The rules for numbers and booleans, shared by both paths (the `as_*` functions for
// `serde_json` values, the `tape_*` functions for tape nodes), so that they cannot drift apart.

/// A whole float small enough to be exact as an integer.
fn whole(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// The integer a JSON number literal holds, as `serde_json` reads it (whole floats included).
fn int_literal(raw: &str) -> Option<i64> {
    if raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        raw.parse().ok()
    } else {
        raw.parse::<f64>().ok().and_then(whole)
    }
}

/// The finite float a JSON number literal holds.
fn float_literal(raw: &str) -> Option<f64> {
    raw.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// An integer sent as a string (a diagnostic export quirk).
fn int_in_text(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

/// A finite number sent as a string.
fn float_in_text(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `true` or `false`, in any case, sent as a string.
fn bool_in_text(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => int_in_text(s),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => float_in_text(s),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => bool_in_text(s),
        _ => None,
    }
}

fn type_error(path: &str, expected: &str, found: &Value) -> String {
    let shown = match found {
        Value::String(s) => {
            let s: String = s.chars().take(40).collect();
            format!("the string {s:?}")
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        other => other.to_string(),
    };
    format!("field `{path}`: expected {expected}, found {shown}")
}

/// Whether a record's `id` is unusable: empty or only whitespace (every path stores such a record
/// under an id derived from its content, as one without an id).
pub(crate) fn is_blank_id(id: &str) -> bool {
    id.trim().is_empty()
}

/// The Gatehouse columns appended to each record besides its Graph fields.
#[derive(Debug, Clone)]
pub struct SystemFields<'a> {
    /// Tenant partition.
    pub tenant_id: &'a str,
    /// Ingest time, ns since the epoch.
    pub ingested_at_ns: i64,
    /// Export shape.
    pub source: &'a str,
    /// Diagnostic / Log Analytics envelope.
    pub envelope: Option<&'a Map<String, Value>>,
}

#[cfg(test)]
impl SystemFields<'static> {
    /// Tenant `t`, ingested at 0, from Graph JSON: what the store's unit tests append with.
    pub(crate) const TEST: SystemFields<'static> = SystemFields {
        tenant_id: "t",
        ingested_at_ns: 0,
        source: "graph",
        envelope: None,
    };
}

/// Builds one table's record batch from Graph-shaped objects.
pub struct TableBuilder {
    schema: SchemaRef,
    graph: Vec<ColBuilder>,
    names: Vec<&'static str>,
    index: std::collections::HashMap<&'static str, usize>,
    tenant: Strings,
    ingested: Fixed<i64>,
    source: Strings,
    envelope: Strings,
    extra: Strings,
    rows: usize,
    /// Scratch space reused between records.
    slots: Vec<Option<usize>>,
    /// The fast path's scratch: each column's value node in the current record.
    tape_slots: Vec<u32>,
    /// The index of the `id` column.
    id_column: Option<usize>,
    /// The column each key position held in the previous record (keys usually come in the same
    /// order, so most lookups are one comparison).
    key_order: Vec<u32>,
    /// What the direct path needs to know, for tables whose records can take it.
    direct: Option<direct::DirectPlan>,
}

/// What [`TableBuilder::append_tape`] learned about a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeAppended<'a> {
    /// The record's `id`.
    pub id: std::borrow::Cow<'a, str>,
}

/// A row the fast path appended: its `id`, and what goes to `_extra`.
type TapeRow<'a> = (std::borrow::Cow<'a, str>, Option<Map<String, Value>>);

/// What [`TableBuilder::append`] learned about a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The record's `id`; `None` when it has none (or a blank one), and is stored under one
    /// derived from its content.
    pub id: Option<String>,
    /// Its event time, ns since the epoch (UTC).
    pub time_ns: i64,
}

impl TableBuilder {
    /// An empty builder for a table.
    pub fn new(table: &TableSchema) -> TableBuilder {
        let cols: &[Column] = &table.columns;
        TableBuilder {
            schema: table.arrow_schema(),
            graph: cols.iter().map(|c| ColBuilder::new(&c.kind)).collect(),
            names: cols.iter().map(|c| c.name).collect(),
            index: cols.iter().enumerate().map(|(i, c)| (c.name, i)).collect(),
            tenant: Strings::default(),
            ingested: Fixed::default(),
            source: Strings::default(),
            envelope: Strings::default(),
            extra: Strings::default(),
            rows: 0,
            slots: vec![None; cols.len()],
            tape_slots: vec![NO_NODE; cols.len()],
            id_column: cols.iter().position(|c| c.name == "id"),
            key_order: Vec::new(),
            direct: direct::DirectPlan::of(table),
        }
    }

    /// Rows appended since the last [`TableBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no rows are pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Checks a record (`id` and event time present, every known field of the right type), then
    /// appends it. On error nothing is appended.
    pub fn append(
        &mut self,
        body: &Map<String, Value>,
        time_column: &str,
        sys: &SystemFields<'_>,
    ) -> Result<Appended, String> {
        let id = match body.get("id") {
            Some(Value::String(s)) if !is_blank_id(s) => Some(s.clone()),
            // Stored under an id derived from its content when the batch is finished.
            Some(Value::Null) | Some(Value::String(_)) | None => None,
            Some(other) => return Err(type_error("id", "a string", other)),
        };
        let time_ns = match body.get(time_column) {
            Some(Value::String(s)) => parse_timestamp(s)
                .map_err(|e| format!("field `{time_column}`: {e}"))?
                .timestamp_nanos_opt()
                .ok_or_else(|| format!("field `{time_column}`: out of range"))?,
            None | Some(Value::Null) => return Err(format!("missing `{time_column}`")),
            Some(other) => return Err(type_error(time_column, "a timestamp string", other)),
        };
        self.fill_deferred_nulls();
        self.slots.iter_mut().for_each(|s| *s = None);
        let mut extra: Option<Map<String, Value>> = None;
        let mut path = String::new();
        for (pos, (k, v)) in body.iter().enumerate() {
            match self.index.get(k.as_str()) {
                Some(&i) => {
                    path.clear();
                    path.push_str(k);
                    if self.graph[i].check(v, &mut path)? == Fit::Lossy {
                        extra
                            .get_or_insert_with(Map::new)
                            .insert(k.clone(), v.clone());
                    }
                    self.slots[i] = Some(pos);
                }
                None => {
                    extra
                        .get_or_insert_with(Map::new)
                        .insert(k.clone(), v.clone());
                }
            }
        }
        // All checks passed: append (a blank id as none, so that it is derived).
        let values: Vec<&Value> = body.values().collect();
        for (i, b) in self.graph.iter_mut().enumerate() {
            let value = self.slots[i].map(|p| values[p]);
            b.append(value.filter(|_| Some(i) != self.id_column || id.is_some()));
        }
        self.append_system(sys, extra);
        Ok(Appended { id, time_ns })
    }

    /// [`TableBuilder::append`] for the object at node `obj` of a tape, whose event time
    /// (`time_column`) the caller already parsed to `time_ns`. Appends exactly what `append`
    /// would for the same record, or nothing and `Bail` when the general path must take it.
    pub fn append_tape<'a>(
        &mut self,
        tape: &Tape,
        text: &'a str,
        obj: usize,
        time_column: &str,
        time_ns: i64,
        sys: &SystemFields<'_>,
    ) -> Result<TapeAppended<'a>, Bail> {
        self.fill_deferred_nulls();
        match self.put_tape_row(tape, text, obj, time_column, time_ns) {
            Ok((id, extra)) => {
                self.append_system(sys, extra);
                Ok(TapeAppended { id })
            }
            Err(Bail) => {
                // Cut back whatever part of the record was appended.
                for b in &mut self.graph {
                    b.truncate(self.rows);
                }
                Err(Bail)
            }
        }
    }

    /// Appends the Graph columns of one record in a single walk over its members; the row's
    /// `id` and what goes to `_extra`. On `Bail` the columns hold part of the row.
    fn put_tape_row<'a>(
        &mut self,
        tape: &Tape,
        text: &'a str,
        obj: usize,
        time_column: &str,
        time_ns: i64,
    ) -> Result<TapeRow<'a>, Bail> {
        self.tape_slots.iter_mut().for_each(|s| *s = NO_NODE);
        let mut extra: Option<Map<String, Value>> = None;
        let mut keep_raw = |key: std::borrow::Cow<'_, str>, v: usize| -> Result<(), Bail> {
            let value: Value = serde_json::from_str(tape.json(text, v)).map_err(|_| Bail)?;
            extra
                .get_or_insert_with(Map::new)
                .insert(key.into_owned(), value);
            Ok(())
        };
        let mut id = None;
        let mut has_time = false;
        // Looked up once per record rather than compared at every key.
        let time_col = self.index.get(time_column).copied();
        for (pos, (k, v)) in tape.members(obj).enumerate() {
            let predicted = self.key_order.get(pos).copied().unwrap_or(NO_NODE);
            let column =
                if predicted != NO_NODE && tape.key_is(text, k, self.names[predicted as usize]) {
                    Some(predicted as usize)
                } else {
                    let found = self.index.get(&*tape.str(text, k)).copied();
                    remember_column(&mut self.key_order, pos, found);
                    found
                };
            let Some(c) = column else {
                keep_raw(tape.str(text, k), v)?;
                continue;
            };
            if self.tape_slots[c] != NO_NODE {
                return Err(Bail); // a repeated key
            }
            self.tape_slots[c] = v as u32;
            if Some(c) == self.id_column {
                id = Some(v);
            }
            if Some(c) == time_col {
                // Parsed by the caller.
                let ColBuilder::Ts(b) = &mut self.graph[c] else {
                    return Err(Bail);
                };
                b.push(time_ns);
                has_time = true;
                continue;
            }
            if self.graph[c].put_tape(tape, text, v)? == Fit::Lossy {
                keep_raw(tape.str(text, k), v)?;
            }
        }
        let id = match id {
            Some(v) if tape.node(v).kind == NodeKind::String => tape.str(text, v),
            _ => return Err(Bail),
        };
        if is_blank_id(&id) {
            return Err(Bail);
        }
        if !has_time {
            return Err(Bail);
        }
        for (b, slot) in self.graph.iter_mut().zip(&self.tape_slots) {
            if *slot == NO_NODE {
                b.append_null();
            }
        }
        Ok((id, extra))
    }

    /// Appends a row's Gatehouse columns (after its Graph columns) and counts the row.
    fn append_system(&mut self, sys: &SystemFields<'_>, extra: Option<Map<String, Value>>) {
        self.tenant.push(sys.tenant_id);
        self.ingested.push(sys.ingested_at_ns);
        self.source.push(sys.source);
        match sys.envelope {
            Some(env) if !env.is_empty() => {
                self.envelope.push(&Value::Object(env.clone()).to_string())
            }
            _ => self.envelope.push_null(),
        }
        match extra {
            Some(e) => self.extra.push(&Value::Object(e).to_string()),
            None => self.extra.push_null(),
        }
        self.rows += 1;
    }

    /// Keeps the first `n` rows (takes back rows appended after a count of `n`).
    pub fn truncate_rows(&mut self, n: usize) {
        if n >= self.rows {
            return;
        }
        self.fill_deferred_nulls();
        for b in &mut self.graph {
            b.truncate(n);
        }
        self.tenant.truncate(n);
        self.ingested.truncate(n);
        self.source.truncate(n);
        self.envelope.truncate(n);
        self.extra.truncate(n);
        self.rows = n;
    }

    /// The names of the Graph columns, in order.
    pub fn column_names(&self) -> &[&'static str] {
        &self.names
    }

    /// Takes the pending rows as a record batch; the builder starts again empty (and can be
    /// reused: its buffers keep the size the last batch needed).
    pub fn finish(&mut self) -> RecordBatch {
        self.fill_deferred_nulls();
        let fields: &Fields = self.schema.fields();
        let mut arrays: Vec<ArrayRef> = self
            .graph
            .iter_mut()
            .zip(fields.iter())
            .map(|(b, f): (&mut ColBuilder, &Arc<Field>)| b.finish(f.data_type()))
            .collect();
        arrays.push(Arc::new(self.tenant.finish()));
        arrays.push(Arc::new(self.ingested.finish_timestamps()));
        arrays.push(Arc::new(self.source.finish()));
        arrays.push(Arc::new(self.envelope.finish()));
        arrays.push(Arc::new(self.extra.finish()));
        let rows = std::mem::take(&mut self.rows);
        let hashes = content::content_hashes(fields, &arrays, rows);
        let mut derived = Validity::default();
        if let Some(i) = self.id_column {
            if arrays[i].null_count() > 0 {
                let (ids, marks) = derive_ids(arrays[i].as_string::<i32>(), &hashes);
                arrays[i] = Arc::new(ids);
                derived = marks;
            }
        }
        arrays.push(Arc::new(Int64Array::from_iter_values(
            hashes.iter().map(|h| *h as i64),
        )));
        if derived.is_empty() {
            derived.push_nulls(rows);
        }
        arrays.push(Arc::new(BooleanArray::new(
            BooleanBuffer::new_set(rows),
            derived.finish(),
        )));
        RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("builders follow the schema they were made from")
    }
}

/// The id of a record stored without one: `derived-` and its content hash in hex.
pub fn derived_id(content_hash: u64) -> String {
    format!("derived-{content_hash:016x}")
}

/// The `id` column with every null replaced by the id derived from the row's content hash, and
/// the `_idDerived` marks (`true` where derived, null elsewhere).
fn derive_ids(ids: &StringArray, hashes: &[u64]) -> (StringArray, Validity) {
    let mut marks = Validity::default();
    let out: StringArray = (0..ids.len())
        .map(|i| {
            marks.push(ids.is_null(i));
            Some(if ids.is_null(i) {
                derived_id(hashes[i])
            } else {
                ids.value(i).to_string()
            })
        })
        .collect();
    (out, marks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Int64Type;
    use gatehouse_model::LogKind;
    use serde_json::json;

    fn sys() -> SystemFields<'static> {
        SystemFields::TEST
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn wrong_type_rejects_whole_record_and_keeps_builders_consistent() {
        let t = TableSchema::of(LogKind::SignIns);
        let mut b = TableBuilder::new(&t);
        let good = obj(
            json!({"id": "1", "createdDateTime": "2024-01-01T00:00:00Z", "status": {"errorCode": 0}}),
        );
        let bad = obj(
            json!({"id": "2", "createdDateTime": "2024-01-01T00:00:00Z", "appId": "x", "status": {"errorCode": "nope"}}),
        );
        b.append(&good, "createdDateTime", &sys()).unwrap();
        let err = b.append(&bad, "createdDateTime", &sys()).unwrap_err();
        assert!(err.contains("status.errorCode"), "{err}");
        assert!(err.contains("32-bit integer"), "{err}");
        b.append(&good, "createdDateTime", &sys()).unwrap();
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
    }

    #[test]
    fn unknown_fields_go_to_extra() {
        let t = TableSchema::of(LogKind::SignIns);
        let mut b = TableBuilder::new(&t);
        let rec = obj(
            json!({"id": "1", "createdDateTime": "2024-01-01T00:00:00Z", "brandNew": {"x": 1},
            "status": {"errorCode": 0, "newMember": true}}),
        );
        b.append(&rec, "createdDateTime", &sys()).unwrap();
        let batch = b.finish();
        let extra = batch
            .column_by_name("_extra")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .value(0)
            .to_string();
        let extra: Value = serde_json::from_str(&extra).unwrap();
        assert_eq!(extra["brandNew"], json!({"x": 1}));
        assert_eq!(extra["status"], json!({"errorCode": 0, "newMember": true}));
    }

    #[test]
    fn missing_id_or_time() {
        let t = TableSchema::of(LogKind::Audits);
        let mut b = TableBuilder::new(&t);
        // No id, or a blank one: stored, under an id derived from the content.
        for record in [
            json!({"activityDateTime": "2024-01-01T00:00:00Z", "category": "a"}),
            json!({"id": " ", "activityDateTime": "2024-01-01T00:00:00Z", "category": "b"}),
            json!({"id": null, "activityDateTime": "2024-01-01T00:00:00Z", "category": "a"}),
            json!({"id": "real", "activityDateTime": "2024-01-01T00:00:00Z", "category": "a"}),
        ] {
            let appended = b.append(&obj(record), "activityDateTime", &sys()).unwrap();
            assert_eq!(
                appended.id.is_some(),
                appended.id.as_deref() == Some("real")
            );
        }
        let batch = b.finish();
        let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
        let hashes = batch
            .column_by_name(gatehouse_model::schema::CONTENT_HASH_COLUMN)
            .unwrap()
            .as_primitive::<Int64Type>();
        let derived = batch
            .column_by_name(gatehouse_model::schema::ID_DERIVED_COLUMN)
            .unwrap()
            .as_boolean();
        for row in 0..3 {
            assert_eq!(ids.value(row), derived_id(hashes.value(row) as u64));
            assert!(derived.is_valid(row) && derived.value(row));
        }
        assert_eq!(ids.value(3), "real");
        assert!(derived.is_null(3));
        // The same content without an id gets the same id, however the id was missing.
        assert_eq!(ids.value(0), ids.value(2));
        assert_ne!(ids.value(0), ids.value(1));
        assert!(ids.value(0).starts_with("derived-") && ids.value(0).len() == 24);
        assert!(b
            .append(
                &obj(json!({"id": 5, "activityDateTime": "2024-01-01T00:00:00Z"})),
                "activityDateTime",
                &sys()
            )
            .unwrap_err()
            .contains("expected a string"));
        assert!(b
            .append(
                &obj(json!({"id": "a", "activityDateTime": "soon"})),
                "activityDateTime",
                &sys()
            )
            .unwrap_err()
            .contains("unrecognised timestamp"));
    }

    #[test]
    fn a_struct_without_members_takes_objects() {
        let kind = ColumnKind::Struct(Vec::new());
        let mut b = ColBuilder::new(&kind);
        let mut tape = Tape::new();
        for (text, fit) in [("{}", Fit::Exact), (r#"{"a":1}"#, Fit::Lossy)] {
            tape.parse(text).unwrap();
            assert_eq!(b.put_tape(&tape, text, 0), Ok(fit));
        }
        tape.parse("null").unwrap();
        assert_eq!(b.put_tape(&tape, "null", 0), Ok(Fit::Exact));
        let array = b.finish(&DataType::Struct(Fields::empty()));
        assert_eq!(array.len(), 3);
        assert_eq!(array.null_count(), 1);
    }
}
