//! End-to-end throughput, CPU and memory: the simulator in its own process (`entrastream simulate`,
//! throttling off) on loopback → the pipeline → the in-process Kafka cluster, all in this process.
//! Beside it, in the same run: how fast the simulator serves pages (pages/s, MB/s), and the
//! ceiling — fetching the same pages and splitting them into records without building a JSON tree
//! (`serde_json`'s `RawValue`; the pipeline's own scan also finds each record's properties).
//!
//! Run: `cargo bench --bench pipeline` (add `-- --records 1000000` for a longer run, and
//! `--no-slow-broker` to leave out the memory run with a delayed broker, e.g. under `perf`).
//! `ENTRASTREAM_BENCH_SCHEMA=raw|ecs` changes the output schema (OCSF by default),
//! `ENTRASTREAM_BENCH_LIBRDKAFKA="compression.type=none,linger.ms=50"` the producer's settings.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use entrastream::app::{self, RunOptions};
use entrastream::clock::{Clock, Timestamp};
use entrastream::config::{
    CheckpointConfig, CheckpointStoreKind, Config, Endpoints, KafkaConfig, LogConfig,
    MetricsConfig, PollingConfig, SchemaKind, SecretSource, TenantConfig, ThrottleConfig, Topics,
};
use entrastream::graph::endpoint;
use entrastream::stream::StreamKind;
use entrastream::telemetry::metrics::Metrics;
use rdkafka::mocking::MockCluster;

/// CPU seconds (user + system) this process has used.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / clock_ticks_per_second()
}

/// CPU seconds per thread name of this process (tokio workers, librdkafka threads, ...).
fn cpu_by_thread() -> BTreeMap<String, f64> {
    let ticks_per_second = clock_ticks_per_second();
    let mut by_name = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: f64 = fields
            .get(11)
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|value| value.parse::<f64>().ok())
                .unwrap_or(0.0);
        *by_name.entry(name).or_insert(0.0) += ticks / ticks_per_second;
    }
    by_name
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `/proc/self/status` value in MiB (`VmHWM` is the peak resident set, `VmRSS` the current one).
fn memory_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kilobytes| kilobytes.parse::<f64>().ok())
        .map_or(0.0, |kilobytes| kilobytes / 1024.0)
}

struct SimProcess {
    child: Child,
    base_url: String,
    tenant_id: String,
    client_id: String,
    secret: String,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_simulator(work: &std::path::Path, stream: StreamKind, per_minute: u64) -> SimProcess {
    let rates: BTreeMap<&str, u64> = StreamKind::ALL
        .iter()
        .map(|kind| (kind.as_str(), if *kind == stream { per_minute } else { 0 }))
        .collect();
    let rates_yaml: String = rates
        .iter()
        .map(|(name, rate)| format!("  {name}: {rate}\n"))
        .collect();
    let zero = "{median: 0s, p99: 0s, max: 0s}";
    let latency_yaml: String = StreamKind::ALL
        .iter()
        .map(|kind| format!("  {}: {zero}\n", kind.as_str()))
        .collect();
    let sim_config = work.join(format!("sim-{}.yaml", stream.as_str()));
    std::fs::write(
        &sim_config,
        format!("seed: 3\ntenant_count: 1\nhistory: 90m\nthrottle: null\nusers_per_tenant: 500\nrates:\n{rates_yaml}latency:\n{latency_yaml}"),
    )
    .expect("sim config");
    let credentials = work.join(format!("credentials-{}.json", stream.as_str()));
    let _ = std::fs::remove_file(&credentials);
    let child = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["simulate", "--listen", "127.0.0.1:0", "--config"])
        .arg(&sim_config)
        .arg("--credentials-out")
        .arg(&credentials)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let parsed: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&credentials)
            && let Ok(value) = serde_json::from_str(&text)
        {
            break value;
        }
        assert!(Instant::now() < deadline, "the simulator did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let tenant = &parsed["tenants"][0];
    SimProcess {
        child,
        base_url: parsed["base_url"].as_str().expect("url").to_owned(),
        tenant_id: tenant["tenant_id"].as_str().expect("tenant").to_owned(),
        client_id: tenant["client_id"].as_str().expect("client").to_owned(),
        secret: tenant["client_secret"].as_str().expect("secret").to_owned(),
    }
}

