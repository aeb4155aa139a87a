//! entrastream on Apache Kafka 4.1 (`common::broker`: SASL/SCRAM-SHA-512 over plain TCP and TLS,
//! the StandardAuthorizer with ACLs), one broker for the file's tests, in parallel:
//! - the ACLs `docs/kafka.md` lists, run verbatim through `kafka-acls`, suffice for each delivery
//!   mode and store, and each mode is refused with the grant to add without its block;
//! - a principal missing one grant (WRITE on the topics, READ on the checkpoint topic) is stopped
//!   with the fix, nothing is lost, and `check` names the same grant;
//! - a refused SASL login and an untrusted broker certificate are named states in `/readyz`,
//!   `entrastream_kafka_state` and the log, and SIGTERM ends the process within seconds.
//!
//! Runs in the first two parts use the simulator's manual clock in this process; the third runs
//! `entrastream run` as a child process against a simulator on the system clock.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::broker::{Broker, Listener, RESTRICTED, User, WRITER};
use common::service_process::{Service, http_get};
use common::{START, compare_records, consume_events_with, simulator, test_logging, truth};
use entrastream::app::AppError;
use entrastream::check::{self, Finding};
use entrastream::clock::{Clock, Timestamp};
use entrastream::config::{
    CheckpointConfig, CheckpointStoreKind, Config, Delivery, PollingConfig, SecretSource,
    ThrottleConfig, Topics,
};
use entrastream::sim::Simulator;
use entrastream::sim::config::{Latency, SimConfig, StreamLatencies, StreamRates};
use entrastream::stream::StreamKind;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);
const STREAMS: [StreamKind; 3] = [
    StreamKind::DirectoryAudits,
    StreamKind::SignInsInteractive,
    StreamKind::Provisioning,
];

fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(Broker::start)
}

fn topics(prefix: &str) -> Topics {
    Topics {
        sign_ins: format!("{prefix}.signins"),
        directory_audits: format!("{prefix}.audit"),
        provisioning: format!("{prefix}.provisioning"),
        dead_letter: format!("{prefix}.deadletter"),
    }
}

/// Creates the event topics as an administrator would.
fn create_event_topics(topics: &Topics) {
    for topic in [
        &topics.sign_ins,
        &topics.directory_audits,
        &topics.provisioning,
        &topics.dead_letter,
    ] {
        broker().create_topic(topic, 2, &[]);
    }
}

fn simulator_config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        tenant_count: 1,
        rates: StreamRates {
            directory_audits: 3.0,
            sign_ins_interactive: 3.0,
            provisioning: 1.0,
            sign_ins_non_interactive: 0.0,
            sign_ins_service_principal: 0.0,
            sign_ins_managed_identity: 0.0,
        },
        latency: StreamLatencies::uniform(Latency::ZERO),
        history: HOUR,
        data_end: Some(START.saturating_add(HOUR)),
        users_per_tenant: 20,
        ..SimConfig::default()
    }
}

/// One mode of the service as a user of the broker: its topics, store and principal.
struct Run {
    sim: Simulator,
    clock: Clock,
    config: Config,
    topics: Topics,
    _directory: tempfile::TempDir,
}

impl Run {
    async fn new(
        seed: u64,
        prefix: &str,
        delivery: Delivery,
        store: CheckpointStoreKind,
        listener: Listener,
        user: &User,
    ) -> Run {
        let (sim, clock) = simulator(simulator_config(seed)).await;
        let directory = tempfile::tempdir().expect("tempdir");
        let topics = topics(prefix);
        let polling = PollingConfig {
            interval: 2 * MINUTE,
            // longer than the data: a stream whose first start comes late (after a refused run
            // moved the clock on) still begins before the first record
            initial_lookback: 6 * HOUR,
            lateness: HOUR,
            reconcile_every: 30 * MINUTE,
            request_timeout: Duration::from_secs(5),
            ..PollingConfig::default()
        };
        let mut config = common::config_for(
            &sim,
            &broker().bootstrap_servers(listener),
            &topics,
            directory.path(),
            polling,
        );
        for tenant in &mut config.tenants {
            tenant.streams = Some(STREAMS.to_vec());
        }
        broker().log_in(&mut config.kafka, listener, user, directory.path());
        config.kafka.delivery = delivery;
        config.kafka.instance_id = prefix.replace('.', "-");
        if store == CheckpointStoreKind::Kafka {
            config.checkpoint = CheckpointConfig {
                store,
                path: None,
                topic: "entrastream.checkpoints".to_owned(),
                load_timeout: Duration::from_secs(20),
                takeover_wait: Duration::from_secs(1),
                ..CheckpointConfig::default()
            };
        }
        Run {
            sim,
            clock,
            config,
            topics,
            _directory: directory,
        }
    }

