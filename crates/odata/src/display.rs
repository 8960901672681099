//! Canonical OData text for the syntax tree: lower-case keywords and function names, single
//! spaces, parentheses only where precedence needs them (and around a `not` that is compared).
//! Parsing the printed text gives the same tree, spans aside.

use std::fmt::{self, Write};

use crate::ast::{Expr, ExprKind, Filter, LambdaKind, Literal, Path, Root};
use crate::parser::is_reserved;

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Printer { vars: Vec::new() }.expr(self, f)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Printer { vars: Vec::new() }.path(self, f)
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => {
                f.write_char('\'')?;
                for (i, part) in s.split('\'').enumerate() {
                    if i > 0 {
                        f.write_str("''")?;
                    }
                    f.write_str(part)?;
                }
                f.write_char('\'')
            }
            Literal::Int(v) => write!(f, "{v}"),
            // Debug keeps a fraction or an exponent (`1.0`, `1e300`), so it reads back as a float.
            Literal::Float(v) => write!(f, "{v:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
            Literal::DateTimeOffset { text, .. } | Literal::Date { text, .. } => f.write_str(text),
            Literal::Guid(text) => f.write_str(text),
        }
    }
}

/// Binding strength, loosest first.
fn prec(e: &Expr) -> u8 {
    match e.kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Compare { .. } | ExprKind::In { .. } => 3,
        ExprKind::Not(_) => 4,
        _ => 5,
    }
}

/// Prints with the lambda variables in scope, so record paths that a variable (or a keyword)
/// would capture get a `$it/` prefix.
struct Printer<'a> {
    vars: Vec<&'a str>,
}

impl<'a> Printer<'a> {
    /// `e`, in parentheses if it binds no tighter than `min`.
    fn operand(&mut self, e: &'a Expr, min: u8, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if prec(e) <= min {
            f.write_char('(')?;
            self.expr(e, f)?;
            f.write_char(')')
        } else {
            self.expr(e, f)
        }
    }

    fn expr(&mut self, e: &'a Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &e.kind {
            ExprKind::Or(terms) | ExprKind::And(terms) => {
                let (word, level) = match e.kind {
                    ExprKind::Or(_) => (" or ", 1),
                    _ => (" and ", 2),
                };
                for (i, t) in terms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(word)?;
                    }
                    self.operand(t, level, f)?;
                }
                Ok(())
            }
            ExprKind::Not(inner) => {
                f.write_str("not ")?;
                self.operand(inner, 3, f)
            }
            ExprKind::Compare { op, left, right } => {
                self.operand(left, 4, f)?;
                write!(f, " {} ", op.keyword())?;
                self.operand(right, 4, f)
            }
            ExprKind::In { operand, values } => {
                self.operand(operand, 4, f)?;
                f.write_str(" in (")?;
                for (i, (v, _)) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(')')
            }
            ExprKind::Call { func, args } => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    self.expr(a, f)?;
                }
                f.write_char(')')
            }
            ExprKind::Lambda(l) => {
                self.path(&l.collection, f)?;
                f.write_str(match l.kind {
                    LambdaKind::Any => "/any(",
                    LambdaKind::All => "/all(",
                })?;
                if let Some(body) = &l.body {
                    write!(f, "{}: ", body.var)?;
                    self.vars.push(&body.var);
                    self.expr(&body.expr, f)?;
                    self.vars.pop();
                }
                f.write_char(')')
            }
            ExprKind::Path(p) => self.path(p, f),
            ExprKind::Literal(l) => write!(f, "{l}"),
        }
    }

    fn path(&mut self, p: &Path, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        match &p.root {
            Root::Lambda(var) => {
                f.write_str(var)?;
                first = false;
            }
            Root::Record => {
                let captured = p
                    .segments
                    .first()
                    .is_none_or(|s| is_reserved(s) || self.vars.contains(&s.as_str()));
                if captured {
                    f.write_str("$it")?;
                    first = false;
                }
            }
        }
        for s in &p.segments {
            if !first {
                f.write_char('/')?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}
