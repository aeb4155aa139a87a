//! Every authentication mode against the simulator's identity platform: client secrets,
//! certificates (PS256 with `x5t#S256`, RS256 with `x5t`), workload identity federation (a token
//! file the kubelet rotates) and managed identity (the instance metadata endpoint). Refusals name
//! the tenant, the mode and the fix.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{START, simulator};
use entrastream::auth::{Credential, TokenOrigin, TokenProvider};
use entrastream::clock::Clock;
use entrastream::config::{
    AssertionSignature, AuthConfig, CertificateConfig, CertificateSource, Cloud, Endpoints,
    LogConfig, LogFormat, ManagedIdentityConfig, PollingConfig, SecretSource, TenantConfig,
    ThrottleConfig, WorkloadIdentityConfig,
};
use entrastream::graph::client::http_client;
use entrastream::graph::cloud::CloudEndpoints;
use entrastream::sim::Simulator;
use entrastream::sim::config::{FederatedCredential, SimConfig, TenantSpec};
use entrastream::stream::StreamKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const ISSUER: &str = "https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-0000000000ff/";
const SUBJECT: &str = "system:serviceaccount:security:entrastream";

struct Certificate {
    certificate_pem: String,
    key_pem: String,
}

fn certificate() -> Certificate {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let params =
        rcgen::CertificateParams::new(vec!["entrastream-reader".to_owned()]).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    Certificate {
        certificate_pem: certificate.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// The cluster's service-account token issuer.
struct Issuer {
    key: rcgen::KeyPair,
}

impl Issuer {
    fn new() -> Issuer {
        Issuer {
            key: rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key"),
        }
    }

    fn credential(&self, subject: &str) -> FederatedCredential {
        FederatedCredential {
            issuer: ISSUER.to_owned(),
            subject: subject.to_owned(),
            public_key_pem: self.key.public_key_pem(),
        }
    }

    /// A projected service-account token, as the kubelet writes it.
    fn token(&self, subject: &str, issued_at: i64, lifetime: i64) -> String {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: [&'a str; 1],
            iat: i64,
            exp: i64,
        }
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &Claims {
                iss: ISSUER,
                sub: subject,
                aud: ["api://AzureADTokenExchange"],
                iat: issued_at,
                exp: issued_at + lifetime,
            },
            &EncodingKey::from_rsa_pem(self.key.serialize_pem().as_bytes()).expect("key"),
        )
        .expect("signed")
    }
}

fn tenant_config(sim: &Simulator, auth: AuthConfig) -> TenantConfig {
    let tenant = &sim.credentials().tenants[0];
    TenantConfig {
        id: tenant.tenant_id.clone(),
        client_id: tenant.client_id.clone(),
        client_secret: None,
        auth: Some(auth),
        cloud: Cloud::Global,
        endpoints: Some(Endpoints {
            login: Some(sim.base_url()),
            graph: Some(sim.base_url()),
        }),
        api_version: Default::default(),
        streams: None,
    }
}

fn provider(clock: &Clock, tenant: &TenantConfig) -> TokenProvider {
    let credential = Credential::resolve(tenant, "tenants[0]").expect("credential");
    TokenProvider::new(
        tenant.tenant_id().expect("a GUID"),
        tenant.client_id.clone(),
        credential,
        CloudEndpoints::resolve(tenant.cloud, tenant.endpoints.as_ref()),
        http_client(Duration::from_secs(10), &Default::default()).expect("http"),
        clock.clone(),
    )
}

/// Graph answers the token: the audit logs of the token's tenant are readable with it.
async fn graph_accepts(sim: &Simulator, token: &str) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/beta/auditLogs/directoryAudits?$top=1",
            sim.base_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("graph");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

async fn sim_with(spec: TenantSpec) -> (Simulator, Clock) {
    simulator(SimConfig {
        tenants: vec![spec],
        history: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await
}

fn write_pem(directory: &Path, name: &str, parts: &[&str]) -> std::path::PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, parts.concat()).expect("pem");
    path
}

#[tokio::test]
async fn a_certificate_signs_a_fresh_assertion_for_every_token_in_both_signatures() {
    let registered = certificate();
    let (sim, clock) = sim_with(TenantSpec {
        certificates: vec![registered.certificate_pem.clone()],
        ..TenantSpec::default()
    })
    .await;
    let directory = tempfile::tempdir().expect("tempdir");
    // key first (PKCS#8, as rcgen writes it), then the certificate: the order Azure Key Vault exports
    let pem = write_pem(
        directory.path(),
        "reader.pem",
        &[&registered.key_pem, &registered.certificate_pem],
    );
    for signature in [AssertionSignature::Ps256, AssertionSignature::Rs256] {
        let tenant = tenant_config(
            &sim,
            AuthConfig::Certificate(CertificateConfig {
                source: CertificateSource::Pem(pem.clone()),
                signature,
            }),
        );
        let tokens = provider(&clock, &tenant);
        assert_eq!(tokens.mode(), "certificate");
        let (first, origin) = tokens.token().await.expect("a token");
        assert_eq!(origin, TokenOrigin::Fetched);
        graph_accepts(&sim, first.value.expose()).await;
        // a second request needs a new assertion: the identity platform refuses a replayed jti
        tokens.invalidate(&first).await;
        let (_, origin) = tokens.token().await.expect("a second token");
        assert_eq!(origin, TokenOrigin::Fetched, "{signature:?}");
    }
    assert_eq!(
        sim.stats()
            .tokens_issued
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
}

#[tokio::test]
async fn an_unregistered_certificate_is_refused_with_the_tenant_the_mode_and_the_fix() {
    let registered = certificate();
    let stranger = certificate();
    let (sim, clock) = sim_with(TenantSpec {
        certificates: vec![registered.certificate_pem],
        ..TenantSpec::default()
    })
    .await;
    let directory = tempfile::tempdir().expect("tempdir");
    let pem = write_pem(
        directory.path(),
        "stranger.pem",
        &[&stranger.certificate_pem, &stranger.key_pem],
    );
    let tenant = tenant_config(
        &sim,
        AuthConfig::Certificate(CertificateConfig {
            source: CertificateSource::Pem(pem),
            signature: AssertionSignature::Ps256,
        }),
    );
    let error = provider(&clock, &tenant)
        .token()
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        error.starts_with(&format!(
            "tenant {}: the token request (certificate) was refused with 401 AADSTS700027 invalid_client: \
             AADSTS700027: Client assertion failed signature validation.",
            tenant.id
        )),
        "{error}"
    );
    assert!(
        error.ends_with(
            "; fix: the client assertion was refused: check the certificate registered on the app and the machine's clock"
        ),
        "{error}"
    );
}

/// A PKCS#12 archive of `registered`'s key and certificate as OpenSSL 3 and current Windows
/// export it (AES-256-CBC, PBKDF2, SHA-256 MAC).
fn pkcs12(registered: &Certificate, password: &str) -> Vec<u8> {
    let key =
        openssl::pkey::PKey::private_key_from_pem(registered.key_pem.as_bytes()).expect("key");
    let certificate =
        openssl::x509::X509::from_pem(registered.certificate_pem.as_bytes()).expect("certificate");
    let mut builder = openssl::pkcs12::Pkcs12::builder();
    builder
        .name("entrastream-reader")
        .pkey(&key)
        .cert(&certificate);
    builder
        .build2(password)
        .expect("pkcs12")
        .to_der()
        .expect("der")
}

/// tests/fixtures/pkcs12: a PFX encrypted the old way (RC2-40, 3DES, SHA-1), which OpenSSL 3
/// opens only with its legacy provider; nothing in this test process but entrastream loads it.
const LEGACY_PFX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pkcs12/legacy.pfx"
);
const LEGACY_CERTIFICATE: &str = include_str!("fixtures/pkcs12/certificate.pem");

