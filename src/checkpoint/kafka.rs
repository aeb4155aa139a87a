//! Cursors in a compacted Kafka topic: no volume needed, and (exactly_once) committed in the same
//! transaction as the records they cover.
//!
//! Records of the topic, all with JSON values:
//! - `cursor/{instance_id}/{tenant}/{stream}`: the checkpoint document (as the file store writes);
//! - `cursor-delta/{instance_id}/{tenant}/{stream}/{n}`: the deltas committed after it, numbered
//!   from 1 and naming it by its `sha256` (as the lines of the file store's journal); a whole
//!   cursor written again is followed by tombstones for them;
//! - `lease/{instance_id}` (partition 0): the instance that currently writes, by a generation
//!   drawn at start-up; a newer lease tells the running instance to stop;
//! - `release/{instance_id}/{generation}` (partition 0): that generation has stopped and
//!   committed; its successor may read the cursors.
//!
//! At start-up the topic is created compacted when absent and checked when present, then read to
//! its end with `isolation.level=read_committed`. A store that cannot be read stops the service
//! with a message that says why: it never falls back to "start from now".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{
    CheckpointError, CheckpointRecord, CheckpointStore, CommitFuture, CursorCommit, document,
};
use crate::config::{CheckpointConfig, KafkaConfig, TenantId};
use crate::graph::cursor::{Cursor, CursorDelta};
use crate::kafka::{
    BatchTracker, KafkaError, OutgoingRecord, Publisher, TransactionFailure, client_config, headers,
};
use crate::stream::StreamKind;

const LEASE_FORMAT: &str = "entrastream-lease/1";
/// Leases and releases live in one partition, so that they are read in the order written.
const LEASE_PARTITION: i32 = 0;

/// The instance's claim on its checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub format: String,
    pub instance_id: String,
    pub generation: String,
    pub host: String,
    /// Wall-clock time of the claim, RFC 3339.
    pub claimed_at: String,
}

/// A newer instance with the same `kafka.instance_id` claimed the checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakeOver {
    pub instance_id: String,
    pub host: String,
    pub claimed_at: String,
}

impl std::fmt::Display for TakeOver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "another instance with kafka.instance_id {} (host {}, started {}) took over the checkpoints; this one \
             stopped so that only one writes. If both should run, give each its own kafka.instance_id",
            self.instance_id, self.host, self.claimed_at
        )
    }
}

pub struct KafkaStore {
    topic: String,
    instance_id: String,
    max_record_bytes: usize,
    publisher: Arc<Publisher>,
    client: ClientConfig,
    /// Records of the topic as read at start-up, by key.
    loaded: Mutex<HashMap<String, Vec<u8>>>,
    /// Per cursor key, the journal this process last wrote or read.
    journals: Arc<Mutex<HashMap<String, Journal>>>,
    lease: Lease,
    /// Where the lease partition stood before this instance claimed it.
    lease_watch_from: i64,
}

pub(super) fn cursor_key(instance_id: &str, tenant: &TenantId, stream: StreamKind) -> String {
    format!("cursor/{instance_id}/{tenant}/{stream}")
}

pub(super) fn lease_key(instance_id: &str) -> String {
    format!("lease/{instance_id}")
}

pub(super) fn release_key(instance_id: &str, generation: &str) -> String {
    format!("release/{instance_id}/{generation}")
}

fn new_generation() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // the time and the process id are unique enough to tell two starts apart
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        bytes = (nanos ^ u128::from(std::process::id())).to_be_bytes();
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(super) fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(super) fn unusable(detail: impl Into<String>) -> CheckpointError {
    CheckpointError::Unusable(detail.into())
}

impl KafkaStore {
    /// Prepares the topic, reads every checkpoint, claims the lease and, when a previous instance
    /// may still be running, waits (up to `checkpoint.takeover_wait`) for it to hand over.
    pub async fn open(
        kafka: &KafkaConfig,
        checkpoint: &CheckpointConfig,
        publisher: Arc<Publisher>,
    ) -> Result<KafkaStore, CheckpointError> {
        match Self::open_with(kafka, checkpoint, publisher, false).await? {
            Ok(store) => Ok(store),
            // not asked to refuse: open_with waits for the handover instead
            Err(lease) => Err(unusable(format!(
                "the lease of {} is held",
                lease.instance_id
            ))),
        }
    }

    /// As [`open`](KafkaStore::open), for a change made while no instance runs (`entrastream
    /// checkpoints rewind|reset`): when the lease is held (an instance runs, or was killed before
    /// it released it), the holder's lease instead of a store, and nothing written.
    pub async fn open_unless_held(
        kafka: &KafkaConfig,
        checkpoint: &CheckpointConfig,
        publisher: Arc<Publisher>,
    ) -> Result<Result<KafkaStore, Lease>, CheckpointError> {
        Self::open_with(kafka, checkpoint, publisher, true).await
    }

