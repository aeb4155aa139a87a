//! One tenant's token: fetched with client credentials (a secret, a certificate's assertion or a
//! federated token) or from a managed identity, cached, refreshed ahead of expiry.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;

use super::credential::Credential;
use super::{AuthError, error_chain};
use crate::clock::{Clock, Timestamp};
use crate::config::{PollingConfig, Secret, TenantId};
use crate::graph::cloud::CloudEndpoints;
use crate::upstream::body::{self, BodyError, BodyLimit};
use crate::upstream::redact::redact;

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
    tenant_id: TenantId,
    client_id: String,
    credential: Credential,
    endpoints: CloudEndpoints,
    http: reqwest::Client,
    clock: Clock,
    cached: Mutex<Option<AccessToken>>,
    /// How much of the endpoint's answer is read, and for how long.
    response_limit: BodyLimit,
}

/// How much of a token or managed-identity response is read (`polling.max_token_response_bytes`),
/// and for how long (`polling.request_timeout`).
pub fn token_response_limit(polling: &PollingConfig) -> BodyLimit {
    BodyLimit {
        max_bytes: polling.max_token_response_bytes,
        key: "polling.max_token_response_bytes",
        timeout: polling.request_timeout,
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// A number from the identity platform, a string from the instance metadata service.
    #[serde(deserialize_with = "number_or_string")]
    expires_in: u64,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(u64),
        Text(String),
    }
    match Value::deserialize(deserializer)? {
        Value::Number(number) => Ok(number),
        Value::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
        tenant_id: TenantId,
        client_id: String,
        credential: Credential,
        endpoints: CloudEndpoints,
        http: reqwest::Client,
        clock: Clock,
    ) -> Self {
        TokenProvider {
            tenant_id,
            client_id,
            credential,
            endpoints,
            http,
            clock,
            cached: Mutex::new(None),
            response_limit: token_response_limit(&PollingConfig::default()),
        }
    }

    /// The provider with `polling`'s limits on the endpoint's answers (the defaults otherwise).
    pub fn limited_by(mut self, polling: &PollingConfig) -> Self {
        self.response_limit = token_response_limit(polling);
        self
    }

    /// The provider of a configured tenant: its cloud's hosts, its `endpoints` overrides, and for
    /// workload identity the authority host the AKS webhook names (`AZURE_AUTHORITY_HOST`).
    pub fn for_tenant(
        tenant_id: TenantId,
        tenant: &crate::config::TenantConfig,
        credential: Credential,
        http: reqwest::Client,
        clock: Clock,
    ) -> Self {
        let mut endpoints = CloudEndpoints::resolve(tenant.cloud, tenant.endpoints.as_ref());
        if matches!(credential, Credential::WorkloadIdentity { .. })
            && tenant
                .endpoints
                .as_ref()
                .is_none_or(|given| given.login.is_none())
            && let Ok(authority) = std::env::var("AZURE_AUTHORITY_HOST")
            && !authority.trim().is_empty()
        {
            endpoints.login_base = authority.trim().trim_end_matches('/').to_owned();
        }
        TokenProvider::new(
            tenant_id,
            tenant.client_id.clone(),
            credential,
            endpoints,
            http,
            clock,
        )
    }

    /// The login and Graph hosts this tenant is reached at.
    pub fn endpoints(&self) -> &CloudEndpoints {
        &self.endpoints
    }

    pub fn tenant_id(&self) -> &str {
        self.tenant_id.as_str()
    }

    /// The authentication mode, for messages.
    pub fn mode(&self) -> &'static str {
        self.credential.mode()
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
            tenant: self.tenant_id.to_string(),
            detail,
        };
        let scope = self.endpoints.scope();
        let token_url = self.endpoints.token_url(&self.tenant_id);
        let requested_at = self.clock.now();
        let request = match &self.credential {
            Credential::Secret(secret) => self.http.post(&token_url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", secret.expose()),
                ("scope", scope.as_str()),
            ]),
            Credential::Certificate(certificate) => {
                let assertion = certificate
                    .assertion(
                        &self.client_id,
                        &token_url,
                        requested_at.as_millis().div_euclid(1000),
                    )
                    .map_err(|detail| self.local_failure(detail))?;
                self.assertion_request(&token_url, &scope, &assertion)
            }
            Credential::WorkloadIdentity {
                token_file,
                token_file_key,
            } => {
                // the kubelet rotates the file: read it for every request
                let assertion = crate::files::read_text_limited(
                    token_file_key,
                    "the federated token file",
                    token_file,
                    crate::files::CREDENTIAL_FILE_LIMIT,
                )
                .map_err(|error| {
                    let hint = match error.problem {
                        crate::files::FileProblem::Unreadable(_) => {
                            "; is the pod labelled azure.workload.identity/use: \"true\"?"
                        }
                        crate::files::FileProblem::TooLarge { .. } => "",
                    };
                    self.local_failure(format!("{error}{hint}"))
                })?;
                self.assertion_request(&token_url, &scope, assertion.trim())
            }
            Credential::ManagedIdentity {
                client_id,
                endpoint,
            } => {
                let mut query = vec![
                    ("api-version", "2018-02-01"),
                    ("resource", self.endpoints.graph_resource.as_str()),
                ];
                if let Some(client_id) = client_id {
                    query.push(("client_id", client_id.as_str()));
                }
                let url = url::Url::parse_with_params(endpoint, &query).map_err(|error| {
                    self.local_failure(format!(
                        "the managed identity endpoint {endpoint} is not a URL: {error}"
                    ))
                })?;
                self.http.get(url).header("Metadata", "true")
            }
        };
        let sent = tokio::time::Instant::now();
        let response = tokio::time::timeout_at(sent + self.response_limit.timeout, request.send())
            .await
            .map_err(|_| {
                unavailable(
                    BodyError::Deadline {
                        timeout: self.response_limit.timeout,
                    }
                    .to_string(),
                )
            })?
            .map_err(|error| unavailable(error_chain(&error)))?;
        self.answer(response, sent, &token_url, requested_at).await
    }

    /// The token in the endpoint's answer, or why there is none. A redirect is never followed
    /// (the secret or assertion would go with it); the body is read within its limit; what of an
    /// error body reaches the error is redacted.
    async fn answer(
        &self,
        response: reqwest::Response,
        sent: tokio::time::Instant,
        token_url: &str,
        requested_at: Timestamp,
    ) -> Result<AccessToken, AuthError> {
        let tenant = || self.tenant_id.to_string();
        let unavailable = |detail: String| AuthError::Unavailable {
            tenant: tenant(),
            detail,
        };
        let status = response.status();
        if status.is_redirection() {
            return Err(AuthError::Redirected {
                tenant: tenant(),
                mode: self.credential.mode(),
                status: status.as_u16(),
                location: redirect_origin(token_url, response.headers()),
            });
        }
        let body = body::read(response, self.response_limit, sent)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge {
                    limit, declared, ..
                } => AuthError::Oversized {
                    tenant: tenant(),
                    limit,
                    declared,
                },
                BodyError::Deadline { .. } => unavailable(error.to_string()),
                BodyError::Broken(broken) => unavailable(error_chain(&broken)),
            })?;
        // what the endpoint could echo back: the client secret (assertions and tokens are JWTs,
        // which redaction finds by their shape)
        let sent_secrets: Vec<&str> = match &self.credential {
            Credential::Secret(secret) => vec![secret.expose()],
            _ => Vec::new(),
        };
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|error| {
                unavailable(format!(
                    "unreadable token response: {}",
                    redact(&error.to_string(), &sent_secrets)
                ))
            })?;
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
        // the description's first line; the rest holds trace ids and a timestamp
        let first_line = parsed
            .error_description
            .split(['\r', '\n'])
            .next()
            .unwrap_or_default();
        Err(AuthError::Rejected {
            tenant: tenant(),
            mode: self.credential.mode(),
            status: status.as_u16(),
            error: redact(&parsed.error, &sent_secrets),
            codes: parsed.error_codes,
            description: redact(first_line, &sent_secrets),
        })
    }

    fn assertion_request(
        &self,
        token_url: &str,
        scope: &str,
        assertion: &str,
    ) -> reqwest::RequestBuilder {
        self.http.post(token_url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("scope", scope),
        ])
    }

    /// A failure before any request: the credential itself is unusable here.
    fn local_failure(&self, detail: String) -> AuthError {
        AuthError::Unusable {
            tenant: self.tenant_id.to_string(),
            mode: self.credential.mode(),
            detail,
        }
    }
}

/// The origin a redirect from `from` points to (or its `Location`, redacted, when that is not a
/// URL), for the message.
fn redirect_origin(from: &str, headers: &reqwest::header::HeaderMap) -> String {
    let Some(location) = headers
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
    else {
        return "nowhere (no Location header)".to_owned();
    };
    match url::Url::parse(from).and_then(|from| from.join(location)) {
        Ok(target) => redact(&target.origin().ascii_serialization(), &[]),
        Err(_) => format!("`{}`", redact(location, &[])),
    }
}
