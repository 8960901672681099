//! A validating JSON tokenizer that records where each value lies instead of building a tree:
//! the fast path of ingest.
//!
//! [`Tape::parse`] checks a whole JSON text against the JSON grammar (strings, escapes and
//! surrogate pairs, numbers, literals, nesting) and writes one [`Node`] per value, in document
//! order, each knowing its byte range and where its subtree ends. Nothing is allocated per value,
//! strings are not copied, and one tape is reused from record to record. Readers then walk the
//! nodes ([`Tape::members`], [`Tape::items`]) and take strings straight from the source text.
//!
//! The tape only says *whether* a text is valid JSON. Callers that need an error message for a
//! bad record parse it again with `serde_json`, whose messages name the line and column: invalid
//! input is rare, and this keeps one source of error wording.

pub use gatehouse_model::bytes::short_eq;
use std::borrow::Cow;

/// How deeply arrays and objects may nest (the same limit as `serde_json`).
pub const MAX_DEPTH: usize = 127;

/// What a [`Node`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// `null`.
    Null,
    /// `true`.
    True,
    /// `false`.
    False,
    /// A number, as written.
    Number,
    /// A string; `start..end` is its content between the quotes, still escaped.
    String,
    /// An array; `len` is its number of items.
    Array,
    /// An object; `len` is its number of members. Members are a key node then a value node.
    Object,
}

/// One JSON value on the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// What the value is.
    pub kind: NodeKind,
    /// For strings: whether the content contains backslash escapes.
    pub escaped: bool,
    /// First byte (for strings: first byte after the opening quote).
    pub start: u32,
    /// One past the last byte (for strings: the closing quote).
    pub end: u32,
    /// Index of the node after this value and everything inside it.
    pub next: u32,
    /// Items of an array, members of an object; 0 otherwise.
    pub len: u32,
}

/// Why a text is not one valid JSON value (kept deliberately coarse; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid {
    /// The byte offset where the problem was noticed.
    pub offset: usize,
}

/// A reusable tape of nodes for one JSON text at a time.
#[derive(Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
    stack: Vec<u32>,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of the result is set where `w` has a quote, a backslash, a control
/// character or a non-ASCII byte (exact for the lowest such byte, which is all the scanner uses).
#[inline]
fn specials(w: u64) -> u64 {
    let quote = w ^ (ONES * b'"' as u64);
    let backslash = w ^ (ONES * b'\\' as u64);
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    zero(quote) | zero(backslash) | control | (w & HIGHS)
}

