//! What a simulated Microsoft Graph looks like: tenants, volumes, latency, throttling, faults.
//!
//! Built in code by tests, or read from YAML by `entrastream simulate --config sim.yaml`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::config::duration;
use crate::stream::StreamKind;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every generated identity and record.
    pub seed: u64,
    /// Number of tenants; `tenants` overrides the first ones.
    pub tenant_count: usize,
    /// Per-tenant settings, by position.
    pub tenants: Vec<TenantSpec>,
    /// How far before the simulator's start its data begins.
    #[serde(with = "duration")]
    pub history: Duration,
    /// No record has an event time at or after this instant (tests use it to end the data).
    #[serde(skip)]
    pub data_end: Option<Timestamp>,
    /// Records per minute per stream, for every tenant without its own rates.
    pub rates: StreamRates,
    /// Delay between a record's event time and the moment Graph shows it.
    pub latency: StreamLatencies,
    /// Graph's throttle per (tenant, client); `null` switches throttling off.
    pub throttle: Option<ThrottleSpec>,
    /// Graph's throttle per client across all tenants (122 requests per 10 s); `null` switches
    /// it off.
    pub app_throttle: Option<ThrottleSpec>,
    /// Lifetime of a `$skiptoken` from the moment its page was served.
    #[serde(with = "duration")]
    pub skiptoken_ttl: Duration,
    /// Lifetime of issued access tokens.
    #[serde(with = "duration")]
    pub token_lifetime: Duration,
    /// Retention of every tenant without its own (30 days is Entra ID P1/P2).
    #[serde(with = "duration")]
    pub retention: Duration,
    /// Injected faults.
    pub faults: FaultSpec,
    /// Share of records with a quirk (null vs `{}`, unknown enum values, ...).
    pub quirk_rate: f64,
    /// Users per tenant.
    pub users_per_tenant: usize,
    /// The Graph resource whose `/.default` scope tokens are issued for.
    pub graph_resource: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            tenant_count: 1,
            tenants: Vec::new(),
            history: Duration::from_secs(24 * 3600),
            data_end: None,
            rates: StreamRates::default(),
            latency: StreamLatencies::default(),
            throttle: Some(ThrottleSpec::default()),
            app_throttle: Some(ThrottleSpec {
                requests: 122,
                per: Duration::from_secs(10),
            }),
            skiptoken_ttl: Duration::from_secs(600),
            token_lifetime: Duration::from_secs(3599),
            retention: Duration::from_secs(30 * 24 * 3600),
            faults: FaultSpec::default(),
            quirk_rate: 0.0,
            users_per_tenant: 200,
            graph_resource: "https://graph.microsoft.com".to_owned(),
        }
    }
}

impl SimConfig {
    pub fn tenant_spec(&self, index: usize) -> TenantSpec {
        self.tenants.get(index).cloned().unwrap_or_default()
    }

    pub fn total_tenants(&self) -> usize {
        self.tenant_count.max(self.tenants.len())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSpec {
    /// Fixed ids and secret instead of derived ones.
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// A tenant without Entra ID P1/P2 gets 403 on sign-ins.
    pub unlicensed: bool,
    /// The application lacks `AuditLog.Read.All`.
    pub missing_permission: bool,
    /// The client secret has expired (AADSTS7000222).
    pub secret_expired: bool,
    /// Retention of this tenant (7 days on Entra ID Free).
    #[serde(with = "duration::option")]
    pub retention: Option<Duration>,
    /// Records per minute of this tenant.
    pub rates: Option<StreamRates>,
    /// Certificates whose private key may sign client assertions (PEM).
    pub certificates: Vec<String>,
    /// Federated identity credentials of the application (workload identity).
    pub federated_credentials: Vec<FederatedCredential>,
    /// The application is also the managed identity of the host: the simulator's instance
    /// metadata endpoint issues tokens for it.
    pub managed_identity: bool,
    /// Graph beta does not serve this tenant's audit logs (as in some national clouds): 404.
    pub beta_unavailable: bool,
}

/// A trusted external issuer, as on the app registration's "Federated credentials" page.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// The issuer (`iss`) of the external tokens, e.g. the AKS cluster's OIDC issuer URL.
    pub issuer: String,
    /// The subject (`sub`), e.g. `system:serviceaccount:security:entrastream`.
    pub subject: String,
    /// The issuer's RSA public key (PEM) that signs those tokens (the simulator does not fetch JWKS).
    pub public_key_pem: String,
}

/// Records per minute of each stream.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StreamRates {
    pub directory_audits: f64,
    pub sign_ins_interactive: f64,
    pub sign_ins_non_interactive: f64,
    pub sign_ins_service_principal: f64,
    pub sign_ins_managed_identity: f64,
    pub provisioning: f64,
}

