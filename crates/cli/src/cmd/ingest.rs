//! `gatehouse ingest`: store log exports, with a progress bar and a summary.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use gatehouse_formats::input::expand_paths;
use gatehouse_formats::InputFormat;
use gatehouse_ingest::{ingest, IngestOptions, IngestSummary, Progress};
use gatehouse_server::client::LocalServer;
use gatehouse_store::{Store, StoreError};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `gatehouse ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to read (walked recursively); `-` reads standard input.
    #[arg(required = true)]
    paths: Vec<String>,
    /// Store every record under this tenant (default: the tenant id the record names).
    #[arg(long)]
    tenant: Option<String>,
    /// Force the input format instead of detecting it: graph, diagnostic, loganalytics, portal.
    #[arg(long)]
    format: Option<InputFormat>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Rows per partition before a file is written (smaller = more frequent commits).
    #[arg(long, hide = true)]
    file_rows: Option<usize>,
    /// MiB of buffered rows (all partitions together) before the coldest are written out.
    #[arg(long, hide = true)]
    buffer_mib: Option<usize>,
    /// Read files into buffers instead of mapping them into memory (use it when an input may be
    /// truncated while it is read: a mapped file that shrinks ends the process).
    #[arg(long)]
    no_mmap: bool,
    /// Send every record through the general path (for comparing the paths; same rows stored).
    #[arg(long, hide = true)]
    no_fast_path: bool,
}

/// Runs `gatehouse ingest`. Exit 0: all stored; 2: some records rejected; 1: fatal error. When
/// `gatehouse serve` holds the data directory, the files go through it.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let inputs = expand_paths(&args.paths)?;
    let store = Store::open(data).with_context(|| format!("opening {}", data.display()))?;
    let mut writer = match store.writer() {
        Ok(w) => w,
        Err(StoreError::Locked(_)) => return forward(data, &args),
        Err(e) => return Err(e.into()),
    };
    let mut opts = IngestOptions {
        tenant: args.tenant,
        format: args.format,
        ..IngestOptions::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t;
    }
    opts.fast_path = !args.no_fast_path;
    opts.map_files = !args.no_mmap;
    if let Some(m) = args.buffer_mib {
        opts.max_buffered_bytes = m.max(1) << 20;
    }
    if let Some(r) = args.file_rows {
        opts.file_rows = r.max(1);
    }
    let started = Instant::now();
    let bar = ProgressBar::new(0);
    let summary = ingest(&mut writer, &inputs, &opts, &mut |p| match p {
        Progress::Started { total_bytes } => {
            if total_bytes > 0 {
                bar.set_length(total_bytes);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            } else {
                bar.set_style(ProgressStyle::default_spinner());
            }
        }
        Progress::Advanced {
            bytes_read,
            records,
        } => {
            bar.set_position(bytes_read);
            bar.set_message(format!("{records} records"));
        }
        Progress::Committed { stored, .. } => {
            bar.set_message(format!("{stored} stored"));
        }
    })?;
    bar.finish_and_clear();
    print_summary(&summary, started.elapsed().as_secs_f64());
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Sends the ingest to the server running over the data directory, which reads the files itself.
fn forward(data: &Path, args: &Args) -> anyhow::Result<ExitCode> {
    let Some(server) = LocalServer::find(data) else {
        anyhow::bail!(
            "{}: another gatehouse process is writing to this data directory (and it is not a \
             gatehouse serve this command could go through)",
            data.display()
        );
    };
    if args.paths.iter().any(|p| p == "-") {
        anyhow::bail!(
            "gatehouse serve holds {}: standard input cannot be forwarded to it; push it with \
             POST {}/gatehouse/ingest instead",
            data.display(),
            server.url()
        );
    }
    let paths: Vec<String> = args
        .paths
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .map(|a| a.display().to_string())
                .unwrap_or_else(|_| p.clone())
        })
        .collect();
    let started = Instant::now();
    let format = args.format.map(|f| format!("{f:?}").to_ascii_lowercase());
    let summary = server
        .ingest(&paths, args.tenant.as_deref(), format.as_deref())
        .map_err(anyhow::Error::msg)?;
    eprintln!("(ingested through gatehouse serve at {})", server.url());
    print_summary(&summary, started.elapsed().as_secs_f64());
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_summary(s: &IngestSummary, secs: f64) {
    let total = s.total_stored();
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    println!(
        "Stored {total} records from {} input(s), {:.1} MB read, in {secs:.2} s ({rate:.0} records/s)",
        s.inputs,
        s.bytes_read as f64 / 1e6
    );
    for (log, n) in &s.stored {
        println!("  {:<16} {n}", log.table_name());
        if *log == gatehouse_model::LogKind::SignIns {
            for (kind, k) in &s.signins_by_kind {
                println!("    {:<20} {k}", kind.graph_name());
            }
        }
    }
    println!("Duplicates skipped: {}", s.duplicates);
    println!(
        "Stored under an id derived from their content: {}",
        s.derived_ids
    );
    println!("Rejected: {}", s.rejected.len());
    for r in &s.rejected {
        println!("  {r}");
    }
}
