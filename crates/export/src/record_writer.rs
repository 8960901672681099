//! Stored rows straight to Graph JSON text, column by column.
//!
//! [`record_to_json`](crate::record_to_json) builds a `serde_json` tree per row, which is simple
//! but costs an allocation per field; pages and exports of millions of sign-ins instead write the
//! text directly from the Arrow arrays with arrow-json's encoders, made once per batch. The result
//! is the same record: Graph columns in column order, timestamps the way Graph writes them, JSON
//! columns as the JSON they hold, and the `_extra` fields laid over the columns.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, GenericStringArray, OffsetSizeTrait, StringViewArray};
use arrow::datatypes::{DataType, FieldRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::json::writer::{make_encoder, Encoder, EncoderFactory, EncoderOptions, NullableEncoder};
use arrow::record_batch::RecordBatch;
use gatehouse_model::schema::{EXTRA_COLUMN, JSON_METADATA_KEY};
use serde_json::value::RawValue;

/// Which top-level properties a written record has.
#[derive(Debug, Clone, Copy)]
pub enum Properties<'a> {
    /// Every Graph column (system columns starting with `_` left out) and every field kept in
    /// `_extra`.
    All,
    /// Only these, among the columns and the `_extra` fields, in column order.
    Only(&'a HashSet<&'static str>),
    /// Exactly these, in this order (`$select`); a property the row does not have is `null`.
    Select(&'a [String]),
}

/// Encoder settings for Graph JSON: explicit nulls, Graph's timestamps, JSON columns as JSON.
/// Made once and lent to each batch's [`RecordWriter`].
#[derive(Debug, Clone)]
pub struct GraphJson {
    options: EncoderOptions,
}

impl Default for GraphJson {
    fn default() -> Self {
        GraphJson {
            options: EncoderOptions::default()
                .with_explicit_nulls(true)
                .with_encoder_factory(Arc::new(GraphEncoders)),
        }
    }
}

impl GraphJson {
    /// A writer of `batch`'s rows with the `properties` asked for.
    pub fn writer<'a>(
        &'a self,
        batch: &'a RecordBatch,
        properties: Properties<'a>,
    ) -> Result<RecordWriter<'a>, ArrowError> {
        let schema = batch.schema_ref();
        let column = |name: &str| schema.index_of(name).ok();
        let mut props = Vec::new();
        let mut add = |name: &'a str, index: Option<usize>| -> Result<(), ArrowError> {
            let encoder = match index {
                Some(i) => Some(make_encoder(
                    &schema.fields()[i],
                    batch.column(i).as_ref(),
                    &self.options,
                )?),
                None => None,
            };
            let mut key = Vec::with_capacity(name.len() + 3);
            write_json_string(name, &mut key);
            key.push(b':');
            props.push(Property { name, key, encoder });
            Ok(())
        };
        match properties {
            Properties::All | Properties::Only(_) => {
                for (i, f) in schema.fields().iter().enumerate() {
                    let name = f.name().as_str();
                    let wanted = match properties {
                        Properties::Only(set) => set.contains(name),
                        _ => !name.starts_with('_'),
                    };
                    if wanted {
                        add(name, Some(i))?;
                    }
                }
            }
            Properties::Select(names) => {
                for name in names {
                    add(name.as_str(), column(name))?;
                }
            }
        }
        let extra = match column(EXTRA_COLUMN) {
            Some(i) => ExtraColumn::of(batch.column(i).as_ref()),
            None => None,
        };
        Ok(RecordWriter {
            props,
            extra,
            properties,
        })
    }
}

/// Writes the rows of one batch as Graph JSON objects.
pub struct RecordWriter<'a> {
    props: Vec<Property<'a>>,
    extra: Option<ExtraColumn<'a>>,
    properties: Properties<'a>,
}

struct Property<'a> {
    name: &'a str,
    /// `"name":`, escaped once.
    key: Vec<u8>,
    /// `None` when the batch has no such column (the property is null unless `_extra` has it).
    encoder: Option<NullableEncoder<'a>>,
}

impl RecordWriter<'_> {
    /// Appends row `row` as one JSON object (no newline) to `out`.
    pub fn write(&mut self, row: usize, out: &mut Vec<u8>) {
        let mut extra = self.extra.as_ref().and_then(|e| e.fields(row));
        out.push(b'{');
        let mut first = true;
        for p in &mut self.props {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&p.key);
            if let Some(raw) = extra.as_mut().and_then(|e| e.remove(p.name)) {
                out.extend_from_slice(raw.get().as_bytes());
                continue;
            }
            match &mut p.encoder {
                Some(e) if !e.is_null(row) => e.encode(row, out),
                _ => out.extend_from_slice(b"null"),
            }
        }
        for (name, raw) in extra.into_iter().flatten() {
            let kept = match self.properties {
                Properties::All => true,
                Properties::Only(set) => set.contains(name.as_str()),
                // Every selected property was written above.
                Properties::Select(_) => false,
            };
            if kept {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_json_string(&name, out);
                out.push(b':');
                out.extend_from_slice(raw.get().as_bytes());
            }
        }
        out.push(b'}');
    }
}

