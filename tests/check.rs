//! `entrastream check` against the simulator and the mock cluster: every problem it reports has a
//! test, with its detail and its fix; the command's exit code and JSON output.

mod common;

use std::time::Duration;

use common::{START, kafka, simulator};
use entrastream::check::{self, Finding};
use entrastream::clock::Clock;
use entrastream::config::{Config, Delivery, PollingConfig};
use entrastream::sim::Simulator;
use entrastream::sim::config::{SimConfig, TenantSpec};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

async fn setup(
    specs: Vec<TenantSpec>,
) -> (Simulator, Clock, common::Kafka, Config, tempfile::TempDir) {
    let (sim, clock) = simulator(SimConfig {
        tenants: specs,
        history: Duration::from_secs(1800),
        ..SimConfig::default()
    })
    .await;
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = common::config(&sim, &kafka, directory.path(), PollingConfig::default());
    (sim, clock, kafka, config, directory)
}

fn problems(findings: &[Finding]) -> Vec<&Finding> {
    findings.iter().filter(|finding| !finding.ok).collect()
}

fn find<'a>(findings: &'a [Finding], scope: &str, check: &str) -> &'a Finding {
    findings
        .iter()
        .find(|finding| finding.scope == scope && finding.check == check)
        .unwrap_or_else(|| panic!("no {check} finding for {scope}: {findings:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_every_check() {
    let (sim, clock, _kafka, config, _directory) =
        setup(vec![TenantSpec::default(), TenantSpec::default()]).await;
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    assert_eq!(problems(&findings), Vec::<&Finding>::new());
    let tenant = &sim.credentials().tenants[0].tenant_id;
    assert_eq!(
        find(&findings, tenant, "token").detail,
        "acquired with client_secret from the global cloud"
    );
    for check in ["permission", "api version", "clock", "licence"] {
        assert!(find(&findings, tenant, check).ok);
    }
    assert_eq!(
        findings
            .iter()
            .filter(|finding| finding.check == "topic")
            .count(),
        4
    );
    assert!(
        find(&findings, "kafka", "brokers")
            .detail
            .ends_with("answers: 3 brokers")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_reported_with_its_fix_and_the_other_tenant_still_checked() {
    let (sim, clock, _kafka, config, directory) =
        setup(vec![TenantSpec::default(), TenantSpec::default()]).await;
    std::fs::write(directory.path().join("secret-0"), "not-the-secret").expect("secret");
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let tenants = sim.credentials().tenants;
    let token = find(&findings, &tenants[0].tenant_id, "token");
    assert!(!token.ok);
    assert!(
        token
            .detail
            .contains("refused with 401 AADSTS7000215 invalid_client"),
        "{token:?}"
    );
    assert_eq!(
        token.fix.as_deref(),
        Some(
            "the client secret is wrong: configure the secret's Value (not its Secret ID) from the app \
             registration's Certificates & secrets page"
        )
    );
    assert!(find(&findings, &tenants[1].tenant_id, "token").ok);
    assert_eq!(problems(&findings).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlicensed_tenant_is_asked_three_times_before_it_is_reported() {
    let (sim, clock, _kafka, config, _directory) = setup(vec![TenantSpec {
        unlicensed: true,
        ..TenantSpec::default()
    }])
    .await;
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let tenant = &sim.credentials().tenants[0].tenant_id;
    let licence = find(&findings, tenant, "licence");
    assert_eq!(
        licence.detail,
        "Graph refused sign-ins 3 times: the tenant has no Entra ID P1/P2 licence"
    );
    assert!(
        licence
            .fix
            .as_deref()
            .is_some_and(|fix| fix.starts_with("license the tenant"))
    );
    let sign_in_requests = sim
        .stats()
        .requests()
        .iter()
        .filter(|request| request.endpoint == "signIns")
        .count();
    assert_eq!(sign_in_requests, 3);
    assert!(
        find(&findings, tenant, "permission").ok,
        "directory audits need no licence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_reported_with_its_fix() {
    let (sim, clock, _kafka, config, _directory) = setup(vec![TenantSpec {
        missing_permission: true,
        ..TenantSpec::default()
    }])
    .await;
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let permission = find(
        &findings,
        &sim.credentials().tenants[0].tenant_id,
        "permission",
    );
    assert_eq!(
        permission.detail,
        "Graph refused directory audits with 403 (Authorization_RequestDenied)"
    );
    assert!(
        permission
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains("AuditLog.Read.All"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tenant_and_a_skewed_clock_are_reported() {
    let (sim, _clock, _kafka, mut config, _directory) = setup(vec![TenantSpec::default()]).await;
    // this machine ten minutes ahead of Graph
    let ahead = Clock::manual(START.saturating_add(Duration::from_secs(600)));
    let findings = check::run(&config, &ahead, Duration::ZERO).await;
    let tenant = sim.credentials().tenants[0].tenant_id.clone();
    let clock = find(&findings, &tenant, "clock");
    assert_eq!(
        clock.detail,
        "this machine's clock is 600 s away from Graph's"
    );
    assert!(!clock.ok);

    config.tenants[0].id = "contoso-typo.onmicrosoft.com".to_owned();
    let findings = check::run(&config, &ahead, Duration::ZERO).await;
    let token = find(&findings, "contoso-typo.onmicrosoft.com", "token");
    assert!(token.detail.contains("AADSTS90002"), "{token:?}");
    assert!(
        token
            .fix
            .as_deref()
            .is_some_and(|fix| fix.starts_with("the tenant was not found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_unreachable_a_missing_topic_and_refused_transactions_are_reported() {
    let (_sim, clock, kafka, mut config, _directory) = setup(vec![TenantSpec::default()]).await;
    config.kafka.topics.dead_letter = "entra.deadletter.missing".to_owned();
    config.kafka.delivery = Delivery::ExactlyOnce;
    kafka.cluster.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED; 4],
    );
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let topic = findings
        .iter()
        .find(|finding| finding.check == "topic" && !finding.ok)
        .expect("a missing topic");
    assert_eq!(topic.detail, "entra.deadletter.missing does not exist");
    assert_eq!(
        topic.fix.as_deref(),
        Some("create entra.deadletter.missing, or let the brokers create topics automatically")
    );
    let transactions = find(&findings, "kafka", "transactions");
    assert!(!transactions.ok, "{transactions:?}");
    assert!(
        transactions
            .detail
            .contains("entrastream-entrastream-check"),
        "{transactions:?}"
    );

    config.kafka.bootstrap_servers = "127.0.0.1:1".to_owned();
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let brokers = find(&findings, "kafka", "brokers");
    assert!(!brokers.ok);
    assert!(
        brokers.detail.starts_with("127.0.0.1:1 unreachable"),
        "{brokers:?}"
    );
    assert!(findings.iter().all(|finding| finding.check != "topic"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_json_and_exits_0_only_when_all_is_well() {
    let sim = Simulator::start(
        SimConfig {
            tenants: vec![TenantSpec::default()],
            history: Duration::from_secs(1800),
            ..SimConfig::default()
        },
        Clock::system(),
    )
    .await
    .expect("simulator");
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let credentials = sim.credentials();
    let tenant = &credentials.tenants[0];
    let secret = directory.path().join("secret");
    std::fs::write(&secret, &tenant.client_secret).expect("secret");
    let topics = &kafka.topics;
    let write_config = |bootstrap: &str| {
        let path = directory.path().join("entrastream.yaml");
        std::fs::write(
            &path,
            format!(
                "tenants: [{{id: {}, client_id: {}, client_secret: {{file: {}}}, endpoints: {{login: {base}, graph: {base}}}}}]\n\
                 kafka: {{bootstrap_servers: \"{bootstrap}\", topics: {{sign_ins: {}, directory_audits: {}, provisioning: {}, dead_letter: {}}}}}\n",
                tenant.tenant_id,
                tenant.client_id,
                secret.display(),
                topics.sign_ins,
                topics.directory_audits,
                topics.provisioning,
                topics.dead_letter,
                base = credentials.base_url,
            ),
        )
        .expect("config");
        path
    };
    let run = |config: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(["check", "--output", "json", "--config"])
            .arg(config)
            .output()
            .expect("runs")
    };
    let config = write_config(&kafka.bootstrap);
    let well = tokio::task::spawn_blocking(move || run(&config))
        .await
        .expect("join");
    let report: serde_json::Value = serde_json::from_slice(&well.stdout).expect("json");
    assert_eq!(well.status.code(), Some(0), "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], 0);

    let config = write_config("127.0.0.1:1");
    let broken = tokio::task::spawn_blocking(move || run(&config))
        .await
        .expect("join");
    let report: serde_json::Value = serde_json::from_slice(&broken.stdout).expect("json");
    assert_eq!(broken.status.code(), Some(1), "{report}");
    assert_eq!(report["problems"], 1);
    // five for the tenant, one for the brokers (nothing more is asked of unreachable brokers)
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(6));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("1 problems found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_credential_and_an_unreachable_graph_are_reported() {
    let (sim, clock, _kafka, mut config, directory) = setup(vec![TenantSpec::default()]).await;
    let tenant = sim.credentials().tenants[0].tenant_id.clone();
    // the secret file gone
    std::fs::remove_file(directory.path().join("secret-0")).expect("removed");
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let credential = find(&findings, &tenant, "credential");
    assert!(!credential.ok);
    assert!(
        credential
            .detail
            .starts_with("tenants[0].client_secret: cannot read the secret file"),
        "{credential:?}"
    );
    assert!(
        findings
            .iter()
            .all(|finding| finding.scope != tenant || finding.check == "credential")
    );

    // the token works, Graph's address does not answer
    std::fs::write(
        directory.path().join("secret-0"),
        &sim.credentials().tenants[0].client_secret,
    )
    .expect("secret");
    if let Some(endpoints) = config.tenants[0].endpoints.as_mut() {
        endpoints.graph = Some("http://127.0.0.1:1".to_owned());
    }
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let permission = find(&findings, &tenant, "permission");
    assert!(
        permission.detail.starts_with("Graph is unreachable: "),
        "{permission:?}"
    );
    assert_eq!(
        permission.fix.as_deref(),
        Some("check the network path to the Graph host (proxy, firewall, DNS)")
    );
    let licence = find(&findings, &tenant, "licence");
    assert!(
        licence.detail.starts_with("Graph is unreachable: "),
        "{licence:?}"
    );
}
