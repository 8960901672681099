//! A partial `GROUP BY` over string columns that groups rows by the Parquet dictionaries' codes.
//!
//! DataFusion reads every string of a scan as an Arrow string view, then hashes each row's bytes
//! and compares them with the group's to find its group. On the everyday questions (distinct users
//! per application; browsers and operating systems) that hashing and comparing was most of the
//! time: a 36-character user id is compared in full for every row. The store's string columns
//! are dictionary-encoded in Parquet, so [`DictionaryGroupByExec`] reads the grouped columns as
//! dictionaries instead: each distinct string of a column chunk is looked up once, rows are
//! grouped by a few small integers, and the strings are put back only for the groups that leave.
//!
//! The rule [`DictionaryGroupBy`] puts it in place of a *partial* aggregation that reads a
//! Parquet scan directly, when every key is a string or integer column or such a field of a
//! struct column (`deviceDetail.browser`, `status.errorCode`), the aggregates are all
//! `count(*)`, and the scan has no limit and filters (if at all) on the keys alone: a row's
//! keys then decide whether it passes, so the filter is applied to each group once, as it
//! leaves, instead of to every row (`WHERE status.errorCode <> 0 GROUP BY status.errorCode`).
//! Its output is the partial aggregation's, row for row, so the final aggregation above it is
//! unchanged; any other plan is left as it was. Memory is accounted to
//! the session's pool: past a million groups, or when the pool refuses more, the groups so far
//! are sent on and counting starts again (a partial aggregation may emit a group more than once;
//! the final one adds them up).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringBuilder, StringViewBuilder,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Volatility;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::arrow::{parquet_to_arrow_schema, ProjectionMask};
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::{
    EquivalenceProperties, Partitioning, PhysicalExpr, ScalarFunctionExpr,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::scalar::ScalarValue;

/// At most this many keys: their codes are packed into one `u128`.
const MAX_KEYS: usize = 4;
/// A dictionary entry not looked up yet.
const UNSEEN: u32 = u32::MAX - 1;
/// Groups a partition holds by default before it sends them on early (a partial aggregation
/// may).
pub const DEFAULT_MAX_GROUPS: usize = 1 << 20;
/// Rows read from Parquet at a time: large, so a dictionary is mapped once for many rows.
const READ_BATCH_ROWS: usize = 64 * 1024;

/// The physical optimizer rule that puts [`DictionaryGroupByExec`] in place of a partial
/// aggregation over a Parquet scan where it can answer it (see the module documentation).
#[derive(Debug)]
pub struct DictionaryGroupBy {
    max_groups: usize,
}

impl DictionaryGroupBy {
    /// The rule, whose execs send their groups on once a partition holds `max_groups` (or the
    /// memory pool refuses more).
    pub fn new(max_groups: usize) -> DictionaryGroupBy {
        DictionaryGroupBy {
            max_groups: max_groups.max(1),
        }
    }
}

impl Default for DictionaryGroupBy {
    fn default() -> DictionaryGroupBy {
        DictionaryGroupBy::new(DEFAULT_MAX_GROUPS)
    }
}

impl PhysicalOptimizerRule for DictionaryGroupBy {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match replacement(&node, self.max_groups) {
                Some(exec) => Transformed::yes(exec),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "dictionary_group_by"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// One grouping key: a string or integer column, or such a field of a struct column.
#[derive(Debug, Clone, PartialEq)]
struct GroupKey {
    column: String,
    field: Option<String>,
    /// The type the aggregation outputs it as (a string view, a string, a 32- or 64-bit
    /// integer).
    output: DataType,
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}.{}", self.column, field),
            None => f.write_str(&self.column),
        }
    }
}

