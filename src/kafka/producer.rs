//! The producer: created from `kafka` config, sends records with headers, waits for queue space
//! when librdkafka's buffer is full (so that a slow Kafka slows the Graph reads instead of growing
//! memory). In exactly-once mode it is transactional: one transaction is open at a time, and
//! every record is sent inside one.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::IntGauge;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use tokio::sync::{Notify, OwnedMutexGuard};

use super::KafkaError;
use super::connection::{ConnectionErrors, KafkaProblem, Login};
use super::delivery::{BatchTracker, DeliveryContext};
use crate::config::{Delivery, KafkaConfig};

/// Settings entrastream chooses; `kafka.librdkafka` may override all but the owned ones
/// (bootstrap.servers, enable.idempotence, acks, transactional.id).
const DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "entrastream"),
    ("compression.type", "lz4"),
    ("linger.ms", "20"),
    // a delivery that fails after this long fails its batch, which is produced again; nothing is lost
    ("message.timeout.ms", "300000"),
    // bounds the memory held for records not yet acknowledged
    ("queue.buffering.max.kbytes", "65536"), // config::DEFAULT_QUEUE_KBYTES
    ("queue.buffering.max.messages", "100000"),
    // a checkpoint record may be larger than an event (checkpoint.max_record_bytes)
    ("message.max.bytes", "16843776"), // config::DEFAULT_MESSAGE_MAX_BYTES
];

/// The librdkafka properties shared by every client entrastream creates (security settings, ...):
/// `kafka.librdkafka` without the producer-only ones, secrets read from where they live.
pub fn client_config(config: &KafkaConfig) -> Result<ClientConfig, String> {
    let mut client_config = ClientConfig::new();
    for (key, value) in config.librdkafka.resolve()? {
        if !PRODUCER_ONLY.contains(&key.as_str()) {
            client_config.set(key, value);
        }
    }
    client_config.set("bootstrap.servers", &config.bootstrap_servers);
    Ok(client_config)
}

/// Properties a consumer or an admin client would only warn about.
const PRODUCER_ONLY: &[&str] = &[
    "linger.ms",
    "queue.buffering.max.ms",
    "compression.type",
    "compression.codec",
    "compression.level",
    "batch.size",
    "batch.num.messages",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.messages",
    "request.required.acks",
    "retries",
    "message.send.max.retries",
    "retry.backoff.ms",
    "sticky.partitioning.linger.ms",
    "partitioner",
    "enable.gapless.guarantee",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
];

/// The producer's whole librdkafka configuration: entrastream's defaults, `kafka.librdkafka`
/// (secrets read from where they live), then the properties entrastream owns. `run
/// --validate-only` builds this same configuration, without the brokers, to have librdkafka judge
/// it offline.
pub fn producer_config(config: &KafkaConfig) -> Result<ClientConfig, String> {
    let mut client_config = ClientConfig::new();
    for (key, value) in DEFAULTS {
        client_config.set(*key, *value);
    }
    for (key, value) in config.librdkafka.resolve()? {
        client_config.set(key, value);
    }
    client_config
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("acks", "all");
    if config.delivery == Delivery::ExactlyOnce {
        let timeout_ms = config.transaction_timeout.as_millis().to_string();
        client_config
            .set("transactional.id", transactional_id(config))
            .set("transaction.timeout.ms", &timeout_ms);
        // a record may not outlive its transaction (librdkafka insists); an undelivered
        // record aborts the transaction, which is then done again
        if !config.librdkafka.contains_key("message.timeout.ms") {
            client_config.set("message.timeout.ms", &timeout_ms);
        }
    }
    Ok(client_config)
}

fn transactional_id(config: &KafkaConfig) -> String {
    format!("entrastream-{}", config.instance_id)
}

/// How long a send refused for a full queue waits for a delivery report before it tries again:
/// the first wait after a report, and the longest while none comes.
const ROOM_RECHECK_FIRST: Duration = Duration::from_millis(1);
const ROOM_RECHECK_LAST: Duration = Duration::from_millis(64);

/// A record ready to send.
pub struct OutgoingRecord<'a> {
    pub topic: &'a str,
    /// A fixed partition; the key decides when absent.
    pub partition: Option<i32>,
    pub key: &'a [u8],
    /// `None`: a tombstone (a compacted topic drops the key).
    pub payload: Option<&'a [u8]>,
    pub headers: OwnedHeaders,
    /// The record's timestamp in epoch milliseconds (an event's: `record_timestamp`); librdkafka
    /// stamps the time of the send when absent.
    pub timestamp: Option<i64>,
}

