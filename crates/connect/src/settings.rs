//! Connector settings as `gatehouse.toml` and the command line give them.

use std::time::Duration;

use serde::Deserialize;

use crate::azure_blob::{decode_key, BlobService, Credential};
use crate::blob::{BlobConfig, BlobConnector};
use crate::graph::{GraphConfig, GraphConnector};
use crate::kafka::{KafkaAuth, KafkaConfig, KafkaConnector, SaslCredentials, SaslMechanism};
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

/// A secret as settings give it: the value itself, or `env:NAME` for the environment variable
/// `NAME`.
pub fn secret(value: &str) -> Result<String, ConnectError> {
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

/// `[[connectors.graph]]`: Microsoft Graph's log APIs, with an application's client credentials
/// (the application needs `AuditLog.Read.All`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSettings {
    /// The connector's name (in metrics and `gatehouse status`).
    pub name: String,
    /// The Entra tenant the application signs in to (its id or a domain).
    pub entra_tenant: String,
    /// The application (client) id.
    pub client_id: String,
    /// The client secret (`env:NAME` reads it from the environment).
    pub client_secret: String,
    /// The token authority.
    #[serde(default = "authority")]
    pub authority: String,
    /// Graph's base URL.
    #[serde(default = "graph_url")]
    pub graph_url: String,
    /// Store every record under this tenant (default: the tenant each record names).
    #[serde(default)]
    pub tenant: Option<String>,
    /// How often to poll, in seconds.
    #[serde(default = "sixty")]
    pub every_seconds: u64,
    /// Records logged up to this many minutes after their event time are still caught.
    #[serde(default = "two_hours")]
    pub lookback_minutes: u64,
    /// How often a poll goes back the whole lookback, in minutes (others go back one minute).
    #[serde(default = "fifteen")]
    pub deep_every_minutes: u64,
    /// How many days back the first poll starts (Graph keeps 7 to 30).
    #[serde(default = "thirty")]
    pub initial_days: u64,
    /// Records per page (Graph's maximum is 1,000).
    #[serde(default = "thousand")]
    pub page_size: u32,
}

impl std::fmt::Debug for GraphSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSettings")
            .field("name", &self.name)
            .field("entra_tenant", &self.entra_tenant)
            .field("client_id", &self.client_id)
            .field("graph_url", &self.graph_url)
            .finish_non_exhaustive()
    }
}

fn authority() -> String {
    "https://login.microsoftonline.com".into()
}
fn graph_url() -> String {
    "https://graph.microsoft.com".into()
}
fn sixty() -> u64 {
    60
}
fn two_hours() -> u64 {
    120
}
fn fifteen() -> u64 {
    15
}
fn thirty() -> u64 {
    30
}
fn thousand() -> u32 {
    1000
}

impl GraphSettings {
    /// The connector these settings describe.
    pub fn connector(&self) -> Result<GraphConnector, ConnectError> {
        for (what, url) in [
            ("authority", &self.authority),
            ("graph_url", &self.graph_url),
        ] {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(ConnectError::Config(format!(
                    "connector {}: {what} {url:?} is not an http(s) URL",
                    self.name
                )));
            }
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(ConnectError::Config(format!(
                "connector {}: page_size is 1 to 1000",
                self.name
            )));
        }
        Ok(GraphConnector::new(GraphConfig {
            tenant: self.entra_tenant.clone(),
            client_id: self.client_id.clone(),
            client_secret: secret(&self.client_secret)?,
            authority: self.authority.clone(),
            graph: self.graph_url.clone(),
            lookback: Duration::from_secs(self.lookback_minutes * 60),
            deep_every: Duration::from_secs(self.deep_every_minutes * 60),
            every: Duration::from_secs(self.every_seconds.max(1)),
            initial: Duration::from_secs(self.initial_days * 86_400),
            page_size: self.page_size,
        }))
    }
}

/// `[connectors]` of `gatehouse.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorSettings {
    /// Storage accounts.
    pub blob: Vec<BlobSettings>,
    /// Microsoft Graph.
    pub graph: Vec<GraphSettings>,
    /// Event Hubs or Kafka brokers.
    pub kafka: Vec<KafkaSettings>,
}