async fn token(http: &reqwest::Client, sim: &SimProcess) -> String {
    let body = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sim.base_url, sim.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id.as_str()),
            ("client_secret", sim.secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .bytes()
        .await
        .expect("body");
    let response: serde_json::Value = serde_json::from_slice(&body).expect("json");
    response["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// A page split into records by `serde_json` without a tree: `RawValue` slices of the body.
#[derive(serde::Deserialize)]
struct RawPage<'a> {
    #[serde(borrow)]
    value: Vec<&'a serde_json::value::RawValue>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// Fetches every page of the window and splits it into records with `serde_json`'s `RawValue`,
/// nothing else: the ceiling the issue names.
async fn fetch_and_split(
    sim: &SimProcess,
    stream: StreamKind,
    from: Timestamp,
    to: Timestamp,
) -> (u64, u64, u64, f64, f64) {
    let http = reqwest::Client::new();
    let access_token = token(&http, sim).await;
    let mut url = Some(endpoint::window_url(
        &sim.base_url,
        Default::default(),
        stream,
        from,
        to,
        1000,
    ));
    let (mut pages, mut records, mut bytes) = (0u64, 0u64, 0u64);
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    while let Some(next) = url.take() {
        let body = http
            .get(&next)
            .bearer_auth(&access_token)
            .send()
            .await
            .expect("page")
            .bytes()
            .await
            .expect("body");
        bytes += body.len() as u64;
        let page: RawPage = serde_json::from_slice(&body).expect("a page");
        pages += 1;
        records += page.value.len() as u64;
        url = page.next_link;
    }
    (
        pages,
        records,
        bytes,
        started.elapsed().as_secs_f64(),
        cpu_seconds() - cpu_before,
    )
}

/// `ENTRASTREAM_BENCH_LIBRDKAFKA="linger.ms=50,batch.size=4000000"`: settings to compare.
fn extra_librdkafka() -> entrastream::config::LibrdkafkaSettings {
    let configured = std::env::var("ENTRASTREAM_BENCH_LIBRDKAFKA").unwrap_or_default();
    configured
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.trim(), value.trim()))
        .collect()
}

/// `ENTRASTREAM_BENCH_SCHEMA=raw` (or `ecs`): the pipeline's output schema, OCSF by default.
/// `raw` maps nothing, so it measures what the process costs around the mapping.
fn bench_schema() -> SchemaKind {
    match std::env::var("ENTRASTREAM_BENCH_SCHEMA").as_deref() {
        Ok("raw") => SchemaKind::Raw,
        Ok("ecs") => SchemaKind::Ecs,
        Ok("ocsf" | "") | Err(_) => SchemaKind::Ocsf,
        Ok(other) => panic!("ENTRASTREAM_BENCH_SCHEMA={other}: write raw, ecs or ocsf"),
    }
}

struct PipelineResult {
    records: f64,
    seconds: f64,
    cpu: f64,
    peak_rss: f64,
    rss_samples: Vec<f64>,
}