/// Where a record goes and what it says, besides its headers (moved into each attempt).
struct Target<'a> {
    topic: &'a str,
    partition: Option<i32>,
    key: &'a [u8],
    payload: Option<&'a [u8]>,
    timestamp: Option<i64>,
}

/// Why the producer did not take a record.
enum Refused {
    /// Its queue is full: the record's headers, given back for the next attempt.
    QueueFull(OwnedHeaders),
    Error(RdKafkaError),
}

pub struct Publisher {
    producer: ThreadedProducer<DeliveryContext>,
    bootstrap_servers: String,
    /// How the producer logs in (no password): what a connection failure is explained with.
    login: Login,
    /// `queue.buffering.max.kbytes` in bytes: librdkafka never takes a record whose value is
    /// larger, however empty its queue.
    queue_bytes: u64,
    /// exactly_once: the one open transaction at a time, and how long its commit may take.
    transactions: Option<Transactions>,
}

struct Transactions {
    turn: Arc<tokio::sync::Mutex<()>>,
    timeout: Duration,
    transactional_id: String,
}

impl Publisher {
    pub fn new(config: &KafkaConfig, in_flight: IntGauge) -> Result<Publisher, KafkaError> {
        let client_config = producer_config(config).map_err(KafkaError::Setup)?;
        let transactions = match config.delivery {
            Delivery::AtLeastOnce => None,
            Delivery::ExactlyOnce => Some(Transactions {
                turn: Arc::new(tokio::sync::Mutex::new(())),
                timeout: config.transaction_timeout,
                transactional_id: transactional_id(config),
            }),
        };
        let context = DeliveryContext {
            in_flight,
            space_freed: Notify::new(),
            fatal: Mutex::new(None),
            connection: Mutex::new(ConnectionErrors::default()),
            idempotence: Mutex::new(None),
        };
        // not a number: librdkafka refuses it when the producer is created just below
        let queue_bytes = client_config
            .get("queue.buffering.max.kbytes")
            .and_then(|kbytes| kbytes.trim().parse::<u64>().ok())
            .map_or(u64::MAX, |kbytes| kbytes.saturating_mul(1024));
        let producer: ThreadedProducer<DeliveryContext> = client_config
            .create_with_context(context)
            .map_err(|error| KafkaError::Setup(error.to_string()))?;
        Ok(Publisher {
            producer,
            bootstrap_servers: config.bootstrap_servers.clone(),
            login: Login::of(config),
            queue_bytes,
            transactions,
        })
    }

    /// Whether records must be sent inside a transaction.
    pub fn is_transactional(&self) -> bool {
        self.transactions.is_some()
    }

    /// exactly_once: registers the `transactional.id` with its coordinator, which fences any
    /// earlier producer with the same id and aborts its open transaction. Blocks.
    pub fn init_transactions(&self) -> Result<(), KafkaError> {
        let Some(transactions) = &self.transactions else {
            return Ok(());
        };
        self.producer
            .init_transactions(transactions.timeout)
            .map_err(|error| {
                KafkaError::TransactionsRefused(format!(
                    "cannot initialise them for transactional.id {} ({error}); exactly_once needs brokers \
                     with transactions enabled and, with ACLs, WRITE and DESCRIBE on that transactional id",
                    transactions.transactional_id
                ))
            })
    }

