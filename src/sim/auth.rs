//! The Microsoft identity platform's token endpoint for client credentials, and validation of the
//! access tokens it issues when they come back to Graph.
//!
//! Errors carry the `error`/`error_description`/`error_codes` body and AADSTS codes the real service
//! returns (learn.microsoft.com, "Microsoft Entra authentication and authorization error codes").

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::Mutex;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use super::generate::TenantData;
use super::rng::SimRng;
use crate::clock::Timestamp;

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const AUDIT_LOG_ROLE: &str = "AuditLog.Read.All";

/// Claims of the access tokens the simulator issues (a subset of Entra's v1 access token).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub tid: String,
    pub roles: Vec<String>,
    pub uti: String,
}

/// A token endpoint refusal: HTTP status and the identity platform's JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl TokenError {
    fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        TokenError {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    /// The JSON body, with trace and correlation ids and a timestamp as Entra sends them.
    pub fn body(&self, now: Timestamp, trace_id: &str) -> String {
        let timestamp = now.to_rfc3339_seconds().replace('T', " ");
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {trace_id}\r\nTimestamp: {timestamp}",
            self.code, self.description
        );
        serde_json::json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": trace_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
        .to_string()
    }
}

/// Signs and checks access tokens; remembers client assertion ids until they expire.
pub struct TokenAuthority {
    signing_key: Vec<u8>,
    used_assertion_ids: Mutex<HashMap<String, i64>>,
}

/// What a valid access token says about its bearer.
#[derive(Clone, Debug)]
pub struct Bearer {
    pub tenant_id: String,
    pub client_id: String,
    pub roles: Vec<String>,
}

/// Why Graph refuses a bearer token (401 `InvalidAuthenticationToken`).
#[derive(Clone, Debug, PartialEq)]
pub struct BearerError(pub String);

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    aud: Option<serde_json::Value>,
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// The parts of a token request the simulator reads.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

impl TokenAuthority {
    pub fn new(seed: u64) -> Self {
        let mut rng = SimRng::new(&[seed, 0x70_6b, fastrand::u64(..)]);
        let signing_key = (0..4).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
        TokenAuthority {
            signing_key,
            used_assertion_ids: Mutex::new(HashMap::new()),
        }
    }

