//! Configuration: a strict YAML document, parsed once, then validated without I/O; secrets are
//! read only when the service starts (`resolve_credentials`).
//!
//! Unknown keys are refused with their path, durations are written with units (`30s`), secrets
//! are `{env: NAME}` or `{file: PATH}`. Every key is documented here and in `config/`.

mod contradictions;
pub mod duration;
pub mod ids;
pub mod librdkafka;
pub mod librdkafka_properties;
pub mod ranges;
pub mod secret;
mod upstream;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use ids::TenantId;
pub use librdkafka::LibrdkafkaSettings;
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
    /// TLS towards the login and Graph hosts.
    #[serde(default)]
    pub tls: TlsConfig,
    /// How the service stops on SIGTERM.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Graph's limits beyond a tenant's own.
    #[serde(default)]
    pub graph: GraphConfig,
}

/// Graph's limits that span tenants.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    /// Requests per application across all of its tenants (the same client id at the same login
    /// authority): Microsoft documents 122 per 10 seconds for the identity and access reports.
    pub app_budget: ThrottleConfig,
}

/// A graceful stop: reading stops, Kafka's reports of what was sent are waited for, what was
/// acknowledged is committed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// The longest a stop waits for Kafka's reports; what is still unacknowledged then is read
    /// again at the next start. Keep it below the pod's `terminationGracePeriodSeconds` (the chart
    /// derives that from this value).
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            timeout: Duration::from_secs(20),
        }
    }
}

/// TLS settings of the HTTP client.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM bundle of certificate authorities to trust besides the system's (a TLS-inspecting
    /// proxy's CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept `http://` in `endpoints.login` and `endpoints.graph` for hosts that are not
    /// loopback: the client secret, assertions and tokens then cross the network unencrypted.
    /// Refused by default; loopback (`127.0.0.1`, `::1`, `localhost`: the simulator, a local
    /// sidecar) is always accepted.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// One tenant and the application that reads its audit logs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant (directory) id, a GUID, or one of its verified domains
    /// (`contoso.onmicrosoft.com`; ASCII letters, digits, '-' and '.', at least one dot).
    pub id: String,
    /// The application (client) id of the app registration, a GUID.
    pub client_id: String,
    /// The client secret, as `{env: NAME}` or `{file: PATH}` (the same as
    /// `auth: {client_secret: ...}`).
    #[serde(default)]
    pub client_secret: Option<SecretSource>,
    /// How the application authenticates, when not with `client_secret`: a certificate, workload
    /// identity federation or a managed identity.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
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

/// One authentication mode per tenant, written as a map with one key:
/// `auth: {certificate: {file: ...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "AuthFields", into = "AuthFields")]
pub enum AuthConfig {
    /// A client secret, `{env: NAME}` or `{file: PATH}`.
    ClientSecret(SecretSource),
    /// A certificate registered on the application: a signed client assertion per token request.
    Certificate(CertificateConfig),
    /// Workload identity federation (AKS): the Kubernetes service-account token in
    /// `AZURE_FEDERATED_TOKEN_FILE` is the client assertion, read anew for every token request.
    WorkloadIdentity(WorkloadIdentityConfig),
    /// The managed identity of the Azure host (instance metadata service).
    ManagedIdentity(ManagedIdentityConfig),
}

/// The YAML shape of `auth`: exactly one of its keys.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AuthFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<SecretSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workload_identity: Option<WorkloadIdentityConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    managed_identity: Option<ManagedIdentityConfig>,
}

impl TryFrom<AuthFields> for AuthConfig {
    type Error = String;

    fn try_from(fields: AuthFields) -> Result<Self, Self::Error> {
        let mut modes = Vec::new();
        if let Some(secret) = fields.client_secret {
            modes.push(AuthConfig::ClientSecret(secret));
        }
        if let Some(certificate) = fields.certificate {
            modes.push(AuthConfig::Certificate(certificate));
        }
        if let Some(identity) = fields.workload_identity {
            modes.push(AuthConfig::WorkloadIdentity(identity));
        }
        if let Some(identity) = fields.managed_identity {
            modes.push(AuthConfig::ManagedIdentity(identity));
        }
        match (modes.pop(), modes.is_empty()) {
            (Some(mode), true) => Ok(mode),
            _ => Err(
                "choose exactly one of client_secret, certificate, workload_identity, managed_identity"
                    .to_owned(),
            ),
        }
    }
}

