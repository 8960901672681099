//! Ingests files into a fresh store without the CLI, for profiling the ingest path in isolation
//! (`cargo run --profile profiling -p gatehouse-store --example ingest_profile -- DATA INPUT...`).

use std::time::Instant;

/// The allocator the `gatehouse` binary uses, so profiles match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use gatehouse_formats::input::expand_paths;
use gatehouse_ingest::{ingest, IngestOptions};
use gatehouse_store::Store;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, inputs) = args
        .split_first()
        .expect("usage: ingest_profile DATA INPUT...");
    let inputs = expand_paths(inputs).expect("inputs");
    let bytes: u64 = inputs.iter().map(|i| i.size).sum();
    let store = Store::open(data).expect("store");
    let mut writer = store.writer().expect("writer");
    let opts = IngestOptions::default();
    let started = Instant::now();
    let summary = ingest(&mut writer, &inputs, &opts, &mut |_| {}).expect("ingest");
    let secs = started.elapsed().as_secs_f64();
    let rows = summary.total_stored();
    println!(
        "{rows} rows, {} rejected, {} duplicates, {:.2} s, {:.0} rows/s, {:.1} MB/s",
        summary.rejected.len(),
        summary.duplicates,
        secs,
        rows as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}
