//! The operator's view in the logs: every state change of a stream is one JSON line carrying
//! `tenant` and `stream`, in the production format, and no line carries a secret.
//!
//! One test in its own binary: it installs the process-wide log subscriber.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::log_capture::Capture;
use common::{START, drive, kafka, simulator, start};
use entrastream::checkpoint::MemoryStore;
use entrastream::config::{LogFormat, PollingConfig};
use entrastream::sim::config::{
    FaultKind, FaultSpec, ScriptedFault, SimConfig, StreamRates, TenantSpec,
};
use entrastream::stream::StreamKind;
use entrastream::telemetry::logging;
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn field<'line>(line: &'line Value, name: &str) -> &'line str {
    line.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn stream_of(line: &Value) -> StreamKind {
    [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive]
        .into_iter()
        .find(|stream| stream.as_str() == field(line, "stream"))
        .unwrap_or_else(|| panic!("a configured stream: {line}"))
}

/// The messages logged for one tenant and stream, in order.
fn messages(lines: &[Value], tenant: &str, stream: StreamKind) -> Vec<String> {
    lines
        .iter()
        .filter(|line| field(line, "tenant") == tenant && field(line, "stream") == stream.as_str())
        .map(|line| field(line, "message").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_change_is_one_structured_line_and_no_line_holds_a_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    logging::init_with_writer(LogFormat::Json, "info", move || writer.clone()).expect("subscriber");

    // a healthy tenant that gets throttled once, an unlicensed one, one whose secret has expired
    let sim_config = SimConfig {
        seed: 11,
        tenant_count: 3,
        tenants: vec![
            TenantSpec::default(),
            TenantSpec {
                unlicensed: true,
                ..TenantSpec::default()
            },
            TenantSpec {
                secret_expired: true,
                ..TenantSpec::default()
            },
        ],
        rates: StreamRates::uniform(1.0),
        history: HOUR,
        data_end: Some(START.saturating_add(HOUR)),
        users_per_tenant: 10,
        ..SimConfig::default()
    };
    let (sim, clock) = simulator(sim_config).await;
    let healthy = sim.tenants()[0].tenant_id.clone();
    let unlicensed = sim.tenants()[1].tenant_id.clone();
    let expired = sim.tenants()[2].tenant_id.clone();
    let secrets: Vec<String> = sim
        .credentials()
        .tenants
        .iter()
        .map(|tenant| tenant.client_secret.clone())
        .collect();
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let polling = PollingConfig {
        initial_lookback: HOUR,
        lateness: HOUR,
        reconcile_every: 15 * MINUTE,
        // below the simulator's Retry-After of 7s: the cap is logged
        max_retry_after: Duration::from_secs(5),
        ..PollingConfig::default()
    };
    let mut config = common::config(&sim, &kafka, directory.path(), polling);
    for tenant in &mut config.tenants {
        tenant.streams = Some(vec![
            StreamKind::DirectoryAudits,
            StreamKind::SignInsInteractive,
        ]);
    }
    let running = start(config, &clock, Some(Arc::new(MemoryStore::new()))).await;
    let manual = clock.as_manual().expect("manual").clone();
    drive(
        &manual,
        START.saturating_add(30 * MINUTE),
        Duration::from_secs(120),
    )
    .await;

    // the healthy tenant's next request is throttled, a later one fails with 503
    let next = sim.data_requests(&healthy) + 1;
    sim.set_faults(FaultSpec {
        scripted: vec![
            ScriptedFault {
                at_request: next,
                kind: FaultKind::Throttle429,
                tenant: Some(healthy.clone()),
            },
            ScriptedFault {
                at_request: next + 4,
                kind: FaultKind::Http503,
                tenant: Some(healthy.clone()),
            },
        ],
        injected_retry_after: Duration::from_secs(7),
        ..FaultSpec::default()
    });
    drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(120),
    )
    .await;
    running.stop().await.expect("stops");

    let lines = capture.json_lines();
    assert!(!lines.is_empty(), "the service logged");
    for line in &lines {
        assert!(line.get("timestamp").is_some(), "{line}");
        assert!(line.get("level").is_some(), "{line}");
        let message = field(line, "message");
        assert!(
            !message.ends_with('.'),
            "messages carry no trailing period: {message}"
        );
        if message.starts_with("stream ") {
            assert!(
                !field(line, "tenant").is_empty() && !field(line, "stream").is_empty(),
                "a stream's line names its tenant and stream: {line}"
            );
        }
    }

    // the healthy tenant: a Retry-After above polling.max_retry_after is one warning naming
    // Graph's value, the cap and its key; the 429 is one warning naming the wait and when the
    // stream resumes, and one line when requests resume
    let capped: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            field(line, "message")
                == "graph asked to wait longer than polling.max_retry_after, the stream waits only that long"
        })
        .collect();
    assert_eq!(capped.len(), 1, "{capped:#?}");
    assert_eq!(field(capped[0], "level"), "WARN");
    assert_eq!(field(capped[0], "tenant"), healthy);
    assert_eq!(capped[0]["retry_after_seconds"], 7);
    assert_eq!(capped[0]["max_retry_after_seconds"], 5);
    assert_eq!(field(capped[0], "key"), "polling.max_retry_after");
    let throttled: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            field(line, "tenant") == healthy
                && field(line, "message").starts_with("stream throttled")
        })
        .collect();
    assert_eq!(throttled.len(), 1, "{throttled:#?}");
    assert_eq!(field(throttled[0], "level"), "WARN");
    assert_eq!(field(throttled[0], "state"), "throttled");
    assert_eq!(throttled[0]["retry_after_seconds"], 5);
    assert_eq!(field(throttled[0], "stream"), field(capped[0], "stream"));
    assert!(
        !field(throttled[0], "resumes_at").is_empty(),
        "{}",
        throttled[0]
    );
    assert_eq!(
        field(throttled[0], "resumes_at"),
        field(capped[0], "resumes_at")
    );
    let throttled_stream = stream_of(throttled[0]);
    let sequence = messages(&lines, &healthy, throttled_stream);
    let position = |message: &str, after: usize| {
        sequence
            .iter()
            .skip(after)
            .position(|logged| logged.starts_with(message))
            .map(|index| index + after)
            .unwrap_or_else(|| panic!("`{message}` after line {after} in {sequence:#?}"))
    };
    let started = position("stream started", 0);
    let catching_up = position("stream catching up", started);
    let caught_up = position("stream caught up", catching_up);
    let paused = position("stream throttled by graph", caught_up);
    position("stream resumed after throttling", paused);

    // then a 503: retrying (with the cause), recovered, each said once
    let retrying: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            field(line, "tenant") == healthy && field(line, "message") == "stream retrying"
        })
        .collect();
    assert_eq!(retrying.len(), 1, "{retrying:#?}");
    assert_eq!(field(retrying[0], "state"), "retrying");
    assert_eq!(field(retrying[0], "level"), "WARN");
    assert!(
        field(retrying[0], "detail").contains("503"),
        "the retry names its cause: {}",
        retrying[0]
    );
    let failed_stream = stream_of(retrying[0]);
    let sequence = messages(&lines, &healthy, failed_stream);
    let retried = sequence
        .iter()
        .position(|message| message == "stream retrying")
        .expect("retrying");
    assert_eq!(
        sequence[retried + 1..]
            .iter()
            .filter(|message| *message == "stream recovered")
            .count(),
        1,
        "{sequence:#?}"
    );
    for stream in [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive] {
        let started = messages(&lines, &healthy, stream)
            .iter()
            .filter(|message| *message == "stream started")
            .count();
        assert_eq!(started, 1, "{stream}");
    }

    // the unlicensed tenant: sign-ins blocked once, with the reason and the fix; audits flow
    let blocked: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            field(line, "tenant") == unlicensed && field(line, "message") == "stream blocked"
        })
        .collect();
    assert_eq!(
        blocked.len(),
        1,
        "one line for one state change: {blocked:#?}"
    );
    assert_eq!(field(blocked[0], "stream"), "sign_ins_interactive");
    assert_eq!(field(blocked[0], "reason"), "unlicensed");
    assert_eq!(field(blocked[0], "level"), "ERROR");
    assert!(
        field(blocked[0], "detail").contains("P1 or P2"),
        "names the fix: {}",
        blocked[0]
    );
    assert!(
        messages(&lines, &unlicensed, StreamKind::DirectoryAudits)
            .contains(&"stream caught up".to_owned())
    );

    // the expired secret: both streams blocked on credentials, each said once
    for stream in [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive] {
        let blocked: Vec<&Value> = lines
            .iter()
            .filter(|line| {
                field(line, "tenant") == expired
                    && field(line, "stream") == stream.as_str()
                    && field(line, "message") == "stream blocked"
            })
            .collect();
        assert_eq!(blocked.len(), 1, "{stream}: {blocked:#?}");
        assert_eq!(field(blocked[0], "reason"), "auth_failed");
        assert!(
            field(blocked[0], "detail").contains("AADSTS7000222"),
            "{}",
            blocked[0]
        );
    }

    // shutdown interrupts a stream waiting for its budget (here paused by the 429) at once
    assert!(
        lines
            .iter()
            .all(|line| !field(line, "message").starts_with("streams did not stop")),
        "every stream stopped when asked"
    );
    assert_eq!(
        field(lines.last().expect("lines"), "message"),
        "entrastream stopped"
    );

    let text = capture.text();
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a client secret reached the logs"
        );
    }
    assert!(
        !text.contains("eyJ"),
        "no access token (a JWT) reached the logs"
    );
}
