//! `gatehouse`: a self-hosted sign-in log system for Microsoft Entra ID tenants.
//!
//! This binary is thin: it parses the command line and calls the library crates —
//! `gatehouse-formats` (readers), `gatehouse-store` (the Parquet store), `gatehouse-query`
//! (DataFusion SQL) and `gatehouse-sim` (the tenant simulator). Each subcommand lives in `cmd/`.

mod cmd;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc keeps freed memory for reuse: ingest builds and frees column buffers batch after
/// batch, and glibc's allocator handed much of that back to the kernel only to fault it in again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gatehouse keeps every Entra ID sign-in, audit and provisioning record of a tenant and answers
/// questions about them.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None)]
struct Cli {
    /// The data directory.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_DATA",
        default_value = "./gatehouse-data"
    )]
    data: PathBuf,

    /// More log output (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Store log exports (files, directories, `-` for standard input; gzip is detected).
    Ingest(cmd::ingest::Args),
    /// Run SQL over the tables signins, audits, provisioning, riskyUsers and riskDetections.
    Sql(cmd::sql::Args),
    /// Write stored records as Graph JSON, one per line (uncapped).
    Export(cmd::export::Args),
    /// Print the tables and their columns.
    Schema,
    /// Merge small files.
    Compact,
    /// Delete data older than N days.
    Retention(cmd::retention::Args),
    /// Write a realistic simulated tenant's logs (with labelled attacks).
    Simulate(cmd::simulate::Args),
    /// Simulate a tenant, ingest it and answer the everyday questions.
    Demo(cmd::demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Ingest(args) => cmd::ingest::run(&cli.data, args),
        Command::Sql(args) => cmd::sql::run(&cli.data, args),
        Command::Export(args) => cmd::export::run(&cli.data, args),
        Command::Schema => {
            print!("{}", gatehouse_query::describe_schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compact => cmd::retention::compact(&cli.data),
        Command::Retention(args) => cmd::retention::run(&cli.data, args),
        Command::Simulate(args) => cmd::simulate::run(&cli.data, args),
        Command::Demo(args) => cmd::demo::run(&cli.data, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