/// `[[connectors.kafka]]`: an Event Hubs namespace (or any Kafka-protocol broker) that Entra's
/// diagnostic settings stream to.
///
/// Either `connection_string` (Event Hubs: SASL PLAIN over TLS on port 9093 as
/// `$ConnectionString`), or `brokers` with `security_protocol` (`plaintext`, `ssl`, `sasl_ssl`,
/// `sasl_plaintext`) and, for SASL, `username` and `password`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// The connector's name.
    pub name: String,
    /// An Event Hubs connection string (`env:NAME` reads it from the environment).
    #[serde(default)]
    pub connection_string: Option<String>,
    /// Bootstrap servers (`host:port,…`).
    #[serde(default)]
    pub brokers: Option<String>,
    /// `plaintext`, `ssl`, `sasl_ssl` or `sasl_plaintext`.
    #[serde(default)]
    pub security_protocol: Option<String>,
    /// SASL user.
    #[serde(default)]
    pub username: Option<String>,
    /// SASL password (`env:NAME` reads it from the environment).
    #[serde(default)]
    pub password: Option<String>,
    /// `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    /// A PEM file of the CAs that sign the broker's certificate (default: the system's).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The topics (event hubs) to read.
    pub topics: Vec<String>,
    /// The consumer group.
    #[serde(default = "default_group")]
    pub group: String,
    /// Store every record under this tenant (default: the tenant each record names).
    #[serde(default)]
    pub tenant: Option<String>,
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("name", &self.name)
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

fn default_group() -> String {
    "gatehouse".into()
}

impl KafkaSettings {
    /// The connector these settings describe.
    pub fn connector(&self) -> Result<KafkaConnector, ConnectError> {
        if self.topics.is_empty() {
            return Err(ConnectError::Config(format!(
                "connector {}: name at least one topic",
                self.name
            )));
        }
        let (brokers, auth) = kafka_endpoint(
            &format!("connector {}", self.name),
            KafkaEndpoint {
                connection_string: self.connection_string.as_deref(),
                brokers: self.brokers.as_deref(),
                security_protocol: self.security_protocol.as_deref(),
                username: self.username.as_deref(),
                password: self.password.as_deref(),
                sasl_mechanism: self.sasl_mechanism.as_deref(),
                ca_file: self.ca_file.as_deref(),
            },
        )?;
        let mut config = KafkaConfig::local(brokers, self.topics.clone(), self.group.clone());
        config.auth = auth;
        Ok(KafkaConnector::new(config))
    }
}

/// How a Kafka client reaches its broker, as settings give it: an Event Hubs connection string,
/// or bootstrap servers with a security protocol (and a SASL user for the `sasl_*` ones).
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaEndpoint<'a> {
    /// An Event Hubs connection string (`env:NAME` reads it from the environment).
    pub connection_string: Option<&'a str>,
    /// Bootstrap servers.
    pub brokers: Option<&'a str>,
    /// `plaintext` (default), `ssl`, `sasl_ssl` or `sasl_plaintext`.
    pub security_protocol: Option<&'a str>,
    /// SASL user.
    pub username: Option<&'a str>,
    /// SASL password (`env:NAME` reads it from the environment).
    pub password: Option<&'a str>,
    /// `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<&'a str>,
    /// A PEM file of the CAs that sign the broker's certificate (default: the system's).
    pub ca_file: Option<&'a str>,
}

