//! `entrastream checkpoints list|show|rewind|reset`: see, move back or remove the cursors of
//! the configured checkpoint store (`checkpoint.store: file|kafka`).
//!
//! `list` and `show` only read (beside a running instance too). `rewind` and `reset` write, so
//! they refuse while an instance holds the store: the file store's lock (`StateLock`, held by
//! `run` for its lifetime) or the kafka store's lease (`kafka.instance_id`). They say first what
//! will be read again and ask for `--yes` (or an answer at a terminal); without it nothing changes
//! and the exit code is 1.

mod render;

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::checkpoint::rewind::{refusal, rewound};
use crate::checkpoint::{
    CheckpointError, CheckpointStore, CursorCommit, FileStore, KafkaSnapshot, KafkaStore, StateLock,
};
use crate::clock::{Clock, Timestamp};
use crate::config::{CheckpointStoreKind, Config, Delivery, LogFormat, TenantId};
use crate::graph::cursor::{Cursor, CursorSettings};
use crate::kafka::Publisher;
use crate::stream::StreamKind;
use crate::text::counted;

#[derive(Args, Debug)]
pub struct CheckpointsArgs {
    #[command(subcommand)]
    pub command: CheckpointsCommand,
}

#[derive(Subcommand, Debug)]
pub enum CheckpointsCommand {
    /// Every tenant and stream with its cursor's summary.
    ///
    /// The configured streams (watermark, origin, last commit, records per hour, reconciliation
    /// under way, seen ids), those without a checkpoint, and checkpoints of streams no longer
    /// configured. Reads only: safe beside a running instance.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// `table` for people, `json` (one document, see docs/runbook.md) for automation.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// One stream's whole cursor.
    ///
    /// Reads only: safe beside a running instance.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant, as `tenants[].id` names it.
        #[arg(long)]
        tenant: String,
        /// The stream.
        #[arg(long, value_enum)]
        stream: StreamKind,
        /// `table` for people, `json` (one document, see docs/runbook.md) for automation.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Move streams back so that everything from --to on is read and published again.
    ///
    /// Says first which streams repeat which range; the records keep their keys, so consumers
    /// that deduplicate by key keep one copy. Refused while an instance runs on the store (the
    /// file store's lock, the kafka store's lease), for a time in the future or not before the
    /// watermark, and beyond Graph's 30-day retention.
    Rewind {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant, as `tenants[].id` names it.
        #[arg(long)]
        tenant: String,
        /// A stream to rewind (repeat for more); every stream of the tenant with a checkpoint
        /// when absent.
        #[arg(long = "stream", value_enum, value_name = "STREAM")]
        streams: Vec<StreamKind>,
        /// RFC 3339 UTC time (`2026-01-05T12:00:00Z`, whole seconds): the records from then on are
        /// read again.
        #[arg(long, value_parser = parse_time, value_name = "TIME")]
        to: Timestamp,
        /// Do it without asking; without it (and no terminal to ask at) only the plan is printed
        /// and the exit code is 1.
        #[arg(long)]
        yes: bool,
    },
    /// Remove streams' checkpoints: they start again from polling.initial_lookback.
    ///
    /// Says first what that means: at the next start each stream reads from
    /// polling.initial_lookback before then, as a new stream, and publishes again what it
    /// published since. Refused while an instance runs on the store.
    Reset {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant, as `tenants[].id` names it.
        #[arg(long)]
        tenant: String,
        /// A stream to reset (repeat for more); every stream of the tenant with a checkpoint
        /// when absent.
        #[arg(long = "stream", value_enum, value_name = "STREAM")]
        streams: Vec<StreamKind>,
        /// Do it without asking; without it (and no terminal to ask at) only the plan is printed
        /// and the exit code is 1.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// The service's YAML configuration: its tenants, streams and checkpoint store.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Also write log lines (librdkafka's among them) to stderr, at this level (`warn`,
    /// `debug`); off by default.
    #[arg(long, default_value = "off")]
    pub log_level: String,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| {
        format!("{text:?} is not an RFC 3339 UTC time; write it as 2026-01-05T12:00:00Z")
    })
}

