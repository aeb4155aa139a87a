//! The producer: created from `kafka` config, sends records with headers, waits for queue space
//! when librdkafka's buffer is full (so that a slow Kafka slows the Graph reads instead of growing
//! memory).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::IntGauge;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use tokio::sync::Notify;

use super::KafkaError;
use super::delivery::{BatchTracker, DeliveryContext};
use crate::config::KafkaConfig;

/// Settings entrastream chooses; `kafka.librdkafka` may override all but the owned ones
/// (bootstrap.servers, enable.idempotence, acks, transactional.id).
const DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "entrastream"),
    ("compression.type", "lz4"),
    ("linger.ms", "20"),
    // a delivery that fails after this long fails its batch, which is produced again; nothing is lost
    ("message.timeout.ms", "300000"),
    // bounds the memory held for records not yet acknowledged
    ("queue.buffering.max.kbytes", "65536"),
    ("queue.buffering.max.messages", "100000"),
];

/// A record ready to send.
pub struct OutgoingRecord<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    pub payload: &'a [u8],
    pub headers: OwnedHeaders,
}

pub struct Publisher {
    producer: ThreadedProducer<DeliveryContext>,
    bootstrap_servers: String,
}

impl Publisher {
    pub fn new(config: &KafkaConfig, in_flight: IntGauge) -> Result<Publisher, KafkaError> {
        let mut client_config = ClientConfig::new();
        for (key, value) in DEFAULTS {
            client_config.set(*key, *value);
        }
        for (key, value) in &config.librdkafka {
            client_config.set(key, value);
        }
        client_config
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all");
        let context = DeliveryContext {
            in_flight,
            space_freed: Notify::new(),
            fatal: Mutex::new(None),
        };
        let producer: ThreadedProducer<DeliveryContext> = client_config
            .create_with_context(context)
            .map_err(|error| KafkaError::Setup(error.to_string()))?;
        Ok(Publisher {
            producer,
            bootstrap_servers: config.bootstrap_servers.clone(),
        })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// The fatal error the producer reported, if any.
    pub fn fatal_error(&self) -> Option<String> {
        self.producer.context().fatal.lock().clone()
    }

    /// Hands a record to the producer, waiting while its queue is full.
    pub async fn send(
        &self,
        tracker: &Arc<BatchTracker>,
        record: OutgoingRecord<'_>,
    ) -> Result<(), KafkaError> {
        let context = self.producer.context();
        let mut headers = Some(record.headers);
        loop {
            if let Some(fatal) = self.fatal_error() {
                return Err(KafkaError::Fatal(fatal));
            }
            let space_freed = context.space_freed.notified();
            tokio::pin!(space_freed);
            space_freed.as_mut().enable();
            let base = BaseRecord::with_opaque_to(record.topic, tracker.clone())
                .key(record.key)
                .payload(record.payload)
                .headers(headers.take().unwrap_or_default());
            match self.producer.send(base) {
                Ok(()) => {
                    tracker.record_sent();
                    context.in_flight.inc();
                    return Ok(());
                }
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    headers = returned.headers;
                    // the wait was registered before the send, so no report can slip past it
                    space_freed.await;
                }
                Err((error, _)) => return Err(KafkaError::Rejected(error.to_string())),
            }
        }
    }

    /// Waits up to `timeout` for every record to be acknowledged or failed.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer
            .flush(timeout)
            .map_err(|error| KafkaError::Rejected(format!("flush did not complete: {error}")))
    }

    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Asks the cluster for its metadata: the reachability probe behind `/readyz`.
    pub fn probe(&self, timeout: Duration) -> Result<usize, String> {
        self.producer
            .client()
            .fetch_metadata(None, timeout)
            .map(|metadata| metadata.brokers().len())
            .map_err(|error| error.to_string())
    }
}

/// Headers every record carries.
pub fn headers(pairs: &[(&str, &str)]) -> OwnedHeaders {
    pairs.iter().fold(
        OwnedHeaders::new_with_capacity(pairs.len()),
        |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(*value),
            })
        },
    )
}
