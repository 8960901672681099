//! `gatehouse`: a self-hosted sign-in log system for Microsoft Entra ID tenants.
//!
//! This binary is thin: it parses the command line and calls the library crates —
//! `gatehouse-formats` (readers), `gatehouse-store` (the Delta Lake store), `gatehouse-query`
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

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in its header, which the Rust
/// bindings do not name).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to hand freed memory back to the kernel while the process runs.
///
/// Every subcommand is a batch job whose memory use rises to a plateau and stays there; by default
/// mimalloc returns pages that stayed free for a second, and the next batches of column buffers
/// fault them in again, each page zeroed by the kernel (on a virtual machine whose host reclaims guest memory,
/// a first touch costs about 1.6 ms per MB). Measured on the 1M sign-in benchmark: system time
/// from about 2 s to 0.6 s, page faults from 170–230k to 72k, peak RSS about 8% higher.
/// Transparent huge pages are off too: the kernel zeroes each 2 MB page whole on its first
/// touch, and ingest's first touches of column buffers then cost more system time than the TLB
/// misses they save (1M sign-ins, 3 alternating runs: system time 2.0–2.1 s to 0.7 s, wall time
/// 7.3–7.4 s to 6.9–7.0 s, user time about 6% higher).
/// `gatehouse serve`, which runs for months, gives freed memory back (see [`serve_memory`]) so
/// its resident memory follows what it holds, and keeps huge pages.
fn keep_freed_memory() {
    // SAFETY: called in `main` before any other thread exists (parsing the command line starts
    // none; mimalloc's option setters are not thread-safe); the option indexes are those of
    // mimalloc v3's header (the version `libmimalloc-sys` builds), checked by the test below.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
    }
    no_huge_pages();
    keep_c_libraries_freed_memory();
}

/// The same for memory the C libraries take from glibc's allocator (librdkafka's receive
/// buffers, a few MB per fetch): glibc maps an allocation of over 128 kB (raised by frees, up to
/// 32 MB) on its own and unmaps it when freed, and hands the top of its heaps back once 2x that
/// is free, so each fetch faulted its buffer in afresh. With both thresholds fixed, buffers of up
/// to 32 MB are reused from the heap and kept (`connect kafka --once` of 1.9 GB of messages:
/// librdkafka's thread stopped faulting, a quarter of the run's page faults).
fn keep_c_libraries_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes integers and is called before any other thread exists (as above).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Turns transparent huge pages off for this process. mimalloc applies its `allow_thp` option
/// once, when it initialises (before `main`), so setting the option later changes nothing: the
/// process asks the kernel itself (`PR_SET_THP_DISABLE`, which holds for every mapping, the
/// allocator's reserved arenas included).
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes integer arguments only and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// mimalloc's `allow_thp` option (`mi_option_allow_thp` in its v3 header).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// How `gatehouse serve` uses memory: freed memory goes back to the kernel after it stayed free
/// for 10 s (mimalloc's default is 1 s). Transparent huge pages stay as mimalloc asks for them.
///
/// A Graph page decodes tens of MB of columns and frees them; handed back after a second and
/// faulted in again by the next pages, one page in ten took 1.5–2.5 times the median; after 10 s,
/// 30 pages of one filter in a row stay within 0.9–1.3 times the median, and resident memory
/// still falls back 10 s after a burst. Huge pages are kept because the server reads large
/// structures it holds (the questions' kept days, up to `insights_cache_mb`): with them
/// switched off (`PR_SET_THP_DISABLE`) the questions' warm answers on the 13.7M-sign-in month
/// were 30–60% slower (users per application over 30 days 449 ms against 281 ms, one run each,
/// minutes apart).
fn serve_memory() {
    // SAFETY: as in `keep_freed_memory`.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000);
    }
}

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
    /// Answer an everyday question: applications, failures, clients (browsers and operating
    /// systems) or workloads (resources of managed identities and service principals).
    Ask(cmd::ask::Args),
    /// Explain one sign-in: who, how, what, and why it succeeded, was interrupted or failed.
    Explain(cmd::explain::Args),
    /// Write stored records as Graph JSON, one per line (uncapped).
    Export(cmd::export::Args),
    /// Print one record by its id (the most complete of the versions sharing it).
    Show(cmd::show::Args),
    /// Print the tables and their columns.
    Schema,
    /// Merge small files.
    Compact,
    /// Remove the days older than N days (their files go at the next vacuum).
    Retention(cmd::retention::Args),
    /// Delete files that compaction or retention replaced, after the grace period.
    Vacuum(cmd::retention::VacuumArgs),
    /// Write a realistic simulated tenant's logs (with labelled attacks).
    Simulate(cmd::simulate::Args),
    /// Simulate a tenant, ingest it and answer the everyday questions.
    Demo(cmd::demo::Args),
    /// Serve the data directory over HTTP: push ingest, SQL, metrics (runs until interrupted).
    Serve(cmd::serve::Args),
    /// The risk engine: scan, detections, risky users, dismiss / confirm, evaluate, lists.
    #[command(subcommand)]
    Risk(cmd::risk::Command),
    /// Create, list and revoke the tokens HTTP clients use.
    #[command(subcommand)]
    Token(cmd::token::Command),
    /// Run a live connector on its own (a storage account's export, Event Hubs / Kafka, Graph).
    #[command(subcommand)]
    Connect(cmd::connect::Command),
    /// What the running server is doing: tables, risk engine, connectors (lag, position, errors).
    Status(cmd::status::Args),
}

