//! Configuration files: every example in `config/` parses, every key is documented in
//! `config/full.yaml`, and each mistake a user can make is reported with its key and the fix.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

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

const TENANT: &str = "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, client_secret: {env: S}}]\n";

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
        "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, client_secret: {env: S}, clouds: global}]\nkafka: {bootstrap_servers: k:9092}\n",
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
        "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, client_secret: hunter2}]\nkafka: {bootstrap_servers: k:9092}\n",
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
        "tenants: [{id: contoso.onmicrosoft.com, client_id: 00000000-0000-0000-0000-0000000000c1, client_secret: {env: ENTRASTREAM_TEST_NOT_SET_ANYWHERE}}]\nkafka: {bootstrap_servers: k:9092}\n",
        "config.yaml",
    )
    .expect("valid without I/O");
    let error = resolve_credentials(&config)
        .expect_err("the variable is not set")
        .to_string();
    assert_eq!(
        error,
        "tenants[0].client_secret: environment variable ENTRASTREAM_TEST_NOT_SET_ANYWHERE is not set; \
         fix: set ENTRASTREAM_TEST_NOT_SET_ANYWHERE to the secret in the environment entrastream runs \
         in (`export ENTRASTREAM_TEST_NOT_SET_ANYWHERE=...` in its shell, an `env` entry from a Secret \
         in its pod), or read the secret from a file: {file: PATH}"
    );
}

#[test]
fn run_validate_only_accepts_examples_and_refuses_mistakes_with_exit_code_1() {
    let binary = env!("CARGO_BIN_EXE_entrastream");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/full.yaml");
    // its secrets and files are not here (tests/validate.rs makes them)
    let output = Command::new(binary)
        .args(["run", "--validate-only", "--skip-secrets", "--config"])
        .arg(&good)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("  tenants:     6 (36 streams)\n"));

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

/// A numeric key, its type (`duration`, or the integer type YAML must fit) and its range.
struct NumericKey {
    path: &'static str,
    kind: &'static str,
    min: &'static str,
    max: &'static str,
    /// The reason the message gives after the range, with its parentheses.
    why: &'static str,
}

const fn key(
    path: &'static str,
    kind: &'static str,
    min: &'static str,
    max: &'static str,
    why: &'static str,
) -> NumericKey {
    NumericKey {
        path,
        kind,
        min,
        max,
        why,
    }
}

const RETENTION: &str = " (Graph keeps 30 days)";

/// Every number of the configuration with its documented range.
const NUMERIC_KEYS: &[NumericKey] = &[
    key("polling.interval", "duration", "1s", "1d", ""),
    key("polling.settle_delay", "duration", "0s", "1d", ""),
    key(
        "polling.initial_lookback",
        "duration",
        "0s",
        "30d",
        " (Graph keeps 30 days, 7 on Entra ID Free, and refuses an older start with 400 \"Invalid \
         filter clause\")",
    ),
    key("polling.lateness", "duration", "0s", "30d", RETENTION),
    key(
        "polling.reconcile_every",
        "duration",
        "1s",
        "30d",
        RETENTION,
    ),
    key("polling.overlap", "duration", "0s", "1d", ""),
    key("polling.max_window", "duration", "1m", "1d", ""),
    key(
        "polling.page_size",
        "u32",
        "1",
        "1000",
        " (Graph's maximum is 1000, the best use of its budget)",
    ),
    key("polling.throttle.requests", "u32", "1", "1000", ""),
    key("polling.throttle.per", "duration", "1s", "1h", ""),
    key("graph.app_budget.requests", "u32", "1", "1000", ""),
    key("graph.app_budget.per", "duration", "1s", "1h", ""),
    key("polling.request_timeout", "duration", "1s", "1h", ""),
    key("polling.blocked_retry", "duration", "1s", "1d", ""),
    key("polling.max_retry_after", "duration", "1s", "1d", ""),
    key("polling.max_page_bytes", "u64", "1048576", "1073741824", ""),
    key(
        "polling.max_token_response_bytes",
        "u64",
        "4096",
        "16777216",
        "",
    ),
    key(
        "kafka.transaction_timeout",
        "duration",
        "1s",
        "15m",
        " (15m is the broker's default transaction.max.timeout.ms)",
    ),
    key("polling.max_window_pages", "u32", "1", "1000", ""),
    key("polling.max_pages_in_memory", "u32", "1", "10000", ""),
    key("kafka.health_interval", "duration", "1s", "5m", ""),
    key(
        "kafka.max_record_bytes",
        "u32",
        "1024",
        "16843776",
        " (up to the producer's message.max.bytes)",
    ),
    key(
        "shutdown.timeout",
        "duration",
        "1s",
        "10m",
        " (keep it below the pod's terminationGracePeriodSeconds)",
    ),
    key("checkpoint.topic_partitions", "i32", "1", "1000", ""),
    key(
        "checkpoint.replication_factor",
        "i16",
        "1",
        "16",
        " (leave it out for the broker's default)",
    ),
    key(
        "checkpoint.max_record_bytes",
        "u32",
        "1048576",
        "1000000000",
        "",
    ),
    key("checkpoint.load_timeout", "duration", "1s", "1h", ""),
    key("checkpoint.takeover_wait", "duration", "0s", "1h", ""),
    key("checkpoint.interval", "duration", "0s", "1h", ""),
];

