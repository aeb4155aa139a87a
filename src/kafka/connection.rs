//! Why Kafka does not answer: the connection errors librdkafka reports through its error
//! callback, named as a state with its fix (`/readyz`, `entrastream_kafka_state`, the log line,
//! `check`). A metadata request that times out says only "timed out"; the callback said why.

use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::telemetry::health::{KafkaState, KafkaStatus};

/// A refusal (login, certificate) explains the failures that follow it for this long: librdkafka
/// reconnects at least every `reconnect.backoff.max.ms` (10 s), and reports the refusal again.
const REFUSAL_MEMORY: Duration = Duration::from_secs(30);

/// A connection-level error from librdkafka's error callback.
#[derive(Clone, Debug)]
pub(super) struct ConnectionError {
    kind: ConnectionErrorKind,
    /// librdkafka's words, for the log.
    reason: String,
    at: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectionErrorKind {
    Authentication,
    Tls,
    Transport,
}

/// The latest connection errors: a refusal is kept beside the transport failures that follow it
/// (librdkafka reports "all brokers down" right after a refused login).
#[derive(Default)]
pub(super) struct ConnectionErrors {
    refusal: Option<ConnectionError>,
    transport: Option<ConnectionError>,
}

impl ConnectionErrors {
    /// Records an error of the callback; `false` when it is not a connection error.
    pub(super) fn record(&mut self, code: Option<RDKafkaErrorCode>, reason: &str) -> bool {
        let kind = match code {
            Some(RDKafkaErrorCode::Authentication) => ConnectionErrorKind::Authentication,
            Some(RDKafkaErrorCode::SSL) => ConnectionErrorKind::Tls,
            Some(
                RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::Resolve,
            ) => ConnectionErrorKind::Transport,
            _ => return false,
        };
        let error = ConnectionError {
            kind,
            reason: reason.to_owned(),
            at: Instant::now(),
        };
        if kind == ConnectionErrorKind::Transport {
            // "all brokers down" carries no reason worth keeping over the broker's own failure
            if code != Some(RDKafkaErrorCode::AllBrokersDown) || self.transport.is_none() {
                self.transport = Some(error);
            }
        } else {
            self.refusal = Some(error);
        }
        true
    }

    /// The cluster answered: nothing recorded explains anything any more.
    pub(super) fn clear(&mut self) {
        self.refusal = None;
        self.transport = None;
    }

    /// Why a request to the cluster failed with `error`.
    pub(super) fn explain(&self, error: &str, login: &Login) -> KafkaProblem {
        let recent_refusal = self
            .refusal
            .as_ref()
            .filter(|refusal| refusal.at.elapsed() < REFUSAL_MEMORY);
        let cause = recent_refusal.or(self.transport.as_ref());
        let detail = match cause {
            Some(cause) => format!("{error}; the last connection error: {}", cause.reason),
            None => error.to_owned(),
        };
        let state = match cause {
            Some(cause) if cause.kind == ConnectionErrorKind::Authentication => {
                KafkaState::AuthenticationFailed
            }
            Some(cause) if cause.kind == ConnectionErrorKind::Tls => {
                if cause.reason.contains("certificate verify failed") {
                    KafkaState::TlsUntrusted
                } else {
                    KafkaState::HandshakeFailed
                }
            }
            Some(cause) if is_handshake_failure(&cause.reason) => KafkaState::HandshakeFailed,
            _ => KafkaState::Unreachable,
        };
        let (what, fix) = match state {
            KafkaState::AuthenticationFailed => (login.failed_login(), login.fix()),
            KafkaState::TlsUntrusted => (
                "broker certificate not trusted".to_owned(),
                "set kafka.librdkafka.ssl.ca.location to the CA that signed it (or leave it out for a \
                 publicly trusted certificate)"
                    .to_owned(),
            ),
            KafkaState::HandshakeFailed => (
                "the brokers did not complete the handshake".to_owned(),
                format!(
                    "check kafka.librdkafka.security.protocol ({}; SSL or SASL_SSL for a TLS listener, \
                     PLAINTEXT or SASL_PLAINTEXT otherwise) and the port",
                    login.protocol
                ),
            ),
            _ => (
                format!("no broker answers at {}", login.bootstrap_servers),
                "check kafka.bootstrap_servers, the brokers and the network path; streams pause, \
                 nothing is lost"
                    .to_owned(),
            ),
        };
        KafkaProblem {
            state,
            what,
            fix,
            detail,
        }
    }
}

/// librdkafka's words when the two ends disagree about TLS or the protocol; they vary with the
/// moment the connection breaks.
fn is_handshake_failure(reason: &str) -> bool {
    [
        "SSL handshake failed",
        "in state SSL_HANDSHAKE",
        "while requesting ApiVersion",
        "in state APIVERSION_QUERY",
        "in state AUTH_HANDSHAKE",
    ]
    .iter()
    .any(|sign| reason.contains(sign))
}

/// Why the cluster did not answer, named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaProblem {
    pub state: KafkaState,
    /// The cause in a few words: "SASL authentication failed for user writer (SCRAM-SHA-512)".
    pub what: String,
    /// What the operator changes.
    pub fix: String,
    /// librdkafka's words, for the log (never for `/readyz`).
    pub detail: String,
}