impl From<AuthConfig> for AuthFields {
    fn from(auth: AuthConfig) -> Self {
        let mut fields = AuthFields::default();
        match auth {
            AuthConfig::ClientSecret(secret) => fields.client_secret = Some(secret),
            AuthConfig::Certificate(certificate) => fields.certificate = Some(certificate),
            AuthConfig::WorkloadIdentity(identity) => fields.workload_identity = Some(identity),
            AuthConfig::ManagedIdentity(identity) => fields.managed_identity = Some(identity),
        }
        fields
    }
}

impl AuthConfig {
    pub fn mode(&self) -> &'static str {
        match self {
            AuthConfig::ClientSecret(_) => "client_secret",
            AuthConfig::Certificate(_) => "certificate",
            AuthConfig::WorkloadIdentity(_) => "workload_identity",
            AuthConfig::ManagedIdentity(_) => "managed_identity",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "CertificateFields", into = "CertificateFields")]
pub struct CertificateConfig {
    pub source: CertificateSource,
    /// `ps256` (with the `x5t#S256` thumbprint, the default) or `rs256` (with `x5t`, for older
    /// registrations).
    pub signature: AssertionSignature,
}

/// Where the certificate and its private key are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    /// `file:` a PEM file with the private key (PKCS#8 or PKCS#1 RSA) and the certificate (its
    /// chain may follow).
    Pem(PathBuf),
    /// `pkcs12:` a PKCS#12 (`.pfx`/`.p12`) file, as Windows, Azure Key Vault and the portal export
    /// it; `password:` a secret (`{env:}`/`{file:}`), absent for a file without a password.
    Pkcs12 {
        path: PathBuf,
        password: Option<SecretSource>,
    },
}

/// The YAML shape of `certificate`: `file` or `pkcs12` (with its `password`).
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CertificateFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs12: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<SecretSource>,
    #[serde(default)]
    signature: AssertionSignature,
}

impl TryFrom<CertificateFields> for CertificateConfig {
    type Error = String;

    fn try_from(fields: CertificateFields) -> Result<Self, Self::Error> {
        let source = match (fields.file, fields.pkcs12, fields.password) {
            (Some(path), None, None) => CertificateSource::Pem(path),
            (Some(_), None, Some(_)) => {
                return Err(
                    "password belongs to a pkcs12 file; a PEM file (file:) has no password: \
                     store its key unencrypted"
                        .to_owned(),
                );
            }
            (None, Some(path), password) => CertificateSource::Pkcs12 { path, password },
            (Some(_), Some(_), _) => {
                return Err("give either file (PEM) or pkcs12 (PFX), not both".to_owned());
            }
            (None, None, _) => {
                return Err(
                    "missing the certificate: write file: PATH (PEM with key and certificate) or \
                     pkcs12: PATH with password: {env: VARIABLE} (PFX)"
                        .to_owned(),
                );
            }
        };
        Ok(CertificateConfig {
            source,
            signature: fields.signature,
        })
    }
}

