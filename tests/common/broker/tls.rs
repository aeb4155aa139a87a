//! Certificates made for one broker run, so no key outlives it and no tool (`openssl`, `keytool`)
//! is needed: a CA, the broker's certificate signed by it and packed with the CA into the PKCS#12
//! keystore of the SASL_SSL listener, and a second CA that signed nothing, for tests of a client
//! that cannot verify the broker.

use std::fs;
use std::path::{Path, PathBuf};

use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Where the certificates of a run were written.
pub struct TlsFiles {
    /// The CA that signed the broker's certificate, PEM: what a client's `ssl.ca.location` trusts.
    pub ca_pem: PathBuf,
    /// A CA that signed nothing the broker presents, PEM.
    pub untrusted_ca_pem: PathBuf,
    /// The broker's key, certificate and CA, PKCS#12.
    pub keystore: PathBuf,
}

/// Writes a fresh CA, broker keystore and unrelated CA into `directory`.
pub fn write(directory: &Path, keystore_password: &str) -> TlsFiles {
    let (ca_certificate, ca_issuer) = certificate_authority("entrastream test kafka ca");
    let (untrusted_ca_certificate, _) = certificate_authority("entrastream untrusted ca");

    let broker_key = KeyPair::generate().expect("generate the broker's key");
    // rcgen makes an IP address SAN of "127.0.0.1": librdkafka checks the host name of
    // bootstrap.servers (127.0.0.1) against it
    let mut broker_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("broker certificate parameters");
    broker_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    broker_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    broker_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let broker_certificate = broker_params
        .signed_by(&broker_key, &ca_issuer)
        .expect("sign the broker's certificate");

    let broker_private_key = PKey::private_key_from_der(&broker_key.serialize_der())
        .expect("read the broker's key into openssl");
    let mut chain = Stack::new().expect("certificate stack");
    chain
        .push(X509::from_der(ca_certificate.der()).expect("read the ca certificate into openssl"))
        .expect("push the ca certificate");
    let keystore = Pkcs12::builder()
        .name("kafka")
        .pkey(&broker_private_key)
        .cert(
            &X509::from_der(broker_certificate.der())
                .expect("read the broker certificate into openssl"),
        )
        .ca(chain)
        .build2(keystore_password)
        .expect("build the broker's pkcs12 keystore");

    let files = TlsFiles {
        ca_pem: directory.join("ca.pem"),
        untrusted_ca_pem: directory.join("untrusted-ca.pem"),
        keystore: directory.join("broker.p12"),
    };
    fs::write(&files.ca_pem, ca_certificate.pem()).expect("write ca.pem");
    fs::write(&files.untrusted_ca_pem, untrusted_ca_certificate.pem())
        .expect("write untrusted-ca.pem");
    fs::write(
        &files.keystore,
        keystore.to_der().expect("encode the pkcs12 keystore"),
    )
    .expect("write broker.p12");
    files
}

fn certificate_authority(common_name: &str) -> (Certificate, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("generate a ca key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let certificate = params
        .self_signed(&key)
        .expect("self-sign a ca certificate");
    (certificate, Issuer::new(params, key))
}
