//! `entrastream backfill` against the simulator's ground truth and the in-process mock cluster: the
//! live service runs from its origin, a backfill adds what came before, and Kafka then holds every
//! record of the tenant once; a backfill stopped midway continues on a rerun; refusals name their
//! cause and fix; the progress lines and the summary as printed off a terminal.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use entrastream::backfill::{self, BackfillOptions, Display, Licence, Request, Summary};
use entrastream::clock::{Clock, Timestamp};
use entrastream::config::{Config, PollingConfig};
use entrastream::retry::Backoff;
use entrastream::sim::Simulator;
use entrastream::sim::config::SimConfig;
use entrastream::stream::StreamKind;
use entrastream::telemetry::metrics::Metrics;
use parking_lot::Mutex;

use common::START;

const TENANT: &str = "55555555-5555-4555-8555-555555555555";
const OTHER: &str = "66666666-6666-4666-8666-666666666666";
const HOUR: Duration = Duration::from_secs(3600);

/// Six hours of audits and interactive sign-ins up to an hour after `START`, visible at once.
fn simulated(seed: u64) -> SimConfig {
    SimConfig {
        history: 6 * HOUR,
        ..common::two_tenants(seed, TENANT, OTHER)
    }
}

/// Small pages, so that a backfill of five hours takes many windows and pages.
fn polling() -> PollingConfig {
    PollingConfig {
        initial_lookback: HOUR,
        page_size: 50,
        max_window_pages: 2,
        ..PollingConfig::default()
    }
}

fn configured(sim: &Simulator, kafka: &common::Kafka, directory: &std::path::Path) -> Config {
    let mut config = common::config(sim, kafka, directory, polling());
    for tenant in &mut config.tenants {
        tenant.streams = Some(vec![
            StreamKind::DirectoryAudits,
            StreamKind::SignInsInteractive,
        ]);
    }
    config
}

/// The live service from `START` (its origin an hour before) until every record is published.
async fn run_live(config: &Config, clock: &Clock) {
    let manual = clock.as_manual().expect("manual").clone();
    let running = common::start(config.clone(), clock, None).await;
    common::drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(60),
    )
    .await;
    running
        .stop()
        .await
        .expect("the live service stops cleanly");
}

/// What a backfill printed off a terminal.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

fn request(since: &str) -> Request {
    Request {
        tenant: TENANT.to_owned(),
        streams: Vec::new(),
        since: since.to_owned(),
        until: None,
        requests_per_10s: 2,
        licence: Licence::Premium,
        restart: false,
    }
}

/// Runs a backfill on the manual clock, driven until it ends or `stop` resolves.
async fn backfill_with(
    config: &Config,
    clock: &Clock,
    request: &Request,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()>,
) -> (Result<Summary, String>, String) {
    let lines = Lines::default();
    let options = BackfillOptions {
        clock: clock.clone(),
        backoff: Backoff::default(),
        metrics: Some(metrics),
        display: Arc::new(Display::lines(Box::new(lines.clone()))),
        progress_every: Duration::from_secs(60),
    };
    let manual = clock.as_manual().expect("manual").clone();
    let outcome = tokio::time::timeout(Duration::from_secs(60), async {
        let running = backfill::run(config.clone(), request, options, stop);
        tokio::pin!(running);
        let far = manual
            .now()
            .saturating_add(Duration::from_secs(30 * 24 * 3600));
        tokio::select! {
            biased;
            outcome = &mut running => outcome,
            () = manual.run_until(far) => running.await,
        }
    })
    .await
    .expect("the backfill ends within a minute");
    (outcome, lines.text())
}

/// Ids in Kafka per (tenant, stream), with how often each was delivered.
fn delivered(kafka: &common::Kafka) -> BTreeMap<(String, String), BTreeMap<String, usize>> {
    common::ids_by_stream(&common::consume_events(kafka))
}

