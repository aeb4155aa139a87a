//! A process killed every few seconds still catches up: windows hold about
//! `polling.max_window_pages` pages (sized from the density Graph showed, kept in the cursor), so
//! each run completes and commits windows before its kill, and the next run goes on from there.
//! `entrastream run` is a child process against the simulator (system clock, in this process) and
//! an Apache Kafka broker (`common::broker`: the mock cluster keeps too little per partition for
//! such a backlog); the whole backlog is visible before the first start.
//!
//! `ENTRASTREAM_CRASH_LOOP=records,kill_every_ms,max_window_pages` sizes the run (the figures in
//! BENCHMARKS.md: `200000,5000,20` and the same with `1000`, as before windows were sized, on a
//! release build); the default is a small backlog a debug build gets through in CI.
//! `ENTRASTREAM_CRASH_LOOP_LIMIT_SECS` (600) is how long it may take.

mod common;

use std::time::{Duration, Instant};

use common::broker::Broker;
use common::service_process::Service;
use common::{compare_records, consume_events_with};
use entrastream::clock::Clock;
use entrastream::config::{PollingConfig, ThrottleConfig, Topics};
use entrastream::sim::Simulator;
use entrastream::sim::config::{Latency, SimConfig, StreamLatencies, StreamRates};
use entrastream::stream::StreamKind;

const MINUTE: Duration = Duration::from_secs(60);

struct Loop {
    records: u64,
    kill_every: Duration,
    max_window_pages: u32,
}

fn sizes() -> Loop {
    let configured = std::env::var("ENTRASTREAM_CRASH_LOOP").ok();
    let numbers: Vec<u64> = configured
        .as_deref()
        .unwrap_or("24000,3000,3")
        .split(',')
        .map(|number| {
            number
                .trim()
                .parse()
                .expect("records,kill_every_ms,max_window_pages")
        })
        .collect();
    Loop {
        records: numbers[0],
        kill_every: Duration::from_millis(numbers[1]),
        max_window_pages: u32::try_from(numbers[2]).expect("pages"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_every_few_seconds_still_catches_up() {
    let sizes = sizes();
    let clock = Clock::system();
    let now = clock.now();
    let history = 120 * MINUTE;
    let data_end = now.saturating_sub(MINUTE);
    let per_minute = sizes.records as f64 / 120.0;
    let sim = Simulator::start(
        SimConfig {
            seed: 17,
            tenant_count: 1,
            history,
            data_end: Some(data_end),
            rates: StreamRates {
                directory_audits: per_minute,
                sign_ins_interactive: 0.0,
                provisioning: 0.0,
                sign_ins_non_interactive: 0.0,
                sign_ins_service_principal: 0.0,
                sign_ins_managed_identity: 0.0,
            },
            latency: StreamLatencies::uniform(Latency::ZERO),
            throttle: None,
            ..SimConfig::default()
        },
        clock,
    )
    .await
    .expect("simulator");
    let broker = Broker::start();
    let topics = Topics::default();
    broker.create_topic(&topics.directory_audits, 4, &[]);
    let directory = tempfile::tempdir().expect("tempdir");
    let polling = PollingConfig {
        interval: Duration::from_secs(1),
        initial_lookback: 3 * 60 * MINUTE,
        max_window: 60 * MINUTE,
        max_window_pages: sizes.max_window_pages,
        throttle: ThrottleConfig {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        ..PollingConfig::default()
    };
    let mut config = common::config_for(
        &sim,
        &broker.plaintext(),
        &topics,
        directory.path(),
        polling,
    );
    config.tenants[0].streams = Some(vec![StreamKind::DirectoryAudits]);
    let from = now.saturating_sub(3 * 60 * MINUTE);

    let started = Instant::now();
    let limit = std::env::var("ENTRASTREAM_CRASH_LOOP_LIMIT_SECS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or(600);
    let deadline = started + Duration::from_secs(limit);
    let mut kills = 0u64;
    let comparison = loop {
        let mut service = Service::start(&config, directory.path(), &format!("run-{kills}"));
        let killed_at = Instant::now() + sizes.kill_every;
        while Instant::now() < killed_at {
            if let Some(status) = service.child.try_wait().expect("try_wait") {
                panic!("run {kills} ended by itself ({status}):\n{}", service.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        service.child.kill().expect("SIGKILL");
        service.child.wait().expect("reaped");
        kills += 1;
        let records = consume_events_with(&broker.plaintext(), &topics, &[]);
        let comparison = compare_records(&sim, &records, from, data_end, data_end);
        if comparison.missing == 0 {
            break comparison;
        }
        assert!(
            Instant::now() < deadline,
            "not caught up within {limit} s of kills every {:?}: {kills} kills, {comparison:?}",
            sizes.kill_every
        );
    };
    let took = started.elapsed();
    println!(
        "crash loop: {} records, SIGKILL every {:?}, max_window_pages {}: caught up after {kills} kills \
         ({took:?}); delivered {}, duplicates {}",
        comparison.expected,
        sizes.kill_every,
        sizes.max_window_pages,
        comparison.delivered,
        comparison.duplicates
    );
    assert!(comparison.expected as u64 >= sizes.records * 9 / 10);
    assert_eq!(comparison.unexpected, 0);
    // a kill repeats what its run published since its last commit: at most the window in flight
    // (a window is narrowed before it holds more than twice max_window_pages pages; the first
    // page's estimate can err by half again)
    let window_bound = 3 * u64::from(sizes.max_window_pages) * 1000;
    assert!(
        comparison.duplicates as u64 <= kills * window_bound,
        "{} duplicates after {kills} kills",
        comparison.duplicates
    );
}