/// config/full.yaml with the scalar at `path` replaced by `scalar` (YAML text), in the mode the key
/// applies to: the kafka store for its keys, exactly_once for the transaction timeout (a key of
/// another mode is refused unless it keeps its default).
fn full_yaml_with(path: &str, scalar: &str) -> String {
    let mut document: serde_yaml_ng::Value = serde_yaml_ng::from_str(&full_yaml()).expect("yaml");
    let kafka_store = path.starts_with("checkpoint.") && path != "checkpoint.interval";
    let exactly_once = path == "kafka.transaction_timeout";
    if kafka_store || exactly_once {
        let checkpoint = document["checkpoint"].as_mapping_mut().expect("checkpoint");
        checkpoint.insert("store".into(), "kafka".into());
        checkpoint.remove("path");
        // a queue that holds the largest checkpoint allowed
        document["kafka"]["librdkafka"]
            .as_mapping_mut()
            .expect("librdkafka")
            .insert("queue.buffering.max.kbytes".into(), "8000000".into());
    }
    if exactly_once {
        document["kafka"]
            .as_mapping_mut()
            .expect("kafka")
            .insert("delivery".into(), "exactly_once".into());
    }
    let mut node = &mut document;
    for segment in path.split('.') {
        node = node
            .as_mapping_mut()
            .expect("a mapping")
            .entry(serde_yaml_ng::Value::from(segment))
            .or_insert(serde_yaml_ng::Value::Null);
    }
    *node = serde_yaml_ng::from_str(scalar).expect("a scalar");
    serde_yaml_ng::to_string(&document).expect("serialises")
}

