//! Stream settings as `gatehouse.toml` gives them (`[[outbound.webhook]]`, `[[outbound.kafka]]`).

use std::time::Duration;

use gatehouse_connect::{kafka_endpoint, secret, KafkaEndpoint};
use serde::Deserialize;

use crate::feed::Feed;
use crate::kafka::KafkaTarget;
use crate::stream::{Stream, Target};
use crate::webhook::WebhookTarget;
use crate::OutboundError;

/// `[outbound]`: every stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSettings {
    /// `[[outbound.webhook]]`.
    #[serde(default)]
    pub webhook: Vec<StreamSettings>,
    /// `[[outbound.kafka]]`.
    #[serde(default)]
    pub kafka: Vec<StreamSettings>,
}

/// One stream. Webhooks take `url` and `secret`; Kafka streams take `topic` and either
/// `connection_string` (Event Hubs) or `brokers` (with `security_protocol`, `username`,
/// `password`). Secrets may be `env:NAME`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// The stream's name (metrics, status, its cursor's file).
    pub name: String,
    /// `signIns`, `directoryAudits`, `provisioning`, `riskDetections`,
    /// `servicePrincipalRiskDetections` or `alerts`.
    pub feed: String,
    /// A Graph `$filter` over the feed's records (not for `alerts`).
    #[serde(default)]
    pub filter: Option<String>,
    /// `alerts`: the lowest user risk level alerted (`low`, `medium`, `high`; default `high`).
    #[serde(default)]
    pub min_level: Option<String>,
    /// Only this tenant's records (default: every tenant's).
    #[serde(default)]
    pub tenant: Option<String>,
    /// `now` (default: only records stored after the stream's first start) or `beginning`.
    #[serde(default)]
    pub start: Option<String>,
    /// Records per delivery at most.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// How often to look for new records once caught up, in milliseconds.
    #[serde(default = "default_every_ms")]
    pub every_ms: u64,
    /// The longest wait between attempts of a failing delivery, in seconds.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_seconds: u64,
    /// How long one attempt may take, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Webhook: the receiver's URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: the HMAC key deliveries are signed with.
    #[serde(default)]
    pub secret: Option<String>,
    /// Kafka: the topic (event hub).
    #[serde(default)]
    pub topic: Option<String>,
    /// Kafka: an Event Hubs connection string.
    #[serde(default)]
    pub connection_string: Option<String>,
    /// Kafka: bootstrap servers.
    #[serde(default)]
    pub brokers: Option<String>,
    /// Kafka: `plaintext`, `ssl`, `sasl_ssl` or `sasl_plaintext`.
    #[serde(default)]
    pub security_protocol: Option<String>,
    /// Kafka: SASL user.
    #[serde(default)]
    pub username: Option<String>,
    /// Kafka: SASL password.
    #[serde(default)]
    pub password: Option<String>,
    /// Kafka: `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    /// Kafka: a PEM file of the CAs that sign the broker's certificate (default: the system's).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Kafka: `none` (default), `gzip`, `lz4` or `snappy`.
    #[serde(default)]
    pub compression: Option<String>,
}

impl std::fmt::Debug for StreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSettings")
            .field("name", &self.name)
            .field("feed", &self.feed)
            .field("filter", &self.filter)
            .field("url", &self.url)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

fn default_batch() -> usize {
    500
}

fn default_every_ms() -> u64 {
    500
}

fn default_max_backoff() -> u64 {
    60
}

fn default_timeout() -> u64 {
    30
}

