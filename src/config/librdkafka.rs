//! `kafka.librdkafka`: librdkafka properties passed through to every Kafka client. A value is
//! written inline, or read from the environment or a file (`{env: NAME}`, `{file: PATH}`) when a
//! client is made; secrets (`sasl.password`, `ssl.key.password`, any key ending in `password` or
//! `secret`, ...) must be read so, never written inline, and never appear in `Debug` output.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::SecretSource;

/// The properties, by name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LibrdkafkaSettings(BTreeMap<String, LibrdkafkaValue>);

/// One property's value.
#[derive(Clone, PartialEq, Eq)]
pub enum LibrdkafkaValue {
    Inline(String),
    /// Read when a client is made.
    From(SecretSource),
}

/// Whether `key` names a secret: written inline, it would sit in a file, a ConfigMap, a
/// repository.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.ends_with("password")
        || key.ends_with("secret")
        || matches!(key.as_str(), "ssl.key.pem" | "ssl_key")
}

impl LibrdkafkaSettings {
    /// An inline value (a value read from the environment or a file is not known here).
    pub fn get(&self, key: &str) -> Option<&str> {
        match self.0.get(key)? {
            LibrdkafkaValue::Inline(value) => Some(value),
            LibrdkafkaValue::From(_) => None,
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0
            .insert(key.into(), LibrdkafkaValue::Inline(value.into()));
    }

    pub fn insert_from(&mut self, key: impl Into<String>, source: SecretSource) {
        self.0.insert(key.into(), LibrdkafkaValue::From(source));
    }

    pub fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Secrets written inline, which the configuration refuses.
    pub fn inline_secrets(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(key, value)| {
                is_secret_key(key) && matches!(value, LibrdkafkaValue::Inline(_))
            })
            .map(|(key, _)| key.as_str())
    }

    /// Every property with its value, those from the environment or a file read now; every
    /// problem at once, each naming its key.
    pub fn resolve(&self) -> Result<Vec<(String, String)>, String> {
        self.resolve_each().map_err(|problems| problems.join("; "))
    }

    /// As `resolve`, with one message per property that cannot be read.
    pub fn resolve_each(&self) -> Result<Vec<(String, String)>, Vec<String>> {
        let mut properties = Vec::with_capacity(self.0.len());
        let mut problems = Vec::new();
        for (key, value) in &self.0 {
            match value {
                LibrdkafkaValue::Inline(value) => properties.push((key.clone(), value.clone())),
                LibrdkafkaValue::From(source) => {
                    match source.resolve(&format!("kafka.librdkafka.{key}")) {
                        Ok(secret) => properties.push((key.clone(), secret.expose().to_owned())),
                        Err(problem) => problems.push(problem),
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(properties)
        } else {
            Err(problems)
        }
    }

    /// The properties whose value is read from the environment or a file.
    pub fn read_from_elsewhere(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, value)| matches!(value, LibrdkafkaValue::From(_)))
            .map(|(key, _)| key.as_str())
    }
}

impl fmt::Debug for LibrdkafkaSettings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = formatter.debug_map();
        for (key, value) in &self.0 {
            match value {
                LibrdkafkaValue::Inline(_) if is_secret_key(key) => {
                    map.entry(key, &"[redacted]");
                }
                LibrdkafkaValue::Inline(value) => {
                    map.entry(key, value);
                }
                LibrdkafkaValue::From(source) => {
                    map.entry(key, source);
                }
            }
        }
        map.finish()
    }
}

impl<const N: usize> From<[(&str, &str); N]> for LibrdkafkaSettings {
    fn from(pairs: [(&str, &str); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for LibrdkafkaSettings {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Self {
        let mut settings = LibrdkafkaSettings::default();
        for (key, value) in pairs {
            settings.insert(key, value);
        }
        settings
    }
}

impl Extend<(String, String)> for LibrdkafkaSettings {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
    }
}

impl Serialize for LibrdkafkaSettings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl Serialize for LibrdkafkaValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LibrdkafkaValue::Inline(value) => serializer.serialize_str(value),
            LibrdkafkaValue::From(source) => source.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for LibrdkafkaSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(deserializer).map(LibrdkafkaSettings)
    }
}

impl<'de> Deserialize<'de> for LibrdkafkaValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = LibrdkafkaValue;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string, or {env: VARIABLE} or {file: PATH}")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<LibrdkafkaValue, E> {
                Ok(LibrdkafkaValue::Inline(value.to_owned()))
            }

            // librdkafka takes every property as text: `linger.ms: 20` means "20"
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<LibrdkafkaValue, E> {
                Ok(LibrdkafkaValue::Inline(value.to_string()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<LibrdkafkaValue, E> {
                Ok(LibrdkafkaValue::Inline(value.to_string()))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<LibrdkafkaValue, E> {
                Ok(LibrdkafkaValue::Inline(value.to_string()))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<LibrdkafkaValue, M::Error> {
                SecretSource::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(LibrdkafkaValue::From)
            }
        }

        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> LibrdkafkaSettings {
        serde_yaml_ng::from_str(yaml).expect("reads")
    }

    #[test]
    fn values_are_inline_text_or_read_from_the_environment_or_a_file() {
        let read = settings(
            "security.protocol: SASL_SSL\nlinger.ms: 20\nenable.ssl.certificate.verification: true\n\
             sasl.password: {env: ENTRASTREAM_TEST_KAFKA_PASSWORD_SET}\n",
        );
        assert_eq!(read.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(read.get("linger.ms"), Some("20"));
        assert_eq!(
            read.get("enable.ssl.certificate.verification"),
            Some("true")
        );
        assert_eq!(read.get("sasl.password"), None, "not known until read");
        let refused = read.resolve().expect_err("the variable is not set");
        assert_eq!(
            refused,
            "kafka.librdkafka.sasl.password: environment variable ENTRASTREAM_TEST_KAFKA_PASSWORD_SET is not \
             set; fix: set ENTRASTREAM_TEST_KAFKA_PASSWORD_SET to the secret in the environment \
             entrastream runs in (`export ENTRASTREAM_TEST_KAFKA_PASSWORD_SET=...` in its shell, an \
             `env` entry from a Secret in its pod), or read the secret from a file: {file: PATH}"
        );
        let directory = tempfile::tempdir().expect("tempdir");
        let file = directory.path().join("password");
        std::fs::write(&file, "kafka-secret\n").expect("writes");
        let mut from_file = read.clone();
        from_file.insert_from("sasl.password", SecretSource::File(file.clone()));
        let resolved = from_file.resolve().expect("reads the file");
        assert!(resolved.contains(&("sasl.password".to_owned(), "kafka-secret".to_owned())));
        assert!(!format!("{from_file:?}").contains("kafka-secret"));
        // written back as read
        let yaml = serde_yaml_ng::to_string(&from_file).expect("writes");
        assert_eq!(settings(&yaml), from_file);
    }

    #[test]
    fn inline_secrets_are_named_and_never_shown() {
        let read = settings(
            "sasl.username: writer\nsasl.password: hunter2\nssl.key.password: also-secret\n\
             sasl.oauthbearer.client.secret: {env: X}\n",
        );
        assert_eq!(
            read.inline_secrets().collect::<Vec<_>>(),
            vec!["sasl.password", "ssl.key.password"]
        );
        let shown = format!("{read:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("also-secret"),
            "{shown}"
        );
        assert!(shown.contains("\"sasl.username\": \"writer\""), "{shown}");
    }
}
