//! `$filter` → a DataFusion predicate over a log's table, checked against its columns.
//!
//! Property paths resolve to the stored columns (struct members by `/`), names matched exactly
//! or else ignoring case; the other side of a comparison must be a literal of the property's
//! type (an unquoted date and time for a time, a number for a number, a quoted string for a
//! string). String comparisons and functions are exact (case-sensitive). A lambda
//! (`targetResources/any(t: t/displayName eq 'x')`) becomes a function evaluated over the
//! collection's elements; its condition may use only its own variable. Every error names the
//! position in the filter text it is about.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanBuilder, RecordBatch};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions::string::expr_fn::{contains, ends_with, starts_with};
use datafusion::functions_nested::expr_fn::{array_has, cardinality};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    lit, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::DataFrame;
use gatehouse_odata::{
    CompareOp, Expr as OExpr, ExprKind, Filter, Function, Lambda, LambdaKind, Literal, Path, Root,
    Span,
};

use crate::page::{column, micros};
use crate::resource::{ApiVersion, GraphResource};
use crate::GraphError;

/// The name a lambda's element has in the batch its condition is evaluated over.
const ELEMENT: &str = "__element";

/// The predicate a filter means over `df`'s table.
pub(crate) fn to_expr(
    filter: &Filter,
    resource: GraphResource,
    version: ApiVersion,
    df: &DataFrame,
) -> Result<Expr, GraphError> {
    let fields = df.schema().as_arrow().fields().clone();
    let t = Translator {
        filter,
        resource,
        version,
        scope: Scope::Record(fields),
    };
    t.condition(&filter.expr)
}

/// Whether the filter names the top-level property `name` anywhere.
pub(crate) fn mentions(filter: &Filter, name: &str) -> bool {
    fn walk(e: &OExpr, name: &str) -> bool {
        let path_is = |p: &Path| {
            p.root == Root::Record
                && p.segments
                    .first()
                    .is_some_and(|s| s.eq_ignore_ascii_case(name))
        };
        match &e.kind {
            ExprKind::And(v) | ExprKind::Or(v) => v.iter().any(|x| walk(x, name)),
            ExprKind::Not(x) => walk(x, name),
            ExprKind::Compare { left, right, .. } => walk(left, name) || walk(right, name),
            ExprKind::In { operand, .. } => walk(operand, name),
            ExprKind::Call { args, .. } => args.iter().any(|x| walk(x, name)),
            ExprKind::Lambda(l) => {
                path_is(&l.collection) || l.body.as_ref().is_some_and(|b| walk(&b.expr, name))
            }
            ExprKind::Path(p) => path_is(p),
            ExprKind::Literal(_) => false,
        }
    }
    walk(&filter.expr, name)
}

/// Graph's default population of a sign-in list: interactive user sign-ins.
pub(crate) fn interactive_only() -> Expr {
    array_has(column("signInEventTypes"), lit("interactiveUser"))
}

/// Detections of users (not of service principals), which share the `riskDetections` table.
pub(crate) fn no_service_principal() -> Expr {
    datafusion::functions::core::expr_fn::coalesce(vec![column("servicePrincipalId"), lit("")])
        .eq(lit(""))
}

/// What paths are looked up in.
#[derive(Clone)]
enum Scope {
    /// The record's columns.
    Record(Fields),
    /// A lambda's element (named `var`, of type `element`).
    Element { var: String, element: DataType },
}

struct Translator<'a> {
    filter: &'a Filter,
    resource: GraphResource,
    version: ApiVersion,
    scope: Scope,
}

/// A translated operand: the expression and the Arrow type of its values (`None` for a
/// literal, whose type follows the other side).
struct Value {
    expr: Expr,
    ty: Option<DataType>,
    literal: Option<(Literal, Span)>,
}

