//! The Kafka connector: consumes the topics Entra's diagnostic settings stream to (an Event Hubs
//! namespace speaks the Kafka protocol: SASL PLAIN over TLS with the `$ConnectionString` user), or
//! any Kafka-protocol broker, in a consumer group, through librdkafka.
//!
//! Messages are Azure Monitor's `{"records": […]}` documents (any diagnostic category; plain
//! records and Graph JSON are read too). They are batched per partition and each batch is
//! committed to the store with the partition's next offset as the source's position
//! (`kafka:<topic>/<partition>`). When the group assigns a partition, the consumer starts at the
//! position the store has for it, so a consumer killed at any moment re-reads only what was not
//! committed, and what it re-reads is skipped as duplicates. The offset is committed to the
//! group too (after the store's commit), so that another Gatehouse with its own store that takes
//! the partition over in a rebalance resumes there.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::ClientContext;

use crate::sink::{Batch, Sink};
use crate::status::ConnectorStatus;
use crate::ConnectError;

mod body_pool;
use body_pool::BodyPool;

/// A SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN` (Event Hubs: user `$ConnectionString`, the connection string as the password).
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// The mechanism's name in Kafka's settings (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of a name (any case).
    pub fn parse(name: &str) -> Option<SaslMechanism> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// SASL credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user.
    pub username: String,
    /// The password.
    pub password: String,
}

/// How to reach the broker: TLS or not, and SASL credentials or none.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KafkaAuth {
    /// TLS to the broker.
    pub tls: bool,
    /// A PEM file of the certificate authorities that sign the broker's certificate (default:
    /// the system's).
    pub ca_file: Option<String>,
    /// SASL authentication (`None`: none).
    pub sasl: Option<SaslCredentials>,
}

impl std::fmt::Debug for KafkaAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAuth")
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("sasl", &self.sasl.as_ref().map(|s| s.mechanism.name()))
            .finish()
    }
}

impl KafkaAuth {
    /// No TLS, no authentication (a local broker).
    pub fn plaintext() -> KafkaAuth {
        KafkaAuth::default()
    }

    /// The `security.protocol` this means.
    pub fn protocol(&self) -> &'static str {
        match (self.tls, self.sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (true, true) => "sasl_ssl",
            (false, true) => "sasl_plaintext",
        }
    }

    /// Sets a client's `security.protocol`, TLS and SASL settings.
    pub fn configure(&self, c: &mut ClientConfig) {
        c.set("security.protocol", self.protocol());
        if let Some(ca) = &self.ca_file {
            c.set("ssl.ca.location", ca);
        }
        if let Some(s) = &self.sasl {
            c.set("sasl.mechanism", s.mechanism.name())
                .set("sasl.username", &s.username)
                .set("sasl.password", &s.password);
        }
    }
}

/// Batches submitted to the sink and not yet committed, at most: the connector reads on while
/// the store commits (a commit waits up to the commit interval to gather rows). The bodies
/// waiting to be read are bounded by [`SHARED_BODIES`] (and the Ingestor's queue); this bound
/// only keeps the list of positions to settle short. (At 8, catching up stopped
/// reading until a commit every eight batches, and the pipeline ran dry while it waited: a
/// `--once` of 129,740 records took 5.0–5.3 s, at 64 4.5 s.)
const IN_FLIGHT: usize = 64;

/// Batch bodies the sink holds at most (queued for the pipeline or being read) before the
/// consumer waits for one to come back ([`BodyPool`]). Catching up, the consumer reads about
/// twice as fast as the pipeline stores: it kept the Ingestor's whole queue full, 16 bodies of
/// up to `batch_bytes` each, each in fresh memory (1.9 GB of messages: 1.8 GB resident, 0.56M
/// page faults; with the pool 1.2 GB and 0.33M). Four keep the pipeline fed and the same few
/// bodies going round.
const SHARED_BODIES: usize = 4;

/// How long a batch waits for room among the [`SHARED_BODIES`] before it is submitted anyway.
const ROOM_WAIT: Duration = Duration::from_secs(5);

/// How often the same poll error is reported again (logged and counted) while it repeats.
const REPEATED_ERROR_INTERVAL: Duration = Duration::from_secs(30);

/// A batch submitted to the sink.
struct InFlight {
    topic: String,
    partition: i32,
    source: String,
    next_offset: i64,
    storing: crate::sink::Storing,
    submitted: Instant,
}

