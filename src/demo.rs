//! `entrastream demo`: the service against the built-in Graph simulator and an in-process Kafka
//! cluster (librdkafka's mock cluster), with progress lines and pointers to look further.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::mocking::MockCluster;

use crate::app::{self, RunOptions};
use crate::cli::DemoArgs;
use crate::clock::Clock;
use crate::config::{
    CheckpointConfig, CheckpointStoreKind, Config, Endpoints, KafkaConfig, LogConfig,
    MetricsConfig, PollingConfig, SecretSource, TenantConfig, Topics,
};
use crate::sim::Simulator;
use crate::sim::config::SimConfig;
use crate::telemetry::metrics::Metrics;

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let clock = Clock::system();
    let simulator = Simulator::start(
        SimConfig {
            seed: args.seed,
            tenant_count: args.tenants.max(1),
            history: Duration::from_secs(2 * 3600),
            ..SimConfig::default()
        },
        clock.clone(),
    )
    .await
    .context("cannot start the Graph simulator")?;
    let cluster = MockCluster::new(1).context("cannot start the in-process Kafka cluster")?;
    let topics = Topics::default();
    for (topic, partitions) in [
        (&topics.sign_ins, 3),
        (&topics.directory_audits, 1),
        (&topics.provisioning, 1),
        (&topics.dead_letter, 1),
    ] {
        cluster
            .create_topic(topic, partitions, 1)
            .with_context(|| format!("cannot create topic {topic}"))?;
    }
    let bootstrap = cluster.bootstrap_servers();

    let workspace = tempfile::tempdir().context("cannot create a temporary directory")?;
    let credentials = simulator.credentials();
    let mut tenants = Vec::new();
    for (index, tenant) in credentials.tenants.iter().enumerate() {
        let secret_file = workspace.path().join(format!("secret-{index}"));
        std::fs::write(&secret_file, &tenant.client_secret)
            .context("cannot write a demo secret")?;
        tenants.push(TenantConfig {
            id: tenant.tenant_id.clone(),
            client_id: tenant.client_id.clone(),
            client_secret: Some(SecretSource::File(secret_file)),
            auth: None,
            cloud: Default::default(),
            endpoints: Some(Endpoints {
                login: Some(credentials.base_url.clone()),
                graph: Some(credentials.base_url.clone()),
            }),
            api_version: Default::default(),
            streams: None,
        });
    }
    let config = Config {
        tenants,
        polling: PollingConfig {
            initial_lookback: Duration::from_secs(3600),
            interval: Duration::from_secs(15),
            ..PollingConfig::default()
        },
        schema: args.schema.into(),
        kafka: KafkaConfig {
            topics: topics.clone(),
            ..KafkaConfig::new(bootstrap.clone())
        },
        checkpoint: CheckpointConfig {
            store: CheckpointStoreKind::File,
            path: Some(workspace.path().join("state")),
            ..CheckpointConfig::default()
        },
        metrics: MetricsConfig {
            listen: args.metrics_listen,
        },
        log: LogConfig::default(),
        tls: Default::default(),
        shutdown: Default::default(),
    };

    let metrics = Metrics::new(clock.clone());
    let (bound_sender, bound_receiver) = tokio::sync::oneshot::channel();
    let mut options = RunOptions::new(clock.clone());
    options.metrics = Some(metrics.clone());
    options.telemetry_bound = Some(bound_sender);

    println!(
        "entrastream demo: {} simulated tenants -> in-process Kafka",
        credentials.tenants.len()
    );
    println!("  graph simulator: {}", credentials.base_url);
    println!("  kafka bootstrap: {bootstrap}");
    println!(
        "  read the events: kcat -b {bootstrap} -t {} -C -o beginning -c 3",
        topics.sign_ins
    );
    println!(
        "  topics: {}, {}, {}, {} (dead letters)",
        topics.sign_ins, topics.directory_audits, topics.provisioning, topics.dead_letter
    );

    let duration = args.duration;
    let shutdown = async move {
        match duration {
            Some(duration) => {
                tokio::select! {
                    _ = tokio::time::sleep(duration) => {}
                    _ = crate::shutdown::on_signal() => {}
                }
            }
            None => crate::shutdown::on_signal().await,
        }
    };
    let progress = {
        let metrics = metrics.clone();
        let every = Duration::from_secs(args.progress_every.max(1));
        tokio::spawn(async move {
            if let Ok(address) = bound_receiver.await {
                println!("  metrics: http://{address}/metrics  (health: /healthz, /readyz)");
            }
            let started = std::time::Instant::now();
            loop {
                tokio::time::sleep(every).await;
                println!("{}", progress_line(&metrics, started.elapsed()));
            }
        })
    };
    let result = app::run(config, options, shutdown).await;
    progress.abort();
    println!("{}", final_line(&metrics));
    simulator.shutdown().await;
    drop(cluster);
    result.map_err(anyhow::Error::from)
}

/// The values of a counter or gauge family, summed by one label.
fn sum_by(metrics: &Arc<Metrics>, family: &str, label: &str) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for metric_family in metrics.gather() {
        if metric_family.name() != family {
            continue;
        }
        let is_counter = metric_family.get_field_type() == prometheus::proto::MetricType::COUNTER;
        for metric in metric_family.get_metric() {
            let key = metric
                .get_label()
                .iter()
                .find(|pair| pair.name() == label)
                .map(|pair| pair.value().to_owned())
                .unwrap_or_default();
            let value = if is_counter {
                metric.get_counter().get_value()
            } else {
                metric.get_gauge().get_value()
            };
            *sums.entry(key).or_insert(0.0) += value;
        }
    }
    sums
}

fn progress_line(metrics: &Arc<Metrics>, elapsed: Duration) -> String {
    let published = sum_by(metrics, "entrastream_records_published_total", "stream");
    let total: f64 = published.values().sum();
    let by_stream: Vec<String> = published
        .iter()
        .filter(|(_, count)| **count > 0.0)
        .map(|(stream, count)| format!("{stream} {count:.0}"))
        .collect();
    let worst_lag = metrics
        .gather()
        .iter()
        .filter(|family| family.name() == "entrastream_watermark_lag_seconds")
        .flat_map(|family| {
            family
                .get_metric()
                .iter()
                .map(|metric| metric.get_gauge().get_value())
        })
        .fold(0.0_f64, f64::max);
    let dead = sum_by(metrics, "entrastream_records_dead_lettered_total", "stream")
        .values()
        .sum::<f64>();
    let late = sum_by(metrics, "entrastream_records_late_total", "stream")
        .values()
        .sum::<f64>();
    format!(
        "[{:>4}s] published {total:.0} records ({}); late {late:.0}; dead letters {dead:.0}; worst lag {worst_lag:.0}s",
        elapsed.as_secs(),
        if by_stream.is_empty() {
            "none yet".to_owned()
        } else {
            by_stream.join(", ")
        }
    )
}

fn final_line(metrics: &Arc<Metrics>) -> String {
    let published: f64 = sum_by(metrics, "entrastream_records_published_total", "stream")
        .values()
        .sum();
    let deduplicated: f64 = sum_by(metrics, "entrastream_records_deduplicated_total", "stream")
        .values()
        .sum();
    format!("demo finished: {published:.0} records published, {deduplicated:.0} duplicates dropped")
}