/// The command line's entry: logs at `--log-level` on stderr, the output on stdout.
pub async fn main(args: CheckpointsArgs) -> anyhow::Result<()> {
    let store_args = match &args.command {
        CheckpointsCommand::List { store, .. }
        | CheckpointsCommand::Show { store, .. }
        | CheckpointsCommand::Rewind { store, .. }
        | CheckpointsCommand::Reset { store, .. } => store,
    };
    crate::telemetry::logging::init(LogFormat::Json, &store_args.log_level)
        .map_err(anyhow::Error::msg)?;
    let mut stdout = std::io::stdout().lock();
    run(args, &Clock::system(), &mut stdout).await
}

/// Runs the command at `clock`'s time, writing its output to `output`.
pub async fn run(
    args: CheckpointsArgs,
    clock: &Clock,
    output: &mut dyn Write,
) -> anyhow::Result<()> {
    match args.command {
        CheckpointsCommand::List {
            store,
            output: format,
        } => {
            let config = Config::load(&store.config)?;
            let opened = Opened::read(&config).await?;
            let rows = opened.rows(&config, None);
            let listing = render::Listing {
                opened: &opened,
                rows: &rows,
            };
            match format {
                Output::Table => write!(output, "{}", listing.table())?,
                Output::Json => writeln!(output, "{}", listing.json())?,
            }
            Ok(())
        }
        CheckpointsCommand::Show {
            store,
            tenant,
            stream,
            output: format,
        } => {
            let config = Config::load(&store.config)?;
            let tenant = tenant_id(&tenant)?;
            let opened = Opened::read(&config).await?;
            let mut rows = opened.rows(&config, Some((&tenant, &[stream])));
            let row = rows.pop().context("no such stream")?;
            let settings = CursorSettings::from(&config.polling);
            match format {
                Output::Table => {
                    write!(output, "{}", render::show_table(&opened, &row, &settings))?
                }
                Output::Json => {
                    writeln!(output, "{}", render::show_json(&opened, &row, &settings))?
                }
            }
            match row.cursor {
                Err(error) => Err(anyhow::Error::new(error)),
                Ok(_) => Ok(()),
            }
        }
        CheckpointsCommand::Rewind {
            store,
            tenant,
            streams,
            to,
            yes,
        } => {
            let config = Config::load(&store.config)?;
            let change = Change::Rewind { to };
            change_streams(&config, clock, &tenant, &streams, change, yes, output).await
        }
        CheckpointsCommand::Reset {
            store,
            tenant,
            streams,
            yes,
        } => {
            let config = Config::load(&store.config)?;
            change_streams(
                &config,
                clock,
                &tenant,
                &streams,
                Change::Reset,
                yes,
                output,
            )
            .await
        }
    }
}

fn tenant_id(text: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(text).map_err(|problem| anyhow::anyhow!("--tenant: {problem}"))
}

/// The store as read once, for `list` and `show`, or before a change.
pub(crate) struct Opened {
    pub(crate) store: Store,
    /// Who holds the store (the file store's lock, the kafka store's lease), in words.
    pub(crate) holder: Option<String>,
}

pub(crate) enum Store {
    File(FileStore),
    Kafka(KafkaSnapshot),
}

/// A stream as `list` shows it.
pub(crate) struct Row {
    pub(crate) tenant: String,
    pub(crate) stream: StreamKind,
    pub(crate) configured: bool,
    pub(crate) cursor: Result<Option<Cursor>, CheckpointError>,
    pub(crate) last_commit: Option<Timestamp>,
}

fn file_directory(config: &Config) -> PathBuf {
    config
        .checkpoint
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("./state"))
}

fn lease_words(lease: &crate::checkpoint::Lease) -> String {
    format!(
        "the instance on host {} (claimed {}, generation {})",
        lease.host, lease.claimed_at, lease.generation
    )
}

