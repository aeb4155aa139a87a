//! `entrastream backfill`: one tenant's past range read once into the topics `run` writes, beside a
//! running instance, within a request budget of its own.
//!
//! ```text
//! live cursor (origin) ─┐
//! --since/--until ──────┴─► plan per stream ─► pipeline::StreamTask (bounded) ─► Kafka ─acked→ progress
//! ```
//!
//! - **Nothing twice.** The live stream reads everything from its cursor's origin on (its windows
//!   and reconciliation passes never start before it), so a backfill publishes only what lies
//!   before that origin; records read at or after it are left to the live stream. Without a live
//!   cursor it is not known where the live stream will begin (its first `run` starts at
//!   `polling.initial_lookback` before its own start), so the backfill refuses: start `run` first.
//! - **The same records.** Each stream is read by the pipeline's own stream task, bounded to the
//!   range: the same queries, retries, dedup, mapping, topics, keys and headers as `run`.
//! - **Resumable.** Progress is a cursor per stream in the configured checkpoint store (`store`),
//!   committed only after Kafka acknowledged what it covers (at_least_once, as `run` commits). A
//!   rerun whose `--since` lies within the range an earlier run covered continues where it stopped.
//! - **Its own budget.** A process of its own, it cannot share the live instance's token bucket:
//!   it keeps `--requests-per-10s` (2 by default) of Graph's 5 per 10 seconds per app and tenant,
//!   and a 429 pauses it for `Retry-After` as it pauses `run`.

mod progress;
mod range;
mod store;

use std::future::Future;
use std::io::IsTerminal;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use progress::{Counts, Display, StreamPlan, StreamSummary, Summary, counts};
pub use range::{Licence, check_range, parse_time, retention};
pub use store::ProgressStore;

use crate::auth::{Credential, TokenProvider};
use crate::clock::{Clock, Timestamp};
use crate::config::{Config, ConfigError, Delivery, TenantConfig, ThrottleConfig};
use crate::graph::budget::RequestBudget;
use crate::graph::client::http_client;
use crate::graph::cursor::Cursor;
use crate::kafka::Publisher;
use crate::pipeline::{Bounds, Shared, StreamTask, TenantRuntime};
use crate::retry::Backoff;
use crate::stream::StreamKind;
use crate::telemetry::metrics::Metrics;
use progress::Progress;

/// Graph's documented budget for audit logs: requests per 10 seconds per application and tenant.
pub const GRAPH_REQUESTS_PER_10S: u32 = 5;

/// `entrastream backfill`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Graph allows 5 requests per 10 seconds per application and tenant, and the \
    running instance (`entrastream run`) uses the same allowance: the backfill keeps a budget of its own, \
    --requests-per-10s (2 by default), so that the live streams keep theirs. A 429 pauses it for Graph's \
    Retry-After.\n\nOnly what the live stream does not publish is published: records before the live \
    cursor's origin. Start `entrastream run` first: without a live cursor the backfill refuses.\n\nProgress \
    is kept in the checkpoint store (checkpoint.path/backfill/, or the checkpoint topic under \
    {kafka.instance_id}.backfill) once Kafka acknowledged it: after a stop (Ctrl-C, SIGTERM, a crash) \
    the same command continues where it stopped."
)]
pub struct BackfillArgs {
    /// The configuration of the live instance (tenants, Kafka, schema, checkpoint.path).
    #[arg(long, short)]
    pub config: PathBuf,
    /// The tenant to backfill, as configured (`tenants[].id`).
    #[arg(long)]
    pub tenant: String,
    /// The streams to backfill (repeat the flag); the tenant's configured streams when absent.
    #[arg(long, value_enum)]
    pub stream: Vec<StreamKind>,
    /// Start of the range: an RFC 3339 time in UTC (2026-01-05T12:00:00Z) or a duration before
    /// now (7d, 36h). Graph keeps 30 days (7 on Entra ID Free).
    #[arg(long)]
    pub since: String,
    /// End of the range, as --since (or `now`); the live stream's origin when absent or later.
    #[arg(long)]
    pub until: Option<String>,
    /// The backfill's own request budget for the tenant, shared by its streams; Graph's limit (5
    /// per 10 s per application and tenant) is shared with the running instance.
    #[arg(long = "requests-per-10s", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=GRAPH_REQUESTS_PER_10S as i64))]
    pub requests_per_10s: u32,
    /// The tenant's licence, which sets Graph's retention.
    #[arg(long, value_enum, default_value_t = Licence::Premium)]
    pub licence: Licence,
    /// Forget an earlier backfill's progress and read from --since again (what it published is
    /// published again; consumers deduplicate by the record key).
    #[arg(long)]
    pub restart: bool,
    /// Seconds between progress lines when stderr is not a terminal.
    #[arg(long, default_value_t = 10)]
    pub progress_every: u64,
    /// Log lines on stderr at this level (`warn`, `info`, `entrastream=debug`).
    #[arg(long, default_value = "warn")]
    pub log_level: String,
}

