//! The direct path: a bare Graph sign-in or audit appended straight from its JSON text, in one
//! pass, without a tape.
//!
//! Records of one export list their keys in the same order, so at each key position the reader
//! first compares the text with the column the previous record had there: one short compare
//! instead of scanning the key. Values go straight into the columns while the text is validated
//! against the JSON grammar (the same scanners as [`Tape`]), and the facts that recognise the
//! record ([`fast::classify_keys`]: its log, tenant, sign-in type, event time) are gathered from
//! the keys as they match.
//!
//! The direct path takes only what the tape path ([`TableBuilder::append_tape`] after
//! [`fast::recognize`]) would store, and stores it identically. It gives up ([`Bail`]) liberally:
//! at any key that is not a column of the table, any escaped key, repeated key, unknown nested
//! member, non-empty map, or value of the wrong type, and at anything the recognition would
//! look at more closely. The caller then cuts the columns back and takes the tape path.

use std::borrow::Cow;

use gatehouse_formats::fast::{self, KeyRole, KeyRoles};
use gatehouse_formats::normalize::{diagnostic_category, tenant_in_resource_id};
use gatehouse_formats::tape::{self, short_eq, Tape, MAX_DEPTH};
use gatehouse_model::enums::write_conditions;
use gatehouse_model::time::parse_timestamp;
use gatehouse_model::{is_valid_tenant_id, LogKind, SignInKind, TableSchema};

use crate::columns::Strings;

use super::{
    bool_in_text, close_struct, float_in_text, float_literal, int_in_text, int_literal,
    remember_column, remember_member, write_compact_json, Bail, ColBuilder, TableBuilder,
    MAX_STRUCT_MEMBERS, NO_NODE,
};

/// A set of a table's columns, by index (the direct path takes tables of at most 128).
type ColumnSet = u128;

/// What the direct path needs to know about a table's columns, worked out once per builder,
/// and what it remembers from record to record.
#[derive(Debug, Clone)]
pub(super) struct DirectPlan {
    /// The table's log (only sign-ins and audits are stored as they are).
    log: LogKind,
    /// Each column's role as a top-level key.
    roles: Vec<KeyRole>,
    /// The event time column.
    time: usize,
    user_type: Option<usize>,
    event_types: Option<usize>,
    /// `tenantId`, `resourceTenantId`, `homeTenantId`: the tenant is the first valid one.
    tenants: [Option<usize>; 3],
    /// The columns the last record had, and the others: the columns to fill with nulls. Records
    /// of one export mostly have the same keys, so this is worked out again only when they
    /// change.
    last_present: ColumnSet,
    absent: Vec<usize>,
    /// Rows whose `absent` columns still lack their null: they are appended in bulk when the
    /// list changes, before a value goes into one of those columns, and before anything else
    /// touches the columns ([`TableBuilder::fill_deferred_nulls`]).
    deferred: usize,
    /// A diagnostic record's envelope members, its `_envelope` and `_source` (reused).
    envelope_members: Vec<EnvelopeMember>,
    envelope: String,
    source: String,
    /// Room for rewritten values (reused).
    scratch: String,
}

impl DirectPlan {
    /// Appends the nulls deferred for the columns the previous records lacked.
    fn fill_deferred(&mut self, graph: &mut [ColBuilder]) {
        if self.deferred > 0 {
            for &c in &self.absent {
                graph[c].append_nulls(self.deferred);
            }
            self.deferred = 0;
        }
    }

    /// Before a value goes into column `c`: if the previous records lacked it, its deferred
    /// nulls (and the other absent columns') go in first.
    fn fill_deferred_before(&mut self, graph: &mut [ColBuilder], c: usize) {
        if self.last_present & (1 << c) == 0 {
            self.fill_deferred(graph);
        }
    }

    /// The plan for a table, if its records can take the direct path.
    pub(super) fn of(table: &TableSchema) -> Option<DirectPlan> {
        if !matches!(table.log, LogKind::SignIns | LogKind::Audits)
            || table.columns.len() > ColumnSet::BITS as usize
        {
            return None;
        }
        let column = |name: &str| table.columns.iter().position(|c| c.name == name);
        Some(DirectPlan {
            log: table.log,
            roles: table
                .columns
                .iter()
                .map(|c| fast::key_role(c.name))
                .collect(),
            time: column(table.log.time_column())?,
            user_type: column("userType"),
            event_types: column("signInEventTypes"),
            tenants: [
                column("tenantId"),
                column("resourceTenantId"),
                column("homeTenantId"),
            ],
            last_present: ColumnSet::MAX,
            absent: Vec::new(),
            deferred: 0,
            envelope_members: Vec::new(),
            envelope: String::new(),
            source: String::new(),
            scratch: String::new(),
        })
    }
}

