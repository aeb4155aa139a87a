//! Every metric entrastream exports, declared in one place (documented in `docs/metrics.md`).
//!
//! Names follow Prometheus practice: the `entrastream_` prefix, base units, `_total` counters,
//! `_seconds` histograms. Labels are limited to `tenant`, `stream` and small fixed sets. Values are
//! recorded per page and per batch, never in a per-record loop.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::health::{Health, KafkaState};
use crate::clock::{Clock, Timestamp};
use crate::stream::StreamKind;

/// Latency buckets for Graph pages: from a quick page to a slow one near the request timeout.
const GRAPH_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0];
/// Kafka acknowledgement of a batch: milliseconds normally, minutes in a broker outage.
const KAFKA_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Checkpoint commits: an fsync on a local disk.
const CHECKPOINT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The states a stream can be in (`entrastream_stream_state`).
pub const STREAM_STATES: [&str; 9] = [
    "starting",
    "catching_up",
    "caught_up",
    "retrying",
    "throttled",
    "unlicensed",
    "forbidden",
    "auth_failed",
    "rejected",
];

pub struct Metrics {
    registry: Registry,
    clock: Clock,
    pub records_received: IntCounterVec,
    pub records_published: IntCounterVec,
    pub records_deduplicated: IntCounterVec,
    pub records_late: IntCounterVec,
    pub records_dead_lettered: IntCounterVec,
    pub graph_requests: IntCounterVec,
    pub graph_throttled: IntCounterVec,
    pub graph_retry_after_seconds: IntCounterVec,
    pub graph_page_duration: HistogramVec,
    pub kafka_batch_duration: HistogramVec,
    pub kafka_records_in_flight: IntGauge,
    pub batches: IntCounterVec,
    pub last_success: GaugeVec,
    pub token_requests: IntCounterVec,
    pub stream_state: IntGaugeVec,
    pub checkpoint_commit_duration: HistogramVec,
    pub kafka_transactions: IntCounterVec,
    pub checkpoint_commit_failures: IntCounterVec,
    pub checkpoint_commits: IntCounterVec,
    pub checkpoint_ids: IntGaugeVec,
    pub kafka_aborted_records: IntCounterVec,
    times: Arc<Mutex<BTreeMap<(String, StreamKind), StreamTimes>>>,
    states: Arc<Mutex<BTreeMap<(String, StreamKind), &'static str>>>,
    health: Arc<Health>,
}

/// The states of a tenant (`entrastream_tenant_state`), worst first: derived from its streams.
pub const TENANT_STATES: [&str; 4] = ["auth_failed", "forbidden", "unlicensed", "ok"];

#[derive(Clone, Copy, Default)]
struct StreamTimes {
    watermark: Option<Timestamp>,
    newest_published: Option<Timestamp>,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|error| invalid_metric(name, &error))
}

fn histogram(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .unwrap_or_else(|error| invalid_metric(name, &error))
}

/// Metric definitions are constants of this file; a bad one is a programming error caught by
/// every test that builds `Metrics`.
fn invalid_metric(name: &str, error: &prometheus::Error) -> ! {
    panic!("metric {name} is defined wrongly: {error}")
}

const TENANT_STREAM: &[&str] = &["tenant", "stream"];

