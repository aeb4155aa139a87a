//! The command line: `run`, `check`, `demo`, `simulate`, `schema`, `checkpoints`, `backfill`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{self, RunOptions};
use crate::clock::Clock;
use crate::config::{ApiVersion, Config, LogFormat, SchemaKind};
use crate::sim::config::SimConfig;
use crate::sim::{ListenOptions, Simulator};
use crate::stream::StreamKind;
use crate::telemetry::logging;
use crate::text::counted;

#[derive(Parser, Debug)]
#[command(
    name = "entrastream",
    version,
    about = "Streams Microsoft Entra ID sign-in, audit and provisioning logs from Microsoft Graph into Kafka"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service with a configuration file.
    Run(RunArgs),
    /// Stream from a built-in Graph simulator into an in-process Kafka cluster: no setup needed.
    Demo(DemoArgs),
    /// Check a configuration against Entra ID, Graph and Kafka: token, permission, licence, beta,
    /// clock, brokers, topics, transactions. Exit code 0 only when everything is well.
    Check(CheckArgs),
    /// Serve the Graph simulator (token endpoint and audit log endpoints) for your own tests.
    Simulate(SimulateArgs),
    /// The output schemas: print their JSON Schemas, or sample events mapped from simulated records.
    Schema(SchemaArgs),
    /// The streams' cursors in the checkpoint store: list, show, rewind to a time, reset.
    Checkpoints(crate::checkpoint_command::CheckpointsArgs),
    /// Read a tenant's past range (after an outage, at onboarding) into the same topics, beside a
    /// running instance and within a request budget of its own; only what the live stream does
    /// not publish (records before its cursor's origin); resumable.
    Backfill(crate::backfill::BackfillArgs),
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SchemaCommand,
}

#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// Print the JSON Schemas of an output schema (one JSON document per line).
    Export {
        /// The output schema whose JSON Schemas are printed.
        #[arg(long, value_enum, default_value_t = DemoSchema::Ocsf)]
        schema: DemoSchema,
    },
    /// Print events mapped from simulated records, one JSON document per line.
    Sample {
        /// The output schema the records are mapped to.
        #[arg(long, value_enum, default_value_t = DemoSchema::Ocsf)]
        schema: DemoSchema,
        /// The stream the records come from.
        #[arg(long, value_enum, default_value_t = StreamKind::SignInsInteractive)]
        stream: StreamKind,
        /// How many events to print.
        #[arg(long, default_value_t = 100)]
        records: usize,
        /// Seed of the simulated records (the same seed prints the same events).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of records with a quirk (null vs {}, unknown enum values, new properties, ...).
        #[arg(long, default_value_t = 0.0)]
        quirk_rate: f64,
        /// The Graph API version the records come from.
        #[arg(long, value_enum, default_value_t = ApiVersion::Beta)]
        api_version: ApiVersion,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The YAML configuration (see config/ for documented examples).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Check the configuration without connecting anywhere, then exit: 0 and a summary when
    /// valid, 1 and every problem otherwise. Reads every secret and file it names (never
    /// printing one) and has librdkafka judge the Kafka settings.
    #[arg(long)]
    pub validate_only: bool,
    /// With --validate-only: read none of the secrets and files the configuration names (CI,
    /// where they do not exist); every other check still runs.
    #[arg(long, requires = "validate_only")]
    pub skip_secrets: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The YAML configuration to check.
    #[arg(long, short)]
    pub config: PathBuf,
    /// `table` for people, `json` (one document) for automation.
    #[arg(long, value_enum, default_value_t = CheckOutput::Table)]
    pub output: CheckOutput,
    /// Seconds between the licence probes of a tenant Graph refuses sign-ins (asked three times).
    #[arg(long, default_value_t = 2)]
    pub licence_retry_seconds: u64,
    /// Also write log lines (librdkafka's among them) to stderr, at this level (`warn`, `debug`,
    /// a filter such as `librdkafka=debug`); off by default: the findings say what is wrong.
    #[arg(long, default_value = "off")]
    pub log_level: String,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutput {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Stop by itself after this long (for example `60s`); runs until Ctrl-C when absent.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Simulated tenants.
    #[arg(long, default_value_t = 2)]
    pub tenants: usize,
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The output schema written to Kafka.
    #[arg(long, value_enum, default_value_t = DemoSchema::Ocsf)]
    pub schema: DemoSchema,
    /// Address of /metrics, /healthz and /readyz (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_listen: SocketAddr,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5)]
    pub progress_every: u64,
    /// Log lines (warnings and errors, on stderr): one JSON object each, or `pretty` for people.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// The output schemas, as the command line names them.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DemoSchema {
    /// OCSF 1.8.0: Authentication, Account Change, Entity Management, ...
    Ocsf,
    /// ECS 8.11: the field names of Elastic's own Entra ID integration
    Ecs,
    /// The Graph record as received, in an envelope
    Raw,
}

impl From<DemoSchema> for SchemaKind {
    fn from(schema: DemoSchema) -> Self {
        match schema {
            DemoSchema::Ocsf => SchemaKind::Ocsf,
            DemoSchema::Ecs => SchemaKind::Ecs,
            DemoSchema::Raw => SchemaKind::Raw,
        }
    }
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Simulated tenants (overrides the config file's tenant_count).
    #[arg(long)]
    pub tenants: Option<usize>,
    /// Seed of identities and records (overrides the config file's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulator settings (YAML, see config/simulator.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the base URL and the tenants' credentials to this file as JSON.
    #[arg(long)]
    pub credentials_out: Option<PathBuf>,
    /// Serve HTTPS with a certificate authority made at start-up.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the CA certificate (PEM) here, for clients to trust.
    #[arg(long)]
    pub ca_out: Option<PathBuf>,
    /// Log lines (stderr): one JSON object each, or `pretty` for people.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// `--stream` takes the names of the configuration's `streams:` list.
impl clap::ValueEnum for StreamKind {
    fn value_variants<'a>() -> &'a [Self] {
        &StreamKind::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// `--log-format` takes the names of the configuration's `log.format`.
impl clap::ValueEnum for LogFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[LogFormat::Json, LogFormat::Pretty]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        }))
    }
}

