//! Keys that cannot mean what they say together: a key of the file store beside `store: kafka`,
//! a transaction setting without transactions, SASL settings without SASL. Left alone, each is
//! silently ignored and the service runs differently from what its configuration reads like, so
//! each is refused with both keys and the fix.
//!
//! A key that only restates its default is not refused: `config/full.yaml` shows every key of a
//! block with its default, whichever mode the block is in.

use super::{AuthConfig, CheckpointConfig, CheckpointStoreKind, Config, Delivery};

/// Every contradiction in `config`, each naming both keys and the fix.
pub(super) fn contradictions(config: &Config, problems: &mut Vec<String>) {
    checkpoint_store(&config.checkpoint, problems);
    delivery(config, problems);
    kafka_security(config, problems);
    for (index, tenant) in config.tenants.iter().enumerate() {
        if let Some(AuthConfig::ManagedIdentity(_)) = &tenant.auth
            && tenant
                .endpoints
                .as_ref()
                .is_some_and(|endpoints| endpoints.login.is_some())
        {
            problems.push(format!(
                "tenants[{index}].endpoints.login: not used with tenants[{index}].auth.managed_identity, whose \
                 tokens come from the instance metadata service; fix: remove endpoints.login, or set \
                 auth.managed_identity.endpoint to reach another token endpoint"
            ));
        }
    }
}

fn checkpoint_store(checkpoint: &CheckpointConfig, problems: &mut Vec<String>) {
    match checkpoint.store {
        CheckpointStoreKind::Kafka => {
            if let Some(path) = &checkpoint.path {
                problems.push(format!(
                    "checkpoint.path: `{}` is not used with checkpoint.store: kafka, which keeps the cursors \
                     in checkpoint.topic; fix: remove checkpoint.path, or set checkpoint.store: file to keep \
                     them in that directory",
                    path.display()
                ));
            }
        }
        CheckpointStoreKind::File => {
            let default = CheckpointConfig::default();
            let kafka_only = [
                ("topic", checkpoint.topic != default.topic),
                (
                    "create_topic",
                    checkpoint.create_topic != default.create_topic,
                ),
                (
                    "verify_topic",
                    checkpoint.verify_topic != default.verify_topic,
                ),
                (
                    "topic_partitions",
                    checkpoint.topic_partitions != default.topic_partitions,
                ),
                (
                    "replication_factor",
                    checkpoint.replication_factor != default.replication_factor,
                ),
                (
                    "max_record_bytes",
                    checkpoint.max_record_bytes != default.max_record_bytes,
                ),
                (
                    "load_timeout",
                    checkpoint.load_timeout != default.load_timeout,
                ),
                (
                    "takeover_wait",
                    checkpoint.takeover_wait != default.takeover_wait,
                ),
            ];
            for (key, changed) in kafka_only {
                if changed {
                    problems.push(format!(
                        "checkpoint.{key}: applies to the kafka store only, and checkpoint.store is file (the \
                         default); fix: set checkpoint.store: kafka, or remove checkpoint.{key}"
                    ));
                }
            }
        }
    }
}

fn delivery(config: &Config, problems: &mut Vec<String>) {
    match config.kafka.delivery {
        Delivery::AtLeastOnce => {
            if config.kafka.transaction_timeout != super::default_transaction_timeout() {
                problems.push(
                    "kafka.transaction_timeout: applies to kafka.delivery: exactly_once only, and delivery is \
                     at_least_once (the default); fix: set kafka.delivery: exactly_once, or remove \
                     kafka.transaction_timeout"
                        .to_owned(),
                );
            }
        }
        Delivery::ExactlyOnce => {
            if config.checkpoint.interval != CheckpointConfig::default().interval {
                problems.push(
                    "checkpoint.interval: not used with kafka.delivery: exactly_once, which commits every page's \
                     cursor in the page's transaction; fix: remove checkpoint.interval, or set kafka.delivery: \
                     at_least_once"
                        .to_owned(),
                );
            }
        }
    }
}

/// librdkafka reads `sasl.*` only with a SASL protocol and `ssl.*` only with a TLS one, and
/// ignores them otherwise without a word: a login that is never sent.
fn kafka_security(config: &Config, problems: &mut Vec<String>) {
    let settings = &config.kafka.librdkafka;
    // read from the environment or a file: not known here
    if settings.contains_key("security.protocol") && settings.get("security.protocol").is_none() {
        return;
    }
    let protocol = settings.get("security.protocol").map_or_else(
        || "plaintext".to_owned(),
        |protocol| protocol.trim().to_ascii_lowercase(),
    );
    let (written, uses_sasl, uses_tls) = match protocol.as_str() {
        "plaintext" => (settings.contains_key("security.protocol"), false, false),
        "ssl" => (true, false, true),
        "sasl_plaintext" => (true, true, false),
        "sasl_ssl" => (true, true, true),
        // librdkafka refuses any other value, with its reason (`validate`)
        _ => return,
    };
    let shown = if written {
        format!("kafka.librdkafka.security.protocol is {protocol}")
    } else {
        "kafka.librdkafka.security.protocol is plaintext (the default)".to_owned()
    };
    for key in settings.keys() {
        if !uses_sasl && key.starts_with("sasl.") {
            problems.push(format!(
                "kafka.librdkafka.{key}: SASL settings are used only with security.protocol sasl_ssl or \
                 sasl_plaintext, and {shown}; fix: set kafka.librdkafka.security.protocol: SASL_SSL, or \
                 remove kafka.librdkafka.{key}"
            ));
        }
        // sasl_plaintext with OIDC may still reach its token endpoint over TLS: only plaintext
        if !uses_tls && !uses_sasl && key.starts_with("ssl.") {
            problems.push(format!(
                "kafka.librdkafka.{key}: TLS settings are used only with security.protocol ssl or sasl_ssl, \
                 and {shown}; fix: set kafka.librdkafka.security.protocol: SSL (or SASL_SSL), or remove \
                 kafka.librdkafka.{key}"
            ));
        }
    }
}
