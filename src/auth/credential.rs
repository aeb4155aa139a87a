//! A tenant's credential, read at start-up: a client secret, a certificate's signing key, a
//! federated token file, or a managed identity. None of them ever prints.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;

use crate::config::{
    AssertionSignature, AuthConfig, CertificateConfig, CertificateSource, IMDS_TOKEN_ENDPOINT,
    Secret, SecretSource, TenantConfig,
};
use crate::files::{self, CREDENTIAL_FILE_LIMIT};

/// How long a client assertion is valid: the identity platform needs minutes, not hours.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

pub enum Credential {
    Secret(Secret),
    Certificate(CertificateKey),
    WorkloadIdentity {
        token_file: PathBuf,
        /// What names the file, for messages: its key, or the webhook's variable.
        token_file_key: String,
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
                let key = format!("{key}.auth.certificate");
                certificate_key(certificate, &key).map(Credential::Certificate)
            }
            AuthConfig::WorkloadIdentity(identity) => {
                let (token_file, token_file_key) = match &identity.token_file {
                    Some(path) => (
                        path.clone(),
                        format!("{key}.auth.workload_identity.token_file"),
                    ),
                    None => std::env::var_os("AZURE_FEDERATED_TOKEN_FILE")
                        .map(|path| (PathBuf::from(path), "AZURE_FEDERATED_TOKEN_FILE".to_owned()))
                        .ok_or_else(|| {
                            format!(
                                "{key}.auth.workload_identity: AZURE_FEDERATED_TOKEN_FILE is not set; fix: label the pod \
                                 azure.workload.identity/use: \"true\" and annotate its service account with the \
                                 application's client id (the chart's workloadIdentity values do both)"
                            )
                        })?,
                };
                Ok(Credential::WorkloadIdentity {
                    token_file,
                    token_file_key,
                })
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

/// Reads the certificate and its key from a PEM or a PKCS#12 file; `key` is the configuration key
/// of the `certificate` map.
fn certificate_key(certificate: &CertificateConfig, key: &str) -> Result<CertificateKey, String> {
    let read = |path: &Path, field: &str, what: &'static str| {
        files::read_limited(&format!("{key}.{field}"), what, path, CREDENTIAL_FILE_LIMIT).map_err(
            |error| match error.problem {
                files::FileProblem::Unreadable(_) => format!(
                    "{error}; fix: point {key}.{field} at {what} (in a pod, where its Secret is mounted)"
                ),
                files::FileProblem::TooLarge { .. } => error.to_string(),
            },
        )
    };
    match &certificate.source {
        CertificateSource::Pem(path) => {
            let pem = read(path, "file", "the certificate file")?;
            CertificateKey::from_pem(&pem, certificate.signature)
                .map_err(|problem| format!("{key}.file: {}: {problem}", path.display()))
        }
        CertificateSource::Pkcs12 { path, password } => {
            let der = read(path, "pkcs12", "the PKCS#12 file")?;
            let password = match password {
                Some(source) => Some(source.resolve(&format!("{key}.password"))?),
                None => None,
            };
            let password = password
                .as_ref()
                .map(|secret| secret.expose())
                .unwrap_or("");
            CertificateKey::from_pkcs12(&der, password, certificate.signature)
                .map_err(|problem| format!("{key}.pkcs12: {}: {problem}", path.display()))
        }
    }
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
        CertificateKey::from_parts(certificate.as_ref(), key_block.as_bytes(), signature)
    }

    /// The private key and its certificate from a PKCS#12 (PFX) file. Files encrypted the old
    /// way (RC2 or 3DES with SHA-1, as Windows and OpenSSL 1.x export by default) need OpenSSL's
    /// legacy provider, loaded when a first attempt fails.
    pub fn from_pkcs12(
        der: &[u8],
        password: &str,
        signature: AssertionSignature,
    ) -> Result<CertificateKey, String> {
        let archive = openssl::pkcs12::Pkcs12::from_der(der)
            .map_err(|_| "not a PKCS#12 (PFX) file".to_owned())?;
        let parsed = match archive.parse2(password) {
            Ok(parsed) => parsed,
            Err(first) => {
                if !legacy_provider_loaded() {
                    return Err(pkcs12_problem(&first));
                }
                archive
                    .parse2(password)
                    .map_err(|error| pkcs12_problem(&error))?
            }
        };
        let (Some(key), Some(certificate)) = (parsed.pkey, parsed.cert) else {
            return Err(
                "the file holds no private key with its certificate: export the certificate \
                 with its private key"
                    .to_owned(),
            );
        };
        let key_pem = key
            .private_key_to_pem_pkcs8()
            .map_err(|error| format!("the private key cannot be read: {error}"))?;
        let certificate_der = certificate
            .to_der()
            .map_err(|error| format!("the certificate cannot be read: {error}"))?;
        CertificateKey::from_parts(&certificate_der, &key_pem, signature)
    }

    fn from_parts(
        certificate_der: &[u8],
        key_pem: &[u8],
        signature: AssertionSignature,
    ) -> Result<CertificateKey, String> {
        let key = EncodingKey::from_rsa_pem(key_pem).map_err(|error| {
            format!("the private key is not an RSA key the identity platform accepts: {error}")
        })?;
        let thumbprint = |algorithm| {
            URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(algorithm, certificate_der).as_ref())
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

/// Why OpenSSL could not open a PKCS#12 file, in a user's words. OpenSSL's own text for a wrong
/// password is "mac verify failure".
fn pkcs12_problem(error: &openssl::error::ErrorStack) -> String {
    let detail = error.to_string();
    if detail.contains("mac verify failure") || detail.contains("invalid password") {
        "wrong password: check auth.certificate.password (a file exported without a password \
         needs no password key)"
            .to_owned()
    } else if detail.contains("unsupported") {
        format!(
            "the file is encrypted with an algorithm this OpenSSL does not offer ({detail}); \
             re-export it with AES-256 (openssl pkcs12 -export -keypbe AES-256-CBC -certpbe \
             AES-256-CBC) or convert it to PEM"
        )
    } else {
        format!("cannot open the PKCS#12 file: {detail}")
    }
}

/// Loads OpenSSL's legacy provider (RC2, DES: old PKCS#12 encryption) beside the default one,
/// once per process; whether it is available.
fn legacy_provider_loaded() -> bool {
    static LEGACY: std::sync::OnceLock<Option<openssl::provider::Provider>> =
        std::sync::OnceLock::new();
    LEGACY
        .get_or_init(|| openssl::provider::Provider::try_load(None, "legacy", true).ok())
        .is_some()
}

/// A fresh `jti`: 128 random bits.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes = fastrand::u128(..).to_be_bytes();
    }
    URL_SAFE_NO_PAD.encode(bytes)
}
