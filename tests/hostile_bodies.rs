//! A hostile Graph and token endpoint that try to exhaust memory or hold a stream for ever: a
//! gzip bomb (a small body that inflates to 4 GiB), an endless body trickling a KiB every 50 ms
//! and a body announcing 2 GiB. Each is cut off at its limit (`polling.max_page_bytes`,
//! `polling.max_token_response_bytes`) or at `polling.request_timeout`, counted by its name, logged
//! with the tenant, the stream, the limit and the key that raises it, and retried; once the faults
//! stop, nothing is missing or repeated, and the other tenant never noticed.
//!
//! The bounded memory itself is measured in a child process (`tests/hostile_memory.rs`).
//!
//! Both tests share this binary's log capture (a process-wide subscriber); each filters its own
//! tenants' lines.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::log_capture::{lines, logs};
use common::{START, compare, drive, metric_sum, simulator};
use entrastream::config::PollingConfig;
use entrastream::sim::config::{FaultKind, FaultSpec, ScriptedFault, SimConfig};
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);
const MIB: u64 = 1024 * 1024;

/// Two tenants with two streams of records for an hour; `faults` for the first.
fn simulator_config(hostile: &str, other: &str, faults: FaultSpec) -> SimConfig {
    SimConfig {
        faults: FaultSpec {
            // 4 GiB inflated, 2 GiB announced (the defaults), a KiB every 50 ms
            endless_body_interval: Duration::from_millis(50),
            ..faults
        },
        ..common::two_tenants(43, hostile, other)
    }
}

fn polling() -> PollingConfig {
    PollingConfig {
        interval: 2 * MINUTE,
        initial_lookback: HOUR,
        lateness: HOUR,
        reconcile_every: 20 * MINUTE,
        // the endless body is cut off here (real time)
        request_timeout: Duration::from_secs(5),
        ..PollingConfig::default()
    }
}

/// `kinds`, one each at the tenant's requests 2, 3, 4, ...
fn scripted(tenant: &str, kinds: &[FaultKind]) -> Vec<ScriptedFault> {
    kinds
        .iter()
        .enumerate()
        .map(|(index, kind)| ScriptedFault {
            at_request: index as u64 + 2,
            kind: *kind,
            tenant: Some(tenant.to_owned()),
        })
        .collect()
}

const HOSTILE_KINDS: [FaultKind; 3] = [
    FaultKind::GzipBomb,
    FaultKind::EndlessBody,
    FaultKind::OversizedBody,
];