/// What the caller (CLI, tests) controls.
pub struct BackfillOptions {
    pub clock: Clock,
    pub backoff: Backoff,
    pub metrics: Option<Arc<Metrics>>,
    pub display: Arc<Display>,
    /// Clock time between progress updates.
    pub progress_every: Duration,
}

/// The backfill's arguments, read.
#[derive(Clone, Debug)]
pub struct Request {
    pub tenant: String,
    pub streams: Vec<StreamKind>,
    pub since: String,
    pub until: Option<String>,
    pub requests_per_10s: u32,
    pub licence: Licence,
    pub restart: bool,
}

impl From<&BackfillArgs> for Request {
    fn from(args: &BackfillArgs) -> Self {
        Request {
            tenant: args.tenant.clone(),
            streams: args.stream.clone(),
            since: args.since.clone(),
            until: args.until.clone(),
            requests_per_10s: args.requests_per_10s,
            licence: args.licence,
            restart: args.restart,
        }
    }
}

/// The CLI: loads the configuration, shows progress on stderr, the summary on stdout.
pub async fn command(args: BackfillArgs) -> anyhow::Result<()> {
    let shutdown = crate::shutdown::on_signal();
    let config = Config::load(&args.config)?;
    let terminal = std::io::stderr().is_terminal();
    let display = Arc::new(if terminal {
        Display::bar()
    } else {
        Display::lines(Box::new(std::io::stderr()))
    });
    match &*display {
        Display::Bar(bar) => crate::telemetry::logging::init_with_writer(
            config.log.format,
            &args.log_level,
            BarWriter(bar.clone()),
        ),
        Display::Lines(_) => crate::telemetry::logging::init(config.log.format, &args.log_level),
    }
    .map_err(anyhow::Error::msg)?;
    let options = BackfillOptions {
        clock: Clock::system(),
        backoff: Backoff::default(),
        metrics: None,
        display,
        progress_every: if terminal {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(args.progress_every.max(1))
        },
    };
    let summary = run(config, &Request::from(&args), options, shutdown)
        .await
        .map_err(anyhow::Error::msg)?;
    print!("{summary}");
    match &summary.failure {
        Some(failure) => anyhow::bail!("{failure}"),
        None if summary.stopped => anyhow::bail!(
            "the backfill was stopped before its end; run the same command again to continue"
        ),
        None => Ok(()),
    }
}

/// Log lines while a bar is drawn: the bar steps aside for each.
#[derive(Clone)]
struct BarWriter(indicatif::ProgressBar);

/// One log line, written once complete.
struct BarLine {
    bar: indicatif::ProgressBar,
    line: Vec<u8>,
}

impl std::io::Write for BarLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BarLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.bar.suspend(|| {
            let _ = std::io::stderr().write_all(&line);
        });
    }
}

impl<'writer> tracing_subscriber::fmt::MakeWriter<'writer> for BarWriter {
    type Writer = BarLine;

    fn make_writer(&'writer self) -> Self::Writer {
        BarLine {
            bar: self.0.clone(),
            line: Vec::new(),
        }
    }
}

/// The tenant, by its configured id; an error listing the configured ones.
fn find_tenant<'config>(
    config: &'config Config,
    tenant: &str,
) -> Result<(usize, &'config TenantConfig), String> {
    config
        .tenants
        .iter()
        .enumerate()
        .find(|(_, configured)| configured.id.eq_ignore_ascii_case(tenant))
        .ok_or_else(|| {
            let known: Vec<&str> = config.tenants.iter().map(|each| each.id.as_str()).collect();
            format!(
                "tenant `{tenant}` is not in the configuration; fix: --tenant one of {}",
                known.join(", ")
            )
        })
}

