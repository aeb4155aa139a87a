//! Nothing an upstream echoes reaches an output: a token endpoint answers 401 with the client
//! secret it was sent, the client assertion and the whole form body; Graph answers 401 with the
//! bearer token. The real binary runs against them (JSON logs at debug level to a file), and so
//! does `check`, as a table and as JSON. No configured secret, no token, no assertion appears in
//! the logs, in any `/readyz` answer, in `/metrics` or in check's output; the AADSTS code, Graph's
//! error code and the fixes do, and once the echoes stop every record arrives.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::service_process::{Service, http_get, http_get_if_up};
use common::{compare, kafka};
use entrastream::clock::{Clock, Timestamp};
use entrastream::config::{
    AuthConfig, CertificateConfig, CertificateSource, PollingConfig, ThrottleConfig,
};
use entrastream::sim::Simulator;
use entrastream::sim::config::{
    FaultKind, FaultSpec, Latency, ScriptedFault, SimConfig, StreamLatencies, StreamRates,
    TenantSpec,
};
use entrastream::stream::StreamKind;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Its token endpoint echoes the client secret (with `~` and `.`, which form encoding changes).
const SECRET_TENANT: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const SECRET: &str = "Canary~Secret.7Q_s3cr3t-v4lue";
/// Its token endpoint echoes the signed client assertion.
const CERTIFICATE_TENANT: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
/// Graph echoes its bearer token.
const GRAPH_TENANT: &str = "dddddddd-dddd-4ddd-8ddd-dddddddddddd";
const GRAPH_SECRET: &str = "Canary~Graph.Tenant_s3cr3t";
const WRONG_SECRET_FIX: &str = "the client secret is wrong: configure the secret's Value (not its \
                                Secret ID) from the app registration's Certificates & secrets page";
const GRAPH_401_FIX: &str = "Graph rejects the application's tokens; check that the app \
                             registration exists in this tenant and has admin consent";

/// `kind` at `count` requests from `first` on, for `tenant`.
fn faults(tenant: &str, first: u64, count: u64) -> Vec<ScriptedFault> {
    (first..first + count)
        .map(|at_request| ScriptedFault {
            at_request,
            kind: FaultKind::EchoSecret,
            tenant: Some(tenant.to_owned()),
        })
        .collect()
}

/// The echoes from the next requests of each tenant on: `rounds` token requests of the two
/// token tenants, twice as many data requests of the Graph tenant (a 401 is asked once more).
fn echoes(sim: &Simulator, rounds: u64) -> FaultSpec {
    let mut token_scripted = faults(SECRET_TENANT, sim.token_requests(SECRET_TENANT) + 1, rounds);
    token_scripted.extend(faults(
        CERTIFICATE_TENANT,
        sim.token_requests(CERTIFICATE_TENANT) + 1,
        rounds,
    ));
    FaultSpec {
        token_scripted,
        scripted: faults(
            GRAPH_TENANT,
            sim.data_requests(GRAPH_TENANT) + 1,
            2 * rounds,
        ),
        ..FaultSpec::default()
    }
}

fn certificate(directory: &Path) -> (String, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let params =
        rcgen::CertificateParams::new(vec!["entrastream-reader".to_owned()]).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    let path = directory.join("reader.pem");
    std::fs::write(
        &path,
        format!("{}{}", key.serialize_pem(), certificate.pem()),
    )
    .expect("pem");
    (certificate.pem(), path)
}

/// Everything that must never appear: the secrets, and any JWT (tokens and assertions).
fn assert_clean(name: &str, text: &str) {
    for secret in [SECRET, GRAPH_SECRET] {
        assert!(
            !text.contains(secret),
            "{name} holds a client secret:\n{text}"
        );
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        assert!(
            !text.contains(&encoded),
            "{name} holds a form-encoded client secret:\n{text}"
        );
    }
    // base64url of `{"`: every access token and every client assertion starts so
    assert!(
        !text.contains("eyJ"),
        "{name} holds a token or an assertion:\n{text}"
    );
}