impl From<CertificateConfig> for CertificateFields {
    fn from(certificate: CertificateConfig) -> Self {
        let mut fields = CertificateFields {
            signature: certificate.signature,
            ..CertificateFields::default()
        };
        match certificate.source {
            CertificateSource::Pem(path) => fields.file = Some(path),
            CertificateSource::Pkcs12 { path, password } => {
                fields.pkcs12 = Some(path);
                fields.password = password;
            }
        }
        fields
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionSignature {
    #[default]
    Ps256,
    Rs256,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadIdentityConfig {
    /// The federated token file; `AZURE_FEDERATED_TOKEN_FILE` (set by the AKS webhook) when absent.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentityConfig {
    /// The client id (a GUID) of a user-assigned identity; the system-assigned identity when
    /// absent.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The token endpoint of the instance metadata service (tests, proxies).
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// The instance metadata service's managed-identity token endpoint.
pub const IMDS_TOKEN_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    #[default]
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl Cloud {
    pub const fn as_str(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "us_gov",
            Cloud::UsGovDod => "us_gov_dod",
            Cloud::China => "china",
        }
    }
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
    /// The tenant's id as the type paths, URLs and keys are built from; an error (also one of
    /// [`Config::problems`]) when it is neither a GUID nor a domain name.
    pub fn tenant_id(&self) -> Result<TenantId, String> {
        TenantId::parse(&self.id)
    }

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
    /// Pause between polls of a stream that has caught up; 1s to 1d.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// How far behind "now" a window ends; 0s to 1d.
    #[serde(with = "duration")]
    pub settle_delay: Duration,
    /// Where a stream without a checkpoint starts; 0s to 30d (Graph's retention).
    #[serde(with = "duration")]
    pub initial_lookback: Duration,
    /// How late a record may appear and still be delivered once; 0s to 30d, and with
    /// `reconcile_every` at most 30d.
    #[serde(with = "duration")]
    pub lateness: Duration,
    /// How often the whole lateness horizon is read again; 1s to 30d.
    #[serde(with = "duration")]
    pub reconcile_every: Duration,
    /// How far before the watermark each regular poll starts reading, so that records that are
    /// a little late arrive with the next poll instead of the next reconciliation; 0s to 1d.
    #[serde(with = "duration")]
    pub overlap: Duration,
    /// The longest time range one window reads; longer ranges (catching up) are split; 1m to 1d.
    #[serde(with = "duration")]
    pub max_window: Duration,
    /// Records per Graph page; 1 to 1000 (Graph's maximum).
    pub page_size: u32,
    /// About how many pages one window holds, from the density Graph showed so far (records per
    /// hour of event time): a window of catch-up then completes and commits its watermark within
    /// seconds, so that even a process restarted every few seconds gets ahead; 1 to 1000.
    pub max_window_pages: u32,
    /// The most Graph pages the whole process holds at once, being fetched or mapped, across all
    /// tenants and streams (each stream reads one page ahead); a stream waits for a place, first
    /// come first served. With `max_page_bytes` it bounds the memory pages take; 1 to 10000.
    pub max_pages_in_memory: u32,
    /// Graph's request budget per tenant and application.
    pub throttle: ThrottleConfig,
    /// How long one Graph request may take; 1s to 1h.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// How often a stream blocked by a missing licence, a missing permission or rejected
    /// credentials tries again; 1s to 1d.
    #[serde(with = "duration")]
    pub blocked_retry: Duration,
    /// The longest wait a `Retry-After` from Graph (seconds or an HTTP date) is obeyed for; a
    /// longer one is logged and waited for only this long; 1s to 1d.
    #[serde(with = "duration")]
    pub max_retry_after: Duration,
    /// The largest Graph response read, in bytes after decompression; a larger one (a gzip bomb,
    /// an endless body) is cut off, counted as `status_class="oversized"` and its window read
    /// again. A page of 1,000 sign-ins is a few MiB; 1 MiB to 1 GiB.
    pub max_page_bytes: u64,
    /// The largest answer of a token endpoint or the managed-identity endpoint, in bytes after
    /// decompression (a token response is a few KiB); 4 KiB to 16 MiB.
    pub max_token_response_bytes: u64,
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
            max_window_pages: 20,
            max_pages_in_memory: 64,
            throttle: ThrottleConfig::default(),
            request_timeout: Duration::from_secs(60),
            blocked_retry: Duration::from_secs(600),
            max_retry_after: Duration::from_secs(300),
            max_page_bytes: 64 * 1024 * 1024,
            max_token_response_bytes: 1024 * 1024,
        }
    }
}

/// A request budget: at most `requests` in any `per` (entrastream keeps a tenth of `per` as a
/// margin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Requests in any window of `per`; 1 to 1000.
    pub requests: u32,
    /// The window; 1s to 1h.
    #[serde(with = "duration")]
    pub per: Duration,
}