/// What `gatehouse` prints when a memory-mapped input shrinks while it is read.
const SHRANK_MESSAGE: &[u8] =
    b"error: bus error (SIGBUS): an input file most likely shrank while it was being read \
(memory-mapped inputs are the only mapped files Gatehouse touches). \
Batches committed before this point are stored and intact; run the same `gatehouse ingest` again \
to store the rest (records already stored are skipped), with --no-mmap if files may be truncated \
while they are read.\n";

/// Turns `SIGBUS` into a message and exit code 1. Ingest reads uncompressed NDJSON files through
/// memory maps, and the kernel raises `SIGBUS` when a file is truncated under the map; the store is
/// crash-safe, so ending at once is safe, but "Bus error" would not say what happened.
#[cfg(unix)]
fn report_shrunk_inputs() {
    extern "C" fn on_sigbus(_signal: libc::c_int) {
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the message is a static buffer.
        unsafe {
            libc::write(2, SHRANK_MESSAGE.as_ptr().cast(), SHRANK_MESSAGE.len());
            libc::_exit(1);
        }
    }
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value, and the handler only
    // calls async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

#[cfg(not(unix))]
fn report_shrunk_inputs() {}

/// Prints clap's message for a command line it could not take. Exit 1 (a fatal error), not
/// clap's usual 2: for `ingest`, 2 means "stored, but some records were rejected", and a script
/// must not mistake a mistyped flag for that. `--help` and `--version` exit 0.
fn usage_error(e: clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // A batch job keeps its freed memory; the server, running for months, gives it back.
    if matches!(cli.command, Command::Serve(_)) {
        serve_memory();
    } else {
        keep_freed_memory();
    }
    report_shrunk_inputs();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Ingest(args) => cmd::ingest::run(&cli.data, args),
        Command::Sql(args) => cmd::sql::run(&cli.data, args),
        Command::Ask(args) => cmd::ask::run(&cli.data, args),
        Command::Explain(args) => cmd::explain::run(&cli.data, args),
        Command::Export(args) => cmd::export::run(&cli.data, args),
        Command::Show(args) => cmd::show::run(&cli.data, args),
        Command::Schema => {
            print!("{}", gatehouse_query::describe_schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compact => cmd::retention::compact(&cli.data),
        Command::Retention(args) => cmd::retention::run(&cli.data, args),
        Command::Vacuum(args) => cmd::retention::vacuum(&cli.data, args),
        Command::Simulate(args) => cmd::simulate::run(&cli.data, args),
        Command::Demo(args) => cmd::demo::run(&cli.data, args),
        Command::Serve(args) => cmd::serve::run(&cli.data, args),
        Command::Token(command) => cmd::token::run(&cli.data, command),
        Command::Risk(command) => cmd::risk::run(&cli.data, command),
        Command::Connect(command) => cmd::connect::run(&cli.data, command),
        Command::Status(args) => cmd::status::run(&cli.data, args),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc v3's default purge delay is 1000 ms, a value no other option has by default,
        // so this fails if the index names another option.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            let defaults: Vec<_> = (0..30)
                .map(|o| unsafe { libmimalloc_sys::mi_option_get(o) })
                .collect();
            assert_eq!(
                defaults[MI_OPTION_PURGE_DELAY as usize], 1000,
                "{defaults:?}"
            );
            assert_eq!(
                defaults.iter().filter(|d| **d == 1000).count(),
                1,
                "{defaults:?}"
            );
        }
        // allow_thp is on by default.
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
            assert_eq!(
                unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_ALLOW_THP) },
                1
            );
        }
        keep_freed_memory();
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            -1
        );
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_ALLOW_THP) },
            0
        );
        // The option alone changes nothing once mimalloc runs: the kernel must have been told.
        #[cfg(target_os = "linux")]
        assert_eq!(
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
        serve_memory();
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            10_000
        );
    }
}