/// What the configuration says about `value` at `key`: `None` when it is accepted.
fn expected_problem(key: &NumericKey, value: &str) -> Option<String> {
    let out_of_range = || {
        format!(
            "{}: {value} is outside {}..={}{}",
            key.path, key.min, key.max, key.why
        )
    };
    if key.kind == "duration" {
        let parse = entrastream::config::duration::parse;
        let Ok(duration) = parse(value) else {
            let error = humantime::parse_duration(value).expect_err("unparsable");
            return Some(format!(
                "{}: invalid duration `{value}` ({error}); write it with a unit, for example `30s`, \
                 `5m` or `2h`",
                key.path
            ));
        };
        let in_range =
            (parse(key.min).expect("min")..=parse(key.max).expect("max")).contains(&duration);
        if !in_range {
            return Some(out_of_range());
        }
        // the two that together must stay within the retention (full.yaml: 2h and 15m)
        let other = match key.path {
            "polling.lateness" => Duration::from_secs(15 * 60),
            "polling.reconcile_every" => Duration::from_secs(2 * 3600),
            _ => return None,
        };
        return (duration + other > Duration::from_secs(30 * 86400)).then(|| {
            "polling.lateness: lateness plus reconcile_every must stay within Graph's 30-day retention"
                .to_owned()
        });
    }
    let Ok(number) = value.parse::<i128>() else {
        return Some(format!(
            "{}: invalid type: floating point `{value}`, expected {}",
            key.path, key.kind
        ));
    };
    let fits = match key.kind {
        "u64" => u64::try_from(number).is_ok(),
        "u32" => u32::try_from(number).is_ok(),
        "i32" => i32::try_from(number).is_ok(),
        "i16" => i16::try_from(number).is_ok(),
        other => panic!("no such kind {other}"),
    };
    if !fits {
        // the YAML reader takes an unsigned key through u64 and a signed one through i64: a number
        // beyond those is of the wrong type, one beyond the key's own type of the wrong value
        let wide = if key.kind.starts_with('u') {
            u64::try_from(number).is_ok()
        } else {
            i64::try_from(number).is_ok()
        };
        let mismatch = if wide { "value" } else { "type" };
        return Some(format!(
            "{}: invalid {mismatch}: integer `{value}`, expected {}",
            key.path, key.kind
        ));
    }
    let min: i128 = key.min.parse().expect("min");
    let max: i128 = key.max.parse().expect("max");
    (!(min..=max).contains(&number)).then(out_of_range)
}

#[test]
fn every_number_is_range_checked_with_its_key_and_range_and_nothing_panics() {
    // the table covers every number full.yaml shows (replication_factor is shown as null, its
    // default: the broker's)
    let mut config = Config::from_yaml(&full_yaml(), "full.yaml").expect("valid");
    config.checkpoint.replication_factor = Some(3);
    let round_trip = serde_yaml_ng::to_value(&config).expect("serialises");
    let mut numeric = Vec::new();
    numeric_paths(&round_trip, "", &mut numeric);
    let mut listed: Vec<String> = NUMERIC_KEYS.iter().map(|key| key.path.to_owned()).collect();
    numeric.sort();
    listed.sort();
    assert_eq!(
        numeric, listed,
        "every numeric key has a range in NUMERIC_KEYS"
    );

    let durations = [
        "0s",
        "1s",
        "18446744073709551615s",
        "18446744073709551616s",
        "-1s",
        "5000000d",
    ];
    let counts = [
        "0",
        "1",
        "-1",
        "-32769",
        "65536",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "-9223372036854775808",
        "1.5",
    ];
    let mut refused = 0;
    for key in NUMERIC_KEYS {
        let extremes: &[&str] = if key.kind == "duration" {
            &durations
        } else {
            &counts
        };
        let edges = [key.min, key.max];
        for value in extremes.iter().chain(edges.iter()) {
            let outcome = Config::from_yaml(&full_yaml_with(key.path, value), "extreme.yaml");
            match (expected_problem(key, value), outcome) {
                (None, Ok(_)) => {}
                (Some(expected), Err(error)) => {
                    let problems: Vec<&str> = error
                        .problems
                        .iter()
                        .map(|problem| without_position(problem))
                        .collect();
                    assert_eq!(problems, vec![expected], "{} = {value}", key.path);
                    refused += 1;
                }
                (expected, outcome) => panic!(
                    "{} = {value}: expected {expected:?}, got {:?}",
                    key.path,
                    outcome.map(|_| "accepted")
                ),
            }
        }
    }
    // durations: four extremes always out (u64::MAX s, beyond u64, negative, 5000000d), 0s for
    // the twelve with a minimum above zero, 1s for max_window, 30d for lateness and
    // reconcile_every (their sum); counts: all but 1, min and max for each, and 1 for
    // checkpoint.max_record_bytes; all ten for polling.max_page_bytes (1 is below its minimum),
    // all but 65536 for polling.max_token_response_bytes
    assert_eq!(
        refused,
        18 * 4 + 12 + 1 + 2 + 9 * 9 + 1 + 10 + 9,
        "values refused"
    );
}

