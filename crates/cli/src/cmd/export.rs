//! `gatehouse export`: stored records back out as Graph JSON (NDJSON), every field included —
//! uncapped, for scripts, other tools and round-trip checks.

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

/// Runs `gatehouse export`: one Graph JSON object per line, oldest first, from one snapshot of the
/// store (commits, compactions and retention runs during the export change nothing in it).
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
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
