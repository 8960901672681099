//! CSV inputs: Log Analytics exports and Entra admin center downloads.
//!
//! The header decides the mapping: an admin center download (`Date (UTC)`, `Request ID`, …, see
//! [`crate::portal`]), a Log Analytics export (`TimeGenerated`, `TenantId`, `Type`, …, see
//! [`crate::loganalytics`]) or the legacy admin center download (`CreatedDateTime,
//! UserPrincipalName,…`). Each row then becomes a record or a rejection of its own: a row with the
//! wrong number of cells, invalid UTF-8 or unmappable values is rejected without stopping the file.
//! Rows are numbered by the line they start on (1-based, the header is line 1), so quoted cells
//! spanning lines (the JSON cells of Log Analytics exports) do not shift the numbers. A UTF-8 BOM
//! is skipped.

use std::collections::VecDeque;
use std::io::{Cursor, Read};

use csv::{ByteRecord, ReaderBuilder};
use serde_json::Value;

use crate::portal::{PortalCsvKind, PortalHeader};
use crate::{loganalytics, shorten, Object, Record};

/// Reads a CSV file, calling `emit` with each row's first line (1-based, the header is line 1) and
/// its record or rejection reason. `file_name` (a path or bare name) lets an admin center download
/// be told apart by its name: `NonInteractiveSignIns_…` has the same header as
/// `InteractiveSignIns_…` (without a name the sign-ins are taken as interactive). A header-only or
/// empty file emits nothing and returns `Ok`. Returns `Err` only when the file as a whole cannot be
/// read as CSV: the header is unusable (not UTF-8 text, not comma-separated, no recognisable
/// columns, a download Gatehouse cannot store) or reading fails.
pub fn read_csv(
    reader: &mut dyn Read,
    file_name: Option<&str>,
    emit: &mut dyn FnMut(u64, Result<Record, String>),
) -> Result<(), String> {
    let prefix = read_prefix(reader)?;
    if prefix.starts_with(&[0xFF, 0xFE]) || prefix.starts_with(&[0xFE, 0xFF]) {
        return Err("line 1: the file is UTF-16 encoded; save it as UTF-8 CSV".to_string());
    }
    let start = if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let chained = Cursor::new(prefix[start..].to_vec()).chain(reader);
    let mut csv = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineTracker::new(chained));

    let mut record = ByteRecord::new();
    match csv.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(e) => return Err(format!("line 1: cannot read the CSV header: {e}")),
    }
    let header_line = first_line(&mut csv, &record);
    let mut names: Vec<String> = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        match std::str::from_utf8(field) {
            Ok(s) => names.push(s.trim().to_string()),
            Err(_) => {
                return Err(format!(
                "line {header_line}: the header is not UTF-8 text (column {} has invalid bytes); \
                     this is not a CSV export",
                i + 1
            ))
            }
        }
    }
    let layout = detect(&names, file_name).map_err(|e| format!("line {header_line}: {e}"))?;

    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(format!("after line {}: {e}", first_line(&mut csv, &record))),
        }
        let line = first_line(&mut csv, &record);
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if record.len() != names.len() {
            emit(line, Err(count_mismatch(record.len(), &names)));
            continue;
        }
        let mut cells: Vec<&str> = Vec::with_capacity(names.len());
        let mut bad = None;
        for (i, field) in record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(s) => cells.push(s),
                Err(_) => {
                    bad = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = bad {
            emit(
                line,
                Err(format!(
                    "column {} `{}` is not valid UTF-8 text",
                    i + 1,
                    names.get(i).map_or("", String::as_str)
                )),
            );
            continue;
        }
        let result = match &layout {
            Layout::Portal(header) => header.row_to_record(&cells),
            Layout::LogAnalytics => loganalytics::row_to_record(la_row(&names, &cells)),
        };
        emit(line, result);
    }
}

/// How the rows of a file are mapped.
enum Layout {
    Portal(PortalHeader),
    LogAnalytics,
}

