//! Test harness: the simulator on a manual clock, librdkafka's in-process mock cluster, the
//! service running against both, and a consumer that reads every topic back.

#![allow(dead_code)]

pub mod broker;
pub mod log_capture;
pub mod service_process;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use entrastream::app::{self, AppError, RunOptions};
use entrastream::checkpoint::CheckpointStore;
use entrastream::clock::{Clock, ManualClock, Timestamp};
use entrastream::config::{
    CheckpointConfig, CheckpointStoreKind, Config, Endpoints, KafkaConfig, LibrdkafkaSettings,
    LogConfig, MetricsConfig, PollingConfig, SchemaKind, SecretSource, TenantConfig, Topics,
};
use entrastream::retry::Backoff;
use entrastream::sim::Simulator;
use entrastream::sim::config::SimConfig;
use entrastream::stream::StreamKind;
use entrastream::telemetry::metrics::Metrics;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;

pub const CHECKPOINT_TOPIC: &str = "entrastream.checkpoints";

/// 2026-01-05T12:00:00Z.
pub const START: Timestamp = Timestamp::from_secs(1_767_614_400);

pub struct Kafka {
    pub cluster: MockCluster<'static, DefaultProducerContext>,
    pub bootstrap: String,
    pub topics: Topics,
}

/// A mock cluster of three brokers with the default topics.
pub fn kafka() -> Kafka {
    let cluster = MockCluster::new(3).expect("mock cluster");
    let topics = Topics::default();
    for (topic, partitions) in [
        (&topics.sign_ins, 8),
        (&topics.directory_audits, 4),
        (&topics.provisioning, 4),
        (&topics.dead_letter, 1),
    ] {
        cluster.create_topic(topic, partitions, 3).expect("topic");
    }
    // the mock keeps about 5 MiB per partition: cursors are spread over four
    cluster
        .create_topic(CHECKPOINT_TOPIC, 4, 3)
        .expect("checkpoint topic");
    let bootstrap = cluster.bootstrap_servers();
    Kafka {
        cluster,
        bootstrap,
        topics,
    }
}

#[derive(Clone, Debug)]
pub struct Consumed {
    pub key: String,
    pub headers: BTreeMap<String, String>,
    pub payload: Vec<u8>,
    /// The record's timestamp, epoch milliseconds.
    pub timestamp: Option<i64>,
}

impl Consumed {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// Every record of `topic`, partition by partition from the beginning, read_committed.
pub fn consume(bootstrap: &str, topic: &str) -> Vec<Consumed> {
    consume_with(bootstrap, topic, &[])
}

/// Every record of `topic` with `settings` added to the consumer's (security settings of a real
/// broker, `isolation.level`).
pub fn consume_with(bootstrap: &str, topic: &str, settings: &[(&str, &str)]) -> Vec<Consumed> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "entrastream-tests")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        // the end of a partition: read_committed stops at the last stable offset, and a
        // transaction's commit marker takes the offset just before the high watermark
        .set("enable.partition.eof", "true");
    for (key, value) in settings {
        client.set(*key, *value);
    }
    let consumer: BaseConsumer = client.create().expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|partition| partition.id())
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    for partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *partition, Duration::from_secs(10))
            .expect("watermarks");
        assert_eq!(
            low, 0,
            "the mock cluster dropped records of {topic}/{partition}: keep test volumes smaller"
        );
        if high > 0 {
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .expect("assignment");
            remaining.insert(*partition, high);
        }
    }
    let mut records = Vec::new();
    if remaining.is_empty() {
        return records;
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !remaining.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "reading {topic} back timed out"
        );
        let message = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                remaining.remove(&partition);
                continue;
            }
            Some(message) => message.expect("message"),
        };
        let mut headers = BTreeMap::new();
        if let Some(message_headers) = message.headers() {
            for header in message_headers.iter() {
                headers.insert(
                    header.key.to_owned(),
                    String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                );
            }
        }
        records.push(Consumed {
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            headers,
            payload: message.payload().unwrap_or_default().to_vec(),
            timestamp: message.timestamp().to_millis(),
        });
        if let Some(high) = remaining.get(&message.partition())
            && message.offset() + 1 >= *high
        {
            remaining.remove(&message.partition());
        }
    }
    records
}

/// Every event record of the three event topics.
pub fn consume_events(kafka: &Kafka) -> Vec<Consumed> {
    consume_events_with(&kafka.bootstrap, &kafka.topics, &[])
}