impl Metrics {
    pub fn new(clock: Clock) -> Arc<Metrics> {
        let metrics = Metrics {
            registry: Registry::new(),
            clock,
            records_received: counter(
                "entrastream_records_received_total",
                "Records read from Graph pages, duplicates included.",
                TENANT_STREAM,
            ),
            records_published: counter(
                "entrastream_records_published_total",
                "Records acknowledged by Kafka on their event topic, counted as Kafka acknowledges them \
                 (exactly_once: as their page's transaction commits).",
                TENANT_STREAM,
            ),
            records_deduplicated: counter(
                "entrastream_records_deduplicated_total",
                "Records dropped because their id was already published (window overlaps, repeats).",
                TENANT_STREAM,
            ),
            records_late: counter(
                "entrastream_records_late_total",
                "Records found by a reconciliation pass: Graph published them after their window was read.",
                TENANT_STREAM,
            ),
            records_dead_lettered: counter(
                "entrastream_records_dead_lettered_total",
                "Records written to the dead-letter topic, by reason (unreadable, unmappable).",
                &["tenant", "stream", "reason"],
            ),
            graph_requests: counter(
                "entrastream_graph_requests_total",
                "Graph page requests by outcome (success, error) and status class.",
                &["tenant", "stream", "outcome", "status_class"],
            ),
            graph_throttled: counter(
                "entrastream_graph_throttled_total",
                "429 responses from Graph.",
                TENANT_STREAM,
            ),
            graph_retry_after_seconds: counter(
                "entrastream_graph_retry_after_seconds_total",
                "Seconds the tenant paused after a 429 to this stream: Graph's Retry-After, capped at \
                 polling.max_retry_after (10 without one).",
                TENANT_STREAM,
            ),
            graph_page_duration: histogram(
                "entrastream_graph_page_duration_seconds",
                "Time to fetch one Graph page, body included.",
                TENANT_STREAM,
                GRAPH_BUCKETS,
            ),
            kafka_batch_duration: histogram(
                "entrastream_kafka_batch_duration_seconds",
                "Time from a batch's first produce to its last Kafka acknowledgement.",
                TENANT_STREAM,
                KAFKA_BUCKETS,
            ),
            kafka_records_in_flight: IntGauge::new(
                "entrastream_kafka_records_in_flight",
                "Records handed to the Kafka producer and not yet acknowledged.",
            )
            .unwrap_or_else(|error| invalid_metric("entrastream_kafka_records_in_flight", &error)),
            batches: counter(
                "entrastream_batches_total",
                "Batches (windows) by outcome: committed, or failed (not committed, read again).",
                &["tenant", "stream", "outcome"],
            ),
            last_success: GaugeVec::new(
                Opts::new(
                    "entrastream_last_success_timestamp_seconds",
                    "Unix time of the stream's last committed batch.",
                ),
                TENANT_STREAM,
            )
            .unwrap_or_else(|error| {
                invalid_metric("entrastream_last_success_timestamp_seconds", &error)
            }),
            token_requests: counter(
                "entrastream_token_requests_total",
                "Access token requests to the identity platform by outcome (success, failure, oversized, redirect).",
                &["tenant", "outcome"],
            ),
            stream_state: IntGaugeVec::new(
                Opts::new(
                    "entrastream_stream_state",
                    "1 for the state the stream is in, 0 for the others.",
                ),
                &["tenant", "stream", "state"],
            )
            .unwrap_or_else(|error| invalid_metric("entrastream_stream_state", &error)),
            checkpoint_commit_duration: histogram(
                "entrastream_checkpoint_commit_duration_seconds",
                "Time to commit a stream's cursor to the checkpoint store.",
                TENANT_STREAM,
                CHECKPOINT_BUCKETS,
            ),
            kafka_transactions: counter(
                "entrastream_kafka_transactions_total",
                "exactly_once: Kafka transactions by outcome (committed, aborted).",
                &["tenant", "stream", "outcome"],
            ),
            checkpoint_commit_failures: counter(
                "entrastream_checkpoint_commit_failures_total",
                "Cursor commits the checkpoint store could not take for now (tried again; the stream does not \
                 advance meanwhile).",
                TENANT_STREAM,
            ),
            checkpoint_commits: counter(
                "entrastream_checkpoint_commits_total",
                "Cursor commits by kind: whole (every id held) or delta (what the commit added).",
                &["tenant", "stream", "kind"],
            ),
            checkpoint_ids: IntGaugeVec::new(
                Opts::new(
                    "entrastream_checkpoint_ids",
                    "Ids the stream's cursor holds within the lateness horizon (a whole cursor takes \
                     ~32 bytes per id).",
                ),
                TENANT_STREAM,
            )
            .unwrap_or_else(|error| invalid_metric("entrastream_checkpoint_ids", &error)),
            kafka_aborted_records: counter(
                "entrastream_kafka_aborted_records_total",
                "exactly_once: records sent in transactions that were aborted (invisible to read_committed \
                 consumers, sent again in a later transaction).",
                TENANT_STREAM,
            ),
            times: Arc::new(Mutex::new(BTreeMap::new())),
            states: Arc::new(Mutex::new(BTreeMap::new())),
            health: Arc::new(Health::new()),
        };
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.records_received.clone()),
            Box::new(metrics.records_published.clone()),
            Box::new(metrics.records_deduplicated.clone()),
            Box::new(metrics.records_late.clone()),
            Box::new(metrics.records_dead_lettered.clone()),
            Box::new(metrics.graph_requests.clone()),
            Box::new(metrics.graph_throttled.clone()),
            Box::new(metrics.graph_retry_after_seconds.clone()),
            Box::new(metrics.graph_page_duration.clone()),
            Box::new(metrics.kafka_batch_duration.clone()),
            Box::new(metrics.kafka_records_in_flight.clone()),
            Box::new(metrics.batches.clone()),
            Box::new(metrics.last_success.clone()),
            Box::new(metrics.token_requests.clone()),
            Box::new(metrics.stream_state.clone()),
            Box::new(metrics.checkpoint_commit_duration.clone()),
            Box::new(metrics.kafka_transactions.clone()),
            Box::new(metrics.checkpoint_commit_failures.clone()),
            Box::new(metrics.checkpoint_commits.clone()),
            Box::new(metrics.checkpoint_ids.clone()),
            Box::new(metrics.kafka_aborted_records.clone()),
            Box::new(TimeGauges {
                times: metrics.times.clone(),
                clock: metrics.clock.clone(),
                descs: TimeGauges::descs(),
            }),
            Box::new(StateGauges {
                states: metrics.states.clone(),
                health: metrics.health.clone(),
                descs: StateGauges::descs(),
            }),
            Box::new(build_info()),
        ];
        for collector in collectors {
            if let Err(error) = metrics.registry.register(collector) {
                invalid_metric("registry", &error);
            }
        }
        Arc::new(metrics)
    }

    /// What `/readyz` reports; also exported as `entrastream_ready`.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    pub fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }

    /// Label-resolved handles of one stream.
    pub fn stream(self: &Arc<Self>, tenant: &str, stream: StreamKind) -> StreamMetrics {
        let labels = [tenant, stream.as_str()];
        self.times
            .lock()
            .entry((tenant.to_owned(), stream))
            .or_default();
        StreamMetrics {
            metrics: self.clone(),
            tenant: tenant.to_owned(),
            stream,
            received: self.records_received.with_label_values(&labels),
            published: self.records_published.with_label_values(&labels),
            deduplicated: self.records_deduplicated.with_label_values(&labels),
            late: self.records_late.with_label_values(&labels),
            throttled: self.graph_throttled.with_label_values(&labels),
            retry_after_seconds: self.graph_retry_after_seconds.with_label_values(&labels),
        }
    }
}

