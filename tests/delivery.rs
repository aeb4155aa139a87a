//! The delivery guarantees under failure (the fault matrix of `docs/guarantees.md`): the
//! simulator with Graph faults of every kind, librdkafka's mock cluster with its error injection
//! and broker controls, the service on a manual clock, and Kafka's content compared with the
//! simulator's ground truth. Each test prints its measured counts.
//!
//! The mock cluster accepts the transaction API but does not hide aborted records from
//! read_committed consumers: in exactly-once runs, records of aborted transactions stay visible
//! here, so duplicates are bounded by the aborted records the service reports instead of being 0.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Comparison, Kafka, START, compare, kafka, metric_sum, simulator, use_kafka_checkpoints,
    wait_for,
};
use entrastream::app::{self, AppError, RunOptions};
use entrastream::clock::{Clock, ManualClock, Timestamp};
use entrastream::config::{Config, Delivery, PollingConfig};
use entrastream::kafka::{BatchTracker, OutgoingRecord, Publisher, headers};
use entrastream::retry::Backoff;
use entrastream::sim::Simulator;
use entrastream::sim::config::{
    FaultKind, FaultRate, FaultSpec, Latency, SimConfig, StreamLatencies, StreamRates,
};
use entrastream::telemetry::metrics::Metrics;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio::sync::oneshot;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Two tenants, three streams with data, Graph faults of every kind.
fn simulator_config(hours_of_data: u32) -> SimConfig {
    let rate = |kind: FaultKind, probability: f64| FaultRate { kind, probability };
    SimConfig {
        seed: 23,
        tenant_count: 2,
        rates: StreamRates {
            directory_audits: 2.0,
            sign_ins_interactive: 2.0,
            provisioning: 1.0,
            sign_ins_non_interactive: 0.0,
            sign_ins_service_principal: 0.0,
            sign_ins_managed_identity: 0.0,
        },
        latency: StreamLatencies::uniform(Latency::minutes(3, 30, 60)),
        history: HOUR,
        data_end: Some(START.saturating_add(HOUR * hours_of_data)),
        users_per_tenant: 30,
        token_lifetime: 20 * MINUTE,
        skiptoken_ttl: 10 * MINUTE,
        quirk_rate: 0.02,
        faults: FaultSpec {
            rates: vec![
                rate(FaultKind::Http500, 0.01),
                rate(FaultKind::Http502, 0.01),
                rate(FaultKind::Http503, 0.01),
                rate(FaultKind::Http504, 0.01),
                rate(FaultKind::ConnectionReset, 0.01),
                rate(FaultKind::TruncatedJson, 0.01),
                rate(FaultKind::SlowResponse, 0.003),
                rate(FaultKind::EmptyPage, 0.01),
                rate(FaultKind::SkiptokenExpired, 0.02),
                rate(FaultKind::DuplicateRecord, 0.02),
                rate(FaultKind::Licence403, 0.01),
                rate(FaultKind::Throttle429, 0.005),
                rate(FaultKind::Unauthorized401, 0.005),
            ],
            slow_response_delay: Duration::from_millis(1500),
            injected_retry_after: Duration::from_secs(5),
            ..FaultSpec::default()
        },
        ..SimConfig::default()
    }
}

fn polling() -> PollingConfig {
    PollingConfig {
        interval: 2 * MINUTE,
        initial_lookback: HOUR,
        lateness: 2 * HOUR,
        reconcile_every: 30 * MINUTE,
        request_timeout: Duration::from_secs(1),
        ..PollingConfig::default()
    }
}

/// A service run the test can stop, or that stops by itself.
struct Service {
    task: tokio::task::JoinHandle<Result<(), AppError>>,
    stop: Option<oneshot::Sender<()>>,
    metrics: Arc<Metrics>,
}

