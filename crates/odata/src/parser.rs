//! The `$filter` parser: recursive descent over the tokens with precedence
//! `not` > comparisons (`eq ne gt ge lt le in`) > `and` > `or`, a light type check (conditions
//! where conditions belong), and the depth, node and list limits.

use crate::ast::{
    CompareOp, Expr, ExprKind, Filter, Function, Lambda, LambdaBody, LambdaKind, Literal, Path,
    Root, Span,
};
use crate::error::{Error, Fail};
use crate::lexer::{lex, snippet, Tok, Token};
use crate::Limits;

/// Words that are never property names at the start of a path or lambda variables (write
/// `$it/not` for a property called `not`).
pub(crate) fn is_reserved(word: &str) -> bool {
    const RESERVED: [&str; 19] = [
        "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "has", "add", "sub", "mul",
        "div", "mod", "true", "false", "null",
    ];
    RESERVED.iter().any(|r| word.eq_ignore_ascii_case(r))
}

/// Operators of OData that this crate does not accept.
fn is_unsupported_operator(word: &str) -> bool {
    ["has", "add", "sub", "mul", "div", "mod", "divby"]
        .iter()
        .any(|r| word.eq_ignore_ascii_case(r))
}

/// Parses a `$filter` value with the default [`Limits`]. Errors name the option `$filter`.
///
/// ```
/// let f = gatehouse_odata::parse_filter("createdDateTime ge 2024-07-01T00:00:00Z")?;
/// assert_eq!(f.to_string(), "createdDateTime ge 2024-07-01T00:00:00Z");
/// # Ok::<(), gatehouse_odata::Error>(())
/// ```
pub fn parse_filter(text: &str) -> Result<Filter, Error> {
    parse_filter_with(text, &Limits::DEFAULT)
}

/// Parses a `$filter` value within the given limits. Errors name the option `$filter`.
pub fn parse_filter_with(text: &str, limits: &Limits) -> Result<Filter, Error> {
    parse(text, limits).map_err(|f| f.into_error("$filter"))
}

/// Parses a `$filter` value, failing with a positioned [`Fail`].
pub(crate) fn parse(text: &str, limits: &Limits) -> Result<Filter, Fail> {
    if text.len() > limits.max_len {
        return Err(Fail::limit(
            0,
            format!(
                "filter of {} bytes is longer than the limit of {} bytes",
                text.len(),
                limits.max_len
            ),
        ));
    }
    let lexed = lex(text, limits.max_string_len);
    let mut p = Parser {
        src: text,
        tokens: lexed.tokens,
        fail: lexed.fail,
        pos: 0,
        depth: 0,
        nodes: 0,
        vars: Vec::new(),
        limits: *limits,
    };
    let expr = p.or("a condition")?;
    let tok = p.peek();
    if tok.tok != Tok::Eof {
        return Err(match tok.tok {
            Tok::RParen => Fail::syntax(tok.span.start, "unbalanced ')': no '(' to close"),
            _ if p.is_ty_bool(&expr) => p.unexpected("'and', 'or' or end of input"),
            _ => p.unexpected("an operator such as 'eq', 'and', 'or' or end of input"),
        });
    }
    p.check_bool(&expr, "as the filter")?;
    Ok(Filter {
        expr,
        source: text.to_string(),
    })
}

