//! Everything about a configuration that can be known without connecting anywhere: its keys
//! (`Config::problems`: ranges, ids, contradictions), every secret and file it names read
//! (tenant secrets, certificates, the federated token file, `kafka.librdkafka` values read from
//! the environment or a file, the CA bundle), and the Kafka clients' configuration judged by
//! librdkafka itself. `run --validate-only` prints its summary, `run` starts with it, `check`
//! reports it before probing anything. All problems at once, each with its key and the fix; no
//! secret in any of them.

use std::fmt;
use std::path::Path;

use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::BaseProducer;
use rdkafka::types::RDKafkaConfRes;

use crate::auth::Credential;
use crate::config::librdkafka::is_secret_key;
use crate::config::librdkafka_properties::PROPERTIES;
use crate::config::{
    AuthConfig, CertificateSource, CheckpointStoreKind, Config, ConfigError, Delivery, KafkaConfig,
    LibrdkafkaSettings,
};
use crate::files::{self, CREDENTIAL_FILE_LIMIT};
use crate::text::counted;

/// Where librdkafka documents every property of the version entrastream builds.
const LIBRDKAFKA_PROPERTIES_URL: &str =
    "https://github.com/confluentinc/librdkafka/blob/v2.12.1/CONFIGURATION.md";

/// Whether the secrets and files the configuration names are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrets {
    /// Read every one (`run`, `check`, `--validate-only`).
    Read,
    /// Read none (`--validate-only --skip-secrets`: a CI job that has the configuration but not
    /// the secrets): no credential is made, librdkafka judges the Kafka settings with a stand-in
    /// for each secret and without the files its `*.location` keys name.
    Skip,
}

/// A configuration found usable: every tenant's credential, read, and what it will run.
pub struct Validated {
    /// One per tenant, in the configuration's order (none with [`Secrets::Skip`]).
    pub credentials: Vec<Credential>,
    pub summary: Summary,
}

/// What a valid configuration runs, for `--validate-only`: counts and names, never a value read
/// from a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub tenants: usize,
    pub streams: usize,
    /// The topics written: those of the configured streams, the dead-letter topic, and the
    /// checkpoint topic with the kafka store.
    pub topics: Vec<String>,
    pub delivery: Delivery,
    pub store: String,
    /// Secrets and credential files read: tenant secrets, certificate files and their passwords,
    /// federated token files, `kafka.librdkafka` values from the environment or a file; `None`
    /// when skipped.
    pub secrets: Option<usize>,
}

impl fmt::Display for Summary {
    /// One line per subject, after the `valid` line of the command.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "  tenants:     {} ({})",
            self.tenants,
            counted(self.streams, "stream", "streams")
        )?;
        writeln!(formatter, "  topics:      {}", self.topics.join(", "))?;
        writeln!(formatter, "  delivery:    {}", self.delivery.as_str())?;
        writeln!(formatter, "  checkpoints: {}", self.store)?;
        match self.secrets {
            Some(secrets) => writeln!(formatter, "  secrets:     {secrets} read, none shown"),
            None => writeln!(formatter, "  secrets:     not read (--skip-secrets)"),
        }
    }
}

/// Validates `config` (named `source_name` in the error) as described at the top.
pub fn validate(
    config: &Config,
    source_name: &str,
    secrets: Secrets,
) -> Result<Validated, ConfigError> {
    let mut problems = config.problems();
    let (credentials, secrets_read) = match secrets {
        Secrets::Read => {
            let (credentials, secrets_read) = read_secrets(config, &mut problems);
            (credentials, Some(secrets_read))
        }
        Secrets::Skip => {
            let (kafka, properties) = without_secrets(&config.kafka);
            problems.extend(librdkafka_problems(&kafka, config, &properties));
            (Vec::new(), None)
        }
    };
    if !problems.is_empty() {
        return Err(ConfigError {
            source_name: source_name.to_owned(),
            problems,
        });
    }
    Ok(Validated {
        credentials,
        summary: summary(config, secrets_read),
    })
}