/// Plans the backfill, refusing what cannot be done as asked, then reads every stream's range.
/// Returns the summary (also when stopped or failed midway); an error when nothing was started.
pub async fn run(
    config: Config,
    request: &Request,
    options: BackfillOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, String> {
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(ConfigError {
            source_name: "given to the backfill".to_owned(),
            problems,
        }
        .to_string());
    }
    let clock = options.clock.clone();
    // held from here to the end: a manual clock (tests) stands still while the backfill reads its
    // stores and the live cursors before its tasks start, and while it ends
    let held = clock.participant();
    let now = clock.now();
    let (tenant_index, tenant) = find_tenant(&config, &request.tenant)?;
    let tenant_id = tenant.tenant_id()?;
    let configured = tenant.streams();
    let streams = if request.streams.is_empty() {
        configured.clone()
    } else {
        request.streams.clone()
    };
    let since = parse_time("--since", &request.since, now)?.floor_to_second();
    let until = match &request.until {
        Some(text) => parse_time("--until", text, now)?,
        None => now,
    };
    for &stream in &streams {
        if !configured.contains(&stream) {
            let names: Vec<&str> = configured.iter().map(|each| each.as_str()).collect();
            return Err(format!(
                "stream {stream} is not one of tenant {}'s streams ({}): the live instance does not read it, so \
                 there is no live cursor to backfill up to; fix: add it to the tenant's streams and start \
                 `entrastream run`, or backfill one of those",
                tenant.id,
                names.join(", ")
            ));
        }
        check_range(stream, request.licence, since, until, now)?;
    }

    // a process of its own, beside the live instance: at_least_once with its own producer (a
    // transactional one would fence the live instance's) and its own instance id
    let mut kafka = config.kafka.clone();
    kafka.delivery = Delivery::AtLeastOnce;
    kafka.instance_id = store::backfill_instance_id(&config.kafka.instance_id);
    let metrics = options
        .metrics
        .clone()
        .unwrap_or_else(|| Metrics::new(clock.clone()));
    let publisher = Arc::new(
        Publisher::new(&kafka, metrics.kafka_records_in_flight.clone())
            .map_err(|error| error.to_string())?,
    );
    let (progress_store, live_cursors) = store::open(&config, publisher.clone()).await?;
    let progress_store = Arc::new(progress_store);
    let mut plans = Vec::new();
    for &stream in &streams {
        let Some(live) = live_cursors.load(&tenant_id, stream)? else {
            return Err(format!(
                "tenant {} stream {stream} has no live cursor in {}: the live stream has not started, so it is \
                 not known where it will begin (its first `run` starts polling.initial_lookback before its \
                 start, {} now), and a backfill up to a guess would duplicate or miss records; fix: start \
                 `entrastream run` first (it records its origin at once), then backfill what lies before it",
                tenant.id,
                live_cursors.describe(),
                humantime::format_duration(config.polling.initial_lookback)
            ));
        };
        let to = until.min(live.origin);
        let until_beyond_live = request
            .until
            .as_ref()
            .and(Some(until))
            .filter(|until| *until > live.origin);
        let resume_from = if since >= to {
            (since, since)
        } else {
            plan_progress(
                &progress_store,
                &tenant_id,
                stream,
                since,
                request.restart,
                now,
            )
            .await?
        };
        plans.push(StreamPlan {
            stream,
            since: resume_from.0,
            resume_from: resume_from.1,
            to,
            until_beyond_live,
            live_origin: live.origin,
        });
    }
    let display = options.display.clone();
    for plan in &plans {
        display.say(&describe_plan(&tenant.id, plan, &progress_store));
    }

    let credential = Credential::resolve(tenant, &format!("tenants[{tenant_index}]"))?;
    let http = http_client(config.polling.request_timeout, &config.tls)?;
    let tokens = TokenProvider::for_tenant(
        tenant_id.clone(),
        tenant,
        credential,
        http.clone(),
        clock.clone(),
    )
    .limited_by(&config.polling);
    let runtime = Arc::new(TenantRuntime {
        tenant_id: tenant_id.clone(),
        api_version: tenant.api_version,
        endpoints: tokens.endpoints().clone(),
        tokens,
        budget: RequestBudget::alone(
            ThrottleConfig {
                requests: request.requests_per_10s,
                per: Duration::from_secs(10),
            },
            clock.clone(),
        ),
    });
    let mut polling = config.polling.clone();
    // a past range is read by density (polling.max_window_pages per window), not in the live
    // streams' hour-long steps: a quiet day is one request, not 24
    polling.max_window = Duration::from_secs(24 * 3600);
    let shared = Arc::new(Shared {
        publisher: publisher.clone(),
        store: progress_store.clone(),
        http,
        clock: clock.clone(),
        health: metrics.health().clone(),
        polling,
        schema: config.schema,
        topics: config.kafka.topics.clone(),
        backoff: options.backoff,
        instance_id: kafka.instance_id.clone(),
        checkpoint_interval: config.checkpoint.interval,
        max_record_bytes: config.kafka.max_record_bytes as usize,
        pages_in_memory: Arc::new(tokio::sync::Semaphore::new(
            config.polling.max_pages_in_memory as usize,
        )),
    });
    let (stop_sender, stop_receiver) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut left_to_live = Vec::new();
    for plan in plans.iter().filter(|plan| plan.resume_from < plan.to) {
        let counter = Arc::new(AtomicU64::new(0));
        left_to_live.push((plan.stream, counter.clone()));
        let task = StreamTask::new(
            runtime.clone(),
            plan.stream,
            shared.clone(),
            metrics.stream(&tenant.id, plan.stream),
            stop_receiver.clone(),
        )
        .bounded(Bounds {
            from: plan.since,
            to: plan.to,
            live_from: plan.live_origin,
            left_to_live: counter,
        });
        let participant = clock.participant();
        let stream = plan.stream;
        tasks.spawn(async move { (stream, task.run(participant).await) });
    }

    let progress = Progress {
        tenant: tenant.id.clone(),
        plans: plans.clone(),
        metrics: metrics.clone(),
        store: progress_store.clone(),
        budget: request.requests_per_10s,
        started: now,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stopped = false;
    let mut failure = None;
    let mut next_tick = now.saturating_add(options.progress_every);
    // two backfills of one instance would both write its progress: the later one's lease stops
    // the earlier one
    let lease_watch = {
        let kafka_store = progress_store.kafka.clone();
        let stop = stop_receiver.clone();
        async move {
            match kafka_store {
                Some(store) => store.watch_lease(stop).await,
                None => std::future::pending().await,
            }
        }
    };
    tokio::pin!(lease_watch);
    let mut lease_watched = true;
    loop {
        tokio::select! {
            biased;
            take_over = &mut lease_watch, if lease_watched => {
                lease_watched = false;
                if let Some(take_over) = take_over {
                    failure.get_or_insert_with(|| format!(
                        "another backfill with kafka.instance_id {} (host {}, started {}) took over; this one \
                         stopped so that one writes the progress: run one backfill per instance at a time",
                        take_over.instance_id, take_over.host, take_over.claimed_at
                    ));
                    let _ = stop_sender.send(true);
                }
            }
            finished = tasks.join_next() => match finished {
                None => break,
                Some(Ok((_, Ok(())))) => {}
                Some(Ok((stream, Err(error)))) => {
                    tracing::error!(tenant = tenant.id.as_str(), stream = stream.as_str(), %error, "backfill failed");
                    failure.get_or_insert_with(|| error.to_string());
                    let _ = stop_sender.send(true);
                }
                Some(Err(join_error)) => {
                    failure.get_or_insert_with(|| format!("a backfill task crashed: {join_error}"));
                    let _ = stop_sender.send(true);
                }
            },
            () = &mut shutdown, if !stopped => {
                stopped = true;
                display.say("stopping: what Kafka acknowledged is committed, the rest is read again by the next run");
                let _ = stop_sender.send(true);
            }
            () = clock.sleep_until(next_tick) => {
                display.tick(&progress, clock.now());
                next_tick = clock.now().saturating_add(options.progress_every);
            }
        }
    }
    // ends the lease watch
    let _ = stop_sender.send(true);
    let elapsed = clock.now().duration_since(now);
    let flushing = publisher.clone();
    let flush_time = config.shutdown.timeout;
    let flushed = tokio::task::spawn_blocking(move || flushing.flush(flush_time)).await;
    if let Some(kafka_store) = &progress_store.kafka
        && matches!(flushed, Ok(Ok(())))
    {
        // every stream committed what Kafka acknowledged: the next backfill need not wait
        kafka_store.release().await;
    }
    display.tick(&progress, now.saturating_add(elapsed));
    display.finish();

    let streams = plans
        .iter()
        .map(|plan| StreamSummary {
            plan: plan.clone(),
            counts: counts(&metrics, &tenant.id, plan.stream),
            left_to_live: left_to_live
                .iter()
                .find(|(stream, _)| *stream == plan.stream)
                .map_or(0, |(_, counter)| counter.load(Ordering::Relaxed)),
            reached: progress_store
                .committed(plan.stream)
                .unwrap_or(plan.resume_from)
                .min(plan.to),
        })
        .collect::<Vec<_>>();
    let unfinished = streams.iter().any(|each| each.reached < each.plan.to);
    drop(held);
    Ok(Summary {
        tenant: tenant.id.clone(),
        streams,
        elapsed,
        stopped: stopped || (unfinished && failure.is_none()),
        failure,
    })
}

/// Where the stream's backfill starts `(since, resume from)`: a rerun whose `--since` lies within
/// what an earlier run covered continues where that one got; any other start is a new backfill
/// (one before an earlier backfill's start is refused without `--restart`: it would publish that
/// range again).
async fn plan_progress(
    store: &ProgressStore,
    tenant: &crate::config::TenantId,
    stream: StreamKind,
    since: Timestamp,
    restart: bool,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), String> {
    use crate::checkpoint::CheckpointStore;
    let earlier = store
        .load(tenant, stream)
        .map_err(|error| format!("backfill progress of stream {stream}: {error}"))?;
    match earlier {
        // a --since within the earlier run's range, or after where it got to (a relative one
        // moves on with the clock: `--since 7h` again continues the same range): that run
        // continues, its ids published after its watermark still deduplicated
        Some(earlier) if !restart && earlier.origin <= since => {
            Ok((earlier.origin, earlier.watermark))
        }
        Some(earlier) if !restart && since < earlier.origin => Err(format!(
            "stream {stream}: an earlier backfill published {}..{} (progress in the {}), and --since {} starts \
             before it, so that range would be published again; fix: --since {} continues it, or --restart \
             reads from --since again (consumers deduplicate the repeats by the record key)",
            earlier.origin.to_rfc3339_seconds(),
            earlier.watermark.to_rfc3339_seconds(),
            store.describe(),
            since.to_rfc3339_seconds(),
            earlier.origin.to_rfc3339_seconds()
        )),
        None => Ok((since, since)),
        Some(_) => {
            store
                .replace(tenant, stream, &Cursor::start(since, now))
                .await
                .map_err(|error| error.to_string())?;
            Ok((since, since))
        }
    }
}

fn describe_plan(tenant: &str, plan: &StreamPlan, store: &ProgressStore) -> String {
    use crate::checkpoint::CheckpointStore;
    let range = format!(
        "{}..{}",
        plan.since.to_rfc3339_seconds(),
        plan.to.to_rfc3339_seconds()
    );
    let live = format!(
        "the live stream publishes from {} on (its origin)",
        plan.live_origin.to_rfc3339_seconds()
    );
    if plan.since >= plan.to {
        format!(
            "backfill {tenant} {}: nothing to read before the live stream; {live}",
            plan.stream
        )
    } else if plan.resume_from >= plan.to {
        format!(
            "backfill {tenant} {}: {range} already published by an earlier run (progress in the {})",
            plan.stream,
            store.describe()
        )
    } else if plan.resume_from > plan.since {
        format!(
            "backfill {tenant} {}: {range}, continuing where an earlier run stopped, at {}; {live}",
            plan.stream,
            plan.resume_from.to_rfc3339_seconds()
        )
    } else {
        format!("backfill {tenant} {}: {range}; {live}", plan.stream)
    }
}