/// Skips ordinary string bytes from `i`, many at a time: stops at the first quote, backslash,
/// control character or non-ASCII byte, or where too few bytes are left for a whole step (the
/// caller goes on byte by byte).
#[inline(always)]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    // Sixteen bytes at a time with SSE2, which every x86-64 processor has.
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        while let Some(chunk) = b.get(i..i + 16) {
            // SAFETY: SSE2 is part of the x86-64 baseline, so these instructions exist on every
            // processor this code is built for; `chunk` is 16 readable bytes, and
            // `_mm_loadu_si128` needs no alignment.
            let mask = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast());
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                // A signed compare: bytes from 0x80 up are negative, so this finds them along
                // with the control characters.
                let low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), low))
            };
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    // Eight bytes at a time in a word (the tail on x86-64, everything elsewhere).
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let m = specials(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// The index just past the UTF-8 sequence that starts with the non-ASCII byte at `i`, if it is
/// a well-formed one (the rules of `std::str::from_utf8`: no overlong forms, no surrogates,
/// nothing above U+10FFFF).
#[inline]
fn utf8_sequence(b: &[u8], i: usize) -> Option<usize> {
    let cont = |j: usize| b.get(j).is_some_and(|c| (0x80..0xC0).contains(c));
    let second = |lo: u8, hi: u8| b.get(i + 1).is_some_and(|c| (lo..=hi).contains(c));
    let len = match b[i] {
        0xC2..=0xDF => return cont(i + 1).then_some(i + 2),
        0xE0 => second(0xA0, 0xBF).then_some(3),
        0xE1..=0xEC | 0xEE..=0xEF => second(0x80, 0xBF).then_some(3),
        0xED => second(0x80, 0x9F).then_some(3),
        0xF0 => second(0x90, 0xBF).then_some(4),
        0xF1..=0xF3 => second(0x80, 0xBF).then_some(4),
        0xF4 => second(0x80, 0x8F).then_some(4),
        _ => None,
    }?;
    (2..len).all(|k| cont(i + k)).then_some(i + len)
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
#[inline]
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let digits = b.get(i..i + 4)?;
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

/// Scans (and validates) a string whose opening quote is at `i - 1`; returns (closing quote
/// index, whether it holds escapes). The content is checked to be UTF-8 as well, so a caller
/// that checked every byte outside strings against the grammar (all ASCII) knows the whole text
/// is UTF-8 without a separate pass.
#[inline]
pub fn scan_string(b: &[u8], mut i: usize) -> Result<(usize, bool), Invalid> {
    let mut escaped = false;
    loop {
        i = skip_plain(b, i);
        let Some(&c) = b.get(i) else {
            return Err(Invalid { offset: i });
        };
        match c {
            b'"' => return Ok((i, escaped)),
            b'\\' => {
                escaped = true;
                match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u') => {
                        let v = hex4(b, i + 2).ok_or(Invalid { offset: i })?;
                        i += 6;
                        if (0xDC00..0xE000).contains(&v) {
                            return Err(Invalid { offset: i });
                        }
                        if (0xD800..0xDC00).contains(&v) {
                            // A leading surrogate must be followed by a trailing one.
                            if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
                                return Err(Invalid { offset: i });
                            }
                            let low = hex4(b, i + 2).ok_or(Invalid { offset: i })?;
                            if !(0xDC00..0xE000).contains(&low) {
                                return Err(Invalid { offset: i });
                            }
                            i += 6;
                        }
                    }
                    _ => return Err(Invalid { offset: i }),
                }
            }
            c if c < 0x20 => return Err(Invalid { offset: i }),
            c if c >= 0x80 => i = utf8_sequence(b, i).ok_or(Invalid { offset: i })?,
            // Only reachable in the scalar tail: ordinary bytes.
            _ => i += 1,
        }
    }
}