/// A YAML error without the ` at line L column C` the parser adds (the line of a generated file).
fn without_position(problem: &str) -> &str {
    match problem.rsplit_once(" at line ") {
        Some((message, position))
            if position.split(" column ").all(|number| {
                !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit())
            }) =>
        {
            message
        }
        _ => problem,
    }
}

/// The keys of `value` holding a number or a duration (`30s`), librdkafka's pass-through aside.
fn numeric_paths(value: &serde_yaml_ng::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_yaml_ng::Value::Mapping(mapping) => {
            for (key, child) in mapping {
                let Some(key) = key.as_str() else { continue };
                if key == "librdkafka" {
                    continue;
                }
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                numeric_paths(child, &path, out);
            }
        }
        serde_yaml_ng::Value::Sequence(items) => {
            for item in items {
                numeric_paths(item, prefix, out);
            }
        }
        serde_yaml_ng::Value::Number(_) => out.push(prefix.to_owned()),
        serde_yaml_ng::Value::String(text)
            if entrastream::config::duration::parse(text).is_ok() =>
        {
            out.push(prefix.to_owned())
        }
        _ => {}
    }
}

#[test]
fn run_validate_only_refuses_extreme_numbers_with_exit_code_1_and_no_panic() {
    let binary = env!("CARGO_BIN_EXE_entrastream");
    let directory = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "polling.lateness",
            "18446744073709551615s",
            "polling.lateness: 18446744073709551615s is outside 0s..=30d (Graph keeps 30 days)",
        ),
        (
            "polling.reconcile_every",
            "18446744073709551615s",
            "polling.reconcile_every: 18446744073709551615s is outside 1s..=30d (Graph keeps 30 days)",
        ),
        (
            "polling.throttle.per",
            "18446744073709551615s",
            "polling.throttle.per: 18446744073709551615s is outside 1s..=1h",
        ),
        (
            "polling.page_size",
            "-1",
            "polling.page_size: invalid type: integer `-1`, expected u32",
        ),
    ];
    for (path, value, problem) in cases {
        let file = directory.path().join("extreme.yaml");
        std::fs::write(&file, full_yaml_with(path, value)).expect("write");
        let output = Command::new(binary)
            .args(["run", "--validate-only", "--skip-secrets", "--config"])
            .arg(&file)
            .output()
            .expect("runs");
        assert_eq!(
            output.status.code(),
            Some(1),
            "{path} = {value}: {output:?}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            without_position(stderr.trim_end()),
            format!("error: invalid configuration {}: {problem}", file.display()),
        );
        assert!(output.stdout.is_empty());
    }
}

const TENANT_RULE: &str = "write the directory (tenant) id, a GUID such as \
     72f988bf-86f1-41af-91ab-2d7cd011db47, or a verified domain such as contoso.onmicrosoft.com \
     (ASCII letters, digits, '-' and '.', at least one dot, no empty label, no label starting or \
     ending with '-')";

fn tenants_yaml(tenants: &[(&str, &str)]) -> String {
    let mut yaml = "tenants:\n".to_owned();
    for (id, client_id) in tenants {
        yaml.push_str(&format!(
            "  - {{id: '{id}', client_id: '{client_id}', client_secret: {{env: S}}}}\n"
        ));
    }
    yaml.push_str("kafka: {bootstrap_servers: k:9092}\n");
    yaml
}

const CLIENT: &str = "00000000-0000-0000-0000-0000000000c1";