impl Default for StreamRates {
    fn default() -> Self {
        StreamRates {
            directory_audits: 20.0,
            sign_ins_interactive: 60.0,
            sign_ins_non_interactive: 300.0,
            sign_ins_service_principal: 30.0,
            sign_ins_managed_identity: 20.0,
            provisioning: 10.0,
        }
    }
}

impl StreamRates {
    pub fn uniform(per_minute: f64) -> Self {
        StreamRates {
            directory_audits: per_minute,
            sign_ins_interactive: per_minute,
            sign_ins_non_interactive: per_minute,
            sign_ins_service_principal: per_minute,
            sign_ins_managed_identity: per_minute,
            provisioning: per_minute,
        }
    }

    pub fn get(&self, stream: StreamKind) -> f64 {
        match stream {
            StreamKind::DirectoryAudits => self.directory_audits,
            StreamKind::SignInsInteractive => self.sign_ins_interactive,
            StreamKind::SignInsNonInteractive => self.sign_ins_non_interactive,
            StreamKind::SignInsServicePrincipal => self.sign_ins_service_principal,
            StreamKind::SignInsManagedIdentity => self.sign_ins_managed_identity,
            StreamKind::Provisioning => self.provisioning,
        }
    }
}

/// A long-tailed (log-normal) latency: half the records are later than `median`, one in a hundred
/// later than `p99`, none later than `max`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    #[serde(with = "duration")]
    pub median: Duration,
    #[serde(with = "duration")]
    pub p99: Duration,
    #[serde(with = "duration")]
    pub max: Duration,
}

impl Latency {
    pub const fn minutes(median: u64, p99: u64, max: u64) -> Self {
        Latency {
            median: Duration::from_secs(median * 60),
            p99: Duration::from_secs(p99 * 60),
            max: Duration::from_secs(max * 60),
        }
    }

    pub const ZERO: Latency = Latency {
        median: Duration::ZERO,
        p99: Duration::ZERO,
        max: Duration::ZERO,
    };
}

/// Latency per stream; non-interactive sign-ins arrive the latest, as observed in real tenants.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StreamLatencies {
    pub directory_audits: Latency,
    pub sign_ins_interactive: Latency,
    pub sign_ins_non_interactive: Latency,
    pub sign_ins_service_principal: Latency,
    pub sign_ins_managed_identity: Latency,
    pub provisioning: Latency,
}

impl Default for StreamLatencies {
    fn default() -> Self {
        StreamLatencies {
            directory_audits: Latency::minutes(2, 20, 120),
            sign_ins_interactive: Latency::minutes(4, 30, 120),
            sign_ins_non_interactive: Latency::minutes(12, 60, 180),
            sign_ins_service_principal: Latency::minutes(5, 30, 120),
            sign_ins_managed_identity: Latency::minutes(5, 30, 120),
            provisioning: Latency::minutes(5, 40, 120),
        }
    }
}

impl StreamLatencies {
    pub fn uniform(latency: Latency) -> Self {
        StreamLatencies {
            directory_audits: latency,
            sign_ins_interactive: latency,
            sign_ins_non_interactive: latency,
            sign_ins_service_principal: latency,
            sign_ins_managed_identity: latency,
            provisioning: latency,
        }
    }

    pub fn get(&self, stream: StreamKind) -> Latency {
        match stream {
            StreamKind::DirectoryAudits => self.directory_audits,
            StreamKind::SignInsInteractive => self.sign_ins_interactive,
            StreamKind::SignInsNonInteractive => self.sign_ins_non_interactive,
            StreamKind::SignInsServicePrincipal => self.sign_ins_service_principal,
            StreamKind::SignInsManagedIdentity => self.sign_ins_managed_identity,
            StreamKind::Provisioning => self.provisioning,
        }
    }
}

/// Graph's documented budget for identity and access reports: 5 requests per 10 seconds per
/// application per tenant.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    pub requests: u32,
    #[serde(with = "duration")]
    pub per: Duration,
}

impl ThrottleSpec {
    pub fn as_throttle(&self) -> crate::config::ThrottleConfig {
        crate::config::ThrottleConfig {
            requests: self.requests,
            per: self.per,
        }
    }
}

