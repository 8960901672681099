//! Kafka deliveries: one message per record (key: the record's id; headers: tenant, feed,
//! delivery), produced with `acks=all` and idempotence; a batch counts as delivered once every
//! message of it is acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_connect::KafkaAuth;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::stream::{Delivery, Failure, Target};
use crate::OutboundError;

/// Counts the broker's acknowledgements.
#[derive(Default)]
struct Acks {
    ok: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        }
    }
}

/// A Kafka topic (or an Event Hub) records are produced to.
pub struct KafkaTarget {
    topic: String,
    producer: ThreadedProducer<Acks>,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTarget")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaTarget {
    /// A producer to `topic` of `brokers`; a batch not acknowledged within `timeout` fails.
    pub fn new(
        brokers: &str,
        auth: &KafkaAuth,
        topic: &str,
        compression: &str,
        timeout: Duration,
    ) -> Result<KafkaTarget, OutboundError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers)
            .set("client.id", "gatehouse-outbound")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", compression)
            .set("linger.ms", "20")
            .set(
                "message.timeout.ms",
                timeout.as_millis().max(1000).to_string(),
            );
        auth.configure(&mut c);
        let producer: ThreadedProducer<Acks> = c
            .create_with_context(Acks::default())
            .map_err(|e| OutboundError::Config(format!("the Kafka producer: {e}")))?;
        Ok(KafkaTarget {
            topic: topic.to_string(),
            producer,
            timeout,
        })
    }
}

impl Target for KafkaTarget {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn deliver(&self, d: &Delivery) -> Result<(), Failure> {
        let acks = self.producer.context();
        let (ok0, failed0) = (
            acks.ok.load(Ordering::Relaxed),
            acks.failed.load(Ordering::Relaxed),
        );
        let fail = |message: String| Failure {
            message,
            retry_after: None,
            too_large: false,
        };
        let deadline = Instant::now() + self.timeout;
        for (record, id) in d.records.iter().zip(&d.ids) {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "gatehouse-tenant",
                    value: Some(d.tenant.as_str()),
                })
                .insert(Header {
                    key: "gatehouse-feed",
                    value: Some(d.feed),
                })
                .insert(Header {
                    key: "gatehouse-delivery",
                    value: Some(d.id.as_str()),
                });
            let mut message = BaseRecord::to(&self.topic)
                .key(id.as_str())
                .payload(record.as_str())
                .headers(headers);
            loop {
                match self.producer.send(message) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), m)) => {
                        if Instant::now() > deadline {
                            return Err(fail(format!(
                                "topic {}: the producer's queue stayed full",
                                self.topic
                            )));
                        }
                        message = m;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(fail(format!("topic {}: {e}", self.topic))),
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if let Err(e) = self.producer.flush(left) {
            return Err(fail(format!("topic {}: {e}", self.topic)));
        }
        let ok = acks.ok.load(Ordering::Relaxed) - ok0;
        let failed = acks.failed.load(Ordering::Relaxed) - failed0;
        if failed > 0 || ok < d.records.len() as u64 {
            let why = acks
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| "not acknowledged in time".into());
            return Err(fail(format!(
                "topic {}: {failed} of {} messages failed: {why}",
                self.topic,
                d.records.len()
            )));
        }
        Ok(())
    }
}
