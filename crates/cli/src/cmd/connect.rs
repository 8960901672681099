//! `gatehouse connect`: runs a live connector on its own (without `gatehouse serve`), feeding the
//! data directory through an in-process ingest service. Under `gatehouse serve`, configure
//! connectors in `gatehouse.toml` instead (`[[connectors.blob]]`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatehouse_connect::{BlobSettings, ConnectorStatus, IngestorSink};
use gatehouse_ingest::{IngestOptions, Ingestor, NoObserver};
use gatehouse_store::{Store, TableConfig};

/// `gatehouse connect` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Read a storage account's diagnostic export (`insights-logs-*` containers), incrementally.
    Blob(BlobArgs),
}

/// `gatehouse connect blob`.
#[derive(Debug, clap::Args)]
pub struct BlobArgs {
    /// A storage connection string (`env:NAME` reads it from the environment).
    #[arg(long, conflicts_with = "url")]
    connection_string: Option<String>,
    /// The Blob service URL (`https://ACCOUNT.blob.core.windows.net`).
    #[arg(long)]
    url: Option<String>,
    /// A SAS token with list and read permissions (`env:NAME` reads it from the environment).
    #[arg(long, requires = "url", conflicts_with = "account_key")]
    sas: Option<String>,
    /// The account key (`env:NAME` reads it from the environment).
    #[arg(long, requires = "url")]
    account_key: Option<String>,
    /// A container to read (repeat it; default: every `insights-logs-*` container).
    #[arg(long = "container")]
    containers: Vec<String>,
    /// Store every record under this tenant (default: the tenant each record names).
    #[arg(long)]
    tenant: Option<String>,
    /// Seconds between looks for new data.
    #[arg(long, default_value_t = 10)]
    every_seconds: u64,
    /// Seconds a blob must stay unchanged before a last line without a newline is read.
    #[arg(long, default_value_t = 300)]
    settle_seconds: u64,
    /// Read what is there once, then stop (default: keep reading until Ctrl-C).
    #[arg(long)]
    once: bool,
}

/// Runs a `gatehouse connect` subcommand.
pub fn run(data: &Path, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Blob(args) = command;
    if let Some(server) = gatehouse_server::client::LocalServer::find(data) {
        anyhow::bail!(
            "gatehouse serve runs over {} ({}): configure the connector in its gatehouse.toml \
             ([[connectors.blob]]) instead of running it beside the server",
            data.display(),
            server.url()
        );
    }
    if let Some(t) = &args.tenant {
        gatehouse_store::layout::check_tenant_id(t).map_err(anyhow::Error::msg)?;
    }
    let settings = BlobSettings {
        name: "connect-blob".into(),
        connection_string: args.connection_string,
        url: args.url,
        sas: args.sas,
        account_key: args.account_key,
        containers: args.containers,
        tenant: args.tenant.clone(),
        every_seconds: args.every_seconds,
        settle_seconds: args.settle_seconds,
    };
    let connector = settings.connector()?;
    std::fs::create_dir_all(data).with_context(|| data.display().to_string())?;
    let store = Store::open(data)?;
    let options = IngestOptions {
        commit_interval: Some(Duration::from_secs(1)),
        map_files: false,
        ..IngestOptions::default()
    };
    let ingestor = Ingestor::start(
        &store,
        options,
        TableConfig::default(),
        Arc::new(NoObserver),
    )?;
    let status = ConnectorStatus::new(&settings.name, "blob");
    let result = {
        let sink = IngestorSink::new(&ingestor, args.tenant);
        if args.once {
            connector.poll(&sink, &status).map(Some)
        } else {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(tokio::signal::ctrl_c());
                }
                flag.store(true, Ordering::Relaxed);
            });
            eprintln!("reading until Ctrl-C …");
            connector.run(&sink, &status, &|| stop.load(Ordering::Relaxed));
            Ok(None)
        }
    };
    ingestor.shutdown()?;
    let s = status.to_json();
    match result {
        Ok(Some(report)) => eprintln!(
            "{} blobs, {} batches: {} records stored, {} already stored, {} rejected; {} bytes wait for a line's end",
            report.blobs, report.batches, report.stored, report.duplicates, report.rejected, report.behind_bytes
        ),
        Ok(None) => eprintln!(
            "stopped: {} records stored, {} already stored, {} rejected, {} errors",
            s["records"], s["duplicates"], s["rejected"], s["errors"]
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(if s["rejected"].as_u64().unwrap_or(0) > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