impl ThrottleConfig {
    /// Graph's limit per application across its tenants for the identity and access reports.
    pub const APP_DEFAULT: ThrottleConfig = ThrottleConfig {
        requests: 122,
        per: Duration::from_secs(10),
    };
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            app_budget: ThrottleConfig::APP_DEFAULT,
        }
    }
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
    /// Names this deployment. Checkpoint records, the instance lease and (exactly_once) the
    /// `transactional.id` (`entrastream-{instance_id}`) derive from it: a restarted instance keeps
    /// its id, two deployments sharing a checkpoint topic need different ones.
    #[serde(default = "default_instance_id")]
    pub instance_id: String,
    /// exactly_once: the longest a transaction may stay open before the broker aborts it
    /// (`transaction.timeout.ms`); also bounds how long a commit or an abort is waited for; 1s
    /// to 15m.
    #[serde(default = "default_transaction_timeout", with = "duration")]
    pub transaction_timeout: Duration,
    /// How often the brokers are asked for their metadata (the health probe behind `/readyz`
    /// and `entrastream_kafka_state`): a broker that stops answering, refuses the login or
    /// presents an untrusted certificate turns the service not-ready within this time.
    #[serde(default = "default_health_interval", with = "duration")]
    pub health_interval: Duration,
    /// The largest event record (value, key and headers) sent to an event topic. A mapped record
    /// above it goes to the dead-letter topic as a summary (its id, its size, this limit and its
    /// first KiB) and the stream goes on: a topic refuses records above its `max.message.bytes`
    /// (1 MiB by default), and librdkafka would fail every record of the batch with it. Raise
    /// both together.
    #[serde(default = "default_event_max_bytes")]
    pub max_record_bytes: u32,
    /// librdkafka properties passed through (security.protocol, sasl.*, compression.type, ...).
    /// They apply to the producer and to the checkpoint store's consumer and admin client.
    /// Secrets (`sasl.password`, ...) are `{env: NAME}` or `{file: PATH}`, never inline.
    #[serde(default)]
    pub librdkafka: LibrdkafkaSettings,
}

impl KafkaConfig {
    /// The defaults of every key but the bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            topics: Topics::default(),
            delivery: Delivery::default(),
            instance_id: default_instance_id(),
            transaction_timeout: default_transaction_timeout(),
            health_interval: default_health_interval(),
            max_record_bytes: default_event_max_bytes(),
            librdkafka: LibrdkafkaSettings::default(),
        }
    }
}

fn default_instance_id() -> String {
    "entrastream".to_owned()
}

fn default_transaction_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_health_interval() -> Duration {
    Duration::from_secs(5)
}

/// What a topic with Kafka's default `max.message.bytes` (1,048,588) takes, with room for the
/// batch's own overhead.
fn default_event_max_bytes() -> u32 {
    1_000_000
}

/// The producer's `message.max.bytes` unless `kafka.librdkafka` sets it (the producer's defaults
/// in `kafka::producer`).
pub const DEFAULT_MESSAGE_MAX_BYTES: u64 = 16_843_776;

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
    /// Kafka transactions: each page's records and the stream's cursor commit together; consumers
    /// read with `isolation.level=read_committed`. Needs `checkpoint.store: kafka`.
    ExactlyOnce,
}

impl Delivery {
    pub const fn as_str(self) -> &'static str {
        match self {
            Delivery::AtLeastOnce => "at_least_once",
            Delivery::ExactlyOnce => "exactly_once",
        }
    }
}

