//! Reading one window: its pages, each record deduplicated, mapped and produced, the next page
//! fetched while the current one is being mapped.

use std::pin::pin;

use futures_util::StreamExt;

use super::StreamTask;
use super::state::StreamState;
use crate::checkpoint::CheckpointError;
use crate::clock::Timestamp;
use crate::config::TenantId;
use crate::graph::budget::Priority;
use crate::graph::client::{FetchContext, page_limit};
use crate::graph::cursor::{Cursor, IdHash, SeenIds, Window, WindowKind, span_for_density};
use crate::graph::endpoint;
use crate::graph::error::GraphError;
use crate::graph::origin::GraphOrigin;
use crate::graph::pages::pages;
use crate::graph::record::PageBody;
use crate::kafka::{
    BatchTracker, KafkaError, OutgoingRecord, TransactionFailure, headers, record_timestamp,
};
use crate::schema::{self, MapContext};
use crate::stream::{LogFamily, StreamKind};

pub(super) enum ReadEnd {
    /// Every page was read.
    Complete,
    /// Shutdown came first.
    Stopped,
    /// The window's first page shows it would take far more than `polling.max_window_pages`
    /// pages: nothing of it was sent, and a narrower window is read instead.
    TooDense { records_per_hour: u64 },
}

pub(super) enum ReadError {
    Graph(GraphError),
    Kafka(KafkaError),
    /// exactly_once: a page's transaction was aborted; the window is read again.
    Aborted(String),
    /// exactly_once: the cursor cannot be written into the transaction.
    Checkpoint(CheckpointError),
}

impl ReadEnd {
    pub(super) fn describe(&self) -> String {
        match self {
            ReadEnd::Complete => "complete".to_owned(),
            ReadEnd::Stopped => "stopped".to_owned(),
            ReadEnd::TooDense { records_per_hour } => {
                format!("too dense ({records_per_hour} records per hour)")
            }
        }
    }
}

impl ReadError {
    pub(super) fn describe(&self) -> String {
        match self {
            ReadError::Graph(error) => format!("graph error: {error}"),
            ReadError::Kafka(error) => format!("kafka error: {error}"),
            ReadError::Aborted(reason) => format!("transaction aborted: {reason}"),
            ReadError::Checkpoint(error) => format!("checkpoint error: {error}"),
        }
    }
}

/// Records of an attempt, counted per page and reported per batch.
#[derive(Default, Clone, Copy)]
pub(super) struct Counts {
    /// Records on the pages read, repeats included: the density of the window's event time.
    pub received: u64,
    pub published: u64,
    /// Records that could not be read or mapped.
    pub dead_lettered: u64,
    /// Records above `kafka.max_record_bytes`, dead-lettered as a summary.
    pub oversized: u64,
}

pub(super) struct Attempt {
    pub read: Result<ReadEnd, ReadError>,
    /// Whether Kafka acknowledged everything this attempt sent.
    pub delivery: Result<(), KafkaError>,
    pub counts: Counts,
    /// The newest event time published.
    pub newest: Option<Timestamp>,
}

/// Buffers reused from record to record.
struct Scratch {
    payload: Vec<u8>,
    key: String,
    counts: Counts,
    newest: Option<Timestamp>,
    /// The ids the current page added to the pending set (undone when its transaction aborts).
    page_ids: Vec<IdHash>,
}

/// at_least_once: the commits made in the middle of a window attempt.
struct WithinWindow {
    /// When the next one is due.
    due: Timestamp,
    /// How many pending ids the last one remembered.
    committed: Option<usize>,
    /// How many of the attempt's ids (`Scratch::page_ids`, in the order published) the last one
    /// carried: a delta carries those after them. Before the attempt's first commit, the whole
    /// pending set (earlier attempts may have left ids in it).
    carried: Option<usize>,
}

/// Everything a page needs to be processed, borrowed apart from the page stream.
struct PageJob<'a> {
    task: &'a StreamTask,
    cursor: &'a Cursor,
    window_kind: WindowKind,
    window_to: Timestamp,
    tracker: &'a std::sync::Arc<BatchTracker>,
}