/// Records missing from and repeated in Kafka against the truth: the tenant from `tenant_from`,
/// the other tenant from the live origin.
fn against_truth(
    sim: &Simulator,
    kafka: &common::Kafka,
    tenant_from: Timestamp,
) -> (usize, usize, usize, usize) {
    let live_origin = START.saturating_sub(HOUR);
    let data_end = START.saturating_add(HOUR);
    let got = delivered(kafka);
    let (mut expected, mut missing, mut duplicates, mut unexpected) = (0, 0, 0, 0);
    for (tenant, from) in [(TENANT, tenant_from), (OTHER, live_origin)] {
        for stream in [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive] {
            let truth: BTreeSet<String> = sim.truth(
                tenant,
                stream,
                from,
                data_end,
                data_end.saturating_add(HOUR),
            );
            expected += truth.len();
            let key = (tenant.to_owned(), stream.as_str().to_owned());
            let empty = BTreeMap::new();
            let ids = got.get(&key).unwrap_or(&empty);
            missing += truth.iter().filter(|id| !ids.contains_key(*id)).count();
            duplicates += ids.values().map(|count| count - 1).sum::<usize>();
            unexpected += ids.keys().filter(|id| !truth.contains(*id)).count();
        }
    }
    (expected, missing, duplicates, unexpected)
}

fn truth_before_live(sim: &Simulator, from: Timestamp) -> usize {
    [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive]
        .into_iter()
        .map(|stream| {
            sim.truth(
                TENANT,
                stream,
                from,
                START
                    .saturating_sub(HOUR)
                    .saturating_sub(Duration::from_millis(1)),
                START.saturating_add(3 * HOUR),
            )
            .len()
        })
        .sum()
}

/// The live service from its origin, then a backfill of the five hours before it: Kafka holds
/// every record of the tenant from the backfill's start on, each once; the other tenant from the
/// live origin only. The progress lines and the summary are those a log file gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_then_backfill_is_the_whole_truth_once() {
    common::test_logging();
    let (sim, clock) = common::simulator(simulated(61)).await;
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = configured(&sim, &kafka, directory.path());
    run_live(&config, &clock).await;
    let live_only = against_truth(&sim, &kafka, START.saturating_sub(HOUR));
    assert_eq!(
        (live_only.1, live_only.2, live_only.3),
        (0, 0, 0),
        "live: {live_only:?}"
    );

    let since = START.saturating_sub(5 * HOUR);
    let metrics = Metrics::new(clock.clone());
    let (outcome, printed) = backfill_with(
        &config,
        &clock,
        &request(&since.to_rfc3339_seconds()),
        metrics,
        std::future::pending(),
    )
    .await;
    let summary = outcome.expect("the backfill runs");
    assert!(summary.complete(), "{summary}\n{printed}");

    let (expected, missing, duplicates, unexpected) = against_truth(&sim, &kafka, since);
    println!(
        "backfill: expected {expected}, missing {missing}, duplicates {duplicates}, unexpected {unexpected}"
    );
    println!("{printed}{summary}");
    assert_eq!((missing, duplicates, unexpected), (0, 0, 0));
    let backfilled = truth_before_live(&sim, since);
    assert!(
        backfilled > 500,
        "{backfilled} records before the live origin"
    );
    let published: u64 = summary.streams.iter().map(|each| each.counts.records).sum();
    assert_eq!(published as usize, backfilled);

    // what was planned, then plain progress lines off a terminal
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!(
                "backfill {TENANT} directory_audits: 2026-01-05T07:00:00Z..2026-01-05T11:00:00Z; the live stream \
                 publishes from 2026-01-05T11:00:00Z on (its origin)"
            ),
            format!(
                "backfill {TENANT} sign_ins_interactive: 2026-01-05T07:00:00Z..2026-01-05T11:00:00Z; the live \
                 stream publishes from 2026-01-05T11:00:00Z on (its origin)"
            ),
        ]
    );
    let progress = regex::Regex::new(
        r"^backfill \d{1,3}%: \d+ records, \d+ pages, \d+ requests \(budget 2 per 10s\), \d+ throttled, [0-9hms ]+ elapsed, eta ([0-9hms ]+|unknown)$",
    )
    .expect("regex");
    assert!(lines.len() > 3, "{printed}");
    for line in &lines[2..] {
        assert!(progress.is_match(line), "{line:?}");
    }
    assert!(
        lines
            .last()
            .is_some_and(|line| line.starts_with(&format!("backfill 100%: {published} records, "))),
        "{printed}"
    );

    // the summary: per stream, what was read and what was left to the live stream
    let text = summary.to_string();
    let summary_lines: Vec<&str> = text.lines().collect();
    let first = regex::Regex::new(&format!(
        r"^backfill of tenant {TENANT} finished in [0-9hms ]+: {published} records published, \d+ pages, \d+ requests, \d+ throttled \(429\)$"
    ))
    .expect("regex");
    assert!(first.is_match(summary_lines[0]), "{text}");
    for (line, stream) in summary_lines[1..]
        .iter()
        .zip(["directory_audits", "sign_ins_interactive"])
    {
        let per_stream = regex::Regex::new(&format!(
            r"^  {stream}: \d+ records, \d+ pages, \d+ requests, \d+ throttled; 2026-01-05T07:00:00Z..2026-01-05T11:00:00Z complete; skipped as the live stream's: from 2026-01-05T11:00:00Z on, 0 records read there left to it$"
        ))
        .expect("regex");
        assert!(per_stream.is_match(line), "{line:?}");
    }
    assert_eq!(summary_lines.len(), 3, "{text}");

    // the same command again: nothing left, nothing published twice
    let (again, printed_again) = backfill_with(
        &config,
        &clock,
        &request(&since.to_rfc3339_seconds()),
        Metrics::new(clock.clone()),
        std::future::pending(),
    )
    .await;
    let again = again.expect("runs");
    assert!(again.complete());
    assert_eq!(
        again
            .streams
            .iter()
            .map(|each| each.counts.records)
            .sum::<u64>(),
        0
    );
    assert!(
        printed_again.contains(
            "2026-01-05T07:00:00Z..2026-01-05T11:00:00Z already published by an earlier run"
        ),
        "{printed_again}"
    );
    assert_eq!(against_truth(&sim, &kafka, since).2, 0);
}

