//! Configuration: a strict YAML document, parsed once, then validated without I/O; secrets are
//! read only when the service starts (`resolve_secrets`).
//!
//! Unknown keys are refused with their path, durations are written with units (`30s`), secrets
//! are `{env: NAME}` or `{file: PATH}`. Every key is documented here and in `config/`.

pub mod duration;
pub mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use secret::{Secret, SecretSource};

use crate::stream::StreamKind;

/// Graph keeps sign-in and audit logs for 30 days with Entra ID P1/P2 (7 days on Free).
pub const GRAPH_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Entra ID tenants to read, each with its application registration.
    pub tenants: Vec<TenantConfig>,
    /// How streams poll Graph.
    #[serde(default)]
    pub polling: PollingConfig,
    /// The event schema written to Kafka.
    #[serde(default)]
    pub schema: SchemaKind,
    /// Where events go.
    pub kafka: KafkaConfig,
    /// Where stream cursors are kept.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// The Prometheus endpoint and health probes.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Log output.
    #[serde(default)]
    pub log: LogConfig,
}

/// One tenant and the application that reads its audit logs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant (directory) id, a GUID, or its `*.onmicrosoft.com` domain.
    pub id: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// The client secret, as `{env: NAME}` or `{file: PATH}`.
    pub client_secret: Option<SecretSource>,
    /// The Microsoft cloud the tenant lives in.
    #[serde(default)]
    pub cloud: Cloud,
    /// Overrides of the login and Graph base URLs (proxies, the simulator).
    #[serde(default)]
    pub endpoints: Option<Endpoints>,
    /// The Graph API version; only beta has the non-interactive, service-principal and
    /// managed-identity sign-in streams.
    #[serde(default)]
    pub api_version: ApiVersion,
    /// The streams to read; all six (beta) or the three v1.0 offers when absent.
    #[serde(default)]
    pub streams: Option<Vec<StreamKind>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    #[default]
    Global,
    UsGov,
    UsGovDod,
    China,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// Base URL of the identity platform, instead of the cloud's login host.
    pub login: Option<String>,
    /// Base URL of Graph, instead of the cloud's Graph host.
    pub graph: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ApiVersion {
    #[default]
    #[serde(rename = "beta")]
    Beta,
    #[serde(rename = "v1.0")]
    V1,
}

impl ApiVersion {
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiVersion::Beta => "beta",
            ApiVersion::V1 => "v1.0",
        }
    }

    /// The streams this API version can serve.
    pub fn supports(self, stream: StreamKind) -> bool {
        match self {
            ApiVersion::Beta => true,
            ApiVersion::V1 => matches!(
                stream,
                StreamKind::DirectoryAudits
                    | StreamKind::SignInsInteractive
                    | StreamKind::Provisioning
            ),
        }
    }
}

impl TenantConfig {
    /// The streams to run, defaults applied.
    pub fn streams(&self) -> Vec<StreamKind> {
        match &self.streams {
            Some(streams) => streams.clone(),
            None => StreamKind::ALL
                .into_iter()
                .filter(|stream| self.api_version.supports(*stream))
                .collect(),
        }
    }
}

/// How streams poll Graph.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollingConfig {
    /// Pause between polls of a stream that has caught up.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// How far behind "now" a window ends.
    #[serde(with = "duration")]
    pub settle_delay: Duration,
    /// Where a stream without a checkpoint starts (refused beyond Graph's 30-day retention).
    #[serde(with = "duration")]
    pub initial_lookback: Duration,
    /// How late a record may appear and still be delivered once.
    #[serde(with = "duration")]
    pub lateness: Duration,
    /// How often the whole lateness horizon is read again.
    #[serde(with = "duration")]
    pub reconcile_every: Duration,
    /// How far before the watermark each regular poll starts reading, so that records that are
    /// a little late arrive with the next poll instead of the next reconciliation.
    #[serde(with = "duration")]
    pub overlap: Duration,
    /// The longest time range one window reads; longer ranges (catching up) are split.
    #[serde(with = "duration")]
    pub max_window: Duration,
    /// Records per Graph page (at most 1000).
    pub page_size: u32,
    /// Graph's request budget per tenant and application.
    pub throttle: ThrottleConfig,
    /// How long one Graph request may take.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// How often a stream blocked by a missing licence, a missing permission or rejected
    /// credentials tries again.
    #[serde(with = "duration")]
    pub blocked_retry: Duration,
}

