//! The command line as a user meets it: the binary run as a child process, its output, its exit.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::service_process::Service;
use entrastream::clock::Clock;
use entrastream::config::{LogConfig, LogFormat, PollingConfig};
use entrastream::sim::Simulator;
use entrastream::sim::config::{SimConfig, TenantSpec};

fn entrastream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_entrastream"))
}

/// `entrastream schema sample … | head -1`: the reader goes away after one line, and the command
/// ends as a Unix filter does, quietly and with exit code 0.
#[test]
fn a_reader_that_stops_reading_ends_the_output_quietly() {
    for command in [
        vec!["schema", "sample", "--records", "100000"],
        vec!["schema", "export", "--schema", "ocsf"],
    ] {
        let mut child = entrastream()
            .args(&command)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("entrastream starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("a line");
        // the read end closes here, as `head -1` closes it
        let output = child.wait_with_output().expect("exits");
        let event: serde_json::Value = serde_json::from_str(&first_line).expect("a JSON line");
        assert!(event.is_object(), "{command:?}: {first_line}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "{command:?} says nothing"
        );
        assert_eq!(output.status.code(), Some(0), "{command:?}");
    }
}

/// `--help` names the values `--stream`, `--api-version` and `--schema` take, and says what
/// `--schema` is.
#[test]
fn help_lists_the_values_each_choice_takes() {
    let output = entrastream()
        .args(["schema", "sample", "--help"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).expect("UTF-8");
    for expected in [
        "[possible values: directory_audits, sign_ins_interactive, sign_ins_non_interactive, \
         sign_ins_service_principal, sign_ins_managed_identity, provisioning]",
        "[possible values: beta, v1.0]",
        "--schema <SCHEMA>\n          The output schema the records are mapped to",
        "- ocsf: OCSF 1.8.0",
        "- ecs:  ECS 8.11",
        "- raw:  The Graph record as received, in an envelope",
    ] {
        assert!(
            help.contains(expected),
            "{expected:?} missing from:\n{help}"
        );
    }
    let short = entrastream().args(["demo", "-h"]).output().expect("runs");
    let short_help = String::from_utf8(short.stdout).expect("UTF-8");
    assert!(
        short_help.contains("--schema <SCHEMA>")
            && short_help.contains("[possible values: ocsf, ecs, raw]"),
        "{short_help}"
    );

    // a value outside the list is refused with the list
    let refused = entrastream()
        .args(["schema", "sample", "--api-version", "v2"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.starts_with("error: invalid value 'v2' for '--api-version <API_VERSION>'\n  [possible values: beta, v1.0]"),
        "{message}"
    );
}

/// `--api-version v1.0` samples records without the beta-only properties.
#[test]
fn the_api_version_picks_the_records_shape() {
    let sample = |version: &str| {
        let output = entrastream()
            .args([
                "schema",
                "sample",
                "--schema",
                "raw",
                "--records",
                "20",
                "--api-version",
                version,
            ])
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8(output.stdout)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
            .collect::<Vec<_>>()
    };
    let beta = sample("beta");
    let v1 = sample("v1.0");
    assert_eq!((beta.len(), v1.len()), (20, 20));
    assert!(beta.iter().all(|event| event["api_version"] == "beta"));
    assert!(v1.iter().all(|event| event["api_version"] == "v1.0"));
    assert!(
        v1.iter()
            .all(|event| event["record"].get("userAgent").is_none())
    );
    assert!(
        beta.iter()
            .any(|event| event["record"].get("userAgent").is_some())
    );
}

/// Logs are JSON lines unless `log.format: pretty` asks for text, and text written to a file (no
/// terminal) carries no ANSI colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_by_default_and_pretty_text_has_no_colour_codes_in_a_file() {
    let sim = Simulator::start(
        SimConfig {
            tenants: vec![TenantSpec::default()],
            history: Duration::from_secs(600),
            ..SimConfig::default()
        },
        Clock::system(),
    )
    .await
    .expect("simulator");
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let config = common::config(&sim, &kafka, directory.path(), PollingConfig::default());
    assert_eq!(config.log.format, LogFormat::Json, "the default");
    for format in [LogFormat::Json, LogFormat::Pretty] {
        let log = LogConfig {
            format,
            level: "info".to_owned(),
        };
        let name = format!("{format:?}");
        let mut service = Service::start_with_log(&config, directory.path(), &name, log);
        service.wait_for_readiness(200, "").await;
        let (code, _, log) = service.terminate();
        assert_eq!(code, Some(0), "{log}");
        let serving = "serving /metrics, /healthz and /readyz";
        assert!(log.contains(serving), "{log}");
        assert!(
            !log.contains('\u{1b}'),
            "{format:?} without colour codes: {log:?}"
        );
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines.len() >= 2, "{log}");
        for line in lines {
            let parsed = serde_json::from_str::<serde_json::Value>(line);
            match format {
                LogFormat::Json => {
                    let object = parsed.unwrap_or_else(|_| panic!("a JSON line: {line}"));
                    assert!(
                        object["level"].is_string() && object["message"].is_string(),
                        "{line}"
                    );
                }
                LogFormat::Pretty => assert!(parsed.is_err(), "text, not JSON: {line}"),
            }
        }
    }
}

/// The demo with its metrics address taken: one line naming the demo's own flag, nothing started,
/// no summary of a run that never was.
#[test]
fn the_demo_names_its_own_flag_when_the_metrics_address_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("address");
    let output = entrastream()
        .args([
            "demo",
            "--duration",
            "30s",
            "--metrics-listen",
            &address.to_string(),
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: cannot listen on {address} for metrics (Address already in use (os error 98)); \
             pass --metrics-listen with a free address (port 0 picks one)\n"
        )
    );
}

