//! The system query options of a request (`$filter`, `$top`, `$skip`, `$orderby`, `$select`,
//! `$count`, `$skiptoken`) parsed from decoded name/value pairs, with other parameters kept.

use crate::ast::{Filter, Path, Root, Span};
use crate::error::{Error, ErrorKind, Fail};
use crate::lexer::{describe_char, lex, snippet, Tok};
use crate::parser;
use crate::Limits;

/// One `$orderby` item: a property path and its direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// The property (always [`Root::Record`]), such as `createdDateTime` or `status/errorCode`.
    pub path: Path,
    /// `desc` was given (the default, and `asc`, sort ascending).
    pub descending: bool,
}

/// The OData query options of one request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryOptions {
    /// `$filter`.
    pub filter: Option<Filter>,
    /// `$top`: a positive page size.
    pub top: Option<u64>,
    /// `$skip`: rows to skip (parsed; the server may refuse it).
    pub skip: Option<u64>,
    /// `$orderby` items in order; empty when not given.
    pub orderby: Vec<OrderBy>,
    /// `$select` properties in order (top-level names or `a/b` paths); empty when not given.
    pub select: Vec<Path>,
    /// `$count`.
    pub count: Option<bool>,
    /// `$skiptoken`, opaque and kept as given.
    pub skiptoken: Option<String>,
    /// Parameters without a `$` that are not option names (such as `format=csv`), in order.
    pub other: Vec<(String, String)>,
}

/// The options this crate parses, by name without `$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Filter,
    Top,
    Skip,
    OrderBy,
    Select,
    Count,
    SkipToken,
}

const OPTIONS: [(&str, Opt); 7] = [
    ("filter", Opt::Filter),
    ("top", Opt::Top),
    ("skip", Opt::Skip),
    ("orderby", Opt::OrderBy),
    ("select", Opt::Select),
    ("count", Opt::Count),
    ("skiptoken", Opt::SkipToken),
];

impl QueryOptions {
    /// Parses decoded query-string pairs with the default [`Limits`].
    ///
    /// Option names are matched case-insensitively, with or without the `$` (`$top`, `top`,
    /// `$TOP`). An unknown `$` name (`$expand`, `$search`, `$format`) and an option given twice
    /// are errors; other names go to [`QueryOptions::other`]. Errors name the option as written.
    pub fn parse<I, K, V>(pairs: I) -> Result<QueryOptions, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        QueryOptions::parse_with(pairs, &Limits::DEFAULT)
    }

    /// Parses decoded query-string pairs within the given limits (`max_len` applies to every
    /// option's value, the others to `$filter`).
    pub fn parse_with<I, K, V>(pairs: I, limits: &Limits) -> Result<QueryOptions, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut out = QueryOptions::default();
        let mut seen: Vec<Opt> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            let bare = name.strip_prefix('$').unwrap_or(name);
            let Some(opt) = OPTIONS
                .iter()
                .find(|(n, _)| bare.eq_ignore_ascii_case(n))
                .map(|(_, o)| *o)
            else {
                if name.starts_with('$') {
                    return Err(Error {
                        option: name.to_string(),
                        position: None,
                        kind: ErrorKind::UnknownOption,
                        message: "this query option is not supported (supported: $filter, $top, $skip, $orderby, $select, $count, $skiptoken)".into(),
                    });
                }
                out.other.push((name.to_string(), value.to_string()));
                continue;
            };
            if seen.contains(&opt) {
                return Err(Error {
                    option: name.to_string(),
                    position: None,
                    kind: ErrorKind::RepeatedOption,
                    message: "this query option is given more than once".into(),
                });
            }
            seen.push(opt);
            let named = |f: Fail| f.into_error(name);
            if value.len() > limits.max_len {
                return Err(named(Fail::limit(
                    0,
                    format!(
                        "value of {} bytes is longer than the limit of {} bytes",
                        value.len(),
                        limits.max_len
                    ),
                )));
            }
            match opt {
                Opt::Filter => out.filter = Some(parser::parse(value, limits).map_err(named)?),
                Opt::Top => {
                    let top = parse_uint(value).map_err(named)?;
                    if top == 0 {
                        return Err(named(Fail::invalid(
                            value.len() - value.trim_start().len(),
                            "expected a positive integer, found 0",
                        )));
                    }
                    out.top = Some(top);
                }
                Opt::Skip => out.skip = Some(parse_uint(value).map_err(named)?),
                Opt::OrderBy => out.orderby = parse_paths(value, true, limits).map_err(named)?,
                Opt::Select => {
                    out.select = parse_paths(value, false, limits)
                        .map_err(named)?
                        .into_iter()
                        .map(|o| o.path)
                        .collect()
                }
                Opt::Count => out.count = Some(parse_bool(value).map_err(named)?),
                Opt::SkipToken => out.skiptoken = Some(value.to_string()),
            }
        }
        Ok(out)
    }
}