/// The exec that answers `plan`, when `plan` is a partial aggregation it can answer.
fn replacement(plan: &Arc<dyn ExecutionPlan>, max_groups: usize) -> Option<Arc<dyn ExecutionPlan>> {
    let aggregate = plan.downcast_ref::<AggregateExec>()?;
    if *aggregate.mode() != AggregateMode::Partial {
        return None;
    }
    let group_by = aggregate.group_expr();
    let keys = group_by.expr();
    if !group_by.is_single() || keys.is_empty() || keys.len() > MAX_KEYS {
        return None;
    }
    if aggregate.filter_expr().iter().any(Option::is_some)
        || !aggregate.aggr_expr().iter().all(|a| counts_rows(a))
    {
        return None;
    }
    // A round-robin repartition between them (DataFusion's, when there are fewer files than
    // partitions) only spreads the scan's batches: the exec reads the scan's partitions itself.
    let mut input = aggregate.input();
    if let Some(repartition) = input.downcast_ref::<RepartitionExec>() {
        if matches!(repartition.partitioning(), Partitioning::RoundRobinBatch(_)) {
            input = repartition.input();
        }
    }
    let scan = input.downcast_ref::<DataSourceExec>()?;
    let config = scan.data_source().downcast_ref::<FileScanConfig>()?;
    let parquet = config.file_source().downcast_ref::<ParquetSource>()?;
    if config.limit.is_some()
        || !config.table_partition_cols().is_empty()
        || config.object_store_url != ObjectStoreUrl::local_filesystem()
    {
        return None;
    }
    let files: Vec<Vec<PartitionedFile>> = config
        .file_groups
        .iter()
        .map(|g| g.files().to_vec())
        .collect();
    if files
        .iter()
        .flatten()
        .any(|f| !f.partition_values.is_empty())
    {
        return None;
    }
    let table_schema = config.file_schema();
    let output = aggregate.schema();
    let sources = keys
        .iter()
        .map(|(expr, _)| {
            let column = expr.downcast_ref::<Column>()?;
            Some(match parquet.projection() {
                Some(projection) => Arc::clone(&projection.iter().nth(column.index())?.expr),
                None => Arc::clone(expr),
            })
        })
        .collect::<Option<Vec<Arc<dyn PhysicalExpr>>>>()?;
    let keys = sources
        .iter()
        .enumerate()
        .map(|(i, source)| key_of(source, table_schema, output.field(i).data_type()))
        .collect::<Option<Vec<_>>>()?;
    let filter = match parquet.filter() {
        Some(predicate) => Some(on_keys(&predicate, &sources)?),
        None => None,
    };
    Some(Arc::new(DictionaryGroupByExec::new(
        files,
        keys,
        aggregate.aggr_expr().len(),
        output,
        max_groups,
        filter,
    )))
}

/// Whether `aggregate` is `count(*)` (a count of a non-null constant).
fn counts_rows(aggregate: &AggregateFunctionExpr) -> bool {
    let args = aggregate.expressions();
    aggregate.fun().name() == "count"
        && !aggregate.is_distinct()
        && aggregate.order_bys().is_empty()
        && args.len() == 1
        && args[0]
            .downcast_ref::<Literal>()
            .is_some_and(|l| !l.value().is_null())
        && aggregate
            .state_fields()
            .is_ok_and(|f| f.len() == 1 && f[0].data_type() == &DataType::Int64)
}

/// `predicate` (over the table's schema) rewritten over the groups' keys (key `i` is column
/// `i`), when it reads nothing but the keys' columns and is the same for the same keys (no
/// volatile function).
fn on_keys(
    predicate: &Arc<dyn PhysicalExpr>,
    sources: &[Arc<dyn PhysicalExpr>],
) -> Option<Arc<dyn PhysicalExpr>> {
    let mut other = false;
    let rewritten = Arc::clone(predicate)
        .transform_down(|e| {
            if let Some(i) = sources.iter().position(|s| s.as_ref() == e.as_ref()) {
                let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&format!("key{i}"), i));
                return Ok(Transformed::new(key, true, TreeNodeRecursion::Jump));
            }
            let volatile = e
                .downcast_ref::<ScalarFunctionExpr>()
                .is_some_and(|f| f.fun().signature().volatility == Volatility::Volatile);
            other |= volatile || e.downcast_ref::<Column>().is_some();
            Ok(Transformed::no(e))
        })
        .ok()?
        .data;
    (!other).then_some(rewritten)
}

