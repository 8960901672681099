//! `gatehouse connect`: runs a live connector on its own (without `gatehouse serve`), feeding the
//! data directory through an in-process ingest service. Under `gatehouse serve`, configure
//! connectors in `gatehouse.toml` instead (`[[connectors.blob]]`, `[[connectors.graph]]`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatehouse_connect::{
    BlobSettings, Connector, ConnectorStatus, GraphSettings, IngestorSink, KafkaSettings,
};
use gatehouse_ingest::{IngestOptions, Ingestor, NoObserver};
use gatehouse_store::{Store, TableConfig};

/// `gatehouse connect` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Read a storage account's diagnostic export (`insights-logs-*` containers), incrementally.
    Blob(BlobArgs),
    /// Poll Microsoft Graph's log APIs (all four sign-in types, audits, provisioning).
    Graph(GraphArgs),
    /// Consume Event Hubs (or any Kafka-protocol broker) in a consumer group.
    Kafka(KafkaArgs),
}

/// `gatehouse connect kafka`.
#[derive(Debug, clap::Args)]
pub struct KafkaArgs {
    /// An Event Hubs namespace's connection string (`env:NAME` reads it from the environment).
    #[arg(long, conflicts_with = "brokers")]
    connection_string: Option<String>,
    /// Bootstrap servers (`host:port,…`).
    #[arg(long)]
    brokers: Option<String>,
    /// plaintext, ssl, sasl_ssl or sasl_plaintext.
    #[arg(long, requires = "brokers")]
    security_protocol: Option<String>,
    /// SASL user.
    #[arg(long, requires = "brokers")]
    username: Option<String>,
    /// SASL password (`env:NAME` reads it from the environment).
    #[arg(long, requires = "brokers")]
    password: Option<String>,
    /// PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, requires = "brokers")]
    sasl_mechanism: Option<String>,
    /// A PEM file of the CAs that sign the broker's certificate (default: the system's).
    #[arg(long, requires = "brokers")]
    ca_file: Option<String>,
    /// A topic (event hub) to read (repeat it).
    #[arg(long = "topic", required = true)]
    topics: Vec<String>,
    /// The consumer group.
    #[arg(long, default_value = "gatehouse")]
    group: String,
    /// Store every record under this tenant (default: the tenant each record names).
    #[arg(long)]
    tenant: Option<String>,
    /// Read until every assigned partition is stored to its end, then stop (default: keep
    /// reading until Ctrl-C).
    #[arg(long)]
    once: bool,
}

/// `gatehouse connect graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The Entra tenant the application signs in to (its id or a domain).
    #[arg(long)]
    entra_tenant: String,
    /// The application (client) id.
    #[arg(long)]
    client_id: String,
    /// The client secret (`env:NAME` reads it from the environment).
    #[arg(long)]
    client_secret: String,
    /// The token authority.
    #[arg(long, default_value = "https://login.microsoftonline.com")]
    authority: String,
    /// Graph's base URL.
    #[arg(long, default_value = "https://graph.microsoft.com")]
    graph_url: String,
    /// Store every record under this tenant (default: the tenant each record names).
    #[arg(long)]
    tenant: Option<String>,
    /// Seconds between polls.
    #[arg(long, default_value_t = 60)]
    every_seconds: u64,
    /// Records logged up to this many minutes after their event time are still caught.
    #[arg(long, default_value_t = 120)]
    lookback_minutes: u64,
    /// Minutes between polls that go back the whole lookback (others go back one minute).
    #[arg(long, default_value_t = 15)]
    deep_every_minutes: u64,
    /// Days back the first poll starts.
    #[arg(long, default_value_t = 30)]
    initial_days: u64,
    /// Records per page (up to 1,000).
    #[arg(long, default_value_t = 1000)]
    page_size: u32,
    /// Poll once, then stop (default: keep polling until Ctrl-C).
    #[arg(long)]
    once: bool,
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
    let (connector, tenant, once) = match command {
        Command::Blob(args) => {
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
            (
                Connector::Blob(settings.connector()?),
                args.tenant,
                args.once,
            )
        }
        Command::Graph(args) => {
            let settings = GraphSettings {
                name: "connect-graph".into(),
                entra_tenant: args.entra_tenant,
                client_id: args.client_id,
                client_secret: args.client_secret,
                authority: args.authority,
                graph_url: args.graph_url,
                tenant: args.tenant.clone(),
                every_seconds: args.every_seconds,
                lookback_minutes: args.lookback_minutes,
                deep_every_minutes: args.deep_every_minutes,
                initial_days: args.initial_days,
                page_size: args.page_size,
            };
            (
                Connector::Graph(settings.connector()?),
                args.tenant,
                args.once,
            )
        }
        Command::Kafka(args) => {
            let settings = KafkaSettings {
                name: "connect-kafka".into(),
                connection_string: args.connection_string,
                brokers: args.brokers,
                security_protocol: args.security_protocol,
                username: args.username,
                password: args.password,
                sasl_mechanism: args.sasl_mechanism,
                ca_file: args.ca_file,
                topics: args.topics,
                group: args.group,
                tenant: args.tenant.clone(),
            };
            (
                Connector::Kafka(settings.connector()?),
                args.tenant,
                args.once,
            )
        }
    };
    if let Some(server) = gatehouse_server::client::LocalServer::find(data) {
        anyhow::bail!(
            "gatehouse serve runs over {} ({}): configure the connector in its gatehouse.toml \
             ([[connectors.{}]]) instead of running it beside the server",
            data.display(),
            server.url(),
            connector.kind()
        );
    }
    if let Some(t) = &tenant {
        gatehouse_store::layout::check_tenant_id(t).map_err(anyhow::Error::msg)?;
    }
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
    let status = ConnectorStatus::new(format!("connect-{}", connector.kind()), connector.kind());
    let result = {
        let sink = IngestorSink::new(&ingestor, tenant);
        if once {
            match &connector {
                Connector::Blob(c) => c.poll(&sink, &status).map(|r| {
                    format!(
                        "{} blobs, {} batches: {} records stored, {} already stored, {} rejected; {} bytes wait for a line's end",
                        r.blobs, r.batches, r.stored, r.duplicates, r.rejected, r.behind_bytes
                    )
                }),
                Connector::Graph(c) => c.poll(&sink, &status, &|| false).map(|r| {
                    format!(
                        "{} pages: {} records stored, {} already stored, {} rejected; throttled {} times",
                        r.pages, r.stored, r.duplicates, r.rejected, r.throttled
                    )
                }),
                Connector::Kafka(c) => c.consume(&sink, &status, &|| false, true).map(|r| {
                    format!(
                        "{} messages, {} batches: {} records stored, {} already stored, {} rejected",
                        r.messages, r.batches, r.stored, r.duplicates, r.rejected
                    )
                }),
            }
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
            let s = status.to_json();
            Ok(format!(
                "stopped: {} records stored, {} already stored, {} rejected, {} errors",
                s["records"], s["duplicates"], s["rejected"], s["errors"]
            ))
        }
    };
    ingestor.shutdown()?;
    eprintln!("{}", result?);
    Ok(if status.to_json()["rejected"].as_u64().unwrap_or(0) > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