/// `kafka` as librdkafka may judge it without reading anything: a stand-in for each secret read
/// from elsewhere, no other value read from elsewhere, no `*.location` file.
fn without_secrets(kafka: &KafkaConfig) -> (KafkaConfig, Vec<(String, String)>) {
    let settings = &kafka.librdkafka;
    let mut properties = Vec::new();
    for key in settings.keys() {
        match settings.get(key) {
            Some(_) if key.ends_with(".location") => {}
            Some(value) => properties.push((key.to_owned(), value.to_owned())),
            None if is_secret_key(key) => properties.push((key.to_owned(), "stand-in".to_owned())),
            None => {}
        }
    }
    let mut judged = kafka.clone();
    judged.librdkafka = LibrdkafkaSettings::default();
    judged.librdkafka.extend(properties.iter().cloned());
    (judged, properties)
}

/// Reads every tenant's credential, the CA bundle and the `kafka.librdkafka` values kept
/// elsewhere, then has librdkafka judge the Kafka settings; returns the credentials and how many
/// secrets were read.
fn read_secrets(config: &Config, problems: &mut Vec<String>) -> (Vec<Credential>, usize) {
    let mut secrets = 0;
    let mut credentials = Vec::with_capacity(config.tenants.len());
    for (index, tenant) in config.tenants.iter().enumerate() {
        let key = format!("tenants[{index}]");
        match Credential::resolve(tenant, &key) {
            Ok(credential) => {
                secrets += secrets_of(tenant.client_secret.is_some(), tenant.auth.as_ref());
                if let Credential::WorkloadIdentity {
                    token_file,
                    token_file_key,
                } = &credential
                {
                    problems.extend(federated_token_problem(token_file, token_file_key));
                }
                credentials.push(credential);
            }
            Err(problem) => problems.push(problem),
        }
    }

    // the CA bundle, read as the HTTP client reads it
    if let Err(problem) =
        crate::graph::client::http_client(config.polling.request_timeout, &config.tls)
    {
        problems.push(problem);
    }

    match config.kafka.librdkafka.resolve_each() {
        Ok(properties) => {
            secrets += config.kafka.librdkafka.read_from_elsewhere().count();
            // values read from elsewhere are never shown, whatever librdkafka says about them
            let hidden: Vec<String> = config
                .kafka
                .librdkafka
                .read_from_elsewhere()
                .filter_map(|key| {
                    properties
                        .iter()
                        .find(|(name, _)| name == key)
                        .map(|(_, value)| value.clone())
                })
                .filter(|value| !value.is_empty())
                .collect();
            problems.extend(
                librdkafka_problems(&config.kafka, config, &properties)
                    .into_iter()
                    .map(|problem| redacted(problem, &hidden)),
            );
        }
        Err(unreadable) => problems.extend(unreadable),
    }
    (credentials, secrets)
}

/// How many secrets or credential files a tenant's mode reads.
fn secrets_of(client_secret: bool, auth: Option<&AuthConfig>) -> usize {
    if client_secret {
        return 1;
    }
    match auth {
        Some(AuthConfig::ClientSecret(_)) => 1,
        Some(AuthConfig::Certificate(certificate)) => match &certificate.source {
            CertificateSource::Pem(_) => 1,
            CertificateSource::Pkcs12 { password, .. } => 1 + usize::from(password.is_some()),
        },
        Some(AuthConfig::WorkloadIdentity(_)) => 1,
        Some(AuthConfig::ManagedIdentity(_)) | None => 0,
    }
}

/// The federated token file is read at every token request; here it must exist and hold a token.
fn federated_token_problem(path: &Path, key: &str) -> Option<String> {
    match files::read_limited(key, "the federated token file", path, CREDENTIAL_FILE_LIMIT) {
        Err(error) => Some(format!(
            "{error}; fix: point {key} at the service-account token the kubelet projects (the workload \
             identity webhook mounts it at /var/run/secrets/azure/tokens/azure-identity-token)"
        )),
        Ok(token) if token.iter().all(u8::is_ascii_whitespace) => Some(format!(
            "{key}: the federated token file {} is empty; fix: point {key} at the service-account token \
             the kubelet projects",
            path.display()
        )),
        Ok(_) => None,
    }
}