/// A stream's metric handles.
#[derive(Clone)]
pub struct StreamMetrics {
    metrics: Arc<Metrics>,
    tenant: String,
    stream: StreamKind,
    pub received: IntCounter,
    pub published: IntCounter,
    pub deduplicated: IntCounter,
    pub late: IntCounter,
    pub throttled: IntCounter,
    pub retry_after_seconds: IntCounter,
}

impl StreamMetrics {
    pub fn graph_request(&self, outcome: &str, status_class: &str, seconds: f64) {
        let labels = [self.tenant.as_str(), self.stream.as_str()];
        self.metrics
            .graph_requests
            .with_label_values(&[labels[0], labels[1], outcome, status_class])
            .inc();
        self.metrics
            .graph_page_duration
            .with_label_values(&labels)
            .observe(seconds);
    }

    pub fn dead_lettered(&self, reason: &str, count: u64) {
        self.metrics
            .records_dead_lettered
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str(), reason])
            .inc_by(count);
    }

    pub fn batch(&self, outcome: &str) {
        self.metrics
            .batches
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str(), outcome])
            .inc();
    }

    /// exactly_once: a transaction ended; `records` it carried (counted when aborted).
    pub fn transaction(&self, committed: bool, records: u64) {
        let outcome = if committed { "committed" } else { "aborted" };
        self.metrics
            .kafka_transactions
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str(), outcome])
            .inc();
        if !committed {
            self.metrics
                .kafka_aborted_records
                .with_label_values(&[self.tenant.as_str(), self.stream.as_str()])
                .inc_by(records);
        }
    }

    pub fn kafka_batch_seconds(&self, seconds: f64) {
        self.metrics
            .kafka_batch_duration
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str()])
            .observe(seconds);
    }

    pub fn checkpoint_commit_failed(&self) {
        self.metrics
            .checkpoint_commit_failures
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str()])
            .inc();
    }

    /// A cursor commit went through: `whole` or a delta; the cursor holds `ids`.
    pub fn checkpoint_committed(&self, whole: bool, ids: usize) {
        let kind = if whole { "whole" } else { "delta" };
        self.metrics
            .checkpoint_commits
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str(), kind])
            .inc();
        self.metrics
            .checkpoint_ids
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str()])
            .set(i64::try_from(ids).unwrap_or(i64::MAX));
    }

    pub fn checkpoint_commit_seconds(&self, seconds: f64) {
        self.metrics
            .checkpoint_commit_duration
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str()])
            .observe(seconds);
    }

    /// Marks `state` as the stream's state (1) and every other state 0.
    pub fn set_state(&self, state: &str) {
        if let Some(known) = STREAM_STATES.iter().find(|candidate| **candidate == state) {
            self.metrics
                .states
                .lock()
                .insert((self.tenant.clone(), self.stream), known);
        }
        for candidate in STREAM_STATES {
            self.metrics
                .stream_state
                .with_label_values(&[self.tenant.as_str(), self.stream.as_str(), candidate])
                .set(i64::from(candidate == state));
        }
    }

    pub fn committed(
        &self,
        watermark: Timestamp,
        newest_published: Option<Timestamp>,
        at: Timestamp,
    ) {
        self.metrics
            .last_success
            .with_label_values(&[self.tenant.as_str(), self.stream.as_str()])
            .set(at.as_millis() as f64 / 1000.0);
        let mut times = self.metrics.times.lock();
        let entry = times.entry((self.tenant.clone(), self.stream)).or_default();
        entry.watermark = Some(watermark);
        if let Some(newest) = newest_published {
            entry.newest_published = Some(
                entry
                    .newest_published
                    .map_or(newest, |known| known.max(newest)),
            );
        }
    }

    /// `outcome`: success, failure, or the named refusals oversized and redirect.
    pub fn token_request(&self, outcome: &str) {
        self.metrics
            .token_requests
            .with_label_values(&[self.tenant.as_str(), outcome])
            .inc();
    }

    pub fn in_flight(&self) -> &IntGauge {
        &self.metrics.kafka_records_in_flight
    }
}