impl StreamSettings {
    /// The stream, with `target` built by the caller's kind.
    fn stream(&self, target: Box<dyn Target>) -> Result<Stream, OutboundError> {
        let what = |e: OutboundError| match e {
            OutboundError::Config(m) => OutboundError::Config(format!("stream {}: {m}", self.name)),
            e => e,
        };
        let feed = Feed::parse(
            &self.feed,
            self.filter.as_deref(),
            self.min_level.as_deref(),
        )
        .map_err(what)?;
        let from_beginning = match self.start.as_deref().unwrap_or("now") {
            "now" => false,
            "beginning" => true,
            other => {
                return Err(OutboundError::Config(format!(
                    "stream {}: start {other:?}: now or beginning",
                    self.name
                )))
            }
        };
        if self.batch == 0 {
            return Err(OutboundError::Config(format!(
                "stream {}: batch must be at least 1",
                self.name
            )));
        }
        Ok(Stream {
            name: self.name.clone(),
            tenant: self.tenant.clone(),
            feed,
            target,
            batch: self.batch,
            from_beginning,
            every: Duration::from_millis(self.every_ms.max(10)),
            max_backoff: Duration::from_secs(self.max_backoff_seconds.max(1)),
        })
    }

    /// Refuses the settings of the other kind.
    fn only(&self, kind: &str, fields: &[(&str, bool)]) -> Result<(), OutboundError> {
        match fields.iter().find(|(_, set)| *set) {
            Some((field, _)) => Err(OutboundError::Config(format!(
                "stream {}: {field} is not a setting of a {kind} stream",
                self.name
            ))),
            None => Ok(()),
        }
    }

    fn webhook(&self) -> Result<Stream, OutboundError> {
        self.only(
            "webhook",
            &[
                ("topic", self.topic.is_some()),
                ("connection_string", self.connection_string.is_some()),
                ("brokers", self.brokers.is_some()),
                ("security_protocol", self.security_protocol.is_some()),
                ("username", self.username.is_some()),
                ("password", self.password.is_some()),
                ("sasl_mechanism", self.sasl_mechanism.is_some()),
                ("ca_file", self.ca_file.is_some()),
                ("compression", self.compression.is_some()),
            ],
        )?;
        let url = self.url.as_deref().ok_or_else(|| {
            OutboundError::Config(format!("stream {}: a webhook needs a url", self.name))
        })?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(OutboundError::Config(format!(
                "stream {}: url {url:?} is not http(s)",
                self.name
            )));
        }
        let key = secret(self.secret.as_deref().ok_or_else(|| {
            OutboundError::Config(format!(
                "stream {}: a webhook needs a secret to sign its deliveries",
                self.name
            ))
        })?)
        .map_err(|e| OutboundError::Config(format!("stream {}: {e}", self.name)))?;
        if key.len() < 16 {
            return Err(OutboundError::Config(format!(
                "stream {}: the secret is shorter than 16 characters",
                self.name
            )));
        }
        let target = WebhookTarget::new(
            url,
            key.as_bytes(),
            Duration::from_secs(self.timeout_seconds.max(1)),
        );
        self.stream(Box::new(target))
    }

    fn kafka(&self) -> Result<Stream, OutboundError> {
        self.only(
            "Kafka",
            &[
                ("url", self.url.is_some()),
                ("secret", self.secret.is_some()),
            ],
        )?;
        let topic = self.topic.as_deref().ok_or_else(|| {
            OutboundError::Config(format!(
                "stream {}: a Kafka stream needs a topic",
                self.name
            ))
        })?;
        let (brokers, auth) = kafka_endpoint(
            &format!("stream {}", self.name),
            KafkaEndpoint {
                connection_string: self.connection_string.as_deref(),
                brokers: self.brokers.as_deref(),
                security_protocol: self.security_protocol.as_deref(),
                username: self.username.as_deref(),
                password: self.password.as_deref(),
                sasl_mechanism: self.sasl_mechanism.as_deref(),
                ca_file: self.ca_file.as_deref(),
            },
        )
        .map_err(|e| OutboundError::Config(e.to_string()))?;
        let compression = self.compression.as_deref().unwrap_or("none");
        if !["none", "gzip", "lz4", "snappy"].contains(&compression) {
            return Err(OutboundError::Config(format!(
                "stream {}: compression {compression:?}: none, gzip, lz4 or snappy",
                self.name
            )));
        }
        let target = KafkaTarget::new(
            &brokers,
            &auth,
            topic,
            compression,
            Duration::from_secs(self.timeout_seconds.max(1)),
        )?;
        self.stream(Box::new(target))
    }
}

