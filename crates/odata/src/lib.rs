//! Gatehouse OData: a parser of the OData system query options that Microsoft Graph's audit log
//! endpoints (`/auditLogs/signIns`, `/auditLogs/directoryAudits`, `/auditLogs/provisioning`)
//! accept: `$filter`, `$top`, `$skip`, `$orderby`, `$select`, `$count` and `$skiptoken`.
//!
//! `$filter` is parsed by a tokenizer and a recursive-descent parser into an [`Expr`] tree with
//! a byte [`Span`] on every node; nothing here knows about Arrow or DataFusion. Errors carry the
//! option name and a 0-based byte position into the option's value, and read well enough to be
//! shown to a client as is. Hostile input is bounded by [`Limits`]: the parser never panics,
//! never recurses deeper than [`MAX_DEPTH`] levels and works in time linear in the input.
//!
//! ```
//! use gatehouse_odata::{parse_filter, ExprKind, QueryOptions};
//! let filter = parse_filter("status/errorCode eq 50126 and startsWith(appDisplayName, 'Graph')")?;
//! assert!(matches!(filter.expr.kind, ExprKind::And(_)));
//! assert_eq!(filter.to_string(), "status/errorCode eq 50126 and startswith(appDisplayName, 'Graph')");
//!
//! let opts = QueryOptions::parse([("$top", "10"), ("$orderby", "createdDateTime desc"), ("format", "csv")])?;
//! assert_eq!(opts.top, Some(10));
//! assert_eq!(opts.other, vec![("format".to_string(), "csv".to_string())]);
//! # Ok::<(), gatehouse_odata::Error>(())
//! ```

mod ast;
mod datetime;
mod display;
mod error;
mod lexer;
mod options;
mod parser;

pub use ast::{
    CompareOp, Expr, ExprKind, Filter, Function, Lambda, LambdaBody, LambdaKind, Literal, Path,
    Root, Span,
};
pub use error::{Error, ErrorKind};
pub use options::{OrderBy, QueryOptions};
pub use parser::{parse_filter, parse_filter_with};

/// Longest accepted value of any query option, `$filter` included, in bytes (64 KiB).
pub const MAX_FILTER_LEN: usize = 64 * 1024;
/// Deepest accepted nesting in a `$filter`: every parenthesis, `not`, function argument list
/// and lambda body counts one level.
pub const MAX_DEPTH: usize = 64;
/// Longest accepted string literal, in bytes after unescaping `''` (8 KiB).
pub const MAX_STRING_LEN: usize = 8 * 1024;
/// Most values accepted in one `in (...)` list.
pub const MAX_IN_ITEMS: usize = 1_000;
/// Most AST nodes accepted in one `$filter` (every expression and every `in` list value counts).
pub const MAX_NODES: usize = 10_000;

/// Bounds on a parsed `$filter`; [`Limits::DEFAULT`] holds the `MAX_*` constants.
///
/// The parser recurses once per nesting level, so `max_depth` also bounds its stack use (a few
/// hundred bytes a level): keep it in the hundreds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted text, in bytes.
    pub max_len: usize,
    /// Deepest accepted nesting (parentheses, `not`, function arguments, lambda bodies).
    pub max_depth: usize,
    /// Longest accepted string literal, in bytes after unescaping.
    pub max_string_len: usize,
    /// Most values in one `in (...)` list.
    pub max_in_items: usize,
    /// Most AST nodes in one filter.
    pub max_nodes: usize,
}

impl Limits {
    /// The `MAX_*` constants of this crate.
    pub const DEFAULT: Limits = Limits {
        max_len: MAX_FILTER_LEN,
        max_depth: MAX_DEPTH,
        max_string_len: MAX_STRING_LEN,
        max_in_items: MAX_IN_ITEMS,
        max_nodes: MAX_NODES,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}