impl Default for PollingConfig {
    fn default() -> Self {
        PollingConfig {
            interval: Duration::from_secs(30),
            settle_delay: Duration::ZERO,
            initial_lookback: Duration::from_secs(24 * 3600),
            lateness: Duration::from_secs(2 * 3600),
            reconcile_every: Duration::from_secs(15 * 60),
            overlap: Duration::from_secs(60),
            max_window: Duration::from_secs(3600),
            page_size: 1000,
            throttle: ThrottleConfig::default(),
            request_timeout: Duration::from_secs(60),
            blocked_retry: Duration::from_secs(600),
        }
    }
}

/// A request budget: `requests` per `per`, as a token bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    pub requests: u32,
    #[serde(with = "duration")]
    pub per: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            requests: 5,
            per: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaKind {
    /// OCSF 1.8.0, one class per record type.
    #[default]
    Ocsf,
    /// Elastic Common Schema 8.x, as Elastic's Entra integration names fields.
    Ecs,
    /// The Graph record untouched, in a small envelope.
    Raw,
}

impl SchemaKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SchemaKind::Ocsf => "ocsf",
            SchemaKind::Ecs => "ecs",
            SchemaKind::Raw => "raw",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// Topic per log family.
    #[serde(default)]
    pub topics: Topics,
    /// The delivery guarantee.
    #[serde(default)]
    pub delivery: Delivery,
    /// librdkafka properties passed through (security.protocol, sasl.*, compression.type, ...).
    #[serde(default)]
    pub librdkafka: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    pub sign_ins: String,
    pub directory_audits: String,
    pub provisioning: String,
    /// Records that cannot be mapped, with the reason in a header.
    pub dead_letter: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            sign_ins: "entra.signins".to_owned(),
            directory_audits: "entra.audit".to_owned(),
            provisioning: "entra.provisioning".to_owned(),
            dead_letter: "entra.deadletter".to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Idempotent producer, acks=all, cursor committed after every delivery of its batch succeeded.
    #[default]
    AtLeastOnce,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// `file`: one file per stream, written atomically.
    pub store: CheckpointStoreKind,
    /// Directory of the file store.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            store: CheckpointStoreKind::File,
            path: Some(PathBuf::from("./state")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointStoreKind {
    File,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (one object per line) or `pretty`.
    pub format: LogFormat,
    /// A tracing filter, for example `info` or `info,entrastream::graph=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Json,
            level: "info".to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

/// A configuration that cannot be used, with every problem found.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.problems.len() == 1 {
            return write!(
                formatter,
                "invalid configuration {}: {}",
                self.source_name, self.problems[0]
            );
        }
        write!(formatter, "invalid configuration {}:", self.source_name)?;
        for problem in &self.problems {
            write!(formatter, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// librdkafka properties entrastream sets itself; overriding them would break a guarantee.
const OWNED_KAFKA_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "set kafka.bootstrap_servers instead"),
    (
        "transactional.id",
        "transactions are managed by entrastream",
    ),
    (
        "enable.idempotence",
        "the idempotent producer is what keeps retries from duplicating records",
    ),
    ("acks", "at_least_once needs acks=all"),
];

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            source_name: path.display().to_string(),
            problems: vec![format!("cannot read the file: {error}")],
        })?;
        Config::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates; `source_name` names the document in messages.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner().to_string();
            let problem = if path == "." || path.is_empty() {
                inner
            } else {
                // the YAML error names the enclosing node itself; keep only the full key path
                format!("{path}: {}", strip_enclosing_path(&inner, &path))
            };
            ConfigError {
                source_name: source_name.to_owned(),
                problems: vec![problem],
            }
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                source_name: source_name.to_owned(),
                problems,
            })
        }
    }

    /// Everything wrong with a parsed configuration, found without I/O.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tenants.is_empty() {
            problems.push("tenants: at least one tenant is required".to_owned());
        }
        let mut seen_tenants = BTreeSet::new();
        for (index, tenant) in self.tenants.iter().enumerate() {
            let key = format!("tenants[{index}]");
            if tenant.id.trim().is_empty() {
                problems.push(format!("{key}.id: the tenant id is empty"));
            } else if !seen_tenants.insert(tenant.id.to_lowercase()) {
                problems.push(format!(
                    "{key}.id: tenant {} is listed twice; each tenant appears once",
                    tenant.id
                ));
            }
            if tenant.client_id.trim().is_empty() {
                problems.push(format!(
                    "{key}.client_id: the application (client) id is empty"
                ));
            }
            if tenant.client_secret.is_none() {
                problems.push(format!(
                    "{key}.client_secret: required; write {{env: VARIABLE}} or {{file: PATH}}"
                ));
            }
            if let Some(endpoints) = &tenant.endpoints {
                for (name, value) in [("login", &endpoints.login), ("graph", &endpoints.graph)] {
                    if let Some(value) = value
                        && !is_http_url(value)
                    {
                        problems.push(format!(
                            "{key}.endpoints.{name}: `{value}` is not an http(s) URL"
                        ));
                    }
                }
            }
            let streams = tenant.streams();
            if streams.is_empty() {
                problems.push(format!(
                    "{key}.streams: the list is empty; name at least one stream"
                ));
            }
            let mut seen_streams = BTreeSet::new();
            for stream in &streams {
                if !seen_streams.insert(*stream) {
                    problems.push(format!("{key}.streams: {stream} is listed twice"));
                }
                if !tenant.api_version.supports(*stream) {
                    problems.push(format!(
                        "{key}.streams: {stream} needs api_version: beta (v1.0 offers only \
                         directory_audits, sign_ins_interactive and provisioning)"
                    ));
                }
            }
        }

        let polling = &self.polling;
        if polling.interval.is_zero() {
            problems.push("polling.interval: must be longer than 0s".to_owned());
        }
        if polling.initial_lookback > GRAPH_RETENTION {
            problems.push(format!(
                "polling.initial_lookback: {} is beyond Graph's retention of 30 days (7 on Entra ID \
                 Free); Graph refuses an older start with 400 \"Invalid filter clause\"",
                duration::format(polling.initial_lookback)
            ));
        }
        if polling.reconcile_every.is_zero() {
            problems.push("polling.reconcile_every: must be longer than 0s".to_owned());
        }
        if polling.lateness + polling.reconcile_every > GRAPH_RETENTION {
            problems.push(
                "polling.lateness: lateness plus reconcile_every must stay within Graph's 30-day retention"
                    .to_owned(),
            );
        }
        if polling.max_window < Duration::from_secs(60) {
            problems.push("polling.max_window: must be at least 1m".to_owned());
        }
        if !(1..=1000).contains(&polling.page_size) {
            problems.push(format!(
                "polling.page_size: {} is outside 1..=1000 (Graph's maximum is 1000, the best use of its budget)",
                polling.page_size
            ));
        }
        if polling.throttle.requests == 0 || polling.throttle.per.is_zero() {
            problems.push("polling.throttle: requests and per must both be above zero".to_owned());
        }
        if polling.request_timeout < Duration::from_secs(1) {
            problems.push("polling.request_timeout: must be at least 1s".to_owned());
        }
        if polling.blocked_retry.is_zero() {
            problems.push("polling.blocked_retry: must be longer than 0s".to_owned());
        }

        if self.kafka.bootstrap_servers.trim().is_empty() {
            problems
                .push("kafka.bootstrap_servers: empty; write host:port[,host:port...]".to_owned());
        }
        let topics = &self.kafka.topics;
        let named_topics = [
            ("sign_ins", &topics.sign_ins),
            ("directory_audits", &topics.directory_audits),
            ("provisioning", &topics.provisioning),
            ("dead_letter", &topics.dead_letter),
        ];
        for (name, topic) in named_topics {
            if !is_valid_topic(topic) {
                problems.push(format!(
                    "kafka.topics.{name}: `{topic}` is not a valid topic name (1-249 characters of \
                     a-z, A-Z, 0-9, '.', '_', '-')"
                ));
            }
            if name != "dead_letter" && topic == &topics.dead_letter {
                problems.push(format!(
                    "kafka.topics.{name}: the dead-letter topic must be a topic of its own"
                ));
            }
        }
        for (property, reason) in OWNED_KAFKA_PROPERTIES {
            if self.kafka.librdkafka.contains_key(*property) {
                problems.push(format!(
                    "kafka.librdkafka.{property}: set by entrastream and not overridable ({reason})"
                ));
            }
        }

        if self.checkpoint.store == CheckpointStoreKind::File && self.checkpoint.path.is_none() {
            problems.push("checkpoint.path: the file store needs a directory".to_owned());
        }
        if self.log.level.trim().is_empty() {
            problems
                .push("log.level: empty; write info, debug, warn or a tracing filter".to_owned());
        }
        problems
    }
}