/// Runs the service for two simulated hours against `sim_config`; returns the metrics.
async fn run(
    sim_config: SimConfig,
) -> (
    entrastream::sim::Simulator,
    common::Kafka,
    Arc<entrastream::telemetry::metrics::Metrics>,
) {
    let (sim, clock) = simulator(sim_config).await;
    let manual = clock.as_manual().expect("manual").clone();
    let (kafka, running, _directory) =
        common::start_audits_and_sign_ins(&sim, &clock, polling()).await;
    drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(180),
    )
    .await;
    let metrics = running.metrics.clone();
    running.stop().await.expect("the service stops cleanly");
    (sim, kafka, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_bombs_endless_and_oversized_bodies_are_cut_off_counted_and_retried() {
    const HOSTILE: &str = "11111111-1111-4111-8111-111111111111";
    const OTHER: &str = "22222222-2222-4222-8222-222222222222";
    logs();
    let faults = FaultSpec {
        scripted: scripted(HOSTILE, &HOSTILE_KINDS),
        ..FaultSpec::default()
    };
    let (sim, kafka, metrics) = run(simulator_config(HOSTILE, OTHER, faults)).await;

    let served: Vec<FaultKind> = sim
        .stats()
        .requests()
        .iter()
        .filter_map(|request| request.fault)
        .collect();
    assert_eq!(served, HOSTILE_KINDS, "each hostile answer served once");
    let requests = |tenant: &str, status_class: &str| {
        metric_sum(
            &metrics,
            "entrastream_graph_requests_total",
            &[("tenant", tenant), ("status_class", status_class)],
        )
    };
    // the bomb and the announced 2 GiB are refused by their size, the endless body by the deadline
    assert_eq!(requests(HOSTILE, "oversized"), 2.0);
    assert_eq!(requests(HOSTILE, "timeout"), 1.0);
    let errors = |tenant: &str| {
        metric_sum(
            &metrics,
            "entrastream_graph_requests_total",
            &[("tenant", tenant), ("outcome", "error")],
        )
    };
    assert_eq!(errors(HOSTILE), 3.0);
    assert_eq!(errors(OTHER), 0.0, "the other tenant never noticed");

    let refusals = lines(
        HOSTILE,
        "graph response larger than polling.max_page_bytes, cut off; the window is read again",
    );
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    for line in &refusals {
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["limit_bytes"], 64 * MIB);
        assert_eq!(line["key"], "polling.max_page_bytes");
        assert!(
            ["directory_audits", "sign_ins_interactive"]
                .contains(&line["stream"].as_str().unwrap_or_default()),
            "{line}"
        );
    }
    // the announced body is refused before a byte is read, the bomb once 64 MiB are inflated
    let mut declared: Vec<Value> = refusals
        .iter()
        .map(|line| line["declared_bytes"].clone())
        .collect();
    declared.sort_by_key(|value| value.is_null());
    assert_eq!(declared, vec![Value::from(2u64 << 30), Value::Null]);

    let comparison = compare(
        &sim,
        &kafka,
        START.saturating_sub(HOUR),
        START.saturating_add(HOUR),
        START.saturating_add(2 * HOUR),
    );
    assert!(comparison.expected > 400, "{comparison:?}");
    assert_eq!(comparison.missing, 0, "{comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
    assert_eq!(comparison.unexpected, 0, "{comparison:?}");
    println!(
        "graph: {served:?} served; 2 oversized, 1 timeout; {} records delivered, 0 missing, 0 repeated",
        comparison.delivered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_bombs_endless_and_oversized_bodies_are_cut_off_counted_and_retried() {
    const HOSTILE: &str = "33333333-3333-4333-8333-333333333333";
    const OTHER: &str = "44444444-4444-4444-8444-444444444444";
    logs();
    // the hostile tenant's first three token requests: the bomb, the endless body, 2 GiB
    let faults = FaultSpec {
        token_scripted: scripted(HOSTILE, &HOSTILE_KINDS)
            .into_iter()
            .map(|fault| ScriptedFault {
                at_request: fault.at_request - 1,
                ..fault
            })
            .collect(),
        ..FaultSpec::default()
    };
    // tokens outlive the run: one success is the one token fetched once the faults end
    let sim_config = SimConfig {
        token_lifetime: 24 * HOUR,
        ..simulator_config(HOSTILE, OTHER, faults)
    };
    let (sim, kafka, metrics) = run(sim_config).await;

    let served: Vec<(String, FaultKind)> = sim
        .stats()
        .requests()
        .iter()
        .filter_map(|request| Some((request.endpoint.clone(), request.fault?)))
        .collect();
    assert_eq!(
        served,
        HOSTILE_KINDS
            .iter()
            .map(|kind| ("token".to_owned(), *kind))
            .collect::<Vec<_>>()
    );
    let tokens = |tenant: &str, outcome: &str| {
        metric_sum(
            &metrics,
            "entrastream_token_requests_total",
            &[("tenant", tenant), ("outcome", outcome)],
        )
    };
    assert_eq!(tokens(HOSTILE, "oversized"), 2.0);
    // the endless body: the token endpoint did not answer within polling.request_timeout
    assert_eq!(tokens(HOSTILE, "failure"), 1.0);
    assert_eq!(tokens(HOSTILE, "success"), 1.0);
    assert_eq!(tokens(OTHER, "oversized") + tokens(OTHER, "failure"), 0.0);
    assert_eq!(
        metric_sum(
            &metrics,
            "entrastream_graph_requests_total",
            &[("tenant", HOSTILE), ("status_class", "token")],
        ),
        0.0,
        "a token that could not be read sends no Graph request"
    );

    let refusals = lines(
        HOSTILE,
        "token response larger than polling.max_token_response_bytes, cut off; asked again",
    );
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    for line in &refusals {
        assert_eq!(line["limit_bytes"], MIB);
        assert_eq!(line["key"], "polling.max_token_response_bytes");
    }

    let comparison = compare(
        &sim,
        &kafka,
        START.saturating_sub(HOUR),
        START.saturating_add(HOUR),
        START.saturating_add(2 * HOUR),
    );
    assert!(comparison.expected > 400, "{comparison:?}");
    assert_eq!(comparison.missing, 0, "{comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
    assert_eq!(comparison.unexpected, 0, "{comparison:?}");
    println!(
        "token endpoint: {served:?} served; 2 oversized, 1 failure; {} records delivered, 0 missing",
        comparison.delivered
    );
}
