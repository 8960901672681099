//! Reading one input end to end: open, sniff, split (JSON) or map rows (CSV), and hand batches of
//! raw or finished records to the caller, who parses raw ones on worker threads with
//! [`parse_item`].

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

use crate::input::{open, ByteCounter, InputFile};
use crate::mapped::MappedLines;
use crate::split::{is_lines_layout, sniff, Chunk, Sniffed, Splitter};
use crate::{csv_input, normalize, shape, FormatError, InputFormat, Origin, Record, Rejection};

/// What reading an input produces, in input order.
pub enum Batch {
    /// Raw JSON records still to be parsed (see [`parse_item`]).
    Raw {
        /// The file they came from.
        file: Arc<str>,
        /// The records.
        chunk: Chunk,
    },
    /// Records already mapped (CSV rows), with their lines.
    Parsed {
        /// The file they came from.
        file: Arc<str>,
        /// Each row's first line and its record or rejection reason.
        records: Vec<(u64, Result<Record, String>)>,
    },
    /// The input could not be read (further), with the reason.
    Failed(Rejection),
}

/// How many bytes of raw JSON to gather per batch. Every batch costs something whatever its
/// size (a map and unmap of its window, column buffers finished and freed, a message per
/// partition to the writer, whose encoding has a cost per call and column), so batches are
/// large: on the 1M-sign-in benchmark 16 MiB took 10% less CPU and 17% less time than 4 MiB,
/// for about 100 MB more peak memory (larger batches gained nothing more).
pub const CHUNK_BYTES: usize = 16 << 20;

/// How inputs are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read every input as this format instead of detecting it.
    pub format: Option<InputFormat>,
    /// Read uncompressed NDJSON files in place through memory maps ([`crate::mapped`]) rather
    /// than copying them into buffers. A mapped file must not shrink while it is read.
    pub map_files: bool,
    /// Bytes of input per batch ([`CHUNK_BYTES`]; smaller in tests that need several batches).
    pub chunk_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            map_files: true,
            chunk_bytes: CHUNK_BYTES,
        }
    }
}

/// Reads one input, calling `emit` with each batch. Per-record problems arrive as rejections
/// inside the batches; an input that cannot be read at all arrives as [`Batch::Failed`].
pub fn read_input(
    input: &InputFile,
    options: ReadOptions,
    counter: &ByteCounter,
    spare: &mut dyn FnMut() -> Vec<u8>,
    emit: &mut dyn FnMut(Batch),
) -> Result<(), FormatError> {
    let forced = options.format;
    let file = input.display.clone();
    let failed = |line: u64, reason: String| {
        Batch::Failed(Rejection {
            origin: Origin {
                file: file.clone(),
                line,
            },
            reason,
        })
    };
    let opened = open(input, counter)?;
    let gzip = opened.gzip;
    let (mut reader, mut progress) = (opened.reader, opened.progress);
    let sniffed = match sniff(&mut reader) {
        Ok(s) => s,
        Err(e) => {
            progress.update();
            emit(failed(
                1,
                format!("cannot read: {e} (corrupt or truncated gzip?)"),
            ));
            return Ok(());
        }
    };
    match sniffed {
        Sniffed::Empty => emit(failed(1, "empty file: no records".into())),
        Sniffed::Binary => emit(failed(
            1,
            "binary data: not JSON or CSV (is this a compressed format other than gzip?)".into(),
        )),
        Sniffed::Json => {
            let head = reader.fill_buf().map_err(|e| FormatError::Io {
                path: input.display.to_string(),
                source: e,
            })?;
            if let Some(mut lines) = mapped_lines(input, options, gzip, head) {
                let mut counted = 0;
                while let Some(chunk) = lines.next_chunk(options.chunk_bytes) {
                    counter.add(lines.position() - counted);
                    counted = lines.position();
                    emit(Batch::Raw {
                        file: file.clone(),
                        chunk,
                    });
                }
                counter.add(lines.position() - counted);
                return Ok(());
            }
            let mut splitter = Splitter::new(reader);
            while let Some(chunk) = splitter.next_chunk_into(options.chunk_bytes, spare()) {
                progress.update();
                emit(Batch::Raw {
                    file: file.clone(),
                    chunk,
                });
            }
        }
        Sniffed::Text => {
            let mut rows: Vec<(u64, Result<Record, String>)> = Vec::new();
            let name = input
                .path
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            let result = csv_input::read_csv(&mut reader, name.as_deref(), &mut |line, rec| {
                rows.push((line, rec.map(normalize::finish)));
                if rows.len() >= 8192 {
                    progress.update();
                    emit(Batch::Parsed {
                        file: file.clone(),
                        records: std::mem::take(&mut rows),
                    });
                }
            });
            if !rows.is_empty() {
                emit(Batch::Parsed {
                    file: file.clone(),
                    records: rows,
                });
            }
            if let Err(reason) = result {
                let what = if forced.is_some() {
                    ""
                } else {
                    " (not JSON; read as CSV)"
                };
                emit(failed(1, format!("{reason}{what}")));
            }
        }
    }
    progress.update();
    Ok(())
}