/// Removes a leading `node: ` from a YAML error when `node` is an ancestor of (or equal to) `path`.
fn strip_enclosing_path<'a>(message: &'a str, path: &str) -> &'a str {
    let mut candidate = path;
    loop {
        if let Some(rest) = message
            .strip_prefix(candidate)
            .and_then(|rest| rest.strip_prefix(": "))
        {
            return rest;
        }
        match candidate.rfind(['.', '[']) {
            Some(cut) => candidate = &candidate[..cut],
            None => return message,
        }
    }
}

fn is_http_url(value: &str) -> bool {
    url::Url::parse(value)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "
tenants:
  - id: 00000000-0000-0000-0000-000000000001
    client_id: 00000000-0000-0000-0000-000000000002
    client_secret: {env: ENTRA_SECRET}
kafka:
  bootstrap_servers: 127.0.0.1:9092
";

    #[test]
    fn a_minimal_config_gets_the_documented_defaults() {
        let config = Config::from_yaml(MINIMAL, "minimal.yaml").expect("valid");
        assert_eq!(config.polling.interval, Duration::from_secs(30));
        assert_eq!(config.polling.lateness, Duration::from_secs(7200));
        assert_eq!(config.polling.page_size, 1000);
        assert_eq!(config.polling.throttle, ThrottleConfig::default());
        assert_eq!(config.schema, SchemaKind::Ocsf);
        assert_eq!(config.kafka.topics.sign_ins, "entra.signins");
        assert_eq!(config.tenants[0].streams().len(), 6);
        assert_eq!(config.tenants[0].cloud, Cloud::Global);
    }

    fn problems_of(yaml: &str) -> Vec<String> {
        Config::from_yaml(yaml, "test.yaml")
            .expect_err("invalid")
            .problems
    }

    #[test]
    fn semantic_problems_are_all_reported_with_their_key() {
        let yaml = "
tenants:
  - id: t1
    client_id: c1
    api_version: v1.0
    streams: [sign_ins_non_interactive, directory_audits, directory_audits]
polling:
  initial_lookback: 45d
  page_size: 5000
kafka:
  bootstrap_servers: ''
  topics: {sign_ins: entra.deadletter, dead_letter: entra.deadletter}
  librdkafka: {acks: '1'}
";
        assert_eq!(
            problems_of(yaml),
            vec![
                "tenants[0].client_secret: required; write {env: VARIABLE} or {file: PATH}",
                "tenants[0].streams: sign_ins_non_interactive needs api_version: beta (v1.0 offers only directory_audits, sign_ins_interactive and provisioning)",
                "tenants[0].streams: directory_audits is listed twice",
                "polling.initial_lookback: 45d is beyond Graph's retention of 30 days (7 on Entra ID Free); Graph refuses an older start with 400 \"Invalid filter clause\"",
                "polling.page_size: 5000 is outside 1..=1000 (Graph's maximum is 1000, the best use of its budget)",
                "kafka.bootstrap_servers: empty; write host:port[,host:port...]",
                "kafka.topics.sign_ins: the dead-letter topic must be a topic of its own",
                "kafka.librdkafka.acks: set by entrastream and not overridable (at_least_once needs acks=all)",
            ]
        );
    }
}