/// One value of a key.
enum KeyValue {
    String(Box<str>),
    Int(i64),
}

/// The kinds of values a key holds.
fn key_type(t: &DataType) -> Option<KeyType> {
    match t {
        DataType::Utf8View | DataType::Utf8 => Some(KeyType::String),
        DataType::Int32 => Some(KeyType::Int32),
        DataType::Int64 => Some(KeyType::Int64),
        _ => None,
    }
}

/// What a key's values are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyType {
    String,
    Int32,
    Int64,
}

/// The key `expr` (over the table's schema) reads, when it is a string or integer column or
/// such a field of a struct column, and the aggregation outputs it as the same kind of value.
fn key_of(expr: &Arc<dyn PhysicalExpr>, table: &Schema, output: &DataType) -> Option<GroupKey> {
    let kind = key_type(output)?;
    let same = |t: &DataType| key_type(t) == Some(kind);
    if let Some(column) = expr.downcast_ref::<Column>() {
        let field = table.field_with_name(column.name()).ok()?;
        return same(field.data_type()).then(|| GroupKey {
            column: column.name().to_string(),
            field: None,
            output: output.clone(),
        });
    }
    let function = expr.downcast_ref::<ScalarFunctionExpr>()?;
    let [base, name] = function.args() else {
        return None;
    };
    if function.name() != "get_field" {
        return None;
    }
    let column = base.downcast_ref::<Column>()?;
    let name = match name.downcast_ref::<Literal>()?.value() {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.clone(),
        _ => return None,
    };
    let DataType::Struct(fields) = table.field_with_name(column.name()).ok()?.data_type() else {
        return None;
    };
    let (_, field) = fields.find(&name)?;
    same(field.data_type()).then(|| GroupKey {
        column: column.name().to_string(),
        field: Some(name),
        output: output.clone(),
    })
}

/// A partial `GROUP BY` of string or integer keys with `count(*)`s, straight from Parquet files, grouping by
/// dictionary codes (see the module documentation). One partition per file group of the scan it
/// replaces.
#[derive(Debug)]
pub struct DictionaryGroupByExec {
    files: Vec<Vec<PartitionedFile>>,
    keys: Vec<GroupKey>,
    counts: usize,
    max_groups: usize,
    /// The scan's filter, over the keys (key `i` is column `i`).
    filter: Option<Arc<dyn PhysicalExpr>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl DictionaryGroupByExec {
    fn new(
        files: Vec<Vec<PartitionedFile>>,
        keys: Vec<GroupKey>,
        counts: usize,
        schema: SchemaRef,
        max_groups: usize,
        filter: Option<Arc<dyn PhysicalExpr>>,
    ) -> DictionaryGroupByExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(files.len().max(1)),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        DictionaryGroupByExec {
            files,
            keys,
            counts,
            max_groups,
            filter,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for DictionaryGroupByExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
        let files: usize = self.files.iter().map(Vec::len).sum();
        write!(
            f,
            "DictionaryGroupByExec: gby=[{}], count(*)={}, files={files}",
            keys.join(", "),
            self.counts
        )?;
        match &self.filter {
            Some(filter) => write!(f, ", filter={filter}"),
            None => Ok(()),
        }
    }
}

impl ExecutionPlan for DictionaryGroupByExec {
    fn name(&self) -> &str {
        "DictionaryGroupByExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        match &self.filter {
            Some(filter) => f(filter),
            None => Ok(TreeNodeRecursion::Continue),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "DictionaryGroupByExec has no inputs".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let files = self.files.get(partition).cloned().unwrap_or_default();
        let schema = self.schema();
        let store = context
            .runtime_env()
            .object_store(ObjectStoreUrl::local_filesystem())?;
        let cache = context
            .runtime_env()
            .cache_manager
            .get_file_metadata_cache();
        let reservation = MemoryConsumer::new(format!("DictionaryGroupByExec[{partition}]"))
            .register(context.memory_pool());
        let emit_rows = context.session_config().batch_size().max(1);
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let early = MetricBuilder::new(&self.metrics).counter("early_emissions", partition);
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            DataFusionError::Execution(format!(
                "DictionaryGroupByExec runs in a Tokio runtime: {e}"
            ))
        })?;
        let mut groups = Groups::new(
            &self.keys,
            self.counts,
            Arc::clone(&schema),
            reservation,
            early,
            self.max_groups,
            self.filter.clone(),
        );

        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&schema), 2);
        let tx = builder.tx();
        builder.spawn_blocking(move || {
            let local = LocalFileSystem::new();
            let mut send = |batch: RecordBatch| {
                metrics.record_output(batch.num_rows());
                // A closed channel: the query was dropped; stop quietly.
                tx.blocking_send(Ok(batch)).is_ok()
            };
            for file in &files {
                if tx.is_closed() {
                    return Ok(());
                }
                let metadata = runtime.block_on(
                    DFParquetMetadata::new(store.as_ref(), &file.object_meta)
                        .with_file_metadata_cache(Some(Arc::clone(&cache)))
                        .with_page_index_policy(Some(PageIndexPolicy::Skip))
                        .fetch_metadata(),
                )?;
                let path = local
                    .path_to_filesystem(&file.object_meta.location)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                let timer = metrics.elapsed_compute().timer();
                let reader = File::open(&path).map_err(|e| {
                    DataFusionError::Execution(format!("opening {}: {e}", path.display()))
                })?;
                let keep_going = groups.read_file(file, reader, metadata, emit_rows, &mut send)?;
                timer.done();
                if !keep_going {
                    return Ok(());
                }
            }
            let _timer = metrics.elapsed_compute().timer();
            groups.emit(emit_rows, &mut send)?;
            Ok(())
        });
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The groups of one partition, and what maps each key's dictionary codes to them.
struct Groups {
    keys: Vec<KeyCodes>,
    counts: usize,
    schema: SchemaRef,
    /// Key numbers → group number.
    slots: Slots,
    /// Each group's key numbers, packed (32 bits each).
    group_keys: Vec<u128>,
    /// Each group's rows.
    rows: Vec<i64>,
    reservation: MemoryReservation,
    /// How many times the groups were sent on before the end.
    early: Count,
    max_groups: usize,
    /// Groups whose keys fail it are not sent on.
    filter: Option<Arc<dyn PhysicalExpr>>,
}