/// A backfill stopped midway (the stop signal, in-process) keeps what Kafka acknowledged; the same
/// command continues from there and says so: nothing lost, nothing published twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_backfill_continues_where_it_stopped() {
    common::test_logging();
    let (sim, clock) = common::simulator(simulated(62)).await;
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = configured(&sim, &kafka, directory.path());
    run_live(&config, &clock).await;

    // a relative --since: the rerun continues the same range
    let since_text = "7h";
    let since = clock.now().saturating_sub(7 * HOUR).floor_to_second();
    let metrics = Metrics::new(clock.clone());
    let watched = metrics.clone();
    let stop = async move {
        common::wait_for(Duration::from_secs(30), || {
            common::metric_sum(&watched, "entrastream_records_published_total", &[]) >= 200.0
        })
        .await;
    };
    let (first, printed) =
        backfill_with(&config, &clock, &request(since_text), metrics, stop).await;
    let first = first.expect("runs");
    assert!(!first.complete() && first.stopped, "{first}\n{printed}");
    let first_published: u64 = first.streams.iter().map(|each| each.counts.records).sum();
    assert!(first_published >= 200, "{first}");
    let text = first.to_string();
    assert!(
        text.contains("stopped before its end")
            && text.ends_with(
                "what Kafka acknowledged is kept: the same command continues where this one stopped\n"
            ),
        "{text}"
    );
    assert!(
        printed.contains("stopping: what Kafka acknowledged is committed"),
        "{printed}"
    );
    let (_, missing_after_stop, duplicates_after_stop, _) = against_truth(&sim, &kafka, since);
    assert!(missing_after_stop > 0);
    assert_eq!(duplicates_after_stop, 0);

    let (second, printed_again) = backfill_with(
        &config,
        &clock,
        &request(since_text),
        Metrics::new(clock.clone()),
        std::future::pending(),
    )
    .await;
    let second = second.expect("runs");
    assert!(second.complete(), "{second}\n{printed_again}");
    assert!(
        printed_again.contains("continuing where an earlier run stopped"),
        "{printed_again}"
    );
    assert!(second.to_string().contains("(continued from "), "{second}");
    let (expected, missing, duplicates, unexpected) = against_truth(&sim, &kafka, since);
    let second_published: u64 = second.streams.iter().map(|each| each.counts.records).sum();
    println!(
        "stopped after {first_published}, continued with {second_published}: expected {expected}, missing \
         {missing}, duplicates {duplicates}, unexpected {unexpected}"
    );
    assert_eq!((missing, duplicates, unexpected), (0, 0, 0));
    assert_eq!(
        (first_published + second_published) as usize,
        truth_before_live(&sim, since)
    );
}

