//! `run --validate-only` can be trusted: what it calls valid starts, and what would fail at start
//! (a missing secret, a property librdkafka refuses, a malformed id, a contradiction) is refused
//! with its key and fix, all problems at once, and no secret in the output. The binary is run as
//! a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use entrastream::config::{CheckpointStoreKind, Config};

const BASE: &str = "tenants:
  - id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-0000000000aa
    client_secret: {env: ENTRASTREAM_TEST_VALIDATE_SECRET}
kafka:
  bootstrap_servers: kafka.example:9093
";

/// The value of every secret a test hands over: it must never appear in any output.
const CANARY: &str = "canary-7f3a-do-not-print";

fn validate_only(config: &Path, environment: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_entrastream"));
    command
        .args(["run", "--validate-only", "--config"])
        .arg(config)
        .env_remove("ENTRASTREAM_TEST_VALIDATE_SECRET")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE");
    for (name, value) in environment {
        command.env(name, value);
    }
    command.output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_canary(output: &Output) {
    let all = text(&output.stdout) + &text(&output.stderr);
    assert!(!all.contains("canary"), "a secret in the output: {all}");
}

/// The problems of a refused configuration, as `run --validate-only` lists them on stderr.
fn problems(output: &Output, file: &Path) -> Vec<String> {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert_no_canary(output);
    let stderr = text(&output.stderr);
    let prefix = format!("error: invalid configuration {}:", file.display());
    let rest = stderr
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{stderr}"));
    match rest.strip_prefix(' ') {
        Some(single) => vec![single.trim_end().to_owned()],
        None => rest
            .lines()
            .filter_map(|line| line.strip_prefix("  - "))
            .map(str::to_owned)
            .collect(),
    }
}

const MISSING_VARIABLE: &str = "tenants[0].client_secret: environment variable ENTRASTREAM_TEST_VALIDATE_SECRET is \
     not set; fix: set ENTRASTREAM_TEST_VALIDATE_SECRET to the secret in the environment entrastream runs in \
     (`export ENTRASTREAM_TEST_VALIDATE_SECRET=...` in its shell, an `env` entry from a Secret in its pod), or \
     read the secret from a file: {file: PATH}";

/// A configuration, the environment it is validated in, and the problems expected.
type Case<'a> = (String, &'a [(&'a str, &'a str)], Vec<String>);

