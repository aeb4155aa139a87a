//! Memory stays bounded against a hostile Graph: a child `entrastream run` (the real binary,
//! defaults for every limit: `polling.max_page_bytes` 64 MiB, `polling.max_token_response_bytes`
//! 1 MiB) reads from a simulator in this process, on the system clock, that serves one tenant gzip
//! bombs of 4 GiB each, endless bodies, a body announcing 2 GiB and a token bomb, while the other
//! tenant is served as usual. The child's peak resident memory (`VmHWM` in `/proc/<pid>/status`)
//! stays under 300 MiB; once the faults stop, every record is in Kafka once, and SIGTERM ends the
//! process with exit code 0.

mod common;

use std::time::{Duration, Instant};

use common::service_process::{Memory, Service, http_get, series_sum};
use common::{compare, kafka};
use entrastream::clock::Clock;
use entrastream::config::{PollingConfig, ThrottleConfig};
use entrastream::sim::Simulator;
use entrastream::sim::config::{
    FaultKind, FaultSpec, Latency, ScriptedFault, SimConfig, StreamLatencies, StreamRates,
    TenantSpec,
};
use entrastream::stream::StreamKind;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const HOSTILE: &str = "55555555-5555-4555-8555-555555555555";
const OTHER: &str = "66666666-6666-4666-8666-666666666666";
/// What the child may hold at its peak: its own ~40 MiB, and a page of 64 MiB in each of the
/// hostile tenant's two streams, with room to spare; without limits a single bomb takes 4 GiB.
const PEAK_LIMIT_KIB: u64 = 300 * 1024;
/// The hostile tenant's data requests 1 to 7.
const GRAPH_FAULTS: [FaultKind; 7] = [
    FaultKind::GzipBomb,
    FaultKind::EndlessBody,
    FaultKind::GzipBomb,
    FaultKind::OversizedBody,
    FaultKind::GzipBomb,
    FaultKind::EndlessBody,
    FaultKind::GzipBomb,
];

