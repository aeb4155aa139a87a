//! A tenant's credential, read at start-up: a client secret, a certificate's signing key, a
//! federated token file, or a managed identity. None of them ever prints.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;

use crate::config::{
    AssertionSignature, AuthConfig, IMDS_TOKEN_ENDPOINT, Secret, SecretSource, TenantConfig,
};

/// How long a client assertion is valid: the identity platform needs minutes, not hours.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

pub enum Credential {
    Secret(Secret),
    Certificate(CertificateKey),
    WorkloadIdentity {
        token_file: PathBuf,
    },
    ManagedIdentity {
        client_id: Option<String>,
        endpoint: String,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Credential({})", self.mode())
    }
}

pub struct CertificateKey {
    key: EncodingKey,
    signature: AssertionSignature,
    /// Base64url SHA-256 (`x5t#S256`) and SHA-1 (`x5t`) thumbprints of the certificate.
    thumbprint_sha256: String,
    thumbprint_sha1: String,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl Credential {
    /// Reads what the tenant's mode needs; `key` names the tenant in messages (`tenants[0]`).
    pub fn resolve(tenant: &TenantConfig, key: &str) -> Result<Credential, String> {
        let auth = match (&tenant.client_secret, &tenant.auth) {
            (Some(source), _) => return secret(source, &format!("{key}.client_secret")),
            (None, Some(auth)) => auth,
            (None, None) => return Err(format!("{key}.client_secret: required")),
        };
        match auth {
            AuthConfig::ClientSecret(source) => {
                secret(source, &format!("{key}.auth.client_secret"))
            }
            AuthConfig::Certificate(certificate) => {
                let key = format!("{key}.auth.certificate.file");
                let pem = std::fs::read(&certificate.file).map_err(|error| {
                    format!("{key}: cannot read {}: {error}", certificate.file.display())
                })?;
                CertificateKey::from_pem(&pem, certificate.signature)
                    .map(Credential::Certificate)
                    .map_err(|problem| format!("{key}: {}: {problem}", certificate.file.display()))
            }
            AuthConfig::WorkloadIdentity(identity) => {
                let token_file = match &identity.token_file {
                    Some(path) => path.clone(),
                    None => std::env::var_os("AZURE_FEDERATED_TOKEN_FILE")
                        .map(PathBuf::from)
                        .ok_or_else(|| {
                            format!(
                                "{key}.auth.workload_identity: AZURE_FEDERATED_TOKEN_FILE is not set; label the pod \
                                 azure.workload.identity/use: \"true\" and annotate its service account with the \
                                 application's client id (the chart's workloadIdentity values do both)"
                            )
                        })?,
                };
                Ok(Credential::WorkloadIdentity { token_file })
            }
            AuthConfig::ManagedIdentity(identity) => Ok(Credential::ManagedIdentity {
                client_id: identity.client_id.clone(),
                endpoint: identity
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| IMDS_TOKEN_ENDPOINT.to_owned()),
            }),
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Credential::Secret(_) => "client_secret",
            Credential::Certificate(_) => "certificate",
            Credential::WorkloadIdentity { .. } => "workload_identity",
            Credential::ManagedIdentity { .. } => "managed_identity",
        }
    }
}

fn secret(source: &SecretSource, key: &str) -> Result<Credential, String> {
    source.resolve(key).map(Credential::Secret)
}

impl CertificateKey {
    /// The private key and the first certificate of a PEM document.
    pub fn from_pem(pem: &[u8], signature: AssertionSignature) -> Result<CertificateKey, String> {
        let certificate = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or(
                "no CERTIFICATE block: put the certificate after the private key in the same file",
            )?
            .map_err(|error| format!("unreadable certificate: {error}"))?;
        let key_block = private_key_block(pem).ok_or(
            "no PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1) block: the file needs the certificate's key",
        )?;
        let key = EncodingKey::from_rsa_pem(key_block.as_bytes()).map_err(|error| {
            format!("the private key is not an RSA key the identity platform accepts: {error}")
        })?;
        let thumbprint = |algorithm| {
            URL_SAFE_NO_PAD
                .encode(aws_lc_rs::digest::digest(algorithm, certificate.as_ref()).as_ref())
        };
        Ok(CertificateKey {
            key,
            signature,
            thumbprint_sha256: thumbprint(&aws_lc_rs::digest::SHA256),
            thumbprint_sha1: thumbprint(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY),
        })
    }

    /// A signed client assertion for `audience` (the token URL), valid from `now` for ten minutes.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now_seconds: i64,
    ) -> Result<String, String> {
        let mut header = match self.signature {
            AssertionSignature::Ps256 => {
                let mut header = Header::new(Algorithm::PS256);
                header.x5t_s256 = Some(self.thumbprint_sha256.clone());
                header
            }
            AssertionSignature::Rs256 => {
                let mut header = Header::new(Algorithm::RS256);
                header.x5t = Some(self.thumbprint_sha1.clone());
                header
            }
        };
        header.typ = Some("JWT".to_owned());
        let claims = AssertionClaims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: random_id(),
            nbf: now_seconds - 60,
            iat: now_seconds,
            exp: now_seconds + ASSERTION_LIFETIME.as_secs() as i64,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|error| format!("signing the client assertion failed: {error}"))
    }
}

/// The PEM block of the private key, whichever of the two RSA forms it is.
fn private_key_block(pem: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(pem).ok()?;
    for label in ["PRIVATE KEY", "RSA PRIVATE KEY"] {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = text.find(&begin)
            && let Some(length) = text[start..].find(&end)
        {
            return Some(text[start..start + length + end.len()].to_owned());
        }
    }
    None
}

/// A fresh `jti`: 128 random bits.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes = fastrand::u128(..).to_be_bytes();
    }
    URL_SAFE_NO_PAD.encode(bytes)
}