impl Service {
    /// Starts the service; returns once it runs `streams` stream tasks or has ended.
    async fn start(config: Config, clock: &Clock, streams: usize) -> Service {
        common::test_logging();
        let manual = clock.as_manual().expect("manual clock").clone();
        let metrics = Metrics::new(clock.clone());
        let mut options = RunOptions::new(clock.clone());
        options.metrics = Some(metrics.clone());
        options.serve_telemetry = false;
        options.backoff = Backoff::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::run(config, options, async move {
            let _ = stopped.await;
        }));
        wait_for(Duration::from_secs(60), || {
            manual.participants() >= streams || task.is_finished()
        })
        .await;
        Service {
            task,
            stop: Some(stop),
            metrics,
        }
    }

    async fn stop(mut self) -> (Result<(), AppError>, Arc<Metrics>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let outcome = self.finished().await;
        (outcome, self.metrics)
    }

    /// Waits (at most two minutes) for the service to end by itself.
    async fn finished(&mut self) -> Result<(), AppError> {
        tokio::time::timeout(Duration::from_secs(120), &mut self.task)
            .await
            .expect("the service ends within two minutes")
            .expect("the service task does not panic")
    }

    fn counter(&self, family: &str, labels: &[(&str, &str)]) -> f64 {
        metric_sum(&self.metrics, family, labels)
    }
}

/// Drives the clock to `end` (every stream parked), within `limit` of real time.
async fn drive(manual: &ManualClock, end: Timestamp, limit: Duration) {
    common::drive(manual, end, limit).await;
}

struct Setup {
    sim: Simulator,
    clock: Clock,
    manual: Arc<ManualClock>,
    kafka: Kafka,
    config: Config,
    data_end: Timestamp,
    _directory: tempfile::TempDir,
}

/// 2 tenants x 3 streams.
const STREAMS: usize = 6;

async fn setup(hours_of_data: u32, delivery: Delivery) -> Setup {
    let sim_config = simulator_config(hours_of_data);
    let data_end = sim_config.data_end.expect("data ends");
    let (sim, clock) = simulator(sim_config).await;
    let manual = clock.as_manual().expect("manual").clone();
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(&sim, &kafka, directory.path(), polling());
    for tenant in &mut config.tenants {
        tenant.streams = Some(vec![
            entrastream::stream::StreamKind::DirectoryAudits,
            entrastream::stream::StreamKind::SignInsInteractive,
            entrastream::stream::StreamKind::Provisioning,
        ]);
    }
    use_kafka_checkpoints(&mut config, delivery);
    if delivery == Delivery::ExactlyOnce {
        // one transaction per page with news: fewer, fuller windows keep the test short
        config.polling.interval = 6 * MINUTE;
    }
    if delivery == Delivery::AtLeastOnce {
        // The mock checks the idempotent producer's sequence numbers only for transactional
        // producers. librdkafka infers, as Apache Kafka's sequence checks allow it to, that a
        // request which failed with an uncertain outcome was persisted when the next request of
        // the partition succeeds: against the mock, whose injected failure appended nothing, that
        // inference acknowledges records that are not there. One request in flight per connection
        // keeps the injected failures as a real broker would produce them.
        config.kafka.librdkafka.insert(
            "max.in.flight.requests.per.connection".to_owned(),
            "1".to_owned(),
        );
    }
    Setup {
        sim,
        clock,
        manual,
        kafka,
        config,
        data_end,
        _directory: directory,
    }
}

impl Setup {
    fn end(&self) -> Timestamp {
        self.data_end.saturating_add(3 * HOUR)
    }

    fn compare(&self) -> Comparison {
        compare(
            &self.sim,
            &self.kafka,
            START.saturating_sub(HOUR),
            self.data_end,
            self.end(),
        )
    }

    fn graph_faults(&self) -> usize {
        self.sim
            .stats()
            .requests()
            .iter()
            .filter(|request| request.fault.is_some())
            .count()
    }
}

fn assert_complete(comparison: &Comparison) {
    assert!(comparison.expected > 1000, "{comparison:?}");
    assert_eq!(
        comparison.missing, 0,
        "no record missing, e.g. {:?} ({comparison:?})",
        comparison.first_missing
    );
    assert_eq!(
        comparison.unexpected, 0,
        "no record that Graph did not serve"
    );
}

