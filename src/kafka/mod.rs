//! Kafka: the producer, topic routing, and delivery tracking per batch. Knows nothing of Graph.
//!
//! Delivery guarantee (at least once): the producer is idempotent with `acks=all`, so retries
//! inside librdkafka never duplicate or reorder; a batch counts as delivered only when every one of
//! its records was acknowledged, and only then may its cursor be committed. A failed delivery
//! never advances a cursor: the batch is read and produced again.

mod admin;
mod connection;
mod delivery;
mod producer;
mod timestamp;

use std::fmt;

pub use admin::auto_created_topics;
pub use connection::KafkaProblem;
pub use delivery::{BatchTracker, refusal_fix};
pub use producer::{
    OutgoingRecord, Publisher, Transaction, TransactionFailure, client_config, headers,
    producer_config,
};
pub use timestamp::{RECORD_TIME_MAX_AGE, record_timestamp};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KafkaError {
    /// The producer could not be created (bad `kafka.librdkafka` settings, ...).
    Setup(String),
    /// exactly_once: the brokers refuse to initialise transactions (no transaction coordinator,
    /// no WRITE on the transactional id).
    TransactionsRefused(String),
    /// The producer hit an error it cannot recover from; the process must restart from its
    /// checkpoints.
    Fatal(String),
    /// A record was refused before it was sent (too large, unknown topic in the client, ...).
    Rejected(String),
    /// Some records of a batch were not acknowledged. `refusal` holds the fix when retrying
    /// cannot help (authorization, size, unknown topic).
    DeliveryFailed {
        failed: u64,
        first_error: String,
        refusal: Option<String>,
    },
}

impl fmt::Display for KafkaError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KafkaError::Setup(detail) => {
                write!(formatter, "cannot create the Kafka producer: {detail}")
            }
            KafkaError::Fatal(detail) => write!(
                formatter,
                "the Kafka producer failed fatally ({detail}); the process stops so that it restarts from its \
                 last committed checkpoints"
            ),
            KafkaError::Rejected(detail) => write!(formatter, "Kafka refused a record: {detail}"),
            KafkaError::TransactionsRefused(detail) => {
                write!(formatter, "Kafka refuses transactions: {detail}")
            }
            KafkaError::DeliveryFailed {
                failed,
                first_error,
                refusal: None,
            } => write!(
                formatter,
                "{} of the batch {} not acknowledged by Kafka (first error: {first_error}); \
                 the batch is produced again",
                records(*failed),
                were(*failed)
            ),
            KafkaError::DeliveryFailed {
                failed,
                first_error,
                refusal: Some(fix),
            } => write!(
                formatter,
                "{} of the batch {} refused by Kafka ({first_error}); fix: {fix}. The process \
                 stops; its checkpoints stay where they were, so the batch is produced again after the fix",
                records(*failed),
                were(*failed)
            ),
        }
    }
}

/// "1 record", "2 records".
fn records(count: u64) -> String {
    if count == 1 {
        "1 record".to_owned()
    } else {
        format!("{count} records")
    }
}

fn were(count: u64) -> &'static str {
    if count == 1 { "was" } else { "were" }
}

impl KafkaError {
    /// Whether the process must stop: a broken producer, or a refusal only the operator can fix.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            KafkaError::Fatal(_)
                | KafkaError::Setup(_)
                | KafkaError::TransactionsRefused(_)
                | KafkaError::DeliveryFailed {
                    refusal: Some(_),
                    ..
                }
        )
    }
}

impl std::error::Error for KafkaError {}
