//! `gatehouse serve`: the HTTP server over the data directory (see `gatehouse-server`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use gatehouse_server::config::WatchConfig;
use gatehouse_server::{Server, ServerConfig};

/// Arguments of `gatehouse serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Settings file (default: DATA/gatehouse.toml when it exists); the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Ingest files dropped into this folder, then move them to done/ or rejected/.
    #[arg(long)]
    watch: Option<PathBuf>,
    /// Store the watched folder's records under this tenant.
    #[arg(long, requires = "watch")]
    watch_tenant: Option<String>,
    /// Commit accepted rows at least this often (milliseconds).
    #[arg(long)]
    commit_interval_ms: Option<u64>,
    /// Remove days older than this many days, every hour (0: keep everything).
    #[arg(long)]
    retention_days: Option<u32>,
    /// Keep replaced files this many hours for readers of older snapshots before vacuuming.
    #[arg(long)]
    vacuum_grace_hours: Option<u64>,
}

/// Loads the settings: the file, then the flags.
fn settings(data: &Path, args: &Args) -> anyhow::Result<ServerConfig> {
    let default_file = data.join("gatehouse.toml");
    let mut config = match &args.config {
        Some(p) => ServerConfig::load(p).map_err(anyhow::Error::msg)?,
        None if default_file.is_file() => {
            ServerConfig::load(&default_file).map_err(anyhow::Error::msg)?
        }
        None => ServerConfig::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(dir) = &args.watch {
        if let Some(t) = &args.watch_tenant {
            gatehouse_store::layout::check_tenant_id(t).map_err(anyhow::Error::msg)?;
        }
        config.watch = Some(WatchConfig {
            dir: dir.clone(),
            tenant: args.watch_tenant.clone(),
        });
    }
    if let Some(ms) = args.commit_interval_ms {
        config.ingest.commit_interval_ms = ms;
    }
    if let Some(days) = args.retention_days {
        config.retention.days = days;
    }
    if let Some(h) = args.vacuum_grace_hours {
        config.maintenance.vacuum_grace_hours = h;
    }
    if let Some(w) = &config.watch {
        anyhow::ensure!(
            w.dir.is_dir(),
            "the watched folder {} does not exist",
            w.dir.display()
        );
    }
    Ok(config)
}

/// Runs `gatehouse serve` until interrupted (Ctrl-C or SIGTERM), then commits what it accepted.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = settings(data, &args)?;
    // The ingestor starts on its own thread, outside the async runtime.
    let server =
        Server::start(data, config).with_context(|| format!("serving {}", data.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = server.bind().await?;
        let addr = listener.local_addr()?;
        // Scripts and tests read this line to find the port.
        println!("Listening on http://{addr}");
        server.run(listener, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    eprintln!("gatehouse serve: stopped; everything accepted is committed");
    Ok(ExitCode::SUCCESS)
}

/// Completes at Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