fn simulator_config(data_end: entrastream::clock::Timestamp) -> SimConfig {
    let scripted = |at_request: u64, kind: FaultKind| ScriptedFault {
        at_request,
        kind,
        tenant: Some(HOSTILE.to_owned()),
    };
    SimConfig {
        seed: 44,
        tenant_count: 2,
        tenants: [HOSTILE, OTHER]
            .into_iter()
            .map(|tenant_id| TenantSpec {
                tenant_id: Some(tenant_id.to_owned()),
                ..TenantSpec::default()
            })
            .collect(),
        rates: StreamRates {
            directory_audits: 10.0,
            sign_ins_interactive: 10.0,
            provisioning: 0.0,
            sign_ins_non_interactive: 0.0,
            sign_ins_service_principal: 0.0,
            sign_ins_managed_identity: 0.0,
        },
        latency: StreamLatencies::uniform(Latency::ZERO),
        history: HOUR,
        data_end: Some(data_end),
        throttle: None,
        users_per_tenant: 20,
        token_lifetime: 24 * HOUR,
        faults: FaultSpec {
            scripted: GRAPH_FAULTS
                .iter()
                .enumerate()
                .map(|(index, kind)| scripted(index as u64 + 1, *kind))
                .collect(),
            // the first token request inflates to 4 GiB as well
            token_scripted: vec![scripted(1, FaultKind::GzipBomb)],
            ..FaultSpec::default()
        },
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bombs_and_endless_bodies_leave_memory_bounded_and_nothing_lost() {
    let clock = Clock::system();
    let now = clock.now();
    let data_end = now.saturating_sub(MINUTE);
    let sim = Simulator::start(simulator_config(data_end), clock)
        .await
        .expect("simulator");
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let polling = PollingConfig {
        interval: Duration::from_secs(1),
        initial_lookback: 2 * HOUR,
        lateness: 30 * MINUTE,
        reconcile_every: 30 * MINUTE,
        max_window: 2 * HOUR,
        throttle: ThrottleConfig {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        // each endless body is cut off here
        request_timeout: Duration::from_secs(3),
        ..PollingConfig::default()
    };
    let mut config = common::config(&sim, &kafka, directory.path(), polling);
    for tenant in &mut config.tenants {
        tenant.streams = Some(vec![
            StreamKind::DirectoryAudits,
            StreamKind::SignInsInteractive,
        ]);
    }
    let mut child = Service::start(&config, directory.path(), "run");

    // sample the child's memory until every record is in Kafka
    let started = Instant::now();
    let mut highest = Memory::default();
    let mut samples = 0u64;
    let data_from = now.saturating_sub(2 * HOUR);
    loop {
        assert!(child.running(), "the child exited:\n{}", child.log());
        if let Some(memory) = child.memory() {
            highest.peak_kib = highest.peak_kib.max(memory.peak_kib);
            highest.resident_kib = highest.resident_kib.max(memory.resident_kib);
            samples += 1;
        }
        let faults_served = sim
            .stats()
            .requests()
            .iter()
            .filter(|request| request.fault.is_some())
            .count();
        // Kafka is read back twice a second once every fault was served
        if faults_served == GRAPH_FAULTS.len() + 1
            && samples.is_multiple_of(25)
            && compare(&sim, &kafka, data_from, data_end, data_end).missing == 0
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "not done within 4 minutes ({faults_served} faults served):\n{}",
            child.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = started.elapsed();
    let final_memory = child.memory().expect("still running");
    let (_, metrics) = http_get(&format!("{}/metrics", child.metrics)).await;
    let (exit_code, _, log) = child.terminate();
    assert_eq!(exit_code, Some(0), "{log}");

    let requests = |tenant: &str, status_class: &str| {
        series_sum(
            &metrics,
            "entrastream_graph_requests_total",
            &[("tenant", tenant), ("status_class", status_class)],
        )
    };
    // four bombs cut at 64 MiB, and 2 GiB announced
    assert_eq!(requests(HOSTILE, "oversized"), 5.0, "{metrics}");
    assert_eq!(requests(HOSTILE, "timeout"), 2.0, "{metrics}");
    assert_eq!(
        series_sum(
            &metrics,
            "entrastream_token_requests_total",
            &[("tenant", HOSTILE), ("outcome", "oversized")],
        ),
        1.0
    );
    assert_eq!(
        series_sum(
            &metrics,
            "entrastream_graph_requests_total",
            &[("tenant", OTHER), ("outcome", "error")],
        ),
        0.0,
        "the other tenant never noticed"
    );
    let refusals: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| {
            line["message"]
                == "graph response larger than polling.max_page_bytes, cut off; the window is read again"
        })
        .collect();
    assert_eq!(refusals.len(), 5, "{log}");
    for line in &refusals {
        assert_eq!(line["tenant"], HOSTILE);
        assert_eq!(line["key"], "polling.max_page_bytes");
        assert_eq!(line["limit_bytes"], 64 * 1024 * 1024);
    }

    let comparison = compare(&sim, &kafka, data_from, data_end, data_end);
    assert!(comparison.expected > 1000, "{comparison:?}");
    assert_eq!(comparison.missing, 0, "{comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
    assert_eq!(comparison.unexpected, 0, "{comparison:?}");
    assert!(
        highest.peak_kib < PEAK_LIMIT_KIB,
        "peak resident memory {} MiB, above {} MiB",
        highest.peak_kib / 1024,
        PEAK_LIMIT_KIB / 1024
    );
    println!(
        "{} gzip bombs of 4 GiB (and one token bomb), a body of 2 GiB and {} endless bodies served in {:.1}s: \
         peak resident memory (VmHWM) {} MiB, highest VmRSS sampled {} MiB over {samples} samples, \
         {} MiB at the end; {} records delivered, 0 missing, 0 repeated",
        GRAPH_FAULTS
            .iter()
            .filter(|kind| **kind == FaultKind::GzipBomb)
            .count(),
        GRAPH_FAULTS
            .iter()
            .filter(|kind| **kind == FaultKind::EndlessBody)
            .count(),
        caught_up.as_secs_f64(),
        highest.peak_kib / 1024,
        highest.resident_kib / 1024,
        final_memory.resident_kib / 1024,
        comparison.delivered
    );
    sim.shutdown().await;
}
