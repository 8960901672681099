//! Arrow rows → JSON, for `gatehouse sql --format json`, record read-back and the Graph API.
//!
//! Works for any Arrow type a query can produce. Columns marked as JSON in the schema
//! (`gatehouse.json` metadata) are parsed back into the JSON they held; timestamps are written the
//! way Graph writes them (`2024-01-13T14:13:32.1234567Z`). [`record_to_json`] rebuilds a stored
//! record exactly: the Graph columns, then the `_extra` fields laid over them; [`RecordWriter`]
//! writes the same record as JSON text straight from the arrays, for pages and exports.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, LargeListArray, ListArray,
    MapArray, StructArray,
};
use arrow::datatypes::{DataType, Field, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use gatehouse_model::schema::{EXTRA_COLUMN, JSON_METADATA_KEY};
use gatehouse_model::time::format_timestamp;
use serde_json::{Map, Number, Value};

mod record_writer;

pub use record_writer::{GraphJson, Properties, RecordWriter};

/// A value as one CSV cell: empty for null, a string as itself, anything else (numbers, booleans,
/// nested objects and lists) as its JSON text.
pub fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Every row of a batch as a JSON object keyed by column name.
pub fn batch_to_json_rows(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|row| {
            schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, col)| (f.name().clone(), value_at(f, col, row)))
                .collect()
        })
        .collect()
}

/// Rebuilds the Graph record stored in `row`: Graph columns (system columns starting with `_` are
/// left out), with the `_extra` fields (unknown fields, and originals of fields the columns could
/// not hold exactly) laid over them.
pub fn record_to_json(batch: &RecordBatch, row: usize) -> Map<String, Value> {
    let schema = batch.schema();
    let mut out = Map::new();
    let mut extra = None;
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        if f.name() == EXTRA_COLUMN {
            if let Value::Object(e) = value_at(f, col, row) {
                extra = Some(e);
            }
            continue;
        }
        if f.name().starts_with('_') {
            continue;
        }
        out.insert(f.name().clone(), value_at(f, col, row));
    }
    if let Some(extra) = extra {
        for (k, v) in extra {
            out.insert(k, v);
        }
    }
    out
}

fn is_json(field: &Field) -> bool {
    field
        .metadata()
        .get(JSON_METADATA_KEY)
        .is_some_and(|v| v == "true")
}

/// The JSON value of one cell.
pub fn value_at(field: &Field, array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(
            array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .is_some_and(|a| a.value(row)),
        ),
        DataType::Int8 => num_i(
            array
                .as_primitive::<arrow::datatypes::Int8Type>()
                .value(row) as i64,
        ),
        DataType::Int16 => num_i(
            array
                .as_primitive::<arrow::datatypes::Int16Type>()
                .value(row) as i64,
        ),
        DataType::Int32 => num_i(
            array
                .as_primitive::<arrow::datatypes::Int32Type>()
                .value(row) as i64,
        ),
        DataType::Int64 => num_i(
            array
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(row),
        ),
        DataType::UInt8 => num_i(
            array
                .as_primitive::<arrow::datatypes::UInt8Type>()
                .value(row) as i64,
        ),
        DataType::UInt16 => num_i(
            array
                .as_primitive::<arrow::datatypes::UInt16Type>()
                .value(row) as i64,
        ),
        DataType::UInt32 => num_i(
            array
                .as_primitive::<arrow::datatypes::UInt32Type>()
                .value(row) as i64,
        ),
        DataType::UInt64 => Value::Number(
            array
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .value(row)
                .into(),
        ),
        DataType::Float32 => num_f(
            array
                .as_primitive::<arrow::datatypes::Float32Type>()
                .value(row) as f64,
        ),
        DataType::Float64 => num_f(
            array
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(row),
        ),
        DataType::Utf8 => string_value(field, array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => string_value(field, array.as_string::<i64>().value(row)),
        DataType::Utf8View => string_value(field, array.as_string_view().value(row)),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => array
                    .as_primitive::<arrow::datatypes::TimestampSecondType>()
                    .value(row)
                    .checked_mul(1_000_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                    .value(row)
                    .checked_mul(1_000_000),
                TimeUnit::Microsecond => array
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(row)
                    .checked_mul(1_000),
                TimeUnit::Nanosecond => Some(
                    array
                        .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                        .value(row),
                ),
            };
            match v {
                Some(ns) => Value::String(format_timestamp(
                    &chrono::DateTime::from_timestamp_nanos(ns),
                )),
                None => display(array, row),
            }
        }
        DataType::Struct(fields) => {
            let s = array
                .as_any()
                .downcast_ref::<StructArray>()
                .expect("struct array");
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), value_at(f, c, row)))
                    .collect(),
            )
        }
        DataType::List(item) => {
            let l = array
                .as_any()
                .downcast_ref::<ListArray>()
                .expect("list array");
            list_values(item, &l.value(row))
        }
        DataType::LargeList(item) => {
            let l = array
                .as_any()
                .downcast_ref::<LargeListArray>()
                .expect("list array");
            list_values(item, &l.value(row))
        }
        DataType::FixedSizeList(item, _) => {
            let l = array
                .as_any()
                .downcast_ref::<FixedSizeListArray>()
                .expect("list array");
            list_values(item, &l.value(row))
        }
        DataType::Map(_, _) => {
            let m = array
                .as_any()
                .downcast_ref::<MapArray>()
                .expect("map array");
            let entries = m.value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            let key_field = Field::new("key", keys.data_type().clone(), true);
            let value_field = Field::new("value", values.data_type().clone(), true);
            let mut obj = Map::new();
            for i in 0..entries.len() {
                let k = match value_at(&key_field, keys, i) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                obj.insert(k, value_at(&value_field, values, i));
            }
            Value::Object(obj)
        }
        _ => display(array, row),
    }
}

fn list_values(item: &Field, values: &ArrayRef) -> Value {
    Value::Array(
        (0..values.len())
            .map(|i| value_at(item, values, i))
            .collect(),
    )
}

fn string_value(field: &Field, s: &str) -> Value {
    if is_json(field) {
        if let Ok(v) = serde_json::from_str(s) {
            return v;
        }
    }
    Value::String(s.to_string())
}

fn num_i(n: i64) -> Value {
    Value::Number(n.into())
}

fn num_f(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn display(array: &ArrayRef, row: usize) -> Value {
    let opts = FormatOptions::default();
    match ArrayFormatter::try_new(array.as_ref(), &opts) {
        Ok(f) => Value::String(f.value(row).to_string()),
        Err(_) => Value::Null,
    }
}