/// A batch in flight this long is settled when the consumer is idle: the store commits at
/// least once a second, so its commit has most likely been made and waiting for it costs
/// nothing. (Younger batches are left to commit while the consumer reads on; waiting for them
/// at every pause between two fetches drained the pipeline again and again.)
const SETTLE_AFTER: Duration = Duration::from_secs(1);

/// What the Kafka connector reads and how.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers (`host:port,…`; Event Hubs: `NAMESPACE.servicebus.windows.net:9093`).
    pub brokers: String,
    /// The topics (event hubs).
    pub topics: Vec<String>,
    /// The consumer group.
    pub group: String,
    /// Authentication and transport.
    pub auth: KafkaAuth,
    /// Messages per batch at most (per partition).
    pub batch_messages: usize,
    /// Bytes per batch at most (per partition).
    pub batch_bytes: usize,
    /// How long a batch waits for more messages before it is stored.
    pub linger: Duration,
}

impl KafkaConfig {
    /// The settings for an Event Hubs namespace from its connection string
    /// (`Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…`).
    pub fn event_hubs(
        connection_string: &str,
        topics: Vec<String>,
        group: String,
    ) -> Result<KafkaConfig, ConnectError> {
        let endpoint = connection_string
            .split(';')
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("Endpoint").then(|| v.trim())
            })
            .ok_or_else(|| {
                ConnectError::Config("the Event Hubs connection string has no Endpoint".into())
            })?;
        let host = endpoint
            .trim_start_matches("sb://")
            .trim_end_matches('/')
            .to_string();
        if host.is_empty() {
            return Err(ConnectError::Config(
                "the Event Hubs connection string's Endpoint has no host".into(),
            ));
        }
        Ok(KafkaConfig {
            brokers: format!("{host}:9093"),
            topics,
            group,
            auth: KafkaAuth {
                tls: true,
                ca_file: None,
                sasl: Some(SaslCredentials {
                    mechanism: SaslMechanism::Plain,
                    username: "$ConnectionString".into(),
                    password: connection_string.to_string(),
                }),
            },
            ..KafkaConfig::local(String::new(), Vec::new(), String::new())
        })
    }

    /// Plain settings for a broker without authentication.
    pub fn local(brokers: String, topics: Vec<String>, group: String) -> KafkaConfig {
        KafkaConfig {
            brokers,
            topics,
            group,
            auth: KafkaAuth::plaintext(),
            batch_messages: 5_000,
            batch_bytes: 32 << 20,
            linger: Duration::from_millis(200),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaReport {
    /// Messages read.
    pub messages: u64,
    /// Batches stored.
    pub batches: u64,
    /// Records stored.
    pub stored: u64,
    /// Records skipped as stored before.
    pub duplicates: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// The consumer's context: it starts each assigned partition at the store's position.
struct Context {
    /// Next offset to read per partition, as the store has it.
    positions: Mutex<HashMap<(String, i32), i64>>,
    /// Partitions assigned now.
    assigned: Mutex<BTreeSet<(String, i32)>>,
    /// Every partition of the topics (from the metadata at the start).
    all: Mutex<BTreeSet<(String, i32)>>,
    /// Why the broker refused the client (authentication, TLS), once it has.
    refused: Mutex<Option<String>>,
    /// The bodies of the consumer's batches (every partition's pending batch, plus those in the
    /// sink's hands, can be reused).
    bodies: BodyPool,
}

impl ClientContext for Context {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::PartitionEOF)
        ) {
            return;
        }
        tracing::warn!(error = %error, reason, "Kafka client");
        // Refusals that retrying cannot cure: the credential or the broker's certificate.
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
        ) || reason.contains("certificate verify failed")
            || reason.contains("SSL handshake failed");
        if refused {
            *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.to_string());
        }
    }
}

impl ConsumerContext for Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
                let mut assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
                assigned.clear();
                let elements: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                for (topic, partition) in elements {
                    if let Some(p) = positions.get(&(topic.clone(), partition)) {
                        let _ = tpl.set_partition_offset(&topic, partition, Offset::Offset(*p));
                    }
                    assigned.insert((topic, partition));
                }
                tracing::info!(partitions = ?*assigned, "partitions assigned");
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "assigning partitions");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.assigned
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                tracing::info!("partitions revoked");
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "unassigning partitions");
                }
            }
            other => {
                tracing::error!(error = ?other, "a rebalance failed");
                let _ = consumer.unassign();
            }
        }
    }
}