/// The input read in place when it can be: uncompressed bytes in memory in the lines layout, or
/// such a regular file when `options` allow mapping files.
fn mapped_lines(
    input: &InputFile,
    options: ReadOptions,
    gzip: bool,
    head: &[u8],
) -> Option<MappedLines> {
    if gzip || !is_lines_layout(head) {
        return None;
    }
    // Bytes in memory are read in place always (nothing can shrink them).
    if let (None, Some(data)) = (&input.path, &input.data) {
        return Some(MappedLines::memory(data.clone()));
    }
    if !options.map_files {
        return None;
    }
    let file = std::fs::File::open(input.path.as_ref()?).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    MappedLines::new(file).ok()
}

/// Parses one raw JSON record that starts at `line`, expands containers, and normalises each
/// record, appending `(line, record or reason)` to `out`.
pub fn parse_item(
    bytes: &[u8],
    line: u64,
    forced: Option<InputFormat>,
    out: &mut Vec<(u64, Result<Record, String>)>,
) {
    let parsed = match simdutf8::basic::from_utf8(bytes) {
        // Checked in one fast pass, so serde_json need not check every string again (it did, a
        // sixteenth of the general path's time). The same text gives the same value or error.
        Ok(text) => serde_json::from_str(text),
        // serde_json finds and words the bad bytes.
        Err(_) => serde_json::from_slice(bytes),
    };
    let value: serde_json::Value = match parsed {
        Ok(v) => v,
        Err(e)
            if e.classify() == serde_json::error::Category::Syntax
                && e.to_string().starts_with("recursion limit exceeded")
                && parse_container_by_element(bytes, line, forced, out) =>
        {
            return
        }
        Err(e) => {
            out.push(malformed(&e, line));
            return;
        }
    };
    expand_into(value, line, forced, out);
}

/// Expands a parsed top-level value and normalises each record, all at `line`.
fn expand_into(
    value: serde_json::Value,
    line: u64,
    forced: Option<InputFormat>,
    out: &mut Vec<(u64, Result<Record, String>)>,
) {
    let mut records = Vec::new();
    shape::expand(value, forced, &mut records);
    out.extend(
        records
            .into_iter()
            .map(|r| (line, r.map(normalize::finish))),
    );
}

/// The rejection of text that starts at `line` and does not parse.
fn malformed(e: &serde_json::Error, line: u64) -> (u64, Result<Record, String>) {
    let at = line + e.line().saturating_sub(1) as u64;
    let reason = match e.classify() {
        serde_json::error::Category::Eof => {
            format!(
                "malformed JSON: record is cut short (column {})",
                e.column()
            )
        }
        _ => format!("malformed JSON: {e}"),
    };
    (at, Err(reason))
}