impl Opened {
    async fn read(config: &Config) -> anyhow::Result<Opened> {
        match config.checkpoint.store {
            CheckpointStoreKind::File => {
                let directory = file_directory(config);
                // a free lock is taken and let go at once; only a held one has something to say
                let holder = if directory.is_dir() {
                    match StateLock::acquire(&directory, "entrastream checkpoints") {
                        Ok(_free) => None,
                        Err(CheckpointError::Locked(holder)) => Some(if holder.holder.is_empty() {
                            "another process".to_owned()
                        } else {
                            holder.holder
                        }),
                        Err(_) => None,
                    }
                } else {
                    None
                };
                Ok(Opened {
                    store: Store::File(FileStore::new(directory)),
                    holder,
                })
            }
            CheckpointStoreKind::Kafka => {
                let kafka = config.kafka.clone();
                let checkpoint = config.checkpoint.clone();
                let snapshot =
                    tokio::task::spawn_blocking(move || KafkaSnapshot::read(&kafka, &checkpoint))
                        .await
                        .context("reading the checkpoint topic failed")??;
                let holder = snapshot.holder().as_ref().map(lease_words);
                Ok(Opened {
                    store: Store::Kafka(snapshot),
                    holder,
                })
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match &self.store {
            Store::File(store) => format!("file store at {}", store.directory().display()),
            Store::Kafka(snapshot) => format!("kafka store (topic {})", snapshot.topic()),
        }
    }

    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        match &self.store {
            Store::File(store) => store.peek(tenant, stream),
            Store::Kafka(snapshot) => snapshot.load(tenant, stream),
        }
    }

    fn last_commit(&self, tenant: &TenantId, stream: StreamKind) -> Option<Timestamp> {
        match &self.store {
            Store::File(store) => store.last_commit(tenant, stream),
            Store::Kafka(snapshot) => snapshot.last_commit(tenant, stream),
        }
    }

    fn stored(&self) -> Result<Vec<(String, StreamKind)>, CheckpointError> {
        match &self.store {
            Store::File(store) => store.stored(),
            Store::Kafka(snapshot) => Ok(snapshot.stored()),
        }
    }

    /// The configured streams in the configuration's order, then the stored ones no longer
    /// configured; only `only`'s when given.
    fn rows(&self, config: &Config, only: Option<(&TenantId, &[StreamKind])>) -> Vec<Row> {
        let mut pairs: Vec<(String, StreamKind, bool)> = Vec::new();
        let mut configured = BTreeSet::new();
        for tenant in &config.tenants {
            for stream in tenant.streams() {
                configured.insert((tenant.id.clone(), stream));
                pairs.push((tenant.id.clone(), stream, true));
            }
        }
        // an unreadable directory shows as no stored checkpoints beyond the configured ones
        for (tenant, stream) in self.stored().unwrap_or_default() {
            if !configured.contains(&(tenant.clone(), stream)) {
                pairs.push((tenant, stream, false));
            }
        }
        if let Some((tenant, streams)) = only {
            pairs.retain(|(name, stream, _)| name == tenant.as_str() && streams.contains(stream));
            for stream in streams {
                if !pairs.iter().any(|(_, found, _)| found == stream) {
                    pairs.push((tenant.as_str().to_owned(), *stream, false));
                }
            }
        }
        pairs
            .into_iter()
            .filter_map(|(tenant, stream, configured)| {
                let tenant_id = TenantId::parse(&tenant).ok()?;
                Some(Row {
                    cursor: self.load(&tenant_id, stream),
                    last_commit: self.last_commit(&tenant_id, stream),
                    tenant,
                    stream,
                    configured,
                })
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Change {
    Rewind { to: Timestamp },
    Reset,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Rewind { .. } => "rewind",
            Change::Reset => "reset",
        }
    }
}

/// A stream the change applies to, with its cursor now.
struct Planned {
    stream: StreamKind,
    /// `None`: the checkpoint cannot be read (corrupt, foreign); only `reset` takes those.
    cursor: Option<Cursor>,
}

/// `rewind` and `reset`: refused while an instance holds the store; the plan, the
/// confirmation, then the change.
async fn change_streams(
    config: &Config,
    clock: &Clock,
    tenant_text: &str,
    streams: &[StreamKind],
    change: Change,
    yes: bool,
    output: &mut dyn Write,
) -> anyhow::Result<()> {
    let tenant = tenant_id(tenant_text)?;
    let verb = change.verb();
    // the file store's lock is held from here to the end: a `run` starting meanwhile is refused
    let (opened, _lock) = match config.checkpoint.store {
        CheckpointStoreKind::File => {
            let directory = file_directory(config);
            let lock = StateLock::acquire(&directory, &format!("entrastream checkpoints {verb}"))
                .map_err(|error| refused_while_held(verb, error.to_string()))?;
            (
                Opened {
                    store: Store::File(FileStore::new(directory)),
                    holder: None,
                },
                Some(lock),
            )
        }
        CheckpointStoreKind::Kafka => {
            let opened = Opened::read(config).await?;
            if let Some(holder) = &opened.holder {
                return Err(lease_held(config, verb, holder));
            }
            (opened, None)
        }
    };
    let configured = config
        .tenants
        .iter()
        .find(|candidate| candidate.id == tenant.as_str());
    let stored: Vec<StreamKind> = opened
        .stored()?
        .into_iter()
        .filter(|(name, _)| name == tenant.as_str())
        .map(|(_, stream)| stream)
        .collect();
    if configured.is_none() && stored.is_empty() {
        let known: Vec<&str> = config
            .tenants
            .iter()
            .map(|known| known.id.as_str())
            .collect();
        bail!(
            "tenant {tenant} is neither configured nor in the {}; the configured tenants are: {}",
            opened.describe(),
            known.join(", ")
        );
    }
    let chosen: Vec<StreamKind> = if streams.is_empty() {
        let mut all = configured.map(|found| found.streams()).unwrap_or_default();
        for stream in &stored {
            if !all.contains(stream) {
                all.push(*stream);
            }
        }
        all
    } else {
        streams.to_vec()
    };
    let now = clock.now();
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    let mut refusals = Vec::new();
    for stream in chosen {
        match opened.load(&tenant, stream) {
            Ok(None) => skipped.push(stream),
            Ok(Some(cursor)) => {
                if let Change::Rewind { to } = change
                    && let Some(refused) =
                        refusal(to, cursor.watermark, now, config.polling.overlap)
                {
                    refusals.push(format!("{stream}: {refused}"));
                }
                planned.push(Planned {
                    stream,
                    cursor: Some(cursor),
                });
            }
            // what cannot be read cannot be rewound; a reset is the way out of it
            Err(error) => match change {
                Change::Rewind { .. } => refusals.push(format!(
                    "{stream}: its checkpoint cannot be read, so it cannot be rewound ({error}); \
                     `entrastream checkpoints reset` removes it"
                )),
                Change::Reset => planned.push(Planned {
                    stream,
                    cursor: None,
                }),
            },
        }
    }
    if !refusals.is_empty() {
        bail!("not rewound, nothing changed: {}", refusals.join("; "));
    }
    let plan = render::Plan {
        tenant: &tenant,
        location: &opened.describe(),
        planned: planned
            .iter()
            .map(|planned| (planned.stream, planned.cursor.as_ref()))
            .collect(),
        skipped: &skipped,
        settings: CursorSettings::from(&config.polling),
        initial_lookback: config.polling.initial_lookback,
        now,
    };
    match change {
        Change::Rewind { to } => write!(output, "{}", plan.rewind(to))?,
        Change::Reset => write!(output, "{}", plan.reset())?,
    }
    if planned.is_empty() {
        let which = if streams.is_empty() {
            format!("no stream of tenant {tenant}")
        } else {
            format!("none of the streams named of tenant {tenant}")
        };
        bail!(
            "nothing to {verb}: {which} has a checkpoint in the {}",
            opened.describe()
        );
    }
    if !confirmed(yes, verb, output)? {
        bail!("not confirmed, nothing changed: add --yes to {verb} these streams");
    }
    let changed = counted(planned.len(), "stream", "streams");
    match (&opened.store, change) {
        (Store::File(store), Change::Rewind { to }) => {
            for planned in &planned {
                if let Some(cursor) = &planned.cursor {
                    store.commit_now(&tenant, planned.stream, &rewound(cursor, to))?;
                }
            }
        }
        (Store::File(store), Change::Reset) => {
            for planned in &planned {
                store.remove(&tenant, planned.stream)?;
            }
        }
        (Store::Kafka(_), change) => {
            change_in_kafka(config, verb, &tenant, &planned, change).await?
        }
    }
    match change {
        Change::Rewind { to } => writeln!(
            output,
            "rewound {changed}: entrastream run reads them from {} at its next start",
            to.floor_to_second().to_rfc3339_seconds()
        )?,
        Change::Reset => writeln!(
            output,
            "reset {changed}: entrastream run starts them from polling.initial_lookback ({}) at its next start",
            humantime::format_duration(config.polling.initial_lookback)
        )?,
    }
    Ok(())
}

fn lease_held(config: &Config, verb: &str, holder: &str) -> anyhow::Error {
    refused_while_held(
        verb,
        format!(
            "the checkpoints of kafka.instance_id {} are held by {holder}; stop that instance first (it \
             releases them as it stops). An instance killed before it could release them holds them until \
             the next `entrastream run` with this kafka.instance_id takes them over (after \
             checkpoint.takeover_wait) and stops",
            config.kafka.instance_id
        ),
    )
}

fn refused_while_held(verb: &str, detail: String) -> anyhow::Error {
    anyhow::anyhow!("not {}, nothing changed: {detail}", past(verb))
}

fn past(verb: &str) -> &'static str {
    match verb {
        "rewind" => "rewound",
        _ => "reset",
    }
}

/// `--yes`, or `y`/`yes` typed at a terminal.
fn confirmed(yes: bool, verb: &str, output: &mut dyn Write) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(false);
    }
    write!(output, "{verb} these streams? [y/N] ")?;
    output.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The kafka store's change: the lease claimed as an instance claims it, unless an instance
/// took it since the plan was read (a `run` starting meanwhile waits for its release), each
/// cursor checked unchanged since the plan, written or removed, then the lease released.
async fn change_in_kafka(
    config: &Config,
    verb: &str,
    tenant: &TenantId,
    planned: &[Planned],
    change: Change,
) -> anyhow::Result<()> {
    // cursors are written as at_least_once writes them, outside a transaction: no instance runs
    let mut kafka = config.kafka.clone();
    kafka.delivery = Delivery::AtLeastOnce;
    let in_flight = prometheus::IntGauge::new(
        "entrastream_kafka_records_in_flight",
        "records handed to the producer and not yet acknowledged",
    )?;
    let publisher = Arc::new(Publisher::new(&kafka, in_flight)?);
    // an instance that started since the plan was read keeps its lease: nothing is written
    let store =
        match KafkaStore::open_unless_held(&kafka, &config.checkpoint, publisher.clone()).await? {
            Ok(store) => store,
            Err(lease) => return Err(lease_held(config, verb, &lease_words(&lease))),
        };
    let outcome = async {
        for planned in planned {
            // an unreadable checkpoint (reset only) is removed as it is
            let current = match &planned.cursor {
                Some(_) => store.load(tenant, planned.stream)?,
                None => None,
            };
            if current != planned.cursor {
                bail!(
                    "the checkpoint of {tenant} {} changed while the change was prepared (an instance ran): \
                     nothing more was changed; run the command again",
                    planned.stream
                );
            }
            match (change, &planned.cursor) {
                (Change::Rewind { to }, Some(cursor)) => {
                    store
                        .commit(
                            tenant,
                            planned.stream,
                            CursorCommit::Full(rewound(cursor, to)),
                        )
                        .await?
                }
                (Change::Rewind { .. }, None) => {}
                (Change::Reset, _) => {
                    store.remove(tenant, planned.stream).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    store.release().await;
    let flushing = publisher.clone();
    let _ = tokio::task::spawn_blocking(move || flushing.flush(Duration::from_secs(10))).await;
    outcome
}