/// What [`TableBuilder::append_direct`] learned about the record it appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectRow<'a> {
    /// Its log.
    pub log: LogKind,
    /// Its `id`.
    pub id: Cow<'a, str>,
    /// Its event time, ns since the epoch (UTC).
    pub time_ns: i64,
    /// The tenant it names (`tenantId`, `resourceTenantId` or `homeTenantId`), if valid.
    pub tenant_id: Option<&'a str>,
    /// For sign-ins, the first of `signInEventTypes`.
    pub signin_kind: Option<SignInKind>,
    /// For a diagnostic record, the tenant its envelope names as the log's owner (`tenantId`,
    /// as written).
    pub owner_tenant: Option<&'a str>,
    /// Bytes of the text the record took: all of it ([`TableBuilder::append_direct`]), or its
    /// line with the newline ending it ([`TableBuilder::append_direct_line`]).
    pub len: usize,
}

/// Where a record given to the direct path ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// With the text (after whitespace).
    Text,
    /// With its line: a newline follows it (after blanks), or the text ends there if `end_ok`.
    Line { end_ok: bool },
    /// Where its object closes (an element of an array; the caller reads on).
    Value,
}

/// A position in one record's text.
///
/// The text arrives as bytes, not checked as UTF-8 beforehand: the bytes before the cursor are
/// always known to be UTF-8, because each byte the cursor passes either matched the grammar's
/// ASCII (brackets, separators, whitespace, literals, numbers, column names) or lies inside a
/// string, whose content [`tape::scan_string`] checks. Text is taken only from behind the
/// cursor ([`Cursor::passed`]), which spares ingest a separate UTF-8 pass over every record.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    /// Containers open around the cursor.
    depth: usize,
    /// Rewrite what the general path normalises in a diagnostic record's properties (condition
    /// bitmasks, `userType`) instead of giving the record up.
    rewrite: bool,
    /// Room for a rewritten value.
    scratch: String,
}

impl<'a> Cursor<'a> {
    /// The bytes `start..end` behind the cursor as text; both ends follow or precede an ASCII
    /// byte of the grammar (a quote, the first or last digit of a number, a value's first byte).
    #[inline(always)]
    fn passed(&self, start: usize, end: usize) -> &'a str {
        assert!(
            start <= end && end <= self.i,
            "text taken from behind the cursor"
        );
        let bytes = &self.b[start..end];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: the bytes before the cursor are UTF-8 (see the type's docs), and `start` and
        // `end` sit next to ASCII bytes, so they are character boundaries within them.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
    #[inline(always)]
    fn ws(&mut self) {
        // Exports are compact: test the common case before the loop (one compare: whitespace and
        // control bytes are all at or below a space; skip_ws stops at anything but whitespace).
        if self.b.get(self.i).is_some_and(|c| *c <= b' ') {
            self.i = tape::skip_ws(self.b, self.i);
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips whitespace, then `c`.
    #[inline(always)]
    fn expect(&mut self, c: u8) -> Result<(), Bail> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// The string whose opening quote is at the cursor, still escaped, and whether it holds
    /// escapes; the cursor moves past its closing quote.
    #[inline(always)]
    fn raw_string(&mut self) -> Result<(&'a str, bool), Bail> {
        if self.peek() != Some(b'"') {
            return Err(Bail);
        }
        let start = self.i + 1;
        let (end, escaped) = tape::scan_string(self.b, start).map_err(|_| Bail)?;
        self.i = end + 1;
        Ok((self.passed(start, end), escaped))
    }

    /// The string at the cursor, unescaped.
    #[inline(always)]
    fn string(&mut self) -> Result<Cow<'a, str>, Bail> {
        let (raw, escaped) = self.raw_string()?;
        Ok(if escaped {
            Cow::Owned(tape::unescape(raw))
        } else {
            Cow::Borrowed(raw)
        })
    }

    /// The number literal at the cursor, as written.
    #[inline(always)]
    fn number(&mut self) -> Result<&'a str, Bail> {
        let start = self.i;
        self.i = tape::scan_number(self.b, start).map_err(|_| Bail)?;
        Ok(self.passed(start, self.i))
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Result<(), Bail> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Enters the array or object whose bracket is at the cursor.
    #[inline(always)]
    fn open(&mut self) -> Result<(), Bail> {
        if self.depth >= MAX_DEPTH {
            return Err(Bail);
        }
        self.depth += 1;
        self.i += 1;
        self.ws();
        Ok(())
    }

    /// After a member or item: `true` at a comma (the cursor then at the next one, whitespace
    /// skipped), `false` at the closing bracket `close` (the cursor past it).
    #[inline(always)]
    fn more(&mut self, close: u8) -> Result<bool, Bail> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                self.ws();
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => Err(Bail),
        }
    }

    /// Whether the key at the cursor is exactly `name` (which holds no quote or backslash); if
    /// so the cursor moves past it. One compare: no scanning.
    #[inline(always)]
    fn key_is(&mut self, name: &str) -> bool {
        let end = self.i + name.len() + 2;
        let Some(k) = self.b.get(self.i..end) else {
            return false;
        };
        let [b'"', key @ .., b'"'] = k else {
            return false;
        };
        let hit = short_eq(key, name.as_bytes());
        if hit {
            self.i = end;
        }
        hit
    }

