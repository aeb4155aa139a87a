//! Acceptance tests of the core pipeline: the simulator on a clock the test drives, the service,
//! librdkafka's mock cluster, and a consumer that reads every topic back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    START, consume, consume_events, drive, ids_by_stream, kafka, metric_sum, simulator, start,
    truth,
};
use entrastream::app::AppError;
use entrastream::checkpoint::{
    CheckpointError, CheckpointStore, CommitFuture, CursorCommit, FileStore, MemoryStore,
};
use entrastream::config::{PollingConfig, TenantId};
use entrastream::graph::cursor::Cursor;
use entrastream::pipeline::PipelineError;
use entrastream::sim::config::{
    FaultKind, FaultRate, FaultSpec, Latency, ScriptedFault, SimConfig, StreamLatencies,
    StreamRates, TenantSpec,
};
use entrastream::stream::StreamKind;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Three tenants, all six streams, latency with a long tail up to 90 minutes.
fn busy_simulator(hours_of_data: u64) -> SimConfig {
    SimConfig {
        seed: 7,
        tenant_count: 3,
        rates: StreamRates::uniform(2.0),
        latency: StreamLatencies {
            sign_ins_non_interactive: Latency::minutes(20, 75, 90),
            ..StreamLatencies::uniform(Latency::minutes(5, 60, 90))
        },
        history: HOUR,
        data_end: Some(START.saturating_add(HOUR * hours_of_data as u32)),
        users_per_tenant: 50,
        ..SimConfig::default()
    }
}

fn polling() -> PollingConfig {
    PollingConfig {
        initial_lookback: HOUR,
        lateness: 2 * HOUR,
        reconcile_every: 15 * MINUTE,
        ..PollingConfig::default()
    }
}

async fn run_and_compare(
    sim_config: SimConfig,
    polling: PollingConfig,
    real_time_limit: Duration,
) -> BTreeMap<String, f64> {
    run_and_compare_with(sim_config, polling, real_time_limit)
        .await
        .0
}

/// Runs the service to well past the end of the data (so that every late record is visible and
/// reconciled) and compares Kafka with the ground truth; returns figures and the faults injected.
async fn run_and_compare_with(
    sim_config: SimConfig,
    polling: PollingConfig,
    real_time_limit: Duration,
) -> (BTreeMap<String, f64>, BTreeMap<FaultKind, usize>) {
    let data_end = sim_config.data_end.expect("data ends");
    let (sim, clock) = simulator(sim_config).await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = common::config(&sim, &kafka, directory.path(), polling);
    let running = start(config, &clock, Some(Arc::new(MemoryStore::new()))).await;
    let manual = clock.as_manual().expect("manual").clone();
    let end = data_end.saturating_add(3 * HOUR);
    drive(&manual, end, real_time_limit).await;
    let metrics = running.metrics.clone();
    running.stop().await.expect("the service stops cleanly");

    let expected = truth(&sim, START.saturating_sub(HOUR), data_end, end);
    let delivered = ids_by_stream(&consume_events(&kafka));
    let duplicates: usize = delivered
        .values()
        .flat_map(|ids| ids.values())
        .map(|count| count - 1)
        .sum();
    let delivered_sets: BTreeMap<(String, String), BTreeSet<String>> = delivered
        .into_iter()
        .map(|(key, ids)| (key, ids.into_keys().collect()))
        .collect();
    let expected_count: usize = expected.values().map(BTreeSet::len).sum();
    assert_eq!(expected.len(), 18, "3 tenants x 6 streams have data");
    for (key, ids) in &expected {
        let got = delivered_sets.get(key).cloned().unwrap_or_default();
        let missing: Vec<&String> = ids.difference(&got).collect();
        let unexpected: Vec<&String> = got.difference(ids).collect();
        assert!(
            missing.is_empty(),
            "{key:?}: {} of {} missing, e.g. {:?}",
            missing.len(),
            ids.len(),
            missing.first()
        );
        assert!(
            unexpected.is_empty(),
            "{key:?}: {} unexpected",
            unexpected.len()
        );
    }
    assert_eq!(delivered_sets.len(), expected.len());
    assert_eq!(duplicates, 0, "no record twice");
    assert!(
        consume(&kafka.bootstrap, &kafka.topics.dead_letter).is_empty(),
        "no dead letters"
    );
    let late = metric_sum(&metrics, "entrastream_records_late_total", &[]);
    let published = metric_sum(&metrics, "entrastream_records_published_total", &[]);
    assert_eq!(
        published as usize, expected_count,
        "the published counter matches"
    );
    let mut faults_seen = BTreeMap::new();
    for request in sim.stats().requests() {
        if let Some(kind) = request.fault {
            *faults_seen.entry(kind).or_insert(0) += 1;
        }
    }
    let figures = BTreeMap::from([
        ("records".to_owned(), expected_count as f64),
        ("late".to_owned(), late),
        (
            "deduplicated".to_owned(),
            metric_sum(&metrics, "entrastream_records_deduplicated_total", &[]),
        ),
        ("throttled".to_owned(), sim.stats().count_status(429) as f64),
        ("requests".to_owned(), sim.stats().requests().len() as f64),
    ]);
    (figures, faults_seen)
}