/// Lag and freshness, computed at scrape time from the clock, so that a stuck stream's lag grows.
struct TimeGauges {
    times: Arc<Mutex<BTreeMap<(String, StreamKind), StreamTimes>>>,
    clock: Clock,
    descs: Vec<Desc>,
}

const LAG_NAME: &str = "entrastream_watermark_lag_seconds";
const LAG_HELP: &str =
    "Now minus the stream's watermark: how far behind real time the stream is complete.";
const FRESHNESS_NAME: &str = "entrastream_freshness_seconds";
const FRESHNESS_HELP: &str = "Now minus the newest event time the stream has published.";

impl TimeGauges {
    fn descs() -> Vec<Desc> {
        [(LAG_NAME, LAG_HELP), (FRESHNESS_NAME, FRESHNESS_HELP)]
            .iter()
            .filter_map(|(name, help)| {
                Desc::new(
                    (*name).to_owned(),
                    (*help).to_owned(),
                    vec!["tenant".to_owned(), "stream".to_owned()],
                    Default::default(),
                )
                .ok()
            })
            .collect()
    }
}

impl Collector for TimeGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = self.clock.now();
        let lag = GaugeVec::new(Opts::new(LAG_NAME, LAG_HELP), TENANT_STREAM)
            .unwrap_or_else(|error| invalid_metric(LAG_NAME, &error));
        let freshness = GaugeVec::new(Opts::new(FRESHNESS_NAME, FRESHNESS_HELP), TENANT_STREAM)
            .unwrap_or_else(|error| invalid_metric(FRESHNESS_NAME, &error));
        for ((tenant, stream), times) in self.times.lock().iter() {
            let labels = [tenant.as_str(), stream.as_str()];
            if let Some(watermark) = times.watermark {
                lag.with_label_values(&labels)
                    .set(now.duration_since(watermark).as_secs_f64());
            }
            if let Some(newest) = times.newest_published {
                freshness
                    .with_label_values(&labels)
                    .set(now.duration_since(newest).as_secs_f64());
            }
        }
        let mut families = lag.collect();
        families.extend(freshness.collect());
        families
    }
}

/// The tenant state (from its streams' states) and readiness, computed at scrape time.
struct StateGauges {
    states: Arc<Mutex<BTreeMap<(String, StreamKind), &'static str>>>,
    health: Arc<Health>,
    descs: Vec<Desc>,
}

const TENANT_STATE_NAME: &str = "entrastream_tenant_state";
const TENANT_STATE_HELP: &str = "1 for the tenant's licence and permission state (auth_failed, forbidden, unlicensed, ok), 0 for the others.";
const KAFKA_STATE_NAME: &str = "entrastream_kafka_state";
const KAFKA_STATE_HELP: &str = "1 for Kafka's state (unknown, reachable, unreachable, authentication_failed, tls_untrusted, handshake_failed, fatal), 0 for the others.";
const READY_NAME: &str = "entrastream_ready";
const READY_HELP: &str = "1 while /readyz answers 200: Kafka reachable and healthy, every tenant's credentials accepted.";

