//! The real-broker harness itself (`common::broker`): each listener carries a record both ways,
//! ACLs bind the SASL users, a wrong password and an untrusted CA fail as librdkafka reports
//! them, and a broker killed with SIGKILL comes back with its data. One broker serves the file's
//! tests, in parallel; the restart test has its own.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::broker::{ADMIN, Broker, Listener, RESTRICTED, User, WRITER};
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const DELIVERY_DEADLINE: Duration = Duration::from_secs(20);
const CONSUME_DEADLINE: Duration = Duration::from_secs(20);
/// librdkafka reports a refused login or certificate within a second; this is the upper bound.
const ERROR_CALLBACK_DEADLINE: Duration = Duration::from_secs(10);

fn shared_broker() -> &'static Broker {
    static SHARED_BROKER: OnceLock<Broker> = OnceLock::new();
    SHARED_BROKER.get_or_init(Broker::start)
}

/// Records librdkafka's global errors and the producer's delivery reports.
#[derive(Default)]
struct RecordingContext {
    errors: Mutex<Vec<(KafkaError, String)>>,
    deliveries: Mutex<Vec<Result<i64, KafkaError>>>,
}

impl ClientContext for RecordingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.lock().push((error, reason.to_owned()));
    }
}

impl ProducerContext for RecordingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, _: ()) {
        let outcome = match delivery_result {
            Ok(message) => Ok(message.offset()),
            Err((error, _)) => Err(error.clone()),
        };
        self.deliveries.lock().push(outcome);
    }
}

fn producer(config: &ClientConfig) -> BaseProducer<RecordingContext> {
    config
        .clone()
        .set("message.timeout.ms", "15000")
        .create_with_context(RecordingContext::default())
        .expect("producer")
}

/// Produces one record and returns its delivery report: the offset, or the error.
fn produce_one(
    config: &ClientConfig,
    topic: &str,
    key: &str,
    payload: &str,
) -> Result<i64, KafkaError> {
    let producer = producer(config);
    producer
        .send(BaseRecord::to(topic).key(key).payload(payload))
        .map_err(|(error, _)| error)
        .expect("queue the record");
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    loop {
        producer.poll(Duration::from_millis(100));
        if let Some(outcome) = producer.context().deliveries.lock().pop() {
            return outcome;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery report for {topic} within {DELIVERY_DEADLINE:?}; errors: {:?}",
            producer.context().errors.lock()
        );
    }
}

/// The group of `consume_first`'s reader of `topic`.
fn reader_group(topic: &str) -> String {
    format!("harness-reader-{topic}")
}

/// Reads the first record of partition 0, assigned from the beginning. librdkafka refuses
/// `assign` without a `group.id` ("Local: Unknown group"), and with one it looks the group's
/// coordinator up, which needs DESCRIBE on the group even though nothing is committed.
fn consume_first(config: &ClientConfig, topic: &str) -> (String, String) {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", reader_group(topic))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + CONSUME_DEADLINE;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        assert!(
            !remaining.is_zero(),
            "no record from {topic} within {CONSUME_DEADLINE:?}"
        );
        match consumer.poll(remaining) {
            None => {}
            Some(Ok(message)) => {
                let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
                let payload =
                    String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
                return (key, payload);
            }
            Some(Err(error)) => panic!("consuming {topic} failed: {error}"),
        }
    }
}

/// Creates a producer and waits for librdkafka's first global error.
fn first_global_error(config: &ClientConfig, topic: &str) -> (KafkaError, String, Duration) {
    let started = Instant::now();
    let producer = producer(config);
    producer
        .send(BaseRecord::to(topic).key("key").payload("payload"))
        .map_err(|(error, _)| error)
        .expect("queue the record");
    loop {
        producer.poll(Duration::from_millis(50));
        if let Some((error, reason)) = producer.context().errors.lock().first().cloned() {
            return (error, reason, started.elapsed());
        }
        assert!(
            started.elapsed() < ERROR_CALLBACK_DEADLINE,
            "no error callback within {ERROR_CALLBACK_DEADLINE:?}"
        );
    }
}

#[test]
fn plaintext_listener_carries_a_record_both_ways() {
    let broker = shared_broker();
    let topic = "harness.plaintext";
    broker.create_topic(topic, 1, &[]);
    let config = broker.rdkafka_config(Listener::Plaintext, None);

    let offset = produce_one(&config, topic, "plaintext-key", "plaintext-payload");

    assert_eq!(offset, Ok(0));
    assert_eq!(
        consume_first(&config, topic),
        ("plaintext-key".to_owned(), "plaintext-payload".to_owned())
    );
}