/// Every key has a default, so that a block may name any of them: `checkpoint: {path: /x}` is the
/// file store in `/x`. Keys of one store are refused with the other one unless they restate
/// their default (`Config::problems`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// `file`: one file per stream, written atomically; `kafka`: a compacted topic.
    pub store: CheckpointStoreKind,
    /// Directory of the file store; `./state` when absent (set by `Config::from_yaml`). The
    /// kafka store refuses it.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The kafka store's topic (compacted; keys `cursor/{instance_id}/{tenant}/{stream}` and
    /// `cursor-delta/{instance_id}/{tenant}/{stream}/{n}`).
    pub topic: String,
    /// Create the topic, compacted, when it does not exist.
    pub create_topic: bool,
    /// Check that an existing topic is compacted (needs DescribeConfigs on it); a topic that is
    /// not would forget cursors and make streams start over.
    pub verify_topic: bool,
    /// Partitions of a topic entrastream creates; 1 to 1000.
    pub topic_partitions: i32,
    /// Replication factor of a topic entrastream creates, 1 to 16; the broker's default when absent.
    pub replication_factor: Option<i16>,
    /// `max.message.bytes` of a topic entrastream creates: the largest cursor (about 32 bytes per
    /// id published within `polling.lateness`); 1048576 to 1000000000 (librdkafka's maximum).
    pub max_record_bytes: u32,
    /// How long reading the checkpoints at start-up may take before the service gives up (it
    /// never starts without them); 1s to 1h.
    #[serde(with = "duration")]
    pub load_timeout: Duration,
    /// How long a new instance waits for the previous one with the same `kafka.instance_id` to
    /// hand over (stop and say so) before it goes on without it; 0s to 1h.
    #[serde(with = "duration")]
    pub takeover_wait: Duration,
    /// at_least_once: how often a stream in the middle of a window commits what Kafka has
    /// acknowledged so far (the ids remembered, the watermark where it was), so that a crash
    /// repeats about this much of its output instead of its whole window; `0s`: after every
    /// page. exactly_once commits every page in its transaction and does not use it. 0s to 1h.
    #[serde(with = "duration")]
    pub interval: Duration,
}

/// The file store's directory when `checkpoint.path` is absent.
pub const DEFAULT_CHECKPOINT_PATH: &str = "./state";

fn default_checkpoint_topic() -> String {
    "entrastream.checkpoints".to_owned()
}

fn default_checkpoint_partitions() -> i32 {
    1
}

/// The producer's `queue.buffering.max.kbytes` unless `kafka.librdkafka` sets it (64 MiB; the
/// producer's defaults in `kafka::producer`).
pub const DEFAULT_QUEUE_KBYTES: u64 = 65_536;

fn default_max_record_bytes() -> u32 {
    16 * 1024 * 1024
}

fn default_load_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_takeover_wait() -> Duration {
    Duration::from_secs(15)
}

fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(10)
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            store: CheckpointStoreKind::File,
            path: Some(PathBuf::from(DEFAULT_CHECKPOINT_PATH)),
            topic: default_checkpoint_topic(),
            create_topic: true,
            verify_topic: true,
            topic_partitions: default_checkpoint_partitions(),
            replication_factor: None,
            max_record_bytes: default_max_record_bytes(),
            load_timeout: default_load_timeout(),
            takeover_wait: default_takeover_wait(),
            interval: default_checkpoint_interval(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointStoreKind {
    #[default]
    File,
    Kafka,
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
        "it derives from kafka.instance_id (entrastream-{instance_id}) so that a restart fences its predecessor",
    ),
    (
        "transaction.timeout.ms",
        "set kafka.transaction_timeout instead",
    ),
    (
        "isolation.level",
        "checkpoints are always read with read_committed",
    ),
    (
        "enable.idempotence",
        "the idempotent producer is what keeps retries from duplicating records",
    ),
    ("acks", "at_least_once needs acks=all"),
];