impl OutboundSettings {
    /// Every configured stream, built (names unique).
    pub fn build(&self) -> Result<Vec<Stream>, OutboundError> {
        let mut out = Vec::new();
        for s in &self.webhook {
            out.push(s.webhook()?);
        }
        for s in &self.kafka {
            out.push(s.kafka()?);
        }
        let mut names = std::collections::BTreeSet::new();
        if let Some(twice) = out.iter().find(|s| !names.insert(s.name.as_str())) {
            return Err(OutboundError::Config(format!(
                "two streams are named {:?}",
                twice.name
            )));
        }
        Ok(out)
    }

    /// Whether no stream is configured.
    pub fn is_empty(&self) -> bool {
        self.webhook.is_empty() && self.kafka.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Stream>, String> {
        #[derive(Deserialize)]
        struct File {
            outbound: OutboundSettings,
        }
        let f: File = toml_like(text)?;
        f.outbound.build().map_err(|e| e.to_string())
    }

    /// The tests' settings, written as JSON (the crate does not parse TOML itself).
    fn toml_like<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn streams_are_checked_when_built() {
        let ok = r#"{"outbound":{"webhook":[{"name":"soc","feed":"signIns",
            "filter":"status/errorCode ne 0","url":"https://soc.example/hook",
            "secret":"0123456789abcdef"}],
            "kafka":[{"name":"k","feed":"alerts","min_level":"medium","topic":"t",
            "brokers":"127.0.0.1:9092"}]}}"#;
        let built = parse(ok).unwrap();
        assert_eq!(built.len(), 2);
        assert_eq!(built[0].feed.name(), "signIns");
        assert_eq!(built[1].target.kind(), "kafka");
        for (json, why) in [
            (
                r#"{"outbound":{"webhook":[{"name":"a","feed":"signIns","url":"https://x/","secret":"short"}]}}"#,
                "shorter than 16",
            ),
            (
                r#"{"outbound":{"webhook":[{"name":"a","feed":"signIns","url":"https://x/"}]}}"#,
                "needs a secret",
            ),
            (
                r#"{"outbound":{"webhook":[{"name":"a","feed":"signIns","url":"ftp://x/","secret":"0123456789abcdef"}]}}"#,
                "not http(s)",
            ),
            (
                r#"{"outbound":{"webhook":[{"name":"a","feed":"signIns","url":"https://x/","secret":"0123456789abcdef","topic":"t"}]}}"#,
                "topic is not a setting of a webhook",
            ),
            (
                r#"{"outbound":{"webhook":[{"name":"a","feed":"nope","url":"https://x/","secret":"0123456789abcdef"}]}}"#,
                "stream a: feed \"nope\"",
            ),
            (
                r#"{"outbound":{"webhook":[{"name":"a","feed":"signIns","start":"yesterday","url":"https://x/","secret":"0123456789abcdef"}]}}"#,
                "start \"yesterday\"",
            ),
            (
                r#"{"outbound":{"kafka":[{"name":"k","feed":"signIns","brokers":"b:9092"}]}}"#,
                "needs a topic",
            ),
            (
                r#"{"outbound":{"kafka":[{"name":"k","feed":"signIns","topic":"t"}]}}"#,
                "connection_string or brokers",
            ),
            (
                r#"{"outbound":{"kafka":[{"name":"k","feed":"signIns","topic":"t","brokers":"b:1","compression":"zip"}]}}"#,
                "compression \"zip\"",
            ),
            (
                r#"{"outbound":{"kafka":[{"name":"k","feed":"signIns","topic":"t","brokers":"b:1","security_protocol":"sasl_ssl"}]}}"#,
                "SASL needs a username",
            ),
            (
                r#"{"outbound":{"kafka":[{"name":"k","feed":"signIns","topic":"t","brokers":"b:1"},{"name":"k","feed":"alerts","topic":"t","brokers":"b:1"}]}}"#,
                "two streams are named \"k\"",
            ),
        ] {
            let e = parse(json).err().unwrap_or_default();
            assert!(e.contains(why), "{json}: {e}");
        }
    }
}