/// Scans (and validates) a number starting at `i`; returns one past its end.
#[inline]
pub fn scan_number(b: &[u8], mut i: usize) -> Result<usize, Invalid> {
    let bad = |i| Err(Invalid { offset: i });
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        _ => return bad(i),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return bad(i);
        }
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return bad(i);
        }
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    Ok(i)
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    /// The nodes of the last text parsed; node 0 is the top-level value.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    #[inline]
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Tokenizes `text`, which must hold exactly one JSON value (surrounding whitespace allowed).
    pub fn parse(&mut self, text: &str) -> Result<(), Invalid> {
        let b = text.as_bytes();
        let end = self.parse_value(b, skip_ws(b, 0), 0)?;
        let end = skip_ws(b, end);
        if end == b.len() {
            Ok(())
        } else {
            Err(Invalid { offset: end })
        }
    }

    /// Tokenizes the one JSON value that starts at byte `start` of `b` (no whitespace before
    /// it), nested `depth` containers deep in an enclosing text (so that the nesting limit counts
    /// the whole text); returns one past the value's end. Node offsets are offsets into `b`.
    /// The value's bytes are then known to be UTF-8: string contents are checked as they are
    /// scanned, and every other byte matched the (ASCII) grammar.
    pub fn parse_value(&mut self, b: &[u8], start: usize, depth: usize) -> Result<usize, Invalid> {
        self.nodes.clear();
        self.stack.clear();
        if b.len() >= u32::MAX as usize {
            return Err(Invalid { offset: 0 });
        }
        let mut i = start;
        // `true` when the next token must be a value (else a comma or a closing bracket).
        let mut want_value = true;
        loop {
            if want_value {
                let Some(&c) = b.get(i) else {
                    return Err(Invalid { offset: i });
                };
                if let Some(&parent) = self.stack.last() {
                    self.nodes[parent as usize].len += 1;
                }
                let index = self.nodes.len() as u32;
                let mut node = Node {
                    kind: NodeKind::Null,
                    escaped: false,
                    start: i as u32,
                    end: 0,
                    next: index + 1,
                    len: 0,
                };
                match c {
                    b'{' | b'[' => {
                        if self.stack.len().saturating_add(depth) >= MAX_DEPTH {
                            return Err(Invalid { offset: i });
                        }
                        node.kind = if c == b'{' {
                            NodeKind::Object
                        } else {
                            NodeKind::Array
                        };
                        self.nodes.push(node);
                        self.stack.push(index);
                        i = skip_ws(b, i + 1);
                        let close = if c == b'{' { b'}' } else { b']' };
                        if b.get(i) == Some(&close) {
                            self.close(i);
                            i += 1;
                            want_value = false;
                        } else if c == b'{' {
                            i = self.key(b, i)?;
                        }
                        continue;
                    }
                    b'"' => {
                        let (end, escaped) = scan_string(b, i + 1)?;
                        node.kind = NodeKind::String;
                        node.escaped = escaped;
                        node.start = (i + 1) as u32;
                        node.end = end as u32;
                        i = end + 1;
                    }
                    b't' | b'f' | b'n' => {
                        let (word, kind): (&[u8], _) = match c {
                            b't' => (b"true", NodeKind::True),
                            b'f' => (b"false", NodeKind::False),
                            _ => (b"null", NodeKind::Null),
                        };
                        if b.get(i..i + word.len()) != Some(word) {
                            return Err(Invalid { offset: i });
                        }
                        node.kind = kind;
                        i += word.len();
                        node.end = i as u32;
                    }
                    b'-' | b'0'..=b'9' => {
                        i = scan_number(b, i)?;
                        node.kind = NodeKind::Number;
                        node.end = i as u32;
                    }
                    _ => return Err(Invalid { offset: i }),
                }
                self.nodes.push(node);
                want_value = false;
            }
            // After a value: the end of the top-level value, a comma or a closing bracket.
            let Some(&parent) = self.stack.last() else {
                return Ok(i);
            };
            i = skip_ws(b, i);
            let in_object = self.nodes[parent as usize].kind == NodeKind::Object;
            match b.get(i) {
                Some(b',') => {
                    i = skip_ws(b, i + 1);
                    if in_object {
                        i = self.key(b, i)?;
                    }
                    want_value = true;
                }
                Some(b'}') if in_object => {
                    self.close(i);
                    i += 1;
                }
                Some(b']') if !in_object => {
                    self.close(i);
                    i += 1;
                }
                _ => return Err(Invalid { offset: i }),
            }
        }
    }

    /// Reads an object key at `i` and the colon after it; returns where the value starts.
    fn key(&mut self, b: &[u8], i: usize) -> Result<usize, Invalid> {
        if b.get(i) != Some(&b'"') {
            return Err(Invalid { offset: i });
        }
        let (end, escaped) = scan_string(b, i + 1)?;
        let index = self.nodes.len() as u32;
        self.nodes.push(Node {
            kind: NodeKind::String,
            escaped,
            start: (i + 1) as u32,
            end: end as u32,
            next: index + 1,
            len: 0,
        });
        let j = skip_ws(b, end + 1);
        if b.get(j) != Some(&b':') {
            return Err(Invalid { offset: j });
        }
        Ok(skip_ws(b, j + 1))
    }

    /// Closes the innermost container at its closing bracket `i`.
    fn close(&mut self, i: usize) {
        let index = self.stack.pop().expect("a container is open") as usize;
        let after = self.nodes.len() as u32;
        let node = &mut self.nodes[index];
        node.end = (i + 1) as u32;
        node.next = after;
    }

    /// The members of object node `obj`, as (key node, value node) index pairs.
    pub fn members(&self, obj: usize) -> Members<'_> {
        let node = &self.nodes[obj];
        Members {
            tape: self,
            at: obj + 1,
            left: if node.kind == NodeKind::Object {
                node.len
            } else {
                0
            },
        }
    }

    /// The items of array node `arr`, as node indexes.
    pub fn items(&self, arr: usize) -> Items<'_> {
        let node = &self.nodes[arr];
        Items {
            tape: self,
            at: arr + 1,
            left: if node.kind == NodeKind::Array {
                node.len
            } else {
                0
            },
        }
    }

    /// The value of `key` in object node `obj` (the last one, if the key repeats).
    pub fn get(&self, text: &str, obj: usize, key: &str) -> Option<usize> {
        self.members(obj)
            .filter(|(k, _)| self.key_is(text, *k, key))
            .last()
            .map(|(_, v)| v)
    }

    /// Whether string node `k` equals `key`.
    #[inline(always)]
    pub fn key_is(&self, text: &str, k: usize, key: &str) -> bool {
        let n = &self.nodes[k];
        if n.escaped {
            return self.escaped_key_is(text, k, key);
        }
        (n.end - n.start) as usize == key.len()
            && text
                .as_bytes()
                .get(n.start as usize..n.end as usize)
                .is_some_and(|raw| short_eq(raw, key.as_bytes()))
    }

    #[cold]
    #[inline(never)]
    fn escaped_key_is(&self, text: &str, k: usize, key: &str) -> bool {
        self.str(text, k) == key
    }

    /// The text of string node `i`, unescaped (borrowed when it has no escapes).
    #[inline]
    pub fn str<'a>(&self, text: &'a str, i: usize) -> Cow<'a, str> {
        let n = &self.nodes[i];
        let raw = &text[n.start as usize..n.end as usize];
        if n.escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// The source text of node `i` (for strings: without the quotes, still escaped).
    #[inline]
    pub fn raw<'a>(&self, text: &'a str, i: usize) -> &'a str {
        let n = &self.nodes[i];
        &text[n.start as usize..n.end as usize]
    }

    /// Whether every number in node `i` (and everything inside it) is finite as an `f64`:
    /// `serde_json` refuses the others (`1e999`), where the grammar the tape checks allows them.
    pub fn numbers_finite(&self, text: &str, i: usize) -> bool {
        let Some(node) = self.nodes.get(i) else {
            return true;
        };
        self.nodes[i..node.next as usize]
            .iter()
            .filter(|n| n.kind == NodeKind::Number)
            .all(|n| {
                let raw = &text[n.start as usize..n.end as usize];
                // Without an exponent, fewer than 16 characters cannot overflow.
                raw.len() < 16 && !raw.contains(['e', 'E'])
                    || raw.parse::<f64>().is_ok_and(f64::is_finite)
            })
    }

    /// The whole source text of node `i` as JSON (strings with their quotes).
    pub fn json<'a>(&self, text: &'a str, i: usize) -> &'a str {
        let n = &self.nodes[i];
        if n.kind == NodeKind::String {
            &text[n.start as usize - 1..n.end as usize + 1]
        } else {
            &text[n.start as usize..n.end as usize]
        }
    }
}