/// What an expression yields, as far as the parser can tell without a schema.
#[derive(Clone, Copy, PartialEq)]
enum Ty {
    /// A condition.
    Bool,
    /// A non-boolean constant, named for messages.
    Value(&'static str),
    /// `null`.
    Null,
    /// A property: could be anything.
    Unknown,
}

fn ty(e: &Expr) -> Ty {
    match &e.kind {
        ExprKind::And(_)
        | ExprKind::Or(_)
        | ExprKind::Not(_)
        | ExprKind::Compare { .. }
        | ExprKind::In { .. }
        | ExprKind::Call { .. }
        | ExprKind::Lambda(_)
        | ExprKind::Literal(Literal::Bool(_)) => Ty::Bool,
        ExprKind::Path(_) => Ty::Unknown,
        ExprKind::Literal(l) => match l {
            Literal::Null => Ty::Null,
            Literal::String(_) => Ty::Value("a string"),
            Literal::Int(_) | Literal::Float(_) => Ty::Value("a number"),
            Literal::DateTimeOffset { .. } => Ty::Value("a date-time"),
            Literal::Date { .. } => Ty::Value("a date"),
            Literal::Guid(_) => Ty::Value("a GUID"),
            Literal::Bool(_) => Ty::Bool,
        },
    }
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Bool => "a condition",
        Ty::Value(name) => name,
        Ty::Null => "null",
        Ty::Unknown => "a property",
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    fail: Option<Fail>,
    pos: usize,
    depth: usize,
    nodes: usize,
    vars: Vec<String>,
    limits: Limits,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn peek_next(&self) -> &Token {
        &self.tokens[(self.pos + 1).min(self.tokens.len() - 1)]
    }

    /// Consumes the current token (the final `Eof` or `Bad` stays).
    fn bump(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn text(&self, span: Span) -> &'a str {
        &self.src[span.start..span.end]
    }

    /// The current token's text if it is an identifier.
    fn ident(&self) -> Option<&'a str> {
        let t = self.peek();
        (t.tok == Tok::Ident).then(|| self.text(t.span))
    }

    fn at_keyword(&self, word: &str) -> bool {
        self.ident().is_some_and(|w| w.eq_ignore_ascii_case(word))
    }

    fn describe(&self, t: &Token) -> String {
        let text = snippet(self.text(t.span));
        match &t.tok {
            Tok::Ident | Tok::Var => format!("'{text}'"),
            Tok::Str(_) => format!("string {text}"),
            Tok::Int(_) | Tok::Float(_) => format!("number {text}"),
            Tok::DateTime(_) => format!("date-time {text}"),
            Tok::Date(_) => format!("date {text}"),
            Tok::Guid => format!("GUID {text}"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Slash => "'/'".into(),
            Tok::Colon => "':'".into(),
            Tok::Eof | Tok::Bad => "end of input".into(),
        }
    }

    /// The failure for an unexpected current token: the tokenizer's own if it failed there.
    fn unexpected(&self, expected: &str) -> Fail {
        let t = self.peek();
        if t.tok == Tok::Bad {
            if let Some(f) = &self.fail {
                return f.clone();
            }
        }
        Fail::syntax(
            t.span.start,
            format!("expected {expected}, found {}", self.describe(t)),
        )
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<Token, Fail> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn node(&mut self, kind: ExprKind, span: Span) -> Result<Expr, Fail> {
        self.count(span.start)?;
        Ok(Expr { kind, span })
    }

    fn count(&mut self, at: usize) -> Result<(), Fail> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(Fail::limit(
                at,
                format!("filter has more than {} nodes", self.limits.max_nodes),
            ));
        }
        Ok(())
    }

