//! One tenant's token: fetched with client credentials, cached, refreshed ahead of expiry.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;

use super::{AuthError, error_chain};
use crate::clock::{Clock, Timestamp};
use crate::config::Secret;
use crate::graph::cloud::CloudEndpoints;

/// A bearer token and when it stops being valid.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub value: Secret,
    pub expires_at: Timestamp,
    /// The lifetime the token was issued with.
    pub lifetime: Duration,
}

/// Fetches and caches the tenant's Graph token. Concurrent callers share one request.
pub struct TokenProvider {
    tenant_id: String,
    client_id: String,
    client_secret: Secret,
    endpoints: CloudEndpoints,
    http: reqwest::Client,
    clock: Clock,
    cached: Mutex<Option<AccessToken>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct TokenErrorResponse {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// What a fetch did, for the caller's metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenOrigin {
    Cache,
    Fetched,
}

impl TokenProvider {
    pub fn new(
        tenant_id: String,
        client_id: String,
        client_secret: Secret,
        endpoints: CloudEndpoints,
        http: reqwest::Client,
        clock: Clock,
    ) -> Self {
        TokenProvider {
            tenant_id,
            client_id,
            client_secret,
            endpoints,
            http,
            clock,
            cached: Mutex::new(None),
        }
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// A token valid for a while yet; fetched when the cached one is close to expiry.
    pub async fn token(&self) -> Result<(AccessToken, TokenOrigin), AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && self.is_fresh(token)
        {
            return Ok((token.clone(), TokenOrigin::Cache));
        }
        let token = self.fetch().await?;
        *cached = Some(token.clone());
        Ok((token, TokenOrigin::Fetched))
    }

    /// After Graph answered 401 to `rejected`: drops it, so the next `token()` fetches anew
    /// (unless another task already replaced it).
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|token| token.value.expose() == rejected.value.expose())
        {
            *cached = None;
        }
    }

    /// Refreshed ahead of expiry: in its last five minutes, or its last fifth when shorter-lived.
    fn is_fresh(&self, token: &AccessToken) -> bool {
        let remaining = token.expires_at.duration_since(self.clock.now());
        remaining > Duration::from_secs(300).min(token.lifetime / 5)
    }

    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let unavailable = |detail: String| AuthError::Unavailable {
            tenant: self.tenant_id.clone(),
            detail,
        };
        let scope = self.endpoints.scope();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", scope.as_str()),
        ];
        let requested_at = self.clock.now();
        let response = self
            .http
            .post(self.endpoints.token_url(&self.tenant_id))
            .form(&form)
            .send()
            .await
            .map_err(|error| unavailable(error_chain(&error)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| unavailable(error_chain(&error)))?;
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_slice(&body)
                .map_err(|error| unavailable(format!("unreadable token response: {error}")))?;
            return Ok(AccessToken {
                value: Secret::new(parsed.access_token),
                expires_at: requested_at.saturating_add(Duration::from_secs(parsed.expires_in)),
                lifetime: Duration::from_secs(parsed.expires_in),
            });
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(unavailable(format!("HTTP {}", status.as_u16())));
        }
        let parsed: TokenErrorResponse = serde_json::from_slice(&body).unwrap_or_default();
        Err(AuthError::Rejected {
            tenant: self.tenant_id.clone(),
            mode: "client_secret",
            status: status.as_u16(),
            error: parsed.error,
            codes: parsed.error_codes,
            description: parsed.error_description,
        })
    }
}
