//! A record larger than a topic accepts (`kafka.max_record_bytes`, 1,000,000 bytes by default:
//! what a topic with Kafka's default `max.message.bytes` takes) goes to the dead-letter topic as a
//! summary; the stream and every other tenant go on, and a restart sends nothing again. The
//! simulator's `oversized_record` fault makes the first record of one response 1.2 MB long.

mod common;

use std::time::Duration;

use common::{START, compare, consume, kafka, simulator, use_kafka_checkpoints};
use entrastream::config::{Delivery, PollingConfig};
use entrastream::sim::config::{FaultKind, FaultSpec, ScriptedFault, SimConfig};
use entrastream::stream::StreamKind;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

fn simulator_config(oversized_tenant: &str) -> SimConfig {
    SimConfig {
        faults: FaultSpec {
            scripted: vec![ScriptedFault {
                at_request: 2,
                kind: FaultKind::OversizedRecord,
                tenant: Some(oversized_tenant.to_owned()),
            }],
            ..FaultSpec::default()
        },
        ..common::two_tenants(41, oversized_tenant, OTHER_TENANT)
    }
}

const OVERSIZED_TENANT: &str = "11111111-1111-4111-8111-111111111111";
const OTHER_TENANT: &str = "22222222-2222-4222-8222-222222222222";

fn polling() -> PollingConfig {
    PollingConfig {
        interval: 2 * MINUTE,
        initial_lookback: HOUR,
        lateness: HOUR,
        reconcile_every: 20 * MINUTE,
        request_timeout: Duration::from_secs(5),
        ..PollingConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_record_is_dead_lettered_as_a_summary_and_never_sent_again() {
    for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        common::test_logging();
        let (sim, clock) = simulator(simulator_config(OVERSIZED_TENANT)).await;
        let manual = clock.as_manual().expect("manual").clone();
        let kafka = kafka();
        let directory = tempfile::tempdir().expect("tempdir");
        let mut config = common::config(&sim, &kafka, directory.path(), polling());
        for tenant in &mut config.tenants {
            tenant.streams = Some(vec![
                StreamKind::DirectoryAudits,
                StreamKind::SignInsInteractive,
            ]);
        }
        use_kafka_checkpoints(&mut config, delivery);
        let data_end = START.saturating_add(HOUR);
        let first_end = data_end.saturating_add(HOUR);

        let running = common::start(config.clone(), &clock, None).await;
        common::drive(&manual, first_end, Duration::from_secs(300)).await;
        running.stop().await.expect("the first run stops cleanly");

        let dead_letters = consume(&kafka.bootstrap, &kafka.topics.dead_letter);
        assert_eq!(dead_letters.len(), 1, "{delivery:?}: one summary");
        let summary = &dead_letters[0];
        let (tenant, id) = summary.key.split_once(':').expect("tenant:id");
        assert_eq!(tenant, OVERSIZED_TENANT);
        let reason = summary.header("dead_letter_reason");
        assert!(
            reason.starts_with("oversized: the mapped record is ")
                && reason.ends_with(
                    " bytes, above kafka.max_record_bytes (1000000); raise it together with the \
                     topic's max.message.bytes to publish such records"
                ),
            "{reason}"
        );
        let value: serde_json::Value =
            serde_json::from_slice(&summary.payload).expect("the summary is JSON");
        assert_eq!(value["id"], id);
        assert_eq!(value["tenant_id"], OVERSIZED_TENANT);
        assert_eq!(value["limit"], 1_000_000);
        let record_bytes = value["record_bytes"].as_u64().expect("record_bytes");
        let graph_record_bytes = value["graph_record_bytes"].as_u64().expect("graph bytes");
        assert!(graph_record_bytes > 1_200_000, "{value}");
        assert!(record_bytes > 1_000_000, "{value}");
        let head = value["graph_record_head"].as_str().expect("head");
        assert_eq!(head.len(), 1024);
        assert!(head.starts_with('{') && head.contains(id), "{head}");
        assert!(
            summary.payload.len() < 4096,
            "the summary is small: {} bytes",
            summary.payload.len()
        );

        let comparison = compare(
            &sim,
            &kafka,
            START.saturating_sub(HOUR),
            data_end,
            first_end,
        );
        assert!(comparison.expected > 400, "{comparison:?}");
        assert_eq!(
            comparison.missing, 1,
            "{delivery:?}: only the oversized record is not in its topic: {comparison:?}"
        );
        let (missing_tenant, _, missing_id) = comparison.first_missing.clone().expect("missing");
        assert_eq!((missing_tenant.as_str(), missing_id.as_str()), (tenant, id));
        assert_eq!(comparison.duplicates, 0);
        assert_eq!(comparison.unexpected, 0);

        // a restart and the reconciliation passes re-read the record's window (served at its
        // normal size now): it was handled, so it is sent neither to its topic nor again as a
        // dead letter
        let restarted = common::start(config, &clock, None).await;
        let second_end = first_end.saturating_add(HOUR);
        common::drive(&manual, second_end, Duration::from_secs(300)).await;
        let metrics = restarted.metrics.clone();
        restarted
            .stop()
            .await
            .expect("the second run stops cleanly");
        assert_eq!(
            consume(&kafka.bootstrap, &kafka.topics.dead_letter).len(),
            1,
            "{delivery:?}: the summary is not sent again"
        );
        let comparison = compare(
            &sim,
            &kafka,
            START.saturating_sub(HOUR),
            data_end,
            second_end,
        );
        assert_eq!(comparison.missing, 1, "{comparison:?}");
        assert_eq!(comparison.duplicates, 0, "{delivery:?}: {comparison:?}");
        assert_eq!(
            common::metric_sum(
                &metrics,
                "entrastream_records_dead_lettered_total",
                &[("reason", "oversized")]
            ),
            0.0,
            "the second run dead-letters nothing"
        );
        println!(
            "{delivery:?}: oversized record {id} ({record_bytes} bytes mapped, {graph_record_bytes} from \
             Graph) dead-lettered as a {}-byte summary; {} records delivered, 0 duplicates after a restart",
            summary.payload.len(),
            comparison.delivered
        );
    }
}