    /// The key at the cursor (the cursor past it), or `Bail` if it holds escapes.
    #[inline]
    fn plain_key(&mut self) -> Result<&'a str, Bail> {
        match self.raw_string()? {
            (key, false) => Ok(key),
            (_, true) => Err(Bail),
        }
    }
}

impl ColBuilder {
    /// Appends the value at the cursor, as [`ColBuilder::put_tape`] would append it from a tape
    /// of the same text; `Bail` wherever that gives up or returns a lossy fit (the caller cuts
    /// the columns back).
    fn put_direct(&mut self, cur: &mut Cursor<'_>, tape: &mut Tape) -> Result<(), Bail> {
        let c = cur.peek().ok_or(Bail)?;
        if c == b'n' {
            cur.literal(b"null")?;
            self.append_null();
            return Ok(());
        }
        match self {
            ColBuilder::Str(b) => put_string(b, cur)?,
            ColBuilder::Json { strings, scratch } => {
                cur.i = tape
                    .parse_value(cur.b, cur.i, cur.depth)
                    .map_err(|_| Bail)?;
                // The text up to the value's end: the tape's offsets are offsets into it.
                let text = cur.passed(0, cur.i);
                if !tape.numbers_finite(text, 0) {
                    return Err(Bail);
                }
                strings.push_with(scratch, |s| write_compact_json(tape, text, 0, s));
            }
            ColBuilder::I32(b) => b.push(
                direct_i64(cur, c)?
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or(Bail)?,
            ),
            ColBuilder::I64(b) => b.push(direct_i64(cur, c)?.ok_or(Bail)?),
            ColBuilder::F64(b) => {
                let f = match c {
                    b'"' => float_in_text(&cur.string()?),
                    _ => float_literal(cur.number()?),
                };
                b.push(f.ok_or(Bail)?)
            }
            ColBuilder::Bool(b) => {
                let v = match c {
                    b't' => cur.literal(b"true").map(|_| true)?,
                    b'f' => cur.literal(b"false").map(|_| false)?,
                    b'"' => bool_in_text(&cur.string()?).ok_or(Bail)?,
                    _ => return Err(Bail),
                };
                b.push_option(Some(v))
            }
            ColBuilder::Ts(b) => {
                let time = parse_timestamp(&cur.string()?).map_err(|_| Bail)?;
                // As on the other paths: a time too far out for nanoseconds is stored as null.
                b.push_option(time.timestamp_nanos_opt());
            }
            // The other paths take only empty maps this way.
            ColBuilder::StrMap { lists, .. } => {
                if c != b'{' {
                    return Err(Bail);
                }
                cur.open()?;
                if cur.peek() != Some(b'}') {
                    return Err(Bail);
                }
                cur.i += 1;
                cur.depth -= 1;
                lists.push(lists.items());
            }
            ColBuilder::List { child, lists } => {
                if c != b'[' {
                    return Err(Bail);
                }
                cur.open()?;
                let mut items = 0;
                if cur.peek() == Some(b']') {
                    cur.i += 1;
                    cur.depth -= 1;
                } else {
                    loop {
                        put_value(child, cur, tape)?;
                        items += 1;
                        if !cur.more(b']')? {
                            break;
                        }
                    }
                }
                lists.push(lists.items() + items);
            }
            ColBuilder::Struct {
                members,
                valid,
                order,
                bitmasks,
            } => {
                if c != b'{' || members.len() > MAX_STRUCT_MEMBERS {
                    return Err(Bail);
                }
                cur.open()?;
                let mut seen = 0u64;
                if cur.peek() == Some(b'}') {
                    cur.i += 1;
                    cur.depth -= 1;
                } else {
                    let mut pos = 0;
                    loop {
                        let m = struct_member(members, order, cur, pos)?;
                        if seen & (1 << m) != 0 {
                            return Err(Bail); // a repeated member
                        }
                        seen |= 1 << m;
                        cur.expect(b':')?;
                        cur.ws();
                        let start = cur.i;
                        let bitmask = *bitmasks & (1 << m) != 0;
                        if bitmask && cur.rewrite && put_condition_bits(&mut members[m].1, cur)? {
                            // Rewritten as the general path does.
                        } else {
                            put_value(&mut members[m].1, cur, tape)?;
                        }
                        if bitmask && cur.b[start] == b'"' && !cur.rewrite {
                            // The string's content, between its quotes.
                            let s = cur.passed(start + 1, cur.i - 1);
                            if s.contains('\\') || fast::is_condition_bitmask(s) {
                                return Err(Bail);
                            }
                        }
                        pos += 1;
                        if !cur.more(b'}')? {
                            break;
                        }
                    }
                }
                close_struct(members, valid, seen);
            }
        }
        Ok(())
    }
}

/// Appends the value at the cursor to `col`, as [`ColBuilder::put_direct`] does; a string into
/// a string column (the commonest value) without the call and the dispatch on the column's kind.
#[inline(always)]
fn put_value(col: &mut ColBuilder, cur: &mut Cursor<'_>, tape: &mut Tape) -> Result<(), Bail> {
    match col {
        ColBuilder::Str(b) if cur.peek() == Some(b'"') => put_string(b, cur),
        _ => col.put_direct(cur, tape),
    }
}