fn summary(config: &Config, secrets: Option<usize>) -> Summary {
    let topics = &config.kafka.topics;
    let mut streams = 0;
    let mut written = Vec::new();
    for tenant in &config.tenants {
        for stream in tenant.streams() {
            streams += 1;
            let topic = match stream.family() {
                crate::stream::LogFamily::SignIns => &topics.sign_ins,
                crate::stream::LogFamily::DirectoryAudits => &topics.directory_audits,
                crate::stream::LogFamily::Provisioning => &topics.provisioning,
            };
            if !written.contains(topic) {
                written.push(topic.clone());
            }
        }
    }
    written.push(topics.dead_letter.clone());
    let store = match config.checkpoint.store {
        CheckpointStoreKind::File => {
            written.sort();
            let directory = config
                .checkpoint
                .path
                .as_deref()
                .map_or_else(|| "./state".to_owned(), |path| path.display().to_string());
            format!("file store in {directory}")
        }
        CheckpointStoreKind::Kafka => {
            written.push(config.checkpoint.topic.clone());
            written.sort();
            format!("kafka store, topic {}", config.checkpoint.topic)
        }
    };
    Summary {
        tenants: config.tenants.len(),
        streams,
        topics: written,
        delivery: config.kafka.delivery,
        store,
        secrets,
    }
}