/// A container (a `{"value": [...]}` page, a `{"records": [...]}` message) nested too deeply
/// somewhere to parse whole: parses its array's elements one by one, so that only the elements
/// nested too deeply are rejected (each at its own line) and the rest are stored. `false` when the
/// text is not such a container, or the depth is outside its array; the caller rejects it whole.
fn parse_container_by_element(
    bytes: &[u8],
    line: u64,
    forced: Option<InputFormat>,
    out: &mut Vec<(u64, Result<Record, String>)>,
) -> bool {
    use serde_json::value::RawValue;
    use serde_json::Value;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    // Raw values are skipped over without recursion, so the deep part does not stop this parse.
    let Ok(members) = serde_json::from_str::<BTreeMap<String, &RawValue>>(text) else {
        return false;
    };
    let Some((key, array)) = ["value", "records"]
        .into_iter()
        .find_map(|k| members.get(k).map(|v| (k, *v)))
    else {
        return false;
    };
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(array.get()) else {
        return false;
    };
    let mut page = serde_json::Map::new();
    for (name, raw) in &members {
        if name != key {
            let Ok(v) = serde_json::from_str::<Value>(raw.get()) else {
                return false;
            };
            page.insert(name.clone(), v);
        }
    }
    let (mut seen, mut at) = (0usize, line);
    for item in items {
        let raw = item.get();
        let offset = raw.as_ptr() as usize - text.as_ptr() as usize;
        at += memchr::memchr_iter(b'\n', &bytes[seen..offset]).count() as u64;
        seen = offset;
        match serde_json::from_str::<Value>(raw) {
            Ok(v) => {
                // The element inside a page of its own, so the page's context applies as before.
                let mut one = page.clone();
                one.insert(key.to_owned(), Value::Array(vec![v]));
                expand_into(Value::Object(one), at, forced, out);
            }
            Err(e) => out.push(malformed(&e, at)),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `(line, Ok(record id) or Err(reason))` of everything `parse_item` makes of `text`.
    fn parse(text: &str) -> Vec<(u64, Result<String, String>)> {
        let mut out = Vec::new();
        parse_item(text.as_bytes(), 10, None, &mut out);
        out.into_iter()
            .map(|(line, r)| {
                let r = r.map(|rec| rec.body["id"].as_str().unwrap_or("?").to_owned());
                (line, r)
            })
            .collect()
    }

    #[test]
    fn one_element_nested_too_deeply_costs_only_that_element() {
        let sign_in = |id: &str, extra: &str| {
            format!(
                r#"{{"id":"{id}","createdDateTime":"2026-11-01T10:00:00Z","userPrincipalName":"a@b.c"{extra}}}"#
            )
        };
        let deep = format!(r#","x":{}{}"#, "[".repeat(300), "]".repeat(300));
        for (key, context) in [
            (
                "value",
                r#""@odata.context":"https://graph.microsoft.com/beta/$metadata#auditLogs/signIns","#,
            ),
            ("records", ""),
        ] {
            let text = format!(
                "{{{context}\"{key}\":[\n{},\n{},\n{}]}}",
                sign_in("first", ""),
                sign_in("deep", &deep),
                sign_in("last", "")
            );
            let got = parse(&text);
            assert_eq!(got.len(), 3, "{key}: {got:?}");
            assert_eq!(got[0], (11, Ok("first".into())), "{key}");
            assert_eq!(got[2], (13, Ok("last".into())), "{key}");
            let (line, reason) = (&got[1].0, got[1].1.as_ref().unwrap_err());
            assert_eq!(*line, 12, "{key}: the deep element's own line");
            assert!(reason.contains("recursion limit"), "{reason}");
        }
        // Depth outside the array: the container is rejected whole, as before.
        let text = format!(
            r#"{{"deep":{}{},"value":[{}]}}"#,
            "[".repeat(300),
            "]".repeat(300),
            sign_in("only", "")
        );
        let got = parse(&text);
        assert_eq!(got.len(), 1);
        assert!(got[0].1.as_ref().unwrap_err().contains("recursion limit"));
    }

    /// Reads a file through `read_input`, mapped where it can be, again read into buffers, and
    /// its bytes as an input in memory; the counter's bytes and how many batches came out (the
    /// same bytes every way).
    fn count(path: &std::path::Path) -> (u64, usize) {
        let file = crate::input::expand_paths(&[path.display().to_string()])
            .unwrap()
            .remove(0);
        let memory = InputFile::memory("memory", std::fs::read(path).unwrap());
        let all = [(true, &file), (false, &file), (true, &memory)].map(|(map_files, input)| {
            let counter = ByteCounter::default();
            let mut batches = 0;
            let options = ReadOptions {
                map_files,
                chunk_bytes: 64 << 10,
                ..ReadOptions::default()
            };
            read_input(input, options, &counter, &mut Vec::new, &mut |_| {
                batches += 1
            })
            .unwrap();
            (counter.get(), batches)
        });
        assert_eq!(all[0].0, all[1].0, "bytes counted, mapped and read");
        assert_eq!(
            all[0].0, all[2].0,
            "bytes counted, from a file and from memory"
        );
        all[0]
    }

    #[test]
    fn every_byte_of_a_file_is_counted_plain_gzipped_or_csv() {
        let dir = tempfile::tempdir().unwrap();
        // Several chunks of NDJSON, so the count also moves while reading.
        let line = format!("{{\"id\":\"x\",\"pad\":\"{}\"}}\n", "p".repeat(1000));
        let ndjson = line.repeat((3 * (64 << 10)) / line.len() + 7);
        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, &ndjson).unwrap();
        let (bytes, batches) = count(&plain);
        assert_eq!(bytes, ndjson.len() as u64);
        assert!(batches >= 3, "{batches}");

        let gz = dir.path().join("a.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(ndjson.as_bytes()).unwrap();
        let compressed = enc.finish().unwrap();
        std::fs::write(&gz, &compressed).unwrap();
        // Progress counts the file as stored, not the decompressed text.
        assert_eq!(count(&gz).0, compressed.len() as u64);

        let csv = dir.path().join("a.csv");
        let text = "Id,Type\n".to_string() + &"1,SigninLogs\n".repeat(20_000);
        std::fs::write(&csv, &text).unwrap();
        assert_eq!(count(&csv).0, text.len() as u64);

        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(count(&empty), (0, 1));
    }
}
