//! [`SnapshotTable`]: a DataFusion table over the files one store snapshot lists for a log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use gatehouse_model::{LogKind, SignInKind};
use gatehouse_store::{clustered, DataFile};

/// One log's table over the files of a snapshot. A filter on the event time skips the files whose
/// time bounds (from the Delta log) lie outside it before any is opened; the rest are read by
/// DataFusion's Parquet scan, which skips row groups and pages by their statistics.
#[derive(Debug)]
pub struct SnapshotTable {
    root: PathBuf,
    log: LogKind,
    schema: SchemaRef,
    files: Vec<DataFile>,
}

impl SnapshotTable {
    /// A table of `log` with `schema` over `files` (paths relative to the data directory
    /// `root`). The files are read with `schema`: the stored schema, or it with strings as
    /// views ([`with_string_views`], as [`crate::table_schema`] gives it).
    pub fn new(root: &Path, log: LogKind, schema: SchemaRef, files: Vec<DataFile>) -> Self {
        SnapshotTable {
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
            log,
            schema,
            files,
        }
    }

    /// The files a scan with these filters must read: those whose time bounds meet the filters'
    /// time range and, for sign-ins, whose sign-in type the filters allow.
    pub fn files_for(&self, filters: &[Expr]) -> Vec<&DataFile> {
        let (lo, hi) = time_range(self.log.time_column(), filters);
        let kinds = if self.log == LogKind::SignIns {
            filters
                .iter()
                .fold(None, |all, f| both(all, allowed_kinds(f)))
        } else {
            None
        };
        self.files
            .iter()
            .filter(|f| f.max_time_ns >= lo && f.min_time_ns <= hi)
            .filter(|f| match (&kinds, f.sign_in_kind) {
                (Some(allowed), Some(kind)) => allowed.contains(&kind),
                _ => true,
            })
            .collect()
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Used to skip files (and pushed into the Parquet scan), but applied again above it;
        // except a condition on the sign-in type alone when every file has one type: the files
        // the scan keeps hold only rows that satisfy it, so no row needs to be tested (and the
        // list column of types is not even read).
        let all_typed =
            self.log == LogKind::SignIns && self.files.iter().all(|f| f.sign_in_kind.is_some());
        Ok(filters
            .iter()
            .map(|f| {
                if all_typed && only_kinds(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self.files_for(filters);
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        // Spread the files over the session's partitions, largest first, so every core reads.
        let partitions = state.config().target_partitions().max(1).min(files.len());
        let mut sorted = files;
        sorted.sort_by_key(|f| std::cmp::Reverse(f.bytes));
        let mut groups: Vec<(u64, Vec<(i64, PartitionedFile)>)> = vec![(0, Vec::new()); partitions];
        // A query for one user reads the interactive files' copies clustered by user, where
        // they exist: the same rows, in row groups it skips but for that user's.
        let one_user = self.log == LogKind::SignIns && filters.iter().any(names_one_user);
        for f in sorted {
            let (path, bytes) = match one_user
                .then(|| clustered::companion_of(&self.root, f))
                .flatten()
            {
                Some(companion) => companion,
                None => (self.root.join(&f.path), f.bytes),
            };
            let stats = Statistics {
                num_rows: Precision::Exact(f.rows as usize),
                total_byte_size: Precision::Inexact(bytes as usize),
                column_statistics: Statistics::unknown_column(&self.schema),
            };
            // Read as the table shows it: strings as views at every depth.
            let file = partitioned_file(&path, bytes)?
                .with_statistics(Arc::new(stats))
                .with_arrow_schema(Arc::clone(&self.schema));
            let group = groups
                .iter_mut()
                .min_by_key(|(bytes, _)| *bytes)
                .expect("at least one group");
            group.0 += bytes;
            group.1.push((f.max_time_ns, file));
        }
        // Each partition reads its newest files first: a newest-first top-k (a Graph page, the
        // latest sign-ins) then fills from them, and the bound DataFusion derives from what it
        // holds skips the older files' row groups by their time statistics.
        let groups: Vec<FileGroup> = groups
            .into_iter()
            .map(|(_, mut files)| {
                files.sort_by_key(|(newest, _)| std::cmp::Reverse(*newest));
                FileGroup::new(files.into_iter().map(|(_, f)| f).collect())
            })
            .collect();
        let format = ParquetFormat::default();
        let source = format.file_source(TableSchema::from(Arc::clone(&self.schema)));
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

/// `schema` with every string (at any depth: struct fields, list items) as a string view, as
/// scans read the files. The Parquet reader decodes dictionary pages into views without copying
/// their text, and DataFusion groups and compares views faster than offset strings; DataFusion
/// turns only top-level columns into views by itself, so a struct's fields
/// (`deviceDetail.browser`) would be read as plain strings without this.
pub fn with_string_views(schema: &Schema) -> Schema {
    fn data_type(t: &DataType) -> DataType {
        match t {
            DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
            DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
            DataType::List(item) => DataType::List(Arc::new(field(item))),
            other => other.clone(),
        }
    }
    fn field(f: &Field) -> Field {
        f.clone().with_data_type(data_type(f.data_type()))
    }
    Schema::new_with_metadata(
        schema.fields().iter().map(|f| field(f)).collect::<Vec<_>>(),
        schema.metadata().clone(),
    )
}

/// The file at `path` of `size` bytes as a scan names it (its location and size are the
/// metadata cache's key: warming the cache must name files the same way).
pub(crate) fn partitioned_file(path: &Path, size: u64) -> Result<PartitionedFile> {
    let location = datafusion::object_store::path::Path::from_absolute_path(path)
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    Ok(PartitionedFile::new(location.to_string(), size))
}

/// The range of event times (ns) that `filters`, taken together, allow: from the comparisons of
/// the time column with constants, at the top level or under `AND`; anything else allows all.
fn time_range(column: &str, filters: &[Expr]) -> (i64, i64) {
    let mut range = (i64::MIN, i64::MAX);
    for f in filters {
        narrow(column, f, &mut range);
    }
    range
}

fn narrow(column: &str, expr: &Expr, range: &mut (i64, i64)) {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                narrow(column, left, range);
                narrow(column, right, range);
                return;
            }
            let (op, value) = match (is_column(column, left), is_column(column, right)) {
                (true, false) => (*op, instant_ns(right)),
                (false, true) => (op.swap().unwrap_or(*op), instant_ns(left)),
                _ => return,
            };
            let Some(v) = value else { return };
            match op {
                Operator::Eq => {
                    range.0 = range.0.max(v);
                    range.1 = range.1.min(v);
                }
                Operator::Gt | Operator::GtEq => range.0 = range.0.max(v),
                Operator::Lt | Operator::LtEq => range.1 = range.1.min(v),
                _ => {}
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_column(column, expr) => {
            if let Some(v) = instant_ns(low) {
                range.0 = range.0.max(v);
            }
            if let Some(v) = instant_ns(high) {
                range.1 = range.1.min(v);
            }
        }
        _ => {}
    }
}

/// Whether `expr` (a conjunct, or a conjunction) asks for one value of a column the clustered
/// copies are sorted by (`userPrincipalName = '…'`).
fn names_one_user(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => names_one_user(left) || names_one_user(right),
            Operator::Eq => {
                let literal = |e: &Expr| matches!(e, Expr::Literal(v, _) if !v.is_null());
                clustered::CLUSTER_COLUMNS.iter().any(|c| {
                    (is_column(c, left) && literal(right)) || (is_column(c, right) && literal(left))
                })
            }
            _ => false,
        },
        _ => false,
    }
}

/// The sign-in types whose rows can satisfy `expr`, from `array_has(signInEventTypes, '<type>')`
/// terms under `AND` and `OR` (`None`: any type). A file of one type holds rows whose
/// `signInEventTypes` is exactly that type, so `array_has` of any other value is false on all of
/// them.
fn allowed_kinds(expr: &Expr) -> Option<Vec<SignInKind>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => both(allowed_kinds(left), allowed_kinds(right)),
            Operator::Or => {
                let (mut l, r) = (allowed_kinds(left)?, allowed_kinds(right)?);
                l.extend(r.into_iter().filter(|k| !l.contains(k)).collect::<Vec<_>>());
                Some(l)
            }
            _ => None,
        },
        Expr::ScalarFunction(f) if f.name() == "array_has" => match f.args.as_slice() {
            [list, Expr::Literal(ScalarValue::Utf8(Some(v)) | ScalarValue::Utf8View(Some(v)), _)]
                if is_column("signInEventTypes", list) =>
            {
                Some(SignInKind::from_exact_graph_name(v).into_iter().collect())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `expr` is made only of `array_has(signInEventTypes, '<type>')` terms under `AND` and
/// `OR`: over files of one type each, it is true of every row of a file or of none.
fn only_kinds(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And | Operator::Or,
            right,
        }) => only_kinds(left) && only_kinds(right),
        Expr::ScalarFunction(_) => allowed_kinds(expr).is_some(),
        _ => false,
    }
}

/// The types two conditions that must both hold allow.
fn both(a: Option<Vec<SignInKind>>, b: Option<Vec<SignInKind>>) -> Option<Vec<SignInKind>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.into_iter().filter(|k| b.contains(k)).collect()),
        (a, None) => a,
        (None, b) => b,
    }
}

