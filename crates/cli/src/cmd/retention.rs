//! `gatehouse retention`, `compact` and `vacuum`: keeping the store tidy (through a running
//! `gatehouse serve` when one holds the data directory).

use std::path::Path;
use std::process::ExitCode;

use gatehouse_model::LogKind;
use gatehouse_server::client::LocalServer;
use gatehouse_store::clustered::cluster_missing;
use gatehouse_store::maintenance::{apply_retention, compact_all};
use gatehouse_store::{Store, StoreError, StoreWriter};

/// The data directory's writer, or the `gatehouse serve` holding it.
enum Writer {
    Here(Box<StoreWriter>),
    Server(LocalServer),
}

fn writer(data: &Path) -> anyhow::Result<Writer> {
    let store = Store::open(data)?;
    match store.writer() {
        Ok(w) => Ok(Writer::Here(Box::new(w))),
        Err(StoreError::Locked(_)) => match LocalServer::find(data) {
            Some(server) => {
                eprintln!("(through gatehouse serve at {})", server.url());
                Ok(Writer::Server(server))
            }
            None => Err(StoreError::Locked(data.to_path_buf()).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Arguments of `gatehouse retention`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep this many days (counted back from now); days wholly older are removed.
    #[arg(long)]
    days: u32,
    /// Only this log: signins, audits or provisioning (default: all).
    #[arg(long)]
    log: Option<LogKind>,
}

/// Runs `gatehouse retention`.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let logs: Vec<LogKind> = match args.log {
        Some(l) => vec![l],
        None => LogKind::ALL.to_vec(),
    };
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(args.days));
    let cutoff_ns = cutoff.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let report = match writer(data)? {
        Writer::Here(mut w) => apply_retention(&mut w, &logs, cutoff_ns)?,
        Writer::Server(server) => {
            let v = server
                .retention(args.days, args.log)
                .map_err(anyhow::Error::msg)?;
            gatehouse_store::maintenance::RetentionReport {
                rows_deleted: v["rowsDeleted"].as_u64().unwrap_or(0),
                files_affected: v["filesAffected"].as_u64().unwrap_or(0) as usize,
                days_removed: v["daysRemoved"].as_u64().unwrap_or(0) as usize,
            }
        }
    };
    println!(
        "Removed {} records of the days before {} ({} day(s) of tables, {} file(s)); \
         their files are deleted by a vacuum after the grace period",
        report.rows_deleted,
        cutoff.format("%Y-%m-%d"),
        report.days_removed,
        report.files_affected
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `gatehouse vacuum`.
#[derive(Debug, clap::Args)]
pub struct VacuumArgs {
    /// Delete files that no snapshot younger than this many hours needs (default: the grace
    /// period, 24 hours).
    #[arg(long, conflicts_with = "older_than_seconds")]
    older_than_hours: Option<u64>,
    /// The same in seconds.
    #[arg(long)]
    older_than_seconds: Option<u64>,
}

/// Runs `gatehouse vacuum`.
pub fn vacuum(data: &Path, args: VacuumArgs) -> anyhow::Result<ExitCode> {
    let seconds = args
        .older_than_seconds
        .or(args.older_than_hours.map(|h| h * 3600));
    let deleted = match writer(data)? {
        Writer::Here(mut w) => match seconds {
            Some(s) => w.vacuum_older_than(std::time::Duration::from_secs(s))?,
            None => w.vacuum()?,
        },
        Writer::Server(server) => server.vacuum(seconds).map_err(anyhow::Error::msg)?["deleted"]
            .as_u64()
            .unwrap_or(0) as usize,
    };
    println!("Deleted {deleted} file(s) no longer in any table");
    Ok(ExitCode::SUCCESS)
}

/// Runs `gatehouse compact`.
pub fn compact(data: &Path) -> anyhow::Result<ExitCode> {
    let (r, clustered) = match writer(data)? {
        Writer::Here(mut w) => {
            let r = compact_all(&mut w)?;
            // The server writes the copies clustered by user in the background; here, now.
            (r, Some(cluster_missing(data, w.snapshot(), &|| true)))
        }
        Writer::Server(server) => {
            let v = server.compact().map_err(anyhow::Error::msg)?;
            let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
            let r = gatehouse_store::maintenance::CompactionReport {
                partitions: n("partitions"),
                files_before: n("filesBefore"),
                files_after: n("filesAfter"),
            };
            (r, None)
        }
    };
    println!(
        "Compacted {} partition(s): {} files merged into {}",
        r.partitions, r.files_before, r.files_after
    );
    if let Some(c) = clustered {
        if c.written > 0 {
            println!(
                "Clustered {} interactive sign-in file(s) by user ({} records)",
                c.written, c.rows
            );
        }
        if c.failed > 0 {
            eprintln!(
                "{} file(s) could not be copied clustered by user (see the log); \
                 their queries read the files themselves",
                c.failed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