/// In a diagnostic record, a Conditional Access condition bitmask at the cursor (a number, or a
/// string of digits) appended to `col` as Graph's flag names, as the general path rewrites it;
/// `false`, the cursor unmoved, for a value that is no bitmask.
fn put_condition_bits(col: &mut ColBuilder, cur: &mut Cursor<'_>) -> Result<bool, Bail> {
    let start = cur.i;
    let digits = match cur.peek() {
        Some(b'0'..=b'9' | b'-') => {
            let n = cur.number()?;
            // The general path rewrites only numbers that are u64s.
            if !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Bail);
            }
            n
        }
        Some(b'"') => match cur.raw_string()? {
            (_, true) => return Err(Bail),
            (raw, false) if fast::is_condition_bitmask(raw) => raw,
            _ => {
                cur.i = start;
                return Ok(false);
            }
        },
        _ => return Ok(false),
    };
    let bits: u64 = digits.parse().map_err(|_| Bail)?;
    let ColBuilder::Str(b) = col else {
        return Err(Bail);
    };
    cur.scratch.clear();
    write_conditions(bits, &mut cur.scratch);
    b.push(&cur.scratch);
    Ok(true)
}

/// Appends the string at the cursor, unescaped.
#[inline(always)]
fn put_string(b: &mut Strings, cur: &mut Cursor<'_>) -> Result<(), Bail> {
    match cur.raw_string()? {
        (raw, false) => b.push(raw),
        (raw, true) => b.push(&tape::unescape(raw)),
    }
    Ok(())
}

/// The integer at the cursor (`None` when it is not one), as `tape_i64` reads it.
#[inline]
fn direct_i64(cur: &mut Cursor<'_>, c: u8) -> Result<Option<i64>, Bail> {
    Ok(match c {
        b'"' => int_in_text(&cur.string()?),
        _ => int_literal(cur.number()?),
    })
}

