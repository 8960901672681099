//! Change feeds: the rows of one data file that a `$filter` matches, as Graph JSON, in the
//! file's order, read straight from the Parquet file (no query plan per file).
//!
//! A stream that follows a table's Delta log ([`gatehouse_store::commit_additions`]) reads each
//! new file through a [`RowFilter`]: the order is the file's, the same on every read, so "the
//! first n matches of this file" is a position that survives a restart.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::SchemaRef;
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::PhysicalExpr;
use gatehouse_export::{GraphJson, Properties};
use gatehouse_model::LogKind;
use gatehouse_odata::Filter;
use gatehouse_query::QueryService;
use gatehouse_store::{DataFile, StoreSnapshot, TableSnapshot};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use crate::resource::{ApiVersion, GraphResource};
use crate::GraphError;

/// Rows read from a file at a time.
const READ_BATCH_ROWS: usize = 4096;

/// A `$filter` compiled for rows read straight from a log's files (all rows when it has none).
#[derive(Debug, Clone)]
pub struct RowFilter {
    log: LogKind,
    schema: SchemaRef,
    predicate: Option<Arc<dyn PhysicalExpr>>,
}

impl RowFilter {
    /// Compiles `filter` (checked as a `$filter` of `resource`, beta properties) for the rows of
    /// `tenant`'s table of `resource`'s log: the rows the Graph collection would list with this
    /// filter (sign-ins: interactive ones unless the filter names `signInEventTypes`, as Graph).
    pub async fn new(
        queries: &QueryService,
        tenant: &str,
        resource: GraphResource,
        filter: Option<&Filter>,
    ) -> Result<RowFilter, GraphError> {
        let log = resource.log();
        let schema = gatehouse_query::table_schema(log);
        // A table with no files: only its schema is needed to check and type the filter.
        let empty = Arc::new(StoreSnapshot::new([Arc::new(TableSnapshot {
            tenant: tenant.to_string(),
            log,
            version: 0,
            files: Vec::new(),
        })]));
        let (_engine, df) = crate::page::table_frame(queries, empty, Some(tenant), log).await?;
        // The same rows as the Graph collection with this `$filter`.
        let mut conditions = Vec::new();
        if let Some(f) = filter {
            conditions.push(crate::filter::to_expr(f, resource, ApiVersion::Beta, &df)?);
        }
        if resource == GraphResource::SignIns
            && !filter.is_some_and(|f| crate::filter::mentions(f, "signInEventTypes"))
        {
            conditions.push(crate::filter::interactive_only());
        }
        match resource {
            GraphResource::RiskDetections => conditions.push(crate::filter::no_service_principal()),
            GraphResource::ServicePrincipalRiskDetections => {
                conditions.push(!crate::filter::no_service_principal())
            }
            _ => {}
        }
        let Some(expr) = conditions
            .into_iter()
            .reduce(datafusion::logical_expr::Expr::and)
        else {
            return Ok(RowFilter {
                log,
                schema,
                predicate: None,
            });
        };
        let df_schema = DFSchema::try_from(Arc::clone(&schema))
            .map_err(|e| GraphError::Internal(e.to_string()))?;
        // Typed and simplified as a query's filter would be (some functions exist only in
        // the logical form), then made physical.
        let df_schema = Arc::new(df_schema);
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(Arc::clone(&df_schema))
                .build(),
        );
        let expr = simplifier
            .coerce(expr, &df_schema)
            .and_then(|e| simplifier.simplify(e))
            .map_err(GraphError::from_datafusion)?;
        let predicate = SessionContext::new()
            .create_physical_expr(expr, &df_schema)
            .map_err(GraphError::from_datafusion)?;
        Ok(RowFilter {
            log,
            schema,
            predicate: Some(predicate),
        })
    }

    /// Every row of `log`'s files (no filter).
    pub fn all(log: LogKind) -> RowFilter {
        RowFilter {
            log,
            schema: gatehouse_query::table_schema(log),
            predicate: None,
        }
    }

    /// The log whose rows this reads.
    pub fn log(&self) -> LogKind {
        self.log
    }

    /// Opens `file` (of the data directory `root`) to read the rows this matches, after skipping
    /// the first `skip` matches.
    pub fn open(
        &self,
        root: &Path,
        file: &DataFile,
        skip: u64,
    ) -> Result<MatchingRows, GraphError> {
        let path = root.join(&file.path);
        let f =
            File::open(&path).map_err(|e| GraphError::Gone(format!("{}: {e}", path.display())))?;
        // Read as queries read (strings as views), or, for a file of another shape, as it is
        // (`conform` then makes its batches the table's).
        let as_table = ArrowReaderOptions::new().with_schema(Arc::clone(&self.schema));
        let reader = f
            .try_clone()
            .map_err(parquet::errors::ParquetError::from)
            .and_then(|f| ParquetRecordBatchReaderBuilder::try_new_with_options(f, as_table))
            .or_else(|_| ParquetRecordBatchReaderBuilder::try_new(f))
            .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
            .map_err(|e| GraphError::Internal(format!("{}: {e}", path.display())))?;
        Ok(MatchingRows {
            filter: self.clone(),
            path: path.display().to_string(),
            reader,
            pending: std::collections::VecDeque::new(),
            skip,
            json: GraphJson::default(),
        })
    }

    /// A batch as the table's schema has it (columns by name; a missing one null, another type
    /// cast), so that every file reads the same whatever wrote it.
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch, GraphError> {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for field in self.schema.fields() {
            let column = match batch.column_by_name(field.name()) {
                Some(c) if c.data_type() == field.data_type() => Arc::clone(c),
                Some(c) => cast(c, field.data_type())
                    .map_err(|e| GraphError::Internal(format!("column {}: {e}", field.name())))?,
                None => new_null_array(field.data_type(), rows),
            };
            columns.push(column);
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| GraphError::Internal(e.to_string()))
    }
}