/// Iterator over an object's members; see [`Tape::members`].
pub struct Members<'t> {
    tape: &'t Tape,
    at: usize,
    left: u32,
}

impl Iterator for Members<'_> {
    type Item = (usize, usize);
    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = self.at;
        let value = key + 1;
        self.at = self.tape.nodes[value].next as usize;
        Some((key, value))
    }
}

/// Iterator over an array's items; see [`Tape::items`].
pub struct Items<'t> {
    tape: &'t Tape,
    at: usize,
    left: u32,
}

impl Iterator for Items<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = self.at;
        self.at = self.tape.nodes[item].next as usize;
        Some(item)
    }
}

/// Decodes the escapes of a string content that [`scan_string`] validated.
pub fn unescape(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < b.len() {
        let Some(off) = memchr::memchr(b'\\', &b[i..]) else {
            out.push_str(&raw[i..]);
            break;
        };
        out.push_str(&raw[i..i + off]);
        i += off;
        let c = b[i + 1];
        i += 2;
        match c {
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(b, i).unwrap_or(0xFFFD);
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(b, i + 2).unwrap_or(0xDC00);
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            other => out.push(other as char),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Tape, Invalid> {
        let mut t = Tape::new();
        t.parse(text).map(|_| t)
    }

    #[test]
    fn agrees_with_serde_json_on_validity() {
        let cases = [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
            r#"  [1, -0, 0.5, 1e10, -1.5E-3, "x\"y", "\u00e9\ud83d\ude00"]  "#,
            "{}",
            "[]",
            "[[],{}]",
            r#""just a string""#,
            "12",
            r#"{"a":}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            "[1,]",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[-]",
            "[tru]",
            "[nul]",
            r#"["\x"]"#,
            r#"["\ud800"]"#,
            r#"["\udc00"]"#,
            r#"["\ud800\u0041"]"#,
            "[\"a\u{1}b\"]",
            r#"{"a":1}{"b":2}"#,
            r#"{"a":1} x"#,
            r#"{"a":[1}"#,
            r#"{"a":1]"#,
            r#"{1:2}"#,
            r#"["abc"#,
            r#"["abcdefghijklmnopqrstuvwxyz"#,
            "",
            "   ",
        ];
        for case in cases {
            let ours = parse(case).is_ok();
            let theirs = serde_json::from_str::<serde_json::Value>(case).is_ok();
            assert_eq!(ours, theirs, "{case:?}");
        }
    }

    #[test]
    fn nesting_limit_is_serde_json_s() {
        for depth in [126, 127, 128, 129, 130] {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let text = open.repeat(depth) + "1" + &close.repeat(depth);
                let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                assert_eq!(parse(&text).is_ok(), theirs, "depth {depth} {open}");
            }
        }
    }

    #[test]
    fn strings_are_checked_as_utf8_as_std_checks_them() {
        // A string holding `content`, at every alignment against the eight-byte loop, and
        // followed by enough text for that loop to run past it.
        let check = |content: &[u8]| {
            if content.iter().any(|c| matches!(c, b'"' | b'\\')) {
                return;
            }
            let valid = std::str::from_utf8(content).is_ok() && content.iter().all(|&c| c >= 0x20);
            for pad in 0..9 {
                let mut text = vec![b'"'];
                text.extend(std::iter::repeat_n(b'a', pad));
                text.extend_from_slice(content);
                text.extend_from_slice(b"\"0123456789");
                let got = scan_string(&text, 1);
                assert_eq!(got.is_ok(), valid, "{content:02x?} after {pad} bytes");
                if valid {
                    assert_eq!(got, Ok((1 + pad + content.len(), false)));
                }
            }
        };
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
            }
        }
        // Three- and four-byte sequences: lead bytes from 0xE0 up, then bytes near the edges
        // of the continuation range, from a fixed pseudo-random sequence.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let edges = [
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xF4, 0xFF,
        ];
        for _ in 0..60_000 {
            let r = next();
            let lead = 0xE0 + (r % 32) as u8;
            let pick = |k: u32| edges[((r >> (8 + 4 * k)) % edges.len() as u64) as usize];
            check(&[lead, pick(0), pick(1)]);
            check(&[lead, pick(0), pick(1), pick(2)]);
            check(&[lead, pick(0), pick(1), pick(2), b'z']);
        }
        // Whole characters of every length, and the first and last of each range.
        for s in [
            "é",
            "€",
            "😀",
            "\u{80}",
            "\u{7FF}",
            "\u{800}",
            "\u{FFFF}",
            "\u{10000}",
            "\u{10FFFF}",
        ] {
            check(s.as_bytes());
            check(s.repeat(5).as_bytes());
        }
    }

    #[test]
    fn parses_one_value_inside_a_larger_text() {
        let text = r#"{"a": [1, {"b": "c"}] , "d": 2}"#;
        let mut t = Tape::new();
        let start = text.find('[').unwrap();
        let end = t.parse_value(text.as_bytes(), start, 1).unwrap();
        assert_eq!(&text[start..end], r#"[1, {"b": "c"}]"#);
        assert_eq!(t.json(text, 0), r#"[1, {"b": "c"}]"#);
        assert_eq!(t.node(0).len, 2);
        // A number ends where its digits do; nothing after the value is looked at.
        let start = text.rfind('2').unwrap();
        assert_eq!(t.parse_value(text.as_bytes(), start, 1), Ok(start + 1));
        assert!(t
            .parse_value(text.as_bytes(), text.find(',').unwrap(), 1)
            .is_err());
        // The enclosing containers count towards the nesting limit.
        let inner = "[".repeat(3) + &"]".repeat(3);
        assert!(t.parse_value(inner.as_bytes(), 0, MAX_DEPTH - 3).is_ok());
        assert!(t.parse_value(inner.as_bytes(), 0, MAX_DEPTH - 2).is_err());
    }

    #[test]
    fn nesting_is_limited() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn walks_members_items_and_strings() {
        let text = r#"{"id":"a\"b","n":[1,{"x":null},"s"],"o":{},"id":"last"}"#;
        let t = parse(text).unwrap();
        let members: Vec<_> = t.members(0).collect();
        assert_eq!(members.len(), 4);
        assert_eq!(t.str(text, members[0].1), "a\"b");
        let list = members[1].1;
        let items: Vec<_> = t.items(list).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(t.json(text, items[1]), r#"{"x":null}"#);
        assert_eq!(t.raw(text, items[0]), "1");
        assert_eq!(t.str(text, items[2]), "s");
        assert_eq!(t.node(members[2].1).kind, NodeKind::Object);
        assert_eq!(t.str(text, t.get(text, 0, "id").unwrap()), "last");
        assert_eq!(t.get(text, 0, "missing"), None);
    }

    #[test]
    fn numbers_finite_as_serde_json_reads_them() {
        for (text, finite) in [
            (
                r#"{"a":[1,-0.5,1e308,123456789012345678901234567890]}"#,
                true,
            ),
            (r#"{"a":[1,1e999]}"#, false),
            (r#"{"a":-1E400}"#, false),
            (r#""1e999""#, true),
        ] {
            let t = parse(text).unwrap();
            assert_eq!(t.numbers_finite(text, 0), finite, "{text}");
            let theirs = serde_json::from_str::<serde_json::Value>(text).is_ok();
            assert_eq!(theirs, finite, "{text}");
        }
        // Only the subtree of the node asked about counts.
        let text = r#"{"a":1e999,"b":[2]}"#;
        let t = parse(text).unwrap();
        let b = t.get(text, 0, "b").unwrap();
        assert!(t.numbers_finite(text, b));
        assert!(!t.numbers_finite(text, 0));
    }

    #[test]
    fn unescapes_like_serde_json() {
        for s in [
            r#""plain""#,
            r#""a\nb\tc\\d\/e\"f""#,
            r#""\u0041\u00e9\u4e2d\ud83d\ude00\b\f\r""#,
            r#""ends with escape\\""#,
        ] {
            let t = parse(s).unwrap();
            let want: String = serde_json::from_str(s).unwrap();
            assert_eq!(t.str(s, 0), want);
        }
    }

    #[test]
    fn every_prefix_of_a_valid_text_is_handled() {
        let text = r#"{"a":[1,2.5e3,"x\u00e9y",{"b":null,"c":true}],"d":"long string here"}"#;
        for end in 0..text.len() {
            let part = &text[..end];
            let theirs = serde_json::from_str::<serde_json::Value>(part).is_ok();
            assert_eq!(parse(part).is_ok(), theirs, "{part:?}");
        }
    }
}