    /// Runs the service for the simulated hours of data and three more, then stops it.
    async fn run(&self) -> Result<(), AppError> {
        test_logging();
        let manual = self.clock.as_manual().expect("manual").clone();
        let running = common::start(self.config.clone(), &self.clock, None).await;
        if running.task.is_finished() {
            return running.stop().await;
        }
        // the clock goes on from wherever earlier runs left it
        let end = manual.now().saturating_add(4 * HOUR);
        common::drive(&manual, end, Duration::from_secs(300)).await;
        running.stop().await
    }

    /// Every record of the simulated hours is visible by now.
    fn visible_by(&self) -> Timestamp {
        self.clock.now().max(START.saturating_add(2 * HOUR))
    }

    /// What a read_committed reader of the event topics sees, against the ground truth.
    fn compare(&self) -> common::Comparison {
        let records = consume_events_with(&broker().plaintext(), &self.topics, &[]);
        compare_records(
            &self.sim,
            &records,
            START.saturating_sub(HOUR),
            START.saturating_add(HOUR),
            self.visible_by(),
        )
    }

    fn expected(&self) -> usize {
        truth(
            &self.sim,
            START.saturating_sub(HOUR),
            START.saturating_add(HOUR),
            self.visible_by(),
        )
        .values()
        .map(|ids| ids.len())
        .sum()
    }
}

fn assert_delivered_once(run: &Run, what: &str) {
    let comparison = run.compare();
    assert!(comparison.expected > 300, "{what}: {comparison:?}");
    assert_eq!(comparison.expected, run.expected());
    assert_eq!(comparison.missing, 0, "{what}: {comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{what}: {comparison:?}");
    assert_eq!(comparison.unexpected, 0, "{what}: {comparison:?}");
    println!(
        "{what}: {} of {} records, 0 duplicates",
        comparison.delivered, comparison.expected
    );
}

/// The `kafka-acls.sh` lines of each `sh` block of `docs/kafka.md`, as arguments for `user`.
fn documented_acl_blocks(user: &User) -> Vec<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/kafka.md"))
        .expect("docs/kafka.md");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<Vec<String>>> = None;
    for line in text.lines() {
        match (line.trim(), current.as_mut()) {
            ("```sh", None) => current = Some(Vec::new()),
            ("```", Some(_)) => blocks.extend(current.take()),
            (command, Some(block)) if command.starts_with("kafka-acls.sh ") => {
                let prefix =
                    "kafka-acls.sh --bootstrap-server BROKERS --command-config admin.properties ";
                let arguments = command.strip_prefix(prefix).unwrap_or_else(|| {
                    panic!("a documented command starts with {prefix}: {command}")
                });
                block.push(
                    arguments
                        .split_whitespace()
                        .map(|argument| {
                            if argument == "User:entrastream" {
                                format!("User:{}", user.name)
                            } else {
                                argument.to_owned()
                            }
                        })
                        .collect(),
                );
            }
            _ => {}
        }
    }
    blocks
}

fn grant(block: &[Vec<String>]) {
    for arguments in block {
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        broker().acls(&arguments);
    }
}

fn refusal(outcome: Result<(), AppError>) -> String {
    outcome.expect_err("the run is refused").to_string()
}