/// With the kafka checkpoint store, beside a running instance: the backfill keeps its progress
/// in the checkpoint topic under its own instance id, so the live instance's lease is never
/// claimed (it runs on and stops cleanly, not taken over); stopped midway and run again, it
/// continues, and Kafka holds the truth once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beside_a_running_instance_with_kafka_checkpoints() {
    common::test_logging();
    let (sim, clock) = common::simulator(simulated(65)).await;
    let manual = clock.as_manual().expect("manual").clone();
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = configured(&sim, &kafka, directory.path());
    common::use_kafka_checkpoints(&mut config, entrastream::config::Delivery::AtLeastOnce);
    let live = common::start(config.clone(), &clock, None).await;
    common::drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(60),
    )
    .await;

    let since = START.saturating_sub(5 * HOUR);
    let metrics = Metrics::new(clock.clone());
    let watched = metrics.clone();
    let stop = async move {
        common::wait_for(Duration::from_secs(30), || {
            // stopped after a window was committed, so that the next run has a point to continue from
            common::metric_sum(&watched, "entrastream_records_published_total", &[]) >= 150.0
                && common::metric_sum(
                    &watched,
                    "entrastream_batches_total",
                    &[("outcome", "committed")],
                ) >= 1.0
        })
        .await;
    };
    let since_text = since.to_rfc3339_seconds();
    let (first, printed) =
        backfill_with(&config, &clock, &request(&since_text), metrics, stop).await;
    let first = first.expect("runs");
    assert!(first.stopped, "{first}\n{printed}");
    let (second, printed_again) = backfill_with(
        &config,
        &clock,
        &request(&since_text),
        Metrics::new(clock.clone()),
        std::future::pending(),
    )
    .await;
    let second = second.expect("runs");
    assert!(second.complete(), "{second}\n{printed_again}");
    assert!(
        printed_again.contains("continuing where an earlier run stopped"),
        "{printed_again}"
    );
    live.stop()
        .await
        .expect("the live instance ran on beside the backfill and stops cleanly");
    let (expected, missing, duplicates, unexpected) = against_truth(&sim, &kafka, since);
    let published: u64 = [&first, &second]
        .iter()
        .flat_map(|summary| summary.streams.iter())
        .map(|each| each.counts.records)
        .sum();
    println!(
        "kafka store, beside the live instance: {published} backfilled; expected {expected}, missing \
         {missing}, duplicates {duplicates}, unexpected {unexpected}"
    );
    assert_eq!((missing, duplicates, unexpected), (0, 0, 0));
    assert_eq!(published as usize, truth_before_live(&sim, since));
}

/// Graph refusing the range (no permission for the audit log) ends the backfill at once with the
/// stream, the cause and the fix, instead of waiting `polling.blocked_retry` as a live stream does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_by_graph_ends_the_backfill_with_the_fix() {
    use entrastream::checkpoint::FileStore;
    use entrastream::graph::cursor::Cursor;
    let mut simulated = simulated(66);
    simulated.tenants[0].missing_permission = true;
    let (sim, clock) = common::simulator(simulated).await;
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = configured(&sim, &kafka, directory.path());
    let tenant_id = entrastream::config::TenantId::parse(TENANT).expect("tenant id");
    let live = FileStore::new(directory.path().join("state"));
    for stream in [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive] {
        live.commit_now(
            &tenant_id,
            stream,
            &Cursor::start(START.saturating_sub(HOUR), START),
        )
        .expect("live cursor");
    }
    let (outcome, printed) = backfill_with(
        &config,
        &clock,
        &Request {
            streams: vec![StreamKind::DirectoryAudits],
            ..request("3h")
        },
        Metrics::new(clock.clone()),
        std::future::pending(),
    )
    .await;
    let summary = outcome.expect("started");
    let failure = summary.failure.clone().expect("failed");
    assert!(
        failure.starts_with(&format!("tenant {TENANT} stream directory_audits: "))
            && failure.contains("fix: "),
        "{failure}"
    );
    assert_eq!(summary.streams[0].counts.records, 0);
    let text = summary.to_string();
    println!("{text}");
    assert!(
        text.contains(&format!("error: {failure}\n")),
        "{text}\n{printed}"
    );
}