/// One matching row: its stored id and its Graph JSON.
#[derive(Debug, Clone)]
pub struct MatchingRow {
    /// `id`.
    pub id: String,
    /// The record as Graph JSON (every property, unknown fields included).
    pub json: String,
}

/// The rows of one file a [`RowFilter`] matches, in the file's order.
pub struct MatchingRows {
    filter: RowFilter,
    path: String,
    reader: ParquetRecordBatchReader,
    pending: std::collections::VecDeque<MatchingRow>,
    skip: u64,
    json: GraphJson,
}

impl std::fmt::Debug for MatchingRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchingRows")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl MatchingRows {
    /// Reads the next batch of the file into `pending`; false at its end.
    fn fill(&mut self) -> Result<bool, GraphError> {
        let Some(batch) = self.reader.next() else {
            return Ok(false);
        };
        let batch = batch.map_err(|e| GraphError::Internal(format!("{}: {e}", self.path)))?;
        let batch = self.filter.conform(&batch)?;
        let batch = match &self.filter.predicate {
            Some(p) => {
                let value = p
                    .evaluate(&batch)
                    .and_then(|v| v.into_array(batch.num_rows()))
                    .map_err(GraphError::from_datafusion)?;
                let mask = value
                    .as_boolean_opt()
                    .ok_or_else(|| GraphError::Internal("the filter is not a condition".into()))?;
                filter_record_batch(&batch, mask)
                    .map_err(|e| GraphError::Internal(e.to_string()))?
            }
            None => batch,
        };
        let mut first = 0;
        if self.skip > 0 {
            let n = (batch.num_rows() as u64).min(self.skip);
            self.skip -= n;
            first = n as usize;
        }
        if first == batch.num_rows() {
            return Ok(true);
        }
        let ids = batch
            .column_by_name("id")
            .and_then(|c| cast(c, &arrow::datatypes::DataType::Utf8).ok());
        let ids = ids.as_ref().and_then(|c| c.as_string_opt::<i32>());
        let mut writer = self
            .json
            .writer(&batch, Properties::All)
            .map_err(|e| GraphError::Internal(e.to_string()))?;
        for row in first..batch.num_rows() {
            let mut out = Vec::with_capacity(2048);
            writer.write(row, &mut out);
            let id = ids
                .filter(|a| a.is_valid(row))
                .map(|a| a.value(row).to_string())
                .unwrap_or_default();
            self.pending.push_back(MatchingRow {
                id,
                json: String::from_utf8(out).map_err(|e| GraphError::Internal(e.to_string()))?,
            });
        }
        Ok(true)
    }

    /// The next matching row (`None` at the end of the file).
    pub fn next_row(&mut self) -> Result<Option<MatchingRow>, GraphError> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Ok(Some(r));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }
}
