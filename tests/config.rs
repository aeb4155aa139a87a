//! Configuration files: every example in `config/` parses, every key is documented in
//! `config/full.yaml`, and each mistake a user can make is reported with its key and the fix.

use std::path::Path;
use std::process::Command;

use entrastream::app::resolve_credentials;
use entrastream::config::Config;
use entrastream::sim::config::SimConfig;

fn examples() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
        .expect("config/ exists")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_example_parses() {
    let paths = examples();
    assert!(paths.len() >= 5, "{paths:?}");
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("readable");
        if path
            .file_name()
            .is_some_and(|name| name == "simulator.yaml")
        {
            let deserializer = serde_yaml_ng::Deserializer::from_str(&text);
            serde_path_to_error::deserialize::<_, SimConfig>(deserializer)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        } else {
            Config::from_yaml(&text, &path.display().to_string())
                .unwrap_or_else(|error| panic!("{error}"));
        }
    }
}

/// Every key of the configuration, as `a.b.c` paths.
fn key_paths(value: &serde_yaml_ng::Value, prefix: &str, out: &mut Vec<String>) {
    if let serde_yaml_ng::Value::Mapping(mapping) = value {
        for (key, child) in mapping {
            let Some(key) = key.as_str() else { continue };
            let path = if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            };
            if !prefix.ends_with("librdkafka") {
                out.push(path.clone());
            }
            key_paths(child, &path, out);
        }
    } else if let serde_yaml_ng::Value::Sequence(items) = value {
        for item in items {
            key_paths(item, prefix, out);
        }
    }
}

/// config/full.yaml, the example that shows every key.
fn full_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/full.yaml"))
        .expect("full.yaml")
}

#[test]
fn full_yaml_documents_every_key() {
    let full = full_yaml();
    let config = Config::from_yaml(&full, "full.yaml").expect("valid");
    // the parsed configuration, serialised back, has every key the program knows
    let round_trip = serde_yaml_ng::to_value(&config).expect("serialises");
    let mut known = Vec::new();
    key_paths(&round_trip, "", &mut known);
    let written: serde_yaml_ng::Value = serde_yaml_ng::from_str(&full).expect("yaml");
    let mut documented = Vec::new();
    key_paths(&written, "", &mut documented);
    for key in known {
        assert!(
            documented.contains(&key),
            "config/full.yaml does not show `{key}`"
        );
    }
}

fn problem(yaml: &str) -> String {
    Config::from_yaml(yaml, "bad.yaml")
        .expect_err("refused")
        .to_string()
}

const TENANT: &str = "tenants: [{id: t1, client_id: c1, client_secret: {env: S}}]\n";

#[test]
fn bad_configs_name_the_key_and_the_fix() {
    let unknown = problem(&format!(
        "{TENANT}kafka: {{bootstrap_servers: k:9092, bootstrap: x}}\n"
    ));
    assert!(
        unknown.starts_with(
            "invalid configuration bad.yaml: kafka.bootstrap: unknown field `bootstrap`"
        ),
        "{unknown}"
    );
    assert!(
        unknown.contains("expected one of `bootstrap_servers`"),
        "{unknown}"
    );

    let nested = problem(
        "tenants: [{id: t1, client_id: c1, client_secret: {env: S}, clouds: global}]\nkafka: {bootstrap_servers: k:9092}\n",
    );
    assert!(
        nested.contains("tenants[0].clouds: unknown field `clouds`"),
        "{nested}"
    );

    let wrong_type = problem(&format!(
        "{TENANT}kafka: {{bootstrap_servers: k:9092}}\npolling: {{page_size: many}}\n"
    ));
    assert!(
        wrong_type.contains("polling.page_size: invalid type: string \"many\", expected u32"),
        "{wrong_type}"
    );

    let bad_duration = problem(&format!(
        "{TENANT}kafka: {{bootstrap_servers: k:9092}}\npolling: {{interval: 30}}\n"
    ));
    assert!(
        bad_duration.contains(
            "polling.interval: invalid duration `30`: a unit is required, for example `30s`"
        ),
        "{bad_duration}"
    );
    let bad_unit = problem(&format!(
        "{TENANT}kafka: {{bootstrap_servers: k:9092}}\npolling: {{lateness: 2 hours please}}\n"
    ));
    assert!(
        bad_unit.contains("polling.lateness: invalid duration `2 hours please`"),
        "{bad_unit}"
    );

    let inline_secret = problem(
        "tenants: [{id: t1, client_id: c1, client_secret: hunter2}]\nkafka: {bootstrap_servers: k:9092}\n",
    );
    assert!(
        inline_secret.contains("tenants[0].client_secret: inline secrets are not accepted"),
        "{inline_secret}"
    );
    assert!(
        !inline_secret.contains("hunter2"),
        "the secret is not repeated: {inline_secret}"
    );

    let bad_enum = problem(&format!(
        "{TENANT}kafka: {{bootstrap_servers: k:9092, delivery: exactly_twice}}\n"
    ));
    assert!(
        bad_enum
            .contains("kafka.delivery: unknown variant `exactly_twice`, expected `at_least_once`"),
        "{bad_enum}"
    );

    let missing = problem(TENANT);
    assert!(missing.contains("missing field `kafka`"), "{missing}");
}

