//! `entrastream check` against the simulator and the mock cluster: every problem it reports has a
//! test, with its detail and its fix; the command's exit code and JSON output.

mod common;

use std::time::Duration;

use common::{START, kafka, simulator};
use entrastream::check::{self, Finding};
use entrastream::clock::Clock;
use entrastream::config::{Config, Delivery, PollingConfig, SecretSource};
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

/// The harness configuration, changed by `change`, written for a child process.
fn config_file(
    sim: &Simulator,
    kafka: &common::Kafka,
    directory: &std::path::Path,
    change: impl FnOnce(&mut Config),
) -> std::path::PathBuf {
    let mut config = common::config(sim, kafka, directory, PollingConfig::default());
    change(&mut config);
    let path = directory.join("entrastream.yaml");
    std::fs::write(&path, config.to_yaml()).expect("config");
    path
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
    assert_eq!(
        find(&findings, "kafka", "produce").detail,
        "the brokers granted a producer id (permission to produce; WRITE on each topic is \
         confirmed by the first delivery)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_the_brokers_will_not_let_produce_is_reported_with_its_fix() {
    let (_sim, clock, kafka, config, _directory) = setup(vec![TenantSpec::default()]).await;
    kafka.cluster.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED],
    );
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let produce = find(&findings, "kafka", "produce");
    assert!(!produce.ok, "{produce:?}");
    assert!(
        produce
            .detail
            .starts_with("the brokers refused a producer id: ")
            && produce.detail.contains("Cluster authorization failed"),
        "{produce:?}"
    );
    assert_eq!(
        produce.fix.as_deref(),
        Some(
            "grant the principal WRITE on the topics (Kafka 2.8 and later) or IDEMPOTENT_WRITE on \
             the cluster"
        )
    );
    // the rest of the check still ran
    assert!(find(&findings, "kafka", "brokers").ok);
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
    // the mock cluster has no admin API: whether its brokers create topics cannot be read
    assert_eq!(
        topic.detail,
        "entra.deadletter.missing does not exist (whether the brokers create topics is unknown: Admin \
         operation error: UnsupportedFeature (Local: Required feature not supported by broker))"
    );
    assert_eq!(
        topic.fix.as_deref(),
        Some(
            "create entra.deadletter.missing, or grant the principal DESCRIBE_CONFIGS on the cluster so \
             that check can read auto.create.topics.enable"
        )
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
    let write_config = |bootstrap: &str| {
        config_file(&sim, &kafka, directory.path(), |config| {
            config.kafka.bootstrap_servers = bootstrap.to_owned();
        })
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
    // librdkafka's connection errors stay out of the output: stderr holds the verdict alone
    assert_eq!(
        String::from_utf8_lossy(&broken.stderr),
        "error: 1 problem found\n"
    );
}

/// The table a person reads: each fix said once, a missing variable's fix naming the variable and
/// how to set it, a refused secret's fix from the identity platform's code, no log line mixed in
/// while Kafka is down, and counts in the right number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_says_each_fix_once_and_nothing_else() {
    let sim = Simulator::start(
        SimConfig {
            tenants: vec![TenantSpec::default(), TenantSpec::default()],
            history: Duration::from_secs(1800),
            ..SimConfig::default()
        },
        Clock::system(),
    )
    .await
    .expect("simulator");
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let variable = "ENTRASTREAM_TEST_CHECK_SECRET_NOT_SET";
    let config = config_file(&sim, &kafka, directory.path(), |config| {
        config.tenants[0].client_secret = Some(SecretSource::Env(variable.to_owned()));
        config.kafka.bootstrap_servers = "127.0.0.1:1".to_owned();
    });
    std::fs::write(directory.path().join("secret-1"), "not-the-secret").expect("secret");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(["check", "--config"])
            .arg(&config)
            .env_remove(variable)
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    let table = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(output.status.code(), Some(1), "{table}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: 3 problems found\n"
    );
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "a header and three findings:\n{table}");
    assert!(rows[0].starts_with("SCOPE "), "{table}");
    for row in &rows[1..] {
        assert_eq!(row.matches("fix: ").count(), 1, "one fix: {row}");
        assert!(row.contains("  PROBLEM  "), "{row}");
    }
    let tenants = sim.credentials().tenants;
    assert!(
        rows[1].starts_with(&tenants[0].tenant_id)
            && rows[1].ends_with(&format!(
                "tenants[0].client_secret: environment variable {variable} is not set; fix: set \
                 {variable} to the secret in the environment entrastream runs in (`export \
                 {variable}=...` in its shell, an `env` entry from a Secret in its pod), or read \
                 the secret from a file: {{file: PATH}}"
            )),
        "{table}"
    );
    assert!(
        rows[2].starts_with(&tenants[1].tenant_id)
            && rows[2].contains(" token ")
            && rows[2].ends_with(
                "; fix: the client secret is wrong: configure the secret's Value (not its Secret ID) \
                 from the app registration's Certificates & secrets page"
            ),
        "{table}"
    );
    assert!(
        rows[3].starts_with("kafka ") && rows[3].contains("127.0.0.1:1 unreachable"),
        "{table}"
    );

    // the same configuration without connecting: one tenant is one
    let single = config_file(&sim, &kafka, directory.path(), |config| {
        config.tenants.truncate(1);
    });
    let validated = std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["run", "--validate-only", "--config"])
        .arg(&single)
        .output()
        .expect("runs");
    let summary = String::from_utf8_lossy(&validated.stdout);
    assert!(
        summary.starts_with(&format!(
            "{}: valid\n  tenants:     1 (6 streams)\n",
            single.display()
        )),
        "{summary}"
    );
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