impl StreamTask {
    pub(super) async fn read_window(
        &self,
        cursor: &Cursor,
        window: &Window,
        pending: &mut SeenIds,
    ) -> Attempt {
        // published means acknowledged by Kafka: as each record is (at_least_once), or as its
        // page's transaction commits (exactly_once; an aborted one published nothing)
        let tracker = if self.shared.publisher.is_transactional() {
            BatchTracker::new()
        } else {
            BatchTracker::counting(topic_of(self, self.stream), self.metrics.published.clone())
        };
        let mut scratch = Scratch {
            payload: Vec::with_capacity(16 * 1024),
            key: String::with_capacity(128),
            counts: Counts::default(),
            newest: None,
            page_ids: Vec::new(),
        };
        let read = self
            .read_pages(cursor, window, pending, &tracker, &mut scratch)
            .await;
        // whatever happened, the records already handed to Kafka are waited for
        let mut delivery = tracker.wait().await;
        if self.shared.publisher.is_transactional() {
            // a committed transaction delivered all of its records; failures belong to aborted
            // ones, which the read result reports
            delivery = Ok(());
        }
        if tracker.sent() > 0 {
            self.metrics.kafka_batch_seconds(tracker.elapsed_seconds());
        }
        Attempt {
            read,
            delivery,
            counts: scratch.counts,
            newest: scratch.newest,
        }
    }

    async fn read_pages(
        &self,
        cursor: &Cursor,
        window: &Window,
        pending: &mut SeenIds,
        tracker: &std::sync::Arc<BatchTracker>,
        scratch: &mut Scratch,
    ) -> Result<ReadEnd, ReadError> {
        let url = endpoint::window_url(
            &self.tenant.endpoints.graph_base,
            self.tenant.api_version,
            self.stream,
            window.from,
            window.to,
            self.shared.polling.page_size,
        );
        let throttling = |event| self.state.throttling(event);
        let graph = GraphOrigin::new(
            &self.tenant.endpoints.graph_base,
            &self.tenant.endpoints.graph_resource,
        );
        let context = FetchContext {
            stream: self.stream,
            http: &self.shared.http,
            tokens: &self.tenant.tokens,
            budget: &self.tenant.budget,
            // a caught-up stream's poll keeps the tenant fresh: it goes before catch-up pages
            priority: if window.kind == WindowKind::Regular
                && self.state.get() == StreamState::CaughtUp
            {
                Priority::Live
            } else {
                Priority::CatchUp
            },
            metrics: &self.metrics,
            clock: &self.shared.clock,
            max_retry_after: self.shared.polling.max_retry_after,
            throttling: &throttling,
            graph: &graph,
            page_limit: page_limit(&self.shared.polling),
            places: &self.shared.pages_in_memory,
        };
        let job = PageJob {
            task: self,
            cursor,
            window_kind: window.kind,
            window_to: window.to,
            tracker,
        };
        let mut checkpoint = WithinWindow {
            due: self
                .shared
                .clock
                .now()
                .saturating_add(self.shared.checkpoint_interval),
            committed: None,
            carried: None,
        };
        let mut page_stream = pin!(pages(&context, url));
        // a fetch may wait long (the tenant's budget, a Retry-After, a slow answer): shutdown
        // interrupts it; nothing of the window is committed that was not delivered
        let mut shutdown = self.shutdown.clone();
        let Some(mut next) = until_shutdown(&mut shutdown, page_stream.next()).await else {
            return Ok(ReadEnd::Stopped);
        };
        if let Some(Ok(first)) = &next
            && let Some(records_per_hour) = self.too_dense(&first.body, window)
        {
            return Ok(ReadEnd::TooDense { records_per_hour });
        }
        loop {
            if self.stopping() {
                return Ok(ReadEnd::Stopped);
            }
            let page = match next {
                None => return Ok(ReadEnd::Complete),
                Some(Err(error)) => return Err(ReadError::Graph(error)),
                Some(Ok(page)) => page,
            };
            // the next page is requested while this one is mapped and produced; the mapping and
            // producing of a page always finishes, and then the page and its place are given up
            let (following, processed) =
                tokio::join!(until_shutdown(&mut shutdown, page_stream.next()), async {
                    let processed = job.process_page(&page.body, pending, scratch).await;
                    drop(page);
                    processed?;
                    job.checkpoint_if_due(pending, &scratch.page_ids, &mut checkpoint)
                        .await
                });
            processed?;
            match following {
                Some(following) => next = following,
                None => return Ok(ReadEnd::Stopped),
            }
        }
    }
}