#[test]
fn every_mistake_of_the_issue_is_refused_with_its_key_and_fix() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("bad.yaml");
    let absent = directory.path().join("absent-secret");
    let empty = directory.path().join("empty-secret");
    std::fs::write(&empty, "\n").expect("write");
    let with_secret = [("ENTRASTREAM_TEST_VALIDATE_SECRET", CANARY)];
    let cases: Vec<Case> = vec![
        (BASE.to_owned(), &[], vec![MISSING_VARIABLE.to_owned()]),
        (
            BASE.replace(
                "{env: ENTRASTREAM_TEST_VALIDATE_SECRET}",
                &format!("{{file: {}}}", absent.display()),
            ),
            &[],
            vec![format!(
                "tenants[0].client_secret: cannot read the secret file {}: No such file or directory \
                 (os error 2); fix: point tenants[0].client_secret at the file that holds the secret (in a \
                 pod, where its Secret is mounted), or read it from the environment: {{env: VARIABLE}}",
                absent.display()
            )],
        ),
        (
            BASE.replace(
                "{env: ENTRASTREAM_TEST_VALIDATE_SECRET}",
                &format!("{{file: {}}}", empty.display()),
            ),
            &[],
            vec![format!(
                "tenants[0].client_secret: the secret from {{file: {}}} is empty; fix: write the secret \
                 into {}",
                empty.display(),
                empty.display()
            )],
        ),
        (
            format!("{BASE}  librdkafka: {{compresion.type: lz4}}\n"),
            &with_secret,
            vec![
                "kafka.librdkafka.compresion.type: librdkafka refuses it: No such configuration property: \
                 \"compresion.type\"; fix: did you mean compression.type? write kafka.librdkafka.compression.type"
                    .to_owned(),
            ],
        ),
        (
            format!("{BASE}  librdkafka: {{security.protocol: SASL_SSLL}}\n"),
            &with_secret,
            vec![
                "kafka.librdkafka.security.protocol: librdkafka refuses its value: Invalid value \"SASL_SSLL\" \
                 for configuration property \"security.protocol\"; fix: did you mean sasl_ssl? \
                 security.protocol takes one of plaintext, ssl, sasl_plaintext, sasl_ssl"
                    .to_owned(),
            ],
        ),
        (
            BASE.replace("contoso.onmicrosoft.com", "not-a-guid-1234")
                .replace("00000000-0000-0000-0000-0000000000aa", "contoso-reader"),
            &with_secret,
            vec![
                "tenants[0].id: \"not-a-guid-1234\" is not a tenant id; write the directory (tenant) id, a \
                 GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or a verified domain such as \
                 contoso.onmicrosoft.com (ASCII letters, digits, '-' and '.', at least one dot, no empty \
                 label, no label starting or ending with '-')"
                    .to_owned(),
                "tenants[0].client_id: \"contoso-reader\" is not an application (client) id; write the GUID \
                 the app registration's overview page shows as Application (client) ID"
                    .to_owned(),
            ],
        ),
        (
            format!("{BASE}checkpoint: {{store: kafka, path: /var/lib/entrastream}}\n"),
            &with_secret,
            vec![
                "checkpoint.path: `/var/lib/entrastream` is not used with checkpoint.store: kafka, which keeps \
                 the cursors in checkpoint.topic; fix: remove checkpoint.path, or set checkpoint.store: file \
                 to keep them in that directory"
                    .to_owned(),
            ],
        ),
    ];
    for (yaml, environment, expected) in cases {
        std::fs::write(&file, &yaml).expect("write");
        let output = validate_only(&file, environment);
        assert_eq!(problems(&output, &file), expected, "{yaml}");
    }
}

#[test]
fn every_problem_is_listed_at_once_and_no_secret_is_shown() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("bad.yaml");
    // a value read from the environment that librdkafka refuses is named, never shown
    std::fs::write(
        &file,
        format!(
            "{}  librdkafka:\n    compresion.type: lz4\n    security.protocol: {{env: ENTRASTREAM_TEST_PROTOCOL}}\n\
             checkpoint: {{store: kafka, path: /x}}\n",
            BASE.replace("00000000-0000-0000-0000-0000000000aa", "contoso-reader")
        ),
    )
    .expect("write");
    let output = validate_only(&file, &[("ENTRASTREAM_TEST_PROTOCOL", CANARY)]);
    assert_eq!(
        problems(&output, &file),
        vec![
            "tenants[0].client_id: \"contoso-reader\" is not an application (client) id; write the GUID the \
             app registration's overview page shows as Application (client) ID"
                .to_owned(),
            "checkpoint.path: `/x` is not used with checkpoint.store: kafka, which keeps the cursors in \
             checkpoint.topic; fix: remove checkpoint.path, or set checkpoint.store: file to keep them in \
             that directory"
                .to_owned(),
            MISSING_VARIABLE.to_owned(),
            "kafka.librdkafka.compresion.type: librdkafka refuses it: No such configuration property: \
             \"compresion.type\"; fix: did you mean compression.type? write kafka.librdkafka.compression.type"
                .to_owned(),
            "kafka.librdkafka.security.protocol: librdkafka refuses its value: Invalid value \"[redacted]\" for \
             configuration property \"security.protocol\"; fix: security.protocol takes one of plaintext, \
             ssl, sasl_plaintext, sasl_ssl"
                .to_owned(),
        ]
    );
}