fn is_column(name: &str, expr: &Expr) -> bool {
    matches!(expr, Expr::Column(c) if c.name == name)
}

/// A timestamp constant in ns since the epoch.
fn instant_ns(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::functions_nested::expr_fn::array_has;
    use datafusion::logical_expr::{col, lit};
    use std::ops::Not;

    fn file(kind: Option<SignInKind>) -> DataFile {
        DataFile {
            path: format!("{kind:?}.parquet"),
            tenant: "t".into(),
            log: LogKind::SignIns,
            day: 0,
            rows: 1,
            bytes: 1,
            min_time_ns: 0,
            max_time_ns: 1,
            stats: Arc::from("{}"),
            sign_in_kind: kind,
        }
    }

    fn is(kind: &str) -> Expr {
        array_has(
            Expr::Column(datafusion::common::Column::new_unqualified(
                "signInEventTypes",
            )),
            lit(kind),
        )
    }

    /// Files of a sign-in type the filters rule out are not read; files of mixed types always are.
    #[test]
    fn files_of_other_sign_in_types_are_skipped() {
        let mut files: Vec<DataFile> = SignInKind::ALL.into_iter().map(Some).map(file).collect();
        files.push(file(None));
        let table = SnapshotTable::new(
            Path::new("/data"),
            LogKind::SignIns,
            Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            files,
        );
        let read = |filters: &[Expr]| -> Vec<String> {
            table
                .files_for(filters)
                .into_iter()
                .map(|f| f.path.clone())
                .collect()
        };
        let failed = col("errorCode").not_eq(lit(0));
        assert_eq!(
            read(&[is("servicePrincipal"), failed.clone()]),
            ["Some(ServicePrincipal).parquet", "None.parquet"]
        );
        assert_eq!(
            read(&[failed.clone().and(is("interactiveUser"))]),
            ["Some(InteractiveUser).parquet", "None.parquet"]
        );
        assert_eq!(
            read(&[is("managedIdentity").or(is("servicePrincipal"))]),
            [
                "Some(ServicePrincipal).parquet",
                "Some(ManagedIdentity).parquet",
                "None.parquet"
            ]
        );
        // A value no type has, or the wrong case: only files of mixed types can hold it.
        assert_eq!(read(&[is("InteractiveUser")]), ["None.parquet"]);
        // Conditions that say nothing of the type (a negation, an OR with another condition).
        assert_eq!(read(std::slice::from_ref(&failed)).len(), 5);
        assert_eq!(read(&[is("servicePrincipal").not()]).len(), 5);
        assert_eq!(read(&[is("servicePrincipal").or(failed)]).len(), 5);
    }

    /// A condition on the type alone is answered by choosing files when every file has one type:
    /// DataFusion then tests no row against it.
    #[test]
    fn a_condition_on_the_type_alone_is_exact_over_files_of_one_type() {
        use TableProviderFilterPushDown::{Exact, Inexact};
        let table = |files: Vec<DataFile>| {
            SnapshotTable::new(
                Path::new("/data"),
                LogKind::SignIns,
                Arc::new(datafusion::arrow::datatypes::Schema::empty()),
                files,
            )
        };
        let typed = table(SignInKind::ALL.into_iter().map(Some).map(file).collect());
        let with_mixed = table(vec![file(Some(SignInKind::InteractiveUser)), file(None)]);
        let failed = col("errorCode").not_eq(lit(0));
        let either = is("managedIdentity").or(is("servicePrincipal"));
        let filters = [
            &is("interactiveUser"),
            &either,
            &failed,
            &failed.clone().and(is("x")),
        ];
        assert_eq!(
            typed.supports_filters_pushdown(&filters).unwrap(),
            [Exact, Exact, Inexact, Inexact]
        );
        assert_eq!(
            with_mixed.supports_filters_pushdown(&filters).unwrap(),
            [Inexact, Inexact, Inexact, Inexact]
        );
    }
}