/// The member the key at the cursor names (the cursor past the key), remembering it as the
/// guess for position `pos`; `Bail` for a member the struct does not have, or an escaped key.
#[inline(always)]
fn struct_member(
    members: &[(&'static str, ColBuilder)],
    order: &mut Vec<u8>,
    cur: &mut Cursor<'_>,
    pos: usize,
) -> Result<usize, Bail> {
    if let Some(&m) = order.get(pos) {
        if let Some((name, _)) = members.get(m as usize) {
            if cur.key_is(name) {
                return Ok(m as usize);
            }
        }
    }
    let key = cur.plain_key()?;
    let found = members
        .iter()
        .position(|(name, _)| short_eq(name.as_bytes(), key.as_bytes()));
    remember_member(order, pos, found);
    found.ok_or(Bail)
}

impl TableBuilder {
    /// Appends the nulls the direct path deferred, so every column holds every row: called
    /// before any other path appends and before the rows are taken.
    pub(super) fn fill_deferred_nulls(&mut self) {
        if let Some(plan) = self.direct.as_mut() {
            plan.fill_deferred(&mut self.graph);
        }
    }

    /// Appends a bare Graph record straight from its text (one JSON object, surrounding
    /// whitespace allowed), when it is a record [`fast::recognize`] takes for this builder's
    /// log and [`TableBuilder::append_tape`] would store; `accept` then sees what was learned
    /// and may still refuse the row (a record of another partition, say). Stores exactly the
    /// row `append_tape` would, or nothing and `Bail`. `tape` is scratch space for values kept
    /// as JSON text.
    ///
    /// `text` need not have been checked as UTF-8: a record that is not gets `Bail` (see
    /// [`Cursor`]), and a stored one was checked whole on the way.
    pub fn append_direct<'a>(
        &mut self,
        text: &'a [u8],
        tape: &mut Tape,
        sys: &super::SystemFields<'_>,
        accept: impl FnOnce(&DirectRow<'a>) -> bool,
    ) -> Result<DirectRow<'a>, Bail> {
        self.append_direct_ending(text, Ending::Text, tape, sys, accept)
    }

    /// [`TableBuilder::append_direct`] for the record on the first line of `text` (NDJSON not
    /// cut into lines yet): the record must be the line's only content, and the line end with a
    /// newline, or with the text if `end_ok`. [`DirectRow::len`] says where the next line starts.
    /// A line the direct path does not take (blank, not a record, or a record spread over
    /// several lines) gets `Bail`, and the caller cuts the line and reads it another way.
    pub fn append_direct_line<'a>(
        &mut self,
        text: &'a [u8],
        end_ok: bool,
        tape: &mut Tape,
        sys: &super::SystemFields<'_>,
        accept: impl FnOnce(&DirectRow<'a>) -> bool,
    ) -> Result<DirectRow<'a>, Bail> {
        self.append_direct_ending(text, Ending::Line { end_ok }, tape, sys, accept)
    }

    fn append_direct_ending<'a>(
        &mut self,
        text: &'a [u8],
        ending: Ending,
        tape: &mut Tape,
        sys: &super::SystemFields<'_>,
        accept: impl FnOnce(&DirectRow<'a>) -> bool,
    ) -> Result<DirectRow<'a>, Bail> {
        let row = self.put_direct_row(text, ending, tape);
        let row = self.accepted(row, accept)?;
        self.append_system(sys, None);
        Ok(row)
    }

    /// The row `put` appended if `accept` takes it; otherwise the columns are cut back to the
    /// rows before it and `Bail`.
    fn accepted<'a>(
        &mut self,
        put: Result<DirectRow<'a>, Bail>,
        accept: impl FnOnce(&DirectRow<'a>) -> bool,
    ) -> Result<DirectRow<'a>, Bail> {
        match put {
            Ok(row) if accept(&row) => Ok(row),
            done => {
                if done.is_ok() {
                    // The refused row was counted among the deferred ones.
                    if let Some(plan) = self.direct.as_mut() {
                        plan.deferred -= 1;
                    }
                }
                for b in &mut self.graph {
                    b.truncate(self.rows);
                }
                Err(Bail)
            }
        }
    }

    /// Appends an Azure Monitor diagnostic record (a storage blob's line, an element of an Event
    /// Hub message's `records`) straight from its text, when the general path would unwrap it
    /// into this builder's log ([`gatehouse_formats::normalize::diagnostic_to_record`], then
    /// `finish`) and store it without `_extra`: its `properties` go to the Graph columns with
    /// the documented rewrites made on the way (condition bitmasks to flag names, `userType`
    /// in camelCase, `signInEventTypes` from the category when absent), every other member to
    /// `_envelope` (compact, keys sorted, as `serde_json` writes it), and `_source` is
    /// `diagnostic:<category>`. Stores exactly the row the general path would, or nothing and
    /// `Bail`.
    ///
    /// `ending` says where the record ends: with its line (`Some(end_ok)`, as
    /// [`TableBuilder::append_direct_line`]), or where its object closes (`None`: an element of
    /// an array, `depth` containers deep; [`DirectRow::len`] is then the object's length).
    #[allow(clippy::too_many_arguments)]
    pub fn append_diagnostic_direct<'a>(
        &mut self,
        text: &'a [u8],
        ending: Option<bool>,
        depth: usize,
        tape: &mut Tape,
        tenant_id: &str,
        ingested_at_ns: i64,
        accept: impl FnOnce(&DirectRow<'a>) -> bool,
    ) -> Result<DirectRow<'a>, Bail> {
        let ending = match ending {
            Some(end_ok) => Ending::Line { end_ok },
            None => Ending::Value,
        };
        let put = self.put_diagnostic_row(text, ending, depth, tape);
        let row = self.accepted(put, accept)?;
        let plan = self.direct.as_mut().expect("a row was put");
        let (envelope, source) = (&plan.envelope, &plan.source);
        self.tenant.push(tenant_id);
        self.ingested.push(ingested_at_ns);
        self.source.push(source);
        self.envelope.push(envelope);
        self.extra.push_null();
        self.rows += 1;
        Ok(row)
    }

    /// Appends the Graph columns of one bare Graph record; on `Bail` the columns hold part of
    /// the row.
    fn put_direct_row<'a>(
        &mut self,
        text: &'a [u8],
        ending: Ending,
        tape: &mut Tape,
    ) -> Result<DirectRow<'a>, Bail> {
        if text.len() >= NO_NODE as usize {
            return Err(Bail);
        }
        let mut cur = Cursor {
            b: text,
            i: 0,
            depth: 0,
            rewrite: false,
            scratch: String::new(),
        };
        cur.ws();
        let walked = self.put_direct_members(&mut cur, tape)?;
        let len = ending_len(&cur, ending)?;
        // Recognition, as `fast::recognize_at` decides it.
        let log = walked.roles.classify().ok_or(Bail)?;
        self.finish_direct_row(text, walked, log, len, None)
    }

    /// Appends the Graph columns of one diagnostic record (its `properties`), and leaves its
    /// `_envelope` and `_source` in the plan; on `Bail` the columns hold part of the row.
    fn put_diagnostic_row<'a>(
        &mut self,
        text: &'a [u8],
        ending: Ending,
        depth: usize,
        tape: &mut Tape,
    ) -> Result<DirectRow<'a>, Bail> {
        if text.len() >= NO_NODE as usize {
            return Err(Bail);
        }
        let plan = self.direct.as_mut().ok_or(Bail)?;
        let mut members = std::mem::take(&mut plan.envelope_members);
        members.clear();
        let mut cur = Cursor {
            b: text,
            i: 0,
            depth,
            rewrite: true,
            scratch: std::mem::take(&mut plan.scratch),
        };
        let walked = self.walk_diagnostic(&mut cur, tape, &mut members);
        let plan = self.direct.as_mut().ok_or(Bail)?;
        plan.scratch = std::mem::take(&mut cur.scratch);
        let (walked, facts) = match walked {
            Ok(w) => w,
            Err(Bail) => {
                plan.envelope_members = members;
                return Err(Bail);
            }
        };
        let len = ending_len(&cur, ending);
        // The envelope and source, built before the row is counted.
        let envelope = len.and_then(|_| {
            plan.envelope.clear();
            write_envelope(text, &mut members, tape, &mut plan.envelope)
        });
        plan.envelope_members = members;
        let len = envelope.and(len)?;
        let (log, kind) = diagnostic_category(facts.category).ok_or(Bail)?;
        plan.source.clear();
        plan.source.push_str("diagnostic:");
        plan.source.push_str(facts.category);
        let facts = DiagnosticFacts { kind, ..facts };
        self.finish_direct_row(text, walked, log, len, Some(&facts))
    }

    /// Walks a diagnostic record's object (at the cursor, after whitespace): its `properties`
    /// into the Graph columns, its other members into `members`.
    fn walk_diagnostic<'a>(
        &mut self,
        cur: &mut Cursor<'a>,
        tape: &mut Tape,
        members: &mut Vec<EnvelopeMember>,
    ) -> Result<(Walked, DiagnosticFacts<'a>), Bail> {
        cur.ws();
        if cur.peek() != Some(b'{') {
            return Err(Bail);
        }
        cur.open()?;
        let mut walked = None;
        let mut facts = DiagnosticFacts::default();
        loop {
            let key_start = cur.i + 1;
            let key = cur.plain_key()?;
            let key_end = key_start + key.len();
            cur.expect(b':')?;
            cur.ws();
            if key == "properties" {
                if walked.is_some() {
                    return Err(Bail);
                }
                walked = Some(self.put_direct_members(cur, tape)?);
            } else {
                if envelope_key_needs_general_path(key) {
                    return Err(Bail);
                }
                let value_start = cur.i;
                let form = match cur.peek() {
                    Some(b'"') => {
                        let (raw, escaped) = cur.raw_string()?;
                        let slot = match key {
                            "category" => Some(&mut facts.category),
                            "tenantId" => Some(&mut facts.tenant),
                            "resourceId" => Some(&mut facts.resource_id),
                            _ => None,
                        };
                        if let Some(slot) = slot {
                            if escaped {
                                return Err(Bail);
                            }
                            *slot = raw;
                            if key == "tenantId" {
                                facts.has_tenant = true;
                            }
                        }
                        if escaped {
                            ValueForm::Json
                        } else {
                            ValueForm::Verbatim
                        }
                    }
                    Some(b'0'..=b'9') => {
                        let n = cur.number()?;
                        // As `serde_json` writes it back: a u64 (19 digits always fit).
                        if n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit()) {
                            ValueForm::Verbatim
                        } else {
                            cur.i = value_start;
                            ValueForm::Parse
                        }
                    }
                    _ => ValueForm::Parse,
                };
                let form = match form {
                    ValueForm::Parse => {
                        if key == "category" {
                            // Not a string: the general path says so.
                            return Err(Bail);
                        }
                        cur.i = tape
                            .parse_value(cur.b, cur.i, cur.depth)
                            .map_err(|_| Bail)?;
                        if !tape.numbers_finite(cur.passed(0, cur.i), 0) {
                            return Err(Bail);
                        }
                        ValueForm::Json
                    }
                    f => f,
                };
                members.push(EnvelopeMember {
                    key: (key_start as u32, key_end as u32),
                    value: (value_start as u32, cur.i as u32),
                    verbatim: form == ValueForm::Verbatim,
                });
            }
            if !cur.more(b'}')? {
                break;
            }
        }
        if facts.category.is_empty() {
            return Err(Bail);
        }
        Ok((walked.ok_or(Bail)?, facts))
    }

    /// Walks the Graph object whose `{` is at the cursor, each member's value into its column.
    fn put_direct_members(
        &mut self,
        cur: &mut Cursor<'_>,
        tape: &mut Tape,
    ) -> Result<Walked, Bail> {
        let plan = self.direct.as_mut().ok_or(Bail)?;
        if cur.peek() != Some(b'{') {
            return Err(Bail);
        }
        cur.open()?;
        // The columns seen, the roles of their keys, and (in `tape_slots`) where each one's
        // value starts.
        let mut seen: ColumnSet = 0;
        let mut roles = KeyRoles::default();
        let mut time_ns = None;
        let mut pos = 0;
        loop {
            let predicted = self.key_order.get(pos).copied().unwrap_or(NO_NODE);
            let c = if predicted != NO_NODE && cur.key_is(self.names[predicted as usize]) {
                predicted as usize
            } else {
                let found = self.index.get(cur.plain_key()?).copied();
                remember_column(&mut self.key_order, pos, found);
                found.ok_or(Bail)?
            };
            let bit = 1 << c;
            // Keys that make the general path reshape a bare Graph record; a diagnostic
            // record's properties are not classified by their keys.
            if seen & bit != 0 || (plan.roles[c].gives_up && !cur.rewrite) {
                return Err(Bail);
            }
            seen |= bit;
            roles.add(plan.roles[c]);
            plan.fill_deferred_before(&mut self.graph, c);
            cur.expect(b':')?;
            cur.ws();
            self.tape_slots[c] = cur.i as u32;
            if c == plan.time {
                let ns = parse_timestamp(&cur.string()?)
                    .ok()
                    .and_then(|t| t.timestamp_nanos_opt())
                    .ok_or(Bail)?;
                let ColBuilder::Ts(b) = &mut self.graph[c] else {
                    return Err(Bail);
                };
                b.push(ns);
                time_ns = Some(ns);
            } else if cur.rewrite && Some(c) == plan.user_type && cur.peek() == Some(b'"') {
                // `Member` / `Guest` as Graph writes them.
                let ColBuilder::Str(b) = &mut self.graph[c] else {
                    return Err(Bail);
                };
                match cur.raw_string()? {
                    (_, true) => return Err(Bail),
                    (raw, false) => match raw.as_bytes().first() {
                        Some(first) if first.is_ascii_uppercase() => {
                            cur.scratch.clear();
                            cur.scratch.push(first.to_ascii_lowercase() as char);
                            cur.scratch.push_str(&raw[1..]);
                            b.push(&cur.scratch);
                        }
                        _ => b.push(raw),
                    },
                }
            } else {
                put_value(&mut self.graph[c], cur, tape)?;
            }
            pos += 1;
            if !cur.more(b'}')? {
                break;
            }
        }
        Ok(Walked {
            seen,
            roles,
            time_ns,
        })
    }

    /// Checks a walked record as the recognition of its shape would (the sign-in type, tenant,
    /// `id` and time), and counts the row; `diagnostic` holds what a diagnostic record's
    /// envelope said.
    fn finish_direct_row<'a>(
        &mut self,
        text: &'a [u8],
        walked: Walked,
        log: LogKind,
        len: usize,
        diagnostic: Option<&DiagnosticFacts<'a>>,
    ) -> Result<DirectRow<'a>, Bail> {
        let plan = self.direct.as_mut().ok_or(Bail)?;
        if log != plan.log {
            return Err(Bail);
        }
        let Walked {
            mut seen, time_ns, ..
        } = walked;
        let slots = &self.tape_slots;
        // The value at the start of column `c`.
        // It lies behind the cursor, which passed the whole text: the text is UTF-8.
        let at = |c: usize| Cursor {
            b: text,
            i: slots[c] as usize,
            depth: 0,
            rewrite: false,
            scratch: String::new(),
        };
        let mut signin_kind = None;
        if log == LogKind::SignIns {
            let present = |c: usize| seen & (1 << c) != 0;
            if let (Some(u), None) = (plan.user_type.filter(|u| present(*u)), diagnostic) {
                if let Ok((raw, _)) = at(u).raw_string() {
                    if raw.starts_with(|c: char| c.is_ascii_uppercase() || c == '\\') {
                        return Err(Bail);
                    }
                }
            }
            match (plan.event_types.filter(|t| present(*t)), diagnostic) {
                (Some(types), _) => {
                    let mut first = at(types);
                    if first.peek() == Some(b'[') {
                        first.i += 1;
                        first.ws();
                        if first.peek() == Some(b'"') {
                            signin_kind = SignInKind::from_graph_name(&first.string()?);
                        }
                    }
                }
                // A diagnostic record without its sign-in type gets its category's.
                (None, Some(facts)) => {
                    let kind = facts.kind.ok_or(Bail)?;
                    let c = plan.event_types.ok_or(Bail)?;
                    plan.fill_deferred_before(&mut self.graph, c);
                    let ColBuilder::List { child, lists } = &mut self.graph[c] else {
                        return Err(Bail);
                    };
                    let ColBuilder::Str(names) = child.as_mut() else {
                        return Err(Bail);
                    };
                    names.push(kind.graph_name());
                    lists.push(lists.items() + 1);
                    seen |= 1 << c;
                    signin_kind = Some(kind);
                }
                // A record that does not say its sign-in type gets one inferred by the
                // general path.
                (None, None) => return Err(Bail),
            }
        }
        let present = |c: usize| seen & (1 << c) != 0;
        let valid = |t: &&'a str| is_valid_tenant_id(t);
        // A diagnostic record's tenant is its envelope's, else its body's, else the one its
        // resource id names.
        let mut tenant_id = diagnostic.map(|d| d.tenant).filter(valid);
        if tenant_id.is_none() {
            for t in plan.tenants.iter().flatten().filter(|t| present(**t)) {
                match at(*t).raw_string() {
                    Ok((_, true)) => return Err(Bail),
                    Ok((raw, false)) if is_valid_tenant_id(raw) => {
                        tenant_id = Some(raw);
                        break;
                    }
                    _ => {}
                }
            }
        }
        if let (None, Some(d)) = (tenant_id, diagnostic) {
            tenant_id = tenant_in_resource_id(d.resource_id).filter(valid);
        }
        let id = match self.id_column.filter(|c| present(*c)) {
            Some(c) => match at(c).string() {
                Ok(id) if !super::is_blank_id(&id) => id,
                _ => return Err(Bail),
            },
            None => return Err(Bail),
        };
        let time_ns = time_ns.ok_or(Bail)?;
        let columns = self.graph.len();
        if seen != plan.last_present {
            plan.fill_deferred(&mut self.graph);
            plan.absent.clear();
            plan.absent.extend((0..columns).filter(|c| !present(*c)));
            plan.last_present = seen;
        }
        // This row's nulls in the absent columns are appended later, in bulk.
        plan.deferred += 1;
        Ok(DirectRow {
            log,
            id,
            time_ns,
            tenant_id,
            signin_kind,
            owner_tenant: diagnostic.and_then(|d| d.has_tenant.then_some(d.tenant)),
            len,
        })
    }
}