impl StreamTask {
    /// A window's first page, when full, tells how much event time a page covers; when
    /// the window would take more than twice `polling.max_window_pages` pages and a narrower
    /// one would hold fewer, the density to size it with. A window read whole before its cursor
    /// commits: a long one never completes in a process that restarts every few seconds.
    fn too_dense(&self, first: &PageBody, window: &Window) -> Option<u64> {
        let polling = &self.shared.polling;
        if (first.len() as u64) < u64::from(polling.page_size) {
            return None;
        }
        let time_field = endpoint::time_field(self.stream);
        let (oldest, newest) = first
            .records()
            .filter_map(|(_, record)| record.ok()?.time(time_field).ok())
            .fold(
                None,
                |range: Option<(Timestamp, Timestamp)>, time| match range {
                    None => Some((time, time)),
                    Some((oldest, newest)) => Some((oldest.min(time), newest.max(time))),
                },
            )?;
        let covered = newest
            .duration_since(oldest)
            .max(std::time::Duration::from_secs(1));
        let span = window.to.duration_since(window.from);
        let pages = span.as_secs_f64() / covered.as_secs_f64();
        if pages <= 2.0 * f64::from(polling.max_window_pages) {
            return None;
        }
        let records_per_hour =
            u64::from(polling.page_size).saturating_mul(3600) / covered.as_secs();
        (span_for_density(records_per_hour, &self.cursor_settings) < span)
            .then_some(records_per_hour)
    }
}

