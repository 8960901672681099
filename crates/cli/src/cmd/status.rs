//! `gatehouse status`: what the server running over the data directory is doing (tables, risk
//! engine, connectors and streams out with their lag, position and errors), or where ingest sources have got to
//! when no server runs.

use std::path::Path;
use std::process::ExitCode;

use gatehouse_server::client::get_json;
use gatehouse_server::ServeInfo;

/// `gatehouse status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the server's status as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `gatehouse status`.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let Some(info) = ServeInfo::read(data) else {
        println!("No server runs over {}.", data.display());
        let positions = gatehouse_store::Store::open(data)?.positions()?;
        if !positions.is_empty() {
            println!("Sources' committed positions:");
            for (source, position) in positions {
                println!("  {source}  {position}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let h = get_json(&info.url, &info.token, "/healthz").map_err(anyhow::Error::msg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&h)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Server {} (pid {}): {}, {} tables, generation {}",
        info.url,
        info.pid,
        h["status"].as_str().unwrap_or("?"),
        h["tables"],
        h["generation"]
    );
    let r = &h["risk"];
    println!(
        "Risk engine: {}, {} sign-ins scored, {} detections stored",
        if r["enabled"] == serde_json::json!(true) {
            "on"
        } else {
            "off"
        },
        r["signInsScored"],
        r["detectionsStored"]
    );
    let connectors = h["connectors"].as_array().cloned().unwrap_or_default();
    if connectors.is_empty() {
        println!("No connectors configured.");
    }
    for c in connectors {
        println!(
            "Connector {} ({}): {} records stored, {} already stored, {} rejected, {} errors; lag {} s, {} behind; {} sources",
            c["name"].as_str().unwrap_or(""),
            c["kind"].as_str().unwrap_or(""),
            c["records"], c["duplicates"], c["rejected"], c["errors"], c["lagSeconds"], c["behind"], c["sources"]
        );
        if let Some(p) = c["lastPosition"].as_object() {
            println!(
                "  last position: {} at {}",
                p["source"].as_str().unwrap_or(""),
                p["position"]
            );
        }
        if let Some(e) = c["lastError"].as_object() {
            println!(
                "  last error ({}): {}",
                e["at"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            );
        }
    }
    for s in h["streams"].as_array().cloned().unwrap_or_default() {
        println!(
            "Stream {} ({}, {}): {} records in {} deliveries, {} failed attempts, {} gaps; lag {} s, {} commits behind; at {}",
            s["name"].as_str().unwrap_or(""),
            s["kind"].as_str().unwrap_or(""),
            s["feed"].as_str().unwrap_or(""),
            s["records"], s["deliveries"], s["failures"], s["gaps"], s["lagSeconds"],
            s["behindCommits"], s["position"].as_str().unwrap_or("")
        );
        if let Some(e) = s["lastError"].as_object() {
            println!(
                "  last error ({}): {}",
                e["at"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
