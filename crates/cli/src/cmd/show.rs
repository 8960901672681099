//! `gatehouse show`: one record by its id, as Graph JSON.

use std::path::Path;
use std::process::ExitCode;

use gatehouse_model::LogKind;
use gatehouse_query::QueryEngine;
use gatehouse_store::Store;
use serde_json::Value;

/// Arguments of `gatehouse show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id.
    id: String,
    /// The log: signins, audits, provisioning, riskyUsers or riskDetections.
    #[arg(long, default_value = "signins")]
    log: LogKind,
    /// Only this tenant's records.
    #[arg(long)]
    tenant: Option<String>,
    /// Every stored version of the record (records that share the id), one per line, the one a
    /// lookup answers first.
    #[arg(long)]
    all: bool,
}

/// Runs `gatehouse show`: the most complete version of the record (exit 1 when none is stored).
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let versions = rt.block_on(async {
        let engine = QueryEngine::open(&store, args.tenant.as_deref()).await?;
        engine.versions(args.log, &args.id).await
    })?;
    if versions.is_empty() {
        eprintln!("no {} record with id {:?}", args.log, args.id);
        return Ok(ExitCode::from(1));
    }
    if args.all {
        for v in &versions {
            println!("{}", Value::Object(v.record.clone()));
        }
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Object(versions[0].record.clone()))?
        );
    }
    Ok(ExitCode::SUCCESS)
}