/// What a walk over a record's Graph object found.
struct Walked {
    /// The columns it had.
    seen: ColumnSet,
    /// The roles of its keys.
    roles: KeyRoles,
    /// Its event time, if it had one.
    time_ns: Option<i64>,
}

/// What a diagnostic record's envelope says (strings as written, without escapes; empty when
/// absent).
#[derive(Default)]
struct DiagnosticFacts<'a> {
    category: &'a str,
    tenant: &'a str,
    /// Whether `tenantId` was there (as a string).
    has_tenant: bool,
    resource_id: &'a str,
    /// The sign-in type the category names.
    kind: Option<SignInKind>,
}

/// A member of a diagnostic record's envelope: byte ranges of its key (without quotes) and
/// value in the record's text.
#[derive(Debug, Clone, Copy)]
struct EnvelopeMember {
    key: (u32, u32),
    value: (u32, u32),
    /// The value's text is what `serde_json` would write (a string without escapes, a u64).
    verbatim: bool,
}

/// How an envelope value is written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueForm {
    /// As it is in the text.
    Verbatim,
    /// Through a tape, as `serde_json` writes it.
    Json,
    /// Not read yet: read through a tape, then written as `Json`.
    Parse,
}

/// Whether an envelope key makes the general path read the object as something other than a
/// diagnostic record, or look it up in a way the direct path does not (case-insensitively).
fn envelope_key_needs_general_path(key: &str) -> bool {
    if matches!(
        key,
        "error" | "value" | "records" | "input" | "message" | "id"
    ) {
        return true;
    }
    const LOOKED_UP: [&str; 6] = [
        "category",
        "tenantId",
        "resourceId",
        "time",
        "properties",
        "AADTenantId",
    ];
    LOOKED_UP
        .iter()
        .any(|name| name.eq_ignore_ascii_case(key) && (*name != key || *name == "AADTenantId"))
}

