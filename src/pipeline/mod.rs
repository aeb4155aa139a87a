//! One task per stream: plan a window from the cursor, read it, publish what is new, and commit
//! the cursor once Kafka acknowledged every record of the window.
//!
//! ```text
//! cursor ─window→ graph::pages ─Page→ dedup ─Record→ schema::map_record ─Event→ kafka::Publisher
//!    ↑                                                                              │ acks
//!    └──────────────────────── checkpoint::CheckpointStore::commit ←────────────────┘
//! ```
//!
//! Errors are classified where they happen: transient ones (5xx, timeouts, broken bodies, expired
//! skip tokens, throttling) make the window start again after a backoff; a licence, permission or
//! credential problem blocks the stream, which says so in its state, logs and metrics, and tries
//! again on the slow schedule; a failed Kafka delivery makes the window start again without moving
//! the cursor; a checkpoint that cannot be written, or a fatal producer error, stops the process.

mod state;
mod window;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::auth::{AuthError, TokenProvider};
use crate::checkpoint::{CheckpointError, CheckpointStore, CursorCommit};
use crate::clock::{Clock, Participant, Timestamp};
use crate::config::{ApiVersion, PollingConfig, SchemaKind, TenantId, Topics};
use crate::graph::budget::RequestBudget;
use crate::graph::cloud::CloudEndpoints;
use crate::graph::cursor::{Cursor, CursorSettings, SeenIds, Window};
use crate::graph::error::{BlockReason, ErrorClass, GraphError};
use crate::kafka::{KafkaError, Publisher, TransactionFailure};
use crate::retry::Backoff;
use crate::stream::StreamKind;
use crate::telemetry::health::Health;
use crate::telemetry::metrics::StreamMetrics;
use state::StateCell;
pub use state::StreamState;

/// Licence 403s come intermittently even on licensed tenants: a few retries before concluding.
const LICENCE_RETRIES: u32 = 3;
/// Consecutive failures of a window before it is split in half.
const SPLIT_AFTER_FAILURES: u32 = 3;
/// An incremental store gets a whole cursor again once its deltas since the last one hold as many
/// ids as the cursor (at least this many), so that a commit costs about twice what it adds, and
/// loading replays at most about as much as the cursor holds.
const JOURNAL_MIN_IDS: u64 = 65_536;
/// ... or once this many deltas were written since the last whole cursor.
const JOURNAL_MAX_ENTRIES: u64 = 4_096;

/// What a stream needs of its tenant; shared by the tenant's streams.
pub struct TenantRuntime {
    pub tenant_id: TenantId,
    pub api_version: ApiVersion,
    pub endpoints: CloudEndpoints,
    pub tokens: TokenProvider,
    pub budget: RequestBudget,
}

/// What every stream shares.
pub struct Shared {
    pub publisher: Arc<Publisher>,
    pub store: Arc<dyn CheckpointStore>,
    pub http: reqwest::Client,
    pub clock: Clock,
    pub health: Arc<Health>,
    pub polling: PollingConfig,
    pub schema: SchemaKind,
    pub topics: Topics,
    pub backoff: Backoff,
    /// `kafka.instance_id`, carried in a header of checkpoint records.
    pub instance_id: String,
    /// `checkpoint.interval`: at_least_once commits inside a window at most this often.
    pub checkpoint_interval: Duration,
    /// `kafka.max_record_bytes`: a larger event record is dead-lettered as a summary.
    pub max_record_bytes: usize,
    /// `polling.max_pages_in_memory` places for Graph pages being fetched or mapped, shared by
    /// every stream of the process: memory is bounded by the work in flight, not by the tenants.
    pub pages_in_memory: Arc<tokio::sync::Semaphore>,
}