impl Translator<'_> {
    fn err(&self, span: Span, message: impl std::fmt::Display) -> GraphError {
        GraphError::BadRequest(format!("$filter: at position {}: {message}", span.start))
    }

    fn text(&self, span: Span) -> &str {
        self.filter.text(span)
    }

    /// A boolean expression.
    fn condition(&self, e: &OExpr) -> Result<Expr, GraphError> {
        match &e.kind {
            ExprKind::And(terms) | ExprKind::Or(terms) => {
                let join = match e.kind {
                    ExprKind::And(_) => Expr::and,
                    _ => Expr::or,
                };
                let terms = terms
                    .iter()
                    .map(|t| self.condition(t))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(balanced(terms, join))
            }
            ExprKind::Not(inner) => Ok(Expr::Not(Box::new(self.condition(inner)?))),
            ExprKind::Compare { op, left, right } => self.compare(*op, left, right, e.span),
            ExprKind::In { operand, values } => {
                let target = self.value(operand)?;
                let Some(ty) = target.ty.clone() else {
                    return Err(self.err(operand.span, "the left side of 'in' must be a property"));
                };
                let list = values
                    .iter()
                    .map(|(l, span)| self.literal_as(l, *span, &ty, operand.span).map(lit))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(target.expr.in_list(list, false))
            }
            ExprKind::Call { func, args } => self.call(*func, args, e.span),
            ExprKind::Lambda(l) => self.lambda(l, e.span),
            ExprKind::Path(p) => {
                let (expr, ty) = self.path(p)?;
                if ty != DataType::Boolean {
                    return Err(self.err(
                        p.span,
                        format!(
                            "'{}' is not true or false; compare it with a value",
                            self.text(p.span)
                        ),
                    ));
                }
                Ok(expr)
            }
            ExprKind::Literal(Literal::Bool(b)) => Ok(lit(*b)),
            ExprKind::Literal(_) => Err(self.err(e.span, "a value alone is not a condition")),
        }
    }

    /// An operand of a comparison.
    fn value(&self, e: &OExpr) -> Result<Value, GraphError> {
        match &e.kind {
            ExprKind::Path(p) => {
                let (expr, ty) = self.path(p)?;
                Ok(Value {
                    expr,
                    ty: Some(ty),
                    literal: None,
                })
            }
            ExprKind::Literal(l) => Ok(Value {
                expr: lit(ScalarValue::Null),
                ty: None,
                literal: Some((l.clone(), e.span)),
            }),
            _ => Ok(Value {
                expr: self.condition(e)?,
                ty: Some(DataType::Boolean),
                literal: None,
            }),
        }
    }

    fn compare(
        &self,
        op: CompareOp,
        left: &OExpr,
        right: &OExpr,
        span: Span,
    ) -> Result<Expr, GraphError> {
        let (l, r) = (self.value(left)?, self.value(right)?);
        for (side, e) in [(&l, left), (&r, right)] {
            if let Some(DataType::List(_) | DataType::Struct(_) | DataType::Map(_, _)) = &side.ty {
                let what = match side.ty {
                    Some(DataType::List(_)) => "a collection: use any() or all()",
                    _ => "an object: compare one of its members",
                };
                return Err(self.err(e.span, format!("'{}' is {what}", self.text(e.span))));
            }
        }
        // `null` on either side: a test for absence.
        for (side, other) in [(&l, &r), (&r, &l)] {
            if matches!(side.literal, Some((Literal::Null, _))) {
                let Some(_) = other.ty else {
                    return Err(self.err(span, "compare a property with null"));
                };
                return match op {
                    CompareOp::Eq => Ok(other.expr.clone().is_null()),
                    CompareOp::Ne => Ok(other.expr.clone().is_not_null()),
                    _ => Err(self.err(span, "null can only be compared with eq or ne")),
                };
            }
        }
        let (l, r, op) = match (&l.ty, &r.ty) {
            (Some(ty), None) => {
                let (lit_v, lit_span) = r.literal.clone().expect("a literal");
                let value = self.literal_as(&lit_v, lit_span, ty, left.span)?;
                (l.expr, lit(value), op)
            }
            (None, Some(ty)) => {
                let (lit_v, lit_span) = l.literal.clone().expect("a literal");
                let value = self.literal_as(&lit_v, lit_span, ty, right.span)?;
                (r.expr, lit(value), swap(op))
            }
            (Some(a), Some(b)) => {
                if !comparable(a, b) {
                    return Err(self.err(
                        span,
                        format!("cannot compare {} with {}", type_name(a), type_name(b)),
                    ));
                }
                (l.expr, r.expr, op)
            }
            (None, None) => {
                return Err(self.err(span, "one side of a comparison must be a property"))
            }
        };
        Ok(match op {
            CompareOp::Eq => l.eq(r),
            CompareOp::Ne => l.not_eq(r),
            CompareOp::Gt => l.gt(r),
            CompareOp::Ge => l.gt_eq(r),
            CompareOp::Lt => l.lt(r),
            CompareOp::Le => l.lt_eq(r),
        })
    }

    /// A literal as a value of the type `ty` of the property it is compared with (at `target`).
    fn literal_as(
        &self,
        l: &Literal,
        span: Span,
        ty: &DataType,
        target: Span,
    ) -> Result<ScalarValue, GraphError> {
        let name = self.text(target).to_string();
        let mismatch = |want: &str| {
            self.err(
                span,
                format!(
                    "'{name}' is {}: expected {want}, found {}",
                    type_name(ty),
                    describe(l)
                ),
            )
        };
        Ok(match ty {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => match l {
                Literal::String(s) | Literal::Guid(s) => ScalarValue::Utf8(Some(s.clone())),
                _ => return Err(mismatch("a quoted string")),
            },
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => match l {
                Literal::Int(i) => ScalarValue::Int64(Some(*i)),
                _ => return Err(mismatch("a whole number")),
            },
            DataType::Float32 | DataType::Float64 => match l {
                Literal::Int(i) => ScalarValue::Float64(Some(*i as f64)),
                Literal::Float(f) => ScalarValue::Float64(Some(*f)),
                _ => return Err(mismatch("a number")),
            },
            DataType::Boolean => match l {
                Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
                _ => return Err(mismatch("true or false")),
            },
            DataType::Timestamp(_, _) => match l {
                Literal::DateTimeOffset { utc_nanos, .. } => {
                    let us = utc_nanos.div_euclid(1000);
                    let us = i64::try_from(us)
                        .map_err(|_| self.err(span, "the date is out of range"))?;
                    micros(us)
                }
                Literal::Date { days, .. } => micros(i64::from(*days) * 86_400_000_000),
                _ => {
                    return Err(mismatch(
                        "an unquoted date and time such as 2024-07-01T00:00:00Z",
                    ))
                }
            },
            other => {
                return Err(self.err(
                    target,
                    format!(
                        "'{name}' ({}) cannot be compared with a value",
                        type_name(other)
                    ),
                ))
            }
        })
    }

    fn call(&self, func: Function, args: &[OExpr], span: Span) -> Result<Expr, GraphError> {
        let [subject, needle] = args else {
            return Err(self.err(span, format!("{} takes two arguments", func.name())));
        };
        let s = self.value(subject)?;
        match &s.ty {
            Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {}
            Some(other) => {
                return Err(self.err(
                    subject.span,
                    format!(
                        "{} needs a string property; '{}' is {}",
                        func.name(),
                        self.text(subject.span),
                        type_name(other)
                    ),
                ))
            }
            None => {
                return Err(self.err(
                    subject.span,
                    format!("the first argument of {} must be a property", func.name()),
                ))
            }
        }
        let ExprKind::Literal(Literal::String(text)) = &needle.kind else {
            return Err(self.err(
                needle.span,
                format!(
                    "the second argument of {} must be a quoted string",
                    func.name()
                ),
            ));
        };
        let needle = lit(text.clone());
        Ok(match func {
            Function::StartsWith => starts_with(s.expr, needle),
            Function::EndsWith => ends_with(s.expr, needle),
            Function::Contains => contains(s.expr, needle),
        })
    }

    /// A property path: its expression and type.
    fn path(&self, p: &Path) -> Result<(Expr, DataType), GraphError> {
        let (mut expr, mut ty, rest) = match (&p.root, &self.scope) {
            (Root::Record, Scope::Record(fields)) => {
                let first = p
                    .segments
                    .first()
                    .ok_or_else(|| self.err(p.span, "empty path"))?;
                let field = find(fields, first)
                    .filter(|f| !f.name().starts_with('_'))
                    .filter(|f| self.resource.has_property(self.version, f.name()))
                    .ok_or_else(|| {
                        self.err(
                            p.span,
                            format!(
                                "could not find a property named '{first}' on type 'microsoft.graph.{}' ({})",
                                crate::page::graph_type(self.resource),
                                self.version.segment()
                            ),
                        )
                    })?;
                (
                    column(field.name()),
                    field.data_type().clone(),
                    &p.segments[1..],
                )
            }
            (Root::Record, Scope::Element { var, .. }) => {
                return Err(self.err(
                    p.span,
                    format!("inside a lambda, a condition may only use its variable '{var}'"),
                ))
            }
            (Root::Lambda(v), Scope::Element { var, element }) if v == var => {
                (column(ELEMENT), element.clone(), &p.segments[..])
            }
            (Root::Lambda(v), _) => {
                return Err(self.err(
                    p.span,
                    format!(
                    "the variable '{v}' belongs to an outer lambda; use only the innermost one's"
                ),
                ))
            }
        };
        for segment in rest {
            let DataType::Struct(children) = &ty else {
                let why = match ty {
                    DataType::List(_) => "is a collection: use any() or all()",
                    _ => "has no members",
                };
                return Err(self.err(p.span, format!("'{}' {why}", self.text(p.span))));
            };
            let child = find(children, segment).ok_or_else(|| {
                self.err(
                    p.span,
                    format!("'{}' has no member named '{segment}'", self.text(p.span)),
                )
            })?;
            expr = get_field(expr, child.name().as_str());
            ty = child.data_type().clone();
        }
        Ok((expr, ty))
    }

    fn lambda(&self, l: &Lambda, span: Span) -> Result<Expr, GraphError> {
        let (list, ty) = self.path(&l.collection)?;
        let DataType::List(item) = &ty else {
            return Err(self.err(
                l.collection.span,
                format!("'{}' is not a collection", self.text(l.collection.span)),
            ));
        };
        let Some(body) = &l.body else {
            return Ok(match l.kind {
                LambdaKind::Any => cardinality(list).gt(lit(0u64)),
                LambdaKind::All => lit(true),
            });
        };
        let inner = Translator {
            filter: self.filter,
            resource: self.resource,
            version: self.version,
            scope: Scope::Element {
                var: body.var.clone(),
                element: item.data_type().clone(),
            },
        };
        // The most common lambda: a collection of strings holding one of some values.
        if l.kind == LambdaKind::Any {
            if let Some(values) = inner.equal_to_one_of(&body.expr, &body.var) {
                return Ok(balanced(
                    values
                        .into_iter()
                        .map(|v| array_has(list.clone(), lit(v)))
                        .collect(),
                    Expr::or,
                ));
            }
        }
        let condition = inner.condition(&body.expr)?;
        let schema = Arc::new(Schema::new(vec![Field::new(
            ELEMENT,
            item.data_type().clone(),
            true,
        )]));
        let df_schema =
            DFSchema::try_from(Arc::clone(&schema)).map_err(GraphError::from_datafusion)?;
        let physical = SessionContext::new()
            .create_physical_expr(condition, &df_schema)
            .map_err(|e| self.err(span, format!("the lambda's condition: {e}")))?;
        let udf = ElementsMatch {
            key: format!("{:?}:{}", l.kind, self.text(span)),
            kind: l.kind,
            schema,
            condition: physical,
            signature: Signature::any(1, Volatility::Immutable),
        };
        Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::new(ScalarUDF::new_from_impl(udf)),
            vec![list],
        )))
    }

    /// `v eq 'a' or v eq 'b'` over an element that is a string: the values.
    fn equal_to_one_of(&self, e: &OExpr, var: &str) -> Option<Vec<String>> {
        let Scope::Element { element, .. } = &self.scope else {
            return None;
        };
        if *element != DataType::Utf8 {
            return None;
        }
        let is_var = |x: &OExpr| matches!(&x.kind, ExprKind::Path(p) if p.root == Root::Lambda(var.to_string()) && p.segments.is_empty());
        let string = |x: &OExpr| match &x.kind {
            ExprKind::Literal(Literal::String(s)) => Some(s.clone()),
            _ => None,
        };
        match &e.kind {
            ExprKind::Compare {
                op: CompareOp::Eq,
                left,
                right,
            } => {
                if is_var(left) {
                    string(right).map(|s| vec![s])
                } else if is_var(right) {
                    string(left).map(|s| vec![s])
                } else {
                    None
                }
            }
            ExprKind::Or(terms) => {
                let mut out = Vec::new();
                for t in terms {
                    out.extend(self.equal_to_one_of(t, var)?);
                }
                Some(out)
            }
            _ => None,
        }
    }
}