fn pkcs12_tenant(sim: &Simulator, path: &Path, password: Option<SecretSource>) -> TenantConfig {
    tenant_config(
        sim,
        AuthConfig::Certificate(CertificateConfig {
            source: CertificateSource::Pkcs12 {
                path: path.to_path_buf(),
                password,
            },
            signature: AssertionSignature::Ps256,
        }),
    )
}

#[tokio::test]
async fn a_pkcs12_file_signs_assertions_whether_modern_legacy_or_without_password() {
    let registered = certificate();
    let (sim, clock) = sim_with(TenantSpec {
        certificates: vec![
            registered.certificate_pem.clone(),
            LEGACY_CERTIFICATE.to_owned(),
        ],
        ..TenantSpec::default()
    })
    .await;
    let directory = tempfile::tempdir().expect("tempdir");
    let password_file = directory.path().join("pfx-password");
    std::fs::write(&password_file, "Pfx-Pa55word-4711\n").expect("password");
    let legacy_password = directory.path().join("legacy-password");
    std::fs::write(&legacy_password, "legacy-export").expect("password");
    let legacy = std::fs::read(LEGACY_PFX).expect("fixture");
    let cases = [
        (
            "modern.pfx",
            pkcs12(&registered, "Pfx-Pa55word-4711"),
            Some(&password_file),
        ),
        ("legacy.pfx", legacy, Some(&legacy_password)),
        ("open.pfx", pkcs12(&registered, ""), None),
    ];
    for (name, archive, password_file) in cases {
        let path = directory.path().join(name);
        std::fs::write(&path, archive).expect("pfx");
        let password = password_file.map(|file| SecretSource::File(file.clone()));
        let tenant = pkcs12_tenant(&sim, &path, password);
        let tokens = provider(&clock, &tenant);
        assert_eq!(tokens.mode(), "certificate");
        let (token, origin) = tokens
            .token()
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(origin, TokenOrigin::Fetched, "{name}");
        graph_accepts(&sim, token.value.expose()).await;
    }
    assert_eq!(
        sim.stats()
            .tokens_issued
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn a_pkcs12_file_with_the_wrong_password_or_no_key_is_named_at_start_without_the_password() {
    let registered = certificate();
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("reader.pfx");
    std::fs::write(&path, pkcs12(&registered, "Right-Pa55word-0815")).expect("pfx");
    let password_file = directory.path().join("pfx-password");
    std::fs::write(&password_file, "Wrong-Pa55word-0815").expect("password");
    let tenant = |path: &Path, password: Option<SecretSource>| TenantConfig {
        id: "contoso.onmicrosoft.com".to_owned(),
        client_id: "00000000-0000-0000-0000-0000000000c1".to_owned(),
        client_secret: None,
        auth: Some(AuthConfig::Certificate(CertificateConfig {
            source: CertificateSource::Pkcs12 {
                path: path.to_path_buf(),
                password,
            },
            signature: AssertionSignature::Ps256,
        })),
        cloud: Cloud::Global,
        endpoints: None,
        api_version: Default::default(),
        streams: None,
    };
    let wrong = Credential::resolve(
        &tenant(&path, Some(SecretSource::File(password_file.clone()))),
        "tenants[0]",
    )
    .expect_err("wrong password");
    assert_eq!(
        wrong,
        format!(
            "tenants[0].auth.certificate.pkcs12: {}: wrong password: check auth.certificate.password \
             (a file exported without a password needs no password key)",
            path.display()
        )
    );
    let missing = Credential::resolve(&tenant(&path, None), "tenants[0]").expect_err("no password");
    assert!(missing.contains(": wrong password: "), "{missing}");

    // a certificate exported without its private key (the .cer part only, packed as PKCS#12)
    let certificate =
        openssl::x509::X509::from_pem(registered.certificate_pem.as_bytes()).expect("certificate");
    let mut builder = openssl::pkcs12::Pkcs12::builder();
    builder.ca({
        let mut stack = openssl::stack::Stack::new().expect("stack");
        stack.push(certificate).expect("push");
        stack
    });
    let keyless = directory.path().join("keyless.pfx");
    std::fs::write(
        &keyless,
        builder.build2("").expect("pkcs12").to_der().expect("der"),
    )
    .expect("pfx");
    assert_eq!(
        Credential::resolve(&tenant(&keyless, None), "tenants[0]").expect_err("no key"),
        format!(
            "tenants[0].auth.certificate.pkcs12: {}: the file holds no private key with its \
             certificate: export the certificate with its private key",
            keyless.display()
        )
    );

    // a PEM file named as PKCS#12
    let pem = write_pem(
        directory.path(),
        "reader.pem",
        &[&registered.key_pem, &registered.certificate_pem],
    );
    assert_eq!(
        Credential::resolve(&tenant(&pem, None), "tenants[0]").expect_err("not pkcs12"),
        format!(
            "tenants[0].auth.certificate.pkcs12: {}: not a PKCS#12 (PFX) file",
            pem.display()
        )
    );
    // the password never appears in a message
    for message in [&wrong, &missing] {
        assert!(!message.contains("Pa55word"), "{message}");
    }
}

#[test]
fn a_certificate_file_without_its_key_is_named_at_start() {
    let lone = certificate();
    let directory = tempfile::tempdir().expect("tempdir");
    let pem = write_pem(directory.path(), "lone.pem", &[&lone.certificate_pem]);
    let tenant = TenantConfig {
        id: "contoso.onmicrosoft.com".to_owned(),
        client_id: "00000000-0000-0000-0000-0000000000c1".to_owned(),
        client_secret: None,
        auth: Some(AuthConfig::Certificate(CertificateConfig {
            source: CertificateSource::Pem(pem.clone()),
            signature: AssertionSignature::Ps256,
        })),
        cloud: Cloud::Global,
        endpoints: None,
        api_version: Default::default(),
        streams: None,
    };
    let error = Credential::resolve(&tenant, "tenants[0]").expect_err("no key");
    assert_eq!(
        error,
        format!(
            "tenants[0].auth.certificate.file: {}: no PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1) block: \
             the file needs the certificate's key",
            pem.display()
        )
    );
}

#[tokio::test]
async fn workload_identity_reads_the_rotated_token_file_at_every_request() {
    let issuer = Issuer::new();
    let (sim, clock) = sim_with(TenantSpec {
        federated_credentials: vec![issuer.credential(SUBJECT)],
        ..TenantSpec::default()
    })
    .await;
    let directory = tempfile::tempdir().expect("tempdir");
    let token_file = directory.path().join("azure-identity-token");
    let now = START.as_millis() / 1000;
    // the first projected token lives ten minutes
    std::fs::write(&token_file, issuer.token(SUBJECT, now, 600)).expect("token");
    let tenant = tenant_config(
        &sim,
        AuthConfig::WorkloadIdentity(WorkloadIdentityConfig {
            token_file: Some(token_file.clone()),
        }),
    );
    let tokens = provider(&clock, &tenant);
    assert_eq!(tokens.mode(), "workload_identity");
    let (first, _) = tokens.token().await.expect("a token");
    graph_accepts(&sim, first.value.expose()).await;

    // an hour later the kubelet has rotated the file; the old token has expired
    let manual = clock.as_manual().expect("manual clock");
    manual.advance(Duration::from_secs(3600));
    std::fs::write(&token_file, issuer.token(SUBJECT, now + 3600, 600)).expect("rotated");
    tokens.invalidate(&first).await;
    let (second, origin) = tokens
        .token()
        .await
        .expect("the rotated token is read and accepted");
    assert_eq!(origin, TokenOrigin::Fetched);
    graph_accepts(&sim, second.value.expose()).await;

    // had the old one been kept, the identity platform would refuse it
    std::fs::write(&token_file, issuer.token(SUBJECT, now, 600)).expect("stale");
    tokens.invalidate(&second).await;
    let error = tokens.token().await.expect_err("expired").to_string();
    assert!(
        error.contains("(workload_identity) was refused with 401 AADSTS700024"),
        "{error}"
    );
}

#[tokio::test]
async fn a_federated_token_of_another_service_account_is_refused_with_the_fix() {
    let issuer = Issuer::new();
    let (sim, clock) = sim_with(TenantSpec {
        federated_credentials: vec![issuer.credential(SUBJECT)],
        ..TenantSpec::default()
    })
    .await;
    let directory = tempfile::tempdir().expect("tempdir");
    let token_file = directory.path().join("token");
    let now = START.as_millis() / 1000;
    std::fs::write(
        &token_file,
        issuer.token("system:serviceaccount:default:default", now, 600),
    )
    .expect("token");
    let tenant = tenant_config(
        &sim,
        AuthConfig::WorkloadIdentity(WorkloadIdentityConfig {
            token_file: Some(token_file.clone()),
        }),
    );
    let tokens = provider(&clock, &tenant);
    let error = tokens.token().await.expect_err("refused").to_string();
    assert!(
        error.contains("(workload_identity) was refused with 401 AADSTS70021 invalid_client")
            && error.ends_with(
                "; fix: the federated token matches no federated credential of the app: add one with the \
                 cluster's OIDC issuer and subject system:serviceaccount:<namespace>:<service account>"
            ),
        "{error}"
    );
    // the file gone: the pod is not labelled for workload identity
    std::fs::remove_file(&token_file).expect("removed");
    let error = tokens.token().await.expect_err("no file").to_string();
    assert!(
        error.starts_with(&format!(
            "tenant {}: the workload_identity credential cannot be used: \
             tenants[0].auth.workload_identity.token_file: cannot read the federated token file {}",
            tenant.id,
            token_file.display()
        )) && error.ends_with("is the pod labelled azure.workload.identity/use: \"true\"?"),
        "{error}"
    );
}

#[tokio::test]
async fn a_managed_identity_gets_its_token_from_the_metadata_endpoint() {
    let (sim, clock) = sim_with(TenantSpec {
        managed_identity: true,
        ..TenantSpec::default()
    })
    .await;
    let endpoint = format!("{}/metadata/identity/oauth2/token", sim.base_url());
    let client_id = sim.credentials().tenants[0].client_id.clone();
    for chosen in [None, Some(client_id)] {
        let tenant = tenant_config(
            &sim,
            AuthConfig::ManagedIdentity(ManagedIdentityConfig {
                client_id: chosen,
                endpoint: Some(endpoint.clone()),
            }),
        );
        let tokens = provider(&clock, &tenant);
        assert_eq!(tokens.mode(), "managed_identity");
        let (token, _) = tokens.token().await.expect("a token");
        graph_accepts(&sim, token.value.expose()).await;
        assert_eq!(token.lifetime, SimConfig::default().token_lifetime);
    }
    let tenant = tenant_config(
        &sim,
        AuthConfig::ManagedIdentity(ManagedIdentityConfig {
            client_id: Some("11111111-0000-0000-0000-000000000000".to_owned()),
            endpoint: Some(endpoint),
        }),
    );
    let error = provider(&clock, &tenant)
        .token()
        .await
        .expect_err("no such identity")
        .to_string();
    assert!(
        error.contains(
            "(managed_identity) was refused with 400 invalid_request: Identity not found"
        ),
        "{error}"
    );
}

#[test]
fn auth_modes_parse_and_conflicts_are_refused() {
    let config = entrastream::config::Config::from_yaml(
        "tenants:\n\
         - {id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, auth: {certificate: {file: /etc/entrastream/reader.pem, signature: rs256}}}\n\
         - {id: fabrikam.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c2, auth: {workload_identity: {}}}\n\
         - {id: northwind.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c3, auth: {managed_identity: {client_id: 00000000-0000-0000-0000-0000000000a3}}}\n\
         - {id: tailspin.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c4, auth: {client_secret: {env: S4}}}\n\
         - {id: woodgrove.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c5, auth: {certificate: {pkcs12: /etc/entrastream/reader.pfx, password: {env: P5}}}}\n\
         kafka: {bootstrap_servers: k:9092}\n",
        "config.yaml",
    )
    .expect("valid");
    assert_eq!(
        config.tenants[4].auth,
        Some(AuthConfig::Certificate(CertificateConfig {
            source: CertificateSource::Pkcs12 {
                path: "/etc/entrastream/reader.pfx".into(),
                password: Some(SecretSource::Env("P5".to_owned())),
            },
            signature: AssertionSignature::Ps256,
        }))
    );
    for (certificate, expected) in [
        (
            "{file: a.pem, pkcs12: b.pfx}",
            "give either file (PEM) or pkcs12 (PFX), not both",
        ),
        (
            "{file: a.pem, password: {env: P}}",
            "password belongs to a pkcs12 file; a PEM file (file:) has no password: store its key unencrypted",
        ),
        (
            "{signature: rs256}",
            "missing the certificate: write file: PATH (PEM with key and certificate) or pkcs12: PATH \
             with password: {env: VARIABLE} (PFX)",
        ),
        (
            "{pkcs12: b.pfx, password: hunter2}",
            "inline secrets are not accepted",
        ),
    ] {
        let error = entrastream::config::Config::from_yaml(
            &format!(
                "tenants: [{{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, auth: {{certificate: {certificate}}}}}]\n\
                 kafka: {{bootstrap_servers: k:9092}}\n"
            ),
            "config.yaml",
        )
        .expect_err(certificate)
        .to_string();
        assert!(
            error.contains("tenants[0].auth") && error.contains(expected),
            "{certificate}: {error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
    let modes: Vec<&str> = config
        .tenants
        .iter()
        .map(|tenant| tenant.auth.as_ref().expect("auth").mode())
        .collect();
    assert_eq!(
        modes,
        [
            "certificate",
            "workload_identity",
            "managed_identity",
            "client_secret",
            "certificate"
        ]
    );
    let both = entrastream::config::Config::from_yaml(
        "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, client_secret: {env: S}, auth: {workload_identity: {}}}]\n\
         kafka: {bootstrap_servers: k:9092}\n",
        "config.yaml",
    )
    .expect_err("two modes")
    .to_string();
    assert!(
        both.contains("tenants[0]: client_secret and auth.workload_identity both given; keep one"),
        "{both}"
    );
    let unknown = entrastream::config::Config::from_yaml(
        "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, auth: {kerberos: {}}}]\nkafka: {bootstrap_servers: k:9092}\n",
        "config.yaml",
    )
    .expect_err("unknown mode")
    .to_string();
    assert!(
        unknown.contains("tenants[0].auth.kerberos: unknown field `kerberos`, expected one of `client_secret`, `certificate`, `workload_identity`, `managed_identity`"),
        "{unknown}"
    );
}

mod secrets_never_print {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    const GOOD: &str = "ENTRASTREAM-CANARY-GOOD-4b7d1e";
    const WRONG: &str = "ENTRASTREAM-CANARY-WRONG-9c2f08";

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port()
    }

    async fn get(url: &str) -> (u16, String) {
        match reqwest::get(url).await {
            Ok(response) => (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }

    /// A real process, debug logs on: one tenant's secret works, the other's is refused. Neither
    /// secret, nor any token, appears in its output, its metrics or its health answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_secret_or_token_in_logs_metrics_or_health() {
        let clock = Clock::system();
        let sim = Simulator::start(
            SimConfig {
                tenants: vec![
                    TenantSpec {
                        client_secret: Some(GOOD.to_owned()),
                        ..TenantSpec::default()
                    },
                    TenantSpec::default(),
                ],
                history: Duration::from_secs(1800),
                ..SimConfig::default()
            },
            clock,
        )
        .await
        .expect("simulator");
        let kafka = common::kafka();
        let directory = tempfile::tempdir().expect("tempdir");
        let credentials = sim.credentials();
        let port = free_port();
        let mut config = common::config(
            &sim,
            &kafka,
            directory.path(),
            PollingConfig {
                interval: Duration::from_secs(1),
                initial_lookback: Duration::from_secs(1800),
                throttle: ThrottleConfig {
                    requests: 100,
                    per: Duration::from_secs(1),
                },
                ..PollingConfig::default()
            },
        );
        // tenant 0's file holds GOOD, the simulator's secret; tenant 1's a wrong one
        std::fs::write(directory.path().join("secret-1"), WRONG).expect("secret");
        for tenant in &mut config.tenants {
            tenant.streams = Some(vec![
                StreamKind::DirectoryAudits,
                StreamKind::SignInsInteractive,
            ]);
        }
        config.metrics.listen = format!("127.0.0.1:{port}").parse().expect("address");
        config.log = LogConfig {
            format: LogFormat::Json,
            level: "debug".to_owned(),
        };
        let config_file = directory.path().join("entrastream.yaml");
        std::fs::write(&config_file, config.to_yaml()).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(["run", "--config"])
            .arg(&config_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");

        // wait until the good tenant published and the wrong one is reported
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut metrics, mut readiness) = (String::new(), String::new());
        loop {
            if Instant::now() >= deadline || child.try_wait().expect("try_wait").is_some() {
                let _ = child.kill();
                let mut output = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut output);
                }
                panic!("no progress: {metrics}\n{readiness}\n{output}");
            }
            metrics = get(&format!("{base}/metrics")).await.1;
            readiness = get(&format!("{base}/readyz")).await.1;
            let published = metrics.lines().any(|line| {
                line.starts_with("entrastream_records_published_total")
                    && line.contains(&credentials.tenants[0].tenant_id)
                    && !line.ends_with(" 0")
            });
            if published && readiness.contains(&credentials.tenants[1].tenant_id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let health = get(&format!("{base}/healthz")).await.1;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = child.wait().expect("exits");
        assert!(exit.success(), "{exit}");
        let mut output = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut output)
            .expect("stdout");
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut output)
            .expect("stderr");

        assert!(
            output.contains("AADSTS7000215"),
            "the refusal is logged with its code"
        );
        assert!(readiness.contains("AADSTS7000215"), "{readiness}");
        for (name, text) in [
            ("logs", &output),
            ("metrics", &metrics),
            ("readyz", &readiness),
            ("healthz", &health),
        ] {
            for secret in [GOOD, WRONG] {
                assert!(!text.contains(secret), "{name} contain a client secret");
            }
            // every access token is a JWT: base64url of `{"` starts with eyJ
            assert!(!text.contains("eyJ"), "{name} contain a token");
        }
    }
}

mod tls_ca_file {
    use super::*;
    use entrastream::config::{SecretSource, TlsConfig};
    use entrastream::sim::ListenOptions;

    /// A login host whose certificate comes from a private CA (a TLS-inspecting proxy does the
    /// same): refused by default, trusted through `tls.ca_file`.
    #[tokio::test]
    async fn a_private_certificate_authority_is_trusted_through_tls_ca_file() {
        let clock = Clock::manual(START);
        let sim = Simulator::start_with(
            SimConfig {
                tenants: vec![TenantSpec::default()],
                history: Duration::from_secs(3600),
                ..SimConfig::default()
            },
            clock.clone(),
            ListenOptions {
                tls: true,
                ..ListenOptions::default()
            },
        )
        .await
        .expect("simulator");
        assert!(sim.base_url().starts_with("https://"));
        let directory = tempfile::tempdir().expect("tempdir");
        let secret = directory.path().join("secret");
        std::fs::write(&secret, &sim.credentials().tenants[0].client_secret).expect("secret");
        let mut tenant = tenant_config(&sim, AuthConfig::ClientSecret(SecretSource::File(secret)));
        tenant.client_secret = None;
        let provider_with = |tls: &TlsConfig| {
            TokenProvider::new(
                tenant.tenant_id().expect("a GUID"),
                tenant.client_id.clone(),
                Credential::resolve(&tenant, "tenants[0]").expect("credential"),
                CloudEndpoints::resolve(tenant.cloud, tenant.endpoints.as_ref()),
                http_client(Duration::from_secs(10), tls).expect("http"),
                clock.clone(),
            )
        };
        let untrusted = provider_with(&TlsConfig::default())
            .token()
            .await
            .expect_err("the private CA is not trusted")
            .to_string();
        assert!(
            untrusted.starts_with(&format!(
                "tenant {}: the token endpoint is unavailable: ",
                tenant.id
            )) && untrusted.contains("certificate"),
            "{untrusted}"
        );
        let ca_file = directory.path().join("proxy-ca.pem");
        std::fs::write(&ca_file, sim.ca_certificate_pem().expect("ca")).expect("ca file");
        let (token, _) = provider_with(&TlsConfig {
            ca_file: Some(ca_file),
            ..TlsConfig::default()
        })
        .token()
        .await
        .expect("trusted through tls.ca_file");
        assert!(!token.value.expose().is_empty());
    }

    /// A login host the service cannot reach over TLS (its certificate is not trusted): the
    /// tenant is not ready, `/readyz` naming it and what to check, not the TLS library's words.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_token_endpoint_makes_the_tenant_not_ready() {
        let clock = Clock::manual(START);
        let sim = Simulator::start_with(
            SimConfig {
                tenants: vec![TenantSpec::default()],
                history: Duration::from_secs(3600),
                ..SimConfig::default()
            },
            clock.clone(),
            ListenOptions {
                tls: true,
                ..ListenOptions::default()
            },
        )
        .await
        .expect("simulator");
        let kafka = common::kafka();
        let directory = tempfile::tempdir().expect("tempdir");
        let config = common::config(
            &sim,
            &kafka,
            directory.path(),
            entrastream::config::PollingConfig::default(),
        );
        let tenant_id = config.tenants[0].id.clone();
        let running = common::start(config, &clock, None).await;
        let health = running.metrics.health().clone();
        let expected = format!(
            "tenant {tenant_id}: the token endpoint cannot be reached (a connection, TLS or server \
             error; retried with backoff): check endpoints.login, tls.ca_file and the network path to \
             the login host"
        );
        common::wait_for(Duration::from_secs(30), || {
            health.readiness().problems.contains(&expected)
        })
        .await;
        assert!(!health.readiness().ready);
        running.stop().await.expect("stops");
    }

    #[test]
    fn an_unusable_ca_file_is_named() {
        let directory = tempfile::tempdir().expect("tempdir");
        let missing = directory.path().join("missing.pem");
        let error = http_client(
            Duration::from_secs(1),
            &TlsConfig {
                ca_file: Some(missing.clone()),
                ..TlsConfig::default()
            },
        )
        .expect_err("missing");
        assert!(
            error.starts_with(&format!(
                "tls.ca_file: cannot read the CA bundle {}: ",
                missing.display()
            )),
            "{error}"
        );
        let empty = directory.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("file");
        let error = http_client(
            Duration::from_secs(1),
            &TlsConfig {
                ca_file: Some(empty.clone()),
                ..TlsConfig::default()
            },
        )
        .expect_err("no certificate");
        assert_eq!(
            error,
            format!(
                "tls.ca_file: {} holds no CERTIFICATE block",
                empty.display()
            )
        );
    }
}

/// What the AKS webhook injects — the authority host and the token file — is what `run` and
/// `check` use when the configuration names neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_authority_host_and_token_file_are_used() {
    let issuer = Issuer::new();
    let sim = Simulator::start(
        SimConfig {
            tenants: vec![TenantSpec {
                federated_credentials: vec![issuer.credential(SUBJECT)],
                ..TenantSpec::default()
            }],
            history: Duration::from_secs(1800),
            ..SimConfig::default()
        },
        Clock::system(),
    )
    .await
    .expect("simulator");
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(
        &sim,
        &kafka,
        directory.path(),
        entrastream::config::PollingConfig::default(),
    );
    let tenant = &mut config.tenants[0];
    tenant.client_secret = None;
    tenant.auth = Some(AuthConfig::WorkloadIdentity(WorkloadIdentityConfig {
        token_file: None,
    }));
    // no login override: without AZURE_AUTHORITY_HOST the token would be asked of the global cloud
    tenant.endpoints = Some(Endpoints {
        login: None,
        graph: Some(sim.base_url()),
    });
    let config_file = directory.path().join("entrastream.yaml");
    std::fs::write(&config_file, config.to_yaml()).expect("config");
    let token_file = directory.path().join("azure-identity-token");
    let now = Clock::system().now().as_millis() / 1000;
    std::fs::write(&token_file, issuer.token(SUBJECT, now, 600)).expect("token");
    let base_url = sim.base_url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(["check", "--output", "json", "--config"])
            .arg(&config_file)
            .env("AZURE_AUTHORITY_HOST", format!("{base_url}/"))
            .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_eq!(
        report["findings"][0]["detail"],
        "acquired with workload_identity from the global cloud"
    );
}
