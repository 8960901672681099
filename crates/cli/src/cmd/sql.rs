//! `gatehouse sql`: SQL over the store.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use gatehouse_query::QueryEngine;
use gatehouse_store::Store;

use crate::output::{write_result, OutputFormat};

/// Arguments of `gatehouse sql`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL statement. Tables: signins, audits, provisioning, riskyUsers, riskDetections.
    sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Query only this tenant's data.
    #[arg(long)]
    tenant: Option<String>,
}

/// Runs `gatehouse sql`.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(data).with_context(|| format!("opening {}", data.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let engine = QueryEngine::open(&store, args.tenant.as_deref()).await?;
        engine.sql(&args.sql).await
    })?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_result(&mut out, &result, args.format)?;
    Ok(ExitCode::SUCCESS)
}
