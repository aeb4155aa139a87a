//! A faithful, adversarial stand-in for Microsoft Graph's audit logs and the identity platform's
//! token endpoint, for tests, the demo, benchmarks and users' own tests (`entrastream simulate`).
//!
//! It is an outside party: it shares no code with `graph/` (its own models, its own JSON), so that
//! a misreading of Graph cannot hide in both. Production modules never import it.
//!
//! - Records are derived from a seed on demand ([`generate`]), never stored: a tenant can be served
//!   for ever in bounded memory, and the ground truth ([`Simulator::truth`]) is always at hand.
//! - Each record has an event time and a later visibility time drawn from a long-tailed latency;
//!   queries return only visible records, on the [`Clock`] the test drives.
//! - Sign-ins come newest first, the others in no promised order; pages link with an absolute
//!   `@odata.nextLink` whose `$skiptoken` expires.
//! - Throttling (5 requests per 10 s per tenant and client), licence and permission refusals, and
//!   injected faults ([`config::FaultKind`]) reproduce Graph's bad days.

pub mod auth;
pub mod config;
mod faults;
pub mod filter;
pub mod generate;
mod hostile;
mod pools;
pub mod query;
pub mod render;
pub mod rng;
mod server;
pub mod stats;
pub mod tls;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{Clock, Timestamp};
use crate::graph::budget::SlidingWindow;
use crate::stream::StreamKind;
use auth::TokenAuthority;
use config::{FaultSpec, SimConfig, TenantSpec};
use generate::{MINUTE_MILLIS, TenantData, minute_records};
use query::SkipTokens;
use stats::Stats;

/// Shared state behind the HTTP handlers.
pub struct SimState {
    pub config: SimConfig,
    pub clock: Clock,
    pub data_start: Timestamp,
    tenants_by_index: RwLock<Vec<Arc<TenantData>>>,
    tenant_indexes: HashMap<String, usize>,
    base_url: RwLock<String>,
    authority: TokenAuthority,
    skip_tokens: SkipTokens,
    /// Requests in Graph's windows: per (tenant, client), and per client (the tenant `None`).
    throttles: Mutex<HashMap<(Option<String>, String), SlidingWindow>>,
    faults: RwLock<FaultSpec>,
    request_counters: Vec<AtomicU64>,
    /// Token requests per tenant (the numbering of `FaultSpec::token_scripted`).
    token_counters: Vec<AtomicU64>,
    gzip: std::sync::atomic::AtomicBool,
    pub stats: Stats,
}

/// The listener setup of a simulator.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub address: SocketAddr,
    /// Serve HTTPS with a certificate made at start-up.
    pub tls: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
        }
    }
}

/// A tenant's credentials as `entrastream simulate --credentials-out` writes them.
#[derive(Clone, Debug, Serialize)]
pub struct TenantCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Serialize)]
pub struct CredentialsFile {
    pub base_url: String,
    pub tenants: Vec<TenantCredentials>,
}