impl Config {
    /// Reads and validates (without I/O beyond the file itself).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config = Config::read(path)?;
        config.refuse_problems(&path.display().to_string())
    }

    /// Reads and parses the file; its problems (`problems`) are left to the caller, which can
    /// report them together with those only I/O finds (`validate`).
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::files::read_text_limited(
            "--config",
            "the configuration",
            path,
            crate::files::CONFIG_FILE_LIMIT,
        )
        .map_err(|error| ConfigError {
            source_name: path.display().to_string(),
            problems: vec![match error.problem {
                crate::files::FileProblem::Unreadable(source) => {
                    format!("cannot read the file: {source}")
                }
                crate::files::FileProblem::TooLarge { limit } => format!(
                    "the file is larger than {}, the most a configuration may hold",
                    crate::files::size_text(limit)
                ),
            }],
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The configuration as a YAML document `load` reads back the same (tests, tools).
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// Parses and validates; `source_name` names the document in messages.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        Config::parse(text, source_name)?.refuse_problems(source_name)
    }

    /// Parses, with the defaults that depend on other keys applied; no `problems` checked. A
    /// document that does not parse stops at its first error (the parser's), with its key path.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let mut config: Config =
            serde_path_to_error::deserialize(deserializer).map_err(|error| {
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
        // the file store's directory defaults here, not in serde, so that a path written beside
        // `store: kafka` is seen (and refused) as written
        if config.checkpoint.store == CheckpointStoreKind::File && config.checkpoint.path.is_none()
        {
            config.checkpoint.path = Some(PathBuf::from(DEFAULT_CHECKPOINT_PATH));
        }
        Ok(config)
    }

    fn refuse_problems(self, source_name: &str) -> Result<Config, ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self)
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
            } else if let Err(problem) = TenantId::parse(&tenant.id) {
                problems.push(format!("{key}.id: {problem}"));
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
            } else if !ids::is_guid(&tenant.client_id) {
                problems.push(format!(
                    "{key}.client_id: {:?} is not an application (client) id; write the GUID the app \
                     registration's overview page shows as Application (client) ID",
                    tenant.client_id
                ));
            }
            if let Some(AuthConfig::ManagedIdentity(identity)) = &tenant.auth
                && let Some(client_id) = &identity.client_id
                && !ids::is_guid(client_id)
            {
                problems.push(format!(
                    "{key}.auth.managed_identity.client_id: {client_id:?} is not a client id; write \
                     the GUID of the user-assigned identity (its Client ID), or leave the key out \
                     for the system-assigned identity"
                ));
            }
            match (&tenant.client_secret, &tenant.auth) {
                (None, None) => problems.push(format!(
                    "{key}.client_secret: required; write {{env: VARIABLE}} or {{file: PATH}} (or choose \
                     another mode under {key}.auth: certificate, workload_identity, managed_identity)"
                )),
                (Some(_), Some(auth)) => problems.push(format!(
                    "{key}: client_secret and auth.{} both given; keep one",
                    auth.mode()
                )),
                _ => {}
            }
            if let Some(AuthConfig::ManagedIdentity(identity)) = &tenant.auth
                && let Some(endpoint) = &identity.endpoint
                && !is_http_url(endpoint)
            {
                problems.push(format!(
                    "{key}.auth.managed_identity.endpoint: `{endpoint}` is not an http(s) URL"
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
                    } else if let Some(value) = value {
                        problems.extend(upstream::insecure_endpoint(
                            &format!("{key}.endpoints.{name}"),
                            value,
                            &self.tls,
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

        ranges::polling(&self.polling, &mut problems);

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
            if self.kafka.librdkafka.contains_key(property) {
                problems.push(format!(
                    "kafka.librdkafka.{property}: set by entrastream and not overridable ({reason})"
                ));
            }
        }
        for property in self.kafka.librdkafka.inline_secrets() {
            problems.push(format!(
                "kafka.librdkafka.{property}: a secret written inline; write {{env: VARIABLE}} or {{file: \
                 PATH}} so that it stays out of the configuration file (and of a ConfigMap)"
            ));
        }

        let instance_id = &self.kafka.instance_id;
        if instance_id.is_empty()
            || instance_id.len() > 100
            || !instance_id.chars().all(|character| {
                character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')
            })
        {
            problems.push(format!(
                "kafka.instance_id: `{instance_id}` must be 1-100 characters of a-z, A-Z, 0-9, '.', '_', '-'"
            ));
        }
        ranges::kafka(&self.kafka, &mut problems);
        ranges::shutdown(&self.shutdown, &mut problems);
        ranges::graph(&self.graph, &mut problems);

        if self.kafka.delivery == Delivery::ExactlyOnce
            && let Some(timeout) = self.kafka.librdkafka.get("message.timeout.ms")
            && timeout
                .parse::<u128>()
                .is_ok_and(|millis| millis > self.kafka.transaction_timeout.as_millis())
        {
            problems.push(format!(
                "kafka.librdkafka.message.timeout.ms: {timeout} is longer than kafka.transaction_timeout; with \
                 exactly_once a record may not outlive its transaction"
            ));
        }

        let checkpoint = &self.checkpoint;
        ranges::checkpoint(checkpoint, &mut problems);
        match checkpoint.store {
            CheckpointStoreKind::File => {
                if checkpoint.path.is_none() {
                    problems.push("checkpoint.path: the file store needs a directory".to_owned());
                }
                if self.kafka.delivery == Delivery::ExactlyOnce {
                    problems.push(
                        "kafka.delivery: exactly_once commits each cursor in the same Kafka transaction as \
                         its records, so it needs checkpoint.store: kafka"
                            .to_owned(),
                    );
                }
            }
            CheckpointStoreKind::Kafka => {
                if !is_valid_topic(&checkpoint.topic) {
                    problems.push(format!(
                        "checkpoint.topic: `{}` is not a valid topic name",
                        checkpoint.topic
                    ));
                }
                if named_topics
                    .iter()
                    .any(|(_, topic)| **topic == checkpoint.topic)
                {
                    problems.push(format!(
                        "checkpoint.topic: `{}` is also an event topic; checkpoints need a compacted topic of their own",
                        checkpoint.topic
                    ));
                }
                // librdkafka never takes a record larger than its whole queue (not a number:
                // librdkafka refuses it when the producer is created)
                let queue_kbytes = match self.kafka.librdkafka.get("queue.buffering.max.kbytes") {
                    None => Some((DEFAULT_QUEUE_KBYTES, " (the default)")),
                    Some(kbytes) => kbytes.trim().parse::<u64>().ok().map(|kbytes| (kbytes, "")),
                };
                if let Some((kbytes, default)) = queue_kbytes
                    && kbytes.saturating_mul(1024) < u64::from(checkpoint.max_record_bytes)
                {
                    problems.push(format!(
                        "kafka.librdkafka.queue.buffering.max.kbytes: {kbytes} KiB{default} cannot hold a \
                         checkpoint of checkpoint.max_record_bytes ({} bytes); raise it to at least {}, or \
                         lower checkpoint.max_record_bytes",
                        checkpoint.max_record_bytes,
                        u64::from(checkpoint.max_record_bytes).div_ceil(1024)
                    ));
                }
            }
        }
        if self.log.level.trim().is_empty() {
            problems
                .push("log.level: empty; write info, debug, warn or a tracing filter".to_owned());
        }
        contradictions::contradictions(self, &mut problems);
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
    fn kafka_secrets_written_inline_are_refused_and_never_shown() {
        let yaml = "
tenants:
  - id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-0000000000aa
    client_secret: {env: S}
kafka:
  bootstrap_servers: k:9093
  librdkafka:
    security.protocol: SASL_SSL
    sasl.username: entrastream
    sasl.password: hunter2
    ssl.key.password: {file: /run/secrets/key-password}
    sasl.oauthbearer.client.secret: also-hunter2
";
        let problems = problems_of(yaml);
        assert_eq!(
            problems,
            vec![
                "kafka.librdkafka.sasl.oauthbearer.client.secret: a secret written inline; write {env: \
                 VARIABLE} or {file: PATH} so that it stays out of the configuration file (and of a ConfigMap)",
                "kafka.librdkafka.sasl.password: a secret written inline; write {env: VARIABLE} or {file: \
                 PATH} so that it stays out of the configuration file (and of a ConfigMap)",
            ]
        );
        let parsed: Config = serde_yaml_ng::from_str(yaml).expect("parses");
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn semantic_problems_are_all_reported_with_their_key() {
        let yaml = "
tenants:
  - id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-0000000000c1
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
                "tenants[0].client_secret: required; write {env: VARIABLE} or {file: PATH} (or choose \
                 another mode under tenants[0].auth: certificate, workload_identity, managed_identity)",
                "tenants[0].streams: sign_ins_non_interactive needs api_version: beta (v1.0 offers only directory_audits, sign_ins_interactive and provisioning)",
                "tenants[0].streams: directory_audits is listed twice",
                "polling.initial_lookback: 45d is outside 0s..=30d (Graph keeps 30 days, 7 on Entra ID Free, \
                 and refuses an older start with 400 \"Invalid filter clause\")",
                "polling.page_size: 5000 is outside 1..=1000 (Graph's maximum is 1000, the best use of its budget)",
                "kafka.bootstrap_servers: empty; write host:port[,host:port...]",
                "kafka.topics.sign_ins: the dead-letter topic must be a topic of its own",
                "kafka.librdkafka.acks: set by entrastream and not overridable (at_least_once needs acks=all)",
            ]
        );
    }

    #[test]
    fn delivery_and_checkpoint_problems_name_the_key_and_the_fix() {
        let base = "
tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, client_secret: {env: S}}]
";
        let exactly_once_on_files = format!(
            "{base}kafka: {{bootstrap_servers: 'k:9092', delivery: exactly_once, instance_id: 'blue green', \
             librdkafka: {{transactional.id: x, isolation.level: read_uncommitted}}}}\n"
        );
        assert_eq!(
            problems_of(&exactly_once_on_files),
            vec![
                "kafka.librdkafka.transactional.id: set by entrastream and not overridable (it derives from \
                 kafka.instance_id (entrastream-{instance_id}) so that a restart fences its predecessor)",
                "kafka.librdkafka.isolation.level: set by entrastream and not overridable (checkpoints are always \
                 read with read_committed)",
                "kafka.instance_id: `blue green` must be 1-100 characters of a-z, A-Z, 0-9, '.', '_', '-'",
                "kafka.delivery: exactly_once commits each cursor in the same Kafka transaction as its records, so \
                 it needs checkpoint.store: kafka",
            ]
        );
        let bad_kafka_store = format!(
            "{base}kafka: {{bootstrap_servers: 'k:9092', transaction_timeout: 20m}}\ncheckpoint: {{store: kafka, \
             topic: entra.audit, topic_partitions: 0, replication_factor: 0, max_record_bytes: 1000}}\n"
        );
        assert_eq!(
            problems_of(&bad_kafka_store),
            vec![
                "kafka.transaction_timeout: 20m is outside 1s..=15m (15m is the broker's default \
                 transaction.max.timeout.ms)",
                "checkpoint.topic_partitions: 0 is outside 1..=1000",
                "checkpoint.replication_factor: 0 is outside 1..=16 (leave it out for the broker's default)",
                "checkpoint.max_record_bytes: 1000 is outside 1048576..=1000000000",
                "checkpoint.topic: `entra.audit` is also an event topic; checkpoints need a compacted topic of their own",
                "kafka.transaction_timeout: applies to kafka.delivery: exactly_once only, and delivery is \
                 at_least_once (the default); fix: set kafka.delivery: exactly_once, or remove \
                 kafka.transaction_timeout",
            ]
        );
        let small_queue = format!(
            "{base}kafka: {{bootstrap_servers: 'k:9092', librdkafka: {{queue.buffering.max.kbytes: '8192'}}}}\n\
             checkpoint: {{store: kafka}}\n"
        );
        assert_eq!(
            problems_of(&small_queue),
            vec![
                "kafka.librdkafka.queue.buffering.max.kbytes: 8192 KiB cannot hold a checkpoint of \
                 checkpoint.max_record_bytes (16777216 bytes); raise it to at least 16384, or lower \
                 checkpoint.max_record_bytes",
            ]
        );
        let queue_as_large = format!(
            "{base}kafka: {{bootstrap_servers: 'k:9092', librdkafka: {{queue.buffering.max.kbytes: '16384'}}}}\n\
             checkpoint: {{store: kafka}}\n"
        );
        Config::from_yaml(&queue_as_large, "test.yaml").expect("a queue as large as a checkpoint");
        let large_checkpoints = format!(
            "{base}kafka: {{bootstrap_servers: 'k:9092'}}\ncheckpoint: {{store: kafka, max_record_bytes: 100000000}}\n"
        );
        assert_eq!(
            problems_of(&large_checkpoints),
            vec![
                "kafka.librdkafka.queue.buffering.max.kbytes: 65536 KiB (the default) cannot hold a \
                 checkpoint of checkpoint.max_record_bytes (100000000 bytes); raise it to at least 97657, \
                 or lower checkpoint.max_record_bytes",
            ]
        );
        let good = format!(
            "{base}kafka: {{bootstrap_servers: 'k:9092', delivery: exactly_once, instance_id: prod-eu.1}}\n\
             checkpoint: {{store: kafka}}\n"
        );
        let config = Config::from_yaml(&good, "good").expect("valid");
        assert_eq!(config.checkpoint.topic, "entrastream.checkpoints");
        assert_eq!(config.kafka.transaction_timeout, Duration::from_secs(60));
    }
}