/// Every event record of the three event topics, with `settings` added to the consumer's.
pub fn consume_events_with(
    bootstrap: &str,
    topics: &Topics,
    settings: &[(&str, &str)],
) -> Vec<Consumed> {
    let mut records = consume_with(bootstrap, &topics.sign_ins, settings);
    records.extend(consume_with(bootstrap, &topics.directory_audits, settings));
    records.extend(consume_with(bootstrap, &topics.provisioning, settings));
    records
}

/// Ids per (tenant, stream), counting repeats.
pub fn ids_by_stream(records: &[Consumed]) -> BTreeMap<(String, String), BTreeMap<String, usize>> {
    let mut ids: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for record in records {
        let (tenant, id) = record.key.split_once(':').expect("key is tenant:id");
        assert_eq!(tenant, record.header("tenant_id"));
        *ids.entry((tenant.to_owned(), record.header("stream").to_owned()))
            .or_default()
            .entry(id.to_owned())
            .or_default() += 1;
    }
    ids
}

/// A configuration pointing at the simulator and the mock cluster, secrets in files.
pub fn config(sim: &Simulator, kafka: &Kafka, secrets: &Path, polling: PollingConfig) -> Config {
    config_for(sim, &kafka.bootstrap, &kafka.topics, secrets, polling)
}

/// A configuration pointing at the simulator and the brokers at `bootstrap`, secrets in files.
pub fn config_for(
    sim: &Simulator,
    bootstrap: &str,
    topics: &Topics,
    secrets: &Path,
    polling: PollingConfig,
) -> Config {
    let credentials = sim.credentials();
    let tenants = credentials
        .tenants
        .iter()
        .enumerate()
        .map(|(index, tenant)| {
            let secret_file = secrets.join(format!("secret-{index}"));
            std::fs::write(&secret_file, format!("{}\n", tenant.client_secret))
                .expect("secret file");
            TenantConfig {
                id: tenant.tenant_id.clone(),
                client_id: tenant.client_id.clone(),
                client_secret: Some(SecretSource::File(secret_file)),
                auth: None,
                cloud: Default::default(),
                endpoints: Some(Endpoints {
                    login: Some(credentials.base_url.clone()),
                    graph: Some(credentials.base_url.clone()),
                }),
                api_version: Default::default(),
                streams: None,
            }
        })
        .collect();
    Config {
        tenants,
        polling,
        schema: SchemaKind::Ocsf,
        kafka: KafkaConfig {
            topics: topics.clone(),
            librdkafka: LibrdkafkaSettings::from([("linger.ms", "2")]),
            ..KafkaConfig::new(bootstrap.to_owned())
        },
        checkpoint: CheckpointConfig {
            store: CheckpointStoreKind::File,
            path: Some(secrets.join("state")),
            ..CheckpointConfig::default()
        },
        metrics: MetricsConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
        },
        log: LogConfig::default(),
        tls: Default::default(),
        shutdown: Default::default(),
        graph: Default::default(),
    }
}

/// A running service and the switch that stops it.
pub struct Running {
    pub task: tokio::task::JoinHandle<Result<(), AppError>>,
    stop: Option<oneshot::Sender<()>>,
    pub metrics: Arc<Metrics>,
}

impl Running {
    pub async fn stop(mut self) -> Result<(), AppError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the service stops within a minute")
            .expect("the service task does not panic")
    }
}

/// Starts the service on `clock` and waits until its stream tasks exist.
pub async fn start(
    config: Config,
    clock: &Clock,
    store: Option<Arc<dyn CheckpointStore>>,
) -> Running {
    let manual = clock.as_manual().expect("tests use a manual clock").clone();
    let before = manual.participants();
    let streams: usize = config
        .tenants
        .iter()
        .map(|tenant| tenant.streams().len())
        .sum();
    let metrics = Metrics::new(clock.clone());
    let mut options = RunOptions::new(clock.clone());
    options.checkpoint_store = store;
    options.metrics = Some(metrics.clone());
    options.serve_telemetry = false;
    options.backoff = Backoff::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app::run(config, options, async move {
        let _ = stopped.await;
    }));
    wait_for(Duration::from_secs(30), || {
        manual.participants() >= before + streams || task.is_finished()
    })
    .await;
    Running {
        task,
        stop: Some(stop),
        metrics,
    }
}

