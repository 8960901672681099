//! [`SnapshotTable`]: a DataFusion table over the files one store snapshot lists for a log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
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
use gatehouse_model::LogKind;
use gatehouse_store::DataFile;

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
    /// A table of `log` with `schema` over `files` (paths relative to the data directory `root`).
    pub fn new(root: &Path, log: LogKind, schema: SchemaRef, files: Vec<DataFile>) -> Self {
        SnapshotTable {
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
            log,
            schema,
            files,
        }
    }

    /// The files a scan with these filters must read.
    pub fn files_for(&self, filters: &[Expr]) -> Vec<&DataFile> {
        let (lo, hi) = time_range(self.log.time_column(), filters);
        self.files
            .iter()
            .filter(|f| f.max_time_ns >= lo && f.min_time_ns <= hi)
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
        // Used to skip files (and pushed into the Parquet scan), but applied again above it.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
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
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); partitions];
        for f in sorted {
            let path = self.root.join(&f.path);
            let location = datafusion::object_store::path::Path::from_absolute_path(&path)
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            let stats = Statistics {
                num_rows: Precision::Exact(f.rows as usize),
                total_byte_size: Precision::Inexact(f.bytes as usize),
                column_statistics: Statistics::unknown_column(&self.schema),
            };
            let file = PartitionedFile::new(location.to_string(), f.bytes)
                .with_statistics(Arc::new(stats));
            let group = groups
                .iter_mut()
                .min_by_key(|(bytes, _)| *bytes)
                .expect("at least one group");
            group.0 += f.bytes;
            group.1.push(file);
        }
        let format = ParquetFormat::default();
        let source = format.file_source(TableSchema::from(Arc::clone(&self.schema)));
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
            .with_file_groups(groups.into_iter().map(|(_, g)| FileGroup::new(g)).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
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
