//! `gatehouse retention` and `gatehouse compact`: keeping the store tidy.

use std::path::Path;
use std::process::ExitCode;

use gatehouse_model::LogKind;
use gatehouse_store::maintenance::{apply_retention, compact_all};
use gatehouse_store::Store;

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
    let store = Store::open(data)?;
    let mut writer = store.writer()?;
    let logs: Vec<LogKind> = match args.log {
        Some(l) => vec![l],
        None => LogKind::ALL.to_vec(),
    };
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(args.days));
    let cutoff_ns = cutoff.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let report = apply_retention(&mut writer, &logs, cutoff_ns)?;
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
    /// Delete files that no snapshot younger than this many hours needs (default: the tables'
    /// grace period, 24 hours).
    #[arg(long)]
    older_than_hours: Option<u64>,
}

/// Runs `gatehouse vacuum`.
pub fn vacuum(data: &Path, args: VacuumArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
    let mut writer = store.writer()?;
    let deleted = match args.older_than_hours {
        Some(h) => writer.vacuum_older_than(std::time::Duration::from_secs(h * 3600))?,
        None => writer.vacuum()?,
    };
    println!("Deleted {deleted} file(s) no longer in any table");
    Ok(ExitCode::SUCCESS)
}

/// Runs `gatehouse compact`.
pub fn compact(data: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
    let mut writer = store.writer()?;
    let r = compact_all(&mut writer)?;
    println!(
        "Compacted {} partition(s): {} files merged into {}",
        r.partitions, r.files_before, r.files_after
    );
    Ok(ExitCode::SUCCESS)
}
