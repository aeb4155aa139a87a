//! Access tokens for Graph: the client-credentials flow of the Microsoft identity platform, with
//! a per-tenant cache that refreshes ahead of expiry and once more after a 401.

mod credential;
mod provider;

use std::fmt;

pub use credential::{CertificateKey, Credential};
pub use provider::{AccessToken, TokenOrigin, TokenProvider};

/// Why no token could be obtained. Messages name the tenant, the credential mode and the fix;
/// they never contain a secret or a token.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthError {
    /// The identity platform refused the request (a configuration or credential problem).
    Rejected {
        tenant: String,
        mode: &'static str,
        status: u16,
        error: String,
        codes: Vec<u32>,
        description: String,
    },
    /// The identity platform is unreachable or failing; tried again with backoff.
    Unavailable { tenant: String, detail: String },
    /// The credential cannot be used here (an unreadable federated token file, a key that cannot
    /// sign); `detail` names the fix.
    Unusable {
        tenant: String,
        mode: &'static str,
        detail: String,
    },
    /// The token (or managed-identity) endpoint's answer is larger than
    /// `polling.max_token_response_bytes` (`limit`), decompressed: announced (`declared`) or
    /// counted; it is cut off there, and the token is asked again with backoff.
    Oversized {
        tenant: String,
        limit: u64,
        declared: Option<u64>,
    },
    /// The endpoint answered with a redirect (`status`) to `location` (its origin): never
    /// followed, so that the secret or assertion is not sent there.
    Redirected {
        tenant: String,
        mode: &'static str,
        status: u16,
        location: String,
    },
}

impl AuthError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AuthError::Unavailable { .. } | AuthError::Oversized { .. }
        )
    }

    /// The first AADSTS code of a refusal.
    pub fn code(&self) -> Option<u32> {
        match self {
            AuthError::Rejected { codes, .. } => codes.first().copied(),
            _ => None,
        }
    }

    /// The `outcome` label of `entrastream_token_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            AuthError::Oversized { .. } => "oversized",
            AuthError::Redirected { .. } => "redirect",
            _ => "failure",
        }
    }

    /// The refusal in entrastream's words, without the endpoint's text: the mode, the status and
    /// the AADSTS code (for `/readyz`).
    pub fn summary(&self) -> String {
        match self {
            AuthError::Rejected {
                mode,
                status,
                codes,
                ..
            } => {
                let code = codes
                    .first()
                    .map(|code| format!(" AADSTS{code}"))
                    .unwrap_or_default();
                format!("the token request ({mode}) was refused with {status}{code}")
            }
            AuthError::Unavailable { .. } => "the token endpoint is unavailable".to_owned(),
            AuthError::Unusable { mode, .. } => format!("the {mode} credential cannot be used"),
            AuthError::Oversized { .. } => {
                "the token endpoint's response is larger than polling.max_token_response_bytes"
                    .to_owned()
            }
            AuthError::Redirected { status, .. } => {
                format!("the token endpoint answered {status} with a redirect, not followed")
            }
        }
    }

    pub fn fix(&self) -> Option<&'static str> {
        if let AuthError::Redirected { .. } = self {
            return Some(
                "set endpoints.login to the identity platform's own URL (or leave it out for the \
                 cloud's), or to a proxy that forwards token requests instead of redirecting them",
            );
        }
        let AuthError::Rejected { codes, error, .. } = self else {
            return None;
        };
        let hint = match codes.first() {
            Some(7000215) => {
                "the client secret is wrong: configure the secret's Value (not its Secret ID) from the \
                 app registration's Certificates & secrets page"
            }
            Some(7000222) => {
                "the client secret has expired: create a new secret in the app registration and update \
                 the configured secret"
            }
            Some(700016) => {
                "the application (client) id is unknown in this tenant: check client_id, or have an \
                 administrator of the tenant consent to the application"
            }
            Some(90002) | Some(900023) => {
                "the tenant was not found: check the tenant id and that `cloud` names the cloud the \
                 tenant lives in"
            }
            Some(70011) | Some(1002012) => {
                "the token scope is not valid for this cloud: check the tenant's `cloud`"
            }
            Some(65001) => {
                "admin consent is missing: grant admin consent for the application's API permissions"
            }
            Some(700027) | Some(700021) | Some(700023) | Some(700024) => {
                "the client assertion was refused: check the certificate registered on the app and the \
                 machine's clock"
            }
            Some(700213) | Some(70021) | Some(700212) => {
                "the federated token matches no federated credential of the app: add one with the \
                 cluster's OIDC issuer and subject system:serviceaccount:<namespace>:<service account>"
            }
            Some(7000218) => "no credential was sent: configure client_secret for this tenant",
            _ if error == "invalid_client" => {
                "the credential was refused: check client_id and the secret"
            }
            _ => "check the tenant id, the client id and the credential",
        };
        Some(hint)
    }
}

impl AuthError {
    /// The error without its fix, for callers that show the fix beside it (the stream's log line,
    /// `check`'s findings).
    pub fn message(&self) -> String {
        Message(self).to_string()
    }
}

/// The message and then its fix.
impl fmt::Display for AuthError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", Message(self))?;
        if let Some(fix) = self.fix() {
            write!(formatter, "; fix: {fix}")?;
        }
        Ok(())
    }
}

/// An error's message, without its fix.
struct Message<'a>(&'a AuthError);

impl fmt::Display for Message<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            AuthError::Rejected {
                tenant,
                mode,
                status,
                error,
                codes,
                description,
            } => {
                let code = codes
                    .first()
                    .map(|code| format!("AADSTS{code} "))
                    .unwrap_or_default();
                // the description's first line; the rest holds trace ids and a timestamp
                let first_line = description.split(['\r', '\n']).next().unwrap_or_default();
                write!(
                    formatter,
                    "tenant {tenant}: the token request ({mode}) was refused with {status} {code}{error}: {first_line}"
                )
            }
            AuthError::Unavailable { tenant, detail } => {
                write!(
                    formatter,
                    "tenant {tenant}: the token endpoint is unavailable: {detail}"
                )
            }
            AuthError::Unusable {
                tenant,
                mode,
                detail,
            } => write!(
                formatter,
                "tenant {tenant}: the {mode} credential cannot be used: {detail}"
            ),
            AuthError::Oversized {
                tenant,
                limit,
                declared: Some(declared),
            } => write!(
                formatter,
                "tenant {tenant}: the token endpoint announced a response of {declared} bytes, more \
                 than polling.max_token_response_bytes ({limit}); it is not read, and the token is \
                 asked again"
            ),
            AuthError::Oversized {
                tenant,
                limit,
                declared: None,
            } => write!(
                formatter,
                "tenant {tenant}: the token endpoint's response is larger than \
                 polling.max_token_response_bytes ({limit} bytes, counted after decompression); it \
                 is cut off there, and the token is asked again"
            ),
            AuthError::Redirected {
                tenant,
                mode,
                status,
                location,
            } => write!(
                formatter,
                "tenant {tenant}: the token endpoint answered {status} with a redirect to \
                 {location}; token requests never follow redirects, so the {mode} credential was \
                 not sent there"
            ),
        }
    }
}

impl std::error::Error for AuthError {}

/// An error and its sources on one line, for transport errors whose top level says little.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
