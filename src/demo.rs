//! `entrastream demo`: the service against the built-in Graph simulator and an in-process Kafka
//! cluster (librdkafka's mock cluster), with progress lines and pointers to look further. The
//! cluster lives in the process: its topics and events are gone when the demo exits.

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
use crate::text::counted;

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // bound before anything starts: an address in use is named with the demo's own flag
    let telemetry_listener = tokio::net::TcpListener::bind(args.metrics_listen)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot listen on {} for metrics ({error}); pass --metrics-listen with a free \
                 address (port 0 picks one)",
                args.metrics_listen
            )
        })?;
    let metrics_address = telemetry_listener
        .local_addr()
        .context("cannot read the metrics address")?;
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
        graph: Default::default(),
    };

    let metrics = Metrics::new(clock.clone());
    let mut options = RunOptions::new(clock.clone());
    options.metrics = Some(metrics.clone());
    options.telemetry_listener = Some(telemetry_listener);

    println!(
        "entrastream demo: {} -> in-process Kafka",
        counted(
            credentials.tenants.len(),
            "simulated tenant",
            "simulated tenants"
        )
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
    println!("  metrics: http://{metrics_address}/metrics  (health: /healthz, /readyz)");
    println!(
        "  the Kafka cluster runs inside this process: its topics and events are gone when the demo exits"
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

/// The values of a counter family, summed by one label (counts are whole numbers).
fn sum_by(metrics: &Arc<Metrics>, family: &str, label: &str) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for metric_family in metrics.gather() {
        if metric_family.name() != family {
            continue;
        }
        for metric in metric_family.get_metric() {
            *sums.entry(label_value(metric, label)).or_insert(0) +=
                metric.get_counter().get_value() as u64;
        }
    }
    sums
}

/// The total of a counter family.
fn total(metrics: &Arc<Metrics>, family: &str) -> u64 {
    sum_by(metrics, family, "stream").values().sum()
}

fn label_value(metric: &prometheus::proto::Metric, label: &str) -> String {
    metric
        .get_label()
        .iter()
        .find(|pair| pair.name() == label)
        .map(|pair| pair.value().to_owned())
        .unwrap_or_default()
}

/// The stream furthest behind: its lag in seconds, its name and its tenant.
fn worst_lag(metrics: &Arc<Metrics>) -> Option<(u64, String, String)> {
    metrics
        .gather()
        .iter()
        .filter(|family| family.name() == "entrastream_watermark_lag_seconds")
        .flat_map(|family| family.get_metric().iter())
        .map(|metric| {
            (
                metric.get_gauge().get_value().max(0.0) as u64,
                label_value(metric, "stream"),
                label_value(metric, "tenant"),
            )
        })
        .max()
}

fn progress_line(metrics: &Arc<Metrics>, elapsed: Duration) -> String {
    let published = sum_by(metrics, "entrastream_records_published_total", "stream");
    let by_stream: Vec<String> = published
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(stream, count)| format!("{stream} {count}"))
        .collect();
    let lag = match worst_lag(metrics) {
        Some((seconds, stream, tenant)) => {
            format!("worst lag {seconds}s ({stream}, tenant {tenant})")
        }
        None => "no lag measured yet".to_owned(),
    };
    format!(
        "[{:>4}s] published {} ({}); late {}; dead letters {}; {lag}",
        elapsed.as_secs(),
        counted(
            published.values().sum::<u64>() as usize,
            "record",
            "records"
        ),
        if by_stream.is_empty() {
            "none yet".to_owned()
        } else {
            by_stream.join(", ")
        },
        total(metrics, "entrastream_records_late_total"),
        total(metrics, "entrastream_records_dead_lettered_total"),
    )
}

fn final_line(metrics: &Arc<Metrics>) -> String {
    let published = total(metrics, "entrastream_records_published_total") as usize;
    let deduplicated = total(metrics, "entrastream_records_deduplicated_total") as usize;
    format!(
        "demo finished: {} published, {} dropped; the in-process Kafka cluster and its events are gone",
        counted(published, "record", "records"),
        counted(deduplicated, "duplicate", "duplicates")
    )
}