/// librdkafka's judgement of `kafka.librdkafka` (`properties`, secrets read), offline: each
/// property set alone names the one it refuses (an unknown name, a value out of its range or
/// not among its values); when every one is accepted, the producer the service makes, and with
/// the kafka store the checkpoint store's consumer, are created without any broker to find what
/// only the whole configuration shows (a SASL mechanism this build lacks, an unreadable
/// `ssl.ca.location`, `linger.ms` above `message.timeout.ms`). Without `bootstrap.servers` a
/// client connects nowhere.
fn librdkafka_problems(
    kafka: &KafkaConfig,
    config: &Config,
    properties: &[(String, String)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in properties {
        let mut alone = ClientConfig::new();
        alone.set(key, value);
        if let Err(RdKafkaError::ClientConfig(result, reason, _, _)) = alone.create_native_config()
        {
            problems.push(refused_property(key, value, result, &reason));
        }
    }
    if !problems.is_empty() {
        return problems;
    }

    let quiet = |mut client: ClientConfig| {
        client.remove("bootstrap.servers");
        // the missing brokers are no news, and a warning about a producer-only property on the
        // consumer is not a problem
        client.set_log_level(RDKafkaLogLevel::Emerg);
        client
    };
    let producer = match crate::kafka::producer_config(kafka) {
        Ok(producer) => quiet(producer),
        Err(problem) => return vec![problem],
    };
    let producer_refused = producer.create::<BaseProducer>().err();
    if let Some(error) = &producer_refused {
        problems.push(refused_client(config, "producer", error));
    }
    if config.checkpoint.store == CheckpointStoreKind::Kafka {
        match crate::kafka::client_config(kafka) {
            Ok(consumer) => {
                let mut consumer = quiet(consumer);
                consumer.set("group.id", "entrastream-validate");
                // the same reason as the producer's is said once
                if let Err(error) = consumer.create::<BaseConsumer>()
                    && producer_refused.as_ref().map(ToString::to_string) != Some(error.to_string())
                {
                    problems.push(refused_client(
                        config,
                        "checkpoint store's consumer",
                        &error,
                    ));
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    problems
}

fn refused_property(key: &str, value: &str, result: RDKafkaConfRes, reason: &str) -> String {
    let path = format!("kafka.librdkafka.{key}");
    match result {
        RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN => {
            let fix = match closest(key, PROPERTIES.iter().map(|(name, _)| *name)) {
                Some(name) => format!("did you mean {name}? write kafka.librdkafka.{name}"),
                None => format!("remove it, or write a property of {LIBRDKAFKA_PROPERTIES_URL}"),
            };
            format!(
                "{path}: librdkafka refuses it: {}; fix: {fix}",
                reason.trim()
            )
        }
        _ => {
            let allowed = PROPERTIES
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, allowed)| *allowed)
                .filter(|allowed| !allowed.is_empty());
            let fix = match allowed {
                Some(allowed) => {
                    let values = allowed.split(", ");
                    match closest(&value.to_ascii_lowercase(), values) {
                        Some(value) => {
                            format!("did you mean {value}? {key} takes one of {allowed}")
                        }
                        None => format!("{key} takes one of {allowed}"),
                    }
                }
                None => format!("write a value {key} takes ({LIBRDKAFKA_PROPERTIES_URL})"),
            };
            format!(
                "{path}: librdkafka refuses its value: {}; fix: {fix}",
                reason.trim()
            )
        }
    }
}

/// The candidate nearest `given` by edit distance, when it is near enough to be a slip.
fn closest<'a>(given: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::levenshtein(given, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 5))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A client librdkafka would not create: its reason, under the key it names when there is one,
/// and the fix for the reasons a user meets.
fn refused_client(config: &Config, client: &str, error: &RdKafkaError) -> String {
    let reason = match error {
        RdKafkaError::ClientCreation(reason) => reason.trim().to_owned(),
        other => other.to_string(),
    };
    let settings = &config.kafka.librdkafka;
    let named = settings
        .keys()
        .filter(|key| reason.contains(key))
        .max_by_key(|key| key.len())
        .map(str::to_owned);
    let (named, fix) = if reason.contains("No provider for SASL mechanism") {
        let key = ["sasl.mechanism", "sasl.mechanisms"]
            .into_iter()
            .find(|key| settings.contains_key(key))
            .unwrap_or("sasl.mechanism");
        let fix = if reason.contains("GSSAPI") {
            "build entrastream with `cargo build --release --features kerberos` (needs libsasl2-dev), or \
             choose another sasl.mechanism"
                .to_owned()
        } else {
            "choose a mechanism this build has (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)"
                .to_owned()
        };
        (Some(key.to_owned()), fix)
    } else if let Some(key) = named.as_deref().filter(|key| key.ends_with(".location")) {
        (
            named.clone(),
            format!(
                "point kafka.librdkafka.{key} at a readable file in the format librdkafka expects (PEM)"
            ),
        )
    } else {
        (
            named,
            format!("change kafka.librdkafka as librdkafka says ({LIBRDKAFKA_PROPERTIES_URL})"),
        )
    };
    let path = match named {
        Some(key) => format!("kafka.librdkafka.{key}"),
        None => "kafka.librdkafka".to_owned(),
    };
    format!("{path}: librdkafka would not create the {client}: {reason}; fix: {fix}")
}

/// `text` with every one of `hidden` replaced by `[redacted]`.
fn redacted(text: String, hidden: &[String]) -> String {
    hidden.iter().fold(text, |text, value| {
        text.replace(value.as_str(), "[redacted]")
    })
}

#[cfg(test)]
mod tests {
    use rdkafka::ClientConfig;

    use super::*;

    #[test]
    fn librdkafka_knows_every_listed_property() {
        // set to an empty value, a known property is taken or refused for its value; only an
        // unknown one is refused as such
        let unknown: Vec<&str> = PROPERTIES
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| {
                matches!(
                    ClientConfig::new().set(*name, "").create_native_config(),
                    Err(RdKafkaError::ClientConfig(
                        RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
                        ..
                    ))
                )
            })
            .collect();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(matches!(
            ClientConfig::new()
                .set("compresion.type", "")
                .create_native_config(),
            Err(RdKafkaError::ClientConfig(
                RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
                ..
            ))
        ));
    }

    #[test]
    fn a_slip_finds_the_property_or_value_meant() {
        let names = || PROPERTIES.iter().map(|(name, _)| *name);
        assert_eq!(
            closest("compresion.type", names()),
            Some("compression.type")
        );
        assert_eq!(closest("sasl.mechanisms", names()), Some("sasl.mechanisms"));
        assert_eq!(closest("entirely.made.up.words", names()), None);
        let protocols = || "plaintext, ssl, sasl_plaintext, sasl_ssl".split(", ");
        assert_eq!(closest("sasl_ssll", protocols()), Some("sasl_ssl"));
    }
}
