//! `gatehouse explain`: who, how, what and why of one sign-in, with a diagnosis.

use std::path::Path;
use std::process::ExitCode;

use gatehouse_model::LogKind;

/// Arguments of `gatehouse explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sign-in's id.
    id: String,
    /// Only this tenant's sign-ins.
    #[arg(long)]
    tenant: Option<String>,
    /// Print the explanation as JSON (the shape `GET /gatehouse/signIns/{id}/explain` answers).
    #[arg(long)]
    json: bool,
}

/// Runs `gatehouse explain` (exit 1 when no sign-in has the id). Where several versions share
/// the id, the most complete is explained (the one `gatehouse show` prints).
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let versions = super::show::versions(data, LogKind::SignIns, &args.id, args.tenant.as_deref())?;
    let Some(first) = versions.first() else {
        eprintln!("no sign-in with id {:?}", args.id);
        return Ok(ExitCode::from(1));
    };
    let e = gatehouse_insights::explain(&first.record);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        print!("{e}");
    }
    Ok(ExitCode::SUCCESS)
}