/// Where a row's group is found from its keys' numbers.
enum Slots {
    /// While the keys have few numbers: a table indexed by the numbers side by side, each key
    /// given `bits[k]` bits ([`EMPTY`]: no group yet). Nothing is hashed.
    Dense { bits: Vec<u32>, table: Vec<u32> },
    /// Past [`DENSE_BITS`] bits in all: a hash table of the packed numbers.
    Hashed(HashMap<u128, u32, foldhash::fast::FixedState>),
}

impl Slots {
    /// A dense table for `keys` keys without any number yet.
    fn empty(keys: usize) -> Slots {
        Slots::Dense {
            bits: vec![0; keys],
            table: vec![EMPTY],
        }
    }
}

/// No group in this dense slot yet.
const EMPTY: u32 = u32::MAX;
/// The most bits the keys' numbers take together in a dense table (a million slots, 4 MiB).
const DENSE_BITS: u32 = 20;

/// One key's values (and null), numbered from 0 as first seen, and the current dictionary's
/// entries' numbers.
struct KeyCodes {
    key: GroupKey,
    /// String keys: each string's number.
    numbers: HashMap<Box<str>, u32, foldhash::fast::FixedState>,
    /// Integer keys: each value's number.
    int_numbers: HashMap<i64, u32, foldhash::fast::FixedState>,
    /// Each number's value; `None` is null.
    values: Vec<Option<KeyValue>>,
    null: Option<u32>,
    string_bytes: usize,
    /// The dictionary `mapped` is for (kept so its address cannot be reused by another).
    dictionary: Option<ArrayRef>,
    /// Dictionary code → string number, or [`UNSEEN`].
    mapped: Vec<u32>,
    /// The current batch's string numbers, row by row.
    batch: Vec<u32>,
}

