//! `gatehouse demo`: simulate a tenant, ingest it, serve it, and answer the four questions people
//! ask of sign-in logs over the server's HTTP API — with the SQL that answers each, so it can be
//! reused with `gatehouse sql` or `POST /gatehouse/sql`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use gatehouse_server::client::{get_json, sql_arrow};
use gatehouse_server::{Role, Server, ServerConfig, TokenStore};
use gatehouse_sim::SimOptions;

use crate::cmd::simulate::simulate_into_store;

/// Arguments of `gatehouse demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Users in the simulated tenant.
    #[arg(long, default_value_t = 200)]
    users: u32,
    /// Days simulated (ending yesterday).
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve on this address (default 127.0.0.1:8080, or a free port if that one is taken).
    #[arg(long)]
    serve: Option<std::net::SocketAddr>,
    /// Stop after the answers instead of serving the console until Ctrl-C.
    #[arg(long)]
    exit: bool,
}

/// The questions and the SQL that answers them. `now` is the newest sign-in in the store.
pub const QUESTIONS: &[(&str, &str)] = &[
    (
        "How many users signed into each application this week?",
        "WITH now AS (SELECT max(createdDateTime) AS t FROM signins)
SELECT appDisplayName, count(DISTINCT userId) AS users, count(*) AS signIns
FROM signins, now
WHERE createdDateTime > now.t - INTERVAL '7 days'
  AND signInEventTypes[1] IN ('interactiveUser', 'nonInteractiveUser')
  AND status.errorCode = 0
GROUP BY appDisplayName ORDER BY users DESC, appDisplayName LIMIT 15",
    ),
    (
        "How many sign-ins failed in the last 24 hours, and why?",
        "WITH now AS (SELECT max(createdDateTime) AS t FROM signins)
SELECT status.errorCode AS errorCode, substr(first_value(status.failureReason), 1, 80) AS failureReason, count(*) AS signIns
FROM signins, now
WHERE createdDateTime > now.t - INTERVAL '24 hours'
  AND status.errorCode NOT IN (0, 50125, 50140, 70043, 70044)
GROUP BY status.errorCode ORDER BY signIns DESC LIMIT 15",
    ),
    (
        "Which browsers and operating systems are in use?",
        "SELECT deviceDetail.operatingSystem AS operatingSystem, deviceDetail.browser AS browser,
       count(DISTINCT userId) AS users, count(*) AS signIns
FROM signins
WHERE signInEventTypes[1] = 'interactiveUser'
GROUP BY 1, 2 ORDER BY signIns DESC LIMIT 15",
    ),
    (
        "Which resources did managed identities and service principals access?",
        "SELECT signInEventTypes[1] AS kind, servicePrincipalName, resourceDisplayName,
       count(*) AS signIns, sum(CASE WHEN status.errorCode <> 0 THEN 1 ELSE 0 END) AS failures
FROM signins
WHERE signInEventTypes[1] IN ('servicePrincipal', 'managedIdentity')
GROUP BY 1, 2, 3 ORDER BY kind, signIns DESC LIMIT 25",
    ),
];