/// Pushes `errors` onto the mock cluster's stack for `api`, each followed by `spacing` successes.
fn inject(kafka: &Kafka, api: RDKafkaApiKey, errors: &[RDKafkaRespErr], spacing: usize) {
    let mut stack = Vec::new();
    for error in errors {
        stack.push(*error);
        stack.extend(std::iter::repeat_n(
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR,
            spacing,
        ));
    }
    kafka.cluster.request_errors(api, &stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_with_kafka_checkpoints_restarts_without_loss_or_repeats() {
    let setup = setup(3, Delivery::AtLeastOnce).await;
    // produce requests fail with retriable errors throughout the first run
    use RDKafkaRespErr::*;
    inject(
        &setup.kafka,
        RDKafkaApiKey::Produce,
        &[
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR__TRANSPORT,
        ]
        .repeat(6),
        3,
    );
    let first = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    let middle = START.saturating_add(2 * HOUR);
    drive(&setup.manual, middle, Duration::from_secs(300)).await;
    let (outcome, first_metrics) = first.stop().await;
    outcome.expect("the first run stops cleanly");
    let first_published = metric_sum(&first_metrics, "entrastream_records_published_total", &[]);
    assert!(first_published > 500.0, "{first_published}");

    // a new process: cursors come back from the checkpoint topic
    let second = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    drive(&setup.manual, setup.end(), Duration::from_secs(300)).await;
    let (outcome, _) = second.stop().await;
    outcome.expect("the second run stops cleanly");

    let comparison = setup.compare();
    println!(
        "at_least_once + kafka checkpoints, retriable produce errors, a restart: {comparison:?}; graph faults {}",
        setup.graph_faults()
    );
    assert_complete(&comparison);
    assert_eq!(
        comparison.duplicates, 0,
        "a graceful restart repeats nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_aborts_every_failed_transaction_and_recovers_from_the_committed_cursor() {
    let setup = setup(3, Delivery::ExactlyOnce).await;
    let first = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    // injected once the service runs: the lease it wrote at start-up is not what is tested here
    use RDKafkaRespErr::*;
    // commits that must be aborted, and coordinator errors librdkafka retries by itself
    inject(
        &setup.kafka,
        RDKafkaApiKey::EndTxn,
        &[
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
        25,
    );
    inject(
        &setup.kafka,
        RDKafkaApiKey::AddPartitionsToTxn,
        &[
            RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        ],
        20,
    );
    inject(
        &setup.kafka,
        RDKafkaApiKey::Produce,
        &[
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ]
        .repeat(4),
        10,
    );
    drive(
        &setup.manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(300),
    )
    .await;
    let aborted_first = first.counter(
        "entrastream_kafka_transactions_total",
        &[("outcome", "aborted")],
    );
    let (outcome, first_metrics) = first.stop().await;
    outcome.expect("the first run stops cleanly");

    let second = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    drive(&setup.manual, setup.end(), Duration::from_secs(300)).await;
    let (outcome, second_metrics) = second.stop().await;
    outcome.expect("the second run stops cleanly");

    let sum = |family: &str, labels: &[(&str, &str)]| {
        metric_sum(&first_metrics, family, labels) + metric_sum(&second_metrics, family, labels)
    };
    let committed = sum(
        "entrastream_kafka_transactions_total",
        &[("outcome", "committed")],
    );
    let aborted = sum(
        "entrastream_kafka_transactions_total",
        &[("outcome", "aborted")],
    );
    let aborted_records = sum("entrastream_kafka_aborted_records_total", &[]);
    let comparison = setup.compare();
    println!(
        "exactly_once, 4 abortable commit failures, coordinator and produce errors, a restart: {comparison:?}; \
         transactions committed {committed}, aborted {aborted} ({aborted_records} records); graph faults {}",
        setup.graph_faults()
    );
    assert_complete(&comparison);
    assert!(committed > 100.0, "{committed}");
    assert!(
        aborted_first >= 4.0,
        "each failed commit aborted its transaction: {aborted_first}"
    );
    // the mock shows aborted records to every reader: they are the only repeats
    assert!(
        comparison.duplicates as f64 <= aborted_records,
        "{} duplicates, {aborted_records} aborted records",
        comparison.duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_produce_refusal_stops_the_process_and_nothing_is_lost_after_the_fix() {
    for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        let setup = setup(2, delivery).await;
        let mut first = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
        drive(
            &setup.manual,
            START.saturating_add(HOUR),
            Duration::from_secs(300),
        )
        .await;
        // the principal loses WRITE on the topics
        inject(
            &setup.kafka,
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 200],
            0,
        );
        // far enough for every stream to run a window; the clock stops there once the process ended
        let driving = {
            let manual = setup.manual.clone();
            let until = START.saturating_add(HOUR + 30 * MINUTE);
            tokio::spawn(async move { manual.run_until(until).await })
        };
        let error = first
            .finished()
            .await
            .expect_err("the process stops")
            .to_string();
        driving.abort();
        println!("{delivery:?}: {error}");
        assert!(
            // the event records or the cursor: whichever Kafka refused first
            error.contains("Kafka refuses writes to topic entra")
                && error.contains("grant the principal WRITE (and DESCRIBE) on it"),
            "{delivery:?}: {error}"
        );
        let first_metrics = first.metrics.clone();
        let published_first =
            metric_sum(&first_metrics, "entrastream_records_published_total", &[]);

        // the operator fixes the ACL: a restart delivers everything from the kept checkpoints
        setup
            .kafka
            .cluster
            .clear_request_errors(RDKafkaApiKey::Produce);
        let second = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
        drive(&setup.manual, setup.end(), Duration::from_secs(300)).await;
        let (outcome, _) = second.stop().await;
        outcome.expect("stops cleanly");
        let comparison = setup.compare();
        println!(
            "{delivery:?}, topic authorization revoked then restored: {comparison:?}; published before the refusal {published_first}"
        );
        assert_complete(&comparison);
        if delivery == Delivery::AtLeastOnce {
            assert!(
                comparison.duplicates <= 200,
                "at most the refused batches are repeated: {comparison:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_kafka_will_not_authorise_stops_the_start_with_the_fix() {
    let setup = setup(1, Delivery::AtLeastOnce).await;
    setup.kafka.cluster.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED],
    );
    let mut service = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    setup.manual.advance(Duration::from_secs(1));
    let error = service
        .finished()
        .await
        .expect_err("the process stops")
        .to_string();
    assert!(
        error.contains("Cluster authorization failed")
            && error.contains("grant the principal IDEMPOTENT_WRITE on the cluster"),
        "{error}"
    );
    let comparison = setup.compare();
    assert_eq!(comparison.delivered, 0, "nothing was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_producer_stops_and_its_successor_delivers_everything() {
    let setup = setup(2, Delivery::ExactlyOnce).await;
    let mut first = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    drive(
        &setup.manual,
        START.saturating_add(HOUR),
        Duration::from_secs(300),
    )
    .await;
    // the coordinator answers as it does once a newer producer registered the same id
    setup.kafka.cluster.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );
    let driving = {
        let manual = setup.manual.clone();
        let until = START.saturating_add(HOUR + 30 * MINUTE);
        tokio::spawn(async move { manual.run_until(until).await })
    };
    let error = first
        .finished()
        .await
        .expect_err("the fenced process stops")
        .to_string();
    driving.abort();
    assert!(
        error.contains("fenced")
            && error.contains("another instance with the same kafka.instance_id started"),
        "{error}"
    );

    let second = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    drive(&setup.manual, setup.end(), Duration::from_secs(300)).await;
    let (outcome, metrics) = second.stop().await;
    outcome.expect("stops cleanly");
    let comparison = setup.compare();
    let aborted_records = metric_sum(&metrics, "entrastream_kafka_aborted_records_total", &[]);
    println!("exactly_once, fenced producer, successor: {comparison:?}");
    assert_complete(&comparison);
    // the fenced transaction's records count as aborted only in the fenced process's metrics:
    // at most one page per stream
    assert!(
        comparison.duplicates as f64 <= aborted_records + 1000.0,
        "{comparison:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_the_same_id_the_older_stops_and_hands_over() {
    for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        let setup = setup(2, delivery).await;
        let mut older = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
        drive(
            &setup.manual,
            START.saturating_add(HOUR),
            Duration::from_secs(300),
        )
        .await;

        // a second instance with the same kafka.instance_id starts (a rolling update, a mistake)
        let newer_config = setup.config.clone();
        let clock = setup.clock.clone();
        let newer = tokio::spawn(async move { Service::start(newer_config, &clock, 0).await });
        let error = older
            .finished()
            .await
            .expect_err("the older instance stops");
        let AppError::TakenOver(take_over) = &error else {
            panic!("{delivery:?}: {error}");
        };
        assert!(
            error
                .to_string()
                .contains("another instance with kafka.instance_id entrastream (host "),
            "{error}"
        );
        let _ = take_over;
        let newer = newer.await.expect("starts");
        let manual = setup.manual.clone();
        wait_for(Duration::from_secs(60), || {
            manual.participants() >= STREAMS || newer.task.is_finished()
        })
        .await;
        drive(&setup.manual, setup.end(), Duration::from_secs(300)).await;
        let (outcome, _) = newer.stop().await;
        outcome.expect("the newer instance stops cleanly");
        let comparison = setup.compare();
        println!("{delivery:?}, a second instance with the same id: {comparison:?}");
        assert_complete(&comparison);
        assert_eq!(
            comparison.duplicates, 0,
            "{delivery:?}: the older one handed over after committing; nothing repeats"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_checkpoint_topic_stops_the_start_and_nothing_starts_from_now() {
    let mut setup = setup(1, Delivery::AtLeastOnce).await;
    setup.config.checkpoint.topic = "absent.checkpoints".to_owned();
    let mut service = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    let error = service
        .finished()
        .await
        .expect_err("no start without checkpoints");
    assert!(matches!(error, AppError::Setup(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("checkpoint topic absent.checkpoints does not exist"),
        "{error}"
    );
    assert_eq!(setup.compare().delivered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_down_for_60s_pauses_reads_reports_not_ready_and_resumes() {
    let setup = setup(2, Delivery::AtLeastOnce).await;
    let service = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    let health = service.metrics.health().clone();
    wait_for(Duration::from_secs(60), || health.readiness().ready).await;
    drive(
        &setup.manual,
        START.saturating_add(HOUR),
        Duration::from_secs(300),
    )
    .await;
    let published_before = service.counter("entrastream_records_published_total", &[]);

    setup.kafka.cluster.broker_down(-1).expect("brokers down");
    let driving = {
        let manual = setup.manual.clone();
        let end = setup.end();
        tokio::spawn(async move { manual.run_until(end).await })
    };
    // the service notices within kafka.health_interval (5 s)
    wait_for(Duration::from_secs(15), || !health.readiness().ready).await;
    let problems = health.readiness().problems.join("; ");
    assert!(
        problems.starts_with("kafka: no broker answers at "),
        "{problems}"
    );
    assert_eq!(
        service.counter("entrastream_kafka_state", &[("state", "unreachable")]),
        1.0
    );
    let requests_at_outage = setup.sim.stats().requests().len();
    let clock_at_outage = setup.manual.now();
    // the outage: what the broker is meant to do, not a synchronisation
    tokio::time::sleep(Duration::from_secs(60)).await;
    let requests_during = setup.sim.stats().requests().len() - requests_at_outage;
    let in_flight = service.metrics.kafka_records_in_flight.get();
    println!(
        "broker down 60 s: {requests_during} graph requests during the outage, clock moved {:?}, {in_flight} records in flight",
        setup.manual.now().duration_since(clock_at_outage)
    );
    assert!(
        requests_during <= 4 * STREAMS,
        "reads pause while Kafka is away: {requests_during} requests"
    );
    assert!(
        in_flight <= 100_000,
        "bounded by queue.buffering.max.messages"
    );
    setup.kafka.cluster.broker_up(-1).expect("brokers up");
    wait_for(Duration::from_secs(60), || health.readiness().ready).await;
    tokio::time::timeout(Duration::from_secs(300), driving)
        .await
        .expect("the run finishes")
        .expect("driving");
    setup.manual.wait_until_parked().await;
    let (outcome, metrics) = service.stop().await;
    outcome.expect("stops cleanly");
    let published = metric_sum(&metrics, "entrastream_records_published_total", &[]);
    let comparison = setup.compare();
    println!(
        "broker down 60 s then back: {comparison:?}; published {published_before} before, {published} in all"
    );
    assert_complete(&comparison);
    assert_eq!(comparison.duplicates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_that_time_out_never_advance_the_cursor() {
    for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        let mut setup = setup(2, delivery).await;
        setup
            .config
            .kafka
            .librdkafka
            .insert("message.timeout.ms".to_owned(), "3000".to_owned());
        if delivery == Delivery::ExactlyOnce {
            setup.config.kafka.transaction_timeout = Duration::from_secs(5);
        }
        let service = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
        drive(
            &setup.manual,
            START.saturating_add(HOUR),
            Duration::from_secs(300),
        )
        .await;
        setup.kafka.cluster.broker_down(-1).expect("brokers down");
        let driving = {
            let manual = setup.manual.clone();
            let end = START.saturating_add(2 * HOUR);
            tokio::spawn(async move { manual.run_until(end).await })
        };
        // longer than message.timeout.ms: deliveries fail and batches are retried
        tokio::time::sleep(Duration::from_secs(15)).await;
        setup.kafka.cluster.broker_up(-1).expect("brokers up");
        tokio::time::timeout(Duration::from_secs(300), driving)
            .await
            .expect("the run goes on")
            .expect("driving");
        drive(&setup.manual, setup.end(), Duration::from_secs(300)).await;
        let failed_batches = service.counter("entrastream_batches_total", &[("outcome", "failed")])
            + service.counter("entrastream_checkpoint_commit_failures_total", &[]);
        let (outcome, metrics) = service.stop().await;
        outcome.expect("stops cleanly");
        let aborted_records = metric_sum(&metrics, "entrastream_kafka_aborted_records_total", &[]);
        let comparison = setup.compare();
        println!(
            "{delivery:?}, deliveries timing out during a 15 s outage: {comparison:?}; {failed_batches} batches or cursor commits failed and were done again"
        );
        assert_complete(&comparison);
        assert!(failed_batches >= 1.0, "deliveries did time out");
        if delivery == Delivery::ExactlyOnce {
            assert!(comparison.duplicates as f64 <= aborted_records);
        }
    }
}

/// A producer on the mock cluster with these librdkafka settings.
fn publisher_with(kafka: &Kafka, settings: &[(&str, &str)]) -> Publisher {
    let mut config = entrastream::config::KafkaConfig::new(kafka.bootstrap.clone());
    for (key, value) in settings {
        config
            .librdkafka
            .insert((*key).to_owned(), (*value).to_owned());
    }
    let gauge = prometheus::IntGauge::new("in_flight", "records in flight").expect("gauge");
    Publisher::new(&config, gauge).expect("publisher")
}

/// A producer whose queue holds three records, handed 200: each send waits for room, and every
/// record arrives once, in order. The wait for room must not miss the last delivery report of
/// a full queue (librdkafka frees a record's place just after its report's callback returns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_queue_of_three_records_delivers_two_hundred_in_order() {
    let kafka = kafka();
    let publisher = publisher_with(
        &kafka,
        &[("queue.buffering.max.messages", "3"), ("linger.ms", "0")],
    );
    let tracker = BatchTracker::new();
    let sending = async {
        for index in 0..200 {
            let key = format!("key-{index}");
            let payload = format!("record {index}");
            publisher
                .send(
                    &tracker,
                    OutgoingRecord {
                        topic: &kafka.topics.dead_letter,
                        partition: Some(0),
                        key: key.as_bytes(),
                        payload: Some(payload.as_bytes()),
                        headers: headers(&[("index", &index.to_string())]),
                        timestamp: None,
                    },
                )
                .await
                .expect("send");
        }
        tracker.wait().await
    };
    tokio::time::timeout(Duration::from_secs(60), sending)
        .await
        .expect("200 records delivered within 60 s")
        .expect("every delivery acknowledged");
    assert_eq!(tracker.sent(), 200);
    let records = common::consume(&kafka.bootstrap, &kafka.topics.dead_letter);
    let payloads: Vec<String> = records
        .iter()
        .map(|record| String::from_utf8_lossy(&record.payload).into_owned())
        .collect();
    let expected: Vec<String> = (0..200).map(|index| format!("record {index}")).collect();
    assert_eq!(payloads, expected);
}

/// A record larger than the whole producer queue (`queue.buffering.max.kbytes`) can never be
/// taken: the send fails at once with the fix instead of waiting for room forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_larger_than_the_producer_queue_fails_with_the_fix() {
    let kafka = kafka();
    let publisher = publisher_with(&kafka, &[("queue.buffering.max.kbytes", "1")]);
    let tracker = BatchTracker::new();
    let payload = vec![b'x'; 4096];
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        publisher.send(
            &tracker,
            OutgoingRecord {
                topic: &kafka.topics.dead_letter,
                partition: Some(0),
                key: b"large",
                payload: Some(&payload),
                headers: headers(&[("stream", "sign_ins_interactive")]),
                timestamp: None,
            },
        ),
    )
    .await
    .expect("the send answers within 30 s");
    let error = outcome.expect_err("a record larger than the queue is refused");
    assert!(error.is_fatal(), "retrying cannot help: {error}");
    assert_eq!(
        error.to_string(),
        "1 record of the batch was refused by Kafka (librdkafka's producer queue \
         (queue.buffering.max.kbytes: 1) cannot hold a record of 4096 bytes); fix: raise \
         kafka.librdkafka.queue.buffering.max.kbytes above the largest record (an event, or a \
         checkpoint of up to checkpoint.max_record_bytes), or leave it at its default (65536). \
         The process stops; its checkpoints stay where they were, so the batch is produced again \
         after the fix"
    );
    assert_eq!(tracker.sent(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_kafka_is_down_ends_at_once_and_names_what_was_not_acknowledged() {
    let setup = setup(2, Delivery::AtLeastOnce).await;
    let service = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    let health = service.metrics.health().clone();
    wait_for(Duration::from_secs(60), || health.readiness().ready).await;
    drive(
        &setup.manual,
        START.saturating_add(HOUR),
        Duration::from_secs(300),
    )
    .await;
    setup.kafka.cluster.broker_down(-1).expect("brokers down");
    // the streams go on reading until the health probe notices: their pages wait for Kafka
    let driving = {
        let manual = setup.manual.clone();
        let end = setup.end();
        tokio::spawn(async move { manual.run_until(end).await })
    };
    let in_flight = service.metrics.kafka_records_in_flight.clone();
    wait_for(Duration::from_secs(30), || in_flight.get() > 0).await;
    wait_for(Duration::from_secs(15), || !health.readiness().ready).await;

    // the clock stands still from here: the stop is measured in real time, and the next start
    // begins where this run ended
    driving.abort();
    let _ = driving.await;
    let stopping = std::time::Instant::now();
    let (outcome, _) = service.stop().await;
    let stop_took = stopping.elapsed();
    assert_eq!(
        setup.manual.participants(),
        0,
        "no stream task of the stopped run is left"
    );
    let error = outcome.expect_err("records were left unacknowledged");
    let AppError::StopIncomplete {
        streams,
        unacknowledged,
    } = error
    else {
        panic!("{error:?}");
    };
    println!(
        "stop while Kafka is down: {stop_took:?}, {streams} streams abandoned, {unacknowledged} records \
         unacknowledged"
    );
    assert!(stop_took < Duration::from_secs(2), "{stop_took:?}");
    assert!(unacknowledged > 0);
    assert_eq!(
        error.to_string(),
        format!(
            "the stop was cut short ({streams} streams still waiting, {unacknowledged} records not \
             acknowledged by Kafka): they were not committed and are read again at the next start; \
             nothing is lost"
        )
    );

    // they were read again: nothing lost, nothing repeated
    setup.kafka.cluster.broker_up(-1).expect("brokers up");
    let service = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
    drive(&setup.manual, setup.end(), Duration::from_secs(300)).await;
    let (outcome, _) = service.stop().await;
    outcome.expect("stops cleanly");
    let comparison = setup.compare();
    assert_complete(&comparison);
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
}

/// A stream catching up through a long window shows its throughput while it works: records count
/// as published when Kafka acknowledges them (exactly_once: when their page's transaction
/// commits), not when the window ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_count_as_published_when_kafka_acknowledges_them_not_when_their_window_ends() {
    for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        let mut setup = setup(2, delivery).await;
        // pages of 5 records: a directory-audit window holds 20 of them (100 of the tenant's
        // 120 audits per hour), which take about two minutes of its budget (5 requests / 10 s,
        // shared by three streams)
        setup.config.polling.page_size = 5;
        let service = Service::start(setup.config.clone(), &setup.clock, STREAMS).await;
        let started = setup.manual.now();
        drive(
            &setup.manual,
            started.saturating_add(Duration::from_secs(30)),
            Duration::from_secs(60),
        )
        .await;
        let audits = [("stream", "directory_audits")];
        wait_for(Duration::from_secs(30), || {
            service.counter("entrastream_records_published_total", &audits) >= 20.0
        })
        .await;
        let committed = [("stream", "directory_audits"), ("outcome", "committed")];
        let published = service.counter("entrastream_records_published_total", &audits);
        println!(
            "{delivery:?}: {published} directory audits published 30 s into their first windows"
        );
        assert_eq!(
            service.counter("entrastream_batches_total", &committed),
            0.0,
            "{delivery:?}: no directory-audit window has ended yet"
        );
        let (outcome, _) = service.stop().await;
        outcome.expect("stops cleanly");
    }
}
