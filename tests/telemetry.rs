//! The metrics catalogue against its documentation, and the health endpoints.

use std::collections::BTreeMap;
use std::path::Path;

use entrastream::clock::{Clock, Timestamp};
use entrastream::stream::StreamKind;
use entrastream::telemetry::metrics::Metrics;
use prometheus::proto::MetricType;

/// (type, label names) of every documented metric.
fn documented() -> BTreeMap<String, (String, Vec<String>)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
            .expect("docs/metrics.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells
                .get(1)?
                .strip_prefix("`entrastream_")?
                .strip_suffix('`')?;
            let labels = cells
                .get(3)?
                .split(',')
                .map(str::trim)
                .filter(|label| !label.is_empty())
                .map(str::to_owned)
                .collect();
            Some((
                format!("entrastream_{name}"),
                (cells.get(2)?.to_string(), labels),
            ))
        })
        .collect()
}

#[test]
fn docs_metrics_md_matches_the_registry() {
    let clock = Clock::manual(Timestamp::from_secs(1_800_000_000));
    let metrics = Metrics::new(clock);
    let stream = metrics.stream("tenant-a", StreamKind::SignInsInteractive);
    // touch every family so that labelled ones have a child to show
    stream.graph_request("success", "2xx", 0.2);
    stream.dead_lettered("unmappable", 1);
    stream.batch("committed");
    stream.kafka_batch_seconds(0.01);
    stream.checkpoint_commit_seconds(0.001);
    stream.checkpoint_commit_failed();
    stream.checkpoint_committed(false, 12);
    stream.transaction(true, 10);
    stream.transaction(false, 10);
    stream.set_state("caught_up");
    stream.committed(
        Timestamp::from_secs(1_799_999_000),
        Some(Timestamp::from_secs(1_799_998_000)),
        Timestamp::from_secs(1_800_000_000),
    );
    stream.token_request("success");
    stream.received.inc();
    stream.throttled.inc();
    let registry: BTreeMap<String, (String, Vec<String>)> = metrics
        .gather()
        .iter()
        .map(|family| {
            let kind = match family.get_field_type() {
                MetricType::COUNTER => "counter",
                MetricType::GAUGE => "gauge",
                MetricType::HISTOGRAM => "histogram",
                _ => "other",
            };
            let mut labels: Vec<String> = family
                .get_metric()
                .first()
                .map(|metric| {
                    metric
                        .get_label()
                        .iter()
                        .map(|pair| pair.name().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            labels.sort();
            (family.name().to_owned(), (kind.to_owned(), labels))
        })
        .collect();
    let mut documented = documented();
    for (_, labels) in documented.values_mut() {
        labels.sort();
    }
    assert_eq!(
        registry, documented,
        "docs/metrics.md and the registry differ"
    );
}

#[test]
fn tenant_state_is_the_worst_of_its_streams() {
    let metrics = Metrics::new(Clock::manual(Timestamp::from_secs(1)));
    metrics
        .stream("t1", StreamKind::DirectoryAudits)
        .set_state("caught_up");
    metrics
        .stream("t1", StreamKind::SignInsInteractive)
        .set_state("unlicensed");
    metrics
        .stream("t2", StreamKind::DirectoryAudits)
        .set_state("caught_up");
    let text = metrics.render();
    assert!(
        text.contains("entrastream_tenant_state{state=\"unlicensed\",tenant=\"t1\"} 1"),
        "{text}"
    );
    assert!(text.contains("entrastream_tenant_state{state=\"ok\",tenant=\"t1\"} 0"));
    assert!(text.contains("entrastream_tenant_state{state=\"ok\",tenant=\"t2\"} 1"));
    assert!(
        text.contains("entrastream_ready 0"),
        "not ready before Kafka was probed"
    );
}