/// The `_extra` column: a JSON object per row (or null) of fields laid over the columns.
enum ExtraColumn<'a> {
    Utf8(&'a GenericStringArray<i32>),
    LargeUtf8(&'a GenericStringArray<i64>),
    View(&'a StringViewArray),
}

impl<'a> ExtraColumn<'a> {
    fn of(array: &'a dyn Array) -> Option<Self> {
        match array.data_type() {
            DataType::Utf8 => Some(ExtraColumn::Utf8(array.as_string::<i32>())),
            DataType::LargeUtf8 => Some(ExtraColumn::LargeUtf8(array.as_string::<i64>())),
            DataType::Utf8View => Some(ExtraColumn::View(array.as_string_view())),
            _ => None,
        }
    }

    /// The fields of row `row`, `None` when it has none (or holds no JSON object).
    fn fields(&self, row: usize) -> Option<BTreeMap<String, Box<RawValue>>> {
        let text = match self {
            ExtraColumn::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            ExtraColumn::LargeUtf8(a) => a.is_valid(row).then(|| a.value(row)),
            ExtraColumn::View(a) => a.is_valid(row).then(|| a.value(row)),
        }?;
        serde_json::from_str(text).ok()
    }
}

/// Graph's encodings where they differ from arrow-json's: timestamps, and string columns that
/// hold JSON.
#[derive(Debug)]
struct GraphEncoders;

impl EncoderFactory for GraphEncoders {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let json = field
            .metadata()
            .get(JSON_METADATA_KEY)
            .is_some_and(|v| v == "true");
        let nulls = array.nulls().cloned();
        let encoder: Box<dyn Encoder + 'a> = match array.data_type() {
            DataType::Timestamp(unit, _) => Box::new(TimestampEncoder {
                values: timestamp_values(array, *unit),
                unit: *unit,
            }),
            DataType::Utf8 if json => Box::new(JsonTextEncoder(array.as_string::<i32>())),
            DataType::LargeUtf8 if json => Box::new(JsonTextEncoder(array.as_string::<i64>())),
            DataType::Utf8View if json => Box::new(JsonViewEncoder(array.as_string_view())),
            _ => return Ok(None),
        };
        Ok(Some(NullableEncoder::new(encoder, nulls)))
    }
}

fn timestamp_values(array: &dyn Array, unit: TimeUnit) -> &[i64] {
    use arrow::datatypes::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().values(),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().values(),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().values(),
    }
}

struct TimestampEncoder<'a> {
    values: &'a [i64],
    unit: TimeUnit,
}

impl Encoder for TimestampEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.values[idx];
        let (per_second, nanos_per_unit) = match self.unit {
            TimeUnit::Second => (1, 1_000_000_000),
            TimeUnit::Millisecond => (1_000, 1_000_000),
            TimeUnit::Microsecond => (1_000_000, 1_000),
            TimeUnit::Nanosecond => (1_000_000_000, 1),
        };
        let secs = v.div_euclid(per_second);
        let nanos = (v.rem_euclid(per_second) * nanos_per_unit) as u32;
        out.push(b'"');
        write_instant(secs, nanos, out);
        out.push(b'"');
    }
}

/// Writes a UTC instant as Graph does (`2024-01-13T14:13:32.1234567Z`: as many fractional digits
/// as needed), the same text as [`gatehouse_model::time::format_timestamp`].
fn write_instant(secs: i64, nanos: u32, out: &mut Vec<u8>) {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        let text = chrono::DateTime::from_timestamp(secs, nanos)
            .map(|t| gatehouse_model::time::format_timestamp(&t))
            .unwrap_or_default();
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let year = year as u32;
    let digits = |n: u32, width: usize, out: &mut Vec<u8>| {
        let mut buf = [b'0'; 9];
        let mut n = n;
        for i in (0..width).rev() {
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend_from_slice(&buf[..width]);
    };
    digits(year, 4, out);
    out.push(b'-');
    digits(month, 2, out);
    out.push(b'-');
    digits(day, 2, out);
    out.push(b'T');
    digits(of_day / 3600, 2, out);
    out.push(b':');
    digits(of_day / 60 % 60, 2, out);
    out.push(b':');
    digits(of_day % 60, 2, out);
    if nanos != 0 {
        let mut n = nanos;
        let mut width = 9;
        while n.is_multiple_of(10) {
            n /= 10;
            width -= 1;
        }
        out.push(b'.');
        digits(n, width, out);
    }
    out.push(b'Z');
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A string column holding JSON text: written as that JSON, or as a string when it is not JSON.
struct JsonTextEncoder<'a, O: OffsetSizeTrait>(&'a GenericStringArray<O>);

impl<O: OffsetSizeTrait> Encoder for JsonTextEncoder<'_, O> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        write_json_text(self.0.value(idx), out);
    }
}

struct JsonViewEncoder<'a>(&'a StringViewArray);

impl Encoder for JsonViewEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        write_json_text(self.0.value(idx), out);
    }
}

fn write_json_text(text: &str, out: &mut Vec<u8>) {
    if serde_json::from_str::<&RawValue>(text).is_ok() {
        out.extend_from_slice(text.trim().as_bytes());
    } else {
        write_json_string(text, out);
    }
}

/// Appends `s` as a JSON string literal.
fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_model::time::format_timestamp;

    #[test]
    fn instants_match_graph_formatting() {
        for (secs, nanos) in [
            (0, 0),
            (1_705_155_212, 123_456_700),
            (1_643_001_008, 681_666_300),
            (951_782_400, 1), // 2000-02-29
            (-1, 500_000_000),
            (253_402_300_799, 0), // 9999-12-31T23:59:59
            (4_102_444_800, 10),
        ] {
            let mut out = Vec::new();
            write_instant(secs, nanos, &mut out);
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), format_timestamp(&t));
        }
        // Every day of four centuries, leap years included.
        for day in -146_097..146_097i64 {
            let mut out = Vec::new();
            write_instant(day * 86_400 + 3_661, 0, &mut out);
            let t = chrono::DateTime::from_timestamp(day * 86_400 + 3_661, 0).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), format_timestamp(&t));
        }
    }
}
