//! Every file the configuration names is read with a size limit enforced while reading: a key
//! pointed at `/dev/zero` or at a file one byte over the limit is refused with its key, its path
//! and the limit, and memory does not grow with what the file would have given.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use entrastream::auth::{Credential, TokenProvider};
use entrastream::clock::Clock;
use entrastream::config::{
    AssertionSignature, AuthConfig, CertificateConfig, CertificateSource, Cloud, SecretSource,
    TenantConfig, TlsConfig, WorkloadIdentityConfig,
};
use entrastream::files::{CONFIG_FILE_LIMIT, CREDENTIAL_FILE_LIMIT};
use entrastream::graph::client::http_client;
use entrastream::graph::cloud::CloudEndpoints;

const TENANT_ID: &str = "8c6f3a52-2d1e-4c1b-9a57-3f0e8d2b7c41";
const CLIENT_ID: &str = "0b9e7d4c-5a63-4f28-8e1d-6c2a9f3b5e70";

fn tenant(auth: AuthConfig) -> TenantConfig {
    TenantConfig {
        id: TENANT_ID.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: None,
        auth: Some(auth),
        cloud: Cloud::Global,
        endpoints: None,
        api_version: Default::default(),
        streams: None,
    }
}

fn too_large(key: &str, what: &str, path: &Path) -> String {
    format!(
        "{key}: {what} {} is larger than 1 MiB (1048576 bytes), the most entrastream reads there; \
         point {key} at the intended file",
        path.display()
    )
}

fn secret_error(path: &Path) -> String {
    SecretSource::File(path.to_owned())
        .resolve("tenants[0].client_secret")
        .expect_err("refused")
}

fn ca_error(path: &Path) -> String {
    http_client(
        Duration::from_secs(1),
        &TlsConfig {
            ca_file: Some(path.to_owned()),
            ..TlsConfig::default()
        },
    )
    .expect_err("refused")
}

fn certificate_error(source: CertificateSource) -> String {
    let tenant = tenant(AuthConfig::Certificate(CertificateConfig {
        source,
        signature: AssertionSignature::Ps256,
    }));
    Credential::resolve(&tenant, "tenants[0]").expect_err("refused")
}

/// The federated token file is read at every token request, not at start-up.
async fn token_file_error(path: &Path) -> String {
    let tenant = tenant(AuthConfig::WorkloadIdentity(WorkloadIdentityConfig {
        token_file: Some(path.to_owned()),
    }));
    let credential = Credential::resolve(&tenant, "tenants[0]").expect("resolved at start-up");
    let provider = TokenProvider::new(
        tenant.tenant_id().expect("a GUID"),
        CLIENT_ID.to_owned(),
        credential,
        CloudEndpoints::resolve(Cloud::Global, None),
        http_client(Duration::from_secs(1), &TlsConfig::default()).expect("http"),
        Clock::system(),
    );
    provider
        .token()
        .await
        .expect_err("refused before any request")
        .to_string()
}

/// Every limited read of `path` and the error each must give.
async fn every_reader(path: &Path) -> Vec<(String, String)> {
    vec![
        (
            secret_error(path),
            too_large("tenants[0].client_secret", "the secret file", path),
        ),
        (
            ca_error(path),
            too_large("tls.ca_file", "the CA bundle", path),
        ),
        (
            certificate_error(CertificateSource::Pem(path.to_owned())),
            too_large(
                "tenants[0].auth.certificate.file",
                "the certificate file",
                path,
            ),
        ),
        (
            certificate_error(CertificateSource::Pkcs12 {
                path: path.to_owned(),
                password: None,
            }),
            too_large(
                "tenants[0].auth.certificate.pkcs12",
                "the PKCS#12 file",
                path,
            ),
        ),
        (
            token_file_error(path).await,
            format!(
                "tenant {TENANT_ID}: the workload_identity credential cannot be used: {}",
                too_large(
                    "tenants[0].auth.workload_identity.token_file",
                    "the federated token file",
                    path
                )
            ),
        ),
    ]
}

/// The process's peak resident memory (`VmHWM`), in KiB.
fn peak_resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test]
async fn dev_zero_is_refused_at_the_limit_without_growing_memory() {
    let before = peak_resident_kib();
    let dev_zero = PathBuf::from("/dev/zero");
    for (error, expected) in every_reader(&dev_zero).await {
        assert_eq!(error, expected);
    }
    let grown_kib = peak_resident_kib().saturating_sub(before);
    // each read holds at most 1 MiB + 1 byte (an unlimited one never ends)
    assert!(grown_kib < 16 * 1024, "peak memory grew by {grown_kib} KiB");
}

#[tokio::test]
async fn a_file_one_byte_over_the_limit_is_refused_and_one_at_the_limit_is_read() {
    let directory = tempfile::tempdir().expect("tempdir");
    let over = directory.path().join("over");
    std::fs::write(&over, vec![b'a'; CREDENTIAL_FILE_LIMIT as usize + 1]).expect("write");
    for (error, expected) in every_reader(&over).await {
        assert_eq!(error, expected);
    }
    let at_limit = directory.path().join("at-limit");
    std::fs::write(&at_limit, vec![b'a'; CREDENTIAL_FILE_LIMIT as usize]).expect("write");
    let secret = SecretSource::File(at_limit)
        .resolve("tenants[0].client_secret")
        .expect("a secret of exactly 1 MiB is read");
    assert_eq!(secret.expose().len(), CREDENTIAL_FILE_LIMIT as usize);
}

#[test]
fn a_configuration_file_is_read_up_to_16_mib() {
    let binary = env!("CARGO_BIN_EXE_entrastream");
    let directory = tempfile::tempdir().expect("tempdir");
    let over = directory.path().join("over.yaml");
    let mut text = vec![b'#'; CONFIG_FILE_LIMIT as usize + 1];
    text[CONFIG_FILE_LIMIT as usize] = b'\n';
    std::fs::write(&over, text).expect("write");
    for path in [Path::new("/dev/zero"), over.as_path()] {
        let output = Command::new(binary)
            .args(["run", "--validate-only", "--config"])
            .arg(path)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "error: invalid configuration {}: the file is larger than 16 MiB (16777216 bytes), \
                 the most a configuration may hold\n",
                path.display()
            )
        );
    }
}
