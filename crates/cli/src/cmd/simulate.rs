//! `gatehouse simulate`: a realistic tenant's logs, to files or straight into the store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use gatehouse_formats::input::ByteCounter;
use gatehouse_formats::read::{Batch, CHUNK_BYTES};
use gatehouse_formats::split::Splitter;
use gatehouse_formats::{Origin, Rejection};
use gatehouse_ingest::{ingest_source, IngestOptions, IngestSummary, Progress, Source};
use gatehouse_sim::{parse_attack_list, simulate_to_dir, stream_day, SimOptions, Tenant};
use gatehouse_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `gatehouse simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of users.
    #[arg(long, default_value_t = 200)]
    users: u32,
    /// Number of days.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Seed: the same arguments give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Tenant id (a GUID; default: derived from the seed).
    #[arg(long)]
    tenant: Option<String>,
    /// Output shape: graph (Graph beta JSON) or diagnostic (Azure Monitor blob tree).
    #[arg(long, default_value = "graph")]
    format: String,
    /// Attack scenarios: default, none, or a comma-separated list.
    #[arg(long, default_value = "default")]
    attacks: String,
    /// gzip the output files.
    #[arg(long)]
    gzip: bool,
    /// Ingest straight into the data directory instead of writing files (labels still go to --out
    /// when given).
    #[arg(long)]
    into_store: bool,
    /// Output directory.
    #[arg(long, required_unless_present = "into_store")]
    out: Option<PathBuf>,
}

impl Args {
    fn options(&self) -> anyhow::Result<SimOptions> {
        let mut o = SimOptions {
            users: self.users,
            days: self.days,
            seed: self.seed,
            format: self.format.parse()?,
            attacks: parse_attack_list(&self.attacks)?,
            gzip: self.gzip,
            ..SimOptions::default()
        };
        o.tenant_id = self.tenant.clone().unwrap_or_default();
        if let Some(start) = self.start {
            o.start = start;
        }
        o.validate()?;
        Ok(o)
    }
}

/// Runs `gatehouse simulate`.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let opts = args.options()?;
    let started = Instant::now();
    if args.into_store {
        let summary = simulate_into_store(data, &opts, args.out.as_deref())?;
        println!(
            "Simulated tenant {} ({} users, {} days) into {} in {:.1} s: {} records stored",
            opts.effective_tenant_id(),
            opts.users,
            opts.days,
            data.display(),
            started.elapsed().as_secs_f64(),
            summary.total_stored()
        );
        if !summary.rejected.is_empty() {
            for r in summary.rejected.iter().take(20) {
                eprintln!("  {r}");
            }
            bail!("{} simulated records were rejected", summary.rejected.len());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = args.out else {
        bail!("--out DIR is required unless --into-store is given")
    };
    let bar = day_bar(opts.days);
    let s = simulate_to_dir(&opts, &out, &mut |done, _total, signins| {
        bar.set_position(u64::from(done));
        bar.set_message(format!("{signins} sign-ins"));
    })?;
    bar.finish_and_clear();
    println!(
        "Simulated tenant {} into {} in {:.1} s",
        opts.effective_tenant_id(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  sign-ins: {} interactive user, {} non-interactive user, {} service principal, {} managed identity",
        s.interactive_user, s.non_interactive_user, s.service_principal, s.managed_identity
    );
    println!(
        "  audits: {}, provisioning: {}, labels: {}, files: {}, {:.1} MB",
        s.audits,
        s.provisioning,
        s.labels,
        s.files,
        s.bytes_written as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}

fn day_bar(days: u32) -> ProgressBar {
    let bar = ProgressBar::new(u64::from(days));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} day {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Generates the tenant day by day and ingests each day's records as they are made (bounded
/// memory, no intermediate files). Labels go to `labels_dir/labels.jsonl` when given.
pub fn simulate_into_store(
    data: &Path,
    opts: &SimOptions,
    labels_dir: Option<&Path>,
) -> anyhow::Result<IngestSummary> {
    let store = Store::open(data).with_context(|| format!("opening {}", data.display()))?;
    let mut writer = store.writer()?;
    let tenant = Arc::new(Tenant::generate(opts));
    let ingest_opts = IngestOptions {
        tenant: Some(opts.effective_tenant_id()),
        ..IngestOptions::default()
    };
    let counter = ByteCounter::default();
    let mut labels: Vec<String> = Vec::new();
    let labels_out = &mut labels;
    let src_counter = ByteCounter::default();
    let src_counter_days = counter.clone();
    let src_opts = opts.clone();
    let source: Source<'_> = Box::new(move |emit: &mut dyn FnMut(Batch), _spare| {
        let mut failures = Vec::new();
        for day in 0..src_opts.days {
            let name: Arc<str> = Arc::from(format!(
                "simulated:{}",
                src_opts.start + chrono::Duration::days(i64::from(day))
            ));
            let meta = stream_day(&tenant, &src_opts, day, CHUNK_BYTES, &mut |_kind, bytes| {
                src_counter.add(bytes.len() as u64);
                let mut splitter = Splitter::new(bytes);
                while let Some(chunk) = splitter.next_chunk(usize::MAX) {
                    emit(Batch::Raw {
                        file: name.clone(),
                        chunk,
                    });
                }
                Ok(())
            });
            match meta {
                Ok(meta) => {
                    for l in &meta.labels {
                        if let Ok(line) = serde_json::to_string(l) {
                            labels_out.push(line);
                        }
                    }
                    src_counter_days.add(1);
                }
                Err(e) => {
                    failures.push(Rejection {
                        origin: Origin {
                            file: name,
                            line: 0,
                        },
                        reason: e.to_string(),
                    });
                    break;
                }
            }
        }
        failures
    });
    let bar = day_bar(opts.days);
    let total = u64::from(opts.days);
    let summary = ingest_source(
        &mut writer,
        source,
        total,
        &counter,
        &ingest_opts,
        &mut |p| match p {
            Progress::Advanced {
                bytes_read,
                records,
            } => {
                bar.set_position(bytes_read);
                bar.set_message(format!("{records} records"));
            }
            Progress::Committed { stored, .. } => bar.set_message(format!("{stored} stored")),
            Progress::Started { .. } => {}
        },
    )?;
    bar.finish_and_clear();
    if let Some(dir) = labels_dir {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("labels.jsonl");
        let mut text = labels.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary)
}
