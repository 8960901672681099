//! Measures generation throughput:
//! `cargo run --release -p gatehouse-sim --example simbench -- [users] [days] [graph|diagnostic] [out-dir] [gz]`.
//!
//! Without an output directory it times `generate_day` on one thread (per-core speed); with
//! one it runs the full `simulate_to_dir` pipeline.

use std::time::Instant;

use gatehouse_sim::{generate_day, simulate_to_dir, OutputFormat, SimOptions, Tenant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let users: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500);
    let days: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let format: OutputFormat = args
        .get(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or_default();
    let gzip = args.get(5).is_some_and(|s| s == "gz");
    let opts = SimOptions {
        users,
        days,
        format,
        gzip,
        ..SimOptions::default()
    };
    if let Some(out) = args.get(4) {
        let t0 = Instant::now();
        let s = simulate_to_dir(&opts, std::path::Path::new(out), &mut |d, n, s| {
            eprintln!("day {d}/{n}: {s} sign-ins");
        })?;
        let secs = t0.elapsed().as_secs_f64();
        println!("{s:?}");
        println!(
            "{:.0} sign-ins/s, {:.1} MB/s written",
            s.signins() as f64 / secs,
            s.bytes_written as f64 / secs / 1e6
        );
        return Ok(());
    }
    let t0 = Instant::now();
    let tenant = Tenant::generate(&opts);
    println!("tenant: {:.3}s", t0.elapsed().as_secs_f64());
    let mut n = 0u64;
    let mut bytes = 0u64;
    let t1 = Instant::now();
    for day in 0..days {
        let d = generate_day(&tenant, &opts, day);
        n += d.counts.signins();
        bytes += d.signins.len() as u64;
        println!("{} {:?}", d.date, d.counts);
    }
    let secs = t1.elapsed().as_secs_f64();
    println!(
        "{n} sign-ins in {secs:.2}s on one thread: {:.0} sign-ins/s, {:.0} B/record, {:.1} MB/s",
        n as f64 / secs,
        bytes as f64 / n.max(1) as f64,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