impl StateGauges {
    fn descs() -> Vec<Desc> {
        let tenant_state = Desc::new(
            TENANT_STATE_NAME.to_owned(),
            TENANT_STATE_HELP.to_owned(),
            vec!["tenant".to_owned(), "state".to_owned()],
            Default::default(),
        );
        let kafka_state = Desc::new(
            KAFKA_STATE_NAME.to_owned(),
            KAFKA_STATE_HELP.to_owned(),
            vec!["state".to_owned()],
            Default::default(),
        );
        let ready = Desc::new(
            READY_NAME.to_owned(),
            READY_HELP.to_owned(),
            Vec::new(),
            Default::default(),
        );
        [tenant_state, kafka_state, ready]
            .into_iter()
            .filter_map(Result::ok)
            .collect()
    }
}

impl Collector for StateGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let tenant_state = IntGaugeVec::new(
            Opts::new(TENANT_STATE_NAME, TENANT_STATE_HELP),
            &["tenant", "state"],
        )
        .unwrap_or_else(|error| invalid_metric(TENANT_STATE_NAME, &error));
        let mut worst: BTreeMap<&str, usize> = BTreeMap::new();
        let states = self.states.lock();
        for ((tenant, _), state) in states.iter() {
            let rank = TENANT_STATES
                .iter()
                .position(|candidate| candidate == state)
                .unwrap_or(TENANT_STATES.len() - 1);
            let entry = worst
                .entry(tenant.as_str())
                .or_insert(TENANT_STATES.len() - 1);
            *entry = (*entry).min(rank);
        }
        for (tenant, rank) in worst {
            for (index, candidate) in TENANT_STATES.iter().enumerate() {
                tenant_state
                    .with_label_values(&[tenant, candidate])
                    .set(i64::from(index == rank));
            }
        }
        let kafka_state =
            IntGaugeVec::new(Opts::new(KAFKA_STATE_NAME, KAFKA_STATE_HELP), &["state"])
                .unwrap_or_else(|error| invalid_metric(KAFKA_STATE_NAME, &error));
        let current = self.health.kafka_state();
        for candidate in KafkaState::ALL {
            kafka_state
                .with_label_values(&[candidate.as_str()])
                .set(i64::from(candidate == current));
        }
        let ready = IntGauge::new(READY_NAME, READY_HELP)
            .unwrap_or_else(|error| invalid_metric(READY_NAME, &error));
        ready.set(i64::from(self.health.readiness().ready));
        let mut families = tenant_state.collect();
        families.extend(kafka_state.collect());
        families.extend(ready.collect());
        families
    }
}

fn build_info() -> IntGaugeVec {
    let info = IntGaugeVec::new(
        Opts::new(
            "entrastream_build_info",
            "Always 1; the labels name the running version.",
        ),
        &["version"],
    )
    .unwrap_or_else(|error| invalid_metric("entrastream_build_info", &error));
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_grows_with_the_clock_until_the_stream_commits() {
        let clock = Clock::manual(Timestamp::from_secs(10_000));
        let metrics = Metrics::new(clock.clone());
        let stream = metrics.stream("tenant-a", StreamKind::SignInsInteractive);
        stream.committed(
            Timestamp::from_secs(9_940),
            Some(Timestamp::from_secs(9_900)),
            clock.now(),
        );
        stream.set_state("caught_up");
        clock
            .as_manual()
            .expect("manual")
            .advance(std::time::Duration::from_secs(120));
        let text = metrics.render();
        assert!(text.contains(
            "entrastream_watermark_lag_seconds{stream=\"sign_ins_interactive\",tenant=\"tenant-a\"} 180"
        ), "{text}");
        assert!(text.contains(
            "entrastream_freshness_seconds{stream=\"sign_ins_interactive\",tenant=\"tenant-a\"} 220"
        ));
        assert!(text.contains(
            "entrastream_stream_state{state=\"caught_up\",stream=\"sign_ins_interactive\",tenant=\"tenant-a\"} 1"
        ));
        assert!(text.contains(
            "entrastream_stream_state{state=\"unlicensed\",stream=\"sign_ins_interactive\",tenant=\"tenant-a\"} 0"
        ));
        assert!(text.contains("entrastream_build_info{version=\""));
    }
}