/// The first non-space offset of `value` and the trimmed text.
fn trimmed(value: &str) -> (usize, &str) {
    let start = value.len() - value.trim_start().len();
    (start, value.trim())
}

/// A non-negative integer, spaces around allowed.
fn parse_uint(value: &str) -> Result<u64, Fail> {
    let (start, text) = trimmed(value);
    if text.is_empty() {
        return Err(Fail::syntax(
            value.len(),
            "expected an integer, found end of input",
        ));
    }
    if let Some((i, c)) = text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(Fail::syntax(
            start + i,
            format!(
                "expected a non-negative integer, found {}",
                describe_char(c)
            ),
        ));
    }
    text.parse::<u64>()
        .map_err(|_| Fail::invalid(start, format!("integer {} is too large", snippet(text))))
}

/// `true` or `false` in any case, spaces around allowed.
fn parse_bool(value: &str) -> Result<bool, Fail> {
    let (start, text) = trimmed(value);
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else if text.is_empty() {
        Err(Fail::syntax(
            value.len(),
            "expected true or false, found end of input",
        ))
    } else {
        Err(Fail::syntax(
            start,
            format!("expected true or false, found '{}'", snippet(text)),
        ))
    }
}

/// A comma-separated list of `a/b/c` paths, each optionally followed by `asc` or `desc` when
/// `directions` is set.
fn parse_paths(value: &str, directions: bool, limits: &Limits) -> Result<Vec<OrderBy>, Fail> {
    let lexed = lex(value, limits.max_string_len);
    let tokens = lexed.tokens;
    let mut i = 0;
    let mut out = Vec::new();
    let text = |s: Span| &value[s.start..s.end];
    let unexpected = |i: usize, expected: &str| -> Fail {
        let t = &tokens[i];
        match (&t.tok, &lexed.fail) {
            (Tok::Bad, Some(f)) => f.clone(),
            (Tok::Eof, _) => Fail::syntax(
                t.span.start,
                format!("expected {expected}, found end of input"),
            ),
            _ => Fail::syntax(
                t.span.start,
                format!("expected {expected}, found '{}'", snippet(text(t.span))),
            ),
        }
    };
    loop {
        if tokens[i].tok != Tok::Ident {
            return Err(unexpected(i, "a property name"));
        }
        let start = tokens[i].span;
        let mut segments = vec![text(start).to_string()];
        let mut span = start;
        i += 1;
        while tokens[i].tok == Tok::Slash {
            if tokens[i + 1].tok != Tok::Ident {
                return Err(unexpected(i + 1, "a property name after '/'"));
            }
            segments.push(text(tokens[i + 1].span).to_string());
            span = span.to(tokens[i + 1].span);
            i += 2;
        }
        let mut descending = false;
        if directions && tokens[i].tok == Tok::Ident {
            let word = text(tokens[i].span);
            if word.eq_ignore_ascii_case("desc") {
                descending = true;
                i += 1;
            } else if word.eq_ignore_ascii_case("asc") {
                i += 1;
            }
        }
        out.push(OrderBy {
            path: Path {
                root: Root::Record,
                segments,
                span,
            },
            descending,
        });
        match tokens[i].tok {
            Tok::Comma => i += 1,
            Tok::Eof => return Ok(out),
            _ if directions => return Err(unexpected(i, "'asc', 'desc', ',' or end of input")),
            _ => return Err(unexpected(i, "'/', ',' or end of input")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExprKind;

    fn parse(pairs: &[(&str, &str)]) -> Result<QueryOptions, Error> {
        QueryOptions::parse(pairs.iter().copied())
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        parse(pairs).unwrap_err().to_string()
    }

    #[test]
    fn all_options() {
        let o = parse(&[
            ("$filter", "status/errorCode eq 0"),
            ("$top", "50"),
            ("$skip", "0"),
            (
                "$orderby",
                "createdDateTime desc, userPrincipalName ASC,status/errorCode",
            ),
            ("$select", "id,createdDateTime, status/errorCode"),
            ("$count", "TRUE"),
            ("$skiptoken", "abc%3D=="),
            ("format", "csv"),
            ("api-version", "beta"),
        ])
        .unwrap();
        assert!(matches!(
            o.filter.unwrap().expr.kind,
            ExprKind::Compare { .. }
        ));
        assert_eq!(o.top, Some(50));
        assert_eq!(o.skip, Some(0));
        let order: Vec<(String, bool)> = o
            .orderby
            .iter()
            .map(|o| (o.path.segments.join("/"), o.descending))
            .collect();
        assert_eq!(
            order,
            [
                ("createdDateTime".to_string(), true),
                ("userPrincipalName".to_string(), false),
                ("status/errorCode".to_string(), false)
            ]
        );
        assert_eq!(o.orderby[1].path.span, Span::new(22, 39));
        let select: Vec<String> = o.select.iter().map(|p| p.to_string()).collect();
        assert_eq!(select, ["id", "createdDateTime", "status/errorCode"]);
        assert_eq!(o.count, Some(true));
        assert_eq!(o.skiptoken.as_deref(), Some("abc%3D=="));
        assert_eq!(
            o.other,
            [
                ("format".to_string(), "csv".to_string()),
                ("api-version".to_string(), "beta".to_string())
            ]
        );
    }

    #[test]
    fn names_without_dollar_and_any_case() {
        let o = parse(&[
            ("filter", "a eq 1"),
            ("TOP", " 5 "),
            ("$OrderBy", "a"),
            ("Count", "false"),
        ])
        .unwrap();
        assert!(o.filter.is_some());
        assert_eq!(o.top, Some(5));
        assert_eq!(o.orderby.len(), 1);
        assert_eq!(o.count, Some(false));
        assert_eq!(parse(&[]).unwrap(), QueryOptions::default());
    }

    #[test]
    fn option_errors() {
        assert_eq!(
            err(&[("$expand", "x")]),
            "$expand: this query option is not supported (supported: $filter, $top, $skip, $orderby, $select, $count, $skiptoken)"
        );
        assert!(err(&[("$search", "x")]).starts_with("$search: "));
        assert!(err(&[("$format", "json")]).starts_with("$format: "));
        let e = parse(&[("$top", "1"), ("top", "2")]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RepeatedOption);
        assert_eq!(
            e.to_string(),
            "top: this query option is given more than once"
        );
        assert_eq!(
            err(&[("filter", "a eq")]),
            "filter: at position 4: expected a value after 'eq', found end of input"
        );
        assert_eq!(
            err(&[("$top", "0")]),
            "$top: at position 0: expected a positive integer, found 0"
        );
        assert_eq!(
            err(&[("$top", " -1")]),
            "$top: at position 1: expected a non-negative integer, found character '-'"
        );
        assert_eq!(
            err(&[("$top", "")]),
            "$top: at position 0: expected an integer, found end of input"
        );
        assert_eq!(
            err(&[("$skip", "99999999999999999999999")]),
            "$skip: at position 0: integer 99999999999999999999999 is too large"
        );
        assert_eq!(
            err(&[("$top", "1é")]),
            "$top: at position 1: expected a non-negative integer, found character 'é'"
        );
        assert_eq!(
            err(&[("$count", "yes")]),
            "$count: at position 0: expected true or false, found 'yes'"
        );
        assert_eq!(
            err(&[("$orderby", "a desc desc")]),
            "$orderby: at position 7: expected 'asc', 'desc', ',' or end of input, found 'desc'"
        );
        assert_eq!(
            err(&[("$orderby", "a,")]),
            "$orderby: at position 2: expected a property name, found end of input"
        );
        assert_eq!(
            err(&[("$orderby", "")]),
            "$orderby: at position 0: expected a property name, found end of input"
        );
        assert_eq!(
            err(&[("$select", "a/")]),
            "$select: at position 2: expected a property name after '/', found end of input"
        );
        assert_eq!(
            err(&[("$select", "a desc")]),
            "$select: at position 2: expected '/', ',' or end of input, found 'desc'"
        );
        assert_eq!(
            err(&[("$select", "a,é")]),
            "$select: at position 2: unexpected character 'é'"
        );
        assert_eq!(
            err(&[("$select", "*")]),
            "$select: at position 0: unexpected character '*'"
        );
        let long = "a,".repeat(40_000);
        let e = parse(&[("$select", long.as_str())]).unwrap_err();
        assert_eq!((e.kind, e.position), (ErrorKind::Limit, Some(0)));
    }
}