impl Default for ThrottleSpec {
    fn default() -> Self {
        ThrottleSpec {
            requests: 5,
            per: Duration::from_secs(10),
        }
    }
}

/// The kinds of misbehaviour the simulator can inject into Graph data requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Http500,
    Http502,
    Http503,
    Http504,
    /// The connection drops after part of the body was sent.
    ConnectionReset,
    /// A complete response whose JSON body is cut short.
    TruncatedJson,
    /// The response starts only after `slow_response_delay` (real time).
    SlowResponse,
    /// A page with no records that still carries a nextLink.
    EmptyPage,
    /// A nextLink request is refused as if its skip token had expired.
    SkiptokenExpired,
    /// A record is served twice (within a page or on the next page).
    DuplicateRecord,
    /// 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant` on a licensed tenant's sign-ins.
    Licence403,
    /// 429 with `Retry-After`, whatever the throttle budget says.
    Throttle429,
    /// 401 `InvalidAuthenticationToken` although the token is valid (a revoked session).
    Unauthorized401,
    /// A hostile upstream: the page's first record carries an extra property that makes it
    /// `oversized_record_bytes` long (not in `ALL`: Graph itself never does this).
    OversizedRecord,
    /// A hostile upstream (not in `ALL`, nor the rest): a 200 with `Content-Encoding: gzip` whose
    /// small body inflates to `gzip_bomb_bytes`.
    GzipBomb,
    /// A 200 whose chunked body never ends: a KiB every `endless_body_interval` (real time).
    EndlessBody,
    /// A 200 announcing a `Content-Length` of `oversized_body_bytes`, sent as it is read.
    OversizedBody,
    /// A 307 to `redirect_target` (another origin), the request's path and query kept.
    RedirectForeign,
    /// A 401 whose body echoes the credentials of the request: Graph the bearer token; the token
    /// endpoint the client secret, the client assertion and the whole form body.
    EchoSecret,
}

impl FaultKind {
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Http500,
        FaultKind::Http502,
        FaultKind::Http503,
        FaultKind::Http504,
        FaultKind::ConnectionReset,
        FaultKind::TruncatedJson,
        FaultKind::SlowResponse,
        FaultKind::EmptyPage,
        FaultKind::SkiptokenExpired,
        FaultKind::DuplicateRecord,
        FaultKind::Licence403,
        FaultKind::Throttle429,
        FaultKind::Unauthorized401,
    ];
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSpec {
    /// Probability per data request of each fault kind.
    pub rates: Vec<FaultRate>,
    /// Faults at fixed request numbers (1-based, counted per tenant, data requests only).
    pub scripted: Vec<ScriptedFault>,
    /// How long a slow response waits before it starts (real time).
    #[serde(with = "duration")]
    pub slow_response_delay: Duration,
    /// `Retry-After` of injected 429s.
    #[serde(with = "duration")]
    pub injected_retry_after: Duration,
    /// How long `oversized_record` makes a record, in bytes.
    pub oversized_record_bytes: usize,
    /// How large `gzip_bomb` inflates, in bytes (its compressed body is about a thousandth).
    pub gzip_bomb_bytes: u64,
    /// The `Content-Length` of `oversized_body`.
    pub oversized_body_bytes: u64,
    /// How often `endless_body` sends its next KiB (real time).
    #[serde(with = "duration")]
    pub endless_body_interval: Duration,
    /// The base URL `redirect_foreign` redirects to (another origin; the path and query follow).
    pub redirect_target: String,
    /// Faults of token requests (the token endpoint, and the managed-identity endpoint) at fixed
    /// request numbers, counted per tenant: `gzip_bomb`, `endless_body`, `oversized_body`,
    /// `redirect_foreign`, `echo_secret`.
    pub token_scripted: Vec<ScriptedFault>,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            rates: Vec::new(),
            scripted: Vec::new(),
            slow_response_delay: Duration::from_secs(90),
            injected_retry_after: Duration::from_secs(7),
            oversized_record_bytes: 1_200_000,
            gzip_bomb_bytes: 4 << 30,
            oversized_body_bytes: 2 << 30,
            endless_body_interval: Duration::from_millis(50),
            redirect_target: "https://graph.example.net".to_owned(),
            token_scripted: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultRate {
    pub kind: FaultKind,
    pub probability: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFault {
    /// The tenant's n-th data request (1-based).
    pub at_request: u64,
    pub kind: FaultKind,
    /// Tenant id; all tenants when absent.
    #[serde(default)]
    pub tenant: Option<String>,
}
