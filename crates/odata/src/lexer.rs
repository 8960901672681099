//! The tokenizer: identifiers, `$` variables, quoted strings, numbers, unquoted dates,
//! date-times and GUIDs, and punctuation, each with its byte span.

use crate::ast::Span;
use crate::datetime::{self, Temporal};
use crate::error::Fail;

/// A token's kind and value; identifier-like tokens take their text from the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name or keyword: `[A-Za-z_][A-Za-z0-9_]*`.
    Ident,
    /// `$` followed by name characters (`$it`).
    Var,
    /// A string literal, unescaped.
    Str(String),
    Int(i64),
    Float(f64),
    DateTime(i128),
    Date(i32),
    Guid,
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
    Eof,
    /// Tokenizing failed here; the failure is in [`Lexed::fail`].
    Bad,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// The tokens of a text, ending with `Eof` or, when tokenizing failed, `Bad`.
#[derive(Debug)]
pub(crate) struct Lexed {
    pub tokens: Vec<Token>,
    pub fail: Option<Fail>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Shortens long user text quoted in messages (on a char boundary).
pub(crate) fn snippet(s: &str) -> String {
    const MAX: usize = 40;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// How a character is named in messages.
pub(crate) fn describe_char(c: char) -> String {
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        format!("character U+{:04X}", c as u32)
    } else {
        format!("character '{c}'")
    }
}

/// Whether a full GUID (8-4-4-4-12 hex digits) starts at `i` and is not followed by a name
/// character.
fn guid_at(b: &[u8], i: usize) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut j = i;
    for (g, len) in GROUPS.iter().enumerate() {
        if g > 0 {
            if b.get(j) != Some(&b'-') {
                return false;
            }
            j += 1;
        }
        for _ in 0..*len {
            if !b.get(j).is_some_and(|c| c.is_ascii_hexdigit()) {
                return false;
            }
            j += 1;
        }
    }
    !b.get(j).copied().is_some_and(is_ident_char)
}

/// Whether 8 hex digits and a `-` start at `i` (something meant as a GUID).
fn guid_prefix_at(b: &[u8], i: usize) -> bool {
    b.len() > i + 8 && b[i..i + 8].iter().all(u8::is_ascii_hexdigit) && b[i + 8] == b'-'
}

/// Whether four digits and a `-` start at `i` (something meant as a date).
fn date_prefix_at(b: &[u8], i: usize) -> bool {
    b.len() > i + 4 && b[i..i + 4].iter().all(u8::is_ascii_digit) && b[i + 4] == b'-'
}

/// Tokenizes `src`; string literals longer than `max_string_len` bytes fail.
pub(crate) fn lex(src: &str, max_string_len: usize) -> Lexed {
    let b = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        if i == b.len() {
            tokens.push(Token {
                tok: Tok::Eof,
                span: Span::new(i, i),
            });
            return Lexed { tokens, fail: None };
        }
        match token_at(src, i, max_string_len) {
            Ok((tok, end)) => {
                tokens.push(Token {
                    tok,
                    span: Span::new(i, end),
                });
                i = end;
            }
            Err(fail) => {
                tokens.push(Token {
                    tok: Tok::Bad,
                    span: Span::new(fail.pos, fail.pos),
                });
                return Lexed {
                    tokens,
                    fail: Some(fail),
                };
            }
        }
    }
}

/// The token starting at `i` (not whitespace, not the end) and its end offset.
fn token_at(src: &str, i: usize, max_string_len: usize) -> Result<(Tok, usize), Fail> {
    let b = src.as_bytes();
    let c = b[i];
    let single = |tok| Ok((tok, i + 1));
    match c {
        b'(' => single(Tok::LParen),
        b')' => single(Tok::RParen),
        b',' => single(Tok::Comma),
        b'/' => single(Tok::Slash),
        b':' => single(Tok::Colon),
        b'\'' => string_at(src, i, max_string_len),
        b'$' => {
            let mut j = i + 1;
            while j < b.len() && is_ident_char(b[j]) {
                j += 1;
            }
            if j == i + 1 {
                Err(Fail::syntax(i, "expected a name after '$'"))
            } else {
                Ok((Tok::Var, j))
            }
        }
        _ if date_prefix_at(b, i) => {
            let (end, value) = datetime::scan(src, i)?;
            if let Some(&next) = b.get(end) {
                if is_ident_char(next) || next == b'.' || next == b':' || next == b'-' {
                    let what = match value {
                        Temporal::Date(_) => "date",
                        Temporal::DateTime(_) => "date-time",
                    };
                    return Err(Fail::syntax(
                        end,
                        format!(
                            "unexpected {} after the {what}",
                            describe_char(char::from(next))
                        ),
                    ));
                }
            }
            Ok((
                match value {
                    Temporal::Date(d) => Tok::Date(d),
                    Temporal::DateTime(n) => Tok::DateTime(n),
                },
                end,
            ))
        }
        _ if guid_prefix_at(b, i) => {
            if guid_at(b, i) {
                Ok((Tok::Guid, i + 36))
            } else {
                Err(Fail::syntax(
                    i,
                    "malformed GUID (expected 8-4-4-4-12 hexadecimal digits)",
                ))
            }
        }
        b'0'..=b'9' => number_at(src, i),
        b'-' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => number_at(src, i),
        _ if is_ident_start(c) => {
            let mut j = i + 1;
            while j < b.len() && is_ident_char(b[j]) {
                j += 1;
            }
            Ok((Tok::Ident, j))
        }
        _ => {
            let ch = src[i..].chars().next().unwrap_or('?');
            let hint = match c {
                b'"' => " (strings are quoted with single quotes in OData)",
                b'=' => " (use 'eq')",
                b'!' => " (use 'ne' or 'not')",
                b'<' | b'>' => " (use 'lt', 'le', 'gt' or 'ge')",
                b'&' => " (use 'and')",
                b'|' => " (use 'or')",
                _ => "",
            };
            Err(Fail::syntax(
                i,
                format!("unexpected {}{hint}", describe_char(ch)),
            ))
        }
    }
}

