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
    /// Print a one-time link that opens the web console signed in (good for 10 minutes and one
    /// use; it starts a session that lasts 12 hours).
    LoginLink {
        /// The tenant the session sees.
        #[arg(long)]
        tenant: String,
        /// The session's role: reports-reader, security-reader, security-admin or global-reader.
        #[arg(long, default_value = "global-reader")]
        role: Role,
        /// The server's URL (default: the server running over the data directory).
        #[arg(long)]
        url: Option<String>,
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
        Command::LoginLink { tenant, role, url } => {
            let url = match url {
                Some(u) => u,
                None => gatehouse_server::ServeInfo::read(data)
                    .map(|s| s.url)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "no server is running over {}: start `gatehouse serve`, or pass --url",
                            data.display()
                        )
                    })?,
            };
            let code = tokens.create_login_code(&tenant, role)?;
            eprintln!("a one-time link for tenant {tenant} ({role}), good for 10 minutes:");
            println!("{}/#login={code}", url.trim_end_matches('/'));
        }
        Command::List => {
            println!(
                "{:<10} {:<16} {:<38} {:<22} {:<22} name",
                "id", "role", "tenant", "created", "expires"
            );
            for t in tokens.list()? {
                println!(
                    "{:<10} {:<16} {:<38} {:<22} {:<22} {}",
                    t.id,
                    t.role,
                    t.tenant,
                    t.created,
                    t.expires.as_deref().unwrap_or("-"),
                    t.name
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
