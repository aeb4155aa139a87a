//! Secrets in configuration: named by where they live (`{env: NAME}` or `{file: PATH}`), never
//! written inline, read at start-up, and never printed.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::files::CREDENTIAL_FILE_LIMIT;

/// Where a secret is read from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file; a trailing newline is ignored (Kubernetes secret volumes and editors add one).
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(formatter, "{{env: {name}}}"),
            SecretSource::File(path) => write!(formatter, "{{file: {}}}", path.display()),
        }
    }
}

impl SecretSource {
    /// Reads the secret. `key` names the configuration key in the error message.
    pub fn resolve(&self, key: &str) -> Result<Secret, String> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|error| match error {
                std::env::VarError::NotPresent => format!(
                    "{key}: environment variable {name} is not set; fix: set {name} to the secret in \
                     the environment entrastream runs in (`export {name}=...` in its shell, an `env` \
                     entry from a Secret in its pod), or read the secret from a file: \
                     {{file: PATH}}"
                ),
                std::env::VarError::NotUnicode(_) => {
                    format!("{key}: environment variable {name} is not valid UTF-8")
                }
            })?,
            SecretSource::File(path) => {
                crate::files::read_text_limited(key, "the secret file", path, CREDENTIAL_FILE_LIMIT)
                    .map_err(|error| match error.problem {
                        crate::files::FileProblem::Unreadable(_) => format!(
                            "{error}; fix: point {key} at the file that holds the secret (in a pod, \
                             where its Secret is mounted), or read it from the environment: \
                             {{env: VARIABLE}}"
                        ),
                        crate::files::FileProblem::TooLarge { .. } => error.to_string(),
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned()
            }
        };
        if value.is_empty() {
            let fix = match self {
                SecretSource::Env(name) => format!("set {name} to the secret, not to nothing"),
                SecretSource::File(path) => format!("write the secret into {}", path.display()),
            };
            return Err(format!(
                "{key}: the secret from {self:?} is empty; fix: {fix}"
            ));
        }
        Ok(Secret(SecretString::from(value)))
    }
}

/// Written as the map it is read from: `{env: NAME}` or `{file: PATH}`.
impl Serialize for SecretSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            SecretSource::Env(name) => map.serialize_entry("env", name)?,
            SecretSource::File(path) => map.serialize_entry("file", path)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;

        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = SecretSource;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("{env: VARIABLE} or {file: PATH}")
            }

            fn visit_str<E: de::Error>(self, _value: &str) -> Result<SecretSource, E> {
                Err(E::custom(
                    "inline secrets are not accepted: write {env: VARIABLE} or {file: PATH}",
                ))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty secret: write {env: VARIABLE} or {file: PATH}",
                    ));
                };
                let source = match key.as_str() {
                    "env" => SecretSource::Env(map.next_value()?),
                    "file" => SecretSource::File(map.next_value()?),
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown secret source `{other}`: write {{env: VARIABLE}} or {{file: PATH}}"
                        )));
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "a secret has one source: {env: VARIABLE} or {file: PATH}",
                    ));
                }
                Ok(source)
            }
        }

        deserializer.deserialize_any(SourceVisitor)
    }
}

/// A secret value; `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The value, for the one place that must send it (a token request).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_env_or_file_and_never_show() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("secret");
        std::fs::write(&path, "s3cr3t-from-file\n").expect("write");
        let from_file = SecretSource::File(path.clone())
            .resolve("tenants[0].client_secret")
            .expect("reads");
        assert_eq!(from_file.expose(), "s3cr3t-from-file");
        assert_eq!(format!("{from_file:?}"), "[redacted]");

        let missing = SecretSource::Env("ENTRASTREAM_TEST_UNSET_VARIABLE".to_owned())
            .resolve("tenants[0].client_secret")
            .unwrap_err();
        assert_eq!(
            missing,
            "tenants[0].client_secret: environment variable ENTRASTREAM_TEST_UNSET_VARIABLE is not \
             set; fix: set ENTRASTREAM_TEST_UNSET_VARIABLE to the secret in the environment \
             entrastream runs in (`export ENTRASTREAM_TEST_UNSET_VARIABLE=...` in its shell, an \
             `env` entry from a Secret in its pod), or read the secret from a file: {file: PATH}"
        );
        let unreadable = SecretSource::File(directory.path().join("absent"))
            .resolve("k")
            .unwrap_err();
        assert!(
            unreadable.starts_with("k: cannot read the secret file "),
            "{unreadable}"
        );
    }

    #[test]
    fn inline_secrets_are_refused() {
        let error = serde_yaml_ng::from_str::<SecretSource>("hunter2")
            .unwrap_err()
            .to_string();
        assert!(error.contains("inline secrets are not accepted"), "{error}");
        let env: SecretSource = serde_yaml_ng::from_str("{env: SECRET}").expect("parses");
        assert_eq!(env, SecretSource::Env("SECRET".to_owned()));
    }
}