/// What cannot be done as asked is refused before anything is read, naming the cause and the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_cause_and_the_fix() {
    let (sim, clock) = common::simulator(simulated(63)).await;
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = configured(&sim, &kafka, directory.path());
    let refused = |request: Request| {
        let config = config.clone();
        let clock = clock.clone();
        async move {
            let options = BackfillOptions {
                clock,
                backoff: Backoff::default(),
                metrics: None,
                display: Arc::new(Display::lines(Box::new(Lines::default()))),
                progress_every: Duration::from_secs(60),
            };
            match backfill::run(config, &request, options, std::future::pending()).await {
                Err(message) => message,
                Ok(summary) => panic!("not refused: {summary}"),
            }
        }
    };
    // no live cursor yet
    let state = directory.path().join("state");
    assert_eq!(
        refused(request("2h")).await,
        format!(
            "tenant {TENANT} stream directory_audits has no live cursor in {}: the live stream has not started, \
             so it is not known where it will begin (its first `run` starts polling.initial_lookback before its \
             start, 1h now), and a backfill up to a guess would duplicate or miss records; fix: start \
             `entrastream run` first (it records its origin at once), then backfill what lies before it",
            state.display()
        )
    );
    assert_eq!(
        refused(Request {
            tenant: "contoso.onmicrosoft.com".to_owned(),
            ..request("2h")
        })
        .await,
        format!(
            "tenant `contoso.onmicrosoft.com` is not in the configuration; fix: --tenant one of {TENANT}, {OTHER}"
        )
    );
    assert_eq!(
        refused(request("31d")).await,
        "stream directory_audits: --since 2025-12-05T12:00:00Z is beyond Graph's retention: it keeps 30 days \
         on Entra ID P1/P2 (back to 2025-12-06T12:00:00Z), and refuses an older start; fix: --since \
         2025-12-06T13:00:00Z or later (an hour inside the retention, so that the first windows are read \
         before they leave it)"
    );
    assert_eq!(
        refused(Request {
            licence: Licence::Free,
            streams: vec![StreamKind::DirectoryAudits],
            ..request("8d")
        })
        .await,
        "stream directory_audits: --since 2025-12-28T12:00:00Z is beyond Graph's retention: it keeps 7 days \
         on Entra ID Free (back to 2025-12-29T12:00:00Z), and refuses an older start; fix: --since \
         2025-12-29T13:00:00Z or later (an hour inside the retention, so that the first windows are read \
         before they leave it)"
    );
    assert_eq!(
        refused(Request {
            until: Some("3h".to_owned()),
            ..request("2026-01-05T10:00:00Z")
        })
        .await,
        "--since 2026-01-05T10:00:00Z is not before --until 2026-01-05T09:00:00Z: the range is empty; fix: \
         give an earlier --since or a later --until"
    );
    assert_eq!(
        refused(Request {
            streams: vec![StreamKind::Provisioning],
            ..request("2h")
        })
        .await,
        format!(
            "stream provisioning is not one of tenant {TENANT}'s streams (directory_audits, sign_ins_interactive): \
             the live instance does not read it, so there is no live cursor to backfill up to; fix: add it to \
             the tenant's streams and start `entrastream run`, or backfill one of those"
        )
    );
}

