//! Delivery reports, counted per batch without a future per record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use prometheus::{IntCounter, IntGauge};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::statistics::Statistics;
use tokio::sync::Notify;

use super::KafkaError;
use super::connection::ConnectionErrors;

/// The records of one batch handed to the producer, and their acknowledgements.
pub struct BatchTracker {
    sent: AtomicU64,
    acknowledged: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<(String, Option<String>)>>,
    settled: Notify,
    started: Instant,
    /// Counts the acknowledgements of records on this topic as they arrive (a stream's
    /// `entrastream_records_published_total`).
    counted: Option<(String, IntCounter)>,
}

impl BatchTracker {
    pub fn new() -> Arc<BatchTracker> {
        Self::with_counter(None)
    }

    /// A tracker that adds each acknowledged record of `topic` to `counter` when Kafka
    /// acknowledges it, not when the batch ends: a long batch shows its progress.
    pub fn counting(topic: &str, counter: IntCounter) -> Arc<BatchTracker> {
        Self::with_counter(Some((topic.to_owned(), counter)))
    }

    fn with_counter(counted: Option<(String, IntCounter)>) -> Arc<BatchTracker> {
        Arc::new(BatchTracker {
            sent: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            settled: Notify::new(),
            started: Instant::now(),
            counted,
        })
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    pub(super) fn record_sent(&self) {
        self.sent.fetch_add(1, Ordering::AcqRel);
    }

    /// `error`: what failed, and the operator's fix when retrying cannot help.
    fn record_result(&self, error: Option<(String, Option<String>)>) {
        if let Some(error) = error {
            let mut first = self.first_error.lock();
            if first.is_none() {
                *first = Some(error);
            }
            drop(first);
            self.failed.fetch_add(1, Ordering::AcqRel);
        } else {
            self.acknowledged.fetch_add(1, Ordering::AcqRel);
        }
        self.settled.notify_waiters();
    }

    fn settled_count(&self) -> u64 {
        self.acknowledged.load(Ordering::Acquire) + self.failed.load(Ordering::Acquire)
    }

    /// Waits until every record sent so far is acknowledged or failed; Ok when all were acknowledged.
    pub async fn wait(&self) -> Result<(), KafkaError> {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.settled_count() >= self.sent() {
                break;
            }
            notified.await;
        }
        let failed = self.failed.load(Ordering::Acquire);
        if failed == 0 {
            Ok(())
        } else {
            let (first_error, refusal) = self.first_error.lock().clone().unwrap_or_default();
            Err(KafkaError::DeliveryFailed {
                failed,
                first_error,
                refusal,
            })
        }
    }

    /// The first failure that retrying cannot cure, with its fix, if any delivery failed so.
    pub fn refusal(&self) -> Option<(String, String)> {
        self.first_error
            .lock()
            .as_ref()
            .and_then(|(error, fix)| fix.clone().map(|fix| (error.clone(), fix)))
    }

    /// Seconds since the batch's first record was handed over.
    pub fn elapsed_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Receives librdkafka's callbacks: delivery reports, errors, logs.
pub struct DeliveryContext {
    pub(super) in_flight: IntGauge,
    pub(super) space_freed: Notify,
    pub(super) fatal: Mutex<Option<String>>,
    /// The latest connection-level errors (a refused TLS certificate, failed SASL authentication,
    /// an unresolvable host), so that "unreachable" can say why.
    pub(super) connection: Mutex<ConnectionErrors>,
    /// The idempotent producer's state from librdkafka's statistics ("Assigned" once the brokers
    /// granted a producer id); reported only when `statistics.interval.ms` is set (`check`).
    pub(super) idempotence: Mutex<Option<String>>,
}

impl ClientContext for DeliveryContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(eos) = statistics.eos {
            *self.idempotence.lock() = Some(eos.idemp_state);
        }
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            tracing::error!(%error, reason, "kafka producer fatal error");
            let mut fatal = self.fatal.lock();
            if fatal.is_none() {
                *fatal = Some(super::producer::explain_fatal(&format!(
                    "{error}: {reason}"
                )));
            }
        } else if self
            .connection
            .lock()
            .record(error.rdkafka_error_code(), reason)
        {
            // librdkafka repeats these at every reconnection: the health probe names the state
            // once per change, with its fix
            tracing::debug!(%error, reason, "kafka connection error");
        } else {
            tracing::warn!(%error, reason, "kafka client error");
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Arc<BatchTracker>;

    fn delivery(&self, result: &DeliveryResult<'_>, tracker: Arc<BatchTracker>) {
        if let (Ok(message), Some((topic, counter))) = (result, &tracker.counted)
            && message.topic() == topic
        {
            counter.inc();
        }
        let error = result.as_ref().err().map(|(error, message)| {
            let fix = error
                .rdkafka_error_code()
                .and_then(|code| refusal_fix(code, message.topic()));
            (error.to_string(), fix)
        });
        tracker.record_result(error);
        self.in_flight.dec();
        self.space_freed.notify_waiters();
    }
}

/// The fix for a delivery failure that retrying cannot cure; `None` for transient ones.
pub fn refusal_fix(code: RDKafkaErrorCode, topic: &str) -> Option<String> {
    match code {
        RDKafkaErrorCode::TopicAuthorizationFailed => Some(format!(
            "Kafka refuses writes to topic {topic}: grant the principal WRITE (and DESCRIBE) on it"
        )),
        RDKafkaErrorCode::ClusterAuthorizationFailed => Some(
            "Kafka refuses the idempotent producer: grant the principal IDEMPOTENT_WRITE on the cluster"
                .to_owned(),
        ),
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed => Some(
            "Kafka refuses the transactional id: grant the principal WRITE and DESCRIBE on transactional id \
             entrastream-{kafka.instance_id}"
                .to_owned(),
        ),
        RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge => Some(format!(
            "a record is larger than topic {topic} accepts: set kafka.max_record_bytes below the topic's \
             max.message.bytes (larger event records then go to the dead-letter topic as a summary), or \
             raise the topic's max.message.bytes"
        )),
        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => Some(format!(
            "topic {topic} does not exist: create it, or let the brokers create topics automatically"
        )),
        RDKafkaErrorCode::InvalidTopic => Some(format!(
            "Kafka says {topic} is not a valid topic name: fix it under kafka.topics"
        )),
        RDKafkaErrorCode::InvalidRecord | RDKafkaErrorCode::InvalidMessage => Some(format!(
            "topic {topic} refuses the record as invalid (a compacted topic needs keys; a broker policy \
             may refuse it): check the topic's settings"
        )),
        _ => None,
    }
}