#[test]
fn what_only_the_whole_kafka_configuration_shows_is_refused_offline() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("kafka.yaml");
    let absent_ca = directory.path().join("absent-ca.pem");
    let environment = [
        ("ENTRASTREAM_TEST_VALIDATE_SECRET", CANARY),
        ("ENTRASTREAM_TEST_KAFKA_PASSWORD", CANARY),
    ];
    let sasl = "  librdkafka:\n    security.protocol: SASL_SSL\n    sasl.username: reader\n    \
                sasl.password: {env: ENTRASTREAM_TEST_KAFKA_PASSWORD}\n";
    let cases = [
        (
            format!("{BASE}{sasl}    sasl.mechanism: GSSAPI\n"),
            "kafka.librdkafka.sasl.mechanism: librdkafka would not create the producer: No provider for SASL \
             mechanism GSSAPI: recompile librdkafka with libsasl2 or openssl support. Current build options: \
             PLAIN SASL_SCRAM OAUTHBEARER; fix: build entrastream with `cargo build --release --features \
             kerberos` (needs libsasl2-dev), or choose another sasl.mechanism"
                .to_owned(),
        ),
        (
            format!(
                "{BASE}{sasl}    sasl.mechanism: SCRAM-SHA-512\n    ssl.ca.location: {}\n",
                absent_ca.display()
            ),
            "kafka.librdkafka.ssl.ca.location: librdkafka would not create the producer: ssl.ca.location \
             failed: error:05880002:x509 certificate routines::system lib; fix: point \
             kafka.librdkafka.ssl.ca.location at a readable file in the format librdkafka expects (PEM)"
                .to_owned(),
        ),
        (
            format!("{BASE}  librdkafka: {{linger.ms: '5000', message.timeout.ms: '1000'}}\n"),
            "kafka.librdkafka.message.timeout.ms: librdkafka would not create the producer: \
             `message.timeout.ms` must be greater than `linger.ms`; fix: change kafka.librdkafka as librdkafka \
             says (https://github.com/confluentinc/librdkafka/blob/v2.12.1/CONFIGURATION.md)"
                .to_owned(),
        ),
        (
            format!("{BASE}  librdkafka: {{sasl.username: reader}}\n"),
            "kafka.librdkafka.sasl.username: SASL settings are used only with security.protocol sasl_ssl or \
             sasl_plaintext, and kafka.librdkafka.security.protocol is plaintext (the default); fix: set \
             kafka.librdkafka.security.protocol: SASL_SSL, or remove kafka.librdkafka.sasl.username"
                .to_owned(),
        ),
    ];
    for (yaml, expected) in cases {
        std::fs::write(&file, &yaml).expect("write");
        let output = validate_only(&file, &environment);
        assert_eq!(problems(&output, &file), vec![expected], "{yaml}");
    }
}

#[test]
fn contradictions_name_both_keys_and_the_fix() {
    let base = BASE.replace("{env: ENTRASTREAM_TEST_VALIDATE_SECRET}", "{env: S}");
    let refused = |tail: &str| {
        Config::from_yaml(&format!("{base}{tail}"), "test.yaml")
            .expect_err("refused")
            .problems
    };
    assert_eq!(
        refused("checkpoint: {path: /x, topic: my.checkpoints, load_timeout: 5m}\n"),
        vec![
            "checkpoint.topic: applies to the kafka store only, and checkpoint.store is file (the default); \
             fix: set checkpoint.store: kafka, or remove checkpoint.topic",
            "checkpoint.load_timeout: applies to the kafka store only, and checkpoint.store is file (the \
             default); fix: set checkpoint.store: kafka, or remove checkpoint.load_timeout",
        ]
    );
    let at_least_once = base.replace(
        "kafka.example:9093\n",
        "kafka.example:9093\n  transaction_timeout: 5m\n",
    );
    assert_eq!(
        Config::from_yaml(&at_least_once, "test.yaml")
            .expect_err("refused")
            .problems,
        vec![
            "kafka.transaction_timeout: applies to kafka.delivery: exactly_once only, and delivery is \
             at_least_once (the default); fix: set kafka.delivery: exactly_once, or remove \
             kafka.transaction_timeout"
        ]
    );
    let exactly_once = base.replace(
        "kafka.example:9093\n",
        "kafka.example:9093\n  delivery: exactly_once\n",
    );
    assert_eq!(
        Config::from_yaml(
            &format!("{exactly_once}checkpoint: {{store: kafka, interval: 0s}}\n"),
            "test.yaml"
        )
        .expect_err("refused")
        .problems,
        vec![
            "checkpoint.interval: not used with kafka.delivery: exactly_once, which commits every page's cursor \
             in the page's transaction; fix: remove checkpoint.interval, or set kafka.delivery: at_least_once"
        ]
    );
    let managed = base.replace(
        "    client_secret: {env: S}\n",
        "    auth: {managed_identity: {}}\n    endpoints: {login: https://login.example}\n",
    );
    assert_eq!(
        Config::from_yaml(&managed, "test.yaml")
            .expect_err("refused")
            .problems,
        vec![
            "tenants[0].endpoints.login: not used with tenants[0].auth.managed_identity, whose tokens come from \
             the instance metadata service; fix: remove endpoints.login, or set auth.managed_identity.endpoint \
             to reach another token endpoint"
        ]
    );
    let tls_without_tls = format!("{base}  librdkafka: {{ssl.ca.location: /ca.pem}}\n");
    assert_eq!(
        Config::from_yaml(&tls_without_tls, "test.yaml")
            .expect_err("refused")
            .problems,
        vec![
            "kafka.librdkafka.ssl.ca.location: TLS settings are used only with security.protocol ssl or \
             sasl_ssl, and kafka.librdkafka.security.protocol is plaintext (the default); fix: set \
             kafka.librdkafka.security.protocol: SSL (or SASL_SSL), or remove kafka.librdkafka.ssl.ca.location"
        ]
    );
    // keys that restate their default are not contradictions: full.yaml shows them all
    Config::from_yaml(
        &format!("{base}checkpoint: {{store: kafka, topic: entrastream.checkpoints, load_timeout: 60s}}\n"),
        "test.yaml",
    )
    .expect("the defaults restated");
}

