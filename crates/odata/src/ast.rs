//! The `$filter` syntax tree: expressions, property paths, lambdas and typed literals, each
//! with the byte span of the text it came from.

/// A byte range `start..end` of the parsed text (0-based, end exclusive, on char boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A parsed `$filter`: its expression and the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The root expression (a condition).
    pub expr: Expr,
    /// The text as given to the parser; spans index into it.
    pub source: String,
}

/// An expression node: what it is and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The node.
    pub kind: ExprKind,
    /// The text the node was parsed from (parentheses around it included).
    pub span: Span,
}

/// The kinds of expression.
///
/// `And` and `Or` are n-ary and flat: an `And` never holds an `And` directly (`a and (b and c)`
/// gives `And([a, b, c])`), so chains of thousands of terms stay shallow.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// All terms hold (two or more, none an `And`).
    And(Vec<Expr>),
    /// Any term holds (two or more, none an `Or`).
    Or(Vec<Expr>),
    /// Logical negation.
    Not(Box<Expr>),
    /// `left op right`; either side may be any expression (path, literal, call, condition).
    Compare {
        /// The operator.
        op: CompareOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `operand in (v1, v2, ...)`: the operand equals one of the literals (an extension to
    /// what Graph accepts).
    In {
        /// The tested value, usually a path.
        operand: Box<Expr>,
        /// The candidate values (at least one), each with its span.
        values: Vec<(Literal, Span)>,
    },
    /// A boolean string function with its two arguments.
    Call {
        /// The function.
        func: Function,
        /// The arguments: the string tested, then the string looked for.
        args: Vec<Expr>,
    },
    /// `collection/any(v: body)`, `collection/all(v: body)` or `collection/any()`.
    Lambda(Lambda),
    /// A property of the record or of a lambda's current element.
    Path(Path),
    /// A constant.
    Literal(Literal),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CompareOp {
    /// The operator's OData keyword, lower case.
    pub fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator for a keyword in any case (`eq`, `EQ`, `Eq`), if it is one.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ]
        .into_iter()
        .find(|op| word.eq_ignore_ascii_case(op.keyword()))
    }
}

/// A supported function; each takes two strings and returns a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `startswith(s, prefix)`
    StartsWith,
    /// `endswith(s, suffix)`
    EndsWith,
    /// `contains(s, part)`
    Contains,
}

impl Function {
    /// The function's name in canonical (lower) case.
    pub fn name(self) -> &'static str {
        match self {
            Function::StartsWith => "startswith",
            Function::EndsWith => "endswith",
            Function::Contains => "contains",
        }
    }

    /// The function named `name` in any case (`startsWith`, `STARTSWITH`), if supported.
    pub fn from_name(name: &str) -> Option<Function> {
        [Function::StartsWith, Function::EndsWith, Function::Contains]
            .into_iter()
            .find(|f| name.eq_ignore_ascii_case(f.name()))
    }
}

/// What a [`Path`] starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Root {
    /// The record being filtered (a sign-in, audit or provisioning event).
    Record,
    /// The current element of the enclosing lambda that declared this variable.
    Lambda(String),
}

/// A property path such as `status/errorCode` or `t/displayName`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    /// What the segments are looked up in.
    pub root: Root,
    /// Property names in order, as written (case kept). Never empty for [`Root::Record`]; empty
    /// for a lambda variable used alone (`t eq 'x'`, an element of a collection of strings).
    pub segments: Vec<String>,
    /// The path's text.
    pub span: Span,
}

/// `any` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaKind {
    /// True when some element satisfies the body (or, without a body, when there is one).
    Any,
    /// True when every element satisfies the body (true for an empty collection).
    All,
}

/// A lambda over a collection property.
#[derive(Debug, Clone, PartialEq)]
pub struct Lambda {
    /// The collection.
    pub collection: Path,
    /// `any` or `all`.
    pub kind: LambdaKind,
    /// The variable and condition; `None` only for `any()`.
    pub body: Option<LambdaBody>,
}

/// A lambda's variable and condition.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaBody {
    /// The variable naming the current element; paths rooted at it are [`Root::Lambda`].
    pub var: String,
    /// The condition on each element.
    pub expr: Box<Expr>,
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'` (`''` inside stands for one quote); the value is unescaped.
    String(String),
    /// An integer that fits in 64 bits, such as `50126` or `-1`.
    Int(i64),
    /// A number with a fraction or an exponent, such as `1.5` or `1e3` (always finite).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An unquoted date and time with an offset, such as `2024-07-01T00:00:00Z`.
    DateTimeOffset {
        /// The text as written.
        text: String,
        /// Nanoseconds since 1970-01-01T00:00:00Z (digits past the ninth are dropped).
        utc_nanos: i128,
    },
    /// An unquoted date, such as `2024-07-01`.
    Date {
        /// The text as written.
        text: String,
        /// Days since 1970-01-01.
        days: i32,
    },
    /// An unquoted GUID, such as `8a07c4d1-1b5e-4d5e-9a2b-3c4d5e6f7a8b`.
    Guid(String),
}

impl Filter {
    /// The source text a span covers.
    pub fn text(&self, span: Span) -> &str {
        self.source.get(span.start..span.end).unwrap_or("")
    }
}
