//! Delivery reports, counted per batch without a future per record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use prometheus::IntGauge;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use tokio::sync::Notify;

use super::KafkaError;

/// The records of one batch handed to the producer, and their acknowledgements.
pub struct BatchTracker {
    sent: AtomicU64,
    acknowledged: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    settled: Notify,
    started: Instant,
}

impl BatchTracker {
    pub fn new() -> Arc<BatchTracker> {
        Arc::new(BatchTracker {
            sent: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            settled: Notify::new(),
            started: Instant::now(),
        })
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Acquire)
    }

    pub(super) fn record_sent(&self) {
        self.sent.fetch_add(1, Ordering::AcqRel);
    }

    fn record_result(&self, error: Option<String>) {
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
            Err(KafkaError::DeliveryFailed {
                failed,
                first_error: self.first_error.lock().clone().unwrap_or_default(),
            })
        }
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
}

impl ClientContext for DeliveryContext {
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
                *fatal = Some(format!("{error}: {reason}"));
            }
        } else {
            tracing::warn!(%error, reason, "kafka client error");
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Arc<BatchTracker>;

    fn delivery(&self, result: &DeliveryResult<'_>, tracker: Arc<BatchTracker>) {
        let error = result.as_ref().err().map(|(error, _)| error.to_string());
        tracker.record_result(error);
        self.in_flight.dec();
        self.space_freed.notify_waiters();
    }
}