/// A batch being gathered for one partition.
#[derive(Default)]
struct Pending {
    body: Vec<u8>,
    messages: usize,
    next_offset: i64,
    since: Option<Instant>,
}

/// Consumes Kafka topics into a [`Sink`].
#[derive(Debug)]
pub struct KafkaConnector {
    config: KafkaConfig,
}

impl KafkaConnector {
    /// A connector with these settings.
    pub fn new(config: KafkaConfig) -> KafkaConnector {
        KafkaConnector { config }
    }

    /// The source name of a partition.
    pub fn source(topic: &str, partition: i32) -> String {
        format!("kafka:{topic}/{partition}")
    }

    fn consumer(&self, eof: bool) -> Result<BaseConsumer<Context>, ConnectError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.config.brokers)
            .set("group.id", &self.config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", if eof { "true" } else { "false" })
            // A consumer killed without leaving holds its partitions until these run out: the
            // group moves on after 6 s without heartbeats, or 20 s without a poll.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "2000")
            .set("max.poll.interval.ms", "20000")
            .set("partition.assignment.strategy", "range,roundrobin")
            // How long a fetch may wait at the broker for data. librdkafka's default, 500 ms,
            // adds to every record's time to visible, and some brokers, Tansu among them, wait
            // it out even when data is there: there each fetch brings a few megabytes, so the
            // wait bounds the rate (at 10 ms, reading 625 MB from Tansu took 1.75 s; at 1 ms,
            // 0.6 s). Reading to the end, it is 1 ms (the few fetches made once the end is
            // reached cost nothing); live, 100 ms (an idle consumer asks ten times a second).
            .set("fetch.wait.max.ms", if eof { "1" } else { "100" })
            // Diagnostic messages are large (Event Hubs takes up to 1 MB): a fetch may bring
            // many of them per partition (librdkafka's default is 1 MB).
            .set("max.partition.fetch.bytes", "8388608")
            .set("fetch.max.bytes", "67108864")
            // Once its local queue holds `queued.max.messages.kbytes` (64 MB), librdkafka stops
            // fetching a partition for this long (default 1 s). Catching up, the pipeline holds
            // the consumer back, the queue fills, and the consumer then drained it in a fifth of
            // a second and waited out the rest: the store sat idle a second at a time (1.9 GB of
            // messages took twice as long as the files). 20 ms is one poll's worth of messages.
            .set("fetch.queue.backoff.ms", "20")
            .set("client.id", "gatehouse");
        self.config.auth.configure(&mut c);
        let context = Context {
            positions: Mutex::new(HashMap::new()),
            assigned: Mutex::new(BTreeSet::new()),
            all: Mutex::new(BTreeSet::new()),
            refused: Mutex::new(None),
            bodies: BodyPool::new(SHARED_BODIES, SHARED_BODIES + 4),
        };
        c.create_with_context(context)
            .map_err(|e| ConnectError::Config(format!("the Kafka client: {e}")))
    }

    /// Loads the store's positions of every partition of the topics into the consumer's context.
    fn load_positions(
        &self,
        consumer: &BaseConsumer<Context>,
        sink: &dyn Sink,
    ) -> Result<(), ConnectError> {
        let mut positions = HashMap::new();
        let mut all = BTreeSet::new();
        for topic in &self.config.topics {
            // In short tries, so that a refused credential or certificate ends it at once.
            let mut tries = 0;
            let metadata = loop {
                tries += 1;
                match consumer.fetch_metadata(Some(topic), Duration::from_secs(3)) {
                    Ok(m) => break m,
                    Err(e) => {
                        // Errors reach the context's callback when the client is polled (no
                        // partition is assigned yet: nothing is consumed).
                        let _ = consumer.poll(Duration::from_millis(200));
                        let refused = consumer
                            .context()
                            .refused
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone();
                        if let Some(why) = refused {
                            return Err(ConnectError::Denied(format!(
                                "{}: {why}",
                                self.config.brokers
                            )));
                        }
                        if tries >= 10 {
                            return Err(ConnectError::Unreachable(format!(
                                "{}: {e}",
                                self.config.brokers
                            )));
                        }
                    }
                }
            };
            for t in metadata.topics() {
                if let Some(e) = t.error() {
                    return Err(ConnectError::NotFound(format!(
                        "topic {}: {:?}",
                        t.name(),
                        e
                    )));
                }
                for p in t.partitions() {
                    all.insert((t.name().to_string(), p.id()));
                    if let Some(pos) = sink.position(&Self::source(t.name(), p.id()))? {
                        positions.insert((t.name().to_string(), p.id()), pos);
                    }
                }
            }
        }
        *consumer
            .context()
            .positions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = positions;
        *consumer
            .context()
            .all
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = all;
        Ok(())
    }

    /// Consumes until `stop` says so, or (with `until_caught_up`) until every assigned
    /// partition has been read to its end.
    pub fn consume(
        &self,
        sink: &dyn Sink,
        status: &ConnectorStatus,
        stop: &dyn Fn() -> bool,
        until_caught_up: bool,
    ) -> Result<KafkaReport, ConnectError> {
        let consumer = self.consumer(until_caught_up)?;
        self.load_positions(&consumer, sink)?;
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        if until_caught_up {
            // Reading to the end once takes every partition itself, each from the store's
            // position, without joining the group: a one-off catch-up neither waits for nor
            // disturbs the group's members (nor for a killed member the broker still counts).
            let ctx = consumer.context();
            let all = ctx.all.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let positions = ctx
                .positions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in &all {
                let offset = positions
                    .get(&(topic.clone(), *partition))
                    .map_or(Offset::Beginning, |p| Offset::Offset(*p));
                tpl.add_partition_offset(topic, *partition, offset)
                    .map_err(|e| ConnectError::Config(format!("{topic}/{partition}: {e}")))?;
            }
            consumer
                .assign(&tpl)
                .map_err(|e| ConnectError::Config(format!("assigning {topics:?}: {e}")))?;
            *ctx.assigned.lock().unwrap_or_else(|e| e.into_inner()) = all;
        } else {
            consumer
                .subscribe(&topics)
                .map_err(|e| ConnectError::Config(format!("subscribing to {topics:?}: {e}")))?;
        }
        let mut report = KafkaReport::default();
        let mut pending: BTreeMap<(String, i32), Pending> = BTreeMap::new();
        // Batches submitted and not yet committed, oldest first.
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let started = Instant::now();
        // How often an idle consumer asks the broker for the partitions' ends (one request per
        // partition): often when reading to the end, seldom when it only feeds the lag.
        let check_every = if until_caught_up {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(15)
        };
        let mut last_check: Option<Instant> = None;
        // Poll errors reported lately, and when: while a broker is down the client fails the
        // same ways on every reconnection attempt, and each is reported (logged and counted)
        // once per `REPEATED_ERROR_INTERVAL`.
        let mut reported: HashMap<String, Instant> = HashMap::new();
        // The offset after the last message read, per partition (in a batch pending or in
        // flight, or stored).
        let mut read: HashMap<(String, i32), i64> = HashMap::new();
        // The ends of the partitions that were behind at the last check: once everything up to
        // them is read, the next check is due at once rather than at `check_every`.
        let mut ends: HashMap<(String, i32), i64> = HashMap::new();
        loop {
            if stop() {
                break;
            }
            let mut idle = false;
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    report.messages += 1;
                    let key = (m.topic().to_string(), m.partition());
                    read.insert(key.clone(), m.offset() + 1);
                    let p = pending.entry(key.clone()).or_default();
                    if let Some(payload) = m.payload() {
                        if p.body.capacity() == 0 {
                            // Room for the whole batch at once: growing it by doubling copied
                            // every byte about once more (the batch's bytes are not copied
                            // again: the pipeline parses them where they lie).
                            p.body = consumer
                                .context()
                                .bodies
                                .take(self.config.batch_bytes.saturating_add(1 << 20));
                        }
                        p.body.extend_from_slice(payload);
                        if !payload.ends_with(b"\n") {
                            p.body.push(b'\n');
                        }
                    }
                    p.messages += 1;
                    p.next_offset = m.offset() + 1;
                    p.since.get_or_insert_with(Instant::now);
                    if p.messages >= self.config.batch_messages
                        || p.body.len() >= self.config.batch_bytes
                    {
                        let p = pending.remove(&key).unwrap_or_default();
                        self.submit(&consumer, sink, status, key, p, &mut in_flight, &mut report)?;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => idle = true,
                Some(Err(e)) => {
                    let text = e.to_string();
                    reported.retain(|_, at| at.elapsed() < REPEATED_ERROR_INTERVAL);
                    if let std::collections::hash_map::Entry::Vacant(new) = reported.entry(text) {
                        tracing::warn!(error = %new.key(), "Kafka");
                        status.failed(&ConnectError::Unreachable(new.key().clone()));
                        new.insert(Instant::now());
                    }
                }
            }
            // Batches that waited long enough, and all of them when nothing more comes.
            let due: Vec<(String, i32)> = pending
                .iter()
                .filter(|(_, p)| idle || p.since.is_some_and(|s| s.elapsed() >= self.config.linger))
                .map(|(k, _)| k.clone())
                .collect();
            for key in due {
                if let Some(p) = pending.remove(&key) {
                    self.submit(&consumer, sink, status, key, p, &mut in_flight, &mut report)?;
                }
            }
            if idle {
                // A pause between fetches: settle what has surely been committed by now.
                Self::settle_while(&consumer, status, &mut in_flight, &mut report, |f, _| {
                    f.submitted.elapsed() >= SETTLE_AFTER
                })?;
            }
            if idle
                && pending.is_empty()
                && (last_check.is_none_or(|t| t.elapsed() >= check_every)
                    || (!ends.is_empty()
                        && ends
                            .iter()
                            .all(|(k, end)| read.get(k).is_some_and(|r| r >= end))))
            {
                last_check = Some(Instant::now());
                let caught_up = match self.caught_up(&consumer, until_caught_up, &read, &mut ends) {
                    Ok(c) => c,
                    Err(e) => {
                        // The broker did not answer in time: say so, and keep consuming.
                        status.failed(&e);
                        Some(false)
                    }
                };
                if caught_up == Some(true) {
                    // Everything there is has been read: it is caught up once what is in
                    // flight is committed. An idle consumer keeps no bodies.
                    Self::settle_while(&consumer, status, &mut in_flight, &mut report, |_, _| {
                        true
                    })?;
                    consumer.context().bodies.trim();
                }
                status.poll_done(if caught_up == Some(true) { 0 } else { 1 });
                if until_caught_up && caught_up == Some(true) {
                    break;
                }
                if until_caught_up
                    && caught_up.is_none()
                    && started.elapsed() > Duration::from_secs(120)
                {
                    return Err(ConnectError::Source(
                        "no partition was assigned within two minutes (does another consumer of the group hold them?)".into(),
                    ));
                }
            }
        }
        // What was gathered is stored before leaving.
        for (key, p) in std::mem::take(&mut pending) {
            self.submit(&consumer, sink, status, key, p, &mut in_flight, &mut report)?;
        }
        Self::settle_while(&consumer, status, &mut in_flight, &mut report, |_, _| true)?;
        if !until_caught_up {
            consumer.unsubscribe();
        }
        Ok(report)
    }

    /// Whether every assigned partition (with `all`, every partition of the topics, whoever
    /// holds it: reading "to the end" must not stop while a dead member of the group still holds
    /// some) has been read up to its end, by `read` or by the stored position (`None`: nothing
    /// is assigned yet). The ends of the partitions not read to their end are left in
    /// `ends`.
    fn caught_up(
        &self,
        consumer: &BaseConsumer<Context>,
        all: bool,
        read: &HashMap<(String, i32), i64>,
        ends: &mut HashMap<(String, i32), i64>,
    ) -> Result<Option<bool>, ConnectError> {
        let assigned = consumer
            .context()
            .assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if assigned.is_empty() {
            return Ok(None);
        }
        let assigned = if all {
            consumer
                .context()
                .all
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        } else {
            assigned
        };
        let positions = consumer
            .context()
            .positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ends.clear();
        let mut behind = false;
        for (topic, partition) in &assigned {
            let (low, high) = consumer
                .fetch_watermarks(topic, *partition, Duration::from_secs(10))
                .map_err(|e| ConnectError::Unreachable(format!("{topic}/{partition}: {e}")))?;
            let key = (topic.clone(), *partition);
            let at = read
                .get(&key)
                .copied()
                .max(positions.get(&key).copied())
                .unwrap_or(low);
            if at < high {
                ends.insert(key, high);
                behind = true;
            }
        }
        Ok(Some(!behind))
    }

    /// Submits a partition's batch to the sink, and settles the oldest batches in flight while
    /// more than [`IN_FLIGHT`] are.
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        consumer: &BaseConsumer<Context>,
        sink: &dyn Sink,
        status: &ConnectorStatus,
        (topic, partition): (String, i32),
        p: Pending,
        in_flight: &mut VecDeque<InFlight>,
        report: &mut KafkaReport,
    ) -> Result<(), ConnectError> {
        if p.messages == 0 {
            return Ok(());
        }
        let bodies = &consumer.context().bodies;
        if !bodies.wait_for_room(ROOM_WAIT) {
            tracing::debug!("the sink still holds every batch body: submitting one more");
        }
        let source = Self::source(&topic, partition);
        tracing::debug!(
            %source,
            messages = p.messages,
            bytes = p.body.len(),
            waited_ms = p.since.map_or(0, |s| s.elapsed().as_millis() as u64),
            "submitting a batch"
        );
        let storing = sink.submit(Batch {
            source: source.clone(),
            position: p.next_offset,
            body: bodies.share(p.body),
            display: format!("{topic}/{partition}@{}", p.next_offset - p.messages as i64),
        })?;
        in_flight.push_back(InFlight {
            topic,
            partition,
            source,
            next_offset: p.next_offset,
            storing,
            submitted: Instant::now(),
        });
        Self::settle_while(consumer, status, in_flight, report, |_, n| n > IN_FLIGHT)
    }

    /// Settles the oldest batch in flight, then the next, while `more(oldest, in flight)` holds.
    fn settle_while(
        consumer: &BaseConsumer<Context>,
        status: &ConnectorStatus,
        in_flight: &mut VecDeque<InFlight>,
        report: &mut KafkaReport,
        more: impl Fn(&InFlight, usize) -> bool,
    ) -> Result<(), ConnectError> {
        while in_flight.front().is_some_and(|f| more(f, in_flight.len())) {
            let Some(f) = in_flight.pop_front() else {
                break;
            };
            Self::settle(consumer, status, f, report)?;
        }
        Ok(())
    }

    /// Waits for a submitted batch's commit, then moves its partition's position on (here and
    /// in the group).
    fn settle(
        consumer: &BaseConsumer<Context>,
        status: &ConnectorStatus,
        f: InFlight,
        report: &mut KafkaReport,
    ) -> Result<(), ConnectError> {
        let stored = f.storing.wait()?;
        stored.committed(&f.source, f.next_offset, status);
        report.batches += 1;
        report.stored += stored.stored;
        report.duplicates += stored.duplicates;
        report.rejected += stored.rejected.len() as u64;
        consumer
            .context()
            .positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((f.topic.clone(), f.partition), f.next_offset);
        // The group learns the offset too (for a consumer with another store that takes the
        // partition over); the store's position stays the truth for this one.
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(&f.topic, f.partition, Offset::Offset(f.next_offset))
            .is_ok()
        {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
                tracing::debug!(error = %e, "committing the offset to the group");
            }
        }
        Ok(())
    }

    /// Consumes until `stop` says so; failures are reported and retried with backoff.
    pub fn run(&self, sink: &dyn Sink, status: &ConnectorStatus, stop: &dyn Fn() -> bool) {
        let mut backoff = Duration::from_secs(1);
        while !stop() {
            match self.consume(sink, status, stop, false) {
                Ok(_) => backoff = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "the Kafka connector failed; retrying");
                    status.failed(&e);
                    crate::sleep_unless(backoff, stop);
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_hubs_settings_come_from_the_connection_string() {
        let c = KafkaConfig::event_hubs(
            "Endpoint=sb://contoso-logs.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc=",
            vec!["insights-logs-signinlogs".into()],
            "$Default".into(),
        )
        .unwrap();
        assert_eq!(c.brokers, "contoso-logs.servicebus.windows.net:9093");
        assert!(
            c.auth.tls
                && c.auth
                    .sasl
                    .as_ref()
                    .is_some_and(|s| s.username == "$ConnectionString"
                        && s.mechanism == SaslMechanism::Plain)
        );
        // The secret never shows in logs.
        let shown = format!("{:?}", c.auth);
        assert!(
            !shown.contains("SharedAccessKey") && shown.contains("PLAIN"),
            "{shown}"
        );
        assert_eq!(c.auth.protocol(), "sasl_ssl");
        assert!(KafkaConfig::event_hubs("SharedAccessKey=abc", vec![], "g".into()).is_err());
    }
}