fn full_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/full.yaml"))
        .expect("full.yaml")
}

/// Every block of config/full.yaml ("every key, with its default") takes any one of its keys
/// alone, and the others then hold the values full.yaml shows.
#[test]
fn a_block_with_one_key_keeps_the_defaults_full_yaml_shows() {
    let full_text = full_yaml();
    let full = Config::from_yaml(&full_text, "full.yaml").expect("valid");
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(&full_text).expect("yaml");
    let full_value = serde_yaml_ng::to_value(&full).expect("serialises");
    // keys whose value in full.yaml is an example, not the default
    let examples = ["tls.ca_file", "kafka.librdkafka", "kafka.bootstrap_servers"];
    // (block, its key path in the document)
    let blocks = [
        "polling",
        "polling.throttle",
        "kafka",
        "kafka.topics",
        "checkpoint",
        "metrics",
        "shutdown",
        "log",
        "tls",
    ];
    let mut tried = 0;
    for block in blocks {
        let mut written = &document;
        let mut parsed = &full_value;
        for segment in block.split('.') {
            written = &written[segment];
            parsed = &parsed[segment];
        }
        let keys = written.as_mapping().expect("a block");
        for (key, value) in keys {
            let key = key.as_str().expect("a key");
            let path = format!("{block}.{key}");
            if examples.contains(&path.as_str()) {
                continue;
            }
            // the block reduced to this one key (the kafka block keeps its required servers)
            let mut reduced = serde_yaml_ng::Mapping::new();
            reduced.insert(key.into(), value.clone());
            if block == "kafka" && key != "bootstrap_servers" {
                reduced.insert("bootstrap_servers".into(), "k:9092".into());
            }
            let mut minimal: serde_yaml_ng::Value = serde_yaml_ng::from_str(
                "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000aa, \
                 client_secret: {env: S}}]\nkafka: {bootstrap_servers: 'k:9092'}\n",
            )
            .expect("yaml");
            let mut node = &mut minimal;
            let segments: Vec<&str> = block.split('.').collect();
            for segment in &segments[..segments.len() - 1] {
                let mapping = node.as_mapping_mut().expect("mapping");
                node = mapping
                    .entry((*segment).into())
                    .or_insert_with(|| serde_yaml_ng::Mapping::new().into());
            }
            node.as_mapping_mut().expect("mapping").insert(
                (*segments.last().expect("a segment")).into(),
                reduced.into(),
            );
            let text = serde_yaml_ng::to_string(&minimal).expect("yaml");
            let config = Config::from_yaml(&text, "reduced.yaml")
                .unwrap_or_else(|error| panic!("{path} alone: {error}"));
            let mut got = serde_yaml_ng::to_value(&config).expect("serialises");
            for segment in block.split('.') {
                got = got[segment].clone();
            }
            for (inner, expected) in parsed.as_mapping().expect("a block") {
                let inner_path = format!("{block}.{}", inner.as_str().expect("a key"));
                if examples.contains(&inner_path.as_str()) {
                    continue;
                }
                assert_eq!(
                    &got[inner], expected,
                    "{inner_path} with {path} alone differs from full.yaml"
                );
            }
            tried += 1;
        }
    }
    assert!(tried >= 40, "{tried} keys tried");

    // the issue's example: a directory alone is the file store there
    let config = Config::from_yaml(
        "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000aa, \
         client_secret: {env: S}}]\nkafka: {bootstrap_servers: 'k:9092'}\ncheckpoint: {path: /x}\n",
        "partial.yaml",
    )
    .expect("a path alone");
    assert_eq!(config.checkpoint.store, CheckpointStoreKind::File);
    assert_eq!(config.checkpoint.path, Some(PathBuf::from("/x")));
    assert_eq!(config.checkpoint.interval, Duration::from_secs(10));
}