    /// Opens a transaction once the previous one has ended; every record sent until it commits
    /// or aborts belongs to it.
    pub async fn begin(self: &Arc<Self>) -> Result<Transaction, KafkaError> {
        let Some(transactions) = &self.transactions else {
            return Err(KafkaError::Setup(
                "a transaction was asked of a producer without kafka.delivery: exactly_once"
                    .to_owned(),
            ));
        };
        let turn = transactions.turn.clone().lock_owned().await;
        if let Some(fatal) = self.fatal_error() {
            return Err(KafkaError::Fatal(fatal));
        }
        self.producer
            .begin_transaction()
            .map_err(|error| transaction_error(&error, "begin"))?;
        Ok(Transaction {
            publisher: self.clone(),
            turn: Some(turn),
            timeout: transactions.timeout,
        })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// The fatal error the producer reported, if any, with what it most likely means.
    pub fn fatal_error(&self) -> Option<String> {
        let mut fatal = self.producer.context().fatal.lock();
        if fatal.is_none()
            && let Some((code, reason)) = self.producer.client().fatal_error()
        {
            *fatal = Some(explain_fatal(&format!("{code:?}: {reason}")));
        }
        fatal.clone()
    }

    /// Hands a record to the producer, waiting while its queue is full. The queue nearly
    /// always has room: the wait for space is registered only after a refusal, before the send
    /// is tried again, so that no delivery report can slip past it, and it is bounded, since a
    /// report can come just before its place is freed. A fatal producer error makes
    /// every send fail, and is reported as such.
    pub async fn send(
        &self,
        tracker: &Arc<BatchTracker>,
        record: OutgoingRecord<'_>,
    ) -> Result<(), KafkaError> {
        let context = self.producer.context();
        let OutgoingRecord {
            topic,
            partition,
            key,
            payload,
            headers,
            timestamp,
        } = record;
        let record = Target {
            topic,
            partition,
            key,
            payload,
            timestamp,
        };
        let mut headers = match self.try_send(tracker, &record, headers) {
            Ok(()) => return Ok(()),
            Err(Refused::QueueFull(headers)) => headers,
            Err(Refused::Error(error)) => return Err(self.send_error(&error, record.topic)),
        };
        // librdkafka counts a record's value against its queue's size: a larger value is refused
        // as "queue full" forever, and waiting for room would stall the stream without a word
        let value_bytes = record.payload.map_or(0, <[u8]>::len) as u64;
        if value_bytes > self.queue_bytes {
            return Err(KafkaError::DeliveryFailed {
                failed: 1,
                first_error: format!(
                    "librdkafka's producer queue (queue.buffering.max.kbytes: {}) cannot hold a record \
                     of {value_bytes} bytes",
                    self.queue_bytes / 1024
                ),
                refusal: Some(
                    "raise kafka.librdkafka.queue.buffering.max.kbytes above the largest record (an \
                     event, or a checkpoint of up to checkpoint.max_record_bytes), or leave it at its \
                     default (65536)"
                        .to_owned(),
                ),
            });
        }
        // librdkafka frees a record's place in its queue just after the record's delivery report
        // returns: a send tried at once after the last report of a full queue can still be
        // refused, and no further report would come. Each wait for room is therefore bounded,
        // from 1 ms (after a report) doubling to 64 ms while no report arrives.
        let mut recheck = ROOM_RECHECK_FIRST;
        loop {
            let space_freed = context.space_freed.notified();
            tokio::pin!(space_freed);
            space_freed.as_mut().enable();
            match self.try_send(tracker, &record, headers) {
                Ok(()) => return Ok(()),
                Err(Refused::QueueFull(returned)) => {
                    headers = returned;
                    recheck = match tokio::time::timeout(recheck, space_freed).await {
                        Ok(()) => ROOM_RECHECK_FIRST,
                        Err(_) => (recheck * 2).min(ROOM_RECHECK_LAST),
                    };
                }
                Err(Refused::Error(error)) => return Err(self.send_error(&error, record.topic)),
            }
        }
    }

    /// One attempt to hand `record` (with `headers`) to the producer.
    fn try_send(
        &self,
        tracker: &Arc<BatchTracker>,
        record: &Target<'_>,
        headers: OwnedHeaders,
    ) -> Result<(), Refused> {
        let mut base = BaseRecord::<[u8], [u8], _>::with_opaque_to(record.topic, tracker.clone())
            .key(record.key)
            .headers(headers);
        if let Some(payload) = record.payload {
            base = base.payload(payload);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Some(timestamp) = record.timestamp {
            base = base.timestamp(timestamp);
        }
        match self.producer.send(base) {
            Ok(()) => {
                tracker.record_sent();
                self.producer.context().in_flight.inc();
                Ok(())
            }
            Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                Err(Refused::QueueFull(returned.headers.unwrap_or_default()))
            }
            Err((error, _)) => Err(Refused::Error(error)),
        }
    }

    /// What a refused send means: the producer's fatal error when it has one; a transaction's
    /// or the broker's refusal with its fix; the error itself otherwise.
    fn send_error(&self, error: &RdKafkaError, topic: &str) -> KafkaError {
        if let Some(fatal) = self.fatal_error() {
            return KafkaError::Fatal(fatal);
        }
        // a transaction in error reports the broker's refusal at the next send
        if let Some(fix) = error
            .rdkafka_error_code()
            .and_then(|code| super::delivery::refusal_fix(code, topic))
        {
            return KafkaError::DeliveryFailed {
                failed: 1,
                first_error: error.to_string(),
                refusal: Some(fix),
            };
        }
        KafkaError::Rejected(error.to_string())
    }

    /// Records handed to librdkafka and not yet acknowledged or failed.
    pub fn in_flight(&self) -> u64 {
        u64::try_from(self.producer.in_flight_count()).unwrap_or(0)
    }

    /// Waits up to `timeout` for every record to be acknowledged or failed.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer
            .flush(timeout)
            .map_err(|error| KafkaError::Rejected(format!("flush did not complete: {error}")))
    }