    fn enter(&mut self, at: usize) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(Fail::limit(
                at,
                format!(
                    "filter nests deeper than {} levels (parentheses, 'not', function arguments and lambdas)",
                    self.limits.max_depth
                ),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn is_ty_bool(&self, e: &Expr) -> bool {
        ty(e) == Ty::Bool
    }

    /// Fails unless `e` can be a condition.
    fn check_bool(&self, e: &Expr, place: &str) -> Result<(), Fail> {
        match ty(e) {
            Ty::Bool | Ty::Unknown => Ok(()),
            t => Err(Fail::invalid(
                e.span.start,
                format!("expected a condition {place}, found {}", ty_name(t)),
            )),
        }
    }

    /// `or`-separated terms.
    fn or(&mut self, expected: &str) -> Result<Expr, Fail> {
        self.chain(expected, "or", Self::and)
    }

    /// `and`-separated terms.
    fn and(&mut self, expected: &str) -> Result<Expr, Fail> {
        self.chain(expected, "and", Self::comparison)
    }

    /// Terms of `operand` joined by the keyword `or` or `and`, flattened into one n-ary node (a
    /// lone term is returned as it is).
    fn chain(
        &mut self,
        expected: &str,
        keyword: &str,
        operand: fn(&mut Self, &str) -> Result<Expr, Fail>,
    ) -> Result<Expr, Fail> {
        let or_level = keyword == "or";
        let first = operand(self, expected)?;
        if !self.at_keyword(keyword) {
            return Ok(first);
        }
        let mut terms = Vec::new();
        push_flat(&mut terms, first, or_level);
        while self.at_keyword(keyword) {
            let op = self.bump();
            let ctx = format!("a condition after '{}'", self.text(op.span));
            let term = operand(self, &ctx)?;
            push_flat(&mut terms, term, or_level);
        }
        let place = format!("on each side of '{keyword}'");
        for t in &terms {
            self.check_bool(t, &place)?;
        }
        let span = terms[0].span.to(terms[terms.len() - 1].span);
        let kind = if or_level {
            ExprKind::Or(terms)
        } else {
            ExprKind::And(terms)
        };
        self.node(kind, span)
    }

    /// A unary expression, optionally compared with another or tested with `in`.
    fn comparison(&mut self, expected: &str) -> Result<Expr, Fail> {
        let left = self.unary(expected)?;
        let Some(word) = self.ident() else {
            return Ok(left);
        };
        let expr = if let Some(op) = CompareOp::from_keyword(word) {
            let op_tok = self.bump();
            let ctx = format!("a value after '{word}'");
            let right = self.unary(&ctx)?;
            let (lt, rt) = (ty(&left), ty(&right));
            let mismatch = matches!(
                (lt, rt),
                (Ty::Bool, Ty::Value(_)) | (Ty::Value(_), Ty::Bool)
            );
            if mismatch {
                let hint = if matches!(left.kind, ExprKind::Not(_)) {
                    format!(" ('not' applies before '{word}': write not (a {word} b))")
                } else {
                    String::new()
                };
                return Err(Fail::invalid(
                    op_tok.span.start,
                    format!("cannot compare {} with {}{hint}", ty_name(lt), ty_name(rt)),
                ));
            }
            let span = left.span.to(right.span);
            self.node(
                ExprKind::Compare {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                span,
            )?
        } else if word.eq_ignore_ascii_case("in") {
            self.in_list(left)?
        } else if is_unsupported_operator(word) {
            let at = self.peek().span.start;
            return Err(Fail::invalid(
                at,
                format!("operator '{word}' is not supported"),
            ));
        } else {
            return Ok(left);
        };
        if let Some(word) = self.ident() {
            if CompareOp::from_keyword(word).is_some() || word.eq_ignore_ascii_case("in") {
                return Err(Fail::syntax(
                    self.peek().span.start,
                    format!(
                        "comparisons cannot be chained: put parentheses around the comparison before '{word}'"
                    ),
                ));
            }
        }
        Ok(expr)
    }

    /// `operand in (literal, ...)`, the current token being `in`.
    fn in_list(&mut self, operand: Expr) -> Result<Expr, Fail> {
        let in_tok = self.bump();
        if ty(&operand) == Ty::Bool {
            return Err(Fail::invalid(
                operand.span.start,
                "expected a value before 'in', found a condition",
            ));
        }
        self.expect(Tok::LParen, "'(' and a list of values after 'in'")?;
        let mut values = Vec::new();
        let end = loop {
            let t = self.peek().clone();
            let Some(lit) = self.literal(&t) else {
                return Err(self.unexpected("a literal value in the 'in' list"));
            };
            self.count(t.span.start)?;
            if values.len() == self.limits.max_in_items {
                return Err(Fail::limit(
                    t.span.start,
                    format!(
                        "'in' list has more than {} values",
                        self.limits.max_in_items
                    ),
                ));
            }
            self.bump();
            values.push((lit, t.span));
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => break self.bump().span,
                _ => return Err(self.unexpected("',' or ')' in the 'in' list")),
            }
        };
        let _ = in_tok;
        let span = operand.span.to(end);
        self.node(
            ExprKind::In {
                operand: Box::new(operand),
                values,
            },
            span,
        )
    }

    /// The literal a token stands for, if it is one.
    fn literal(&self, t: &Token) -> Option<Literal> {
        let text = || self.text(t.span).to_string();
        Some(match &t.tok {
            Tok::Str(s) => Literal::String(s.clone()),
            Tok::Int(v) => Literal::Int(*v),
            Tok::Float(v) => Literal::Float(*v),
            Tok::DateTime(n) => Literal::DateTimeOffset {
                text: text(),
                utc_nanos: *n,
            },
            Tok::Date(d) => Literal::Date {
                text: text(),
                days: *d,
            },
            Tok::Guid => Literal::Guid(text()),
            Tok::Ident => {
                let w = self.text(t.span);
                if w.eq_ignore_ascii_case("true") {
                    Literal::Bool(true)
                } else if w.eq_ignore_ascii_case("false") {
                    Literal::Bool(false)
                } else if w.eq_ignore_ascii_case("null") {
                    Literal::Null
                } else {
                    return None;
                }
            }
            _ => return None,
        })
    }

    /// `not` expressions and primaries.
    fn unary(&mut self, expected: &str) -> Result<Expr, Fail> {
        if !self.at_keyword("not") {
            return self.primary(expected);
        }
        let not = self.bump();
        self.enter(not.span.start)?;
        let ctx = format!("a condition after '{}'", self.text(not.span));
        let operand = self.unary(&ctx)?;
        self.leave();
        self.check_bool(&operand, &format!("after '{}'", self.text(not.span)))?;
        let span = not.span.to(operand.span);
        self.node(ExprKind::Not(Box::new(operand)), span)
    }

    /// A parenthesized expression, literal, function call, path or lambda.
    fn primary(&mut self, expected: &str) -> Result<Expr, Fail> {
        let t = self.peek().clone();
        if let Some(lit) = self.literal(&t) {
            self.bump();
            return self.node(ExprKind::Literal(lit), t.span);
        }
        match t.tok {
            Tok::LParen => {
                self.bump();
                self.enter(t.span.start)?;
                let mut e = self.or("a condition after '('")?;
                self.leave();
                let close = format!(
                    "')' to close the '(' at position {}, or an operator",
                    t.span.start
                );
                let r = self.expect(Tok::RParen, &close)?;
                e.span = t.span.to(r.span);
                Ok(e)
            }
            Tok::Ident => {
                let word = self.text(t.span);
                if is_reserved(word) {
                    return Err(self.unexpected(expected));
                }
                if self.peek_next().tok == Tok::LParen {
                    return self.call();
                }
                self.bump();
                let root = if self.vars.iter().any(|v| v == word) {
                    Root::Lambda(word.to_string())
                } else {
                    Root::Record
                };
                let segments = match root {
                    Root::Record => vec![word.to_string()],
                    Root::Lambda(_) => Vec::new(),
                };
                self.path(root, segments, t.span)
            }
            Tok::Var => {
                let word = self.text(t.span);
                if !word.eq_ignore_ascii_case("$it") {
                    return Err(Fail::invalid(
                        t.span.start,
                        format!(
                            "unknown variable '{}' (only $it, the record, and lambda variables are known)",
                            snippet(word)
                        ),
                    ));
                }
                self.bump();
                if self.peek().tok != Tok::Slash {
                    return Err(self.unexpected("'/' and a property name after '$it'"));
                }
                self.path(Root::Record, Vec::new(), t.span)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    /// The rest of a path after its first token: `/segment`s, possibly ending in a lambda.
    fn path(&mut self, root: Root, mut segments: Vec<String>, start: Span) -> Result<Expr, Fail> {
        let mut span = start;
        while self.peek().tok == Tok::Slash {
            self.bump();
            let Some(word) = self.ident() else {
                return Err(self.unexpected("a property name after '/'"));
            };
            let seg = self.bump();
            let kind = if self.peek().tok != Tok::LParen {
                None
            } else if word.eq_ignore_ascii_case("any") {
                Some(LambdaKind::Any)
            } else if word.eq_ignore_ascii_case("all") {
                Some(LambdaKind::All)
            } else {
                return Err(Fail::syntax(
                    self.peek().span.start,
                    format!(
                        "expected an operator after '{}', found '(' (only any and all can follow a path)",
                        snippet(self.text(span.to(seg.span)))
                    ),
                ));
            };
            if let Some(kind) = kind {
                if root == Root::Record && segments.is_empty() {
                    return Err(Fail::invalid(
                        seg.span.start,
                        format!("'{word}' needs a collection property before it"),
                    ));
                }
                let collection = Path {
                    root,
                    segments,
                    span,
                };
                return self.lambda(collection, kind, seg);
            }
            segments.push(word.to_string());
            span = span.to(seg.span);
        }
        let path = Path {
            root,
            segments,
            span,
        };
        self.node(ExprKind::Path(path), span)
    }

    /// `(var: body)` or `()` after `collection/any` or `collection/all`.
    fn lambda(&mut self, collection: Path, kind: LambdaKind, kw: Token) -> Result<Expr, Fail> {
        let kw_text = self.text(kw.span);
        let open = self.bump();
        let start = collection.span;
        if self.peek().tok == Tok::RParen {
            if kind == LambdaKind::All {
                return Err(Fail::invalid(
                    kw.span.start,
                    format!("'{kw_text}()' needs a condition, as in {kw_text}(t: t eq 'x')"),
                ));
            }
            let close = self.bump();
            let span = start.to(close.span);
            return self.node(
                ExprKind::Lambda(Lambda {
                    collection,
                    kind,
                    body: None,
                }),
                span,
            );
        }
        let Some(var) = self.ident() else {
            return Err(self.unexpected(&format!(
                "a variable name and ':' (as in {kw_text}(t: t eq 'x')) or ')'"
            )));
        };
        let var_tok = self.bump();
        if is_reserved(var) {
            return Err(Fail::invalid(
                var_tok.span.start,
                format!("'{var}' is a keyword and cannot name a lambda variable"),
            ));
        }
        if self.vars.iter().any(|v| v == var) {
            return Err(Fail::invalid(
                var_tok.span.start,
                format!("variable '{var}' is already used by an enclosing lambda"),
            ));
        }
        self.expect(
            Tok::Colon,
            &format!("':' after the lambda variable '{var}'"),
        )?;
        self.enter(open.span.start)?;
        self.vars.push(var.to_string());
        let body = self.or(&format!("a condition after '{var}:'"))?;
        self.vars.pop();
        self.leave();
        self.check_bool(&body, &format!("in the body of '{kw_text}'"))?;
        let close = self.expect(
            Tok::RParen,
            &format!(
                "')' to close '{kw_text}(' at position {}, or an operator",
                open.span.start
            ),
        )?;
        let span = start.to(close.span);
        self.node(
            ExprKind::Lambda(Lambda {
                collection,
                kind,
                body: Some(LambdaBody {
                    var: var.to_string(),
                    expr: Box::new(body),
                }),
            }),
            span,
        )
    }

    /// `name(arg, ...)`, the current token being the name.
    fn call(&mut self) -> Result<Expr, Fail> {
        let name_tok = self.bump();
        let name = self.text(name_tok.span);
        let Some(func) = Function::from_name(name) else {
            let msg = if name.eq_ignore_ascii_case("any") || name.eq_ignore_ascii_case("all") {
                format!("'{name}' must follow a collection property, as in targetResources/{name}(t: t/displayName eq 'x')")
            } else {
                format!(
                    "unknown function '{}' (supported: startswith, endswith, contains)",
                    snippet(name)
                )
            };
            return Err(Fail::invalid(name_tok.span.start, msg));
        };
        let open = self.bump();
        self.enter(open.span.start)?;
        let mut args = Vec::new();
        let close = if self.peek().tok == Tok::RParen {
            self.bump()
        } else {
            loop {
                let arg = self.or(&format!("an argument of '{name}'"))?;
                if ty(&arg) == Ty::Bool {
                    return Err(Fail::invalid(
                        arg.span.start,
                        format!("expected a string argument of '{name}', found a condition"),
                    ));
                }
                args.push(arg);
                match self.peek().tok {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RParen => break self.bump(),
                    _ => {
                        return Err(
                            self.unexpected(&format!("',' or ')' in the arguments of '{name}'"))
                        )
                    }
                }
            }
        };
        self.leave();
        if args.len() != 2 {
            return Err(Fail::invalid(
                name_tok.span.start,
                format!("'{name}' takes 2 arguments, found {}", args.len()),
            ));
        }
        let span = name_tok.span.to(close.span);
        self.node(ExprKind::Call { func, args }, span)
    }
}

/// Appends `e` to `terms`, splicing in its terms if it is itself an `Or` (`or_level`) or `And`.
fn push_flat(terms: &mut Vec<Expr>, e: Expr, or_level: bool) {
    match e.kind {
        ExprKind::Or(inner) if or_level => terms.extend(inner),
        ExprKind::And(inner) if !or_level => terms.extend(inner),
        kind => terms.push(Expr { kind, span: e.span }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(e: &Expr) -> String {
        match &e.kind {
            ExprKind::And(v) => {
                format!("and[{}]", v.iter().map(shape).collect::<Vec<_>>().join(" "))
            }
            ExprKind::Or(v) => format!("or[{}]", v.iter().map(shape).collect::<Vec<_>>().join(" ")),
            ExprKind::Not(x) => format!("not[{}]", shape(x)),
            ExprKind::Compare { op, left, right } => {
                format!("{}[{} {}]", op.keyword(), shape(left), shape(right))
            }
            ExprKind::In { operand, values } => format!("in[{} {}]", shape(operand), values.len()),
            ExprKind::Call { func, args } => format!(
                "{}[{}]",
                func.name(),
                args.iter().map(shape).collect::<Vec<_>>().join(" ")
            ),
            ExprKind::Lambda(l) => format!(
                "{:?}[{}]",
                l.kind,
                l.body.as_ref().map_or(String::new(), |b| shape(&b.expr))
            ),
            ExprKind::Path(p) => match &p.root {
                Root::Record => p.segments.join("/"),
                Root::Lambda(v) => format!("@{v}/{}", p.segments.join("/")),
            },
            ExprKind::Literal(l) => l.to_string(),
        }
    }

    fn p(s: &str) -> String {
        shape(
            &parse(s, &Limits::DEFAULT)
                .unwrap_or_else(|e| panic!("{s}: {e:?}"))
                .expr,
        )
    }

    #[test]
    fn shapes() {
        assert_eq!(p("a eq 1"), "eq[a 1]");
        assert_eq!(p("a or b and c"), "or[a and[b c]]");
        assert_eq!(p("a and b or c and d"), "or[and[a b] and[c d]]");
        assert_eq!(p("not a and b"), "and[not[a] b]");
        assert_eq!(p("not (a or b)"), "not[or[a b]]");
        assert_eq!(p("not a eq true"), "eq[not[a] true]");
        assert_eq!(p("((a))"), "a");
        assert_eq!(p("a/b/c ne null"), "ne[a/b/c null]");
        assert_eq!(p("x/any(t: t eq 1)"), "Any[eq[@t/ 1]]");
        assert_eq!(p("x/all(t: t/y eq z)"), "All[eq[@t/y z]]");
        assert_eq!(p("x/any()"), "Any[]");
        assert_eq!(
            p("startswith(a, 'b') eq false"),
            "eq[startswith[a 'b'] false]"
        );
        assert_eq!(p("a in (1, 'x', null)"), "in[a 3]");
        assert_eq!(p("(a eq 1) ne (b eq 2)"), "ne[eq[a 1] eq[b 2]]");
        assert_eq!(p("'x' eq a"), "eq['x' a]");
    }

    #[test]
    fn spans() {
        let f = parse("x/any(t: t/y eq 'z') and not b", &Limits::DEFAULT).unwrap();
        let ExprKind::And(terms) = &f.expr.kind else {
            panic!()
        };
        assert_eq!(f.expr.span, Span::new(0, 30));
        assert_eq!(f.text(terms[0].span), "x/any(t: t/y eq 'z')");
        assert_eq!(f.text(terms[1].span), "not b");
        let ExprKind::Lambda(l) = &terms[0].kind else {
            panic!()
        };
        assert_eq!(f.text(l.collection.span), "x");
        let body = &l.body.as_ref().unwrap().expr;
        assert_eq!(f.text(body.span), "t/y eq 'z'");
    }

    #[test]
    fn reserved_words() {
        assert!(is_reserved("AND"));
        assert!(is_reserved("null"));
        assert!(!is_reserved("any"));
        assert!(!is_reserved("startswith"));
        // Functions and any/all are names unless followed by '('.
        assert_eq!(p("startswith eq 1"), "eq[startswith 1]");
        assert_eq!(p("any/all eq 1"), "eq[any/all 1]");
    }
}