#[test]
fn tenant_ids_that_would_leave_the_checkpoint_directory_or_rewrite_the_token_url_are_refused() {
    // `..` wrote checkpoints beside checkpoint.path, `.` into it, this one rewrote the token URL
    for hostile in [
        "..",
        ".",
        "x/../../evil?#@",
        "t1",
        "contoso.com/..",
        ".contoso.com",
    ] {
        let problems = Config::from_yaml(&tenants_yaml(&[(hostile, CLIENT)]), "bad.yaml")
            .expect_err(hostile)
            .problems;
        assert_eq!(
            problems,
            vec![format!(
                "tenants[0].id: {hostile:?} is not a tenant id; {TENANT_RULE}"
            )]
        );
    }
    // two non-ASCII ids shared one directory (each character outside ASCII became `_`)
    let problems = Config::from_yaml(
        &tenants_yaml(&[("müller.de", CLIENT), ("möller.de", CLIENT)]),
        "bad.yaml",
    )
    .expect_err("non-ASCII")
    .problems;
    assert_eq!(
        problems,
        vec![
            format!("tenants[0].id: \"müller.de\" is not a tenant id; {TENANT_RULE}"),
            format!("tenants[1].id: \"möller.de\" is not a tenant id; {TENANT_RULE}"),
        ]
    );
}

#[test]
fn client_ids_are_guids_and_a_tenant_listed_twice_in_another_case_is_refused() {
    let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let problems = Config::from_yaml(
        &tenants_yaml(&[
            (guid, "c1"),
            (&guid.to_uppercase(), CLIENT),
            (
                "contoso.onmicrosoft.com",
                "{00000000-0000-0000-0000-0000000000c1}",
            ),
        ]),
        "bad.yaml",
    )
    .expect_err("refused")
    .problems;
    let client_rule = "is not an application (client) id; write the GUID the app registration's \
                       overview page shows as Application (client) ID";
    assert_eq!(
        problems,
        vec![
            format!("tenants[0].client_id: \"c1\" {client_rule}"),
            format!(
                "tenants[1].id: tenant {} is listed twice; each tenant appears once",
                guid.to_uppercase()
            ),
            format!(
                "tenants[2].client_id: \"{{00000000-0000-0000-0000-0000000000c1}}\" {client_rule}"
            ),
        ]
    );
    let managed = Config::from_yaml(
        &format!(
            "tenants: [{{id: {guid}, client_id: {CLIENT}, auth: {{managed_identity: {{client_id: m3}}}}}}]\n\
             kafka: {{bootstrap_servers: k:9092}}\n"
        ),
        "bad.yaml",
    )
    .expect_err("refused")
    .problems;
    assert_eq!(
        managed,
        vec![
            "tenants[0].auth.managed_identity.client_id: \"m3\" is not a client id; write the GUID of \
             the user-assigned identity (its Client ID), or leave the key out for the system-assigned \
             identity"
        ]
    );
}

/// A configuration built in code goes through the same rules: `app::run` refuses `..` before it
/// builds any path from it.
#[tokio::test]
async fn the_service_refuses_an_unvalidated_tenant_id_before_building_a_path() {
    let directory = tempfile::tempdir().expect("tempdir");
    let state = directory.path().join("state");
    let mut config = Config::from_yaml(
        &tenants_yaml(&[("contoso.onmicrosoft.com", CLIENT)]),
        "ok.yaml",
    )
    .expect("valid");
    config.tenants[0].id = "..".to_owned();
    config.checkpoint.path = Some(state.clone());
    let error = entrastream::app::run(
        config,
        entrastream::app::RunOptions::new(entrastream::clock::Clock::system()),
        std::future::pending(),
    )
    .await
    .expect_err("refused")
    .to_string();
    // every problem at once: the secret is read too (`S` is set nowhere)
    assert_eq!(
        error,
        format!(
            "invalid configuration given to the service:\n  - tenants[0].id: \"..\" is not a tenant id; \
             {TENANT_RULE}\n  - tenants[0].client_secret: environment variable S is not set; fix: set S to \
             the secret in the environment entrastream runs in (`export S=...` in its shell, an `env` entry \
             from a Secret in its pod), or read the secret from a file: {{file: PATH}}"
        )
    );
    let written: Vec<_> = std::fs::read_dir(directory.path())
        .expect("readable")
        .collect();
    assert!(written.is_empty(), "nothing written: {written:?}");
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