/// Why a stream stopped the process.
#[derive(Debug)]
pub enum PipelineError {
    Checkpoint(CheckpointError),
    Kafka(KafkaError),
    /// A bounded read (backfill) that Graph refuses: licence, permission, credentials, a
    /// rejected query. The detail names the stream, the cause and the fix.
    Refused(String),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Checkpoint(error) => write!(formatter, "{error}"),
            PipelineError::Kafka(error) => write!(formatter, "{error}"),
            PipelineError::Refused(detail) => formatter.write_str(detail),
        }
    }
}

impl std::error::Error for PipelineError {}

/// A stream read over a bounded range once (`entrastream backfill`), instead of followed live.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Where the stream starts without a checkpoint.
    pub from: Timestamp,
    /// Where it ends: the task returns once its watermark reaches it. No reconciliation.
    pub to: Timestamp,
    /// Records at or after this event time belong to the live stream (its cursor's origin) and
    /// are not published; they are counted in `left_to_live`.
    pub live_from: Timestamp,
    pub left_to_live: Arc<AtomicU64>,
}

pub struct StreamTask {
    tenant: Arc<TenantRuntime>,
    stream: StreamKind,
    shared: Arc<Shared>,
    metrics: StreamMetrics,
    shutdown: watch::Receiver<bool>,
    state: StateCell,
    cursor_settings: CursorSettings,
    journal: JournalPolicy,
    bounds: Option<Bounds>,
}

/// When an incremental store is sent a whole cursor rather than a delta. Atomics, because the
/// window's page loop commits through a shared reference.
#[derive(Default)]
struct JournalPolicy {
    /// A whole cursor was committed this run: deltas can follow it.
    whole_written: AtomicBool,
    /// Ids in the deltas committed since.
    ids: AtomicU64,
    /// Deltas committed since.
    entries: AtomicU64,
}

/// What a commit carried, for [`JournalPolicy`] and the metrics.
#[derive(Clone, Copy)]
struct CommitSize {
    whole: bool,
    /// Ids the commit wrote.
    ids: u64,
    /// Ids the committed cursor holds.
    held: usize,
}

impl JournalPolicy {
    fn delta_allowed(&self, held: usize, adding: usize) -> bool {
        self.whole_written.load(Ordering::Relaxed)
            && self.entries.load(Ordering::Relaxed) < JOURNAL_MAX_ENTRIES
            && self.ids.load(Ordering::Relaxed) + adding as u64
                <= (held as u64).max(JOURNAL_MIN_IDS)
    }