/// `entrastream check --config <config> [--output json]`: stdout and stderr.
async fn check(config: &Path, json: bool) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_entrastream"));
    command.arg("check").arg("--config").arg(config);
    if json {
        command.args(["--output", "json"]);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("check runs"))
        .await
        .expect("check ends");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_secrets_tokens_and_assertions_reach_no_output() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (certificate_pem, certificate_file) = certificate(directory.path());
    let clock = Clock::system();
    let now = clock.now();
    let data_end = now.saturating_sub(MINUTE);
    let tenant = |tenant_id: &str, secret: Option<&str>| TenantSpec {
        tenant_id: Some(tenant_id.to_owned()),
        client_secret: secret.map(str::to_owned),
        certificates: vec![certificate_pem.clone()],
        ..TenantSpec::default()
    };
    let sim = Simulator::start(
        SimConfig {
            seed: 46,
            tenant_count: 3,
            tenants: vec![
                tenant(SECRET_TENANT, Some(SECRET)),
                tenant(CERTIFICATE_TENANT, None),
                tenant(GRAPH_TENANT, Some(GRAPH_SECRET)),
            ],
            rates: StreamRates {
                directory_audits: 5.0,
                sign_ins_interactive: 5.0,
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
            ..SimConfig::default()
        },
        clock,
    )
    .await
    .expect("simulator");
    // two rounds: each stream's first token (or page) and its retry after polling.blocked_retry
    sim.set_faults(echoes(&sim, 4));
    let kafka = kafka();
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
        request_timeout: Duration::from_secs(10),
        blocked_retry: Duration::from_secs(3),
        ..PollingConfig::default()
    };
    let mut config = common::config(&sim, &kafka, directory.path(), polling);
    for tenant in &mut config.tenants {
        tenant.streams = Some(vec![
            StreamKind::DirectoryAudits,
            StreamKind::SignInsInteractive,
        ]);
        if tenant.id == CERTIFICATE_TENANT {
            tenant.client_secret = None;
            tenant.auth = Some(AuthConfig::Certificate(CertificateConfig {
                source: CertificateSource::Pem(certificate_file.clone()),
                signature: Default::default(),
            }));
        }
    }
    let mut service = Service::start_logging(&config, directory.path(), "run", "debug");

    // every /readyz answer until all records arrived
    let data_from: Timestamp = now.saturating_sub(2 * HOUR);
    let started = Instant::now();
    let mut readiness_answers = BTreeSet::new();
    let mut polls = 0u64;
    loop {
        assert!(service.running(), "the service exited:\n{}", service.log());
        if let Some((_, readiness)) = http_get_if_up(&format!("{}/readyz", service.metrics)).await {
            readiness_answers.insert(readiness);
        }
        polls += 1;
        let echoes_served = sim
            .stats()
            .requests()
            .iter()
            .filter(|request| request.fault == Some(FaultKind::EchoSecret))
            .count();
        if echoes_served == 4 + 4 + 8
            && polls.is_multiple_of(10)
            && compare(&sim, &kafka, data_from, data_end, data_end).missing == 0
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not done within 2 minutes ({echoes_served} echoes served):\n{}",
            service.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, metrics) = http_get(&format!("{}/metrics", service.metrics)).await;
    let (exit_code, _, log) = service.terminate();
    assert_eq!(exit_code, Some(0), "{log}");

    // what the service said
    let problems: BTreeSet<String> = readiness_answers
        .iter()
        .filter_map(|answer| serde_json::from_str::<serde_json::Value>(answer).ok())
        .flat_map(|answer| {
            answer["problems"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|problem| problem.as_str().map(str::to_owned))
        })
        .filter(|problem| problem.starts_with("tenant "))
        .collect();
    assert_eq!(
        problems,
        BTreeSet::from([
            format!(
                "tenant {SECRET_TENANT}: auth_failed: the token request (client_secret) was \
                 refused with 401 AADSTS7000215; fix: {WRONG_SECRET_FIX}"
            ),
            format!(
                "tenant {CERTIFICATE_TENANT}: auth_failed: the token request (certificate) was \
                 refused with 401 AADSTS7000215; fix: {WRONG_SECRET_FIX}"
            ),
            format!(
                "tenant {GRAPH_TENANT}: auth_failed: Graph rejected the token (401); fix: \
                 {GRAPH_401_FIX}"
            ),
        ]),
        "/readyz names each tenant and its state, with the code and the fix"
    );
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let blocked_detail = |tenant: &str| -> BTreeSet<String> {
        lines
            .iter()
            .filter(|line| line["tenant"] == tenant && line["message"] == "stream blocked")
            .filter_map(|line| line["detail"].as_str().map(str::to_owned))
            .collect()
    };
    // the description's first line, redacted, cut to 200 characters
    let echoed = format!(
        "AADSTS7000215: Invalid client secret provided: '[redacted]' (assertion: ); the request \
         was grant_type=client_credentials&client_id={}&client_secret=[redacted]&scope=https%3A%2F\
         %2Fgraph.microsoft.com%2F.default",
        sim.credentials().tenants[0].client_id
    );
    let kept: String = echoed.chars().take(199).collect();
    assert_eq!(
        blocked_detail(SECRET_TENANT),
        BTreeSet::from([format!(
            "tenant {SECRET_TENANT}: the token request (client_secret) was refused with 401 \
             AADSTS7000215 invalid_client: {kept}…; fix: {WRONG_SECRET_FIX}"
        )])
    );
    let certificate_details = blocked_detail(CERTIFICATE_TENANT);
    assert_eq!(certificate_details.len(), 1, "{certificate_details:?}");
    let certificate_detail = certificate_details.first().expect("one");
    assert!(
        certificate_detail.starts_with(&format!(
            "tenant {CERTIFICATE_TENANT}: the token request (certificate) was refused with 401 \
             AADSTS7000215 invalid_client: AADSTS7000215: Invalid client secret provided: '' \
             (assertion: [redacted token]); the request was grant_type=client_credentials"
        )),
        "{certificate_detail}"
    );
    assert_eq!(
        blocked_detail(GRAPH_TENANT),
        BTreeSet::from([format!(
            "Graph rejected the token (401): Access token validation failure: [redacted] \
             (Authorization: Bearer [redacted]); fix: {GRAPH_401_FIX}"
        )])
    );
    assert!(
        log.contains("AADSTS7000215"),
        "the refusal's code is logged"
    );
    for (name, text) in [("logs", &log), ("/metrics", &metrics)] {
        assert_clean(name, text);
    }
    for answer in &readiness_answers {
        assert_clean("/readyz", answer);
    }

    // check, as a table and as JSON, while the endpoints echo again
    let config_file = directory.path().join("run.yaml");
    sim.set_faults(echoes(&sim, 1));
    let (table_exit, table, table_errors) = check(&config_file, false).await;
    sim.set_faults(echoes(&sim, 1));
    let (json_exit, json, json_errors) = check(&config_file, true).await;
    assert_eq!((table_exit, json_exit), (Some(1), Some(1)));
    for (name, text) in [
        ("check's table", &table),
        ("check's stderr", &table_errors),
        ("check's JSON", &json),
        ("check's JSON stderr", &json_errors),
    ] {
        assert_clean(name, text);
    }
    let report: serde_json::Value = serde_json::from_str(&json).expect("check prints JSON");
    let finding = |tenant: &str, check: &str| {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|finding| finding["scope"] == tenant && finding["check"] == check)
            .cloned()
            .unwrap_or_else(|| panic!("no {check} finding for {tenant}: {report}"))
    };
    let token = finding(SECRET_TENANT, "token");
    assert!(
        token["detail"].as_str().is_some_and(|detail| detail
            .contains("refused with 401 AADSTS7000215 invalid_client")
            && detail.contains("'[redacted]'")),
        "{token}"
    );
    assert_eq!(token["fix"], WRONG_SECRET_FIX);
    assert!(table.contains("AADSTS7000215") && table.contains(WRONG_SECRET_FIX));
    assert_eq!(
        finding(GRAPH_TENANT, "permission")["detail"],
        "Graph answered 401 (InvalidAuthenticationToken)"
    );
    let comparison = compare(&sim, &kafka, data_from, data_end, data_end);
    assert_eq!(comparison.missing, 0, "{comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
    assert_eq!(comparison.unexpected, 0, "{comparison:?}");
    println!(
        "{} /readyz answers, {} log lines, check's table and JSON: no secret, token or assertion; \
         {} records delivered once the echoes stopped",
        readiness_answers.len(),
        lines.len(),
        comparison.delivered
    );
    sim.shutdown().await;
}