/// A running simulator.
pub struct Simulator {
    state: Arc<SimState>,
    ca_certificate_pem: Option<String>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl SimState {
    pub fn base_url(&self) -> String {
        self.base_url.read().clone()
    }

    fn tenants_now(&self) -> Vec<Arc<TenantData>> {
        self.tenants_by_index.read().clone()
    }

    fn tenant(&self, index: usize) -> Arc<TenantData> {
        self.tenants_by_index.read()[index].clone()
    }

    fn tenant_index(&self, tenant_id: &str) -> Option<usize> {
        self.tenant_indexes.get(tenant_id).copied()
    }

    fn config_gzip(&self) -> bool {
        self.gzip.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `Some(retry_after_seconds)` when the (tenant, client) or the client's budget is spent:
    /// at most `requests` in any `per`, as Graph counts them. A refused request counts in
    /// neither.
    fn throttle_check(&self, tenant_id: &str, client_id: &str, now: Timestamp) -> Option<u64> {
        let limits = [
            (Some(tenant_id.to_owned()), self.config.throttle),
            (None, self.config.app_throttle),
        ];
        let mut throttles = self.throttles.lock();
        let mut free_at = now;
        for (tenant, spec) in &limits {
            let Some(spec) = spec else { continue };
            let window = throttles
                .entry((tenant.clone(), client_id.to_owned()))
                .or_insert_with(|| {
                    SlidingWindow::new(spec.as_throttle(), std::time::Duration::ZERO)
                });
            free_at = free_at.max(window.free_at(now));
        }
        if free_at > now {
            let wait = free_at.duration_since(now);
            return Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        for (tenant, spec) in &limits {
            if spec.is_some()
                && let Some(window) = throttles.get_mut(&(tenant.clone(), client_id.to_owned()))
            {
                window.record(now);
            }
        }
        None
    }
}

impl Simulator {
    /// Starts on a free loopback port with plain HTTP.
    pub async fn start(config: SimConfig, clock: Clock) -> std::io::Result<Simulator> {
        Simulator::start_with(config, clock, ListenOptions::default()).await
    }

    pub async fn start_with(
        config: SimConfig,
        clock: Clock,
        options: ListenOptions,
    ) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(options.address).await?;
        let local_address = listener.local_addr()?;
        let tenants: Vec<Arc<TenantData>> = (0..config.total_tenants())
            .map(|index| Arc::new(TenantData::generate(&config, index)))
            .collect();
        let tenant_indexes = tenants
            .iter()
            .enumerate()
            .map(|(index, tenant)| (tenant.tenant_id.clone(), index))
            .collect();
        let data_start = clock.now().saturating_sub(config.history);
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| std::io::Error::other("no randomness available"))?;
        let tls = if options.tls {
            Some(tls::generate().map_err(std::io::Error::other)?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if tls.is_some() && local_address.ip().is_loopback() {
            "localhost".to_owned()
        } else {
            local_address.ip().to_string()
        };
        let base_url = format!("{scheme}://{host}:{}", local_address.port());
        let state = Arc::new(SimState {
            request_counters: tenants.iter().map(|_| AtomicU64::new(0)).collect(),
            token_counters: tenants.iter().map(|_| AtomicU64::new(0)).collect(),
            tenants_by_index: RwLock::new(tenants),
            tenant_indexes,
            base_url: RwLock::new(base_url),
            authority: TokenAuthority::new(config.seed),
            skip_tokens: SkipTokens::new(&secret),
            throttles: Mutex::new(HashMap::new()),
            faults: RwLock::new(config.faults.clone()),
            gzip: std::sync::atomic::AtomicBool::new(false),
            stats: Stats::default(),
            data_start,
            clock,
            config,
        });
        let (stop, stopped) = watch::channel(false);
        let router = server::router(state.clone());
        let ca_certificate_pem = tls.as_ref().map(|tls| tls.ca_certificate_pem.clone());
        let server = match tls {
            None => tokio::spawn(async move {
                let mut stopped = stopped;
                let shutdown = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(error) = axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::warn!(%error, "simulator server stopped");
                }
            }),
            Some(tls) => tokio::spawn(serve_tls(listener, router, tls.server_config, stopped)),
        };
        Ok(Simulator {
            state,
            ca_certificate_pem,
            stop,
            server,
        })
    }

    pub fn base_url(&self) -> String {
        self.state.base_url()
    }

    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The CA certificate (PEM) to trust when serving TLS.
    pub fn ca_certificate_pem(&self) -> Option<&str> {
        self.ca_certificate_pem.as_deref()
    }

    pub fn tenants(&self) -> Vec<Arc<TenantData>> {
        self.state.tenants_now()
    }

    pub fn credentials(&self) -> CredentialsFile {
        CredentialsFile {
            base_url: self.base_url(),
            tenants: self
                .tenants()
                .iter()
                .map(|tenant| TenantCredentials {
                    tenant_id: tenant.tenant_id.clone(),
                    client_id: tenant.client_id.clone(),
                    client_secret: tenant.client_secret.clone(),
                })
                .collect(),
        }
    }

    /// Data requests a tenant has made so far (the numbering scripted faults use).
    pub fn data_requests(&self, tenant_id: &str) -> u64 {
        self.state.tenant_index(tenant_id).map_or(0, |index| {
            self.state.request_counters[index].load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Token requests a tenant has made so far (the numbering token faults use).
    pub fn token_requests(&self, tenant_id: &str) -> u64 {
        self.state.tenant_index(tenant_id).map_or(0, |index| {
            self.state.token_counters[index].load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    pub fn stats(&self) -> &Stats {
        &self.state.stats
    }

    /// Replaces the fault plan; request numbering continues.
    pub fn set_faults(&self, faults: FaultSpec) {
        *self.state.faults.write() = faults;
    }

    /// Answers with gzip when the client asks for it (Graph does; off by default to keep the
    /// simulator cheap in benchmarks).
    pub fn set_gzip(&self, enabled: bool) {
        self.state
            .gzip
            .store(enabled, std::sync::atomic::Ordering::Relaxed);
    }

    /// Changes a tenant's licence, permission or secret state while running.
    pub fn update_tenant(&self, tenant_id: &str, change: impl FnOnce(&mut TenantSpec)) {
        let Some(index) = self.state.tenant_index(tenant_id) else {
            return;
        };
        let mut tenants = self.state.tenants_by_index.write();
        let mut tenant = (*tenants[index]).clone();
        change(&mut tenant.spec);
        tenants[index] = Arc::new(tenant);
    }

    /// Ground truth: the ids of a tenant's stream with an event time in `[from, to]` that Graph
    /// shows at `visible_by`.
    pub fn truth(
        &self,
        tenant_id: &str,
        stream: StreamKind,
        from: Timestamp,
        to: Timestamp,
        visible_by: Timestamp,
    ) -> BTreeSet<String> {
        let Some(index) = self.state.tenant_index(tenant_id) else {
            return BTreeSet::new();
        };
        let tenant = self.state.tenant(index);
        let lower = from.max(self.state.data_start);
        if lower > to {
            return BTreeSet::new();
        }
        let first_minute = lower.as_millis().div_euclid(MINUTE_MILLIS);
        let last_minute = to.as_millis().div_euclid(MINUTE_MILLIS);
        (first_minute..=last_minute)
            .flat_map(|minute| minute_records(&self.state.config, &tenant, stream, minute))
            .filter(|record| {
                record.event >= lower && record.event <= to && record.visible <= visible_by
            })
            .map(|record| record.id)
            .collect()
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

async fn serve_tls(
    listener: TcpListener,
    router: axum::Router,
    server_config: Arc<rustls::ServerConfig>,
    mut stopped: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let Ok(tls_stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls_stream), service)
                    .await;
        });
    }
}
