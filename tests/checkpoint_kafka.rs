//! The kafka checkpoint store against librdkafka's mock cluster: cursors survive, a newer
//! instance takes over from an older one, and every way the store can be unusable stops the
//! service with a message naming the cause and the fix (never a silent start from now). The last
//! test runs against Apache Kafka (`common::broker`), whose log cleaner really compacts.

mod common;

use std::sync::Arc;
use std::time::Duration;

use entrastream::checkpoint::{CheckpointError, CheckpointStore, CursorCommit, KafkaStore};
use entrastream::clock::Timestamp;
use entrastream::config::{CheckpointConfig, CheckpointStoreKind, KafkaConfig, TenantId};
use entrastream::graph::cursor::{Cursor, CursorDelta, IdHash, SeenIds};
use entrastream::kafka::Publisher;
use entrastream::stream::StreamKind;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use tokio::sync::watch;

const TOPIC: &str = "entrastream.checkpoints";

/// The tenant whose cursors these tests write.
fn tenant_a() -> TenantId {
    TenantId::parse("tenant-a.onmicrosoft.com").expect("a domain name")
}

fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    cluster
}

fn kafka_config(bootstrap: &str, instance: &str) -> KafkaConfig {
    KafkaConfig {
        instance_id: instance.to_owned(),
        ..KafkaConfig::new(bootstrap)
    }
}

fn checkpoint_config() -> CheckpointConfig {
    CheckpointConfig {
        store: CheckpointStoreKind::Kafka,
        // the mock cluster has no admin API: the topic is created by the test and not verified
        verify_topic: false,
        create_topic: false,
        load_timeout: Duration::from_secs(10),
        takeover_wait: Duration::from_secs(2),
        ..CheckpointConfig::default()
    }
}

fn publisher(config: &KafkaConfig) -> Arc<Publisher> {
    let gauge = prometheus::IntGauge::new("in_flight", "records in flight").expect("gauge");
    Arc::new(Publisher::new(config, gauge).expect("publisher"))
}

async fn open(
    bootstrap: &str,
    instance: &str,
    checkpoint: &CheckpointConfig,
) -> Result<KafkaStore, CheckpointError> {
    let config = kafka_config(bootstrap, instance);
    KafkaStore::open(&config, checkpoint, publisher(&config)).await
}