async fn run_pipeline(
    sim: &SimProcess,
    stream: StreamKind,
    target: u64,
    slow_kafka: Option<Duration>,
) -> PipelineResult {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let topics = Topics::default();
    for topic in [
        &topics.sign_ins,
        &topics.directory_audits,
        &topics.provisioning,
        &topics.dead_letter,
    ] {
        cluster.create_topic(topic, 4, 1).expect("topic");
    }
    if let Some(round_trip) = slow_kafka {
        cluster
            .broker_round_trip_time(1, round_trip)
            .expect("slow broker");
    }
    let work = tempfile::tempdir().expect("tempdir");
    let secret_file = work.path().join("secret");
    std::fs::write(&secret_file, &sim.secret).expect("secret");
    let config = Config {
        tenants: vec![TenantConfig {
            id: sim.tenant_id.clone(),
            client_id: sim.client_id.clone(),
            client_secret: Some(SecretSource::File(secret_file)),
            auth: None,
            cloud: Default::default(),
            endpoints: Some(Endpoints {
                login: Some(sim.base_url.clone()),
                graph: Some(sim.base_url.clone()),
            }),
            api_version: Default::default(),
            streams: Some(vec![stream]),
        }],
        polling: PollingConfig {
            initial_lookback: Duration::from_secs(80 * 60),
            max_window: Duration::from_secs(5 * 60),
            // the range's largest budget: far above what one stream asks, so the benchmark
            // measures the pipeline, not the bucket
            throttle: ThrottleConfig {
                requests: 1000,
                per: Duration::from_secs(1),
            },
            ..PollingConfig::default()
        },
        schema: bench_schema(),
        kafka: KafkaConfig {
            topics,
            librdkafka: extra_librdkafka(),
            ..KafkaConfig::new(cluster.bootstrap_servers())
        },
        checkpoint: CheckpointConfig {
            store: CheckpointStoreKind::File,
            path: Some(work.path().join("state")),
            ..CheckpointConfig::default()
        },
        metrics: MetricsConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
        },
        log: LogConfig::default(),
        tls: Default::default(),
        shutdown: Default::default(),
        graph: Default::default(),
    };
    let clock = Clock::system();
    let metrics = Metrics::new(clock.clone());
    let mut options = RunOptions::new(clock);
    options.metrics = Some(metrics.clone());
    options.serve_telemetry = false;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cpu_before = cpu_seconds();
    let threads_before = cpu_by_thread();
    let started = Instant::now();
    let service = tokio::spawn(app::run(config, options, async move {
        let _ = stopped.await;
    }));
    let published = |metrics: &Arc<Metrics>| {
        metrics
            .records_published
            .with_label_values(&[&sim.tenant_id, stream.as_str()])
            .get()
    };
    let mut rss_samples = Vec::new();
    let mut last_sample = Instant::now();
    while published(&metrics) < target {
        assert!(!service.is_finished(), "the service stopped early");
        tokio::time::sleep(Duration::from_millis(50)).await;
        if last_sample.elapsed() >= Duration::from_secs(2) {
            rss_samples.push(memory_mib("VmRSS:"));
            last_sample = Instant::now();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let records = published(&metrics) as f64;
    let cpu = cpu_seconds() - cpu_before;
    let threads: Vec<String> = cpu_by_thread()
        .into_iter()
        .map(|(name, seconds)| {
            (
                name.clone(),
                seconds - threads_before.get(&name).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, seconds)| *seconds >= 0.05)
        .map(|(name, seconds)| format!("{name} {:.1}", seconds / records * 1e6))
        .collect();
    println!("    CPU-s per million by thread: {}", threads.join(", "));
    let _ = stop.send(());
    let _ = service.await;
    PipelineResult {
        records,
        seconds,
        cpu,
        peak_rss: memory_mib("VmHWM:"),
        rss_samples,
    }
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.iter().any(|argument| argument == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, in a
    // debug build: then a small smoke pass keeps the benchmark working without measuring anything
    let measuring = arguments.iter().any(|argument| argument == "--bench");
    let target: u64 = arguments
        .iter()
        .position(|argument| argument == "--records")
        .and_then(|index| arguments.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(if measuring { 300_000 } else { 2_000 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let work = tempfile::tempdir().expect("tempdir");
    if !measuring {
        println!(
            "smoke pass of the benchmark under `cargo test`: the figures below measure nothing"
        );
    }
    println!(
        "machine: {} cores; records per run: {target}",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    for stream in [
        StreamKind::SignInsNonInteractive,
        StreamKind::DirectoryAudits,
    ] {
        // enough data in 80 minutes of history for `target` records
        let per_minute = target.div_ceil(75).max(1);
        let sim = start_simulator(work.path(), stream, per_minute);
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let (pages, records, bytes, seconds, cpu) = runtime.block_on(fetch_and_split(
            &sim,
            stream,
            now.saturating_sub(Duration::from_secs(80 * 60)),
            now,
        ));
        println!(
            "{stream}: simulator served {pages} pages, {records} records, {:.1} MB in {seconds:.2}s: {:.0} pages/s, {:.0} MB/s, {:.0} records/s",
            bytes as f64 / 1e6,
            pages as f64 / seconds,
            bytes as f64 / 1e6 / seconds,
            records as f64 / seconds
        );
        println!(
            "{stream}: ceiling (fetch + split into records with serde_json RawValue, no JSON tree): {:.1} CPU-s per million records in this process, {:.0} records per CPU-second; average record {:.0} bytes",
            cpu / records as f64 * 1e6,
            records as f64 / cpu.max(1e-9),
            bytes as f64 / records as f64
        );
        let result = runtime.block_on(run_pipeline(&sim, stream, target.min(records), None));
        println!(
            "{stream}: pipeline ({}, mapped, produced, acknowledged by the in-process broker): {:.0} records in {:.1}s = {:.0} records/s; {:.1} CPU-s per million ({:.0} records per CPU-second); peak RSS {:.0} MiB",
            bench_schema().as_str(),
            result.records,
            result.seconds,
            result.records / result.seconds,
            result.cpu / result.records * 1e6,
            result.records / result.cpu.max(1e-9),
            result.peak_rss
        );
        // `--no-slow-broker` leaves the memory run out (for profiling the normal run alone)
        let slow_broker = !arguments
            .iter()
            .any(|argument| argument == "--no-slow-broker");
        if stream == StreamKind::SignInsNonInteractive && slow_broker {
            let slow = runtime.block_on(run_pipeline(
                &sim,
                stream,
                (target / 4).min(records),
                Some(Duration::from_millis(200)),
            ));
            println!(
                "{stream}: with a slow broker (200 ms per request): {:.0} records/s; resident memory sampled every 2 s (MiB): {:?}",
                slow.records / slow.seconds,
                slow.rss_samples
                    .iter()
                    .map(|mib| mib.round() as u64)
                    .collect::<Vec<_>>()
            );
        }
        drop(sim);
    }
}