impl KafkaProblem {
    /// What `/readyz` says.
    pub fn status(&self) -> KafkaStatus {
        KafkaStatus {
            state: self.state,
            summary: format!("kafka: {}: {}", self.what, self.fix),
        }
    }
}

/// Where and how the clients log in, without the password.
pub(super) struct Login {
    bootstrap_servers: String,
    protocol: String,
    mechanism: String,
    username: Option<String>,
}

impl Login {
    pub(super) fn of(config: &KafkaConfig) -> Login {
        let setting = |key: &str| config.librdkafka.get(key).map(str::to_owned);
        Login {
            bootstrap_servers: config.bootstrap_servers.clone(),
            protocol: setting("security.protocol").unwrap_or_else(|| "plaintext".to_owned()),
            mechanism: setting("sasl.mechanism")
                .or_else(|| setting("sasl.mechanisms"))
                .unwrap_or_else(|| "GSSAPI".to_owned()),
            username: setting("sasl.username"),
        }
    }

    fn failed_login(&self) -> String {
        match &self.username {
            Some(username) => format!(
                "SASL authentication failed for user {username} ({})",
                self.mechanism
            ),
            None => format!("SASL authentication failed ({})", self.mechanism),
        }
    }

    fn fix(&self) -> String {
        match self.mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                "check kafka.librdkafka.sasl.username and sasl.password (and sasl.mechanism: the \
                 brokers' mechanism for that user)"
                    .to_owned()
            }
            _ => "check kafka.librdkafka.sasl.mechanism and the sasl.* settings of that mechanism"
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(settings: &[(&str, &str)]) -> KafkaConfig {
        let mut config = KafkaConfig::new("broker-1:9093".to_owned());
        for (key, value) in settings {
            config
                .librdkafka
                .insert((*key).to_owned(), (*value).to_owned());
        }
        config
    }

    fn scram() -> KafkaConfig {
        config(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "writer"),
            ("sasl.password", "writer-secret"),
        ])
    }

    #[test]
    fn a_refused_login_is_named_with_the_user_and_never_the_password() {
        let mut errors = ConnectionErrors::default();
        errors.record(
            Some(RDKafkaErrorCode::Authentication),
            "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: Authentication failed \
             during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        );
        // librdkafka reports the brokers down right after: the refusal still explains it
        errors.record(
            Some(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let problem = errors.explain("Local: Broker transport failure", &Login::of(&scram()));
        assert_eq!(problem.state, KafkaState::AuthenticationFailed);
        assert_eq!(
            problem.status().summary,
            "kafka: SASL authentication failed for user writer (SCRAM-SHA-512): check \
             kafka.librdkafka.sasl.username and sasl.password (and sasl.mechanism: the brokers' \
             mechanism for that user)"
        );
        assert!(
            problem.detail.contains("invalid credentials"),
            "{problem:?}"
        );
        assert!(!format!("{problem:?}").contains("writer-secret"));
    }

    #[test]
    fn an_unverified_certificate_is_named_apart_from_other_tls_failures() {
        let mut untrusted = ConnectionErrors::default();
        untrusted.record(
            Some(RDKafkaErrorCode::SSL),
            "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL \
             routines::certificate verify failed: broker certificate could not be verified",
        );
        let problem = untrusted.explain("Local: Timed out", &Login::of(&scram()));
        assert_eq!(problem.state, KafkaState::TlsUntrusted);
        assert_eq!(
            problem.status().summary,
            "kafka: broker certificate not trusted: set kafka.librdkafka.ssl.ca.location to the CA \
             that signed it (or leave it out for a publicly trusted certificate)"
        );

        let mut plaintext_port = ConnectionErrors::default();
        plaintext_port.record(
            Some(RDKafkaErrorCode::BrokerTransportFailure),
            "ssl://127.0.0.1:9092/bootstrap: Disconnected while requesting ApiVersion: might be \
             caused by incorrect security.protocol configuration",
        );
        let problem = plaintext_port.explain("Local: Timed out", &Login::of(&scram()));
        assert_eq!(problem.state, KafkaState::HandshakeFailed);
        assert!(
            problem
                .fix
                .starts_with("check kafka.librdkafka.security.protocol (SASL_SSL; SSL or SASL_SSL"),
            "{problem:?}"
        );
    }

    #[test]
    fn without_a_refusal_the_brokers_are_unreachable() {
        let mut errors = ConnectionErrors::default();
        assert!(!errors.record(Some(RDKafkaErrorCode::MessageTimedOut), "timed out"));
        errors.record(
            Some(RDKafkaErrorCode::BrokerTransportFailure),
            "broker-1:9093/bootstrap: Connect to ipv4#10.0.0.1:9093 failed: Connection refused",
        );
        let problem = errors.explain("Local: Timed out", &Login::of(&config(&[])));
        assert_eq!(problem.state, KafkaState::Unreachable);
        assert_eq!(
            problem.status().summary,
            "kafka: no broker answers at broker-1:9093: check kafka.bootstrap_servers, the brokers \
             and the network path; streams pause, nothing is lost"
        );
        assert_eq!(
            problem.detail,
            "Local: Timed out; the last connection error: broker-1:9093/bootstrap: Connect to \
             ipv4#10.0.0.1:9093 failed: Connection refused"
        );
        errors.clear();
        assert_eq!(
            errors
                .explain("Local: Timed out", &Login::of(&config(&[])))
                .detail,
            "Local: Timed out"
        );
    }
}