/// `--api-version` takes the names of the configuration's `api_version`.
impl clap::ValueEnum for ApiVersion {
    fn value_variants<'a>() -> &'a [Self] {
        &[ApiVersion::Beta, ApiVersion::V1]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::config::duration::parse(text)
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run(args).await,
        Command::Check(args) => check(args).await,
        Command::Demo(args) => {
            logging::init(args.log_format, "warn").map_err(anyhow::Error::msg)?;
            crate::demo::run(args).await
        }
        Command::Simulate(args) => {
            logging::init(args.log_format, "info").map_err(anyhow::Error::msg)?;
            simulate(args).await
        }
        Command::Schema(args) => crate::schema_command::run(args.command),
        Command::Checkpoints(args) => crate::checkpoint_command::main(args).await,
        Command::Backfill(args) => crate::backfill::command(args).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    // installed first: a SIGTERM at any later point ends the process cleanly
    let shutdown = crate::shutdown::on_signal();
    let config = Config::read(&args.config)?;
    if args.validate_only {
        let source_name = args.config.display().to_string();
        let secrets = if args.skip_secrets {
            crate::validate::Secrets::Skip
        } else {
            crate::validate::Secrets::Read
        };
        let validated = crate::validate::validate(&config, &source_name, secrets)?;
        print!("{source_name}: valid\n{}", validated.summary);
        return Ok(());
    }
    logging::init(config.log.format, &config.log.level).map_err(anyhow::Error::msg)?;
    app::run(config, RunOptions::new(Clock::system()), shutdown).await?;
    Ok(())
}

async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    // the table is the output: log lines (librdkafka's while Kafka is down) would break it up
    logging::init(config.log.format, &args.log_level).map_err(anyhow::Error::msg)?;
    let findings = crate::check::run(
        &config,
        &Clock::system(),
        Duration::from_secs(args.licence_retry_seconds),
    )
    .await;
    let problems = findings.iter().filter(|finding| !finding.ok).count();
    match args.output {
        CheckOutput::Table => print!("{}", crate::check::table(&findings)),
        CheckOutput::Json => println!(
            "{}",
            serde_json::json!({"ok": problems == 0, "problems": problems, "findings": findings})
        ),
    }
    if problems > 0 {
        anyhow::bail!("{} found", counted(problems, "problem", "problems"));
    }
    Ok(())
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => {
            let text = crate::files::read_text_limited(
                "--config",
                "the simulator configuration",
                path,
                crate::files::CONFIG_FILE_LIMIT,
            )?;
            let deserializer = serde_yaml_ng::Deserializer::from_str(&text);
            serde_path_to_error::deserialize::<_, SimConfig>(deserializer).map_err(|error| {
                anyhow::anyhow!(
                    "invalid simulator configuration {}: {error}",
                    path.display()
                )
            })?
        }
        None => SimConfig::default(),
    };
    if let Some(tenants) = args.tenants {
        config.tenant_count = tenants;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let simulator = Simulator::start_with(
        config,
        Clock::system(),
        ListenOptions {
            address: args.listen,
            tls: args.tls,
        },
    )
    .await
    .with_context(|| format!("cannot start the simulator on {}", args.listen))?;
    let credentials = simulator.credentials();
    println!("graph simulator serving at {}", credentials.base_url);
    println!(
        "  token endpoint: {}/{{tenant}}/oauth2/v2.0/token",
        credentials.base_url
    );
    println!(
        "  audit logs:     {}/beta/auditLogs/signIns (and directoryAudits, provisioning)",
        credentials.base_url
    );
    for tenant in &credentials.tenants {
        println!(
            "  tenant {}  client_id {}  client_secret {}",
            tenant.tenant_id, tenant.client_id, tenant.client_secret
        );
    }
    if let Some(path) = &args.credentials_out {
        let json = serde_json::to_string_pretty(&credentials)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
        println!("credentials written to {}", path.display());
    }
    if let Some(pem) = simulator.ca_certificate_pem() {
        match &args.ca_out {
            Some(path) => {
                std::fs::write(path, pem)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("CA certificate written to {}", path.display());
            }
            None => println!("CA certificate (trust it in clients):\n{pem}"),
        }
    }
    crate::shutdown::on_signal().await;
    simulator.shutdown().await;
    Ok(())
}
