//! What `/healthz` and `/readyz` report: alive while the process serves; ready while Kafka is
//! reachable and healthy and every tenant can get tokens.
//!
//! Kafka's health is a named state, so that a refused login or an untrusted certificate does not
//! look like a network outage: `/readyz` and `entrastream_kafka_state` name it with its fix.

use std::collections::BTreeMap;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;

/// The state of the connection to Kafka, from the last probe (and the producer's fatal error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaState {
    /// No probe has answered yet.
    Unknown,
    Reachable,
    /// No broker answers (the network, the brokers, the address).
    Unreachable,
    /// The brokers refuse the SASL login.
    AuthenticationFailed,
    /// The brokers' certificate is not trusted.
    TlsUntrusted,
    /// The connection breaks during the handshake (TLS against a plaintext port or the reverse,
    /// another TLS failure).
    HandshakeFailed,
    /// The producer cannot go on; the process stops.
    Fatal,
}

impl KafkaState {
    pub const ALL: [KafkaState; 7] = [
        KafkaState::Unknown,
        KafkaState::Reachable,
        KafkaState::Unreachable,
        KafkaState::AuthenticationFailed,
        KafkaState::TlsUntrusted,
        KafkaState::HandshakeFailed,
        KafkaState::Fatal,
    ];

    /// The label value of `entrastream_kafka_state`.
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaState::Unknown => "unknown",
            KafkaState::Reachable => "reachable",
            KafkaState::Unreachable => "unreachable",
            KafkaState::AuthenticationFailed => "authentication_failed",
            KafkaState::TlsUntrusted => "tls_untrusted",
            KafkaState::HandshakeFailed => "handshake_failed",
            KafkaState::Fatal => "fatal",
        }
    }

    /// Whether the brokers refuse the connection for a reason only the operator can fix.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            KafkaState::AuthenticationFailed
                | KafkaState::TlsUntrusted
                | KafkaState::HandshakeFailed
        )
    }
}

/// Kafka's state and what `/readyz` says about it: the cause in a few words and the fix, never
/// the broker's or librdkafka's raw text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaStatus {
    pub state: KafkaState,
    pub summary: String,
}

impl KafkaStatus {
    pub fn reachable() -> KafkaStatus {
        KafkaStatus {
            state: KafkaState::Reachable,
            summary: "kafka: reachable".to_owned(),
        }
    }
}

impl Default for KafkaStatus {
    fn default() -> Self {
        KafkaStatus {
            state: KafkaState::Unknown,
            summary: "kafka: not probed yet".to_owned(),
        }
    }
}

pub struct Health {
    kafka: Mutex<KafkaStatus>,
    /// Kafka's state as it changes (a stop waits for acknowledgements only while Kafka can give
    /// them).
    kafka_states: watch::Sender<KafkaState>,
    tenants: Mutex<BTreeMap<String, Option<String>>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            kafka: Mutex::new(KafkaStatus::default()),
            kafka_states: watch::Sender::new(KafkaState::Unknown),
            tenants: Mutex::new(BTreeMap::new()),
        }
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub problems: Vec<String>,
}

impl Health {
    pub fn new() -> Self {
        Health::default()
    }

    /// The outcome of a probe; a fatal producer error stays, whatever probes say after it.
    pub fn kafka_probe(&self, status: KafkaStatus) {
        let mut kafka = self.kafka.lock();
        if kafka.state != KafkaState::Fatal {
            self.kafka_states.send_replace(status.state);
            *kafka = status;
        }
    }

    pub fn kafka_fatal(&self, error: String) {
        *self.kafka.lock() = KafkaStatus {
            state: KafkaState::Fatal,
            summary: format!("kafka: the producer failed: {error}"),
        };
        self.kafka_states.send_replace(KafkaState::Fatal);
    }

    pub fn kafka_state(&self) -> KafkaState {
        self.kafka.lock().state
    }

    /// Kafka's state, following its changes.
    pub fn kafka_states(&self) -> watch::Receiver<KafkaState> {
        self.kafka_states.subscribe()
    }

    pub fn register_tenant(&self, tenant: &str) {
        self.tenants.lock().entry(tenant.to_owned()).or_insert(None);
    }

    /// `None` when the tenant's credentials work, the refusal otherwise.
    pub fn tenant_auth(&self, tenant: &str, problem: Option<String>) {
        self.tenants.lock().insert(tenant.to_owned(), problem);
    }

    pub fn readiness(&self) -> Readiness {
        let mut problems = Vec::new();
        {
            let kafka = self.kafka.lock();
            if kafka.state != KafkaState::Reachable {
                problems.push(kafka.summary.clone());
            }
        }
        for (tenant, problem) in self.tenants.lock().iter() {
            if let Some(problem) = problem {
                problems.push(format!("tenant {tenant}: {problem}"));
            }
        }
        Readiness {
            ready: problems.is_empty(),
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: KafkaState, summary: &str) -> KafkaStatus {
        KafkaStatus {
            state,
            summary: summary.to_owned(),
        }
    }

    #[test]
    fn readiness_names_the_kafka_state_until_a_probe_answers() {
        let health = Health::new();
        assert_eq!(
            health.readiness(),
            Readiness {
                ready: false,
                problems: vec!["kafka: not probed yet".to_owned()],
            }
        );
        health.kafka_probe(status(
            KafkaState::AuthenticationFailed,
            "kafka: SASL authentication failed",
        ));
        assert_eq!(
            health.readiness().problems,
            vec!["kafka: SASL authentication failed"]
        );
        health.kafka_probe(status(KafkaState::Reachable, "kafka: reachable"));
        assert_eq!(
            health.readiness(),
            Readiness {
                ready: true,
                problems: Vec::new(),
            }
        );
    }

    #[test]
    fn a_fatal_producer_error_outlives_later_probes() {
        let health = Health::new();
        health.kafka_fatal("fenced".to_owned());
        health.kafka_probe(status(KafkaState::Reachable, "kafka: reachable"));
        assert_eq!(health.kafka_state(), KafkaState::Fatal);
        assert_eq!(
            health.readiness().problems,
            vec!["kafka: the producer failed: fenced"]
        );
    }
}