/// The service on `sim` and a new mock cluster, every tenant reading directory audits and
/// interactive sign-ins; the directory holds its secrets and checkpoints.
pub async fn start_audits_and_sign_ins(
    sim: &Simulator,
    clock: &Clock,
    polling: PollingConfig,
) -> (Kafka, Running, tempfile::TempDir) {
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = config(sim, &kafka, directory.path(), polling);
    for tenant in &mut config.tenants {
        tenant.streams = Some(vec![
            StreamKind::DirectoryAudits,
            StreamKind::SignInsInteractive,
        ]);
    }
    let running = start(config, clock, None).await;
    (kafka, running, directory)
}

/// Polls `condition` until it holds, failing after `deadline` (real time).
pub async fn wait_for(deadline: Duration, mut condition: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + deadline;
    while !condition() {
        assert!(
            std::time::Instant::now() < until,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Drives the manual clock to `end`, then waits until every stream is idle again.
pub async fn drive(manual: &ManualClock, end: Timestamp, real_time_limit: Duration) {
    tokio::time::timeout(real_time_limit, async {
        manual.run_until(end).await;
        manual.wait_until_parked().await;
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the simulated run to {end} did not finish within {real_time_limit:?} (clock at {})",
            manual.now()
        )
    });
}

/// The simulator's ground truth for every tenant and stream: ids with an event time in
/// `[from, to]`, visible by `visible_by`.
pub fn truth(
    sim: &Simulator,
    from: Timestamp,
    to: Timestamp,
    visible_by: Timestamp,
) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut expected = BTreeMap::new();
    for tenant in sim.tenants() {
        for stream in StreamKind::ALL {
            let ids = sim.truth(&tenant.tenant_id, stream, from, to, visible_by);
            if !ids.is_empty() {
                expected.insert((tenant.tenant_id.clone(), stream.as_str().to_owned()), ids);
            }
        }
    }
    expected
}

/// Two tenants with fixed ids (`hostile` misbehaves in the tests that use it, `other` shows that
/// the rest flows), each with an hour of directory audits and interactive sign-ins up to an hour
/// after `START`, visible at once.
pub fn two_tenants(seed: u64, hostile: &str, other: &str) -> SimConfig {
    SimConfig {
        seed,
        tenant_count: 2,
        tenants: [hostile, other]
            .into_iter()
            .map(|tenant_id| entrastream::sim::config::TenantSpec {
                tenant_id: Some(tenant_id.to_owned()),
                ..Default::default()
            })
            .collect(),
        rates: entrastream::sim::config::StreamRates {
            directory_audits: 2.0,
            sign_ins_interactive: 2.0,
            provisioning: 0.0,
            sign_ins_non_interactive: 0.0,
            sign_ins_service_principal: 0.0,
            sign_ins_managed_identity: 0.0,
        },
        latency: entrastream::sim::config::StreamLatencies::uniform(
            entrastream::sim::config::Latency::ZERO,
        ),
        history: Duration::from_secs(3600),
        data_end: Some(START.saturating_add(Duration::from_secs(3600))),
        users_per_tenant: 20,
        ..SimConfig::default()
    }
}

/// Starts a simulator on a manual clock at `START`.
pub async fn simulator(config: SimConfig) -> (Simulator, Clock) {
    let clock = Clock::manual(START);
    let sim = Simulator::start(config, clock.clone())
        .await
        .expect("simulator");
    (sim, clock)
}

/// Counts of a counter family summed over series whose labels contain `labels`.
pub fn metric_sum(metrics: &Metrics, family: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .gather()
        .iter()
        .filter(|metric_family| metric_family.name() == family)
        .flat_map(|metric_family| {
            let is_counter =
                metric_family.get_field_type() == prometheus::proto::MetricType::COUNTER;
            metric_family
                .get_metric()
                .iter()
                .filter(|metric| {
                    labels.iter().all(|(name, value)| {
                        metric
                            .get_label()
                            .iter()
                            .any(|pair| pair.name() == *name && pair.value() == *value)
                    })
                })
                .map(move |metric| {
                    if is_counter {
                        metric.get_counter().get_value()
                    } else {
                        metric.get_gauge().get_value()
                    }
                })
                .collect::<Vec<f64>>()
        })
        .sum()
}

/// Switches `config` to the kafka checkpoint store (the topic exists; the mock cannot verify it)
/// and the given delivery mode.
pub fn use_kafka_checkpoints(config: &mut Config, delivery: entrastream::config::Delivery) {
    config.kafka.delivery = delivery;
    config.checkpoint = CheckpointConfig {
        store: CheckpointStoreKind::Kafka,
        path: None,
        topic: CHECKPOINT_TOPIC.to_owned(),
        create_topic: false,
        verify_topic: false,
        load_timeout: Duration::from_secs(30),
        takeover_wait: Duration::from_secs(20),
        ..CheckpointConfig::default()
    };
}

/// What Kafka holds against the simulator's ground truth.
#[derive(Debug, Default)]
pub struct Comparison {
    pub expected: usize,
    pub delivered: usize,
    pub missing: usize,
    pub unexpected: usize,
    /// Extra copies of records delivered more than once.
    pub duplicates: usize,
    pub first_missing: Option<(String, String, String)>,
    /// Event and visibility times of up to five missing records.
    pub missing_times: Vec<String>,
    /// Event and visibility times of up to five records delivered more than once.
    pub duplicate_times: Vec<String>,
}

/// Compares the event topics with the ground truth of `[from, data_end]` visible by `visible_by`.
pub fn compare(
    sim: &Simulator,
    kafka: &Kafka,
    from: Timestamp,
    data_end: Timestamp,
    visible_by: Timestamp,
) -> Comparison {
    compare_records(sim, &consume_events(kafka), from, data_end, visible_by)
}

/// Compares `records` (read from the event topics) with the ground truth of `[from, data_end]`
/// visible by `visible_by`.
pub fn compare_records(
    sim: &Simulator,
    records: &[Consumed],
    from: Timestamp,
    data_end: Timestamp,
    visible_by: Timestamp,
) -> Comparison {
    let expected = truth(sim, from, data_end, visible_by);
    let delivered = ids_by_stream(records);
    let mut comparison = Comparison::default();
    for ((tenant, stream), ids) in &expected {
        comparison.expected += ids.len();
        let got = delivered.get(&(tenant.clone(), stream.clone()));
        for id in ids {
            if got.is_none_or(|got| !got.contains_key(id)) {
                comparison.missing += 1;
                if comparison.missing_times.len() < 5 {
                    comparison
                        .missing_times
                        .push(describe_record(sim, tenant, stream, id, from, data_end));
                }
                if comparison.first_missing.is_none() {
                    comparison.first_missing = Some((tenant.clone(), stream.clone(), id.clone()));
                }
            }
        }
    }
    for ((tenant, stream), ids) in &delivered {
        let known = expected.get(&(tenant.clone(), stream.clone()));
        for (id, count) in ids {
            comparison.delivered += count;
            comparison.duplicates += count - 1;
            if *count > 1 && comparison.duplicate_times.len() < 5 {
                comparison
                    .duplicate_times
                    .push(describe_record(sim, tenant, stream, id, from, data_end));
            }
            if known.is_none_or(|known| !known.contains(id)) {
                comparison.unexpected += 1;
            }
        }
    }
    comparison
}

/// Logs to stderr when `ENTRASTREAM_TEST_LOG` holds a filter (`info`, `entrastream=debug`): for
/// reading what a failing test did.
pub fn test_logging() {
    if let Ok(filter) = std::env::var("ENTRASTREAM_TEST_LOG") {
        let _ =
            entrastream::telemetry::logging::init(entrastream::config::LogFormat::Pretty, &filter);
    }
}

/// Where a record sits in time, for messages about it.
pub fn describe_record(
    sim: &Simulator,
    tenant_id: &str,
    stream: &str,
    id: &str,
    from: Timestamp,
    to: Timestamp,
) -> String {
    let Some(tenant) = sim
        .tenants()
        .into_iter()
        .find(|tenant| tenant.tenant_id == tenant_id)
    else {
        return format!("{id}: unknown tenant");
    };
    let Some(kind) = StreamKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == stream)
    else {
        return format!("{id}: unknown stream");
    };
    let first = from.as_millis().div_euclid(60_000);
    let last = to.as_millis().div_euclid(60_000);
    (first..=last)
        .flat_map(|minute| {
            entrastream::sim::generate::minute_records(&sim.state().config, &tenant, kind, minute)
        })
        .find(|record| record.id == id)
        .map_or_else(
            || format!("{id}: not generated"),
            |record| {
                format!(
                    "{stream} {id}: event {} visible {}",
                    record.event, record.visible
                )
            },
        )
}