/// The bootstrap servers and authentication an endpoint's settings mean; `what` names the
/// settings in errors.
pub fn kafka_endpoint(
    what: &str,
    e: KafkaEndpoint<'_>,
) -> Result<(String, KafkaAuth), ConnectError> {
    match (e.connection_string, e.brokers) {
        (Some(c), None) => {
            let config = KafkaConfig::event_hubs(&secret(c)?, Vec::new(), String::new())?;
            Ok((config.brokers, config.auth))
        }
        (None, Some(brokers)) => {
            let protocol = e.security_protocol.unwrap_or("plaintext");
            let (tls, sasl) = match protocol {
                "plaintext" => (false, false),
                "ssl" => (true, false),
                "sasl_ssl" => (true, true),
                "sasl_plaintext" => (false, true),
                other => {
                    return Err(ConnectError::Config(format!(
                        "{what}: security_protocol {other:?}: plaintext, ssl, sasl_ssl or sasl_plaintext"
                    )))
                }
            };
            let sasl = if sasl {
                let name = e.sasl_mechanism.unwrap_or("PLAIN");
                Some(SaslCredentials {
                    mechanism: SaslMechanism::parse(name).ok_or_else(|| {
                        ConnectError::Config(format!(
                            "{what}: sasl_mechanism {name:?}: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                        ))
                    })?,
                    username: e
                        .username
                        .ok_or_else(|| {
                            ConnectError::Config(format!("{what}: SASL needs a username"))
                        })?
                        .to_string(),
                    password: secret(e.password.unwrap_or(""))?,
                })
            } else {
                if e.username.is_some() || e.sasl_mechanism.is_some() {
                    return Err(ConnectError::Config(format!(
                        "{what}: a SASL user needs security_protocol sasl_ssl or sasl_plaintext"
                    )));
                }
                None
            };
            if e.ca_file.is_some() && !tls {
                return Err(ConnectError::Config(format!(
                    "{what}: ca_file needs security_protocol ssl or sasl_ssl"
                )));
            }
            let auth = KafkaAuth {
                tls,
                ca_file: e.ca_file.map(str::to_string),
                sasl,
            };
            Ok((brokers.to_string(), auth))
        }
        _ => Err(ConnectError::Config(format!(
            "{what}: give connection_string or brokers"
        ))),
    }
}

/// A configured connector, ready to run.
#[derive(Debug)]
pub struct Configured {
    /// Its name.
    pub name: String,
    /// The tenant it stores under (`None`: each record's own).
    pub tenant: Option<String>,
    /// The connector.
    pub connector: Connector,
}

/// A connector of any kind.
#[derive(Debug)]
pub enum Connector {
    /// A storage account.
    Blob(BlobConnector),
    /// Microsoft Graph.
    Graph(GraphConnector),
    /// Event Hubs or a Kafka broker.
    Kafka(KafkaConnector),
}

impl Connector {
    /// `blob` or `graph`.
    pub fn kind(&self) -> &'static str {
        match self {
            Connector::Blob(_) => "blob",
            Connector::Graph(_) => "graph",
            Connector::Kafka(_) => "kafka",
        }
    }

    /// Reads its source until `stop` says so (see each connector's `run`).
    pub fn run(
        &self,
        sink: &dyn crate::Sink,
        status: &crate::ConnectorStatus,
        stop: &dyn Fn() -> bool,
    ) {
        match self {
            Connector::Blob(c) => c.run(sink, status, stop),
            Connector::Graph(c) => c.run(sink, status, stop),
            Connector::Kafka(c) => c.run(sink, status, stop),
        }
    }
}

impl ConnectorSettings {
    /// Every configured connector, built.
    pub fn build(&self) -> Result<Vec<Configured>, ConnectError> {
        let configured = |name: &str, tenant: &Option<String>, connector| Configured {
            name: name.to_string(),
            tenant: tenant.clone(),
            connector,
        };
        let mut out = Vec::new();
        for b in &self.blob {
            out.push(configured(
                &b.name,
                &b.tenant,
                Connector::Blob(b.connector()?),
            ));
        }
        for k in &self.kafka {
            out.push(configured(
                &k.name,
                &k.tenant,
                Connector::Kafka(k.connector()?),
            ));
        }
        for g in &self.graph {
            out.push(configured(
                &g.name,
                &g.tenant,
                Connector::Graph(g.connector()?),
            ));
        }
        // Names identify connectors in metrics and status: one each.
        let mut names = std::collections::BTreeSet::new();
        if let Some(twice) = out.iter().find(|c| !names.insert(c.name.as_str())) {
            return Err(ConnectError::Config(format!(
                "two connectors are named {:?}",
                twice.name
            )));
        }
        Ok(out)
    }
}