impl PageJob<'_> {
    /// Processes a page; in exactly-once mode inside a transaction of its own that also carries
    /// the stream's cursor with every id published so far in the window.
    async fn process_page(
        &self,
        page: &PageBody,
        pending: &mut SeenIds,
        scratch: &mut Scratch,
    ) -> Result<(), ReadError> {
        let task = self.task;
        if !task.shared.publisher.is_transactional() {
            return self
                .process(page, pending, scratch)
                .await
                .map_err(ReadError::Kafka);
        }
        let transaction = task
            .shared
            .publisher
            .begin()
            .await
            .map_err(ReadError::Kafka)?;
        scratch.page_ids.clear();
        let before = scratch.counts;
        let newest_before = scratch.newest;
        let mut outcome = self
            .process(page, pending, scratch)
            .await
            .map_err(ReadError::Kafka);
        if outcome.is_ok() && !scratch.page_ids.is_empty() {
            // the cursor goes out only once the page's records are acknowledged: a reader that
            // does not honour read_committed (a misconfigured consumer, the mock cluster) never
            // sees a cursor ahead of its records, even when the transaction is cut off
            outcome = self.tracker.wait().await.map_err(ReadError::Kafka);
        }
        // the ids of the cursor the transaction carries
        let mut carried = None;
        if outcome.is_ok() && !scratch.page_ids.is_empty() {
            let mut snapshot = self.cursor.clone();
            snapshot.remember(pending);
            carried = Some(snapshot.seen.len());
            outcome = match task.shared.store.transactional_record(
                &task.tenant.tenant_id,
                task.stream,
                &snapshot,
            ) {
                Ok(record) => task
                    .shared
                    .publisher
                    .send(
                        self.tracker,
                        OutgoingRecord {
                            topic: &record.topic,
                            partition: None,
                            key: record.key.as_bytes(),
                            payload: Some(&record.value),
                            headers: headers(&[("instance_id", &task.shared.instance_id)]),
                            timestamp: None,
                        },
                    )
                    .await
                    .map_err(ReadError::Kafka),
                Err(error) => Err(ReadError::Checkpoint(error)),
            };
        }
        let page_records = (scratch.counts.published - before.published)
            + (scratch.counts.dead_lettered - before.dead_lettered)
            + (scratch.counts.oversized - before.oversized);
        if outcome.is_ok() && scratch.page_ids.is_empty() {
            // nothing new on this page (an empty page, or repeats only): the cursor would not move,
            // so the transaction ends without a commit; nothing was sent to any broker
            return transaction.abort().await.map_err(ReadError::Kafka);
        }
        let outcome = match outcome {
            Ok(()) => match transaction.commit().await {
                Ok(()) => {
                    task.metrics.transaction(true, page_records);
                    task.metrics
                        .published
                        .inc_by(scratch.counts.published - before.published);
                    if let Some(held) = carried {
                        task.checkpoint_committed(super::CommitSize {
                            whole: true,
                            ids: held as u64,
                            held,
                        });
                    }
                    return Ok(());
                }
                Err(TransactionFailure::Aborted(reason)) => Err(self
                    .refusal_after_abort()
                    .await
                    .unwrap_or(ReadError::Aborted(reason))),
                Err(TransactionFailure::Fatal(error)) => Err(ReadError::Kafka(error)),
            },
            Err(error) => match transaction.abort().await {
                // a send fails on a transaction in error: the refused records say why
                Ok(()) => Err(self.refusal_after_abort().await.unwrap_or(error)),
                Err(fatal) => Err(ReadError::Kafka(fatal)),
            },
        };
        // nothing of the aborted page counts as published
        for id in scratch.page_ids.drain(..) {
            pending.remove(id);
        }
        scratch.counts = before;
        scratch.newest = newest_before;
        task.metrics.transaction(false, page_records);
        outcome
    }

    /// at_least_once, between pages: once `checkpoint.interval` has passed since the attempt's
    /// start or its last commit, waits for Kafka to acknowledge everything sent so far and
    /// commits the cursor with those ids remembered and the watermark where it was. A crash then
    /// repeats only what came after, not the whole window. When a delivery failed nothing is
    /// committed: the window's end reports the failure and reads the window again.
    /// `published`: the attempt's ids in the order published (all of them are in `pending`).
    async fn checkpoint_if_due(
        &self,
        pending: &SeenIds,
        published: &[IdHash],
        checkpoint: &mut WithinWindow,
    ) -> Result<(), ReadError> {
        let task = self.task;
        if task.shared.publisher.is_transactional()
            || checkpoint.committed == Some(pending.len())
            || pending.is_empty()
            || task.shared.clock.now() < checkpoint.due
        {
            return Ok(());
        }
        if self.tracker.wait().await.is_ok() {
            // a delta carries what this attempt published since its last commit
            let since = checkpoint
                .carried
                .map(|carried| pending.subset(published.get(carried..).unwrap_or_default()));
            let (update, size) = task.checkpoint_commit(self.cursor, pending, since.as_ref());
            let started = std::time::Instant::now();
            match task
                .shared
                .store
                .commit(&task.tenant.tenant_id, task.stream, update)
                .await
            {
                Ok(()) => {
                    task.checkpoint_committed(size);
                    task.metrics
                        .checkpoint_commit_seconds(started.elapsed().as_secs_f64());
                    checkpoint.committed = Some(pending.len());
                    checkpoint.carried = Some(published.len());
                }
                Err(error) if error.is_transient() => {
                    // the window's own commit at its end tries again
                    task.metrics.checkpoint_commit_failed();
                    tracing::warn!(
                        tenant = task.tenant.tenant_id.as_str(),
                        stream = task.stream.as_str(),
                        error = %error,
                        "checkpoint in the middle of a window failed; the window goes on and commits at its end"
                    );
                }
                Err(error) => return Err(ReadError::Checkpoint(error)),
            }
        }
        checkpoint.due = task
            .shared
            .clock
            .now()
            .saturating_add(task.shared.checkpoint_interval);
        Ok(())
    }

    /// After an abort, which settled every record of the transaction: a refusal that retrying
    /// cannot cure, named by the records' delivery reports (the topic and the fix), if any.
    async fn refusal_after_abort(&self) -> Option<ReadError> {
        let _ = self.tracker.wait().await;
        let (first_error, fix) = self.tracker.refusal()?;
        Some(ReadError::Kafka(KafkaError::DeliveryFailed {
            failed: self.tracker.failed().max(1),
            first_error,
            refusal: Some(fix),
        }))
    }

    async fn process(
        &self,
        page: &PageBody,
        pending: &mut SeenIds,
        scratch: &mut Scratch,
    ) -> Result<(), KafkaError> {
        let task = self.task;
        let stream = task.stream;
        let time_field = endpoint::time_field(stream);
        let context = MapContext {
            tenant_id: task.tenant.tenant_id.as_str(),
            stream,
            api_version: task.tenant.api_version,
            received_at: task.shared.clock.now(),
        };
        let schema_name = task.shared.schema.as_str();
        let schema_version = schema::schema_version(task.shared.schema);
        let mut deduplicated = 0u64;
        let mut late = 0u64;
        for (text, record) in page.records() {
            // the page was validated as a whole; its records' properties were found on the way
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    self.dead_letter_once(text, None, &error.to_string(), pending, scratch)
                        .await?;
                    continue;
                }
            };
            let (id, event_time) = match (record.id(), record.time(time_field)) {
                (Ok(id), Ok(time)) => (id, time),
                (Err(error), _) | (_, Err(error)) => {
                    let id = record.id().ok();
                    self.dead_letter_once(
                        text,
                        id.as_deref(),
                        &error.to_string(),
                        pending,
                        scratch,
                    )
                    .await?;
                    continue;
                }
            };
            if let Some(bounds) = &task.bounds
                && event_time >= bounds.live_from
            {
                // the live stream reads from its origin on: it publishes this one
                bounds
                    .left_to_live
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let hash = IdHash::of(&id);
            if self.cursor.seen.contains(hash) || pending.contains(hash) {
                deduplicated += 1;
                continue;
            }
            scratch.payload.clear();
            match schema::map_record(task.shared.schema, &record, &context, &mut scratch.payload) {
                Ok(()) => {
                    scratch.key.clear();
                    scratch.key.push_str(task.tenant.tenant_id.as_str());
                    scratch.key.push(':');
                    scratch.key.push_str(&id);
                    let event_time_text = event_time.to_rfc3339_millis();
                    let header_pairs = [
                        ("schema", schema_name),
                        ("schema_version", schema_version),
                        ("tenant_id", task.tenant.tenant_id.as_str()),
                        ("stream", stream.as_str()),
                        ("event_time", event_time_text.as_str()),
                        ("connector_version", env!("CARGO_PKG_VERSION")),
                    ];
                    let record_bytes = scratch.payload.len()
                        + scratch.key.len()
                        + header_pairs
                            .iter()
                            .map(|(name, value)| name.len() + value.len())
                            .sum::<usize>();
                    if record_bytes > task.shared.max_record_bytes {
                        self.dead_letter_oversized(text, &id, record_bytes, scratch)
                            .await?;
                        pending.insert(hash, event_time);
                        scratch.page_ids.push(hash);
                        continue;
                    }
                    let record_headers = headers(&header_pairs);
                    task.shared
                        .publisher
                        .send(
                            self.tracker,
                            OutgoingRecord {
                                topic: topic_of(task, stream),
                                partition: None,
                                key: scratch.key.as_bytes(),
                                payload: Some(&scratch.payload),
                                headers: record_headers,
                                // consumers that take a record's time file it when it happened
                                timestamp: Some(record_timestamp(event_time, context.received_at)),
                            },
                        )
                        .await?;
                    scratch.counts.published += 1;
                    scratch.newest = Some(
                        scratch
                            .newest
                            .map_or(event_time, |newest| newest.max(event_time)),
                    );
                }
                Err(error) => {
                    self.dead_letter(text, Some(&id), &error.0, scratch).await?;
                }
            }
            pending.insert(hash, event_time);
            scratch.page_ids.push(hash);
            if self.window_kind == WindowKind::Reconcile {
                late += 1;
            }
        }
        task.metrics.received.inc_by(page.len() as u64);
        scratch.counts.received += page.len() as u64;
        task.metrics.deduplicated.inc_by(deduplicated);
        task.metrics.late.inc_by(late);
        Ok(())
    }

    /// Dead-letters a record without a usable id or time, once: it is remembered by its key, with
    /// the window's end as its time, so that a re-read does not send it again.
    async fn dead_letter_once(
        &self,
        text: &str,
        id: Option<&str>,
        reason: &str,
        pending: &mut SeenIds,
        scratch: &mut Scratch,
    ) -> Result<(), KafkaError> {
        let key = dead_letter_key(&self.task.tenant.tenant_id, id, text);
        let hash = IdHash::of(&key);
        if self.cursor.seen.contains(hash) || pending.contains(hash) {
            return Ok(());
        }
        self.dead_letter(text, id, reason, scratch).await?;
        pending.insert(hash, self.window_to);
        scratch.page_ids.push(hash);
        Ok(())
    }

    /// Sends a record that cannot be read or mapped to the dead-letter topic, as received, with
    /// the reason in a header: never dropped.
    async fn dead_letter(
        &self,
        text: &str,
        id: Option<&str>,
        reason: &str,
        scratch: &mut Scratch,
    ) -> Result<(), KafkaError> {
        let task = self.task;
        let key = dead_letter_key(&task.tenant.tenant_id, id, text);
        tracing::warn!(
            tenant = task.tenant.tenant_id.as_str(),
            stream = task.stream.as_str(),
            key = key.as_str(),
            reason,
            "record sent to the dead-letter topic"
        );
        self.send_dead_letter(&key, text.as_bytes(), reason).await?;
        scratch.counts.dead_lettered += 1;
        Ok(())
    }

    /// One record to the dead-letter topic, keyed as its event would be, the reason in a header.
    async fn send_dead_letter(
        &self,
        key: &str,
        payload: &[u8],
        reason: &str,
    ) -> Result<(), KafkaError> {
        let task = self.task;
        let record_headers = headers(&[
            ("dead_letter_reason", reason),
            ("tenant_id", task.tenant.tenant_id.as_str()),
            ("stream", task.stream.as_str()),
            ("source_topic", topic_of(task, task.stream)),
            ("connector_version", env!("CARGO_PKG_VERSION")),
        ]);
        task.shared
            .publisher
            .send(
                self.tracker,
                OutgoingRecord {
                    partition: None,
                    topic: &task.shared.topics.dead_letter,
                    key: key.as_bytes(),
                    payload: Some(payload),
                    headers: record_headers,
                    timestamp: None,
                },
            )
            .await
    }
}