fn cursor(ids: usize) -> Cursor {
    let mut cursor = Cursor::start(
        Timestamp::from_secs(1_800_000_000),
        Timestamp::from_secs(1_800_003_600),
    );
    for index in 0..ids {
        cursor.seen.insert(
            IdHash::of(&format!("record-{index}")),
            Timestamp::from_secs(1_800_000_000 + index as i64),
        );
    }
    cursor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_survive_a_restart_and_instances_do_not_share_them() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let checkpoint = checkpoint_config();

    let first = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    assert_eq!(first.checkpoint_count(), 0);
    assert!(
        first
            .load(&tenant_a(), StreamKind::DirectoryAudits)
            .expect("loads")
            .is_none()
    );
    let committed = cursor(500);
    first
        .commit(
            &tenant_a(),
            StreamKind::DirectoryAudits,
            CursorCommit::Full(committed.clone()),
        )
        .await
        .expect("commits");
    let mut newer = committed.clone();
    newer.watermark = Timestamp::from_secs(1_800_000_600);
    first
        .commit(
            &tenant_a(),
            StreamKind::DirectoryAudits,
            CursorCommit::Full(newer.clone()),
        )
        .await
        .expect("commits");
    first.release().await;

    let second = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    assert_eq!(second.checkpoint_count(), 1);
    assert_eq!(
        second
            .load(&tenant_a(), StreamKind::DirectoryAudits)
            .expect("loads"),
        Some(newer),
        "the latest cursor of the key wins"
    );
    assert!(
        second
            .load(&tenant_a(), StreamKind::Provisioning)
            .expect("loads")
            .is_none()
    );

    // another deployment sharing the topic has its own cursors
    let other = open(&bootstrap, "green", &checkpoint).await.expect("opens");
    assert_eq!(other.checkpoint_count(), 0);
    assert!(
        other
            .load(&tenant_a(), StreamKind::DirectoryAudits)
            .expect("loads")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_instance_with_the_same_id_makes_the_older_one_stop() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let checkpoint = checkpoint_config();
    let older = Arc::new(open(&bootstrap, "blue", &checkpoint).await.expect("opens"));
    let (stop_sender, stop) = watch::channel(false);
    let watching = {
        let older = older.clone();
        tokio::spawn(async move { older.watch_lease(stop).await })
    };

    // the older one never releases: the newer one waits takeover_wait, then goes on
    let newer = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    let take_over = tokio::time::timeout(Duration::from_secs(30), watching)
        .await
        .expect("the older instance notices within 30s")
        .expect("watch task")
        .expect("a take-over");
    assert_eq!(take_over.instance_id, "blue");
    assert_eq!(take_over.claimed_at, newer.lease().claimed_at);
    let message = take_over.to_string();
    assert!(
        message.contains("another instance with kafka.instance_id blue")
            && message.contains("give each its own kafka.instance_id"),
        "{message}"
    );
    drop(stop_sender);

    // a different instance id is no take-over
    let (_stop_sender, stop) = watch::channel(false);
    let watching = {
        let newer = Arc::new(newer);
        tokio::spawn(async move { newer.watch_lease(stop).await })
    };
    let _green = open(&bootstrap, "green", &checkpoint).await.expect("opens");
    let quiet = tokio::time::timeout(Duration::from_secs(3), watching).await;
    assert!(quiet.is_err(), "blue keeps running beside green");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_checkpoint_topic_stops_the_start_with_the_fix() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let bootstrap = cluster.bootstrap_servers();

    let absent = open(&bootstrap, "blue", &checkpoint_config())
        .await
        .err()
        .expect("an absent topic is refused")
        .to_string();
    assert!(
        absent.starts_with(
            "checkpoint topic entrastream.checkpoints does not exist; create it compacted"
        ) && absent.contains("--config cleanup.policy=compact")
            && absent.contains("or set checkpoint.create_topic: true"),
        "{absent}"
    );

    // the mock cluster has no CreateTopics: the failure names the command that fixes it
    let creating = CheckpointConfig {
        create_topic: true,
        load_timeout: Duration::from_secs(3),
        ..checkpoint_config()
    };
    let not_created = open(&bootstrap, "blue", &creating)
        .await
        .err()
        .expect("creation fails")
        .to_string();
    assert!(
        not_created.starts_with("cannot create checkpoint topic entrastream.checkpoints")
            && not_created.contains("kafka-topics.sh --create --topic entrastream.checkpoints")
            && not_created.contains("grant the principal CREATE"),
        "{not_created}"
    );

    // verification needs DescribeConfigs, which the mock lacks
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    let verifying = CheckpointConfig {
        verify_topic: true,
        load_timeout: Duration::from_secs(3),
        ..checkpoint_config()
    };
    let unverified = open(&bootstrap, "blue", &verifying)
        .await
        .err()
        .expect("verification fails")
        .to_string();
    assert!(
        unverified.starts_with(
            "cannot verify that checkpoint topic entrastream.checkpoints is compacted"
        ) && unverified.contains("set checkpoint.verify_topic: false"),
        "{unverified}"
    );

    // no broker at all: no fallback to "start from now"
    let unreachable = CheckpointConfig {
        load_timeout: Duration::from_secs(2),
        ..checkpoint_config()
    };
    let config = KafkaConfig {
        librdkafka: [("socket.connection.setup.timeout.ms", "1000")].into(),
        ..kafka_config("127.0.0.1:9", "blue")
    };
    let down = KafkaStore::open(&config, &unreachable, publisher(&config))
        .await
        .err()
        .expect("an unreachable cluster is refused")
        .to_string();
    assert!(
        down.starts_with(
            "cannot read checkpoint topic entrastream.checkpoints: Kafka did not answer"
        ) && down.contains("never falls back to starting from now"),
        "{down}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_and_oversized_cursors_are_refused_with_the_fix() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    write_raw(
        &bootstrap,
        &[(
            "cursor/blue/tenant-a.onmicrosoft.com/provisioning",
            Some(b"{\"format\":\"entrastream-checkpoint/1\""),
        )],
    );

    let checkpoint = CheckpointConfig {
        max_record_bytes: 1024 * 1024,
        ..checkpoint_config()
    };
    let store = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    let damaged = store
        .load(&tenant_a(), StreamKind::Provisioning)
        .expect_err("a damaged cursor is refused")
        .to_string();
    assert!(
        damaged.starts_with(
            "checkpoint entrastream.checkpoints key cursor/blue/tenant-a.onmicrosoft.com/provisioning is corrupt (not a checkpoint document"
        ) && damaged.contains("it is not reset silently"),
        "{damaged}"
    );

    // 40,000 ids of 32 bytes each do not fit in 1 MiB
    let oversized = store
        .commit(
            &tenant_a(),
            StreamKind::DirectoryAudits,
            CursorCommit::Full(cursor(40_000)),
        )
        .await
        .expect_err("an oversized cursor is refused");
    assert!(!oversized.is_transient());
    let message = oversized.to_string();
    assert!(
        message.starts_with(
            "the cursor of tenant tenant-a.onmicrosoft.com stream directory_audits is "
        ) && message.contains("above checkpoint.max_record_bytes (1048576)")
            && message.contains("holds 40000 ids")
            && message.contains("Lower polling.lateness"),
        "{message}"
    );
}

#[path = "common/admin_broker.rs"]
mod admin_broker;

use admin_broker::{AdminBroker, CreateRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_topic_is_created_compacted_and_an_existing_one_is_verified() {
    let broker = AdminBroker::start().await;
    let config = kafka_config(&broker.bootstrap(), "blue");
    let checkpoint = CheckpointConfig {
        create_topic: true,
        verify_topic: true,
        topic_partitions: 3,
        ..checkpoint_config()
    };

    let partitions = KafkaStore::prepare_topic(&config, &checkpoint)
        .await
        .expect("creates the topic");
    assert_eq!(partitions, 3);
    let created = broker.state.lock().created.clone();
    assert_eq!(
        created,
        vec![CreateRequest {
            name: TOPIC.to_owned(),
            partitions: 3,
            replication_factor: -1,
            configs: [
                ("cleanup.policy", "compact"),
                ("max.message.bytes", "16777216")
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
        }],
        "compacted, sized for large cursors, the broker's replication factor"
    );

    // present now: verified, not created again
    let partitions = KafkaStore::prepare_topic(&config, &checkpoint)
        .await
        .expect("verifies the topic");
    assert_eq!(partitions, 3);
    assert_eq!(broker.state.lock().created.len(), 1);

    // a replication factor of the operator's choosing
    let replicated = CheckpointConfig {
        topic: "replicated.checkpoints".to_owned(),
        replication_factor: Some(3),
        topic_partitions: 1,
        ..checkpoint.clone()
    };
    KafkaStore::prepare_topic(&config, &replicated)
        .await
        .expect("creates");
    assert_eq!(broker.state.lock().created[1].replication_factor, 3);

    // compact,delete is accepted (with a warning in the log)
    broker.add_topic(
        "mixed.checkpoints",
        2,
        &[("cleanup.policy", "compact,delete")],
    );
    let mixed = CheckpointConfig {
        topic: "mixed.checkpoints".to_owned(),
        ..checkpoint.clone()
    };
    assert_eq!(
        KafkaStore::prepare_topic(&config, &mixed)
            .await
            .expect("accepted"),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_is_not_compacted_or_cannot_be_checked_is_refused() {
    let broker = AdminBroker::start().await;
    let config = kafka_config(&broker.bootstrap(), "blue");
    broker.add_topic(TOPIC, 1, &[("cleanup.policy", "delete")]);
    let checkpoint = CheckpointConfig {
        create_topic: true,
        verify_topic: true,
        ..checkpoint_config()
    };
    let refused = KafkaStore::prepare_topic(&config, &checkpoint)
        .await
        .expect_err("a delete-only topic is refused")
        .to_string();
    assert_eq!(
        refused,
        "checkpoint topic entrastream.checkpoints has cleanup.policy=delete: Kafka would delete cursors after \
         retention.ms and streams would start over (duplicates, or gaps beyond Graph's retention). Make it \
         compacted: kafka-configs.sh --alter --entity-type topics --entity-name entrastream.checkpoints \
         --add-config cleanup.policy=compact"
    );

    // the principal may not describe the topic's configuration
    broker.state.lock().describe_error = Some(29);
    let unverified = KafkaStore::prepare_topic(&config, &checkpoint)
        .await
        .expect_err("an unverifiable topic is refused")
        .to_string();
    assert!(
        unverified.starts_with(
            "cannot verify that checkpoint topic entrastream.checkpoints is compacted (the broker did not report its \
             cleanup.policy"
        ) && unverified.contains("grant the principal DESCRIBE_CONFIGS on the topic"),
        "{unverified}"
    );

    // unless the operator says the topic is theirs to manage
    let trusted = CheckpointConfig {
        verify_topic: false,
        ..checkpoint
    };
    assert_eq!(
        KafkaStore::prepare_topic(&config, &trusted)
            .await
            .expect("not verified"),
        1
    );
}

/// Writes records to the topic as another producer would (a `None` value: a tombstone).
fn write_raw(bootstrap: &str, records: &[(&str, Option<&[u8]>)]) {
    write_raw_to(bootstrap, TOPIC, records);
}

fn write_raw_to(bootstrap: &str, topic: &str, records: &[(&str, Option<&[u8]>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    for (key, value) in records {
        let mut record = BaseRecord::<str, [u8]>::to(topic).key(*key);
        if let Some(value) = value {
            record = record.payload(*value);
        }
        producer.send(record).expect("sends");
    }
    producer.flush(Duration::from_secs(10)).expect("flushes");
}

/// Every key of the topic with its latest value (`None`: a tombstone), read to the end.
fn latest_records(bootstrap: &str) -> std::collections::BTreeMap<String, Option<Vec<u8>>> {
    raw_records(bootstrap, TOPIC).into_iter().collect()
}

/// Every record of partition 0 of `topic` in order, tombstones as `None`.
fn raw_records(bootstrap: &str, topic: &str) -> Vec<(String, Option<Vec<u8>>)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "inspect")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assigns");
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "read the topic to its end"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let key = String::from_utf8_lossy(message.key().expect("key")).into_owned();
                records.push((key, message.payload().map(<[u8]>::to_vec)));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return records,
            Some(Err(error)) => panic!("{error}"),
            None => {}
        }
    }
}

/// A delta from `cursor`: the watermark `step` seconds on, `count` new ids named `prefix-n`.
fn delta_after(cursor: &Cursor, step: u64, prefix: &str, count: usize) -> CursorDelta {
    let mut added = SeenIds::default();
    for number in 0..count {
        added.insert(
            IdHash::of(&format!("{prefix}-{number}")),
            Timestamp::from_secs(1_800_000_000 + step as i64),
        );
    }
    CursorDelta {
        watermark: cursor.watermark.saturating_add(Duration::from_secs(step)),
        origin: cursor.origin,
        last_reconcile_started: cursor.last_reconcile_started,
        reconcile: None,
        forget_before: cursor.origin,
        added,
        records_per_hour: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_follow_their_whole_cursor_and_are_tombstoned_when_it_is_written_again() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let checkpoint = checkpoint_config();
    let (tenant, stream) = (&tenant_a(), StreamKind::DirectoryAudits);
    let delta_key = |number: u64| {
        format!("cursor-delta/blue/tenant-a.onmicrosoft.com/directory_audits/{number}")
    };

    let first = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    assert!(first.incremental());
    let refused = first
        .commit(
            tenant,
            stream,
            CursorCommit::Delta(delta_after(&cursor(0), 1, "x", 1)),
        )
        .await
        .expect_err("a delta needs its whole cursor")
        .to_string();
    assert!(
        refused.contains("a delta was offered before a whole cursor was written or read"),
        "{refused}"
    );
    let mut live = cursor(100);
    first
        .commit(tenant, stream, CursorCommit::Full(live.clone()))
        .await
        .expect("commits");
    for (step, prefix) in [(60, "b"), (120, "c"), (180, "d")] {
        let delta = delta_after(&live, step, prefix, 50);
        first
            .commit(tenant, stream, CursorCommit::Delta(delta.clone()))
            .await
            .expect("commits");
        live.apply(&delta);
    }
    first.release().await;
    let records = latest_records(&bootstrap);
    for number in 1..=3 {
        let value = records[&delta_key(number)].as_ref().expect("a delta");
        assert!(
            value.len() < 3_000,
            "delta {number} holds its 50 ids only: {} bytes",
            value.len()
        );
    }

    // a restart replays them; a whole cursor written again tombstones them
    let second = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    assert_eq!(second.checkpoint_count(), 1, "deltas are not cursors");
    let loaded = second
        .load(tenant, stream)
        .expect("loads")
        .expect("a cursor");
    assert_eq!(loaded, live);
    assert_eq!(loaded.seen.len(), 250);
    let mut whole = loaded.clone();
    whole.watermark = whole.watermark.saturating_add(Duration::from_secs(600));
    second
        .commit(tenant, stream, CursorCommit::Full(whole.clone()))
        .await
        .expect("commits");
    let delta = delta_after(&whole, 660, "e", 5);
    second
        .commit(tenant, stream, CursorCommit::Delta(delta.clone()))
        .await
        .expect("commits");
    second.release().await;
    let records = latest_records(&bootstrap);
    assert!(
        records[&delta_key(1)].is_some(),
        "delta 1 follows the new cursor"
    );
    assert_eq!(records[&delta_key(2)], None, "tombstoned");
    assert_eq!(records[&delta_key(3)], None, "tombstoned");

    let third = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    let mut expected = whole.clone();
    expected.apply(&delta);
    assert_eq!(third.load(tenant, stream).expect("loads"), Some(expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_of_an_earlier_cursor_are_ignored_and_a_gap_or_an_orphan_is_refused() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let checkpoint = checkpoint_config();
    let (tenant, stream) = (&tenant_a(), StreamKind::Provisioning);
    let delta_key =
        |number: u64| format!("cursor-delta/blue/tenant-a.onmicrosoft.com/provisioning/{number}");

    let first = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    let base = cursor(10);
    first
        .commit(tenant, stream, CursorCommit::Full(base.clone()))
        .await
        .expect("commits");
    let mut live = base.clone();
    for (step, prefix) in [(60, "b"), (120, "c")] {
        let delta = delta_after(&live, step, prefix, 3);
        first
            .commit(tenant, stream, CursorCommit::Delta(delta.clone()))
            .await
            .expect("commits");
        live.apply(&delta);
    }
    first.release().await;
    let earlier = latest_records(&bootstrap);

    // a whole cursor written again, its tombstones lost (a crash): the old deltas come back
    let second = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    second.load(tenant, stream).expect("loads");
    let mut newer = live.clone();
    newer.watermark = newer.watermark.saturating_add(Duration::from_secs(900));
    second
        .commit(tenant, stream, CursorCommit::Full(newer.clone()))
        .await
        .expect("commits");
    second.release().await;
    let (first_key, second_key) = (delta_key(1), delta_key(2));
    write_raw(
        &bootstrap,
        &[
            (&first_key, earlier[&first_key].as_deref()),
            (&second_key, earlier[&second_key].as_deref()),
        ],
    );
    let third = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    assert_eq!(
        third.load(tenant, stream).expect("loads"),
        Some(newer.clone()),
        "deltas naming an earlier cursor are ignored"
    );
    // the next whole cursor tombstones them after all
    third
        .commit(tenant, stream, CursorCommit::Full(newer.clone()))
        .await
        .expect("commits");
    third.release().await;
    let records = latest_records(&bootstrap);
    assert_eq!(records[&delta_key(1)], None);
    assert_eq!(records[&delta_key(2)], None);

    // a delta of the current cursor after a gap
    let fourth = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    fourth.load(tenant, stream).expect("loads");
    for step in [60, 120] {
        fourth
            .commit(
                tenant,
                stream,
                CursorCommit::Delta(delta_after(&newer, step, "f", 1)),
            )
            .await
            .expect("commits");
    }
    fourth.release().await;
    write_raw(&bootstrap, &[(&delta_key(1), None)]);
    let fifth = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    let gap = fifth.load(tenant, stream).expect_err("a gap").to_string();
    assert!(
        gap.contains(&format!(
            "checkpoint entrastream.checkpoints key {} is corrupt (delta 2 follows the cursor but delta 1 does not",
            delta_key(2)
        )),
        "{gap}"
    );

    // deltas without their cursor
    write_raw(
        &bootstrap,
        &[("cursor/blue/tenant-a.onmicrosoft.com/provisioning", None)],
    );
    let sixth = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    let orphan = sixth
        .load(tenant, stream)
        .expect_err("an orphan")
        .to_string();
    assert!(
        orphan.contains(
            "key cursor/blue/tenant-a.onmicrosoft.com/provisioning is corrupt (it is missing while deltas that follow it exist \
             (1 under cursor-delta/blue/tenant-a.onmicrosoft.com/provisioning/))"
        ),
        "{orphan}"
    );
}

/// Against Apache Kafka, whose log cleaner really compacts: the store creates its topic through
/// the admin API and verifies it, refuses one that only deletes, and after the cleaner removed
/// every superseded cursor, delta and tombstone it loads exactly the cursors last committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_apache_kafka_cursors_load_the_same_after_compaction() {
    let broker = common::broker::Broker::start();
    let bootstrap = broker.plaintext();
    let admin_config = kafka_config(&bootstrap, "blue");

    // created through the real admin API, compacted
    let created = CheckpointConfig {
        topic: "created.checkpoints".to_owned(),
        create_topic: true,
        verify_topic: true,
        topic_partitions: 2,
        ..checkpoint_config()
    };
    assert_eq!(
        KafkaStore::prepare_topic(&admin_config, &created)
            .await
            .expect("creates the topic"),
        2
    );
    assert_eq!(
        topic_config(&bootstrap, "created.checkpoints", "cleanup.policy").await,
        "compact"
    );
    // a topic that only deletes is refused, with the command that fixes it
    broker.create_topic("deleting.checkpoints", 1, &[("cleanup.policy", "delete")]);
    let refused = KafkaStore::prepare_topic(
        &admin_config,
        &CheckpointConfig {
            topic: "deleting.checkpoints".to_owned(),
            ..created.clone()
        },
    )
    .await
    .expect_err("refused")
    .to_string();
    assert!(
        refused.starts_with("checkpoint topic deleting.checkpoints has cleanup.policy=delete: "),
        "{refused}"
    );

    // a topic whose segments roll every second and whose cleaner takes any dirt at once;
    // tombstones go as soon as they are cleaned
    let topic = "compacting.checkpoints";
    broker.create_topic(
        topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "0"),
            ("max.message.bytes", "16777216"),
        ],
    );
    let checkpoint = CheckpointConfig {
        topic: topic.to_owned(),
        verify_topic: true,
        ..checkpoint_config()
    };
    let store = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    let mut expected = std::collections::BTreeMap::new();
    let mut commits = 0;
    let tenant_b = TenantId::parse("tenant-b.onmicrosoft.com").expect("a domain name");
    for (tenant, stream, rewrites) in [
        (tenant_a(), StreamKind::DirectoryAudits, 6),
        (tenant_a(), StreamKind::SignInsInteractive, 3),
        (tenant_b, StreamKind::Provisioning, 1),
    ] {
        // whole cursors written again and again, each followed by deltas: every rewrite
        // tombstones the deltas before it
        let mut live = cursor(40);
        for rewrite in 0..rewrites {
            live.watermark = live.watermark.saturating_add(Duration::from_secs(3600));
            store
                .commit(&tenant, stream, CursorCommit::Full(live.clone()))
                .await
                .expect("commits");
            commits += 1;
            for step in 1..=3u64 {
                let delta = delta_after(&live, step * 60, &format!("{tenant}-{rewrite}-{step}"), 5);
                store
                    .commit(&tenant, stream, CursorCommit::Delta(delta.clone()))
                    .await
                    .expect("commits");
                commits += 1;
                live.apply(&delta);
            }
        }
        expected.insert((tenant, stream), live);
    }
    store.release().await;

    // the active segment is never cleaned: once a second has passed, a record from another
    // writer rolls it, and the cleaner then works on everything above
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let compacted = loop {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        write_raw_to(&bootstrap, topic, &[("roll", Some(b"roll".as_slice()))]);
        let records = raw_records(&bootstrap, topic);
        let cursor_copies = records
            .iter()
            .filter(|(key, _)| {
                key.starts_with("cursor/blue/tenant-a.onmicrosoft.com/directory_audits")
            })
            .count();
        let tombstones = records.iter().filter(|(_, value)| value.is_none()).count();
        if cursor_copies == 1 && tombstones == 0 {
            break records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cleaner did not compact within 90 s: {cursor_copies} copies of one cursor, \
             {tombstones} tombstones, {} records\n{}",
            records.len(),
            broker.log_tail()
        );
    };
    println!(
        "compaction on Apache Kafka: {commits} cursor commits (and a tombstone per delta replaced), {} \
         records left: {:?}",
        compacted.len(),
        compacted
            .iter()
            .map(|(key, _)| key.as_str())
            .collect::<Vec<_>>()
    );
    // per stream the last whole cursor and its three deltas, the lease and its release: once each
    // (the rolling records are the test's own, the last one in the active segment)
    let keys: Vec<&str> = compacted
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| *key != "roll")
        .collect();
    let distinct: std::collections::BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(keys.len(), 3 * 4 + 2, "{keys:?}");
    assert_eq!(
        distinct.len(),
        keys.len(),
        "only the latest value of each key is left"
    );

    let reopened = open(&bootstrap, "blue", &checkpoint).await.expect("opens");
    assert_eq!(reopened.checkpoint_count(), 3);
    for ((tenant, stream), live) in &expected {
        assert_eq!(
            reopened.load(tenant, *stream).expect("loads").as_ref(),
            Some(live),
            "{tenant}/{stream}"
        );
    }
}

/// A topic's configuration value, through the admin API.
async fn topic_config(bootstrap: &str, topic: &str, key: &str) -> String {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("describes");
    let resource = results.into_iter().next().expect("one").expect("described");
    resource
        .get(key)
        .and_then(|entry| entry.value.clone())
        .expect("the key")
}
