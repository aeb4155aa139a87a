//! A certificate authority and server certificate made at start-up, so that clients that insist
//! on HTTPS (MSAL, the Graph SDKs) can talk to the simulator.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The server side of TLS and the CA certificate clients must trust.
pub struct SimTls {
    pub server_config: Arc<rustls::ServerConfig>,
    pub ca_certificate_pem: String,
}

/// Makes a CA and a certificate for `localhost` and `127.0.0.1` signed by it.
pub fn generate() -> Result<SimTls, String> {
    let describe =
        |error: rcgen::Error| format!("cannot generate the simulator's certificates: {error}");
    let ca_key = KeyPair::generate().map_err(describe)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(describe)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "entrastream simulator CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_certificate = ca_params.self_signed(&ca_key).map_err(describe)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(describe)?;
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(describe)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "entrastream simulator");
    let server_certificate = server_params
        .signed_by(&server_key, &issuer)
        .map_err(describe)?;

    let chain = vec![
        CertificateDer::from(server_certificate.der().to_vec()),
        CertificateDer::from(ca_certificate.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| format!("cannot configure TLS: {error}"))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|error| format!("cannot configure TLS: {error}"))?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(SimTls {
        server_config: Arc::new(server_config),
        ca_certificate_pem: ca_certificate.pem(),
    })
}
