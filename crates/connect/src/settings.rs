//! Connector settings as `gatehouse.toml` and the command line give them.

use std::time::Duration;

use serde::Deserialize;

use crate::azure_blob::{decode_key, BlobService, Credential};
use crate::blob::{BlobConfig, BlobConnector};
use crate::ConnectError;

/// `[[connectors.blob]]`: a storage account that Entra's diagnostic settings write to.
///
/// Exactly one way to reach the account: `connection_string`, or `url` with `sas`,
/// `account_key` or neither (a public container). A secret may be given as `env:NAME` to read it
/// from the environment instead of the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobSettings {
    /// The connector's name (in metrics and `gatehouse status`).
    pub name: String,
    /// A storage connection string.
    #[serde(default)]
    pub connection_string: Option<String>,
    /// The Blob service URL (`https://ACCOUNT.blob.core.windows.net`).
    #[serde(default)]
    pub url: Option<String>,
    /// A SAS token with list and read permissions.
    #[serde(default)]
    pub sas: Option<String>,
    /// The account key.
    #[serde(default)]
    pub account_key: Option<String>,
    /// The containers to read (default: every `insights-logs-*` container).
    #[serde(default)]
    pub containers: Vec<String>,
    /// Store every record under this tenant (default: the tenant each record names).
    #[serde(default)]
    pub tenant: Option<String>,
    /// How often to look for new data, in seconds.
    #[serde(default = "ten")]
    pub every_seconds: u64,
    /// How long a blob must stay unchanged before a last line without a newline is read.
    #[serde(default = "five_minutes")]
    pub settle_seconds: u64,
}

fn ten() -> u64 {
    10
}

fn five_minutes() -> u64 {
    300
}

/// A secret, or the environment variable `env:NAME` names.
fn secret(value: &str) -> Result<String, ConnectError> {
    match value.strip_prefix("env:") {
        Some(name) => std::env::var(name)
            .map_err(|_| ConnectError::Config(format!("the environment has no {name}"))),
        None => Ok(value.to_string()),
    }
}

impl BlobSettings {
    /// The connector these settings describe.
    pub fn connector(&self) -> Result<BlobConnector, ConnectError> {
        let service = match (&self.connection_string, &self.url) {
            (Some(c), None) => {
                if self.sas.is_some() || self.account_key.is_some() {
                    return Err(ConnectError::Config(format!(
                        "connector {}: a connection string carries its own credential",
                        self.name
                    )));
                }
                BlobService::from_connection_string(&secret(c)?)?
            }
            (None, Some(url)) => {
                let credential = match (&self.sas, &self.account_key) {
                    (Some(_), Some(_)) => {
                        return Err(ConnectError::Config(format!(
                            "connector {}: a SAS or an account key, not both",
                            self.name
                        )))
                    }
                    (Some(sas), None) => Credential::Sas(secret(sas)?),
                    (None, Some(key)) => Credential::SharedKey {
                        key: decode_key(&secret(key)?)?,
                    },
                    (None, None) => Credential::Anonymous,
                };
                BlobService::new(url, credential)?
            }
            _ => {
                return Err(ConnectError::Config(format!(
                    "connector {}: give connection_string or url",
                    self.name
                )))
            }
        };
        Ok(BlobConnector::new(
            service,
            BlobConfig {
                containers: self.containers.clone(),
                every: Duration::from_secs(self.every_seconds.max(1)),
                settle: Duration::from_secs(self.settle_seconds),
                ..BlobConfig::default()
            },
        ))
    }
}

/// `[connectors]` of `gatehouse.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorSettings {
    /// Storage accounts.
    pub blob: Vec<BlobSettings>,
}

impl ConnectorSettings {
    /// Checks every connector's settings (each builds), and that names are unique.
    pub fn check(&self) -> Result<(), ConnectError> {
        let mut names = std::collections::BTreeSet::new();
        for b in &self.blob {
            if !names.insert(b.name.as_str()) {
                return Err(ConnectError::Config(format!(
                    "two connectors are named {:?}",
                    b.name
                )));
            }
            b.connector()?;
        }
        Ok(())
    }
}