#[test]
fn a_missing_secret_variable_is_named_at_start() {
    let config = Config::from_yaml(
        "tenants: [{id: t1, client_id: c1, client_secret: {env: ENTRASTREAM_TEST_NOT_SET_ANYWHERE}}]\nkafka: {bootstrap_servers: k:9092}\n",
        "config.yaml",
    )
    .expect("valid without I/O");
    let error = resolve_credentials(&config)
        .expect_err("the variable is not set")
        .to_string();
    assert_eq!(
        error,
        "tenants[0].client_secret: environment variable ENTRASTREAM_TEST_NOT_SET_ANYWHERE is not set; \
         export it, or point the key at a file with {file: PATH}"
    );
}

#[test]
fn run_validate_only_accepts_examples_and_refuses_mistakes_with_exit_code_1() {
    let binary = env!("CARGO_BIN_EXE_entrastream");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/full.yaml");
    let output = Command::new(binary)
        .args(["run", "--validate-only", "--config"])
        .arg(&good)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid (6 tenants)"));

    let directory = tempfile::tempdir().expect("tempdir");
    let bad = directory.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!("{TENANT}kafka: {{bootstrap_servers: k:9092}}\npolling: {{intervall: 30s}}\n"),
    )
    .expect("write");
    let output = Command::new(binary)
        .args(["run", "--validate-only", "--config"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("polling.intervall: unknown field `intervall`"),
        "{stderr}"
    );
}

#[test]
fn a_configuration_written_back_as_yaml_reads_the_same() {
    let config = Config::from_yaml(&full_yaml(), "full.yaml").expect("valid");
    let written = config.to_yaml();
    let again = Config::from_yaml(&written, "written.yaml").expect("written back: valid");
    assert_eq!(again.to_yaml(), written);
}

/// The login and Graph endpoints carry the client secret and every token: plain `http://` is
/// accepted only to loopback (the simulator, a local sidecar), or when
/// `tls.allow_insecure_http` says so. The response size limits are range-checked.
#[test]
fn plain_http_outside_loopback_and_response_limits_out_of_range_are_refused() {
    let tenant = "tenants: [{id: 00000000-0000-0000-0000-000000000001, client_id: \
                  00000000-0000-0000-0000-0000000000aa, client_secret: {env: S}, endpoints: \
                  {login: 'http://login.example.corp:8080', graph: 'http://127.0.0.1:9000'}}]\n";
    let problems = Config::from_yaml(
        &format!(
            "{tenant}kafka: {{bootstrap_servers: k:9092}}\npolling: {{max_page_bytes: 1024, \
             max_token_response_bytes: 0}}\n"
        ),
        "insecure.yaml",
    )
    .expect_err("refused")
    .problems;
    assert_eq!(
        problems,
        vec![
            "tenants[0].endpoints.login: `http://login.example.corp:8080` is plain HTTP to a host \
             that is not loopback: the client secret, assertions and tokens would cross the \
             network unencrypted; write https://, or set tls.allow_insecure_http: true to accept \
             that",
            "polling.max_page_bytes: 1024 is outside 1048576..=1073741824",
            "polling.max_token_response_bytes: 0 is outside 4096..=16777216",
        ]
    );
    let allowed = Config::from_yaml(
        &format!(
            "{tenant}kafka: {{bootstrap_servers: k:9092}}\ntls: {{allow_insecure_http: true}}\n"
        ),
        "allowed.yaml",
    )
    .expect("accepted when the configuration says so");
    assert!(allowed.tls.allow_insecure_http);
    assert_eq!(allowed.polling.max_page_bytes, 64 * 1024 * 1024);
    assert_eq!(allowed.polling.max_token_response_bytes, 1024 * 1024);
}