impl PageJob<'_> {
    /// A record whose mapped form is larger than `kafka.max_record_bytes`: the topic would refuse
    /// it (and librdkafka every record of its batch with it). It goes to the dead-letter topic as
    /// a summary, its id, size, the limit and the record's first KiB as Graph sent it, and counts
    /// as handled: the stream goes on and a restart does not send it again.
    async fn dead_letter_oversized(
        &self,
        text: &str,
        id: &str,
        record_bytes: usize,
        scratch: &mut Scratch,
    ) -> Result<(), KafkaError> {
        let task = self.task;
        let limit = task.shared.max_record_bytes;
        let key = dead_letter_key(&task.tenant.tenant_id, Some(id), text);
        let reason = format!(
            "oversized: the mapped record is {record_bytes} bytes, above kafka.max_record_bytes ({limit}); \
             raise it together with the topic's max.message.bytes to publish such records"
        );
        tracing::warn!(
            tenant = task.tenant.tenant_id.as_str(),
            stream = task.stream.as_str(),
            key = key.as_str(),
            record_bytes,
            limit,
            "record larger than kafka.max_record_bytes sent to the dead-letter topic as a summary"
        );
        let summary = serde_json::json!({
            "id": id,
            "tenant_id": task.tenant.tenant_id.as_str(),
            "stream": task.stream.as_str(),
            "record_bytes": record_bytes,
            "graph_record_bytes": text.len(),
            "limit": limit,
            "graph_record_head": text_head(text, OVERSIZED_HEAD_BYTES),
        });
        let payload = serde_json::to_vec(&summary).unwrap_or_default();
        self.send_dead_letter(&key, &payload, &reason).await?;
        scratch.counts.oversized += 1;
        Ok(())
    }
}

/// How much of an oversized record its dead-letter summary keeps.
const OVERSIZED_HEAD_BYTES: usize = 1024;

/// The first `limit` bytes of `text`, cut at a character boundary.
fn text_head(text: &str, limit: usize) -> &str {
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn topic_of(task: &StreamTask, stream: StreamKind) -> &str {
    let topics = &task.shared.topics;
    match stream.family() {
        LogFamily::SignIns => &topics.sign_ins,
        LogFamily::DirectoryAudits => &topics.directory_audits,
        LogFamily::Provisioning => &topics.provisioning,
    }
}

/// `<tenant>:<id>`, or `<tenant>:hash:<128 bits of SHA-256 of the record>` without an id.
fn dead_letter_key(tenant: &TenantId, id: Option<&str>, text: &str) -> String {
    match id {
        Some(id) => format!("{tenant}:{id}"),
        None => format!("{tenant}:hash:{:032x}", IdHash::of(text).0),
    }
}

/// The output of `work`, or None when shutdown comes first.
async fn until_shutdown<T>(
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        output = work => Some(output),
        _ = shutdown.wait_for(|stop| *stop) => None,
    }
}
