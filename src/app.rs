//! The service: wires config into tenants, streams, the producer, the checkpoint store and the
//! telemetry server, runs until the shutdown future resolves or a stream fails fatally, then stops
//! gracefully (windows stop between pages, deliveries finish, what was delivered is committed).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::auth::{Credential, TokenProvider};
use crate::checkpoint::{CheckpointStore, FileStore, KafkaStore, StateLock, TakeOver};
use crate::clock::Clock;
use crate::config::{CheckpointStoreKind, Config};
use crate::graph::budget::Budgets;
use crate::graph::client::http_client;
use crate::kafka::{KafkaError, KafkaProblem, Publisher};
use crate::pipeline::{PipelineError, Shared, StreamTask, TenantRuntime};
use crate::retry::Backoff;
use crate::telemetry::health::{Health, KafkaState, KafkaStatus};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::server;

/// What the caller (CLI, demo, tests) controls.
pub struct RunOptions {
    pub clock: Clock,
    /// Replaces the configured checkpoint store.
    pub checkpoint_store: Option<Arc<dyn CheckpointStore>>,
    /// The metrics registry to fill; a new one when absent.
    pub metrics: Option<Arc<Metrics>>,
    /// Serve `/metrics`, `/healthz` and `/readyz` on `metrics.listen`.
    pub serve_telemetry: bool,
    /// Receives the address the telemetry server bound.
    pub telemetry_bound: Option<oneshot::Sender<SocketAddr>>,
    /// Serve telemetry on this listener instead of binding `metrics.listen` (the demo binds its
    /// own first, to name its `--metrics-listen` flag when the address is taken).
    pub telemetry_listener: Option<tokio::net::TcpListener>,
    /// Overrides the backoff rule (tests use short ones).
    pub backoff: Backoff,
}

impl RunOptions {
    pub fn new(clock: Clock) -> Self {
        RunOptions {
            clock,
            checkpoint_store: None,
            metrics: None,
            serve_telemetry: true,
            telemetry_bound: None,
            telemetry_listener: None,
            backoff: Backoff::default(),
        }
    }
}

#[derive(Debug)]
pub enum AppError {
    /// Secrets, addresses and other start-up problems a user must fix.
    Setup(String),
    Kafka(KafkaError),
    Pipeline(PipelineError),
    /// A newer instance with the same `kafka.instance_id` took over.
    TakenOver(TakeOver),
    /// The stop did not finish within `shutdown.timeout`, or Kafka could not acknowledge: the
    /// records still unacknowledged are read again at the next start.
    StopIncomplete {
        streams: usize,
        unacknowledged: u64,
    },
}

impl fmt::Display for AppError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Setup(detail) => formatter.write_str(detail),
            AppError::Kafka(error) => write!(formatter, "{error}"),
            AppError::Pipeline(error) => write!(formatter, "{error}"),
            AppError::TakenOver(take_over) => write!(formatter, "{take_over}"),
            AppError::StopIncomplete {
                streams,
                unacknowledged,
            } => write!(
                formatter,
                "the stop was cut short ({streams} streams still waiting, {unacknowledged} records not \
                 acknowledged by Kafka): they were not committed and are read again at the next start; \
                 nothing is lost"
            ),
        }
    }
}

impl std::error::Error for AppError {}