/// A forward proxy: `CONNECT host:port` tunnels and absolute-form requests, counted.
async fn forward_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let request_line = text.lines().next().unwrap_or_default().to_owned();
                log.lock().expect("log").push(request_line.clone());
                let mut parts = request_line.split_whitespace();
                let method = parts.next().unwrap_or_default();
                let target = parts.next().unwrap_or_default();
                let authority = if method == "CONNECT" {
                    target.to_owned()
                } else {
                    target
                        .trim_start_matches("http://")
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&authority).await else {
                    return;
                };
                if method == "CONNECT" {
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await;
                } else if upstream.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (address, seen)
}

/// `HTTPS_PROXY` carries the login and Graph traffic through the proxy (a CONNECT tunnel to the
/// simulator over HTTPS, its CA trusted through `tls.ca_file`); `NO_PROXY` exempts hosts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_and_no_proxy_are_honoured() {
    let sim = Simulator::start_with(
        SimConfig {
            tenants: vec![TenantSpec::default()],
            history: Duration::from_secs(1800),
            ..SimConfig::default()
        },
        Clock::system(),
        entrastream::sim::ListenOptions {
            tls: true,
            ..Default::default()
        },
    )
    .await
    .expect("simulator");
    let kafka = kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let credentials = sim.credentials();
    let ca_file = directory.path().join("proxy-ca.pem");
    std::fs::write(&ca_file, sim.ca_certificate_pem().expect("ca")).expect("ca");
    let config = config_file(&sim, &kafka, directory.path(), |config| {
        config.tls.ca_file = Some(ca_file.clone());
    });
    let (proxy, seen) = forward_proxy().await;
    let run = move |no_proxy: &'static str| {
        let config = config.clone();
        let proxy = proxy.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
                .args(["check", "--output", "json", "--config"])
                .arg(&config)
                .env("HTTPS_PROXY", &proxy)
                .env("NO_PROXY", no_proxy)
                .env_remove("HTTP_PROXY")
                .env_remove("ALL_PROXY")
                .output()
                .expect("runs")
        })
    };
    let through = run("").await.expect("join");
    assert_eq!(
        through.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&through.stdout)
    );
    let host = credentials
        .base_url
        .trim_start_matches("https://")
        .to_owned();
    let tunnels = seen.lock().expect("log").clone();
    assert!(!tunnels.is_empty());
    assert!(
        tunnels
            .iter()
            .all(|line| line == &format!("CONNECT {host} HTTP/1.1")),
        "{tunnels:?}"
    );

    seen.lock().expect("log").clear();
    let direct = run("localhost").await.expect("join");
    assert_eq!(direct.status.code(), Some(0));
    let bypassed = seen.lock().expect("log").clone();
    assert_eq!(
        bypassed,
        Vec::<String>::new(),
        "NO_PROXY bypasses the proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_missing_in_the_tenants_cloud_is_reported_with_the_fix() {
    let (sim, clock, _kafka, config, _directory) = setup(vec![TenantSpec {
        beta_unavailable: true,
        ..TenantSpec::default()
    }])
    .await;
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let tenant = &sim.credentials().tenants[0].tenant_id;
    let beta = find(&findings, tenant, "api version");
    assert_eq!(beta.detail, "Graph beta answered 404 (BadRequest)");
    assert_eq!(
        beta.fix.as_deref(),
        Some("set api_version: v1.0 for this tenant (and only its streams)")
    );
}

