//! `gatehouse risk`: run the risk engine over the store, list detections and risky users, act on
//! users (dismiss, confirm compromised), load the anonymiser list, and measure the engine against
//! the simulator's labels.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use gatehouse_formats::input::InputFile;
use gatehouse_ingest::{ingest, IngestOptions};
use gatehouse_model::LogKind;
use gatehouse_query::QueryService;
use gatehouse_risk::{
    evaluate, read_labels, records_jsonl, stored_detections, AdminAction, IpList, RiskConfig,
    RiskEngine, RiskScanner, RiskyUsers,
};
use gatehouse_store::{Store, StoreSnapshot};

/// `gatehouse risk` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the engine over every sign-in stored and store the new detections and risky-user
    /// changes (what `gatehouse serve` does continuously).
    Scan(TenantArg),
    /// List detections, newest first.
    Detections(ListArgs),
    /// List risky users (each user's newest state).
    Users(ListArgs),
    /// Dismiss users' risk (the detections were not an attack).
    Dismiss(ActionArgs),
    /// Confirm users compromised.
    Confirm(ActionArgs),
    /// Print precision and recall per scenario against a simulation's labels.
    Evaluate(EvaluateArgs),
    /// The anonymiser list (Tor exit nodes, anonymising VPNs).
    #[command(subcommand)]
    Lists(ListsCommand),
}

/// A tenant choice.
#[derive(Debug, clap::Args)]
pub struct TenantArg {
    /// Only this tenant (default: every tenant in the store).
    #[arg(long)]
    tenant: Option<String>,
}

/// Arguments of the listings.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Only this detection type (`riskEventType`) or, for users, this risk state.
    #[arg(long = "type")]
    kind: Option<String>,
    /// Only this user (UPN, any case).
    #[arg(long)]
    user: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    top: usize,
    /// Graph JSON, one record per line.
    #[arg(long)]
    json: bool,
}

/// Arguments of dismiss and confirm.
#[derive(Debug, clap::Args)]
pub struct ActionArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// User object ids.
    #[arg(required = true)]
    users: Vec<String>,
}

/// Arguments of `risk evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// The simulator's `labels.jsonl`.
    #[arg(long)]
    labels: PathBuf,
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Exit with 1 unless every attack scenario reaches this precision and recall.
    #[arg(long)]
    require: Option<f64>,
}

/// `gatehouse risk lists` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ListsCommand {
    /// Replace the anonymiser list with FILE (one address or CIDR block per line, `#` comments).
    Load {
        /// The list.
        file: PathBuf,
    },
    /// Print the anonymiser list.
    Show,
}