/// A quoted string at `i` (`''` escapes a quote).
fn string_at(src: &str, i: usize, max_string_len: usize) -> Result<(Tok, usize), Fail> {
    let b = src.as_bytes();
    let mut value = String::new();
    let mut from = i + 1;
    let mut j = i + 1;
    loop {
        match b.get(j) {
            None => {
                return Err(Fail::syntax(
                    i,
                    "unterminated string literal (no closing quote)",
                ))
            }
            Some(b'\'') if b.get(j + 1) == Some(&b'\'') => {
                value.push_str(&src[from..=j]);
                j += 2;
                from = j;
            }
            Some(b'\'') => {
                value.push_str(&src[from..j]);
                return Ok((Tok::Str(value), j + 1));
            }
            Some(_) => j += 1,
        }
        // The decoded length so far: what is unescaped plus the pending run without quotes.
        if value.len() + (j - from) > max_string_len {
            return Err(Fail::limit(
                i,
                format!("string literal is longer than the limit of {max_string_len} bytes"),
            ));
        }
    }
}

/// A number at `i`: an optional `-`, digits, an optional fraction and exponent.
fn number_at(src: &str, i: usize) -> Result<(Tok, usize), Fail> {
    let b = src.as_bytes();
    let digits = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut j = if b[i] == b'-' { i + 1 } else { i };
    j = digits(j);
    let mut float = false;
    if b.get(j) == Some(&b'.') {
        let k = digits(j + 1);
        if k == j + 1 {
            return Err(Fail::syntax(
                j + 1,
                "expected digits after the decimal point",
            ));
        }
        j = k;
        float = true;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let e = digits(k);
        if e == k {
            return Err(Fail::syntax(k, "expected digits in the exponent"));
        }
        j = e;
        float = true;
    }
    if let Some(&next) = b.get(j) {
        if is_ident_char(next) || next == b'.' {
            return Err(Fail::syntax(
                j,
                format!(
                    "unexpected {} after the number",
                    describe_char(char::from(next))
                ),
            ));
        }
    }
    let text = &src[i..j];
    if float {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok((Tok::Float(v), j)),
            _ => Err(Fail::invalid(
                i,
                format!("number {} is out of range", snippet(text)),
            )),
        }
    } else {
        match text.parse::<i64>() {
            Ok(v) => Ok((Tok::Int(v), j)),
            Err(_) => Err(Fail::invalid(
                i,
                format!(
                    "integer {} does not fit in 64 bits (use a decimal like 1.0e20 for large numbers)",
                    snippet(text)
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let l = lex(s, 100);
        assert!(l.fail.is_none(), "{s}: {:?}", l.fail);
        l.tokens.into_iter().map(|t| t.tok).collect()
    }

    fn fail(s: &str) -> usize {
        lex(s, 100).fail.expect(s).pos
    }

    #[test]
    fn kinds() {
        assert_eq!(
            toks("a/b eq 'x''y' ( ) , : $it"),
            vec![
                Tok::Ident,
                Tok::Slash,
                Tok::Ident,
                Tok::Ident,
                Tok::Str("x'y".into()),
                Tok::LParen,
                Tok::RParen,
                Tok::Comma,
                Tok::Colon,
                Tok::Var,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("1 -2 1.5 1e3 -1.5E-2"),
            vec![
                Tok::Int(1),
                Tok::Int(-2),
                Tok::Float(1.5),
                Tok::Float(1000.0),
                Tok::Float(-0.015),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("8a07c4d1-1b5e-4d5e-9a2b-3c4d5e6f7a8b abcdef01-1b5e-4d5e-9a2b-3c4d5e6f7a8b"),
            vec![Tok::Guid, Tok::Guid, Tok::Eof]
        );
        assert_eq!(
            toks("2024-07-01)"),
            vec![Tok::Date(19_905), Tok::RParen, Tok::Eof]
        );
        assert_eq!(
            toks("'héllo ✓'"),
            vec![Tok::Str("héllo ✓".into()), Tok::Eof]
        );
        assert_eq!(toks("''"), vec![Tok::Str(String::new()), Tok::Eof]);
        assert_eq!(
            toks("-9223372036854775808"),
            vec![Tok::Int(i64::MIN), Tok::Eof]
        );
    }

    #[test]
    fn failures() {
        assert_eq!(fail("a eq 'abc"), 5);
        assert_eq!(fail("a eq 9223372036854775808"), 5);
        assert_eq!(fail("a eq 1e999"), 5);
        assert_eq!(fail("a eq 1."), 7);
        assert_eq!(fail("a eq 1e"), 7);
        assert_eq!(fail("a eq 12ab"), 7);
        assert_eq!(fail("é"), 0);
        assert_eq!(fail("a eq \"x\""), 5);
        assert_eq!(fail("x é"), 2);
        assert_eq!(fail("8a07c4d1-1b5e-4d5e-9a2b"), 0);
        assert_eq!(fail("2024-07-01T00:00:00Zx"), 20);
        assert_eq!(fail("$ a"), 0);
        assert_eq!(fail("a - 1"), 2);
        assert_eq!(fail(&format!("'{}'", "x".repeat(101))), 0);
        assert!(lex(&format!("'{}'", "x".repeat(100)), 100).fail.is_none());
        assert!(lex(&format!("'{}'", "''".repeat(100)), 100).fail.is_none());
        assert_eq!(fail(&format!("'{}'", "''".repeat(101))), 0);
    }
}