/// A short demo: the banner says the Kafka cluster lives in the process, the lag names its
/// stream and tenant, the summary counts what was published, and log lines are JSON.
#[test]
fn the_demo_names_the_stream_behind_and_says_its_kafka_goes_away() {
    let output = entrastream()
        .args([
            "demo",
            "--duration",
            "6s",
            "--progress-every",
            "1",
            "--tenants",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0], "entrastream demo: 1 simulated tenant -> in-process Kafka",
        "{stdout}"
    );
    assert!(
        lines.contains(
            &"  the Kafka cluster runs inside this process: its topics and events are gone when \
              the demo exits"
        ),
        "{stdout}"
    );
    let streams: Vec<&str> = entrastream::stream::StreamKind::ALL
        .iter()
        .map(|stream| stream.as_str())
        .collect();
    let progress: Vec<&&str> = lines.iter().filter(|line| line.starts_with('[')).collect();
    assert!(progress.len() >= 3, "{stdout}");
    let mut named = 0;
    for line in &progress {
        if line.ends_with("; no lag measured yet") {
            continue;
        }
        let (_, lag) = line.split_once("; worst lag ").expect("a lag");
        let (seconds, place) = lag.split_once("s (").expect("seconds, then the stream");
        assert!(seconds.parse::<u64>().is_ok(), "{line}");
        let (stream, tenant) = place
            .trim_end_matches(')')
            .split_once(", tenant ")
            .expect("stream and tenant");
        assert!(streams.contains(&stream), "{line}");
        assert_eq!(tenant.len(), 36, "{line}");
        named += 1;
    }
    assert!(named > 0, "{stdout}");
    let summary = lines.last().expect("a summary");
    let counts = summary
        .strip_prefix("demo finished: ")
        .and_then(|rest| {
            rest.strip_suffix(" dropped; the in-process Kafka cluster and its events are gone")
        })
        .unwrap_or_else(|| panic!("{summary}"));
    let (published, duplicates) = counts.split_once(" published, ").expect("two counts");
    let number = |text: &str| {
        text.split(' ')
            .next()
            .and_then(|count| count.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("a count: {text}"))
    };
    assert!(number(published) > 0, "{summary}");
    assert!(duplicates.ends_with("duplicates") || duplicates == "1 duplicate");
    number(duplicates);
    assert!(!stdout.contains(" -0 "), "no negative zero: {stdout}");
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("a JSON log line: {line}"));
    }
}