/// The binary as a user runs it beside a live instance (its cursor on disk), off a terminal:
/// plain progress lines on stderr, the summary on stdout, exit 0; Kafka then holds the records
/// before the live origin, once. Unknown names and refused ranges exit 1 with the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_backfills_up_to_the_live_origin_and_refuses_with_the_fix() {
    use entrastream::checkpoint::FileStore;
    use entrastream::graph::cursor::Cursor;
    let sim = Simulator::start(
        SimConfig {
            history: 3 * HOUR,
            data_end: None,
            ..common::two_tenants(64, TENANT, OTHER)
        },
        Clock::system(),
    )
    .await
    .expect("simulator");
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = configured(&sim, &kafka, directory.path());
    // a page per stream: the budget's burst of two, no wait in real time
    config.polling = PollingConfig::default();
    let config_path = directory.path().join("entrastream.yaml");
    std::fs::write(&config_path, config.to_yaml()).expect("config");
    // the live instance's cursors: it started an hour ago
    let now = Clock::system().now();
    let live_origin = now.saturating_sub(HOUR).floor_to_second();
    let tenant_id = entrastream::config::TenantId::parse(TENANT).expect("tenant id");
    let live = FileStore::new(directory.path().join("state"));
    for stream in [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive] {
        live.commit_now(&tenant_id, stream, &Cursor::start(live_origin, now))
            .expect("live cursor");
    }
    let entrastream = |args: &[&str]| {
        let started = std::time::Instant::now();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .arg("backfill")
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .output()
            .expect("runs");
        println!("backfill {args:?}: {:?}", started.elapsed());
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = entrastream(&["--tenant", TENANT, "--since", "2h"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let progress_lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("backfill "))
        .collect();
    assert!(
        progress_lines.len() >= 3
            && progress_lines[0].contains(" directory_audits: ")
            && progress_lines[1].contains(" sign_ins_interactive: ")
            && progress_lines[2..]
                .iter()
                .all(|line| line.contains(" requests (budget 2 per 10s), ")),
        "{stderr}"
    );
    assert!(
        stdout.starts_with(&format!("backfill of tenant {TENANT} finished in ")),
        "{stdout}"
    );
    let since = now.saturating_sub(2 * HOUR);
    let expected: BTreeSet<String> = [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive]
        .into_iter()
        .flat_map(|stream| {
            sim.truth(
                TENANT,
                stream,
                since.saturating_add(Duration::from_secs(5)),
                live_origin.saturating_sub(Duration::from_millis(1)),
                Clock::system().now(),
            )
        })
        .collect();
    let got = delivered(&kafka);
    let mut ids = BTreeMap::new();
    for ((tenant, _), per_stream) in &got {
        assert_eq!(tenant, TENANT);
        for (id, count) in per_stream {
            *ids.entry(id.clone()).or_insert(0) += count;
        }
    }
    assert!(expected.len() > 100, "{} expected", expected.len());
    assert!(
        expected.iter().all(|id| ids.get(id) == Some(&1)),
        "every record of the range once"
    );
    assert!(ids.values().all(|count| *count == 1), "nothing twice");
    assert!(
        stdout.contains(&format!("{} records published", ids.len())),
        "{stdout}"
    );

    // unknown names and refused ranges: exit 1, the cause and the fix on stderr
    let (code, _, stderr) = entrastream(&["--tenant", "fabrikam.example", "--since", "2h"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!(
            "error: tenant `fabrikam.example` is not in the configuration; fix: --tenant one of {TENANT}, {OTHER}\n"
        )
    );
    let (code, _, stderr) = entrastream(&["--tenant", TENANT, "--since", "45d"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("error: stream directory_audits: --since ")
            && stderr.contains("is beyond Graph's retention: it keeps 30 days on Entra ID P1/P2"),
        "{stderr}"
    );
    let (code, _, stderr) = entrastream(&["--tenant", TENANT, "--since", "2h", "--until", "3h"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("the range is empty; fix: "), "{stderr}");
    let (code, _, stderr) =
        entrastream(&["--tenant", TENANT, "--since", "2h", "--stream", "signins"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("invalid value 'signins' for '--stream <STREAM>'")
            && stderr.contains("[possible values: directory_audits, sign_ins_interactive"),
        "{stderr}"
    );
    let (code, _, stderr) = entrastream(&[
        "--tenant",
        TENANT,
        "--since",
        "2h",
        "--requests-per-10s",
        "6",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("6 is not in 1..=5"), "{stderr}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["backfill", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains(
            "Graph allows 5 requests per 10 seconds per application and tenant, and the running"
        ) && help.contains("--requests-per-10s <REQUESTS_PER_10S>"),
        "{help}"
    );
}