    /// Handles `POST /{tenant}/oauth2/v2.0/token` for client credentials.
    #[allow(clippy::too_many_arguments)]
    pub fn token(
        &self,
        tenants: &[std::sync::Arc<TenantData>],
        tenant_in_path: &str,
        request: &TokenRequest,
        graph_resource: &str,
        accepted_audiences: &[String],
        lifetime: Duration,
        now: Timestamp,
    ) -> Result<IssuedToken, TokenError> {
        let Some(tenant) = tenants
            .iter()
            .find(|tenant| tenant.tenant_id == tenant_in_path || tenant.domain == tenant_in_path)
        else {
            return Err(TokenError::new(
                400,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant_in_path}' not found. Check to make sure you have the correct \
                     tenant ID and are signing into the correct cloud. Check with your subscription \
                     administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            ));
        };
        if request.grant_type.as_deref() != Some("client_credentials") {
            return Err(TokenError::new(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            ));
        }
        let client_id = request.client_id.as_deref().unwrap_or_default();
        if client_id != tenant.client_id {
            return Err(TokenError::new(
                400,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory \
                     '{}'. This can happen if the application has not been installed by the \
                     administrator of the tenant or consented to by any user in the tenant.",
                    tenant.display_name
                ),
            ));
        }
        let expected_scope = format!("{}/.default", graph_resource.trim_end_matches('/'));
        if request.scope.as_deref() != Some(expected_scope.as_str()) {
            return Err(TokenError::new(
                400,
                "invalid_scope",
                70011,
                format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {} \
                     is not valid. The .default scope of {graph_resource} is expected.",
                    request.scope.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        match (&request.client_secret, &request.client_assertion) {
            (Some(secret), _) => {
                if secret != &tenant.client_secret {
                    return Err(TokenError::new(
                        401,
                        "invalid_client",
                        7000215,
                        format!(
                            "Invalid client secret provided. Ensure the secret being sent in the \
                             request is the client secret value, not the client secret ID, for a \
                             secret added to app '{client_id}'."
                        ),
                    ));
                }
                if tenant.spec.secret_expired {
                    return Err(TokenError::new(
                        401,
                        "invalid_client",
                        7000222,
                        format!(
                            "The provided client secret keys for app '{client_id}' are expired."
                        ),
                    ));
                }
            }
            (None, Some(assertion)) => {
                if request.client_assertion_type.as_deref() != Some(CLIENT_ASSERTION_TYPE) {
                    return Err(TokenError::new(
                        400,
                        "invalid_request",
                        50027,
                        "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                    ));
                }
                self.verify_assertion(tenant, client_id, assertion, accepted_audiences, now)?;
            }
            (None, None) => {
                return Err(TokenError::new(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ));
            }
        }
        self.issue(tenant, client_id, graph_resource, lifetime, now)
    }

    /// `GET /metadata/identity/oauth2/token`: the managed identity of the host, as the instance
    /// metadata service issues it (`client_id` picks a user-assigned identity).
    pub fn managed_identity_token(
        &self,
        tenants: &[std::sync::Arc<TenantData>],
        client_id: Option<&str>,
        resource: Option<&str>,
        graph_resource: &str,
        lifetime: Duration,
        now: Timestamp,
    ) -> Result<IssuedToken, TokenError> {
        let identity = tenants.iter().find(|tenant| {
            tenant.spec.managed_identity
                && client_id.is_none_or(|wanted| wanted == tenant.client_id)
        });
        let Some(identity) = identity else {
            return Err(TokenError::new(
                400,
                "invalid_request",
                0,
                "Identity not found",
            ));
        };
        let wanted = graph_resource.trim_end_matches('/');
        if resource.map(|given| given.trim_end_matches('/')) != Some(wanted) {
            return Err(TokenError::new(
                400,
                "invalid_resource",
                500011,
                format!(
                    "The resource principal named {} was not found in the tenant.",
                    resource.unwrap_or("(none)")
                ),
            ));
        }
        let client_id = identity.client_id.clone();
        self.issue(identity, &client_id, graph_resource, lifetime, now)
    }

    fn issue(
        &self,
        tenant: &TenantData,
        client_id: &str,
        graph_resource: &str,
        lifetime: Duration,
        now: Timestamp,
    ) -> Result<IssuedToken, TokenError> {
        let roles = if tenant.spec.missing_permission {
            Vec::new()
        } else {
            vec![AUDIT_LOG_ROLE.to_owned(), "Directory.Read.All".to_owned()]
        };
        let issued_at = now.as_millis() / 1000;
        let claims = AccessClaims {
            aud: graph_resource.to_owned(),
            iss: format!("https://sts.windows.net/{}/", tenant.tenant_id),
            iat: issued_at,
            nbf: issued_at,
            exp: issued_at + lifetime.as_secs() as i64,
            appid: client_id.to_owned(),
            tid: tenant.tenant_id.clone(),
            roles,
            uti: format!("{:016x}", fastrand::u64(..)),
        };
        let access_token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.signing_key),
        )
        .map_err(|error| {
            TokenError::new(
                500,
                "server_error",
                90033,
                format!("token signing failed: {error}"),
            )
        })?;
        Ok(IssuedToken {
            access_token,
            expires_in: lifetime.as_secs(),
        })
    }

    fn verify_assertion(
        &self,
        tenant: &TenantData,
        client_id: &str,
        assertion: &str,
        accepted_audiences: &[String],
        now: Timestamp,
    ) -> Result<(), TokenError> {
        let invalid = |code: u32, description: String| {
            TokenError::new(401, "invalid_client", code, description)
        };
        let header = jsonwebtoken::decode_header(assertion).map_err(|error| {
            invalid(
                50012,
                format!("Client assertion is not a valid JWT: {error}."),
            )
        })?;
        if !matches!(header.alg, Algorithm::PS256 | Algorithm::RS256) {
            return Err(invalid(
                5002738,
                format!(
                    "Client assertion algorithm {:?} is not supported; use PS256 or RS256.",
                    header.alg
                ),
            ));
        }
        let thumbprint_sha256 = header.x5t_s256.clone();
        let thumbprint_sha1 = header.x5t.clone();
        if thumbprint_sha256.is_none()
            && thumbprint_sha1.is_none()
            && !tenant.spec.federated_credentials.is_empty()
        {
            return verify_federated(tenant, assertion, header.alg, now);
        }
        let mut verified_claims = None;
        for certificate_pem in &tenant.spec.certificates {
            let Some(thumbprints) = certificate_thumbprints(certificate_pem) else {
                continue;
            };
            let named = thumbprint_sha256.as_deref() == Some(thumbprints.sha256.as_str())
                || thumbprint_sha1.as_deref() == Some(thumbprints.sha1.as_str());
            if !named {
                continue;
            }
            let Ok(key) = DecodingKey::from_rsa_pem(certificate_pem.as_bytes()) else {
                continue;
            };
            let mut validation = Validation::new(header.alg);
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            if let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
            {
                verified_claims = Some(data.claims);
                break;
            }
        }
        let Some(claims) = verified_claims else {
            return Err(invalid(
                700027,
                format!(
                    "Client assertion failed signature validation. Ensure that the certificate \
                     named by the x5t#S256 (or x5t) header is registered on app '{client_id}'."
                ),
            ));
        };
        if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
            return Err(invalid(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter."
                    .to_owned(),
            ));
        }
        let audiences: Vec<String> = match &claims.aud {
            Some(serde_json::Value::String(audience)) => vec![audience.clone()],
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(|value| value.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if !audiences
            .iter()
            .any(|audience| accepted_audiences.contains(audience))
        {
            return Err(invalid(
                700023,
                format!(
                    "Client assertion audience claim does not match Realm issuer. Review the \
                     documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials. \
                     Expected one of {accepted_audiences:?}."
                ),
            ));
        }
        let now_seconds = now.as_millis() / 1000;
        const SKEW_SECONDS: i64 = 300;
        let expired = claims
            .exp
            .is_none_or(|exp| exp + SKEW_SECONDS < now_seconds);
        let not_yet_valid = claims
            .nbf
            .is_some_and(|nbf| nbf - SKEW_SECONDS > now_seconds);
        if expired || not_yet_valid {
            return Err(invalid(
                700024,
                "Client assertion is not within its valid time range.".to_owned(),
            ));
        }
        let Some(assertion_id) = claims.jti else {
            return Err(invalid(
                50012,
                "Client assertion contains no jti claim.".to_owned(),
            ));
        };
        let mut used = self.used_assertion_ids.lock();
        used.retain(|_, expiry| *expiry + SKEW_SECONDS >= now_seconds);
        if used.contains_key(&assertion_id) {
            // Entra refuses replayed assertions; the exact code of this refusal is not documented
            return Err(invalid(
                7000274,
                "Client assertion contains a jti that has been used before: a replayed assertion is refused.".to_owned(),
            ));
        }
        used.insert(assertion_id, claims.exp.unwrap_or(now_seconds));
        Ok(())
    }

    /// Checks a bearer token as Graph does: signature, lifetime (on the simulator's clock), audience.
    pub fn validate_bearer(
        &self,
        token: &str,
        graph_resource: &str,
        now: Timestamp,
    ) -> Result<Bearer, BearerError> {
        if token.is_empty() {
            return Err(BearerError("Access token is empty.".to_owned()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<AccessClaims>(
            token,
            &DecodingKey::from_secret(&self.signing_key),
            &validation,
        )
        .map_err(|_| {
            BearerError("Access token validation failure. Invalid signature.".to_owned())
        })?;
        let claims = data.claims;
        if claims.exp <= now.as_millis() / 1000 {
            return Err(BearerError(
                "Lifetime validation failed, the token is expired.".to_owned(),
            ));
        }
        if claims.aud != graph_resource {
            return Err(BearerError(
                "Access token validation failure. Invalid audience.".to_owned(),
            ));
        }
        Ok(Bearer {
            tenant_id: claims.tid,
            client_id: claims.appid,
            roles: claims.roles,
        })
    }
}

pub struct Thumbprints {
    pub sha1: String,
    pub sha256: String,
}

/// The audience Entra requires of federated tokens.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

#[derive(Deserialize)]
struct FederatedClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<i64>,
}

/// A workload-identity assertion: a token of an external issuer trusted by a federated credential.
fn verify_federated(
    tenant: &TenantData,
    assertion: &str,
    algorithm: Algorithm,
    now: Timestamp,
) -> Result<(), TokenError> {
    let invalid =
        |code: u32, description: String| TokenError::new(401, "invalid_client", code, description);
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut issuer_known = false;
    for credential in &tenant.spec.federated_credentials {
        let Ok(key) = DecodingKey::from_rsa_pem(credential.public_key_pem.as_bytes()) else {
            continue;
        };
        let Ok(data) = jsonwebtoken::decode::<FederatedClaims>(assertion, &key, &validation) else {
            continue;
        };
        let claims = data.claims;
        if claims.iss.as_deref() != Some(credential.issuer.as_str()) {
            continue;
        }
        issuer_known = true;
        if claims.sub.as_deref() != Some(credential.subject.as_str()) {
            continue;
        }
        let audience_ok = match &claims.aud {
            Some(serde_json::Value::String(audience)) => audience == TOKEN_EXCHANGE_AUDIENCE,
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .any(|value| value.as_str() == Some(TOKEN_EXCHANGE_AUDIENCE)),
            _ => false,
        };
        if !audience_ok {
            return Err(invalid(
                700212,
                format!(
                    "No matching federated identity record found for presented assertion audience; \
                     the audience must be {TOKEN_EXCHANGE_AUDIENCE}."
                ),
            ));
        }
        if claims.exp.is_none_or(|exp| exp < now.as_millis() / 1000) {
            return Err(invalid(
                700024,
                "Client assertion is not within its valid time range.".to_owned(),
            ));
        }
        return Ok(());
    }
    if issuer_known {
        Err(invalid(
            70021,
            "No matching federated identity record found for presented assertion subject."
                .to_owned(),
        ))
    } else {
        Err(invalid(
            700211,
            "No matching federated identity record found for presented assertion issuer."
                .to_owned(),
        ))
    }
}

/// Base64url thumbprints of the first certificate in a PEM document (`x5t`, `x5t#S256`).
pub fn certificate_thumbprints(pem: &str) -> Option<Thumbprints> {
    use base64::Engine;
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()?;
    let encode = |digest: aws_lc_rs::digest::Digest| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    };
    Some(Thumbprints {
        sha1: encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            der.as_ref(),
        )),
        sha256: encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            der.as_ref(),
        )),
    })
}
