//! `gatehouse token`: the tokens HTTP clients authenticate with (one tenant, one role each).

use std::path::Path;
use std::process::ExitCode;

use gatehouse_server::{Role, TokenStore};

/// `gatehouse token` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a token; prints it alone on standard output (the only time it is shown).
    Create {
        /// The tenant it sees.
        #[arg(long)]
        tenant: String,
        /// reports-reader, security-reader, security-admin, global-reader or ingest.
        #[arg(long)]
        role: Role,
        /// A name for people (default: ROLE@TENANT).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tokens (never their secrets).
    List,
    /// Revoke a token by its id or name (a running server refuses it from its next request).
    Revoke {
        /// The token's id (or name).
        id: String,
    },
}

/// Runs a `gatehouse token` subcommand.
pub fn run(data: &Path, command: Command) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(data)?;
    let tokens = TokenStore::new(data);
    match command {
        Command::Create { tenant, role, name } => {
            let (token, record) = tokens.create(&tenant, role, name.as_deref())?;
            eprintln!(
                "token {} ({}, tenant {}): keep it secret, it is not shown again",
                record.id, record.role, record.tenant
            );
            println!("{token}");
        }
        Command::List => {
            println!(
                "{:<10} {:<16} {:<38} {:<22} name",
                "id", "role", "tenant", "created"
            );
            for t in tokens.list()? {
                println!(
                    "{:<10} {:<16} {:<38} {:<22} {}",
                    t.id, t.role, t.tenant, t.created, t.name
                );
            }
        }
        Command::Revoke { id } => {
            let n = tokens.revoke(&id)?;
            if n == 0 {
                anyhow::bail!("no token with id or name {id:?}");
            }
            println!("Revoked {n} token(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