/// Terms joined by a binary operator into a balanced tree: a chain of thousands of `or`s nests
/// a dozen levels deep, not thousands (the planner walks expressions recursively).
fn balanced(mut terms: Vec<Expr>, join: fn(Expr, Expr) -> Expr) -> Expr {
    if terms.len() == 1 {
        return terms.pop().expect("one term");
    }
    let right = terms.split_off(terms.len() / 2);
    join(balanced(terms, join), balanced(right, join))
}

/// A field by name: exactly, else ignoring case.
fn find<'f>(fields: &'f Fields, name: &str) -> Option<&'f Arc<Field>> {
    fields
        .iter()
        .find(|f| f.name() == name)
        .or_else(|| fields.iter().find(|f| f.name().eq_ignore_ascii_case(name)))
}

fn swap(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        other => other,
    }
}

fn comparable(a: &DataType, b: &DataType) -> bool {
    let class = |t: &DataType| match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 0,
        t if t.is_numeric() => 1,
        DataType::Boolean => 2,
        DataType::Timestamp(_, _) => 3,
        _ => 4,
    };
    class(a) == class(b) && class(a) != 4
}

/// A type as a Graph user would call it.
fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "a string",
        DataType::Boolean => "true or false",
        DataType::Timestamp(
            TimeUnit::Microsecond | TimeUnit::Nanosecond | TimeUnit::Millisecond | TimeUnit::Second,
            _,
        ) => "a date and time",
        DataType::List(_) => "a collection",
        DataType::Struct(_) => "an object",
        t if t.is_integer() => "a whole number",
        t if t.is_numeric() => "a number",
        _ => "a value that cannot be filtered",
    }
}