/// Reads every tenant's secret; all problems are reported at once.
/// Reads every tenant's credential (secrets, certificate keys; the federated token file is read at
/// every token request). All problems at once, each naming its key.
pub fn resolve_credentials(config: &Config) -> Result<Vec<Credential>, AppError> {
    let mut credentials = Vec::new();
    let mut problems = Vec::new();
    for (index, tenant) in config.tenants.iter().enumerate() {
        match Credential::resolve(tenant, &format!("tenants[{index}]")) {
            Ok(credential) => credentials.push(credential),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(credentials)
    } else {
        Err(AppError::Setup(problems.join("\n")))
    }
}

fn stopped_during_start_up() -> Result<(), AppError> {
    tracing::info!("shutdown requested during start-up: nothing was started, nothing to commit");
    Ok(())
}

/// Runs the service until `shutdown` resolves or a stream fails fatally.
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    // a SIGTERM during start-up (a long checkpoint load, a lease handover) ends the start cleanly
    let mut shutdown = std::pin::pin!(shutdown);
    // the validation of `run --validate-only`, for a file and for a configuration built in code
    // (tests, the demo): no value out of range reaches the arithmetic below, every secret is
    // read, librdkafka has judged the Kafka settings
    let validated = crate::validate::validate(
        &config,
        "given to the service",
        crate::validate::Secrets::Read,
    )
    .map_err(|error| AppError::Setup(error.to_string()))?;
    let summary = &validated.summary;
    tracing::info!(
        tenants = summary.tenants,
        streams = summary.streams,
        delivery = summary.delivery.as_str(),
        checkpoints = summary.store.as_str(),
        "configuration valid"
    );
    let clock = options.clock.clone();
    let credentials = validated.credentials;
    let metrics = options
        .metrics
        .clone()
        .unwrap_or_else(|| Metrics::new(clock.clone()));
    let health = metrics.health().clone();
    let publisher = Arc::new(
        Publisher::new(&config.kafka, metrics.kafka_records_in_flight.clone())
            .map_err(AppError::Kafka)?,
    );
    if publisher.is_transactional() {
        // fences an earlier instance with the same transactional.id before any checkpoint is read
        let initialising = publisher.clone();
        let initialised = tokio::select! {
            biased;
            () = &mut shutdown => return stopped_during_start_up(),
            initialised = tokio::task::spawn_blocking(move || initialising.init_transactions()) => initialised,
        };
        match initialised {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(store_unusable(&publisher, &error.to_string()).await),
            Err(error) => {
                return Err(AppError::Setup(format!(
                    "initialising Kafka transactions failed: {error}"
                )));
            }
        }
    }
    let mut kafka_store: Option<Arc<KafkaStore>> = None;
    // the file store's lock, held until the run returns
    let mut _checkpoint_lock: Option<StateLock> = None;
    let store: Arc<dyn CheckpointStore> = match options.checkpoint_store.clone() {
        Some(store) => store,
        None => match config.checkpoint.store {
            CheckpointStoreKind::Kafka => {
                let opening =
                    KafkaStore::open(&config.kafka, &config.checkpoint, publisher.clone());
                let opened = tokio::select! {
                    biased;
                    () = &mut shutdown => return stopped_during_start_up(),
                    opened = opening => opened,
                };
                let opened = match opened {
                    Ok(opened) => opened,
                    Err(error) => return Err(store_unusable(&publisher, &error.to_string()).await),
                };
                let opened = Arc::new(opened);
                kafka_store = Some(opened.clone());
                opened
            }
            CheckpointStoreKind::File => {
                let directory = config
                    .checkpoint
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("./state"));
                std::fs::create_dir_all(&directory).map_err(|error| {
                    AppError::Setup(format!(
                        "cannot create the checkpoint directory {} ({error}); set checkpoint.path to a writable directory",
                        directory.display()
                    ))
                })?;
                _checkpoint_lock = Some(
                    StateLock::acquire(&directory, "entrastream run")
                        .map_err(|error| AppError::Setup(error.to_string()))?,
                );
                Arc::new(FileStore::new(directory))
            }
        },
    };
    let http = http_client(config.polling.request_timeout, &config.tls).map_err(AppError::Setup)?;
    let shared = Arc::new(Shared {
        publisher: publisher.clone(),
        store,
        http: http.clone(),
        clock: clock.clone(),
        health: health.clone(),
        polling: config.polling.clone(),
        schema: config.schema,
        topics: config.kafka.topics.clone(),
        backoff: options.backoff,
        instance_id: config.kafka.instance_id.clone(),
        checkpoint_interval: config.checkpoint.interval,
        max_record_bytes: config.kafka.max_record_bytes as usize,
        pages_in_memory: Arc::new(tokio::sync::Semaphore::new(
            config.polling.max_pages_in_memory as usize,
        )),
    });
    let (stop_sender, stop_receiver) = watch::channel(false);

    let mut background = JoinSet::new();
    if options.serve_telemetry {
        let (listener, address) = match options.telemetry_listener {
            Some(listener) => {
                let address = listener.local_addr().map_err(|error| {
                    AppError::Setup(format!("cannot read the metrics address: {error}"))
                })?;
                (listener, address)
            }
            None => server::bind(config.metrics.listen)
                .await
                .map_err(AppError::Setup)?,
        };
        tracing::info!(address = %address, "serving /metrics, /healthz and /readyz");
        if let Some(bound) = options.telemetry_bound {
            let _ = bound.send(address);
        }
        background.spawn(server::serve(
            listener,
            metrics.clone(),
            health.clone(),
            stop_receiver.clone(),
        ));
    }
    background.spawn(probe_kafka(
        publisher.clone(),
        health.clone(),
        config.kafka.health_interval,
        stop_receiver.clone(),
    ));

    let mut streams = JoinSet::new();
    let mut stream_count = 0;
    let mut spawned: BTreeSet<(String, crate::stream::StreamKind)> = BTreeSet::new();
    // one budget per application (client id and login authority), shared by its tenants
    let mut budgets = Budgets::new(
        config.graph.app_budget,
        config.polling.throttle,
        clock.clone(),
    );
    for (tenant, credential) in config.tenants.iter().zip(credentials) {
        // validated above; parsed again to hold the type paths and URLs are built from
        let tenant_id = tenant.tenant_id().map_err(AppError::Setup)?;
        let tokens = TokenProvider::for_tenant(
            tenant_id.clone(),
            tenant,
            credential,
            http.clone(),
            clock.clone(),
        )
        .limited_by(&config.polling);
        let budget = budgets.tenant(
            &tenant.client_id,
            &tokens.endpoints().login_base,
            tenant_id.as_str(),
        );
        let runtime = Arc::new(TenantRuntime {
            tenant_id,
            api_version: tenant.api_version,
            endpoints: tokens.endpoints().clone(),
            tokens,
            budget,
        });
        health.register_tenant(&tenant.id);
        for stream in tenant.streams() {
            let stream_metrics = metrics.stream(&tenant.id, stream);
            let task = StreamTask::new(
                runtime.clone(),
                stream,
                shared.clone(),
                stream_metrics,
                stop_receiver.clone(),
            );
            // registered before the task runs, so that a manual clock never advances past its start
            let participant = clock.participant();
            let label = (tenant.id.clone(), stream);
            spawned.insert(label.clone());
            streams.spawn(async move { (label, task.run(participant).await) });
            stream_count += 1;
        }
    }
    tracing::info!(
        tenants = config.tenants.len(),
        streams = stream_count,
        schema = config.schema.as_str(),
        kafka = config.kafka.bootstrap_servers.as_str(),
        "entrastream started"
    );

    let mut failure: Option<AppError> = None;
    let lease_watch = {
        let kafka_store = kafka_store.clone();
        let stop = stop_receiver.clone();
        async move {
            match kafka_store {
                Some(store) => store.watch_lease(stop).await,
                None => std::future::pending().await,
            }
        }
    };
    tokio::pin!(lease_watch);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            take_over = &mut lease_watch => {
                if let Some(take_over) = take_over {
                    tracing::error!(
                        host = take_over.host.as_str(),
                        claimed_at = take_over.claimed_at.as_str(),
                        "a newer instance with the same kafka.instance_id took over; stopping"
                    );
                    failure = Some(AppError::TakenOver(take_over));
                    break;
                }
            }
            finished = streams.join_next() => match finished {
                None => break,
                Some(Ok((_, Ok(())))) => {}
                Some(Ok(((tenant, stream), Err(error)))) => {
                    tracing::error!(tenant = tenant.as_str(), stream = stream.as_str(), %error, "stream failed, stopping");
                    failure = Some(AppError::Pipeline(error));
                    break;
                }
                Some(Err(join_error)) => {
                    failure = Some(AppError::Setup(format!("a stream task crashed: {join_error}")));
                    break;
                }
            },
        }
    }

    let _ = stop_sender.send(true);
    // a stop takes at most shutdown.timeout, and no longer than it takes to see that Kafka cannot
    // acknowledge anything (down, or refusing the connection): what was not committed is read
    // again at the next start, nothing is lost
    let stop_deadline = tokio::time::Instant::now() + config.shutdown.timeout;
    let mut outcomes = BTreeMap::new();
    let drain = async {
        while let Some(finished) = streams.join_next().await {
            if let Ok(((tenant, stream), result)) = finished {
                outcomes.insert((tenant, stream), result.is_ok());
                if let Err(error) = result
                    && failure.is_none()
                {
                    failure = Some(AppError::Pipeline(error));
                }
            }
        }
    };
    let drained = tokio::select! {
        drained = tokio::time::timeout_at(stop_deadline, drain) => drained.is_ok(),
        () = kafka_cannot_acknowledge(&health) => false,
    };
    let mut unacknowledged = 0;
    if !drained {
        let stuck: Vec<String> = spawned
            .iter()
            .filter(|label| !outcomes.contains_key(*label))
            .map(|(tenant, stream)| format!("{tenant}/{stream}"))
            .collect();
        // waits for the aborted tasks to be dropped: none of them outlives the run, so a start
        // that follows in the same process never meets the previous run's streams
        streams.shutdown().await;
        unacknowledged = publisher.in_flight();
        tracing::warn!(
            streams = stuck.join(", "),
            records_unacknowledged = unacknowledged,
            kafka = health.kafka_state().as_str(),
            timeout = %humantime::format_duration(config.shutdown.timeout),
            "streams did not stop within shutdown.timeout or kafka cannot acknowledge: their uncommitted \
             records are read again at the next start"
        );
        if failure.is_none() {
            failure = Some(AppError::StopIncomplete {
                streams: stuck.len(),
                unacknowledged,
            });
        }
    }
    let flush_time = if health.kafka_state() == KafkaState::Reachable {
        stop_deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(1))
    } else {
        Duration::ZERO
    };
    let flushed = {
        let publisher = publisher.clone();
        tokio::task::spawn_blocking(move || publisher.flush(flush_time)).await
    };
    if !matches!(flushed, Ok(Ok(()))) && unacknowledged == 0 {
        tracing::warn!(
            records_unacknowledged = publisher.in_flight(),
            "some records were still in flight at exit; their windows were not committed"
        );
    }
    if let Some(store) = &kafka_store
        && drained
    {
        // every stream committed what it delivered: a successor need not wait
        store.release().await;
    }
    background.shutdown().await;
    tracing::info!(streams = outcomes.len(), "entrastream stopped");
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The checkpoint store could not be opened, or transactions initialised: when the brokers refuse
/// the connection (login, certificate), that is the cause to name, not the time-out it led to.
async fn store_unusable(publisher: &Arc<Publisher>, error: &str) -> AppError {
    let probing = publisher.clone();
    let probe = tokio::task::spawn_blocking(move || probing.probe(Duration::from_secs(2))).await;
    match probe {
        Ok(Err(problem)) if problem.state.is_refusal() => {
            log_kafka_problem(publisher, &problem);
            AppError::Setup(format!("{error}. {}", problem.status().summary))
        }
        _ => AppError::Setup(error.to_owned()),
    }
}