/// Runs `gatehouse demo`.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let today = chrono::Utc::now().date_naive();
    let opts = SimOptions {
        users: args.users,
        days: args.days,
        seed: args.seed,
        start: today - chrono::Duration::days(i64::from(args.days)),
        tenant_id: String::new(),
        ..SimOptions::default()
    };
    println!(
        "Simulating tenant {} ({} users, {} days) into {} …",
        opts.effective_tenant_id(),
        opts.users,
        opts.days,
        data.display()
    );
    let started = Instant::now();
    let summary = simulate_into_store(data, &opts, Some(data))?;
    println!(
        "Stored {} records ({} duplicates of earlier runs skipped, {} rejected) in {:.1} s; attack labels in {}",
        summary.total_stored(),
        summary.duplicates,
        summary.rejected.len(),
        started.elapsed().as_secs_f64(),
        data.join("labels.jsonl").display()
    );
    for (log, n) in &summary.stored {
        println!("  {:<14} {n}", log.table_name());
    }
    // Serve the store, and ask the questions over HTTP as any client would.
    let tenant = opts.effective_tenant_id().to_ascii_lowercase();
    let (token, record) =
        TokenStore::new(data).create(&tenant, Role::GlobalReader, Some("demo"))?;
    let preferred = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    let listen = match args.serve {
        Some(addr) => addr,
        // The usual port when it is free and the demo keeps serving; any free port otherwise.
        None if !args.exit && std::net::TcpListener::bind(preferred).is_ok() => preferred,
        None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let config = ServerConfig {
        listen,
        ..ServerConfig::default()
    };
    let server = Server::start(data, config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listener = rt.block_on(server.bind())?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(server.run(listener, async {
        let _ = stopped.await;
    }));
    println!(
        "\nServing {} at {url}; asking as a global-reader of the tenant:",
        data.display()
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    use std::io::Write;
    for (i, (question, sql)) in QUESTIONS.iter().enumerate() {
        let t = Instant::now();
        let batches = sql_arrow(&url, &token, sql).map_err(anyhow::Error::msg)?;
        writeln!(
            out,
            "\n{}. {question}  ({:.0} ms over HTTP)",
            i + 1,
            t.elapsed().as_secs_f64() * 1e3
        )?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        writeln!(
            out,
            "{}",
            arrow::util::pretty::pretty_format_batches(&batches)?
        )?;
        writeln!(out, "({rows} rows)")?;
    }
    // Why did the newest failed interactive sign-in fail? The explainer, over HTTP.
    let not_failures: Vec<String> = std::iter::once(0)
        .chain(gatehouse_insights::interrupt_codes())
        .map(|c| c.to_string())
        .collect();
    let failed = sql_arrow(
        &url,
        &token,
        &format!(
            "SELECT id FROM signins WHERE array_has(signInEventTypes, 'interactiveUser') \
             AND status.errorCode NOT IN ({}) ORDER BY createdDateTime DESC LIMIT 1",
            not_failures.join(", ")
        ),
    )
    .map_err(anyhow::Error::msg)?;
    let id = failed.first().filter(|b| b.num_rows() > 0).and_then(|b| {
        use arrow::array::AsArray;
        let c = b.column(0);
        c.as_string_opt::<i32>()
            .map(|a| a.value(0).to_string())
            .or_else(|| c.as_string_view_opt().map(|a| a.value(0).to_string()))
    });
    if let Some(id) = id {
        let t = Instant::now();
        let e = get_json(&url, &token, &format!("/gatehouse/signIns/{id}/explain"))
            .map_err(anyhow::Error::msg)?;
        writeln!(
            out,
            "\n5. Why did the newest failed interactive sign-in fail?  ({:.0} ms over HTTP)",
            t.elapsed().as_secs_f64() * 1e3
        )?;
        writeln!(out, "{}", e["diagnosis"]["summary"].as_str().unwrap_or(""))?;
        for a in e["diagnosis"]["actions"].as_array().into_iter().flatten() {
            writeln!(out, "  - {}", a.as_str().unwrap_or(""))?;
        }
    }
    // What the risk engine found, once it has scored every stored sign-in.
    let t = Instant::now();
    let caught_up = loop {
        let h = get_json(&url, &token, "/healthz").map_err(anyhow::Error::msg)?;
        let done = h["risk"]["scoredUpToGeneration"].as_i64().unwrap_or(-1);
        if !h["risk"]["enabled"].as_bool().unwrap_or(false) {
            break false;
        }
        if done >= h["generation"].as_i64().unwrap_or(i64::MAX) {
            break true;
        }
        if t.elapsed() > std::time::Duration::from_secs(120) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    if caught_up {
        let counts = sql_arrow(
            &url,
            &token,
            "SELECT riskEventType, riskLevel, count(*) AS detections FROM riskDetections \
             WHERE source = 'gatehouse' GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .map_err(anyhow::Error::msg)?;
        writeln!(
            out,
            "\n6. Which sign-ins are risky? The risk engine scored every stored sign-in in {:.1} s:",
            t.elapsed().as_secs_f64()
        )?;
        writeln!(
            out,
            "{}",
            arrow::util::pretty::pretty_format_batches(&counts)?
        )?;
        let high = get_json(
            &url,
            &token,
            "/beta/identityProtection/riskDetections?$filter=riskLevel%20eq%20%27high%27&$top=3",
        )
        .map_err(anyhow::Error::msg)?;
        for d in high["value"].as_array().into_iter().flatten() {
            let reason = d["additionalInfo"]
                .as_str()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|v| {
                    v.as_array()?
                        .iter()
                        .find(|kv| kv["Key"] == "reason")
                        .and_then(|kv| kv["Value"].as_str().map(str::to_owned))
                })
                .unwrap_or_default();
            writeln!(
                out,
                "  {} {} ({}): {reason}",
                d["riskEventType"].as_str().unwrap_or(""),
                d["userPrincipalName"].as_str().unwrap_or(""),
                d["activityDateTime"].as_str().unwrap_or("")
            )?;
        }
    }
    drop(out);
    println!(
        "\nAsk your own: gatehouse --data {0} sql \"SELECT ...\"  (tables: gatehouse schema)\n\
         The same questions with filters and periods: gatehouse --data {0} ask applications|failures|clients|workloads --since 7d\n\
         One sign-in explained: gatehouse --data {0} explain ID\n\
         Risky sign-ins and users: gatehouse --data {0} risk detections | risk users",
        data.display()
    );
    if !args.exit {
        let code = TokenStore::new(data).create_login_code(&tenant, Role::SecurityAdmin)?;
        println!(
            "\nThe console, signed in (a one-time link, good for 10 minutes): {url}/#login={code}\n\
             Serving until Ctrl-C. Token of tenant {tenant} (global-reader): {token}\n  curl -H \"Authorization: Bearer {token}\" --data \"SELECT count(*) FROM signins\" {url}/gatehouse/sql"
        );
        rt.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
    let _ = stop.send(());
    rt.block_on(serving)??;
    TokenStore::new(data).revoke(&record.id)?;
    Ok(ExitCode::SUCCESS)
}