    async fn open_with(
        kafka: &KafkaConfig,
        checkpoint: &CheckpointConfig,
        publisher: Arc<Publisher>,
        refuse_held: bool,
    ) -> Result<Result<KafkaStore, Lease>, CheckpointError> {
        let client = client_config(kafka).map_err(unusable)?;
        let deadline = Instant::now() + checkpoint.load_timeout;
        let topic = checkpoint.topic.clone();
        let partitions = prepare_topic(&client, checkpoint, deadline).await?;
        let loaded = {
            let client = client.clone();
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || read_all(&client, &topic, partitions, deadline))
                .await
                .map_err(|error| unusable(format!("reading checkpoints failed: {error}")))??
        };
        let instance_id = kafka.instance_id.clone();
        let previous: Option<Lease> = loaded
            .get(&lease_key(&instance_id))
            .and_then(|value| serde_json::from_slice(value).ok());
        if refuse_held
            && let Some(held) = &previous
            && !loaded.contains_key(&release_key(&instance_id, &held.generation))
        {
            return Ok(Err(held.clone()));
        }
        let lease = Lease {
            format: LEASE_FORMAT.to_owned(),
            instance_id: instance_id.clone(),
            generation: new_generation(),
            host: host_name(),
            claimed_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        };
        let lease_watch_from = {
            let client = client.clone();
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || lease_partition_end(&client, &topic, deadline))
                .await
                .map_err(|error| unusable(format!("reading checkpoints failed: {error}")))??
        };
        let mut store = KafkaStore {
            topic,
            instance_id,
            max_record_bytes: checkpoint.max_record_bytes as usize,
            publisher,
            client,
            loaded: Mutex::new(loaded),
            journals: Arc::default(),
            lease,
            lease_watch_from,
        };
        let lease_bytes = serde_json::to_vec(&store.lease)
            .map_err(|error| unusable(format!("cannot encode the lease: {error}")))?;
        store
            .write_control(&lease_key(&store.instance_id), &lease_bytes)
            .await?;
        tracing::info!(
            topic = store.topic.as_str(),
            instance_id = store.instance_id.as_str(),
            generation = store.lease.generation.as_str(),
            checkpoints = store.checkpoint_count(),
            "checkpoints loaded from kafka, lease claimed"
        );
        if let Some(previous) = previous {
            let released = store
                .loaded
                .lock()
                .contains_key(&release_key(&store.instance_id, &previous.generation));
            if !released {
                store
                    .await_handover(&previous, checkpoint.takeover_wait)
                    .await?;
            }
        }
        Ok(Ok(store))
    }

    /// The first step of `open` alone: creates the topic, compacted, when it is absent (and
    /// `checkpoint.create_topic` allows it), verifies it when present; returns its partition count.
    pub async fn prepare_topic(
        kafka: &KafkaConfig,
        checkpoint: &CheckpointConfig,
    ) -> Result<usize, CheckpointError> {
        let deadline = Instant::now() + checkpoint.load_timeout;
        prepare_topic(
            &client_config(kafka).map_err(unusable)?,
            checkpoint,
            deadline,
        )
        .await
    }

    /// The number of cursors read at start-up.
    pub fn checkpoint_count(&self) -> usize {
        let prefix = format!("cursor/{}/", self.instance_id);
        self.loaded
            .lock()
            .keys()
            .filter(|key| key.starts_with(&prefix))
            .count()
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The whole cursor another instance id (a live instance, for `backfill`) committed last, as
    /// read at start-up, without its deltas and without touching its lease: the origin is exact
    /// (no delta moves it), the watermark may be behind.
    pub fn whole_cursor_of(
        &self,
        instance_id: &str,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        let key = cursor_key(instance_id, tenant, stream);
        let loaded = self.loaded.lock();
        let Some(value) = loaded.get(&key) else {
            return Ok(None);
        };
        let location = format!("{} key {key}", self.topic);
        document::decode_with_digest(value, tenant, stream, &location)
            .map(|decoded| Some(decoded.cursor))
    }

    /// Waits for the previous generation's release, then reads the checkpoints again: they may
    /// have moved while it stopped.
    async fn await_handover(
        &mut self,
        previous: &Lease,
        wait: Duration,
    ) -> Result<(), CheckpointError> {
        tracing::info!(
            previous_generation = previous.generation.as_str(),
            previous_host = previous.host.as_str(),
            wait = %humantime::format_duration(wait),
            "a previous instance may still be running; waiting for it to hand over"
        );
        let released = {
            let client = self.client.clone();
            let topic = self.topic.clone();
            let key = release_key(&self.instance_id, &previous.generation);
            let from = self.lease_watch_from;
            tokio::task::spawn_blocking(move || {
                wait_for_key(&client, &topic, from, &key, Instant::now() + wait)
            })
            .await
            .map_err(|error| unusable(format!("waiting for the handover failed: {error}")))??
        };
        if released {
            tracing::info!(
                previous_generation = previous.generation.as_str(),
                "the previous instance handed over"
            );
        } else {
            tracing::warn!(
                previous_generation = previous.generation.as_str(),
                previous_host = previous.host.as_str(),
                "the previous instance did not hand over in time (it crashed or cannot reach Kafka); going on: \
                 what it published after its last checkpoint is published again"
            );
        }
        let client = self.client.clone();
        let topic = self.topic.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        let loaded = tokio::task::spawn_blocking(move || {
            let partitions = partition_count(&client, &topic, deadline)?;
            read_all(&client, &topic, partitions, deadline)
        })
        .await
        .map_err(|error| unusable(format!("reading checkpoints failed: {error}")))??;
        *self.loaded.lock() = loaded;
        Ok(())
    }

    /// Writes a lease or a release and waits for Kafka's acknowledgement; an aborted transaction
    /// or a failed delivery is tried again for up to 30 seconds.
    async fn write_control(&self, key: &str, value: &[u8]) -> Result<(), CheckpointError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (detail, retry) = match self.write_control_once(key, value).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            if !retry || Instant::now() >= deadline {
                return Err(unusable(format!(
                    "cannot write {key} to checkpoint topic {} ({detail}); check that Kafka is reachable and that \
                     the principal may WRITE to the topic",
                    self.topic
                )));
            }
            tracing::warn!(
                key,
                detail = detail.as_str(),
                "writing to the checkpoint topic failed, retrying"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One attempt; the error says whether another may succeed.
    async fn write_control_once(&self, key: &str, value: &[u8]) -> Result<(), (String, bool)> {
        let kafka_failure = |error: KafkaError| {
            let retry = !error.is_fatal();
            (error.to_string(), retry)
        };
        if !self.publisher.is_transactional() {
            return self
                .send(key, value, Some(LEASE_PARTITION))
                .await
                .map_err(kafka_failure);
        }
        let transaction = self.publisher.begin().await.map_err(kafka_failure)?;
        match self.send(key, value, Some(LEASE_PARTITION)).await {
            Ok(()) => transaction.commit().await.map_err(|failure| match failure {
                TransactionFailure::Aborted(reason) => (reason, true),
                TransactionFailure::Fatal(error) => (error.to_string(), false),
            }),
            Err(error) => {
                let failure = kafka_failure(error);
                match transaction.abort().await {
                    Ok(()) => Err(failure),
                    Err(fatal) => Err((fatal.to_string(), false)),
                }
            }
        }
    }

    async fn send(
        &self,
        key: &str,
        value: &[u8],
        partition: Option<i32>,
    ) -> Result<(), KafkaError> {
        let tracker = BatchTracker::new();
        self.publisher
            .send(
                &tracker,
                OutgoingRecord {
                    topic: &self.topic,
                    partition,
                    key: key.as_bytes(),
                    payload: Some(value),
                    headers: headers(&[("instance_id", &self.instance_id)]),
                    timestamp: None,
                },
            )
            .await?;
        tracker.wait().await
    }

    /// Says that this generation stopped and committed what it delivered: a successor need not
    /// wait. Best effort: a successor that does not see it waits `checkpoint.takeover_wait`.
    pub async fn release(&self) {
        let key = release_key(&self.instance_id, &self.lease.generation);
        let value = serde_json::to_vec(&self.lease).unwrap_or_default();
        match tokio::time::timeout(Duration::from_secs(10), self.write_control(&key, &value)).await
        {
            Ok(Ok(())) => tracing::info!(
                generation = self.lease.generation.as_str(),
                "checkpoint lease released"
            ),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot release the checkpoint lease")
            }
            Err(_) => tracing::warn!("cannot release the checkpoint lease within 10s"),
        }
    }

    /// Removes the stream's cursor and its deltas (tombstones, the cursor's first: deltas left
    /// without it are refused at loading, never applied to a fresh start); whether there was one.
    pub async fn remove(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<bool, CheckpointError> {
        let key = cursor_key(&self.instance_id, tenant, stream);
        let prefix = delta_prefix(&self.instance_id, tenant, stream);
        let (present, last_delta) = {
            let loaded = self.loaded.lock();
            let last_delta = loaded
                .keys()
                .filter_map(|name| name.strip_prefix(&prefix)?.parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            (loaded.contains_key(&key), last_delta)
        };
        let written = self
            .journals
            .lock()
            .get(&key)
            .map_or(0, |journal| journal.written)
            .max(last_delta);
        if !present && written == 0 {
            return Ok(false);
        }
        let store = self.describe();
        deliver(
            &self.publisher,
            &self.instance_id,
            &store,
            &self.topic,
            &[(key.clone(), None)],
        )
        .await?;
        let tombstones: Vec<(String, Option<Vec<u8>>)> = (1..=written)
            .map(|number| (format!("{prefix}{number}"), None))
            .collect();
        if !tombstones.is_empty() {
            deliver(
                &self.publisher,
                &self.instance_id,
                &store,
                &self.topic,
                &tombstones,
            )
            .await?;
        }
        {
            let mut loaded = self.loaded.lock();
            loaded.remove(&key);
            loaded.retain(|name, _| !name.starts_with(&prefix));
        }
        self.journals.lock().remove(&key);
        Ok(true)
    }

    /// Resolves when a newer instance with the same id claims the lease, or with `None` when
    /// `stop` turns true.
    pub async fn watch_lease(&self, stop: watch::Receiver<bool>) -> Option<TakeOver> {
        let client = self.client.clone();
        let topic = self.topic.clone();
        let key = lease_key(&self.instance_id);
        let ours = self.lease.generation.clone();
        let from = self.lease_watch_from;
        tokio::task::spawn_blocking(move || {
            watch_blocking(&client, &topic, from, &key, &ours, &stop)
        })
        .await
        .ok()
        .flatten()
    }
}

/// A stream's journal in the topic: deltas keyed `cursor-delta/{instance_id}/{tenant}/{stream}/{n}`,
/// n counting from 1 after each whole cursor, each naming that cursor by its `sha256`.
#[derive(Clone)]
pub(super) struct Journal {
    /// The `sha256` of the whole cursor the deltas follow.
    base: String,
    /// The number of the next delta.
    next: u64,
    /// The highest number that may still hold a record (deltas of an earlier cursor included).
    written: u64,
}

pub(super) fn delta_prefix(instance_id: &str, tenant: &TenantId, stream: StreamKind) -> String {
    format!("cursor-delta/{instance_id}/{tenant}/{stream}/")
}

impl KafkaStore {
    /// The whole cursor's record and its `sha256`.
    fn whole_record(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<(CheckpointRecord, String), CheckpointError> {
        let key = cursor_key(&self.instance_id, tenant, stream);
        let location = format!("{} key {key}", self.topic);
        let (value, sha256) =
            document::encode_with_digest(tenant, stream, cursor, false, false, &location)?;
        if value.len() > self.max_record_bytes {
            return Err(CheckpointError::Refused(format!(
                "the cursor of tenant {tenant} stream {stream} is {} bytes, above checkpoint.max_record_bytes ({}): it \
                 holds {} ids published within polling.lateness. Lower polling.lateness, or raise \
                 checkpoint.max_record_bytes and the topic's max.message.bytes",
                value.len(),
                self.max_record_bytes,
                cursor.seen.len()
            )));
        }
        Ok((
            CheckpointRecord {
                topic: self.topic.clone(),
                key,
                value,
            },
            sha256,
        ))
    }

    /// A delta's record, numbered after the stream's last one.
    fn delta_record(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        delta: &CursorDelta,
    ) -> Result<(CheckpointRecord, u64), CheckpointError> {
        let cursor_key = cursor_key(&self.instance_id, tenant, stream);
        let Some(journal) = self.journals.lock().get(&cursor_key).cloned() else {
            return Err(CheckpointError::Unusable(format!(
                "checkpoint {} key {cursor_key}: a delta was offered before a whole cursor was written or read",
                self.topic
            )));
        };
        let key = format!(
            "{}{}",
            delta_prefix(&self.instance_id, tenant, stream),
            journal.next
        );
        let location = format!("{} key {key}", self.topic);
        let value = document::encode_delta(tenant, stream, &journal.base, delta, &location)?;
        if value.len() > self.max_record_bytes {
            return Err(CheckpointError::Refused(format!(
                "a checkpoint delta of tenant {tenant} stream {stream} is {} bytes, above \
                 checkpoint.max_record_bytes ({}): it holds the {} ids published in one window. Lower \
                 polling.max_window, or raise checkpoint.max_record_bytes and the topic's max.message.bytes",
                value.len(),
                self.max_record_bytes,
                delta.added.len()
            )));
        }
        Ok((
            CheckpointRecord {
                topic: self.topic.clone(),
                key,
                value,
            },
            journal.next,
        ))
    }
}

/// Sends `records` (a `None` value: a tombstone) and waits for every acknowledgement.
async fn deliver(
    publisher: &Publisher,
    instance_id: &str,
    store: &str,
    topic: &str,
    records: &[(String, Option<Vec<u8>>)],
) -> Result<(), CheckpointError> {
    let tracker = BatchTracker::new();
    let mut outcome = Ok(());
    for (key, value) in records {
        outcome = publisher
            .send(
                &tracker,
                OutgoingRecord {
                    topic,
                    partition: None,
                    key: key.as_bytes(),
                    payload: value.as_deref(),
                    headers: headers(&[("instance_id", instance_id)]),
                    timestamp: None,
                },
            )
            .await;
        if outcome.is_err() {
            break;
        }
    }
    let outcome = match outcome {
        Ok(()) => tracker.wait().await,
        Err(error) => Err(error),
    };
    let first_key = records.first().map_or("", |(key, _)| key.as_str());
    outcome.map_err(|error| match error {
        KafkaError::DeliveryFailed {
            refusal: Some(fix),
            first_error,
            ..
        } => CheckpointError::Refused(format!(
            "Kafka refused checkpoint {first_key} ({first_error}); fix: {fix}"
        )),
        KafkaError::Fatal(detail) | KafkaError::Setup(detail) => {
            CheckpointError::Refused(format!("the Kafka producer cannot go on: {detail}"))
        }
        other => CheckpointError::Unavailable {
            store: store.to_owned(),
            detail: other.to_string(),
        },
    })
}

/// The stream's whole cursor in `loaded`, with the deltas that follow it applied in order, and
/// the journal commits continue; see [`KafkaStore::load`].
pub(super) fn load_from(
    loaded: &HashMap<String, Vec<u8>>,
    topic: &str,
    instance_id: &str,
    tenant: &TenantId,
    stream: StreamKind,
) -> Result<Option<(Cursor, Journal)>, CheckpointError> {
    let key = cursor_key(instance_id, tenant, stream);
    let prefix = delta_prefix(instance_id, tenant, stream);
    let deltas: std::collections::BTreeMap<u64, &Vec<u8>> = loaded
        .iter()
        .filter_map(|(name, value)| {
            let number = name.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((number, value))
        })
        .collect();
    let written = deltas.keys().next_back().copied().unwrap_or(0);
    let Some(value) = loaded.get(&key) else {
        if written > 0 {
            return Err(CheckpointError::Corrupt {
                location: format!("{topic} key {key}"),
                detail: format!(
                    "it is missing while deltas that follow it exist ({} under {prefix})",
                    deltas.len()
                ),
            });
        }
        return Ok(None);
    };
    let location = format!("{topic} key {key}");
    let document::Decoded {
        mut cursor, sha256, ..
    } = document::decode_with_digest(value, tenant, stream, &location)?;
    let mut next = 1;
    let mut earlier = 0;
    for (number, value) in deltas {
        let location = format!("{topic} key {prefix}{number}");
        let (base, delta) = document::decode_delta(value, tenant, stream, &location)?;
        if base != sha256 {
            earlier += 1;
            continue;
        }
        if number != next || earlier > 0 {
            return Err(CheckpointError::Corrupt {
                location,
                detail: format!(
                    "delta {number} follows the cursor but delta {next} does not (a gap in the journal)"
                ),
            });
        }
        cursor.apply(&delta);
        next += 1;
    }
    if earlier > 0 {
        tracing::info!(
            topic,
            key = key.as_str(),
            ignored = earlier,
            "checkpoint deltas of an earlier cursor ignored (their tombstones were not written)"
        );
    }
    Ok(Some((
        cursor,
        Journal {
            base: sha256,
            next,
            written,
        },
    )))
}

impl CheckpointStore for KafkaStore {
    /// The whole cursor, with the deltas that follow it applied in order. Deltas of an earlier
    /// whole cursor (left by a crash before their tombstones were written) are ignored; a damaged
    /// delta, one missing between two others, or deltas without their cursor stop the stream.
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        let key = cursor_key(&self.instance_id, tenant, stream);
        let loaded = load_from(
            &self.loaded.lock(),
            &self.topic,
            &self.instance_id,
            tenant,
            stream,
        )?;
        Ok(loaded.map(|(cursor, journal)| {
            self.journals.lock().insert(key, journal);
            cursor
        }))
    }

    /// A whole cursor replaces the record of its key, then tombstones remove the deltas it makes
    /// obsolete (their loss leaves only records a load ignores); a delta is the next numbered key.
    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture {
        let cursor_key = cursor_key(&self.instance_id, tenant, stream);
        let prefix = delta_prefix(&self.instance_id, tenant, stream);
        let prepared = match &commit {
            CursorCommit::Full(cursor) => self
                .whole_record(tenant, stream, cursor)
                .map(|(record, sha256)| (record, Some(sha256), 0)),
            CursorCommit::Delta(delta) => self
                .delta_record(tenant, stream, delta)
                .map(|(record, number)| (record, None, number)),
        };
        let written = self
            .journals
            .lock()
            .get(&cursor_key)
            .map_or(0, |journal| journal.written);
        let publisher = self.publisher.clone();
        let journals = self.journals.clone();
        let instance_id = self.instance_id.clone();
        let store = self.describe();
        Box::pin(async move {
            let (record, whole, number) = prepared?;
            deliver(
                &publisher,
                &instance_id,
                &store,
                &record.topic,
                &[(record.key.clone(), Some(record.value))],
            )
            .await?;
            match whole {
                Some(sha256) => {
                    let tombstones: Vec<(String, Option<Vec<u8>>)> = (1..=written)
                        .map(|number| (format!("{prefix}{number}"), None))
                        .collect();
                    let removed = tombstones.is_empty()
                        || deliver(&publisher, &instance_id, &store, &record.topic, &tombstones)
                            .await
                            .map_err(|error| {
                                tracing::warn!(
                                    %error,
                                    key = cursor_key.as_str(),
                                    "tombstones of obsolete checkpoint deltas not written; a later whole cursor tries again"
                                );
                            })
                            .is_ok();
                    journals.lock().insert(
                        cursor_key,
                        Journal {
                            base: sha256,
                            next: 1,
                            written: if removed { 0 } else { written },
                        },
                    );
                }
                None => {
                    if let Some(journal) = journals.lock().get_mut(&cursor_key) {
                        journal.next = number + 1;
                        journal.written = journal.written.max(number);
                    }
                }
            }
            Ok(())
        })
    }

    fn incremental(&self) -> bool {
        true
    }

    fn transactional_record(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<CheckpointRecord, CheckpointError> {
        self.whole_record(tenant, stream, cursor)
            .map(|(record, _)| record)
    }

    fn describe(&self) -> String {
        format!("kafka store (topic {})", self.topic)
    }
}

/// The checkpoint reader's callbacks: reaching the end of a partition is how a read ends, not an
/// error worth a log line.
pub(super) struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::trace!(%error, reason, "checkpoint reader reached the end of a partition");
        } else if error.rdkafka_error_code() == Some(RDKafkaErrorCode::GroupAuthorizationFailed) {
            // librdkafka looks up the coordinator of the reader's group.id although the reader
            // assigns its partitions and commits nothing: a principal without rights on that
            // group reads the topic all the same (shown against Apache Kafka in tests/real_kafka.rs)
            tracing::debug!(%error, reason, "checkpoint reader has no consumer group, and needs none");
        } else {
            tracing::warn!(%error, reason, "kafka checkpoint reader error");
        }
    }
}