/// The Kafka rows of `check` that are problems.
fn problems(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|finding| !finding.ok && finding.scope == "kafka")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acls_suffice_for_each_mode() {
    let blocks = documented_acl_blocks(&WRITER);
    assert_eq!(
        blocks.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![1, 1, 1, 1, 1],
        "every mode, the kafka store, exactly_once, check, brokers before 3.0 (not run here)"
    );

    // every mode: the event topics and a producer id; over TLS with the run's CA
    grant(&blocks[0]);
    let file_store = Run::new(
        1,
        "entra.alo-file",
        Delivery::AtLeastOnce,
        CheckpointStoreKind::File,
        Listener::SaslSsl,
        &WRITER,
    )
    .await;
    create_event_topics(&file_store.topics);
    file_store.run().await.expect("at_least_once, file store");
    assert_delivered_once(&file_store, "at_least_once, file store, SCRAM over TLS");

    // the kafka store without its block: refused, with the grant to add
    let kafka_store = Run::new(
        2,
        "entra.alo-kafka",
        Delivery::AtLeastOnce,
        CheckpointStoreKind::Kafka,
        Listener::SaslSsl,
        &WRITER,
    )
    .await;
    create_event_topics(&kafka_store.topics);
    assert_eq!(
        refusal(kafka_store.run().await),
        "Kafka refuses access to checkpoint topic entrastream.checkpoints: grant the principal READ, WRITE and \
         DESCRIBE on it"
    );
    grant(&blocks[1]);
    kafka_store.run().await.expect("at_least_once, kafka store");
    assert_delivered_once(&kafka_store, "at_least_once, kafka store");

    // exactly_once without its block: the transactional id is refused
    let transactional = Run::new(
        3,
        "entra.eos",
        Delivery::ExactlyOnce,
        CheckpointStoreKind::Kafka,
        Listener::SaslSsl,
        &WRITER,
    )
    .await;
    create_event_topics(&transactional.topics);
    let refused = refusal(transactional.run().await);
    assert!(
        refused.starts_with(
            "Kafka refuses transactions: cannot initialise them for transactional.id entrastream-entra-eos ("
        ) && refused.contains("Transactional Id authorization failed")
            && refused.ends_with("WRITE and DESCRIBE on that transactional id"),
        "{refused}"
    );
    grant(&blocks[2]);
    transactional.run().await.expect("exactly_once");
    assert_delivered_once(&transactional, "exactly_once, read_committed");

    // check: every row ok once it may read the brokers' configuration; absent event topics are
    // created by the brokers (auto.create.topics.enable, Kafka's default)
    let mut checked = transactional.config.clone();
    checked.kafka.topics = topics("entra.absent");
    let findings = check::run(&checked, &transactional.clock, Duration::ZERO).await;
    let unknown = problems(&findings);
    assert_eq!(unknown.len(), 4, "{unknown:#?}");
    assert!(
        unknown.iter().all(|finding| finding
            .detail
            .contains("whether the brokers create topics is unknown")),
        "{unknown:#?}"
    );
    grant(&blocks[3]);
    let findings = check::run(&checked, &transactional.clock, Duration::ZERO).await;
    assert_eq!(problems(&findings), Vec::<&Finding>::new(), "{findings:#?}");
    let rows: BTreeMap<&str, Vec<&str>> =
        findings.iter().fold(BTreeMap::new(), |mut rows, finding| {
            rows.entry(finding.check)
                .or_default()
                .push(finding.detail.as_str());
            rows
        });
    assert_eq!(
        rows["topic"][0],
        "entra.absent.signins is absent; the brokers create it at its first record \
         (auto.create.topics.enable=true, num.partitions=1); the principal needs CREATE on it"
    );
    assert_eq!(
        rows["checkpoint read"],
        vec!["entrastream.checkpoints can be read (no consumer group is needed)"]
    );
    assert!(rows["transactions"][0].starts_with("available (probed with transactional.id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_grant_stops_the_service_with_the_fix_and_loses_nothing() {
    let prefix = "restricted";
    let run = Run::new(
        4,
        prefix,
        Delivery::AtLeastOnce,
        CheckpointStoreKind::Kafka,
        Listener::SaslPlaintext,
        &RESTRICTED,
    )
    .await;
    create_event_topics(&run.topics);
    let mut config = run.config.clone();
    config.checkpoint.topic = format!("{prefix}.checkpoints");
    config.checkpoint.create_topic = false;
    broker().create_topic(
        &config.checkpoint.topic,
        1,
        &[("cleanup.policy", "compact")],
    );
    let run = Run { config, ..run };
    let principal = "User:restricted";
    let allow = |operations: &[&str], resource: &[&str]| {
        let mut arguments = vec!["--add", "--allow-principal", principal];
        for operation in operations {
            arguments.extend(["--operation", operation]);
        }
        arguments.extend(resource);
        broker().acls(&arguments);
    };

    // the checkpoint topic readable, but no WRITE on the event topics
    allow(
        &["Read", "Write", "Describe", "DescribeConfigs"],
        &["--topic", "restricted.checkpoints"],
    );
    allow(
        &["Describe"],
        &[
            "--topic",
            "restricted.",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    let refused = refusal(run.run().await);
    assert!(
        refused.contains("refused by Kafka")
            && refused.contains("fix: Kafka refuses writes to topic restricted.")
            && refused.contains("grant the principal WRITE (and DESCRIBE) on it"),
        "{refused}"
    );
    assert_eq!(
        run.compare().delivered,
        0,
        "nothing reached the event topics"
    );

    // WRITE granted; READ on the checkpoint topic taken away
    allow(
        &["Write"],
        &[
            "--topic",
            "restricted.",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    broker().acls(&[
        "--remove",
        "--force",
        "--allow-principal",
        principal,
        "--operation",
        "Read",
        "--topic",
        "restricted.checkpoints",
    ]);
    let findings = check::run(&run.config, &run.clock, Duration::ZERO).await;
    let unreadable: Vec<&Finding> = problems(&findings);
    assert_eq!(unreadable.len(), 1, "{findings:#?}");
    assert_eq!(unreadable[0].check, "checkpoint read");
    assert_eq!(
        unreadable[0].detail,
        "Kafka refuses to let this principal read checkpoint topic restricted.checkpoints: grant READ on it"
    );
    let refused = refusal(run.run().await);
    assert!(
        refused.contains(
            "Kafka refuses to let this principal read checkpoint topic restricted.checkpoints: grant READ on it"
        ),
        "{refused}"
    );

    // every grant: everything delivered once, the refused batches included
    allow(&["Read"], &["--topic", "restricted.checkpoints"]);
    run.run().await.expect("runs with every grant");
    assert_delivered_once(&run, "after the missing grants were added");
}

/// The log line of a Kafka state change: its fields.
fn kafka_state_line(log: &str, state: &str) -> serde_json::Value {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["state"] == state && line["target"] == "entrastream::app")
        .unwrap_or_else(|| panic!("no log line for state {state}:\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_and_an_untrusted_certificate_are_named_and_sigterm_ends_the_process() {
    let clock = Clock::system();
    let now = clock.now();
    let sim = Simulator::start(
        SimConfig {
            data_end: Some(now.saturating_sub(MINUTE)),
            history: 30 * MINUTE,
            ..simulator_config(5)
        },
        clock,
    )
    .await
    .expect("simulator");
    let directory = tempfile::tempdir().expect("tempdir");
    let topics = topics("states");
    create_event_topics(&topics);
    let polling = PollingConfig {
        interval: Duration::from_secs(1),
        initial_lookback: HOUR,
        throttle: ThrottleConfig {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        ..PollingConfig::default()
    };
    let base = common::config_for(
        &sim,
        &broker().plaintext(),
        &topics,
        directory.path(),
        polling,
    );

    // a wrong password
    let mut wrong_password = base.clone();
    broker().log_in(
        &mut wrong_password.kafka,
        Listener::SaslPlaintext,
        &WRITER,
        directory.path(),
    );
    let wrong_file = directory.path().join("wrong-password");
    std::fs::write(&wrong_file, "not-the-password").expect("password file");
    wrong_password
        .kafka
        .librdkafka
        .insert_from("sasl.password", SecretSource::File(wrong_file));
    let mut child = Service::start(&wrong_password, directory.path(), "wrong-password");
    let readiness = child
        .wait_until_not_ready("kafka: SASL authentication failed for user writer (SCRAM-SHA-512)")
        .await;
    assert_eq!(
        readiness,
        "{\"ready\":false,\"problems\":[\"kafka: SASL authentication failed for user writer (SCRAM-SHA-512): \
         check kafka.librdkafka.sasl.username and sasl.password (and sasl.mechanism: the brokers' mechanism \
         for that user)\"]}"
    );
    let metrics = http_get(&format!("{}/metrics", child.metrics)).await.1;
    assert!(
        metrics.contains("entrastream_kafka_state{state=\"authentication_failed\"} 1")
            && metrics.contains("entrastream_kafka_state{state=\"reachable\"} 0"),
        "{metrics}"
    );
    let (code, took, log) = child.terminate();
    println!("wrong password: SIGTERM ended the process in {took:?} with code {code:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(code, Some(1), "records were left unacknowledged:\n{log}");
    let line = kafka_state_line(&log, "authentication_failed");
    assert_eq!(line["level"], "ERROR");
    assert!(
        line["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("SCRAM-SHA-512")
    );
    assert!(!log.contains("not-the-password") && !metrics.contains("not-the-password"));
    assert!(log.contains("records_unacknowledged"), "{log}");

    // a broker certificate from a CA the client does not trust
    let mut untrusted = base.clone();
    broker().log_in(
        &mut untrusted.kafka,
        Listener::SaslSsl,
        &WRITER,
        directory.path(),
    );
    untrusted.kafka.librdkafka.insert(
        "ssl.ca.location".to_owned(),
        broker().untrusted_ca_pem().display().to_string(),
    );
    let mut child = Service::start(&untrusted, directory.path(), "untrusted");
    let readiness = child
        .wait_until_not_ready("kafka: broker certificate not trusted")
        .await;
    assert_eq!(
        readiness,
        "{\"ready\":false,\"problems\":[\"kafka: broker certificate not trusted: set \
         kafka.librdkafka.ssl.ca.location to the CA that signed it (or leave it out for a publicly trusted \
         certificate)\"]}"
    );
    let (code, took, log) = child.terminate();
    println!("untrusted certificate: SIGTERM ended the process in {took:?} with code {code:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(kafka_state_line(&log, "tls_untrusted")["level"], "ERROR");

    // nothing was lost: a run that can log in delivers everything, once
    let mut child = Service::start(&base, directory.path(), "plaintext");
    let from = now.saturating_sub(HOUR);
    let data_end = now.saturating_sub(MINUTE);
    let deadline = Instant::now() + Duration::from_secs(120);
    let comparison = loop {
        let records = consume_events_with(&broker().plaintext(), &topics, &[]);
        let comparison = compare_records(&sim, &records, from, data_end, data_end);
        if comparison.missing == 0 {
            break comparison;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered within two minutes: {comparison:?}\n{}",
            child.log()
        );
        if let Some(status) = child.child.try_wait().expect("try_wait") {
            panic!("ended by itself ({status}):\n{}", child.log());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (code, _, log) = child.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(comparison.expected > 100, "{comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
    assert_eq!(comparison.unexpected, 0);
}

/// Records in the event topics: the sum of every partition's high watermark.
fn records_in(bootstrap: &str, topics: &Topics) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    let mut records = 0;
    for topic in [
        &topics.sign_ins,
        &topics.directory_audits,
        &topics.provisioning,
    ] {
        let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
            continue;
        };
        for partition in metadata.topics()[0].partitions() {
            if let Ok((_, high)) =
                consumer.fetch_watermarks(topic, partition.id(), Duration::from_secs(5))
            {
                records += high;
            }
        }
    }
    records
}

/// A broker killed with SIGKILL in the middle of the work and started again ten seconds later:
/// `/readyz` says so within one health interval and recovers by itself, nothing is lost, nothing
/// is repeated; a broker frozen with SIGSTOP is noticed as quickly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_and_restarted_mid_stream_loses_nothing() {
    let mut own_broker = Broker::start();
    for (delivery, store, prefix) in [
        (
            Delivery::AtLeastOnce,
            CheckpointStoreKind::File,
            "restart-alo",
        ),
        (
            Delivery::ExactlyOnce,
            CheckpointStoreKind::Kafka,
            "restart-eos",
        ),
    ] {
        let clock = Clock::system();
        let now = clock.now();
        let data_end = now.saturating_sub(MINUTE);
        let sim = Simulator::start(
            SimConfig {
                tenant_count: 2,
                rates: StreamRates {
                    directory_audits: 10.0,
                    sign_ins_interactive: 10.0,
                    provisioning: 5.0,
                    sign_ins_non_interactive: 0.0,
                    sign_ins_service_principal: 0.0,
                    sign_ins_managed_identity: 0.0,
                },
                data_end: Some(data_end),
                history: HOUR,
                throttle: None,
                ..simulator_config(6)
            },
            clock,
        )
        .await
        .expect("simulator");
        let directory = tempfile::tempdir().expect("tempdir");
        let topics = topics(prefix);
        for topic in [
            &topics.sign_ins,
            &topics.directory_audits,
            &topics.provisioning,
        ] {
            own_broker.create_topic(topic, 2, &[]);
        }
        let polling = PollingConfig {
            interval: Duration::from_secs(1),
            initial_lookback: 2 * HOUR,
            page_size: 50,
            throttle: ThrottleConfig {
                requests: 1000,
                per: Duration::from_secs(1),
            },
            ..PollingConfig::default()
        };
        let mut config = common::config_for(
            &sim,
            &own_broker.plaintext(),
            &topics,
            directory.path(),
            polling,
        );
        for tenant in &mut config.tenants {
            tenant.streams = Some(STREAMS.to_vec());
        }
        config.kafka.delivery = delivery;
        if store == CheckpointStoreKind::Kafka {
            config.checkpoint = CheckpointConfig {
                store,
                path: None,
                topic: format!("{prefix}.checkpoints"),
                ..CheckpointConfig::default()
            };
        }
        let mut service = Service::start(&config, directory.path(), prefix);
        service.wait_for_readiness(200, "\"ready\":true").await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while records_in(&own_broker.plaintext(), &topics) < 300 {
            assert!(Instant::now() < deadline, "no progress:\n{}", service.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        own_broker.kill();
        let killed = Instant::now();
        let readiness = service
            .wait_until_not_ready("kafka: no broker answers at")
            .await;
        let noticed = killed.elapsed();
        let metrics = http_get(&format!("{}/metrics", service.metrics)).await.1;
        assert!(
            metrics.contains("entrastream_kafka_state{state=\"unreachable\"} 1"),
            "{metrics}"
        );
        // the outage: what the broker is meant to do, not a synchronisation
        tokio::time::sleep(Duration::from_secs(10)).await;
        own_broker.restart();
        service.wait_for_readiness(200, "\"ready\":true").await;
        let mut frozen_noticed = None;
        if delivery == Delivery::AtLeastOnce {
            // a broker that stops answering without closing its connections (SIGSTOP: a frozen
            // VM, a full GC): not ready within kafka.health_interval (5 s)
            let pid = own_broker.jvm_process_id().expect("running").to_string();
            let signal = |name: &str| {
                let status = std::process::Command::new("kill")
                    .args([name, &pid])
                    .status()
                    .expect("kill");
                assert!(status.success());
            };
            signal("-STOP");
            let frozen = Instant::now();
            service
                .wait_until_not_ready("kafka: no broker answers at")
                .await;
            frozen_noticed = Some(frozen.elapsed());
            signal("-CONT");
            service.wait_for_readiness(200, "\"ready\":true").await;
        }

        let from = now.saturating_sub(2 * HOUR);
        let deadline = Instant::now() + Duration::from_secs(180);
        let comparison = loop {
            let records = consume_events_with(&own_broker.plaintext(), &topics, &[]);
            let comparison = compare_records(&sim, &records, from, data_end, data_end);
            if comparison.missing == 0 {
                break comparison;
            }
            assert!(
                Instant::now() < deadline,
                "{delivery:?}: not delivered within three minutes of the restart: {comparison:?}\n{}",
                service.log()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let (code, _, log) = service.terminate();
        assert_eq!(code, Some(0), "{log}");
        println!(
            "{delivery:?}, broker killed and restarted 10 s later: not ready {noticed:?} after the kill \
             ({readiness}), {frozen_noticed:?} after a SIGSTOP; expected {}, delivered {}, missing {}, \
             duplicates {}",
            comparison.expected, comparison.delivered, comparison.missing, comparison.duplicates
        );
        assert!(comparison.expected > 2000, "{comparison:?}");
        assert_eq!(comparison.unexpected, 0);
        assert_eq!(
            comparison.duplicates, 0,
            "{delivery:?}: the idempotent producer's retries repeat nothing: {:?}",
            comparison.duplicate_times
        );
        // within one health interval (5 s; measured 4.3–5.0 s), with room for /readyz polling and
        // a loaded machine
        assert!(noticed < Duration::from_secs(8), "{noticed:?}");
        assert!(frozen_noticed.is_none_or(|noticed| noticed < Duration::from_secs(8)));
    }
}