    /// Waits (at most `limit`) until librdkafka holds no undelivered record, so that the flush
    /// inside `commit_transaction` finds nothing to wait for: rust-rdkafka's flush otherwise polls
    /// in steps of 100 ms, which cost every transaction a tenth of a second.
    async fn settle(&self, limit: Duration) {
        let context = self.producer.context();
        let deadline = tokio::time::Instant::now() + limit;
        while self.producer.in_flight_count() > 0 && tokio::time::Instant::now() < deadline {
            let report = context.space_freed.notified();
            // a report's event is released just after its callback: look again shortly anyway
            let _ = tokio::time::timeout(Duration::from_millis(1), report).await;
        }
    }

    /// From one metadata request: the brokers' ids, and the topics among `topics` that the
    /// cluster does not know (`entrastream check`).
    pub fn brokers_and_missing_topics(
        &self,
        topics: &[&str],
        timeout: Duration,
    ) -> Result<(Vec<i32>, Vec<String>), KafkaProblem> {
        let metadata = self
            .producer
            .client()
            .fetch_metadata(None, timeout)
            .map_err(|error| self.explain(&error.to_string()))?;
        self.producer.context().connection.lock().clear();
        let known: std::collections::BTreeSet<&str> =
            metadata.topics().iter().map(|topic| topic.name()).collect();
        let missing = topics
            .iter()
            .filter(|topic| !known.contains(*topic))
            .map(|topic| (*topic).to_owned())
            .collect();
        let brokers = metadata
            .brokers()
            .iter()
            .map(|broker| broker.id())
            .collect();
        Ok((brokers, missing))
    }

    /// Asks the cluster for its metadata: the health probe behind `/readyz`. A failure is named
    /// from the connection errors librdkafka reported (a refused login, an untrusted certificate),
    /// which the metadata call itself does not carry.
    pub fn probe(&self, timeout: Duration) -> Result<usize, KafkaProblem> {
        match self.producer.client().fetch_metadata(None, timeout) {
            Ok(metadata) => {
                // the cluster answers: an earlier connection error no longer explains anything
                self.producer.context().connection.lock().clear();
                Ok(metadata.brokers().len())
            }
            Err(error) => Err(self.explain(&error.to_string())),
        }
    }

    /// The idempotent producer's state, when statistics are on (`statistics.interval.ms`):
    /// "Assigned" once the brokers granted a producer id.
    pub fn idempotence_state(&self) -> Option<String> {
        self.producer.context().idempotence.lock().clone()
    }

    fn explain(&self, error: &str) -> KafkaProblem {
        self.producer
            .context()
            .connection
            .lock()
            .explain(error, &self.login)
    }
}

/// An open transaction; it ends with `commit` or `abort` (dropped open, it is aborted).
pub struct Transaction {
    publisher: Arc<Publisher>,
    turn: Option<OwnedMutexGuard<()>>,
    timeout: Duration,
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TransactionFailure {
    /// The transaction was aborted (its records are invisible to read_committed consumers); the
    /// work can be done again in a new one.
    Aborted(String),
    /// The producer cannot go on (fenced by a newer instance, or broken): the process stops.
    Fatal(KafkaError),
}

impl Transaction {
    /// Commits: flushes every record, then ends the transaction. A retriable failure is retried
    /// within the transaction timeout; one that needs an abort is aborted.
    pub async fn commit(mut self) -> Result<(), TransactionFailure> {
        let publisher = self.publisher.clone();
        let timeout = self.timeout;
        publisher.settle(timeout).await;
        let turn = self.turn.take();
        let outcome = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + timeout;
            let outcome = loop {
                match publisher.producer.commit_transaction(timeout) {
                    Ok(()) => break Ok(()),
                    Err(RdKafkaError::Transaction(error))
                        if error.is_retriable() && std::time::Instant::now() < deadline =>
                    {
                        tracing::warn!(%error, "kafka transaction commit failed, retrying");
                    }
                    Err(RdKafkaError::Transaction(error)) if error.is_fatal() => {
                        break Err(TransactionFailure::Fatal(fatal(
                            &publisher,
                            &error.to_string(),
                        )));
                    }
                    Err(error) => {
                        let reason = format!("commit failed: {error}");
                        break match abort_blocking(&publisher, timeout) {
                            Ok(()) => Err(TransactionFailure::Aborted(reason)),
                            Err(fatal) => Err(TransactionFailure::Fatal(fatal)),
                        };
                    }
                }
            };
            drop(turn);
            outcome
        })
        .await;
        outcome.unwrap_or_else(|error| {
            Err(TransactionFailure::Fatal(KafkaError::Fatal(format!(
                "the transaction commit task failed: {error}"
            ))))
        })
    }

    /// Aborts: nothing sent in the transaction becomes visible to read_committed consumers.
    pub async fn abort(mut self) -> Result<(), KafkaError> {
        let publisher = self.publisher.clone();
        let timeout = self.timeout;
        let turn = self.turn.take();
        tokio::task::spawn_blocking(move || {
            let outcome = abort_blocking(&publisher, timeout);
            drop(turn);
            outcome
        })
        .await
        .unwrap_or_else(|error| {
            Err(KafkaError::Fatal(format!(
                "the transaction abort task failed: {error}"
            )))
        })
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // an open transaction is never left behind: abort it off the async threads, and keep the
        // turn until that is done
        if let Some(turn) = self.turn.take() {
            let publisher = self.publisher.clone();
            let timeout = self.timeout;
            let abort = move || {
                if let Err(error) = abort_blocking(&publisher, timeout) {
                    tracing::error!(%error, "kafka transaction abort failed");
                }
                drop(turn);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(abort);
                }
                Err(_) => abort(),
            }
        }
    }
}

