//! `gatehouse export`: stored records back out, every field included, uncapped: Graph JSON
//! (NDJSON or an array), the admin center's CSV columns or Parquet, optionally filtered with an
//! OData `$filter` as the Graph API takes it (`gatehouse_graph::export`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use gatehouse_export::record_to_json;
use gatehouse_model::LogKind;
use gatehouse_query::QueryEngine;
use gatehouse_store::Store;

/// Arguments of `gatehouse export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log: signins, audits, provisioning, riskyUsers or riskDetections.
    #[arg(long, default_value = "signins")]
    log: LogKind,
    /// Only this tenant's records.
    #[arg(long)]
    tenant: Option<String>,
    /// Only records at or after this time (RFC 3339 or any timestamp Entra exports use).
    #[arg(long)]
    since: Option<String>,
    /// Only records before this time.
    #[arg(long)]
    until: Option<String>,
    /// Only records this OData filter matches, as `$filter` of the Graph API takes it
    /// (`status/errorCode ne 0 and signInEventTypes/any(t: t eq 'servicePrincipal')`).
    #[arg(long)]
    filter: Option<String>,
    /// ndjson (Graph JSON, one record per line), json (an array), csv (the admin center's
    /// download columns) or parquet.
    #[arg(long, default_value = "ndjson")]
    format: gatehouse_graph::ExportFormat,
    /// Newest day first (default: oldest day first; within a day, in no set order).
    #[arg(long)]
    newest_first: bool,
}

/// A sign-in, audit or provisioning export through the Graph export (filters, formats).
fn run_graph(
    store: &Store,
    resource: gatehouse_graph::GraphResource,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let time = resource.time_property();
    let mut terms = Vec::new();
    if let Some(since) = bound(&args.since)? {
        terms.push(format!("{time} ge {since}"));
    }
    if let Some(until) = bound(&args.until)? {
        terms.push(format!("{time} lt {until}"));
    }
    if let Some(f) = &args.filter {
        terms.push(format!("({f})"));
    }
    let filter = if terms.is_empty() {
        None
    } else {
        Some(
            gatehouse_odata::parse_filter(&terms.join(" and "))
                .map_err(|e| anyhow::anyhow!("--filter: {e}"))?,
        )
    };
    let q = gatehouse_graph::ExportQuery {
        resource,
        filter,
        ascending: !args.newest_first,
        format: args.format,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let queries = gatehouse_query::QueryService::new(store.root(), 2 << 30);
    let snapshot = rt.block_on(store.snapshot())?;
    let mut stream = Box::pin(rt.block_on(gatehouse_graph::export(
        &queries,
        &snapshot,
        args.tenant.as_deref(),
        &q,
    ))?);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    use futures_util::StreamExt;
    while let Some(chunk) = rt.block_on(stream.next()) {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn bound(s: &Option<String>) -> anyhow::Result<Option<String>> {
    s.as_deref()
        .map(|t| {
            gatehouse_model::time::parse_timestamp(t)
                .map(|t| gatehouse_model::time::format_timestamp(&t))
                .map_err(anyhow::Error::msg)
        })
        .transpose()
}

/// Runs `gatehouse export`: the records in the chosen format, oldest day first, from one snapshot of the
/// store (commits, compactions and retention runs during the export change nothing in it).
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
    let resource = gatehouse_graph::GraphResource::ALL
        .into_iter()
        .find(|r| r.log() == args.log);
    if let Some(resource) = resource {
        return run_graph(&store, resource, args);
    }
    if args.filter.is_some()
        || args.format != gatehouse_graph::ExportFormat::NdJson
        || args.newest_first
    {
        anyhow::bail!(
            "--filter, --format and --newest-first apply to signins, audits and provisioning; {} exports as NDJSON",
            args.log
        );
    }
    let time = args.log.time_column();
    let mut conditions = Vec::new();
    if let Some(since) = bound(&args.since)? {
        conditions.push(format!("\"{time}\" >= TIMESTAMP '{since}'"));
    }
    if let Some(until) = bound(&args.until)? {
        conditions.push(format!("\"{time}\" < TIMESTAMP '{until}'"));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT * FROM \"{}\" {filter} ORDER BY \"{time}\", id",
        args.log.table_name()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let engine = rt.block_on(QueryEngine::open(&store, args.tenant.as_deref()))?;
    let df = rt.block_on(engine.context().sql(&sql))?;
    let mut stream = rt.block_on(df.execute_stream())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    use futures_util::StreamExt;
    while let Some(batch) = rt.block_on(stream.next()) {
        let batch = batch?;
        for row in 0..batch.num_rows() {
            serde_json::to_writer(
                &mut out,
                &serde_json::Value::Object(record_to_json(&batch, row)),
            )?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