/// The service's producer is idempotent: since Kafka 3.0 WRITE on a topic is enough for that,
/// without IDEMPOTENT_WRITE on the cluster.
#[test]
fn sasl_plaintext_writer_carries_a_record_both_ways_once_granted() {
    let broker = shared_broker();
    let topic = "harness.sasl-plaintext";
    broker.create_topic(topic, 1, &[]);
    let principal = format!("User:{}", WRITER.name);
    broker.acls(&[
        "--add",
        "--allow-principal",
        &principal,
        "--operation",
        "Write",
        "--operation",
        "Read",
        "--topic",
        topic,
    ]);
    broker.acls(&[
        "--add",
        "--allow-principal",
        &principal,
        "--operation",
        "Describe",
        "--group",
        &reader_group(topic),
    ]);
    let mut config = broker.rdkafka_config(Listener::SaslPlaintext, Some(&WRITER));
    config.set("enable.idempotence", "true");

    let offset = produce_one(&config, topic, "writer-key", "writer-payload");

    assert_eq!(offset, Ok(0));
    assert_eq!(
        consume_first(&config, topic),
        ("writer-key".to_owned(), "writer-payload".to_owned())
    );
}

#[test]
fn sasl_ssl_carries_a_record_both_ways_with_the_broker_ca() {
    let broker = shared_broker();
    let topic = "harness.sasl-ssl";
    broker.create_topic(topic, 1, &[]);
    let config = broker.rdkafka_config(Listener::SaslSsl, Some(&ADMIN));

    let offset = produce_one(&config, topic, "tls-key", "tls-payload");

    assert_eq!(offset, Ok(0));
    assert_eq!(
        consume_first(&config, topic),
        ("tls-key".to_owned(), "tls-payload".to_owned())
    );
}

#[test]
fn a_user_without_an_acl_is_refused_the_topic() {
    let broker = shared_broker();
    let topic = "harness.refused";
    broker.create_topic(topic, 1, &[]);
    let config = broker.rdkafka_config(Listener::SaslPlaintext, Some(&RESTRICTED));

    let offset = produce_one(&config, topic, "key", "payload");

    assert_eq!(
        offset,
        Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::TopicAuthorizationFailed
        ))
    );
}

#[test]
fn a_wrong_password_is_reported_as_an_authentication_error() {
    let broker = shared_broker();
    let wrong_password = User {
        name: WRITER.name,
        password: "not-the-writer-secret",
    };
    let config = broker.rdkafka_config(Listener::SaslPlaintext, Some(&wrong_password));

    let (error, reason, elapsed) = first_global_error(&config, "harness.wrong-password");

    assert_eq!(error, KafkaError::Global(RDKafkaErrorCode::Authentication));
    assert!(
        reason.contains(
            "SASL authentication error: Authentication failed during authentication due to \
             invalid credentials with SASL mechanism SCRAM-SHA-512"
        ),
        "{reason}"
    );
    eprintln!("wrong password reported after {elapsed:?}: {error}: {reason}");
}

#[test]
fn an_untrusted_ca_is_reported_as_certificate_verify_failed() {
    let broker = shared_broker();
    let mut config = broker.rdkafka_config(Listener::SaslSsl, Some(&ADMIN));
    config.set(
        "ssl.ca.location",
        broker.untrusted_ca_pem().to_str().expect("utf-8 path"),
    );

    let (error, reason, elapsed) = first_global_error(&config, "harness.untrusted-ca");

    assert_eq!(error, KafkaError::Global(RDKafkaErrorCode::SSL));
    assert!(
        reason.contains("certificate verify failed: broker certificate could not be verified"),
        "{reason}"
    );
    eprintln!("untrusted ca reported after {elapsed:?}: {error}: {reason}");
}

#[test]
fn a_killed_broker_restarts_with_the_records_written_before() {
    let start_started = Instant::now();
    let mut broker = Broker::start();
    eprintln!("started in {:?}", start_started.elapsed());
    let topic = "harness.restart";
    broker.create_topic(topic, 1, &[]);
    let config = broker.rdkafka_config(Listener::Plaintext, None);
    assert_eq!(
        produce_one(&config, topic, "before-kill", "survives"),
        Ok(0)
    );

    broker.kill();
    let refused = std::net::TcpStream::connect(broker.plaintext());
    assert!(
        refused.is_err(),
        "the killed broker still accepts connections"
    );
    let restart_started = Instant::now();
    broker.restart();
    eprintln!("restarted in {:?}", restart_started.elapsed());

    assert_eq!(
        consume_first(&config, topic),
        ("before-kill".to_owned(), "survives".to_owned())
    );
}