/// Runs `gatehouse risk`.
pub fn run(data: &Path, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Scan(args) => scan(data, args.tenant),
        Command::Detections(args) => detections(data, args),
        Command::Users(args) => users(data, args),
        Command::Dismiss(args) => act(data, AdminAction::Dismiss, args),
        Command::Confirm(args) => act(data, AdminAction::ConfirmCompromised, args),
        Command::Evaluate(args) => evaluate_labels(data, args),
        Command::Lists(ListsCommand::Load { file }) => load_list(data, &file),
        Command::Lists(ListsCommand::Show) => {
            print!("{}", IpList::load_anonymizers(data)?.to_text());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn tenants(snapshot: &StoreSnapshot, only: Option<&str>) -> Vec<String> {
    snapshot
        .tenants()
        .into_iter()
        .filter(|t| only.is_none_or(|o| o == t))
        .collect()
}

fn scan(data: &Path, tenant: Option<String>) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let store = Store::open(data)?;
    let mut writer = store.writer()?;
    tracing::info!(elapsed = ?started.elapsed(), "store opened for writing");
    let rt = runtime()?;
    let service = QueryService::new(data, 4 << 30);
    let snapshot = Arc::clone(writer.snapshot());
    let anonymizers = IpList::load_anonymizers(data)?;
    let bar = indicatif::ProgressBar::new(snapshot.rows(LogKind::SignIns));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sign-ins {per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut total = 0;
    for t in tenants(&snapshot, tenant.as_deref()) {
        bar.set_message(t.clone());
        let engine = RiskEngine::new(&t, RiskConfig::default(), anonymizers.clone());
        let mut scanner = RiskScanner::new(engine, data);
        let (found, mut users) = rt.block_on(async {
            let found = scanner.poll(&service, &snapshot, |n| bar.inc(n)).await?;
            let users = RiskyUsers::load(&service, &snapshot, &t).await?;
            anyhow::Ok((found, users))
        })?;
        tracing::info!(tenant = %t, elapsed = ?started.elapsed(), sign_ins = scanner.engine().events_seen(), "scored");
        let now = now_us();
        let rows = users.on_detections(&found, now);
        total += found.len();
        let mut counts = std::collections::BTreeMap::new();
        for d in &found {
            *counts.entry(d.event_type.name()).or_insert(0usize) += 1;
        }
        bar.suspend(|| {
            println!(
                "{t}: {} sign-ins looked at, {} new detections, {} risky-user changes",
                scanner.engine().events_seen(),
                found.len(),
                rows.len()
            );
            for (k, n) in &counts {
                println!("  {k:<22} {n}");
            }
        });
        if found.is_empty() && rows.is_empty() {
            continue;
        }
        let bytes = records_jsonl(&t, &found, &rows, now);
        let opts = IngestOptions {
            tenant: Some(t.clone()),
            ..IngestOptions::default()
        };
        let summary = ingest(
            &mut writer,
            &[InputFile::memory("risk engine", bytes)],
            &opts,
            &mut |_| {},
        )?;
        if let Some(first) = summary.rejected.first() {
            bail!(
                "storing detections: {} records rejected, the first: {first:?}",
                summary.rejected.len()
            );
        }
    }
    bar.finish_and_clear();
    tracing::info!(elapsed = ?started.elapsed(), "stored");
    println!("{total} new detections stored");
    Ok(ExitCode::SUCCESS)
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn detections(data: &Path, args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
    let rt = runtime()?;
    rt.block_on(async {
        let snapshot = Arc::new(store.snapshot().await?);
        let service = QueryService::new(data, 1 << 30);
        let engine =
            service.engine_for(snapshot, args.tenant.as_deref(), &[LogKind::RiskDetections])?;
        let mut conds = vec!["true".to_string()];
        if let Some(k) = &args.kind {
            conds.push(format!("lower(riskEventType) = lower({})", sql_string(k)));
        }
        if let Some(u) = &args.user {
            conds.push(format!(
                "lower(userPrincipalName) = lower({})",
                sql_string(u)
            ));
        }
        let sql = format!(
            "SELECT * FROM riskDetections WHERE {} ORDER BY activityDateTime DESC, id LIMIT {}",
            conds.join(" AND "),
            args.top
        );
        let result = engine.sql(&sql).await?;
        let rows = result
            .batches
            .iter()
            .flat_map(|b| (0..b.num_rows()).map(move |i| gatehouse_export::record_to_json(b, i)));
        for row in rows {
            if args.json {
                println!("{}", serde_json::Value::Object(row));
                continue;
            }
            let g = |k: &str| {
                row.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let who = if g("userPrincipalName").is_empty() {
                g("servicePrincipalDisplayName")
            } else {
                g("userPrincipalName")
            };
            let reason = row
                .get("additionalInfo")
                .and_then(|v| v.as_str())
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|v| {
                    v.as_array()?.iter().find_map(|kv| {
                        (kv.get("Key")?.as_str()? == "reason")
                            .then(|| kv.get("Value")?.as_str().map(str::to_owned))?
                    })
                })
                .unwrap_or_default();
            println!(
                "{}  {:<20} {:<6} {:<36} {:<15} {}",
                g("activityDateTime"),
                g("riskEventType"),
                g("riskLevel"),
                who,
                g("ipAddress"),
                reason
            );
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn users(data: &Path, args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
    let rt = runtime()?;
    rt.block_on(async {
        let snapshot = Arc::new(store.snapshot().await?);
        let service = QueryService::new(data, 1 << 30);
        for t in tenants(&snapshot, args.tenant.as_deref()) {
            let users = RiskyUsers::load(&service, &snapshot, &t).await?;
            let mut list: Vec<_> = users
                .iter()
                .filter(|(_, r)| args.kind.as_deref().is_none_or(|k| r.state.eq_ignore_ascii_case(k)))
                .filter(|(_, r)| {
                    args.user
                        .as_deref()
                        .is_none_or(|u| r.upn.eq_ignore_ascii_case(u))
                })
                .collect();
            list.sort_by(|a, b| b.1.level.cmp(&a.1.level).then(b.1.updated.cmp(&a.1.updated)));
            for (id, r) in list.into_iter().take(args.top) {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": id, "userPrincipalName": r.upn, "userDisplayName": r.display,
                            "riskLevel": r.level.name(), "riskState": r.state, "riskDetail": r.detail,
                            "riskLastUpdatedDateTime": gatehouse_risk::graph_time(r.updated),
                        })
                    );
                } else {
                    println!(
                        "{:<6} {:<22} {:<40} {}  {}",
                        r.level.name(),
                        r.state,
                        r.upn,
                        gatehouse_risk::graph_time(r.updated),
                        id
                    );
                }
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn act(data: &Path, action: AdminAction, args: ActionArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(data)?;
    let mut writer = store.writer()?;
    let rt = runtime()?;
    let service = QueryService::new(data, 1 << 30);
    let snapshot = Arc::clone(writer.snapshot());
    let mut users = rt.block_on(RiskyUsers::load(&service, &snapshot, &args.tenant))?;
    let who: Vec<(String, String, String)> = args
        .users
        .iter()
        .map(|u| (u.clone(), String::new(), String::new()))
        .collect();
    let by = format!("gatehouse risk ({})", whoami());
    let now = now_us();
    let rows = users.admin(action, &who, &by, now);
    let audits = gatehouse_risk::admin_audit_records(action, &who, &by, None, now);
    let mut bytes = records_jsonl(&args.tenant, &[], &rows, now);
    bytes.extend(records_jsonl(&args.tenant, &[], &audits, now));
    let opts = IngestOptions {
        tenant: Some(args.tenant.clone()),
        ..IngestOptions::default()
    };
    ingest(
        &mut writer,
        &[InputFile::memory("risk action", bytes)],
        &opts,
        &mut |_| {},
    )?;
    println!(
        "{} {} user(s) in {}; recorded in riskyUsers and the audit log",
        action.name(),
        args.users.len(),
        args.tenant
    );
    Ok(ExitCode::SUCCESS)
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "local".into())
}

fn evaluate_labels(data: &Path, args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let labels = read_labels(&args.labels)?;
    let store = Store::open(data)?;
    let rt = runtime()?;
    let (detections, users, days) = rt.block_on(async {
        let snapshot = Arc::new(store.snapshot().await?);
        let service = QueryService::new(data, 1 << 30);
        let mut all = Vec::new();
        for t in tenants(&snapshot, args.tenant.as_deref()) {
            all.extend(stored_detections(&service, &snapshot, &t).await?);
        }
        let engine = service.engine_for(
            Arc::clone(&snapshot),
            args.tenant.as_deref(),
            &[LogKind::SignIns],
        )?;
        let r = engine
            .sql(
                "SELECT COUNT(DISTINCT NULLIF(userId, '')) AS users, \
                 COUNT(DISTINCT CAST(CAST(createdDateTime AS BIGINT) / 86400000000 AS BIGINT)) AS days \
                 FROM signins",
            )
            .await?;
        let rows: Vec<_> = r
            .batches
            .iter()
            .flat_map(gatehouse_export::batch_to_json_rows)
            .collect();
        let n = |k: &str| rows.first().and_then(|r| r.get(k)).and_then(|v| v.as_u64()).unwrap_or(0);
        anyhow::Ok((all, n("users"), n("days")))
    })?;
    let detections: Vec<_> = detections.into_iter().filter(|d| d.gatehouse).collect();
    let e = evaluate(&labels, &detections, users, days as f64);
    println!(
        "{} detections, {users} users, {days} days",
        detections.len()
    );
    print!("{e}");
    if let Some(min) = args.require {
        let short: Vec<String> = e
            .scenarios
            .iter()
            .filter(|s| s.malicious && s.labels > 0 && (s.recall() < min || s.precision() < min))
            .map(|s| s.scenario.clone())
            .collect();
        if !short.is_empty() || !e.benign_flagged.is_empty() {
            eprintln!(
                "below {min}: {}; benign flagged: {}",
                short.join(", "),
                e.benign_flagged.len()
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_list(data: &Path, file: &Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (list, bad) = IpList::parse(&text);
    for b in &bad {
        eprintln!(
            "{}:{}: not an address or CIDR block: {}",
            file.display(),
            b.line,
            b.text
        );
    }
    let path = list.store_anonymizers(data)?;
    println!(
        "{} entries loaded into {} ({} lines skipped); a running server picks them up within a minute",
        list.len(),
        path.display(),
        bad.len()
    );
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