    fn committed(&self, size: CommitSize) {
        if size.whole {
            self.whole_written.store(true, Ordering::Relaxed);
            self.ids.store(0, Ordering::Relaxed);
            self.entries.store(0, Ordering::Relaxed);
        } else {
            self.ids.fetch_add(size.ids, Ordering::Relaxed);
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How a window ended.
enum WindowEnd {
    Committed,
    Stopped,
}

impl StreamTask {
    pub fn new(
        tenant: Arc<TenantRuntime>,
        stream: StreamKind,
        shared: Arc<Shared>,
        metrics: StreamMetrics,
        shutdown: watch::Receiver<bool>,
    ) -> StreamTask {
        let cursor_settings = CursorSettings::from(&shared.polling);
        let state = StateCell::new(tenant.tenant_id.as_str(), stream, metrics.clone());
        StreamTask {
            tenant,
            stream,
            shared,
            metrics,
            shutdown,
            state,
            cursor_settings,
            journal: JournalPolicy::default(),
            bounds: None,
        }
    }

    /// Reads `bounds` once instead of following the stream: the task ends when the range is
    /// published and committed, or with an error when Graph refuses it (a blocked stream is not
    /// waited for).
    pub fn bounded(mut self, bounds: Bounds) -> StreamTask {
        self.bounds = Some(bounds);
        self
    }

    /// What committing `cursor` with `pending` remembered writes: a delta when the store keeps a
    /// journal and [`JournalPolicy`] allows one, else the whole cursor. The delta carries `new`
    /// (every id published since the previous commit; `pending` when absent). `cursor` may hold
    /// `pending` already.
    fn checkpoint_commit(
        &self,
        cursor: &Cursor,
        pending: &SeenIds,
        new: Option<&SeenIds>,
    ) -> (CursorCommit, CommitSize) {
        let added = new.unwrap_or(pending);
        if self.shared.store.incremental()
            && self.journal.delta_allowed(cursor.seen.len(), added.len())
        {
            let size = CommitSize {
                whole: false,
                ids: added.len() as u64,
                held: cursor.seen.union_len(pending),
            };
            (
                CursorCommit::Delta(cursor.delta(added, &self.cursor_settings)),
                size,
            )
        } else {
            let mut whole = cursor.clone();
            whole.remember(pending);
            let size = CommitSize {
                whole: true,
                ids: whole.seen.len() as u64,
                held: whole.seen.len(),
            };
            (CursorCommit::Full(whole), size)
        }
    }

    /// A commit went through: the journal policy and the metrics learn what it carried.
    fn checkpoint_committed(&self, size: CommitSize) {
        self.journal.committed(size);
        self.metrics.checkpoint_committed(size.whole, size.held);
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps on the clock until `deadline`; false when shutdown came first.
    async fn sleep_until(&mut self, deadline: Timestamp) -> bool {
        if self.stopping() {
            return false;
        }
        let clock = self.shared.clock.clone();
        tokio::select! {
            _ = clock.sleep_until(deadline) => true,
            _ = self.shutdown.wait_for(|stop| *stop) => false,
        }
    }

    /// The stream's cursor from its checkpoint; without one, a new cursor at
    /// `polling.initial_lookback`, flagged so that it is committed before anything is read.
    async fn load_cursor(&self) -> Result<(Cursor, bool), PipelineError> {
        let store = self.shared.store.clone();
        let tenant = self.tenant.tenant_id.clone();
        let stream = self.stream;
        let loaded = tokio::task::spawn_blocking(move || store.load(&tenant, stream))
            .await
            .map_err(|error| {
                PipelineError::Checkpoint(CheckpointError::Io {
                    path: Default::default(),
                    action: "load",
                    source: std::io::Error::other(error.to_string()),
                })
            })?
            .map_err(PipelineError::Checkpoint)?;
        let now = self.shared.clock.now();
        Ok(match loaded {
            Some(cursor) => {
                tracing::info!(
                    tenant = self.tenant.tenant_id.as_str(),
                    stream = self.stream.as_str(),
                    watermark = %cursor.watermark,
                    seen_ids = cursor.seen.len(),
                    "stream resumes from its checkpoint"
                );
                (cursor, false)
            }
            None if self.bounds.is_some() => {
                let from = self.bounds.as_ref().map_or(now, |bounds| bounds.from);
                (Cursor::start(from, now), true)
            }
            None => {
                let origin = now.saturating_sub(self.shared.polling.initial_lookback);
                tracing::info!(
                    tenant = self.tenant.tenant_id.as_str(),
                    stream = self.stream.as_str(),
                    origin = %origin,
                    "stream starts without a checkpoint, from polling.initial_lookback"
                );
                (Cursor::start(origin, now), true)
            }
        })
    }

    /// Commits the cursor: to the store, or (exactly_once) in a transaction of its own. A store
    /// that is unavailable for now is tried again until it answers or the service stops; then the
    /// window is simply read again at the next start.
    /// `added`: the ids published since the previous commit (`cursor` holds them already).
    async fn commit(&mut self, cursor: &Cursor, added: &SeenIds) -> Result<(), PipelineError> {
        let mut failures = 0u32;
        // exactly_once commits the whole cursor in a transaction of its own
        let update = (!self.shared.publisher.is_transactional())
            .then(|| self.checkpoint_commit(cursor, added, None));
        loop {
            let started = std::time::Instant::now();
            let outcome = match &update {
                None => self.commit_in_transaction(cursor).await?,
                Some((update, _)) => {
                    self.shared
                        .store
                        .commit(&self.tenant.tenant_id, self.stream, update.clone())
                        .await
                }
            };
            match outcome {
                Ok(()) => {
                    self.checkpoint_committed(update.as_ref().map_or(
                        CommitSize {
                            whole: true,
                            ids: cursor.seen.len() as u64,
                            held: cursor.seen.len(),
                        },
                        |(_, size)| *size,
                    ));
                    self.metrics
                        .checkpoint_commit_seconds(started.elapsed().as_secs_f64());
                    return Ok(());
                }
                Err(error) if error.is_transient() => {
                    failures += 1;
                    self.metrics.checkpoint_commit_failed();
                    self.state
                        .set(StreamState::Retrying, Some(&error.to_string()));
                    let delay = self.shared.backoff.delay(failures, None);
                    if !self
                        .sleep_until(self.shared.clock.now().saturating_add(delay))
                        .await
                    {
                        tracing::warn!(
                            tenant = self.tenant.tenant_id.as_str(),
                            stream = self.stream.as_str(),
                            "stream stopped before its checkpoint could be committed; its last window is read again at the next start"
                        );
                        return Ok(());
                    }
                }
                Err(error) => return Err(PipelineError::Checkpoint(error)),
            }
        }
    }

    /// exactly_once: a transaction that carries only the cursor. An abort is reported as a
    /// transient store error (tried again); a broken producer stops the process.
    async fn commit_in_transaction(
        &self,
        cursor: &Cursor,
    ) -> Result<Result<(), CheckpointError>, PipelineError> {
        let record = match self.shared.store.transactional_record(
            &self.tenant.tenant_id,
            self.stream,
            cursor,
        ) {
            Ok(record) => record,
            Err(error) => return Ok(Err(error)),
        };
        let publisher = &self.shared.publisher;
        let transaction = publisher.begin().await.map_err(PipelineError::Kafka)?;
        let tracker = crate::kafka::BatchTracker::new();
        let sent = publisher
            .send(
                &tracker,
                crate::kafka::OutgoingRecord {
                    topic: &record.topic,
                    partition: None,
                    key: record.key.as_bytes(),
                    payload: Some(&record.value),
                    headers: crate::kafka::headers(&[("instance_id", &self.shared.instance_id)]),
                    timestamp: None,
                },
            )
            .await;
        let unavailable = |detail: String| {
            Ok(Err(CheckpointError::Unavailable {
                store: self.shared.store.describe(),
                detail,
            }))
        };
        match sent {
            Err(error) if error.is_fatal() => {
                let _ = transaction.abort().await;
                Err(PipelineError::Kafka(error))
            }
            Err(error) => match transaction.abort().await {
                Ok(()) => {
                    self.metrics.transaction(false, 0);
                    unavailable(error.to_string())
                }
                Err(fatal) => Err(PipelineError::Kafka(fatal)),
            },
            Ok(()) => match transaction.commit().await {
                Ok(()) => {
                    self.metrics.transaction(true, 0);
                    Ok(Ok(()))
                }
                Err(TransactionFailure::Aborted(reason)) => {
                    self.metrics.transaction(false, 0);
                    unavailable(format!("kafka transaction aborted: {reason}"))
                }
                Err(TransactionFailure::Fatal(error)) => {
                    self.shared.health.kafka_fatal(error.to_string());
                    Err(PipelineError::Kafka(error))
                }
            },
        }
    }

    /// The next window that is due: a regular one when at least a poll interval of new time has
    /// passed (or the stream is catching up), else the next chunk of a due reconciliation pass.
    fn next_window(&self, cursor: &mut Cursor, now: Timestamp) -> Option<Window> {
        let settings = &self.cursor_settings;
        if let Some(bounds) = &self.bounds {
            if cursor.watermark >= bounds.to {
                return None;
            }
            let from = cursor
                .watermark
                .saturating_sub(settings.overlap)
                .max(cursor.origin);
            let to = bounds.to.min(
                cursor
                    .watermark
                    .saturating_add(cursor.window_span(settings)),
            );
            return Some(Window {
                from,
                to,
                kind: crate::graph::cursor::WindowKind::Regular,
            });
        }
        let target = now.saturating_sub(settings.settle_delay);
        if target.duration_since(cursor.watermark) >= self.shared.polling.interval
            && let Some(window) = cursor.next_regular(now, settings)
        {
            return Some(window);
        }
        cursor.next_reconcile(now, settings)
    }

    fn next_wake(&self, cursor: &Cursor) -> Timestamp {
        let settings = &self.cursor_settings;
        let next_poll = cursor
            .watermark
            .saturating_add(settings.settle_delay)
            .saturating_add(self.shared.polling.interval);
        let next_pass = cursor
            .last_reconcile_started
            .saturating_add(settings.reconcile_every);
        next_poll.min(next_pass)
    }

    /// Runs the stream until shutdown or a fatal error.
    pub async fn run(mut self, participant: Participant) -> Result<(), PipelineError> {
        let _participant = participant;
        self.metrics.set_state(self.state.get().as_str());
        tracing::info!(
            tenant = self.tenant.tenant_id.as_str(),
            stream = self.stream.as_str(),
            state = self.state.get().as_str(),
            api_version = self.tenant.api_version.as_str(),
            "stream started"
        );
        let (mut cursor, new) = self.load_cursor().await?;
        if new {
            // the origin is kept at once: a restart before the first window ends starts where
            // this run did, not at a lookback from its own later start
            self.commit(&cursor, &SeenIds::default()).await?;
        }
        self.metrics
            .committed(cursor.watermark, None, self.shared.clock.now());
        loop {
            if self.stopping() {
                return Ok(());
            }
            let now = self.shared.clock.now();
            match self.next_window(&mut cursor, now) {
                Some(window) => {
                    let behind = !cursor.caught_up(now, &self.cursor_settings);
                    if self.state.get() == StreamState::Starting
                        || (behind && self.state.get() == StreamState::CaughtUp)
                    {
                        self.state.set(StreamState::CatchingUp, None);
                    }
                    match self.run_window(&mut cursor, window).await? {
                        WindowEnd::Committed => {}
                        WindowEnd::Stopped => return Ok(()),
                    }
                }
                None if self.bounds.is_some() => return Ok(()),
                None => {
                    self.state.set(StreamState::CaughtUp, None);
                    let wake = self.next_wake(&cursor);
                    if !self.sleep_until(wake).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Reads a window until it is published and committed, retrying as its errors say.
    async fn run_window(
        &mut self,
        cursor: &mut Cursor,
        window: Window,
    ) -> Result<WindowEnd, PipelineError> {
        let mut window = window;
        let mut pending = SeenIds::default();
        let mut failures = 0u32;
        let mut licence_refusals = 0u32;
        loop {
            let attempt = self.read_window(cursor, &window, &mut pending).await;
            let (read, delivery, counts, newest) = (
                attempt.read,
                attempt.delivery,
                attempt.counts,
                attempt.newest,
            );
            tracing::debug!(
                tenant = self.tenant.tenant_id.as_str(),
                stream = self.stream.as_str(),
                kind = ?window.kind,
                from = %window.from,
                to = %window.to,
                read = read.as_ref().map_or_else(window::ReadError::describe, |end| end.describe()),
                delivered = delivery.is_ok(),
                published = counts.published,
                pending = pending.len(),
                "window attempt"
            );
            if let Err(error) = &delivery
                && error.is_fatal()
            {
                self.shared.health.kafka_fatal(error.to_string());
                return Err(PipelineError::Kafka(error.clone()));
            }
            match (read, delivery) {
                (Err(window::ReadError::Kafka(error)), _) if error.is_fatal() => {
                    self.shared.health.kafka_fatal(error.to_string());
                    return Err(PipelineError::Kafka(error));
                }
                (Err(window::ReadError::Checkpoint(error)), _) => {
                    return Err(PipelineError::Checkpoint(error));
                }
                (Err(window::ReadError::Aborted(reason)), _) => {
                    // exactly_once: the aborted page was undone; committed pages stay pending
                    self.metrics.batch("failed");
                    failures += 1;
                    self.state.set(
                        StreamState::Retrying,
                        Some(&format!("kafka transaction aborted: {reason}")),
                    );
                    let delay = self.shared.backoff.delay(failures, None);
                    if !self
                        .sleep_until(self.shared.clock.now().saturating_add(delay))
                        .await
                    {
                        cursor.remember(&pending);
                        self.commit(cursor, &pending).await?;
                        return Ok(WindowEnd::Stopped);
                    }
                }
                (Err(window::ReadError::Kafka(error)), Ok(())) => {
                    // a record the producer refused before sending: try again like a failed delivery
                    pending = SeenIds::default();
                    self.metrics.batch("failed");
                    failures += 1;
                    self.state
                        .set(StreamState::Retrying, Some(&error.to_string()));
                    let delay = self.shared.backoff.delay(failures, None);
                    if !self
                        .sleep_until(self.shared.clock.now().saturating_add(delay))
                        .await
                    {
                        return Ok(WindowEnd::Stopped);
                    }
                }
                (read, Err(delivery_error)) => {
                    // nothing of this attempt may count as published
                    pending = SeenIds::default();
                    self.metrics.batch("failed");
                    failures += 1;
                    self.state
                        .set(StreamState::Retrying, Some(&delivery_error.to_string()));
                    let _ = read;
                    let delay = self.shared.backoff.delay(failures, None);
                    if !self
                        .sleep_until(self.shared.clock.now().saturating_add(delay))
                        .await
                    {
                        return Ok(WindowEnd::Stopped);
                    }
                }
                (Ok(window::ReadEnd::Complete), Ok(())) => {
                    // what Graph holds in this range, repeats included: the next windows' size
                    cursor.observe_density(
                        counts.received,
                        window.to.duration_since(window.from),
                        &self.cursor_settings,
                    );
                    cursor.complete(&window, &pending, &self.cursor_settings);
                    self.commit(cursor, &pending).await?;
                    self.metrics
                        .dead_lettered("unmappable", counts.dead_lettered);
                    self.metrics.dead_lettered("oversized", counts.oversized);
                    self.metrics.batch("committed");
                    self.metrics
                        .committed(cursor.watermark, newest, self.shared.clock.now());
                    if matches!(
                        self.state.get(),
                        StreamState::Blocked(_) | StreamState::Retrying
                    ) {
                        self.state.set(StreamState::CatchingUp, None);
                    }
                    self.shared
                        .health
                        .tenant_auth(self.tenant.tenant_id.as_str(), None);
                    return Ok(WindowEnd::Committed);
                }
                (Ok(window::ReadEnd::TooDense { records_per_hour }), Ok(())) => {
                    // nothing of the window was sent; the narrower one starts where it did, and
                    // a restart knows the density too
                    tracing::info!(
                        tenant = self.tenant.tenant_id.as_str(),
                        stream = self.stream.as_str(),
                        records_per_hour,
                        max_window_pages = self.shared.polling.max_window_pages,
                        "window narrowed: its first page shows more records than polling.max_window_pages pages hold"
                    );
                    cursor.records_per_hour = Some(records_per_hour);
                    cursor.remember(&pending);
                    self.commit(cursor, &pending).await?;
                    return Ok(WindowEnd::Committed);
                }
                (Ok(window::ReadEnd::Stopped), Ok(())) => {
                    // a graceful stop: what was delivered is remembered, the position stays
                    cursor.remember(&pending);
                    self.commit(cursor, &pending).await?;
                    return Ok(WindowEnd::Stopped);
                }
                (Err(window::ReadError::Graph(error)), Ok(())) => {
                    // records delivered before the error stay pending: the retry skips them
                    self.metrics
                        .dead_lettered("unmappable", counts.dead_lettered);
                    self.metrics.dead_lettered("oversized", counts.oversized);
                    let delay = match error.class() {
                        ErrorClass::Transient => {
                            failures += 1;
                            self.state
                                .set(StreamState::Retrying, Some(&error.to_string()));
                            if let GraphError::Auth(AuthError::Unavailable { .. }) = &error {
                                // no token, no records: not ready until a token comes (the
                                // upstream's words stay in the log line)
                                self.shared.health.tenant_auth(
                                    self.tenant.tenant_id.as_str(),
                                    Some(TOKEN_ENDPOINT_UNREACHABLE.to_owned()),
                                );
                            }
                            if failures >= SPLIT_AFTER_FAILURES {
                                window = split(window);
                            }
                            match error {
                                // the tenant's budget holds Graph's pause (graph::client): the
                                // next attempt waits in it, its state saying throttled
                                GraphError::Throttled { .. } => Duration::ZERO,
                                _ => self.shared.backoff.delay(failures, error.retry_after()),
                            }
                        }
                        ErrorClass::Blocked(BlockReason::Unlicensed)
                            if licence_refusals < LICENCE_RETRIES =>
                        {
                            licence_refusals += 1;
                            tracing::info!(
                                tenant = self.tenant.tenant_id.as_str(),
                                stream = self.stream.as_str(),
                                attempt = licence_refusals,
                                "graph refused sign-ins for lack of a licence; trying again before concluding"
                            );
                            self.shared.backoff.ceiling(licence_refusals + 2)
                        }
                        ErrorClass::Blocked(reason) => {
                            let detail = match error.fix() {
                                Some(fix) => format!("{error}; fix: {fix}"),
                                None => error.to_string(),
                            };
                            if self.bounds.is_some() {
                                // a backfill is run by someone waiting for it: what was
                                // delivered is kept, and the refusal ends it at once
                                cursor.remember(&pending);
                                self.commit(cursor, &pending).await?;
                                return Err(PipelineError::Refused(format!(
                                    "tenant {} stream {}: {detail}",
                                    self.tenant.tenant_id, self.stream
                                )));
                            }
                            if reason == BlockReason::Credentials {
                                // which tenant and which state, never the endpoint's own text
                                let readiness = match error.fix() {
                                    Some(fix) => format!(
                                        "{}: {}; fix: {fix}",
                                        reason.as_str(),
                                        error.summary()
                                    ),
                                    None => format!("{}: {}", reason.as_str(), error.summary()),
                                };
                                self.shared
                                    .health
                                    .tenant_auth(self.tenant.tenant_id.as_str(), Some(readiness));
                            }
                            self.state.set(StreamState::Blocked(reason), Some(&detail));
                            self.shared.polling.blocked_retry
                        }
                    };
                    if !self
                        .sleep_until(self.shared.clock.now().saturating_add(delay))
                        .await
                    {
                        cursor.remember(&pending);
                        self.commit(cursor, &pending).await?;
                        return Ok(WindowEnd::Stopped);
                    }
                }
            }
        }
    }
}

/// What `/readyz` says of a tenant whose token endpoint does not answer.
const TOKEN_ENDPOINT_UNREACHABLE: &str = "the token endpoint cannot be reached (a connection, TLS or \
     server error; retried with backoff): check endpoints.login, tls.ca_file and the network path to the \
     login host";

/// The first half of a window that keeps failing (Microsoft's advice: narrower time ranges).
fn split(window: Window) -> Window {
    let length = window.to.duration_since(window.from);
    if length <= Duration::from_secs(120) {
        return window;
    }
    Window {
        to: window.from.saturating_add(length / 2).floor_to_second(),
        ..window
    }
}