fn describe(l: &Literal) -> String {
    match l {
        Literal::String(s) => format!("the string '{}'", s.chars().take(40).collect::<String>()),
        Literal::Int(i) => format!("the number {i}"),
        Literal::Float(f) => format!("the number {f}"),
        Literal::Bool(b) => format!("{b}"),
        Literal::Null => "null".into(),
        Literal::DateTimeOffset { text, .. } => format!("the date and time {text}"),
        Literal::Date { text, .. } => format!("the date {text}"),
        Literal::Guid(g) => format!("the id {g}"),
    }
}

/// `collection/any(v: condition)` or `all(...)`: the condition evaluated over every element of
/// every row's collection at once, then folded per row.
#[derive(Debug)]
struct ElementsMatch {
    /// Identifies the function (kind and the lambda's text) for plan equality.
    key: String,
    kind: LambdaKind,
    schema: Arc<Schema>,
    condition: Arc<dyn PhysicalExpr>,
    signature: Signature,
}

impl PartialEq for ElementsMatch {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.schema == other.schema
    }
}

impl Eq for ElementsMatch {}

impl Hash for ElementsMatch {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl ScalarUDFImpl for ElementsMatch {
    fn name(&self) -> &str {
        match self.kind {
            LambdaKind::Any => "odata_any",
            LambdaKind::All => "odata_all",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let array = args.args[0].to_array(rows)?;
        let Some(list) = array.as_list_opt::<i32>() else {
            return Err(DataFusionError::Execution(format!(
                "{}: not a list but {}",
                self.name(),
                array.data_type()
            )));
        };
        let values = list.values();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), vec![Arc::clone(values)])?;
        let matched = self.condition.evaluate(&batch)?.into_array(values.len())?;
        let matched = matched.as_boolean();
        let offsets = list.value_offsets();
        let mut out = BooleanBuilder::with_capacity(rows);
        for row in 0..list.len() {
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            let hit = |i: usize| matched.is_valid(i) && matched.value(i);
            let v = if list.is_null(row) {
                self.kind == LambdaKind::All
            } else {
                match self.kind {
                    LambdaKind::Any => (start..end).any(hit),
                    LambdaKind::All => (start..end).all(hit),
                }
            };
            out.append_value(v);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