/// Resolves once Kafka is known to be unable to acknowledge anything: no broker answers, or they
/// refuse the connection (login, certificate), or the producer failed.
async fn kafka_cannot_acknowledge(health: &Health) {
    let mut states = health.kafka_states();
    let _ = states
        .wait_for(|state| !matches!(state, KafkaState::Reachable | KafkaState::Unknown))
        .await;
}

/// Asks Kafka for its metadata twice per `kafka.health_interval`, each answer awaited half an
/// interval: a broker that stops answering or refuses the connection turns `/readyz` not-ready
/// within one interval. Each change of state is one log line, naming the cause and the fix.
async fn probe_kafka(
    publisher: Arc<Publisher>,
    health: Arc<Health>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let half_interval = interval / 2;
    let mut previous = KafkaState::Unknown;
    loop {
        let probe = {
            let publisher = publisher.clone();
            tokio::task::spawn_blocking(move || publisher.probe(half_interval)).await
        };
        let status = match probe {
            Ok(Ok(brokers)) => {
                if previous != KafkaState::Reachable && previous != KafkaState::Unknown {
                    tracing::info!(
                        kafka = publisher.bootstrap_servers(),
                        brokers,
                        previous = previous.as_str(),
                        "kafka reachable again"
                    );
                }
                KafkaStatus::reachable()
            }
            Ok(Err(problem)) => {
                if problem.state != previous {
                    log_kafka_problem(&publisher, &problem);
                }
                problem.status()
            }
            // the probe task panicked: say so, and probe again
            Err(error) => KafkaStatus {
                state: KafkaState::Unreachable,
                summary: format!("kafka: the health probe failed: {error}"),
            },
        };
        previous = status.state;
        health.kafka_probe(status);
        if let Some(fatal) = publisher.fatal_error() {
            health.kafka_fatal(fatal);
        }
        tokio::select! {
            _ = tokio::time::sleep(half_interval) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

fn log_kafka_problem(publisher: &Publisher, problem: &KafkaProblem) {
    if problem.state.is_refusal() {
        tracing::error!(
            kafka = publisher.bootstrap_servers(),
            state = problem.state.as_str(),
            cause = problem.what.as_str(),
            fix = problem.fix.as_str(),
            detail = problem.detail.as_str(),
            "kafka refuses the connection: streams pause (nothing is lost) and /readyz answers 503 until it is fixed"
        );
    } else {
        tracing::warn!(
            kafka = publisher.bootstrap_servers(),
            state = problem.state.as_str(),
            cause = problem.what.as_str(),
            fix = problem.fix.as_str(),
            detail = problem.detail.as_str(),
            "kafka unreachable: streams pause (nothing is lost) and /readyz answers 503 until it is back"
        );
    }
}