/// Decides the layout from the header.
fn detect(names: &[String], file_name: Option<&str>) -> Result<Layout, String> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    if names.iter().all(|n| n.is_empty()) {
        return Err("the header row is empty".to_string());
    }
    // The modern admin center headers never share columns with Log Analytics ones, so they go
    // first; the legacy one (`CreatedDateTime,UserPrincipalName,…`) only without LA columns.
    if let Some(header) = PortalHeader::detect(&refs, file_name) {
        if let Some(reason) = header.unsupported() {
            return Err(reason);
        }
        if header.kind != PortalCsvKind::LegacySignIns || !loganalytics::looks_like_header(&refs) {
            return Ok(Layout::Portal(header));
        }
    }
    if loganalytics::looks_like_header(&refs) {
        return Ok(Layout::LogAnalytics);
    }
    if names.len() == 1 {
        let only = &names[0];
        for (sep, label) in [(';', "semicolons"), ('\t', "tabs"), ('|', "pipes")] {
            if only.contains(sep) {
                return Err(format!(
                    "the header is one column separated by {label}, not commas: `{}`",
                    shorten(only, 120)
                ));
            }
        }
    }
    let shown: Vec<String> = names
        .iter()
        .take(10)
        .map(|n| format!("`{}`", shorten(n, 60)))
        .collect();
    Err(format!(
        "not a recognised CSV export: expected a Log Analytics export (columns such as \
         TimeGenerated, Id, Type, TenantId) or an Entra admin center download (Date (UTC), Request \
         ID, …); found {} column{}: {}{}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if names.len() > 10 { ", …" } else { "" }
    ))
}

/// A Log Analytics row: header → cell, empty cells absent. A repeated header keeps the first
/// non-empty cell; a different later one is kept under `<name> (column N)`, as is a cell under an
/// empty header (`(column N)`).
fn la_row(names: &[String], cells: &[&str]) -> Object {
    let mut row = Object::new();
    for (i, (name, cell)) in names.iter().zip(cells).enumerate() {
        if cell.trim().is_empty() {
            continue;
        }
        if name.is_empty() {
            row.insert(
                format!("(column {})", i + 1),
                Value::String((*cell).to_string()),
            );
            continue;
        }
        match row.get(name.as_str()) {
            None => {
                row.insert(name.clone(), Value::String((*cell).to_string()));
            }
            Some(Value::String(existing)) if existing == cell => {}
            Some(_) => {
                row.insert(
                    format!("{name} (column {})", i + 1),
                    Value::String((*cell).to_string()),
                );
            }
        }
    }
    row
}

fn count_mismatch(got: usize, names: &[String]) -> String {
    let expected = names.len();
    if got < expected {
        let missing: Vec<String> = names[got..]
            .iter()
            .take(5)
            .map(|n| format!("`{n}`"))
            .collect();
        format!(
            "row has {got} columns, the header has {expected}: missing {}{}",
            missing.join(", "),
            if expected - got > 5 { ", …" } else { "" }
        )
    } else {
        format!("row has {got} columns, the header has {expected}")
    }
}

/// The line a record starts on. The `csv` crate reports a record's position as where the previous
/// one ended, before the rest of its line break (`\n` of `\r\n`) and any blank lines it skipped;
/// [`LineTracker`] counts those.
fn first_line<R: Read>(csv: &mut csv::Reader<LineTracker<R>>, record: &ByteRecord) -> u64 {
    let byte = record.position().map_or(0, |p| p.byte());
    csv.get_mut().first_line(byte)
}

/// A reader that keeps the bytes read but not yet passed by [`LineTracker::first_line`], to turn
/// byte offsets into 1-based line numbers.
struct LineTracker<R> {
    inner: R,
    /// Bytes from offset `pending_start` on, as read.
    pending: VecDeque<u8>,
    pending_start: u64,
    /// The line `pending_start` is on.
    line: u64,
}

impl<R> LineTracker<R> {
    fn new(inner: R) -> Self {
        LineTracker {
            inner,
            pending: VecDeque::new(),
            pending_start: 0,
            line: 1,
        }
    }

    /// The line of the first byte at or after `offset` that is not a line break. Offsets must not
    /// decrease between calls.
    fn first_line(&mut self, offset: u64) -> u64 {
        while self.pending_start < offset {
            match self.pending.pop_front() {
                Some(b) => {
                    if b == b'\n' {
                        self.line += 1;
                    }
                    self.pending_start += 1;
                }
                None => break,
            }
        }
        let mut line = self.line;
        for &b in &self.pending {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
        }
        line
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending.extend(&buf[..n]);
        Ok(n)
    }
}

/// Reads up to three bytes (enough for a BOM), tolerating short reads.
fn read_prefix(reader: &mut dyn Read) -> Result<Vec<u8>, String> {
    let mut buf = [0u8; 3];
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("line 1: {e}")),
        }
    }
    Ok(buf[..filled].to_vec())
}