/// Writes a diagnostic record's envelope as `serde_json` writes the map the general path keeps:
/// compact, keys sorted; `Bail` on a repeated key.
fn write_envelope(
    text: &[u8],
    members: &mut [EnvelopeMember],
    tape: &mut Tape,
    out: &mut String,
) -> Result<(), Bail> {
    let key = |m: &EnvelopeMember| &text[m.key.0 as usize..m.key.1 as usize];
    members.sort_unstable_by(|a, b| key(a).cmp(key(b)));
    if members.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
        return Err(Bail);
    }
    out.push('{');
    for (n, m) in members.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        // Both ranges were read by the cursor, so they are UTF-8; checked again here, as they
        // are short, rather than assumed.
        let key = std::str::from_utf8(key(m)).map_err(|_| Bail)?;
        let value =
            std::str::from_utf8(&text[m.value.0 as usize..m.value.1 as usize]).map_err(|_| Bail)?;
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        if m.verbatim {
            out.push_str(value);
        } else {
            tape.parse_value(value.as_bytes(), 0, 0).map_err(|_| Bail)?;
            write_compact_json(tape, value, 0, out);
        }
    }
    out.push('}');
    Ok(())
}

/// The bytes a record took, where `ending` says it ends; the cursor is just past its object.
fn ending_len(cur: &Cursor<'_>, ending: Ending) -> Result<usize, Bail> {
    let text = cur.b;
    Ok(match ending {
        Ending::Text => {
            let end = tape::skip_ws(text, cur.i);
            if end != text.len() {
                return Err(Bail);
            }
            text.len()
        }
        Ending::Value => cur.i,
        Ending::Line { end_ok } => {
            // Blanks, then the newline (or the end of the text). Whitespace inside the
            // record may have been a newline (JSON allows one between tokens): a record
            // spread over lines is not a line's record.
            let mut end = cur.i;
            while matches!(text.get(end), Some(b' ' | b'\t' | b'\r' | b'\x0c')) {
                end += 1;
            }
            let len = match text.get(end) {
                Some(b'\n') => end + 1,
                None if end_ok => end,
                _ => return Err(Bail),
            };
            if memchr::memchr(b'\n', &text[..cur.i]).is_some() {
                return Err(Bail);
            }
            len
        }
    })
}