/// One place for a page in the whole process (`polling.max_pages_in_memory: 1`): eighteen streams
/// take turns, each giving up its place once its page is mapped and sent, so none waits for ever
/// while holding one; everything arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eighteen_streams_sharing_one_place_for_pages_deliver_everything_once() {
    let polling = PollingConfig {
        max_pages_in_memory: 1,
        ..polling()
    };
    let figures = run_and_compare(busy_simulator(2), polling, Duration::from_secs(600)).await;
    println!("one place for pages: {figures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hours_of_late_and_unordered_records_arrive_exactly_once() {
    let figures = run_and_compare(busy_simulator(6), polling(), Duration::from_secs(600)).await;
    println!("correctness run: {figures:?}");
    assert!(
        figures["late"] > 0.0,
        "the long tail made some records late: {figures:?}"
    );
    assert_eq!(
        figures["throttled"], 0.0,
        "the budget kept every request inside Graph's limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulator_fault_changes_nothing_in_kafka() {
    let mut sim_config = busy_simulator(6);
    sim_config.token_lifetime = 20 * MINUTE;
    sim_config.skiptoken_ttl = 10 * MINUTE;
    sim_config.quirk_rate = 0.05;
    let rate = |kind: FaultKind, probability: f64| FaultRate { kind, probability };
    sim_config.faults = FaultSpec {
        rates: vec![
            rate(FaultKind::Http500, 0.01),
            rate(FaultKind::Http502, 0.01),
            rate(FaultKind::Http503, 0.01),
            rate(FaultKind::Http504, 0.01),
            rate(FaultKind::ConnectionReset, 0.01),
            rate(FaultKind::TruncatedJson, 0.01),
            rate(FaultKind::SlowResponse, 0.002),
            rate(FaultKind::EmptyPage, 0.01),
            rate(FaultKind::SkiptokenExpired, 0.02),
            rate(FaultKind::DuplicateRecord, 0.02),
            rate(FaultKind::Licence403, 0.01),
            rate(FaultKind::Throttle429, 0.005),
            rate(FaultKind::Unauthorized401, 0.005),
        ],
        slow_response_delay: Duration::from_millis(1500),
        injected_retry_after: Duration::from_secs(7),
        ..FaultSpec::default()
    };
    let polling = PollingConfig {
        request_timeout: Duration::from_secs(1),
        ..polling()
    };
    let (figures, faults_seen) =
        run_and_compare_with(sim_config, polling, Duration::from_secs(900)).await;
    println!("fault run: {figures:?}, faults injected: {faults_seen:?}");
    for kind in FaultKind::ALL {
        assert!(
            faults_seen.get(&kind).copied().unwrap_or(0) > 0,
            "{kind:?} was injected"
        );
    }
    assert!(
        figures["deduplicated"] > 0.0,
        "served duplicates were dropped: {figures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_stays_inside_the_budget_and_a_429_waits_its_retry_after() {
    let mut sim_config = busy_simulator(2);
    sim_config.tenant_count = 3;
    let (sim, clock) = simulator(sim_config).await;
    let tenant_id = sim.tenants()[1].tenant_id.clone();
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = common::config(&sim, &kafka, directory.path(), polling());
    let running = start(config, &clock, Some(Arc::new(MemoryStore::new()))).await;
    let manual = clock.as_manual().expect("manual").clone();
    drive(
        &manual,
        START.saturating_add(HOUR),
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        sim.stats().count_status(429),
        0,
        "no 429 in steady state with the default budget"
    );

    // a forced 429 with Retry-After: 11 on the tenant's next request
    let next = sim.data_requests(&tenant_id) + 1;
    sim.set_faults(FaultSpec {
        scripted: vec![ScriptedFault {
            at_request: next,
            kind: FaultKind::Throttle429,
            tenant: Some(tenant_id.clone()),
        }],
        injected_retry_after: Duration::from_secs(11),
        ..FaultSpec::default()
    });
    drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(300),
    )
    .await;
    running.stop().await.expect("stops");
    let requests: Vec<_> = sim
        .stats()
        .requests()
        .into_iter()
        .filter(|request| {
            request.tenant_id.as_deref() == Some(tenant_id.as_str()) && request.endpoint != "token"
        })
        .collect();
    let throttled_at = requests
        .iter()
        .position(|request| request.status == 429)
        .expect("the scripted 429 was served");
    // requests the tenant's other streams sent in the same instant were on their way before the
    // 429 came back (a window lets 5 go at once); the first one after it waited
    let throttled = &requests[throttled_at];
    let after = requests[throttled_at + 1..]
        .iter()
        .find(|request| request.at > throttled.at)
        .expect("the tenant's streams went on");
    let waited = after.at.duration_since(throttled.at);
    assert!(
        waited >= Duration::from_secs(11),
        "the next request of the tenant came after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(13),
        "and not much later: {waited:?}"
    );
    assert_eq!(sim.stats().count_status(429), 1);
}

/// Drives the clock a minute at a time until the simulator has answered `count` 429s; returns
/// the simulated time of the last one.
async fn drive_until_throttled(
    sim: &entrastream::sim::Simulator,
    manual: &entrastream::clock::ManualClock,
    count: usize,
) -> entrastream::clock::Timestamp {
    for _ in 0..120 {
        let throttled: Vec<_> = sim
            .stats()
            .requests()
            .into_iter()
            .filter(|request| request.status == 429)
            .collect();
        if throttled.len() == count {
            return throttled[count - 1].at;
        }
        drive(
            manual,
            manual.now().saturating_add(MINUTE),
            Duration::from_secs(60),
        )
        .await;
    }
    panic!("no 429 number {count} within two simulated hours");
}

/// `Retry-After: 86400` and `18446744073709551615` are obeyed only up to
/// `polling.max_retry_after` (5m): the tenant's next request comes exactly five minutes later,
/// its streams say `throttled` meanwhile, the other tenants keep reading, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_a_day_or_forever_is_waited_for_only_up_to_max_retry_after() {
    let sim_config = busy_simulator(2);
    let data_end = sim_config.data_end.expect("data ends");
    let (sim, clock) = simulator(sim_config).await;
    let tenant_id = sim.tenants()[1].tenant_id.clone();
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = common::config(&sim, &kafka, directory.path(), polling());
    assert_eq!(config.polling.max_retry_after, 5 * MINUTE, "the default");
    let running = start(config, &clock, Some(Arc::new(MemoryStore::new()))).await;
    let manual = clock.as_manual().expect("manual").clone();
    drive(
        &manual,
        START.saturating_add(HOUR),
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(sim.stats().count_status(429), 0);

    let data_requests_of = |tenant: &str| {
        let tenant = tenant.to_owned();
        move |request: &&entrastream::sim::stats::RequestRecord| {
            request.tenant_id.as_deref() == Some(tenant.as_str()) && request.endpoint != "token"
        }
    };
    let throttled_state = |tenant: Option<&str>| {
        let mut labels = vec![("state", "throttled")];
        labels.extend(tenant.map(|tenant| ("tenant", tenant)));
        metric_sum(&running.metrics, "entrastream_stream_state", &labels)
    };
    for (round, retry_after) in [Duration::from_secs(86_400), Duration::from_secs(u64::MAX)]
        .into_iter()
        .enumerate()
    {
        sim.set_faults(FaultSpec {
            scripted: vec![ScriptedFault {
                at_request: sim.data_requests(&tenant_id) + 1,
                kind: FaultKind::Throttle429,
                tenant: Some(tenant_id.clone()),
            }],
            injected_retry_after: retry_after,
            ..FaultSpec::default()
        });
        let throttled_at = drive_until_throttled(&sim, &manual, round + 1).await;
        // within the pause: the throttled tenant's streams say so, no other stream does
        assert!(manual.now() < throttled_at.saturating_add(5 * MINUTE));
        assert!(throttled_state(Some(&tenant_id)) >= 1.0, "round {round}");
        assert_eq!(throttled_state(None), throttled_state(Some(&tenant_id)));
        assert_eq!(
            metric_sum(
                &running.metrics,
                "entrastream_graph_retry_after_seconds_total",
                &[("tenant", &tenant_id)]
            ),
            300.0 * (round + 1) as f64,
            "seconds waited, capped"
        );

        drive(
            &manual,
            throttled_at.saturating_add(10 * MINUTE),
            Duration::from_secs(300),
        )
        .await;
        let requests = sim.stats().requests();
        let next = requests
            .iter()
            .filter(data_requests_of(&tenant_id))
            .find(|request| request.at > throttled_at)
            .expect("the tenant reads again");
        assert_eq!(
            next.at.duration_since(throttled_at),
            5 * MINUTE,
            "round {round}: waited exactly polling.max_retry_after"
        );
        assert_eq!(throttled_state(None), 0.0, "round {round}: resumed");
        for other in sim
            .tenants()
            .iter()
            .filter(|tenant| tenant.tenant_id != tenant_id)
        {
            let during_pause = requests
                .iter()
                .filter(data_requests_of(&other.tenant_id))
                .filter(|request| request.at > throttled_at && request.at < next.at)
                .count();
            assert!(
                during_pause > 0,
                "round {round}: {} kept reading",
                other.tenant_id
            );
        }
    }
    assert_eq!(sim.stats().count_status(429), 2);

    let end = data_end.saturating_add(3 * HOUR);
    drive(&manual, end, Duration::from_secs(600)).await;
    running.stop().await.expect("stops");
    let comparison = common::compare(&sim, &kafka, START.saturating_sub(HOUR), data_end, end);
    assert!(comparison.expected > 0);
    assert_eq!(
        (
            comparison.missing,
            comparison.unexpected,
            comparison.duplicates
        ),
        (0, 0, 0),
        "{comparison:?}"
    );
}

/// A store that fails one commit, as a crash between produce and commit would leave things: the
/// first commit after `armed_after` commits that carries at least `min_new_records` new records.
struct CrashingStore {
    inner: FileStore,
    armed_after: usize,
    min_new_records: usize,
    commits: AtomicUsize,
    lost_batch: parking_lot::Mutex<Option<usize>>,
}

impl CheckpointStore for CrashingStore {
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        self.inner.load(tenant, stream)
    }

    // not incremental: every commit is a whole cursor, whose new records are counted
    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture {
        let CursorCommit::Full(cursor) = commit else {
            return Box::pin(std::future::ready(Err(CheckpointError::Unusable(
                "a delta offered to a store that is not incremental".to_owned(),
            ))));
        };
        let number = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        let mut lost_batch = self.lost_batch.lock();
        let previous = match self.inner.load(tenant, stream) {
            Ok(previous) => previous,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let new_records = previous.map_or(cursor.seen.len(), |previous| {
            cursor.seen.len().saturating_sub(previous.seen.len())
        });
        if number > self.armed_after && lost_batch.is_none() && new_records >= self.min_new_records
        {
            *lost_batch = Some(new_records);
            return Box::pin(std::future::ready(Err(CheckpointError::Io {
                path: "injected".into(),
                action: "commit",
                source: std::io::Error::other("injected crash between produce and commit"),
            })));
        }
        Box::pin(std::future::ready(
            self.inner.commit_now(tenant, stream, &cursor),
        ))
    }

    fn describe(&self) -> String {
        "crashing file store".to_owned()
    }
}

/// Runs one tenant's streams until a commit fails (the crash), restarts from the file checkpoints
/// and compares Kafka with the ground truth: nothing missing, nothing extra. Returns the records
/// the failed commit carried and the duplicates the restart published (and prints the records
/// expected).
async fn crash_between_produce_and_commit(
    polling: PollingConfig,
    checkpoint_interval: Duration,
    armed_after: usize,
    min_new_records: usize,
) -> (usize, usize) {
    let sim_config = SimConfig {
        tenant_count: 1,
        ..busy_simulator(3)
    };
    let data_end = sim_config.data_end.expect("end");
    let (sim, clock) = simulator(sim_config).await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(&sim, &kafka, directory.path(), polling);
    config.checkpoint.interval = checkpoint_interval;
    let state = directory.path().join("state");
    let manual = clock.as_manual().expect("manual").clone();

    let crashing = Arc::new(CrashingStore {
        inner: FileStore::new(&state),
        armed_after,
        min_new_records,
        commits: AtomicUsize::new(0),
        lost_batch: parking_lot::Mutex::new(None),
    });
    let first = start(config.clone(), &clock, Some(crashing.clone())).await;
    tokio::time::timeout(Duration::from_secs(300), async {
        while !first.task.is_finished() {
            tokio::select! {
                _ = manual.run_until(data_end) => break,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await
    .expect("the crash happens");
    let outcome = first.stop().await;
    assert!(
        matches!(
            &outcome,
            Err(AppError::Pipeline(PipelineError::Checkpoint(_)))
        ),
        "the failed commit stops the service: {outcome:?}"
    );
    let message = outcome.expect_err("failed").to_string();
    assert!(
        message.contains("injected crash between produce and commit"),
        "{message}"
    );
    let lost_batch = crashing.lost_batch.lock().expect("a batch was lost");

    // the restart reads the file checkpoints the first run committed
    let second = start(config, &clock, None).await;
    drive(
        &manual,
        data_end.saturating_add(3 * HOUR),
        Duration::from_secs(300),
    )
    .await;
    second.stop().await.expect("stops cleanly");

    let expected = truth(
        &sim,
        START.saturating_sub(HOUR),
        data_end,
        data_end.saturating_add(3 * HOUR),
    );
    let delivered = ids_by_stream(&consume_events(&kafka));
    let mut duplicates = 0;
    for (key, ids) in &expected {
        let got = delivered.get(key).cloned().unwrap_or_default();
        let got_ids: BTreeSet<String> = got.keys().cloned().collect();
        assert_eq!(&got_ids, ids, "{key:?}: nothing missing, nothing extra");
        duplicates += got.values().map(|count| count - 1).sum::<usize>();
    }
    println!(
        "{} records expected, none missing",
        expected.values().map(BTreeSet::len).sum::<usize>()
    );
    (lost_batch, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_produce_and_commit_loses_nothing_and_repeats_at_most_its_batch() {
    let (lost_batch, duplicates) =
        crash_between_produce_and_commit(polling(), Duration::from_secs(10), 40, 20).await;
    println!(
        "crash run: lost batch of {lost_batch} records, {duplicates} duplicates after restart"
    );
    assert!(
        duplicates <= lost_batch,
        "duplicates {duplicates} > batch in flight {lost_batch}"
    );
    assert!(duplicates > 0, "the uncommitted batch was produced again");
}

/// `checkpoint.interval: 0s`: a window commits after every page once Kafka acknowledged it, so a
/// crash repeats at most one page of a stream, however long its window. The crash comes in the
/// first windows, which catch up on an hour of history (a commit per window would carry all
/// of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_checkpoint_after_every_page_a_crash_repeats_at_most_one_page() {
    let page_size = 25;
    let polling = PollingConfig {
        page_size,
        ..polling()
    };
    let (lost_batch, duplicates) =
        crash_between_produce_and_commit(polling, Duration::ZERO, 0, 10).await;
    println!(
        "crash run, a checkpoint after every page: lost batch of {lost_batch} records, \
         {duplicates} duplicates after restart"
    );
    assert!(
        lost_batch <= page_size as usize,
        "the failed commit carried {lost_batch} records, more than a page ({page_size})"
    );
    assert!(
        duplicates <= lost_batch,
        "duplicates {duplicates} > batch in flight {lost_batch}"
    );
    assert!(duplicates > 0, "the uncommitted page was produced again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlicensed_tenant_is_reported_and_everything_else_flows() {
    let mut sim_config = busy_simulator(2);
    sim_config.tenants = vec![
        TenantSpec::default(),
        TenantSpec {
            unlicensed: true,
            ..TenantSpec::default()
        },
    ];
    sim_config.tenant_count = 2;
    let data_end = sim_config.data_end.expect("end");
    let (sim, clock) = simulator(sim_config).await;
    let unlicensed = sim.tenants()[1].tenant_id.clone();
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let polling = PollingConfig {
        blocked_retry: 10 * MINUTE,
        ..polling()
    };
    let config = common::config(&sim, &kafka, directory.path(), polling);
    let running = start(config, &clock, Some(Arc::new(MemoryStore::new()))).await;
    let manual = clock.as_manual().expect("manual").clone();
    let end = data_end.saturating_add(3 * HOUR);
    drive(&manual, end, Duration::from_secs(300)).await;
    let metrics = running.metrics.clone();
    running.stop().await.expect("stops");

    for stream in [
        StreamKind::SignInsInteractive,
        StreamKind::SignInsNonInteractive,
        StreamKind::SignInsServicePrincipal,
        StreamKind::SignInsManagedIdentity,
    ] {
        let state = metric_sum(
            &metrics,
            "entrastream_stream_state",
            &[
                ("tenant", &unlicensed),
                ("stream", stream.as_str()),
                ("state", "unlicensed"),
            ],
        );
        assert_eq!(state, 1.0, "{stream} reports unlicensed");
    }
    // the blocked sign-in streams try again every 10 minutes, after three early retries
    let sign_in_requests = sim
        .stats()
        .requests()
        .iter()
        .filter(|request| {
            request.tenant_id.as_deref() == Some(unlicensed.as_str())
                && request.endpoint == "signIns"
        })
        .count();
    let hours = (end.duration_since(START).as_secs() / 3600) as usize;
    let slow_schedule = 4 * (hours * 6 + 4 + 1);
    assert!(
        sign_in_requests <= slow_schedule,
        "{sign_in_requests} sign-in requests, at most {slow_schedule}"
    );
    assert!(
        sign_in_requests >= 4 * hours * 5,
        "{sign_in_requests} sign-in requests: still retrying"
    );

    let expected = truth(&sim, START.saturating_sub(HOUR), data_end, end);
    let delivered = ids_by_stream(&consume_events(&kafka));
    for ((tenant, stream), ids) in &expected {
        let got: BTreeSet<String> = delivered
            .get(&(tenant.clone(), stream.clone()))
            .map(|ids| ids.keys().cloned().collect())
            .unwrap_or_default();
        let is_blocked = tenant == &unlicensed && stream.starts_with("sign_ins");
        if is_blocked {
            assert!(got.is_empty(), "{tenant} {stream} delivered nothing");
        } else {
            assert_eq!(
                &got, ids,
                "{tenant} {stream} flows despite the unlicensed neighbour"
            );
        }
    }
}

/// A new stream commits its origin before it reads anything: a stream that never completes a
/// window (its credentials refused from the start) still keeps where it started, so that a
/// restart hours later begins there and not at a lookback from its own, later start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_stream_commits_its_origin_before_its_first_window() {
    let sim_config = SimConfig {
        tenant_count: 1,
        ..busy_simulator(1)
    };
    let (sim, clock) = simulator(sim_config).await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = common::config(&sim, &kafka, directory.path(), polling());
    std::fs::write(directory.path().join("secret-0"), "revoked\n").expect("secret file");
    let tenant_id = TenantId::parse(&sim.tenants()[0].tenant_id).expect("a GUID");
    let store = Arc::new(MemoryStore::new());
    let running = start(config, &clock, Some(store.clone())).await;
    common::wait_for(Duration::from_secs(30), || {
        StreamKind::ALL
            .iter()
            .all(|stream| store.get(&tenant_id, *stream).is_some())
    })
    .await;
    let origin = START.saturating_sub(HOUR);
    for stream in StreamKind::ALL {
        let cursor = store.get(&tenant_id, stream).expect("committed");
        assert_eq!(cursor.origin, origin, "{stream:?}");
        assert_eq!(cursor.watermark, origin, "{stream:?}: no window completed");
        assert!(cursor.seen.is_empty(), "{stream:?}");
    }
    assert_eq!(
        consume_events(&kafka).len(),
        0,
        "the refused credentials let nothing through"
    );
    running.stop().await.expect("stops");
}

/// The file store, counting what it is sent, mirroring every commit into a memory store, and
/// keeping the cursors it loaded.
struct JournalingStore {
    inner: FileStore,
    whole: AtomicUsize,
    deltas: AtomicUsize,
    delta_ids: AtomicUsize,
    mirror: MemoryStore,
    loaded: parking_lot::Mutex<BTreeMap<String, Cursor>>,
}

impl JournalingStore {
    fn new(directory: &std::path::Path) -> Self {
        JournalingStore {
            inner: FileStore::new(directory),
            whole: AtomicUsize::new(0),
            deltas: AtomicUsize::new(0),
            delta_ids: AtomicUsize::new(0),
            mirror: MemoryStore::new(),
            loaded: parking_lot::Mutex::new(BTreeMap::new()),
        }
    }
}

impl CheckpointStore for JournalingStore {
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        let cursor = self.inner.load(tenant, stream)?;
        if let Some(cursor) = &cursor {
            self.loaded
                .lock()
                .insert(stream.as_str().to_owned(), cursor.clone());
            // the memory store applies a commit when called; its future is already complete
            drop(
                self.mirror
                    .commit(tenant, stream, CursorCommit::Full(cursor.clone())),
            );
        }
        Ok(cursor)
    }

    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture {
        match &commit {
            CursorCommit::Full(_) => self.whole.fetch_add(1, Ordering::SeqCst),
            CursorCommit::Delta(delta) => {
                self.delta_ids
                    .fetch_add(delta.added.len(), Ordering::SeqCst);
                self.deltas.fetch_add(1, Ordering::SeqCst)
            }
        };
        drop(self.mirror.commit(tenant, stream, commit.clone()));
        self.inner.commit(tenant, stream, commit)
    }

    fn incremental(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "journaling file store".to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_the_checkpoint_journal_and_repeats_nothing() {
    let sim_config = SimConfig {
        tenant_count: 1,
        ..busy_simulator(3)
    };
    let data_end = sim_config.data_end.expect("end");
    let (sim, clock) = simulator(sim_config).await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(&sim, &kafka, directory.path(), polling());
    // a commit after every page: each delta carries that page's records, not the window's so far
    config.checkpoint.interval = Duration::ZERO;
    config.polling.page_size = 50;
    let state = directory.path().join("state");
    let tenant_id = TenantId::parse(&sim.tenants()[0].tenant_id).expect("a GUID");
    let manual = clock.as_manual().expect("manual").clone();

    let first_store = Arc::new(JournalingStore::new(&state));
    let first = start(config.clone(), &clock, Some(first_store.clone())).await;
    drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(300),
    )
    .await;
    let metrics = first.metrics.clone();
    first.stop().await.expect("stops cleanly");
    // one whole cursor per stream (its origin), deltas from then on
    assert_eq!(first_store.whole.load(Ordering::SeqCst), 6);
    let deltas = first_store.deltas.load(Ordering::SeqCst);
    assert!(deltas > 6 * 20, "{deltas} deltas");
    // each id goes into two deltas: its page's, and its window's at the window's end
    let published = metric_sum(&metrics, "entrastream_records_published_total", &[]);
    let delta_ids = first_store.delta_ids.load(Ordering::SeqCst) as f64;
    println!("{published} records published, {deltas} deltas carried {delta_ids} ids");
    assert!(published > 1_000.0, "{published}");
    assert!(
        delta_ids <= 2.0 * published,
        "deltas carried {delta_ids} ids for {published} records"
    );
    let commits = |kind| {
        metric_sum(
            &metrics,
            "entrastream_checkpoint_commits_total",
            &[("kind", kind)],
        )
    };
    assert_eq!(commits("whole"), 6.0);
    assert_eq!(commits("delta"), deltas as f64);
    for stream in StreamKind::ALL {
        let held = first_store
            .mirror
            .get(&tenant_id, stream)
            .expect("committed")
            .seen
            .len();
        assert_eq!(
            metric_sum(
                &metrics,
                "entrastream_checkpoint_ids",
                &[("stream", stream.as_str())]
            ),
            held as f64,
            "{stream:?}"
        );
    }
    let mut journal_lines = 0;
    for stream in StreamKind::ALL {
        let journal =
            entrastream::checkpoint::journal_of(&first_store.inner.path_of(&tenant_id, stream));
        journal_lines += std::fs::read_to_string(&journal)
            .unwrap_or_else(|error| panic!("{}: {error}", journal.display()))
            .lines()
            .count();
    }
    assert_eq!(journal_lines, deltas, "a line per delta");

    // the restart replays the journals: the cursors are those the first run committed last
    let second_store = Arc::new(JournalingStore::new(&state));
    let second = start(config, &clock, Some(second_store.clone())).await;
    common::wait_for(Duration::from_secs(30), || {
        second_store.loaded.lock().len() == 6
    })
    .await;
    {
        let loaded = second_store.loaded.lock();
        assert_eq!(loaded.len(), 6);
        for stream in StreamKind::ALL {
            let committed = first_store
                .mirror
                .get(&tenant_id, stream)
                .expect("committed");
            assert!(!committed.seen.is_empty(), "{stream:?}");
            assert_eq!(loaded.get(stream.as_str()), Some(&committed), "{stream:?}");
            let journal = entrastream::checkpoint::journal_of(
                &second_store.inner.path_of(&tenant_id, stream),
            );
            assert_eq!(
                std::fs::read(&journal).expect("journal"),
                b"",
                "{stream:?}: folded into the document at loading"
            );
        }
    }
    drive(
        &manual,
        data_end.saturating_add(3 * HOUR),
        Duration::from_secs(300),
    )
    .await;
    second.stop().await.expect("stops cleanly");
    assert_eq!(second_store.whole.load(Ordering::SeqCst), 6);

    let expected = truth(
        &sim,
        START.saturating_sub(HOUR),
        data_end,
        data_end.saturating_add(3 * HOUR),
    );
    assert_eq!(expected.len(), 6);
    let delivered = ids_by_stream(&consume_events(&kafka));
    for (key, ids) in &expected {
        let got = delivered.get(key).cloned().unwrap_or_default();
        let got_ids: BTreeSet<String> = got.keys().cloned().collect();
        assert_eq!(&got_ids, ids, "{key:?}: nothing missing, nothing extra");
        let twice: Vec<_> = got.iter().filter(|(_, count)| **count > 1).collect();
        assert!(
            twice.is_empty(),
            "{key:?}: a graceful stop repeats nothing: {twice:?}"
        );
    }
}

/// A backlog far denser than one window should hold: the first page of the first window shows
/// it, the window is narrowed before anything is sent, and every window then holds about
/// `polling.max_window_pages` pages; the cursor keeps the density, so a restart starts narrow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_are_sized_from_the_density_graph_shows() {
    let data_end = START.saturating_add(HOUR);
    let sim_config = SimConfig {
        seed: 11,
        tenant_count: 1,
        rates: StreamRates {
            // 9,000 an hour: far denser than a window of 5 pages of 100 holds, and within what
            // the mock cluster keeps of one partition
            directory_audits: 150.0,
            sign_ins_interactive: 0.0,
            provisioning: 0.0,
            sign_ins_non_interactive: 0.0,
            sign_ins_service_principal: 0.0,
            sign_ins_managed_identity: 0.0,
        },
        latency: StreamLatencies::uniform(Latency::ZERO),
        history: HOUR,
        data_end: Some(data_end),
        throttle: None,
        ..SimConfig::default()
    };
    let (sim, clock) = simulator(sim_config).await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let polling = PollingConfig {
        initial_lookback: 2 * HOUR,
        max_window: HOUR,
        page_size: 100,
        max_window_pages: 5,
        ..polling()
    };
    let mut config = common::config(&sim, &kafka, directory.path(), polling);
    config.tenants[0].streams = Some(vec![StreamKind::DirectoryAudits]);
    let store = Arc::new(MemoryStore::new());
    let running = start(config, &clock, Some(store.clone())).await;
    let manual = clock.as_manual().expect("manual").clone();
    drive(
        &manual,
        data_end.saturating_add(HOUR),
        Duration::from_secs(300),
    )
    .await;
    running.stop().await.expect("stops cleanly");

    // pages per window attempt: a request without a skip token starts one
    let mut pages_per_window = Vec::new();
    for request in sim.stats().requests() {
        if request.endpoint != "directoryAudits" {
            continue;
        }
        if request.has_skiptoken {
            if let Some(pages) = pages_per_window.last_mut() {
                *pages += 1;
            }
        } else {
            pages_per_window.push(1usize);
        }
    }
    let largest = pages_per_window.iter().copied().max().unwrap_or(0);
    let narrowed = pages_per_window.iter().filter(|pages| **pages == 1).count();
    println!(
        "9,000 records an hour, pages of 100, max_window_pages 5: {} windows, at most {largest} pages, \
         {narrowed} of one page (narrowed, or quiet)",
        pages_per_window.len(),
    );
    // the first window of an hour (90 pages) was narrowed after its first page; from then on a
    // window holds about 5 pages: a first page's time range estimates its window's, so a few hold
    // more (at most twice 5 before a window is narrowed, up to three times with the estimate's error)
    assert_eq!(pages_per_window.first(), Some(&1));
    let mut sorted = pages_per_window.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!(largest <= 3 * 5, "{pages_per_window:?}");
    assert!(median <= 5, "{pages_per_window:?}");
    let tenant = TenantId::parse(&sim.tenants()[0].tenant_id).expect("a GUID");
    let cursor = store
        .load(&tenant, StreamKind::DirectoryAudits)
        .expect("loads")
        .expect("a cursor");
    let density = cursor.records_per_hour.expect("the density is kept");
    // 9,000 an hour while the data lasted, halved by each quiet window after its end
    assert!((1_000..=15_000).contains(&density), "{density}");

    let expected = truth(&sim, START.saturating_sub(2 * HOUR), data_end, data_end);
    let delivered = ids_by_stream(&consume_events(&kafka));
    let expected_ids: usize = expected.values().map(BTreeSet::len).sum();
    let delivered_ids: usize = delivered.values().map(BTreeMap::len).sum();
    let copies: usize = delivered.values().flat_map(|ids| ids.values()).sum();
    assert!(expected_ids > 10_000, "{expected_ids}");
    assert_eq!(delivered_ids, expected_ids);
    assert_eq!(copies, expected_ids, "no record twice");
}

/// An event's Kafka record carries the event's time as its timestamp, so that consumers that
/// take a record's time by default file it when it happened; an event older than six days is
/// stamped six days back, a day inside Kafka's default retention (docs/consumers.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_stamped_with_their_event_time_within_six_days() {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let (sim, clock) = simulator(SimConfig {
        seed: 11,
        tenant_count: 1,
        rates: StreamRates::uniform(0.02),
        history: 8 * DAY,
        data_end: Some(START.saturating_add(HOUR)),
        ..SimConfig::default()
    })
    .await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(
        &sim,
        &kafka,
        directory.path(),
        PollingConfig {
            initial_lookback: 8 * DAY,
            ..polling()
        },
    );
    config.tenants[0].streams = Some(vec![StreamKind::DirectoryAudits]);
    let running = start(config, &clock, Some(Arc::new(MemoryStore::new()))).await;
    let manual = clock.as_manual().expect("manual").clone();
    let end = START.saturating_add(2 * HOUR);
    drive(&manual, end, Duration::from_secs(60)).await;
    running.stop().await.expect("the service stops cleanly");

    let records = consume(&kafka.bootstrap, &kafka.topics.directory_audits);
    let (mut exact, mut clamped) = (0, 0);
    for record in &records {
        let event_time = entrastream::clock::Timestamp::parse_rfc3339(record.header("event_time"))
            .expect("an event_time header")
            .as_millis();
        let timestamp = record.timestamp.expect("a timestamp");
        let six_days = entrastream::kafka::RECORD_TIME_MAX_AGE.as_millis() as i64;
        if event_time >= end.as_millis() - six_days {
            assert_eq!(timestamp, event_time, "{}", record.key);
            exact += 1;
        } else if event_time < START.as_millis() - six_days {
            // stamped six days before the moment it was sent, between START and `end`
            assert!(
                (START.as_millis() - six_days..=end.as_millis() - six_days).contains(&timestamp),
                "{}: {timestamp} for an event at {event_time}",
                record.key
            );
            clamped += 1;
        }
        assert!(timestamp <= end.as_millis(), "never in the future");
    }
    println!(
        "{} records: {exact} stamped with their event time, {clamped} older than six days \
         stamped six days back",
        records.len()
    );
    assert!(
        exact > 100 && clamped > 10,
        "{exact} exact, {clamped} clamped"
    );
}

/// An MSSP's shape: 24 tenants consented to one application, all six streams each. Graph limits
/// the application across its tenants (here 30 requests per 10 s, so that 24 tenants at their
/// own 5 per 10 s would exceed it four times over) and each tenant to 5 per 10 s: entrastream
/// shares the application's budget among the tenants and keeps a margin below both limits, so
/// Graph never answers 429, and everything arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_of_one_application_share_its_budget_without_a_single_429() {
    const TENANTS: usize = 24;
    let app_limit = entrastream::sim::config::ThrottleSpec {
        requests: 30,
        per: Duration::from_secs(10),
    };
    let sim_config = SimConfig {
        seed: 31,
        tenant_count: TENANTS,
        tenants: (0..TENANTS)
            .map(|_| TenantSpec {
                client_id: Some("7d3c5a4e-9b1f-4c2a-8e6d-0a1b2c3d4e5f".to_owned()),
                client_secret: Some("one-application-for-every-tenant".to_owned()),
                ..TenantSpec::default()
            })
            .collect(),
        rates: StreamRates::uniform(0.5),
        latency: StreamLatencies::uniform(Latency::minutes(2, 10, 20)),
        history: HOUR,
        data_end: Some(START.saturating_add(HOUR)),
        users_per_tenant: 10,
        app_throttle: Some(app_limit),
        ..SimConfig::default()
    };
    let data_end = START.saturating_add(HOUR);
    let (sim, clock) = simulator(sim_config).await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(
        &sim,
        &kafka,
        directory.path(),
        PollingConfig {
            interval: 2 * MINUTE,
            ..polling()
        },
    );
    config.graph.app_budget = app_limit.as_throttle();
    let running = start(config, &clock, Some(Arc::new(MemoryStore::new()))).await;
    let manual = clock.as_manual().expect("manual").clone();
    // the latest record is visible 20 minutes after its time, and read within the next polls
    let end = data_end.saturating_add(HOUR);
    drive(&manual, end, Duration::from_secs(300)).await;
    running.stop().await.expect("the service stops cleanly");

    let requests = sim.stats().requests();
    let data_requests: Vec<_> = requests
        .iter()
        .filter(|request| request.endpoint != "token")
        .collect();
    println!(
        "{TENANTS} tenants of one application: {} Graph requests in {:?} of simulated time, {} answered 429",
        data_requests.len(),
        end.duration_since(START),
        sim.stats().count_status(429)
    );
    assert_eq!(sim.stats().count_status(429), 0, "no 429 at all");
    let expected = truth(&sim, START.saturating_sub(HOUR), data_end, end);
    let delivered = ids_by_stream(&consume_events(&kafka));
    assert_eq!(
        expected.len(),
        TENANTS * 6,
        "every tenant and stream has data"
    );
    for (key, ids) in &expected {
        let got = delivered.get(key).cloned().unwrap_or_default();
        assert_eq!(got.len(), ids.len(), "{key:?}");
        assert!(got.values().all(|count| *count == 1), "{key:?}: no repeats");
        assert!(ids.iter().all(|id| got.contains_key(id)), "{key:?}");
    }
}