impl ConsumerContext for ReaderContext {}

pub(super) type Reader = BaseConsumer<ReaderContext>;

pub(super) fn metadata_client(client: &ClientConfig) -> Result<Reader, CheckpointError> {
    let mut config = client.clone();
    config
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("group.id", "entrastream-checkpoint-reader");
    config.create_with_context(ReaderContext).map_err(|error| {
        unusable(format!(
            "cannot create the Kafka consumer of the checkpoint store: {error}; check kafka.librdkafka"
        ))
    })
}

fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}

/// The topic's partition count, or `None` when the topic does not exist.
pub(super) fn topic_partitions(
    consumer: &Reader,
    topic: &str,
    deadline: Instant,
) -> Result<Option<usize>, CheckpointError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), remaining(deadline))
        .map_err(|error| {
            unusable(format!(
                "cannot read checkpoint topic {topic}: Kafka did not answer ({error}). The service does not start \
                 without its checkpoints (it never falls back to starting from now): check \
                 kafka.bootstrap_servers, the brokers and kafka.librdkafka's security settings"
            ))
        })?;
    let Some(found) = metadata.topics().iter().find(|found| found.name() == topic) else {
        return Ok(None);
    };
    match found.error() {
        None => Ok(Some(found.partitions().len())),
        Some(error) => match RDKafkaErrorCode::from(error) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => Ok(None),
            RDKafkaErrorCode::TopicAuthorizationFailed => Err(unusable(format!(
                "Kafka refuses access to checkpoint topic {topic}: grant the principal READ, WRITE and DESCRIBE on it"
            ))),
            other => Err(unusable(format!(
                "cannot read checkpoint topic {topic}: {other}"
            ))),
        },
    }
}