impl KeyCodes {
    fn new(key: GroupKey) -> KeyCodes {
        KeyCodes {
            key,
            numbers: HashMap::default(),
            int_numbers: HashMap::default(),
            values: Vec::new(),
            null: None,
            string_bytes: 0,
            dictionary: None,
            mapped: Vec::new(),
            batch: Vec::new(),
        }
    }

    fn number_of(&mut self, s: &str) -> u32 {
        if let Some(&n) = self.numbers.get(s) {
            return n;
        }
        let n = self.len() as u32;
        self.values.push(Some(KeyValue::String(s.into())));
        self.numbers.insert(s.into(), n);
        self.string_bytes += s.len();
        n
    }

    fn null_number(&mut self) -> u32 {
        let next = self.len() as u32;
        *self.null.get_or_insert_with(|| {
            self.values.push(None);
            next
        })
    }

    /// How many numbers are given out.
    fn len(&self) -> usize {
        self.values.len()
    }

    fn int_number(&mut self, value: i64) -> u32 {
        let next = self.len() as u32;
        let number = *self.int_numbers.entry(value).or_insert(next);
        if number == next {
            self.values.push(Some(KeyValue::Int(value)));
        }
        number
    }

    /// Numbers the integers of `array` into `self.batch`.
    fn number_ints<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
        &mut self,
        array: &datafusion::arrow::array::PrimitiveArray<T>,
    ) where
        T::Native: Into<i64>,
    {
        let mut last: Option<(T::Native, u32)> = None;
        for (row, &value) in array.values().iter().enumerate() {
            let number = if array.is_null(row) {
                self.null_number()
            } else {
                match last {
                    Some((v, n)) if v == value => n,
                    _ => {
                        let n = self.int_number(value.into());
                        last = Some((value, n));
                        n
                    }
                }
            };
            self.batch.push(number);
        }
    }

    /// Numbers the rows of `array` (integers, or a dictionary of strings; `None`: the file
    /// lacks the column, every row is null) into `self.batch`.
    fn number_rows(&mut self, array: Option<&ArrayRef>, rows: usize) -> Result<()> {
        self.batch.clear();
        let Some(array) = array else {
            let null = self.null_number();
            self.batch.resize(rows, null);
            return Ok(());
        };
        if let Some(ints) = array.as_primitive_opt::<Int32Type>() {
            self.number_ints(ints);
            return Ok(());
        }
        if let Some(ints) = array.as_primitive_opt::<Int64Type>() {
            self.number_ints(ints);
            return Ok(());
        }
        let dictionary = array
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(|| read_wrongly(&self.key, array.data_type()))?;
        let values = dictionary.values();
        if !self
            .dictionary
            .as_ref()
            .is_some_and(|d| Arc::ptr_eq(d, values))
        {
            self.dictionary = Some(Arc::clone(values));
            self.mapped.clear();
            self.mapped.resize(values.len(), UNSEEN);
        }
        let strings = values
            .as_string_opt::<i32>()
            .ok_or_else(|| read_wrongly(&self.key, values.data_type()))?;
        let codes = dictionary.keys();
        let null_rows = codes.nulls().filter(|n| n.null_count() > 0).cloned();
        self.batch.reserve(rows);
        for (row, &code) in codes.values().iter().enumerate() {
            if null_rows.as_ref().is_some_and(|n| n.is_null(row)) {
                let null = self.null_number();
                self.batch.push(null);
                continue;
            }
            let code = code as usize;
            let mut number = self.mapped[code];
            if number == UNSEEN {
                number = if strings.is_null(code) {
                    self.null_number()
                } else {
                    self.number_of(strings.value(code))
                };
                self.mapped[code] = number;
            }
            self.batch.push(number);
        }
        Ok(())
    }

    /// Forgets every string (after the groups that used them were sent on).
    fn clear(&mut self) {
        self.numbers.clear();
        self.int_numbers.clear();
        self.values.clear();
        self.null = None;
        self.string_bytes = 0;
        self.dictionary = None;
        self.mapped.clear();
    }

    fn memory(&self) -> usize {
        self.string_bytes
            + self.values.capacity() * 24
            + self.numbers.capacity() * 24
            + self.int_numbers.capacity() * 16
            + self.mapped.capacity() * 4
            + self.batch.capacity() * 4
    }

    /// The output column of these groups' keys.
    fn column(&self, index: usize, group_keys: &[u128]) -> ArrayRef {
        let value = |packed: u128| self.values[(packed >> (32 * index)) as u32 as usize].as_ref();
        let string = |packed: u128| match value(packed) {
            Some(KeyValue::String(s)) => Some(&**s),
            _ => None,
        };
        let int = |packed: u128| match value(packed) {
            Some(KeyValue::Int(v)) => Some(*v),
            _ => None,
        };
        match self.key.output {
            DataType::Int32 => Arc::new(
                group_keys
                    .iter()
                    .map(|&k| int(k).map(|v| v as i32))
                    .collect::<datafusion::arrow::array::Int32Array>(),
            ),
            DataType::Int64 => Arc::new(group_keys.iter().map(|&k| int(k)).collect::<Int64Array>()),
            DataType::Utf8 => {
                let mut b = StringBuilder::with_capacity(group_keys.len(), 0);
                for &k in group_keys {
                    b.append_option(string(k));
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringViewBuilder::with_capacity(group_keys.len());
                for &k in group_keys {
                    b.append_option(string(k));
                }
                Arc::new(b.finish())
            }
        }
    }
}