/// A Kafka listener behind TLS (what SSL/SASL_SSL clusters such as MSK, Confluent Cloud or Event
/// Hubs offer): it completes the handshake, notes the API key of the first Kafka request it can
/// read through it, and hangs up. The mock cluster itself has no TLS listener.
async fn tls_listener() -> (
    String,
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Result<i16, String>>>>,
) {
    use tokio::io::AsyncReadExt;
    let tls = entrastream::sim::tls::generate().expect("certificates");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let record = record.clone();
            tokio::spawn(async move {
                let outcome = match acceptor.accept(stream).await {
                    Err(error) => Err(error.to_string()),
                    Ok(mut stream) => {
                        // a request: its size (4 bytes), then api_key (2 bytes), ...
                        let mut head = [0u8; 6];
                        match stream.read_exact(&mut head).await {
                            Ok(_) => Ok(i16::from_be_bytes([head[4], head[5]])),
                            Err(error) => Err(error.to_string()),
                        }
                    }
                };
                record.lock().expect("lock").push(outcome);
            });
        }
    });
    (address, tls.ca_certificate_pem, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_over_tls_with_sasl_is_spoken_and_an_untrusted_broker_certificate_is_named() {
    let (_sim, clock, _kafka, mut config, directory) = setup(vec![TenantSpec::default()]).await;
    let (address, ca_pem, seen) = tls_listener().await;
    let ca_file = directory.path().join("kafka-ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("ca");
    config.kafka.bootstrap_servers = address.clone();
    for (key, value) in [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "entrastream"),
        ("sasl.password", "Kafka-Pa55word-1701"),
        ("compression.type", "zstd"),
        ("ssl.ca.location", ca_file.to_str().expect("utf-8 path")),
    ] {
        config
            .kafka
            .librdkafka
            .insert(key.to_owned(), value.to_owned());
    }
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    // the producer was built: this build has TLS, SCRAM and zstd
    assert!(
        findings
            .iter()
            .all(|finding| !(finding.scope == "kafka" && finding.check == "producer")),
        "{findings:#?}"
    );
    const API_VERSIONS: i16 = 18;
    let outcomes = seen.lock().expect("lock").clone();
    assert!(
        outcomes.contains(&Ok(API_VERSIONS)),
        "a connection's first Kafka request arrived through TLS: {outcomes:?}"
    );

    // a CA that did not sign the broker's certificate: the check says so, not just "unreachable"
    let stranger = entrastream::sim::tls::generate().expect("certificates");
    std::fs::write(&ca_file, stranger.ca_certificate_pem).expect("ca");
    seen.lock().expect("lock").clear();
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let brokers = find(&findings, "kafka", "brokers");
    assert!(!brokers.ok);
    assert!(
        brokers.detail.starts_with(&format!(
            "{address} unreachable: broker certificate not trusted ("
        )) && brokers.detail.contains("certificate verify failed"),
        "{brokers:?}"
    );
    assert_eq!(
        brokers.fix.as_deref(),
        Some(
            "set kafka.librdkafka.ssl.ca.location to the CA that signed it (or leave it out for a \
             publicly trusted certificate)"
        )
    );
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .all(|outcome| outcome.is_err()),
        "no Kafka request crosses an untrusted handshake"
    );
    assert!(!format!("{findings:?}").contains("Pa55word"));

    // TLS asked of a plaintext listener (the mock cluster): the handshake fix, not the generic one
    let (_sim, clock, _kafka, mut config, _directory) = setup(vec![TenantSpec::default()]).await;
    config
        .kafka
        .librdkafka
        .insert("security.protocol".to_owned(), "SSL".to_owned());
    let findings = check::run(&config, &clock, Duration::ZERO).await;
    let brokers = find(&findings, "kafka", "brokers");
    assert!(!brokers.ok);
    assert_eq!(
        brokers.fix.as_deref(),
        Some(
            "check kafka.librdkafka.security.protocol (SSL; SSL or SASL_SSL for a TLS listener, \
             PLAINTEXT or SASL_PLAINTEXT otherwise) and the port"
        ),
        "{brokers:?}"
    );
}