/// A shipped configuration with every file it names made under `directory` (secrets, a PEM key
/// and certificate, a PKCS#12 file, a federated token, a CA bundle), each secret the canary.
fn with_its_files(name: &str, directory: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config")
            .join(name),
    )
    .expect("readable");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let certificate = rcgen::CertificateParams::new(vec!["entrastream-reader".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let paths =
        regex::Regex::new(r"(/etc/entrastream|/var/run/secrets|/secrets)/[^\s,}]+").expect("regex");
    for found in paths.find_iter(&text) {
        let original = found.as_str();
        let path = directory.join(original.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("directories");
        let content: Vec<u8> = if original.ends_with("reader.pem") {
            format!("{}{}", key.serialize_pem(), certificate.pem()).into_bytes()
        } else if original.ends_with("ca.pem") {
            certificate.pem().into_bytes()
        } else if original.ends_with(".pfx") {
            let private = openssl::pkey::PKey::private_key_from_pem(key.serialize_pem().as_bytes())
                .expect("key");
            let x509 =
                openssl::x509::X509::from_pem(certificate.pem().as_bytes()).expect("certificate");
            let mut builder = openssl::pkcs12::Pkcs12::builder();
            builder
                .name("entrastream-reader")
                .pkey(&private)
                .cert(&x509);
            builder
                .build2(CANARY)
                .expect("pkcs12")
                .to_der()
                .expect("der")
        } else {
            format!("{CANARY}\n").into_bytes()
        };
        std::fs::write(&path, content).expect("write");
    }
    let rewritten = paths.replace_all(&text, |captures: &regex::Captures| {
        directory
            .join(captures[0].trim_start_matches('/'))
            .display()
            .to_string()
    });
    let file = directory.join(name);
    std::fs::write(&file, rewritten.as_ref()).expect("write");
    file
}

#[test]
fn every_shipped_configuration_passes_with_its_secrets_and_shows_none() {
    let directory = tempfile::tempdir().expect("tempdir");
    let token = directory.path().join("federated-token");
    std::fs::write(&token, format!("{CANARY}\n")).expect("write");
    let token = token.display().to_string();
    let environment = [
        ("ENTRA_SECRET_T1", CANARY),
        ("ENTRA_PFX_PASSWORD", CANARY),
        ("KAFKA_PASSWORD", CANARY),
        ("SIM_SECRET", CANARY),
        ("ENTRA_SECRET", CANARY),
        ("AZURE_FEDERATED_TOKEN_FILE", token.as_str()),
    ];
    let expected = [
        (
            "aks-workload-identity.yaml",
            2,
            8,
            "kafka store, topic entrastream.checkpoints",
            2,
        ),
        ("full.yaml", 6, 36, "file store in ./state", 6),
        ("minimal.yaml", 1, 6, "file store in ./state", 1),
        ("mssp.yaml", 3, 14, "file store in /var/lib/entrastream", 4),
        ("simulator-local.yaml", 1, 6, "file store in ./state", 1),
        ("v1-only.yaml", 1, 3, "file store in ./state", 1),
    ];
    let mut shipped: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
            .expect("config/")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".yaml") && name != "simulator.yaml")
            .collect();
    shipped.sort();
    assert_eq!(
        shipped,
        expected
            .iter()
            .map(|(name, ..)| (*name).to_owned())
            .collect::<Vec<_>>(),
        "every shipped configuration is tried"
    );
    for (name, tenants, streams, store, secrets) in expected {
        let file = with_its_files(name, directory.path());
        let output = validate_only(&file, &environment);
        assert_no_canary(&output);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: {}{stdout}",
            text(&output.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], format!("{}: valid", file.display()), "{stdout}");
        assert_eq!(
            lines[1],
            format!("  tenants:     {tenants} ({streams} streams)"),
            "{stdout}"
        );
        assert_eq!(lines[4], format!("  checkpoints: {store}"), "{stdout}");
        assert_eq!(
            lines[5],
            format!("  secrets:     {secrets} read, none shown"),
            "{stdout}"
        );
    }

    // the summary, line by line
    let file = with_its_files("mssp.yaml", directory.path());
    let output = validate_only(&file, &environment);
    assert_eq!(
        text(&output.stdout),
        format!(
            "{}: valid\n  tenants:     3 (14 streams)\n  topics:      soc.entra.audit, soc.entra.deadletter, \
             soc.entra.provisioning, soc.entra.signins\n  delivery:    at_least_once\n  checkpoints: file \
             store in /var/lib/entrastream\n  secrets:     4 read, none shown\n",
            file.display()
        )
    );

    // without the secrets (a CI job): every other check, nothing read
    let shipped_full = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/full.yaml");
    let output = validate_only(&shipped_full, &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "full.yaml's files do not exist here"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["run", "--validate-only", "--skip-secrets", "--config"])
        .arg(&shipped_full)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).ends_with("  secrets:     not read (--skip-secrets)\n"),
        "{}",
        text(&output.stdout)
    );
}