/// Aborts, retrying for as long as the failure is retriable (Kafka unreachable): a long outage
/// stalls the stream here instead of failing it; a shutdown leaves the transaction to time out on
/// the broker, which aborts it.
fn abort_blocking(publisher: &Publisher, timeout: Duration) -> Result<(), KafkaError> {
    loop {
        match publisher.producer.abort_transaction(timeout) {
            Ok(()) => return Ok(()),
            Err(RdKafkaError::Transaction(error)) if error.is_retriable() => {
                tracing::warn!(%error, "kafka transaction abort failed, retrying");
            }
            Err(error) => return Err(fatal(publisher, &format!("abort failed: {error}"))),
        }
    }
}

/// Records a fatal producer error (the first one wins) and returns it.
fn fatal(publisher: &Publisher, detail: &str) -> KafkaError {
    let mut fatal = publisher.producer.context().fatal.lock();
    let detail = fatal.get_or_insert_with(|| explain_fatal(detail)).clone();
    KafkaError::Fatal(detail)
}

/// A fatal producer error with what it most likely means.
pub(super) fn explain_fatal(detail: &str) -> String {
    let lowered = detail.to_ascii_lowercase();
    if lowered.contains("cluster authorization failed") {
        format!("{detail}; fix: grant the principal IDEMPOTENT_WRITE on the cluster")
    } else if lowered.contains("transactional id authorization failed") {
        format!(
            "{detail}; fix: grant the principal WRITE and DESCRIBE on transactional id entrastream-{{kafka.instance_id}}"
        )
    } else if lowered.contains("fenced") || lowered.contains("producer_fenced") {
        format!(
            "{detail}: another instance with the same kafka.instance_id started and took over its transactional.id; \
             this one stops. If both should run, give each its own kafka.instance_id"
        )
    } else {
        detail.to_owned()
    }
}

fn transaction_error(error: &RdKafkaError, action: &str) -> KafkaError {
    match error {
        RdKafkaError::Transaction(inner) if inner.is_fatal() => KafkaError::Fatal(explain_fatal(
            &format!("transaction {action} failed: {inner}"),
        )),
        other => KafkaError::Rejected(format!("transaction {action} failed: {other}")),
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

#[cfg(test)]
mod tests {
    use super::DEFAULTS;

    /// The config's check of checkpoint sizes against the queue reads the same default.
    #[test]
    fn the_default_queue_size_is_the_one_the_config_checks_against() {
        let kbytes = DEFAULTS
            .iter()
            .find(|(key, _)| *key == "queue.buffering.max.kbytes")
            .map(|(_, value)| value.parse::<u64>().expect("a number"));
        assert_eq!(kbytes, Some(crate::config::DEFAULT_QUEUE_KBYTES));
    }

    /// The config's check of kafka.max_record_bytes reads the same default.
    #[test]
    fn the_default_message_size_is_the_one_the_config_checks_against() {
        let bytes = DEFAULTS
            .iter()
            .find(|(key, _)| *key == "message.max.bytes")
            .map(|(_, value)| value.parse::<u64>().expect("a number"));
        assert_eq!(bytes, Some(crate::config::DEFAULT_MESSAGE_MAX_BYTES));
    }
}
