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

/// Every stored version of the record `id` of `log` (optionally of one tenant), the one a lookup
/// answers first.
pub fn versions(
    data: &Path,
    log: LogKind,
    id: &str,
    tenant: Option<&str>,
) -> anyhow::Result<Vec<gatehouse_query::RecordVersion>> {
    let store = Store::open(data)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(async {
        let engine = QueryEngine::open(&store, tenant).await?;
        engine.versions(log, id).await
    })?)
}

/// Runs `gatehouse show`: the most complete version of the record (exit 1 when none is stored).
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let versions = versions(data, args.log, &args.id, args.tenant.as_deref())?;
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