/// `run` and `check` start with the same validation: librdkafka's refusal, found offline, stops
/// the service before anything starts and is a finding of `check`.
#[tokio::test]
async fn run_and_check_refuse_what_validate_only_refuses() {
    let yaml = format!(
        "{}    endpoints: {{login: 'http://127.0.0.1:1', graph: 'http://127.0.0.1:1'}}\n{}  librdkafka: \
         {{compresion.type: lz4}}\n",
        BASE.split("kafka:").next().expect("tenants"),
        "kafka:\n  bootstrap_servers: 127.0.0.1:1\n"
    )
    .replace("{env: ENTRASTREAM_TEST_VALIDATE_SECRET}", "{env: HOME}");
    let config = Config::from_yaml(&yaml, "config.yaml").expect("valid without I/O");
    let refusal = "kafka.librdkafka.compresion.type: librdkafka refuses it: No such configuration property: \
                   \"compresion.type\"; fix: did you mean compression.type? write kafka.librdkafka.compression.type";

    let error = entrastream::app::run(
        config.clone(),
        entrastream::app::RunOptions::new(entrastream::clock::Clock::system()),
        std::future::pending(),
    )
    .await
    .expect_err("refused")
    .to_string();
    assert_eq!(
        error,
        format!("invalid configuration given to the service: {refusal}")
    );

    let findings = entrastream::check::run(
        &config,
        &entrastream::clock::Clock::system(),
        Duration::ZERO,
    )
    .await;
    let configuration: Vec<_> = findings
        .iter()
        .filter(|finding| finding.scope == "config")
        .collect();
    assert_eq!(configuration.len(), 1, "{findings:?}");
    let (detail, fix) = refusal.split_once("; fix: ").expect("a fix");
    assert_eq!(configuration[0].check, "configuration");
    assert!(!configuration[0].ok);
    assert_eq!(configuration[0].detail, detail);
    assert_eq!(configuration[0].fix.as_deref(), Some(fix));
}