fn partition_count(
    client: &ClientConfig,
    topic: &str,
    deadline: Instant,
) -> Result<usize, CheckpointError> {
    let consumer = metadata_client(client)?;
    topic_partitions(&consumer, topic, deadline)?
        .ok_or_else(|| unusable(format!("checkpoint topic {topic} disappeared")))
}

/// Creates the topic when absent (and allowed), checks it when present; returns its partitions.
async fn prepare_topic(
    client: &ClientConfig,
    checkpoint: &CheckpointConfig,
    deadline: Instant,
) -> Result<usize, CheckpointError> {
    let topic = checkpoint.topic.clone();
    let existing = {
        let client = client.clone();
        let topic = topic.clone();
        tokio::task::spawn_blocking(move || {
            topic_partitions(&metadata_client(&client)?, &topic, deadline)
        })
        .await
        .map_err(|error| unusable(format!("reading checkpoints failed: {error}")))??
    };
    let admin: AdminClient<DefaultClientContext> = client.create().map_err(|error| {
        unusable(format!(
            "cannot create the Kafka admin client of the checkpoint store: {error}"
        ))
    })?;
    let options = AdminOptions::new().request_timeout(Some(remaining(deadline)));
    let max_bytes = checkpoint.max_record_bytes.to_string();
    let create_command = format!(
        "kafka-topics.sh --create --topic {topic} --partitions {} --config cleanup.policy=compact --config \
         max.message.bytes={max_bytes}",
        checkpoint.topic_partitions
    );
    match existing {
        Some(partitions) => {
            if checkpoint.verify_topic {
                verify_topic(&admin, &options, &topic).await?;
            }
            Ok(partitions)
        }
        None if !checkpoint.create_topic => Err(unusable(format!(
            "checkpoint topic {topic} does not exist; create it compacted ({create_command}), or set \
             checkpoint.create_topic: true"
        ))),
        None => {
            let replication = checkpoint.replication_factor.map_or(-1, i32::from);
            let new_topic = NewTopic::new(
                &topic,
                checkpoint.topic_partitions,
                TopicReplication::Fixed(replication),
            )
            .set("cleanup.policy", "compact")
            .set("max.message.bytes", &max_bytes);
            let results = admin
                .create_topics([&new_topic], &options)
                .await
                .map_err(|error| {
                    unusable(format!(
                        "cannot create checkpoint topic {topic} ({error}); create it yourself ({create_command}) \
                         or grant the principal CREATE on the cluster"
                    ))
                })?;
            for result in results {
                match result {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => {
                        return Err(unusable(format!(
                            "Kafka refused to create checkpoint topic {topic} ({code}); create it yourself \
                             ({create_command}) or grant the principal CREATE on the cluster"
                        )));
                    }
                }
            }
            tracing::info!(
                topic = topic.as_str(),
                partitions = checkpoint.topic_partitions,
                "checkpoint topic created, compacted"
            );
            // the new topic reaches every broker's metadata after a moment
            let client = client.clone();
            tokio::task::spawn_blocking(move || {
                let consumer = metadata_client(&client)?;
                loop {
                    if let Some(partitions) = topic_partitions(&consumer, &topic, deadline)? {
                        return Ok(partitions);
                    }
                    if Instant::now() >= deadline {
                        return Err(unusable(format!(
                            "checkpoint topic {topic} was created but does not appear in the cluster's metadata"
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .await
            .map_err(|error| unusable(format!("reading checkpoints failed: {error}")))?
        }
    }
}

/// A checkpoint topic must be compacted: with `delete` alone, Kafka drops cursors after
/// `retention.ms`, and streams start over.
async fn verify_topic(
    admin: &AdminClient<DefaultClientContext>,
    options: &AdminOptions,
    topic: &str,
) -> Result<(), CheckpointError> {
    let cannot_verify = |detail: String| {
        unusable(format!(
            "cannot verify that checkpoint topic {topic} is compacted ({detail}); grant the principal \
             DESCRIBE_CONFIGS on the topic, or set checkpoint.verify_topic: false if you manage the topic yourself"
        ))
    };
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], options)
        .await
        .map_err(|error| cannot_verify(error.to_string()))?;
    let resource = results
        .into_iter()
        .next()
        .ok_or_else(|| cannot_verify("no answer".to_owned()))?
        .map_err(|code| cannot_verify(code.to_string()))?;
    // librdkafka reports a refused resource as one without entries
    let policy = resource
        .get("cleanup.policy")
        .and_then(|entry| entry.value.clone())
        .ok_or_else(|| {
            cannot_verify(
                "the broker did not report its cleanup.policy, which it does when the principal may not \
                 describe the topic"
                    .to_owned(),
            )
        })?;
    let policies: Vec<&str> = policy.split(',').map(str::trim).collect();
    if !policies.contains(&"compact") {
        return Err(unusable(format!(
            "checkpoint topic {topic} has cleanup.policy={policy}: Kafka would delete cursors after retention.ms and \
             streams would start over (duplicates, or gaps beyond Graph's retention). Make it compacted: \
             kafka-configs.sh --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact"
        )));
    }
    if policies.contains(&"delete") {
        tracing::warn!(
            topic,
            policy = policy.as_str(),
            "the checkpoint topic also deletes by retention: a stream that does not commit within retention.ms \
             (a blocked tenant) loses its cursor; prefer cleanup.policy=compact"
        );
    }
    let max_bytes = resource
        .get("max.message.bytes")
        .and_then(|entry| entry.value.clone())
        .unwrap_or_default();
    tracing::info!(
        topic,
        cleanup_policy = policy.as_str(),
        max_message_bytes = max_bytes.as_str(),
        "checkpoint topic verified"
    );
    Ok(())
}

/// A refusal to read the checkpoint topic, which no retry cures.
fn read_refusal(error: &RdKafkaError, topic: &str) -> Option<CheckpointError> {
    (error.rdkafka_error_code() == Some(RDKafkaErrorCode::TopicAuthorizationFailed)).then(|| {
        unusable(format!(
            "Kafka refuses to let this principal read checkpoint topic {topic}: grant READ on it"
        ))
    })
}

/// Whether this principal may read the checkpoint topic (`check`): the first partition is read
/// from its beginning until a record, its end or a refusal. Blocks.
pub fn probe_read(
    kafka: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<(), CheckpointError> {
    let deadline = Instant::now() + timeout;
    let consumer = metadata_client(&client_config(kafka).map_err(unusable)?)?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|error| unusable(format!("cannot read checkpoint topic {topic}: {error}")))?;
    consumer
        .assign(&assignment)
        .map_err(|error| unusable(format!("cannot read checkpoint topic {topic}: {error}")))?;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(_)) | Some(Err(RdKafkaError::PartitionEOF(_))) => return Ok(()),
            Some(Err(error)) => {
                if let Some(refusal) = read_refusal(&error, topic) {
                    return Err(refusal);
                }
            }
        }
    }
    Err(unusable(format!(
        "reading checkpoint topic {topic} gave neither a record nor its end within {}s",
        timeout.as_secs()
    )))
}

/// Every key's latest value (tombstones remove), read with read_committed to the end of each
/// partition.
fn read_all(
    client: &ClientConfig,
    topic: &str,
    partitions: usize,
    deadline: Instant,
) -> Result<HashMap<String, Vec<u8>>, CheckpointError> {
    read_records(client, topic, partitions, deadline).map(|(values, _)| values)
}

/// Every key's latest value.
pub(super) type Records = HashMap<String, Vec<u8>>;
/// Every key's latest record timestamp, epoch milliseconds.
pub(super) type RecordTimes = HashMap<String, i64>;

/// Every key's latest value (tombstones remove) and its record's timestamp (epoch milliseconds),
/// read with read_committed to the end of each partition.
pub(super) fn read_records(
    client: &ClientConfig,
    topic: &str,
    partitions: usize,
    deadline: Instant,
) -> Result<(Records, RecordTimes), CheckpointError> {
    let consumer = metadata_client(client)?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        let partition = i32::try_from(partition).unwrap_or(i32::MAX);
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|error| unusable(format!("cannot read checkpoint topic {topic}: {error}")))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|error| unusable(format!("cannot read checkpoint topic {topic}: {error}")))?;
    let mut at_end = vec![false; partitions];
    let mut latest: HashMap<String, Vec<u8>> = HashMap::new();
    let mut timestamps: HashMap<String, i64> = HashMap::new();
    while at_end.iter().any(|done| !done) {
        if Instant::now() >= deadline {
            return Err(unusable(format!(
                "reading checkpoint topic {topic} did not finish within checkpoint.load_timeout; the service does \
                 not start without its checkpoints. Check that the brokers are up (an open transaction of a \
                 stopped instance holds read_committed readers until transaction.timeout.ms)"
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(message)) => {
                let Some(key) = message.key().and_then(|key| std::str::from_utf8(key).ok()) else {
                    continue;
                };
                match message.payload() {
                    Some(value) => {
                        latest.insert(key.to_owned(), value.to_vec());
                        if let Some(millis) = message.timestamp().to_millis() {
                            timestamps.insert(key.to_owned(), millis);
                        }
                    }
                    None => {
                        latest.remove(key);
                        timestamps.remove(key);
                    }
                }
            }
            Some(Err(RdKafkaError::PartitionEOF(partition))) => {
                if let Some(done) = usize::try_from(partition)
                    .ok()
                    .and_then(|index| at_end.get_mut(index))
                {
                    *done = true;
                }
            }
            Some(Err(error)) => {
                if let Some(refusal) = read_refusal(&error, topic) {
                    return Err(refusal);
                }
                // a refused group does not matter: see ReaderContext::error
                if error.rdkafka_error_code() != Some(RDKafkaErrorCode::GroupAuthorizationFailed) {
                    tracing::warn!(%error, topic, "reading the checkpoint topic");
                }
            }
        }
    }
    Ok((latest, timestamps))
}

/// The end offset of the lease partition.
fn lease_partition_end(
    client: &ClientConfig,
    topic: &str,
    deadline: Instant,
) -> Result<i64, CheckpointError> {
    let consumer = metadata_client(client)?;
    consumer
        .fetch_watermarks(topic, LEASE_PARTITION, remaining(deadline))
        .map(|(_, high)| high)
        .map_err(|error| unusable(format!("cannot read checkpoint topic {topic}: {error}")))
}

fn lease_consumer(client: &ClientConfig, topic: &str, from: i64) -> Option<Reader> {
    let consumer = metadata_client(client).ok()?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, LEASE_PARTITION, Offset::Offset(from))
        .ok()?;
    consumer.assign(&assignment).ok()?;
    Some(consumer)
}

/// Whether a record with `key` appears in the lease partition at or after `from` before the deadline.
fn wait_for_key(
    client: &ClientConfig,
    topic: &str,
    from: i64,
    key: &str,
    deadline: Instant,
) -> Result<bool, CheckpointError> {
    let consumer = lease_consumer(client, topic, from)
        .ok_or_else(|| unusable(format!("cannot read checkpoint topic {topic}")))?;
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200))
            && message.key() == Some(key.as_bytes())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn watch_blocking(
    client: &ClientConfig,
    topic: &str,
    from: i64,
    key: &str,
    ours: &str,
    stop: &watch::Receiver<bool>,
) -> Option<TakeOver> {
    // the sender gone counts as a stop
    let stopped = |stop: &watch::Receiver<bool>| stop.has_changed().is_err() || *stop.borrow();
    let consumer = loop {
        if stopped(stop) {
            return None;
        }
        match lease_consumer(client, topic, from) {
            Some(consumer) => break consumer,
            None => std::thread::sleep(Duration::from_secs(1)),
        }
    };
    let mut seen_ours = false;
    loop {
        if stopped(stop) {
            return None;
        }
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(250)) else {
            continue;
        };
        if message.key() != Some(key.as_bytes()) {
            continue;
        }
        let Some(lease) = message
            .payload()
            .and_then(|value| serde_json::from_slice::<Lease>(value).ok())
        else {
            continue;
        };
        if lease.generation == ours {
            seen_ours = true;
        } else if seen_ours {
            return Some(TakeOver {
                instance_id: lease.instance_id,
                host: lease.host,
                claimed_at: lease.claimed_at,
            });
        }
    }
}