impl Groups {
    fn new(
        keys: &[GroupKey],
        counts: usize,
        schema: SchemaRef,
        reservation: MemoryReservation,
        early: Count,
        max_groups: usize,
        filter: Option<Arc<dyn PhysicalExpr>>,
    ) -> Groups {
        Groups {
            keys: keys.iter().cloned().map(KeyCodes::new).collect(),
            counts,
            schema,
            slots: Slots::empty(keys.len()),
            group_keys: Vec::new(),
            rows: Vec::new(),
            reservation,
            early,
            max_groups,
            filter,
        }
    }

    /// Groups the rows of `file`'s row groups in the file's range. Returns false when `send`
    /// did (the query is gone).
    fn read_file(
        &mut self,
        file: &PartitionedFile,
        reader: File,
        metadata: Arc<ParquetMetaData>,
        emit_rows: usize,
        send: &mut impl FnMut(RecordBatch) -> bool,
    ) -> Result<bool> {
        let row_groups: Vec<usize> = (0..metadata.num_row_groups())
            .filter(|&i| {
                // As DataFusion's scan assigns a row group to a range: by its first page.
                file.range.as_ref().is_none_or(|range| {
                    let c = metadata.row_group(i).column(0);
                    range.contains(c.dictionary_page_offset().unwrap_or(c.data_page_offset()))
                })
            })
            .collect();
        if row_groups.is_empty() {
            return Ok(true);
        }
        let base = match &file.arrow_schema {
            Some(schema) => Arc::clone(schema),
            None => {
                let meta = metadata.file_metadata();
                Arc::new(parquet_to_arrow_schema(
                    meta.schema_descr(),
                    meta.key_value_metadata(),
                )?)
            }
        };
        let (hint, paths) = dictionary_hint(&base, &self.keys);
        let descriptor = metadata.file_metadata().schema_descr_ptr();
        let leaves: Vec<usize> = (0..descriptor.num_columns())
            .filter(|&i| {
                let column = descriptor.column(i);
                let parts = column.path().parts();
                paths.iter().flatten().any(|p| p.as_slice() == parts)
            })
            .collect();
        if leaves.is_empty() {
            // No key is in this file: all its rows are the group of nulls.
            let rows: i64 = row_groups
                .iter()
                .map(|&i| metadata.row_group(i).num_rows())
                .sum();
            self.add_rows(None, usize::try_from(rows).unwrap_or(0))?;
            return Ok(true);
        }
        let options = ArrowReaderOptions::new().with_schema(Arc::new(hint));
        let reader_metadata = ArrowReaderMetadata::try_new(metadata, options)?;
        let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, reader_metadata)
            .with_projection(ProjectionMask::leaves(&descriptor, leaves))
            .with_row_groups(row_groups)
            .with_batch_size(READ_BATCH_ROWS)
            .build()?;
        for batch in batches {
            let batch = batch?;
            self.add_rows(Some(&batch), batch.num_rows())?;
            let full = self.group_keys.len() >= self.max_groups
                || self.reservation.try_resize(self.memory()).is_err();
            if full {
                self.early.add(1);
                if !self.emit(emit_rows, send)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Counts `rows` rows of `batch` (`None`: rows of a file with none of the keys) into their
    /// groups.
    fn add_rows(&mut self, batch: Option<&RecordBatch>, rows: usize) -> Result<()> {
        for k in &mut self.keys {
            let array = batch
                .and_then(|b| b.column_by_name(&k.key.column))
                .and_then(|c| match &k.key.field {
                    None => Some(c),
                    Some(field) => c.as_struct_opt()?.column_by_name(field),
                });
            k.number_rows(array, rows)?;
        }
        self.fit_slots();
        let keys: Vec<&[u32]> = self.keys.iter().map(|k| k.batch.as_slice()).collect();
        match &mut self.slots {
            Slots::Dense { bits, table } => {
                let shifts = shifts(bits);
                for row in 0..rows {
                    let slot = keys
                        .iter()
                        .zip(&shifts)
                        .fold(0usize, |i, (k, s)| i | ((k[row] as usize) << s));
                    let mut group = table[slot];
                    if group == EMPTY {
                        group = self.group_keys.len() as u32;
                        table[slot] = group;
                        self.group_keys.push(packed(&keys, row));
                        self.rows.push(0);
                    }
                    self.rows[group as usize] += 1;
                }
            }
            Slots::Hashed(table) => {
                let mut last: Option<(u128, u32)> = None;
                for row in 0..rows {
                    let key = packed(&keys, row);
                    let group = match last {
                        Some((k, group)) if k == key => group,
                        _ => {
                            let next = self.group_keys.len() as u32;
                            let group = *table.entry(key).or_insert(next);
                            if group == next {
                                self.group_keys.push(key);
                                self.rows.push(0);
                            }
                            group
                        }
                    };
                    last = Some((key, group));
                    self.rows[group as usize] += 1;
                }
            }
        }
        Ok(())
    }

    /// Gives each key enough bits in the dense table for its numbers, rebuilding the table
    /// (or moving to a hash table, past [`DENSE_BITS`]) when one needs more.
    fn fit_slots(&mut self) {
        let Slots::Dense { bits, .. } = &self.slots else {
            return;
        };
        let needed: Vec<u32> = self
            .keys
            .iter()
            .zip(bits)
            .map(|(k, &b)| b.max(bits_for(k.len())))
            .collect();
        if needed == *bits {
            return;
        }
        let total: u32 = needed.iter().sum();
        if total > DENSE_BITS {
            let mut table = HashMap::with_capacity_and_hasher(
                self.group_keys.len() * 2,
                foldhash::fast::FixedState::default(),
            );
            for (g, &k) in self.group_keys.iter().enumerate() {
                table.insert(k, g as u32);
            }
            self.slots = Slots::Hashed(table);
            return;
        }
        let shifts = shifts(&needed);
        let mut table = vec![EMPTY; 1 << total];
        for (g, &k) in self.group_keys.iter().enumerate() {
            let slot = shifts.iter().enumerate().fold(0usize, |i, (n, s)| {
                i | (((k >> (32 * n)) as u32 as usize) << s)
            });
            table[slot] = g as u32;
        }
        self.slots = Slots::Dense {
            bits: needed,
            table,
        };
    }

    fn memory(&self) -> usize {
        let slots = match &self.slots {
            Slots::Dense { table, .. } => table.capacity() * 4,
            Slots::Hashed(table) => table.capacity() * 24,
        };
        slots
            + self.group_keys.capacity() * 16
            + self.rows.capacity() * 8
            + self.keys.iter().map(KeyCodes::memory).sum::<usize>()
    }

    /// Sends every group on, in batches of `emit_rows`, and starts again from none. Returns
    /// false when `send` did.
    fn emit(
        &mut self,
        emit_rows: usize,
        send: &mut impl FnMut(RecordBatch) -> bool,
    ) -> Result<bool> {
        for (keys, rows) in self
            .group_keys
            .chunks(emit_rows)
            .zip(self.rows.chunks(emit_rows))
        {
            let mut columns: Vec<ArrayRef> = self
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| k.column(i, keys))
                .collect();
            let counts: ArrayRef = Arc::new(Int64Array::from(rows.to_vec()));
            columns.extend(std::iter::repeat_n(counts, self.counts));
            let mut batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
            if let Some(filter) = &self.filter {
                let passes = filter.evaluate(&batch)?.into_array(batch.num_rows())?;
                let passes = passes.as_boolean_opt().ok_or_else(|| {
                    DataFusionError::Internal(format!("{filter} is not a boolean"))
                })?;
                batch = filter_record_batch(&batch, passes)?;
                if batch.num_rows() == 0 {
                    continue;
                }
            }
            if !send(batch) {
                return Ok(false);
            }
        }
        self.slots = Slots::empty(self.keys.len());
        self.group_keys = Vec::new();
        self.rows = Vec::new();
        for k in &mut self.keys {
            k.clear();
        }
        self.reservation.resize(0);
        Ok(true)
    }
}

/// The error of a key read as another type than the exec asked the Parquet reader for.
fn read_wrongly(key: &GroupKey, read: &DataType) -> DataFusionError {
    DataFusionError::Internal(format!(
        "{key} was read as {read}, not an integer or a dictionary of strings"
    ))
}

/// The bits that number `0..count` takes.
fn bits_for(count: usize) -> u32 {
    usize::BITS - count.saturating_sub(1).leading_zeros()
}

/// Where each key's number starts in a dense slot, given each key's bits.
fn shifts(bits: &[u32]) -> Vec<u32> {
    bits.iter()
        .scan(0, |at, &b| {
            let shift = *at;
            *at += b;
            Some(shift)
        })
        .collect()
}

/// Row `row`'s key numbers, packed 32 bits each.
fn packed(keys: &[&[u32]], row: usize) -> u128 {
    keys.iter()
        .enumerate()
        .fold(0u128, |p, (i, k)| p | (u128::from(k[row]) << (32 * i)))
}

/// `schema` with each key's column (or struct field) read as a dictionary (strings) or as it is
/// (integers), and each key's path in the Parquet schema (`None`: not in this file).
fn dictionary_hint(schema: &Schema, keys: &[KeyCodes]) -> (Schema, Vec<Option<Vec<String>>>) {
    // Strings as dictionaries; integers as they are.
    let read_as = |t: &DataType| match t {
        DataType::Utf8 | DataType::Utf8View => Some(DataType::Dictionary(
            Box::new(DataType::Int32),
            Box::new(DataType::Utf8),
        )),
        DataType::Int32 | DataType::Int64 => Some(t.clone()),
        _ => None,
    };
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut paths = Vec::new();
    for k in keys {
        let key = &k.key;
        let mut path = None;
        if let Some(top) = fields.iter_mut().find(|f| f.name() == &key.column) {
            match (&key.field, top.data_type().clone()) {
                (None, t) => {
                    if let Some(as_type) = read_as(&t) {
                        top.set_data_type(as_type);
                        path = Some(vec![key.column.clone()]);
                    }
                }
                (Some(name), DataType::Struct(children)) => {
                    let mut children: Vec<Field> =
                        children.iter().map(|c| c.as_ref().clone()).collect();
                    if let Some(child) = children.iter_mut().find(|c| c.name() == name) {
                        if let Some(as_type) = read_as(child.data_type()) {
                            child.set_data_type(as_type);
                            top.set_data_type(DataType::Struct(children.into()));
                            path = Some(vec![key.column.clone(), name.clone()]);
                        }
                    }
                }
                _ => {}
            }
        }
        paths.push(path);
    }
    (
        Schema::new_with_metadata(fields, schema.metadata().clone()),
        paths,
    )
}
