//! `entrastream checkpoints list|show|rewind|reset`: the binary's output on the file store, its
//! refusals (a running instance's lock or lease, a time in the future, past the watermark or
//! beyond Graph's retention, no `--yes`), and a rewind followed by the service on the simulator:
//! the rewound range published again, nothing lost, nothing else repeated (file and kafka stores).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use clap::Parser;
use entrastream::checkpoint::rewind::rewound;
use entrastream::checkpoint::{CheckpointStore, FileStore, KafkaSnapshot};
use entrastream::cli::{Cli, Command as CliCommand};
use entrastream::clock::{Clock, Timestamp};
use entrastream::config::{Config, Delivery, PollingConfig, TenantId};
use entrastream::graph::cursor::{Cursor, CursorSettings, IdHash, ReconcileProgress};
use entrastream::stream::StreamKind;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const CONTOSO: &str = "contoso.onmicrosoft.com";
const FABRIKAM: &str = "fabrikam.onmicrosoft.com";

fn entrastream(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(arguments)
        .output()
        .expect("entrastream runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("a tenant id")
}

fn seconds(time: Timestamp) -> String {
    time.to_rfc3339_seconds()
}

/// A configuration of one tenant (three streams) on the file store at `state`.
fn write_config(directory: &Path, state: &Path) -> std::path::PathBuf {
    let secret = directory.join("secret");
    std::fs::write(&secret, "not-used\n").expect("secret");
    let path = directory.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "tenants:\n  - id: {CONTOSO}\n    client_id: 00000000-0000-0000-0000-0000000000aa\n    \
             client_secret: {{file: {}}}\n    streams: [directory_audits, sign_ins_interactive, provisioning]\n\
             kafka:\n  bootstrap_servers: 127.0.0.1:9\ncheckpoint:\n  store: file\n  path: {}\n",
            secret.display(),
            state.display()
        ),
    )
    .expect("config");
    path
}

/// Columns of `widths` characters, two spaces apart, as the tables align them.
fn line(cells: &[&str], widths: &[usize]) -> String {
    let mut text = String::new();
    for (index, cell) in cells.iter().enumerate() {
        if index + 1 == cells.len() {
            text.push_str(cell);
        } else {
            text.push_str(&format!("{cell:<width$}  ", width = widths[index]));
        }
    }
    format!("{}\n", text.trim_end())
}

fn sets_modified(path: &Path, time: Timestamp) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(time.to_system_time()))
        .expect("sets the modification time");
}

struct Fixture {
    _directory: tempfile::TempDir,
    config: String,
    state: std::path::PathBuf,
    base: Timestamp,
    audits: Cursor,
    sign_ins: Cursor,
}

/// Checkpoints three hours old and younger, written as the service writes them: contoso's
/// directory audits and interactive sign-ins (a pass under way), none for its provisioning, and
/// fabrikam's directory audits, whose tenant is no longer configured.
fn fixture() -> Fixture {
    let directory = tempfile::tempdir().expect("tempdir");
    let state = directory.path().join("state");
    let config = write_config(directory.path(), &state);
    let now = Timestamp::from_system_time(SystemTime::now());
    let base = Timestamp::from_millis(now.as_millis().div_euclid(3_600_000) * 3_600_000)
        .saturating_sub(3 * HOUR);
    let at = |minutes: u32| base.saturating_add(MINUTE * minutes);
    let mut audits = Cursor::start(base, base);
    audits.watermark = at(120);
    audits.last_reconcile_started = at(115);
    audits.records_per_hour = Some(1200);
    for (id, minute) in [("a1", 100), ("a2", 110), ("a3", 119)] {
        audits.seen.insert(IdHash::of(id), at(minute));
    }
    let mut sign_ins = Cursor::start(base, base);
    sign_ins.watermark = at(119);
    sign_ins.last_reconcile_started = at(90);
    sign_ins.reconcile = Some(ReconcileProgress {
        started: at(118),
        range_end: at(118),
        next_from: at(30),
    });
    for (id, minute) in [("s1", 40), ("s2", 118)] {
        sign_ins.seen.insert(IdHash::of(id), at(minute));
    }
    let store = FileStore::new(&state);
    store
        .commit_now(&tenant(CONTOSO), StreamKind::DirectoryAudits, &audits)
        .expect("commits");
    store
        .commit_now(&tenant(CONTOSO), StreamKind::SignInsInteractive, &sign_ins)
        .expect("commits");
    store
        .commit_now(&tenant(FABRIKAM), StreamKind::DirectoryAudits, &audits)
        .expect("commits");
    for (id, stream) in [
        (CONTOSO, StreamKind::DirectoryAudits),
        (CONTOSO, StreamKind::SignInsInteractive),
        (FABRIKAM, StreamKind::DirectoryAudits),
    ] {
        let path = store.path_of(&tenant(id), stream);
        sets_modified(&path, at(121));
        sets_modified(&entrastream::checkpoint::journal_of(&path), at(121));
    }
    Fixture {
        config: config.display().to_string(),
        _directory: directory,
        state,
        base,
        audits,
        sign_ins,
    }
}

#[test]
fn list_and_show_print_every_stream_as_a_table_and_as_json() {
    let fixture = fixture();
    let at = |minutes: u32| seconds(fixture.base.saturating_add(MINUTE * minutes));
    let origin = seconds(fixture.base);

    let listed = entrastream(&["checkpoints", "list", "--config", &fixture.config]);
    assert_eq!(text(&listed.stderr), "");
    assert_eq!(listed.status.code(), Some(0));
    let widths = [24, 20, 20, 20, 20, 9, 23, 8];
    let reconcile = format!("at {}", at(30));
    let expected = [
        format!(
            "checkpoints in the file store at {}\n",
            fixture.state.display()
        ),
        "held by no instance\n\n".to_owned(),
        line(
            &[
                "TENANT",
                "STREAM",
                "WATERMARK",
                "ORIGIN",
                "LAST COMMIT",
                "RECORDS/H",
                "RECONCILE",
                "SEEN IDS",
                "NOTE",
            ],
            &widths,
        ),
        line(
            &[
                CONTOSO,
                "directory_audits",
                &at(120),
                &origin,
                &at(121),
                "1200",
                "no",
                "3",
                "",
            ],
            &widths,
        ),
        line(
            &[
                CONTOSO,
                "sign_ins_interactive",
                &at(119),
                &origin,
                &at(121),
                "-",
                &reconcile,
                "2",
                "",
            ],
            &widths,
        ),
        line(
            &[
                CONTOSO,
                "provisioning",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "no checkpoint: starts from polling.initial_lookback",
            ],
            &widths,
        ),
        line(
            &[
                FABRIKAM,
                "directory_audits",
                &at(120),
                &origin,
                &at(121),
                "1200",
                "no",
                "3",
                "not configured",
            ],
            &widths,
        ),
    ]
    .concat();
    assert_eq!(text(&listed.stdout), expected);

    let json = entrastream(&[
        "checkpoints",
        "list",
        "--config",
        &fixture.config,
        "--output",
        "json",
    ]);
    assert_eq!(json.status.code(), Some(0));
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON");
    let millis = |minutes: u32| {
        fixture
            .base
            .saturating_add(MINUTE * minutes)
            .to_rfc3339_millis()
    };
    let audits_json = serde_json::json!({
        "watermark": millis(120),
        "origin": millis(0),
        "last_commit": millis(121),
        "last_reconcile_started": millis(115),
        "records_per_hour": 1200,
        "reconcile": null,
        "seen_ids": 3,
    });
    assert_eq!(
        document,
        serde_json::json!({
            "store": "file",
            "location": fixture.state.display().to_string(),
            "held_by": null,
            "streams": [
                {"tenant": CONTOSO, "stream": "directory_audits", "configured": true,
                 "checkpoint": audits_json, "error": null},
                {"tenant": CONTOSO, "stream": "sign_ins_interactive", "configured": true,
                 "checkpoint": {
                    "watermark": millis(119),
                    "origin": millis(0),
                    "last_commit": millis(121),
                    "last_reconcile_started": millis(90),
                    "records_per_hour": null,
                    "reconcile": {"started": millis(118), "range_end": millis(118), "next_from": millis(30)},
                    "seen_ids": 2,
                 }, "error": null},
                {"tenant": CONTOSO, "stream": "provisioning", "configured": true,
                 "checkpoint": null, "error": null},
                {"tenant": FABRIKAM, "stream": "directory_audits", "configured": false,
                 "checkpoint": audits_json, "error": null},
            ],
        })
    );

    let settings = CursorSettings::from(&PollingConfig::default());
    let shown = entrastream(&[
        "checkpoints",
        "show",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--stream",
        "sign_ins_interactive",
    ]);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    let widths = [22];
    let horizon = fixture.sign_ins.horizon(&settings);
    let expected = [
        format!(
            "checkpoints in the file store at {}\n",
            fixture.state.display()
        ),
        "held by no instance\n\n".to_owned(),
        line(&["tenant", CONTOSO], &widths),
        line(&["stream", "sign_ins_interactive"], &widths),
        line(&["configured", "yes"], &widths),
        line(&["watermark", &at(119)], &widths),
        line(&["origin", &origin], &widths),
        line(&["last commit", &at(121)], &widths),
        line(&["last reconcile started", &at(90)], &widths),
        line(
            &[
                "reconcile",
                &format!(
                    "started {}, reads to {}, next from {}",
                    at(118),
                    at(118),
                    at(30)
                ),
            ],
            &widths,
        ),
        line(&["records per hour", "unknown"], &widths),
        line(
            &[
                "seen ids",
                &format!("2 (event times {} to {})", at(40), at(118)),
            ],
            &widths,
        ),
        line(&["ids kept from", &seconds(horizon)], &widths),
    ]
    .concat();
    assert_eq!(text(&shown.stdout), expected);

    let shown_json = entrastream(&[
        "checkpoints",
        "show",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--stream",
        "directory_audits",
        "--output",
        "json",
    ]);
    let document: serde_json::Value = serde_json::from_slice(&shown_json.stdout).expect("one JSON");
    let mut full = audits_json.clone();
    full["seen_oldest"] = serde_json::json!(millis(100));
    full["seen_newest"] = serde_json::json!(millis(119));
    full["ids_kept_from"] =
        serde_json::json!(fixture.audits.horizon(&settings).to_rfc3339_millis());
    assert_eq!(
        document,
        serde_json::json!({
            "store": "file",
            "location": fixture.state.display().to_string(),
            "held_by": null,
            "stream": {"tenant": CONTOSO, "stream": "directory_audits", "configured": true,
                       "checkpoint": full, "error": null},
        })
    );
}

#[test]
fn rewind_says_what_repeats_asks_for_yes_and_moves_the_cursor_back() {
    let fixture = fixture();
    let at = |minutes: u32| fixture.base.saturating_add(MINUTE * minutes);
    let store = FileStore::new(&fixture.state);
    let document = store.path_of(&tenant(CONTOSO), StreamKind::DirectoryAudits);
    let before = std::fs::read(&document).expect("document");
    let to = seconds(at(60));
    let plan = format!(
        "rewind of tenant {CONTOSO} in the file store at {}:\n\
         {}{}\
         The records of these ranges are read from Graph and published again at the next start of entrastream run.\n\
         They are published with the keys they had (the Graph record id): consumers that deduplicate by key \
         (docs/consumers.md) keep one copy, others hold them twice.\n",
        fixture.state.display(),
        line(
            &[
                "  directory_audits",
                &format!(
                    "reads again from {to} to its watermark {} (1h)",
                    seconds(at(120))
                )
            ],
            &[22]
        ),
        line(
            &[
                "  sign_ins_interactive",
                &format!(
                    "reads again from {to} to its watermark {} (59m)",
                    seconds(at(119))
                )
            ],
            &[22]
        ),
    );
    let provisioning_skipped = line(
        &[
            "  provisioning",
            "no checkpoint: left alone (it starts from polling.initial_lookback)",
        ],
        &[22],
    );
    let plan_with_skip = plan.replacen(
        "The records",
        &format!("{provisioning_skipped}The records"),
        1,
    );

    // without --yes (and no terminal): the plan, exit 1, nothing changed
    let asked = entrastream(&[
        "checkpoints",
        "rewind",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--to",
        &to,
    ]);
    assert_eq!(text(&asked.stdout), plan_with_skip);
    assert_eq!(
        text(&asked.stderr),
        "error: not confirmed, nothing changed: add --yes to rewind these streams\n"
    );
    assert_eq!(asked.status.code(), Some(1));
    assert_eq!(std::fs::read(&document).expect("document"), before);

    // refused: in the future, not before a watermark, beyond Graph's retention
    let now = Timestamp::from_system_time(SystemTime::now());
    for (time, expected) in [
        (
            "2999-01-01T00:00:00Z".to_owned(),
            "is in the future (now is ".to_owned(),
        ),
        (
            seconds(now.saturating_sub(40 * 24 * HOUR)),
            "is beyond Graph's retention: Graph keeps sign-in and audit logs 30 days (7 on Entra ID Free) \
             and refuses a read that starts earlier; fix: give a --to of "
                .to_owned(),
        ),
    ] {
        let refused = entrastream(&[
            "checkpoints",
            "rewind",
            "--config",
            &fixture.config,
            "--tenant",
            CONTOSO,
            "--to",
            &time,
            "--yes",
        ]);
        let message = text(&refused.stderr);
        assert!(
            message.starts_with("error: not rewound, nothing changed: directory_audits: ")
                && message.contains(&expected),
            "{message}"
        );
        assert_eq!(refused.status.code(), Some(1));
        assert_eq!(text(&refused.stdout), "");
    }
    let past_watermark = entrastream(&[
        "checkpoints",
        "rewind",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--to",
        &seconds(at(120)),
        "--yes",
    ]);
    assert_eq!(
        text(&past_watermark.stderr),
        format!(
            "error: not rewound, nothing changed: directory_audits: {w120} is not before the watermark {w120}: \
             the stream has read nothing from then on yet, so nothing would be read again; fix: give a --to \
             before {w120}; sign_ins_interactive: {w120} is not before the watermark {w119}: the stream has read \
             nothing from then on yet, so nothing would be read again; fix: give a --to before {w119}\n",
            w119 = seconds(at(119)),
            w120 = seconds(at(120))
        )
    );
    assert_eq!(std::fs::read(&document).expect("document"), before);

    // --yes, two streams named
    let done = entrastream(&[
        "checkpoints",
        "rewind",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--stream",
        "directory_audits",
        "--stream",
        "sign_ins_interactive",
        "--to",
        &to,
        "--yes",
    ]);
    assert_eq!(text(&done.stderr), "");
    assert_eq!(
        text(&done.stdout),
        format!(
            "{plan}rewound 2 streams: entrastream run reads them from {to} at its next start\n"
        )
    );
    assert_eq!(done.status.code(), Some(0));
    let audits = store
        .load(&tenant(CONTOSO), StreamKind::DirectoryAudits)
        .expect("loads")
        .expect("a cursor");
    assert_eq!(audits, rewound(&fixture.audits, at(60)));
    assert_eq!(
        (audits.watermark, audits.origin, audits.seen.len()),
        (at(60), fixture.base, 0),
        "every id from the rewind time on forgotten"
    );
    let sign_ins = store
        .load(&tenant(CONTOSO), StreamKind::SignInsInteractive)
        .expect("loads")
        .expect("a cursor");
    assert_eq!(sign_ins.watermark, at(60));
    assert_eq!(sign_ins.reconcile, None, "the pass under way is dropped");
    assert_eq!(sign_ins.last_reconcile_started, at(90));
    assert!(sign_ins.seen.contains(IdHash::of("s1")) && !sign_ins.seen.contains(IdHash::of("s2")));
    // fabrikam's is untouched
    assert_eq!(
        store
            .load(&tenant(FABRIKAM), StreamKind::DirectoryAudits)
            .expect("loads"),
        Some(fixture.audits.clone())
    );
}

#[test]
fn reset_says_what_it_means_and_removes_the_checkpoint() {
    let fixture = fixture();
    let at = |minutes: u32| fixture.base.saturating_add(MINUTE * minutes);
    let store = FileStore::new(&fixture.state);
    let arguments = [
        "checkpoints",
        "reset",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--stream",
        "directory_audits",
    ];
    let asked = entrastream(&arguments);
    assert_eq!(asked.status.code(), Some(1));
    assert_eq!(
        text(&asked.stderr),
        "error: not confirmed, nothing changed: add --yes to reset these streams\n"
    );
    let stdout = text(&asked.stdout);
    let expected_start = format!(
        "reset of tenant {CONTOSO} in the file store at {}:\n{}At its next start entrastream run starts these \
         streams from polling.initial_lookback (1day) before then, as new streams (from ",
        fixture.state.display(),
        line(
            &[
                "  directory_audits",
                &format!(
                    "checkpoint removed (watermark {}, 3 seen ids)",
                    seconds(at(120))
                )
            ],
            &[18]
        ),
    );
    assert!(stdout.starts_with(&expected_start), "{stdout}");
    assert!(
        stdout.ends_with(
            " if it started now): what they published since then is published again.\n\
             They are published with the keys they had (the Graph record id): consumers that deduplicate by key \
             (docs/consumers.md) keep one copy, others hold them twice.\n"
        ),
        "{stdout}"
    );
    assert!(
        store
            .load(&tenant(CONTOSO), StreamKind::DirectoryAudits)
            .expect("loads")
            .is_some()
    );

    let mut confirmed = arguments.to_vec();
    confirmed.push("--yes");
    let done = entrastream(&confirmed);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert!(
        text(&done.stdout).ends_with(
            "reset 1 stream: entrastream run starts them from polling.initial_lookback (1day) at its next start\n"
        ),
        "{}",
        text(&done.stdout)
    );
    let path = store.path_of(&tenant(CONTOSO), StreamKind::DirectoryAudits);
    assert!(!path.exists() && !entrastream::checkpoint::journal_of(&path).exists());
    assert_eq!(
        store
            .load(&tenant(CONTOSO), StreamKind::SignInsInteractive)
            .expect("loads"),
        Some(fixture.sign_ins.clone()),
        "the other stream stays"
    );
    // a reset stream has nothing left to reset
    let again = entrastream(&confirmed);
    assert_eq!(
        text(&again.stderr),
        format!(
            "error: nothing to reset: none of the streams named of tenant {CONTOSO} has a checkpoint in the file \
             store at {}\n",
            fixture.state.display()
        )
    );
}

/// `--help` says what each subcommand does, what the values are and what is refused.
#[test]
fn help_says_what_each_subcommand_does_and_refuses() {
    let help = text(&entrastream(&["checkpoints", "--help"]).stdout);
    for expected in [
        "list    Every tenant and stream with its cursor's summary",
        "show    One stream's whole cursor",
        "rewind  Move streams back so that everything from --to on is read and published again",
        "reset   Remove streams' checkpoints: they start again from polling.initial_lookback",
    ] {
        assert!(
            help.contains(expected),
            "{expected:?} missing from:\n{help}"
        );
    }
    let rewind = text(&entrastream(&["checkpoints", "rewind", "--help"]).stdout);
    for expected in [
        "Usage: entrastream checkpoints rewind [OPTIONS] --config <CONFIG> --tenant <TENANT> --to <TIME>",
        "Refused while an instance runs on the store (the file store's lock, the kafka store's lease)",
        "--stream <STREAM>",
        "[possible values: directory_audits, sign_ins_interactive,",
        "--to <TIME>",
        "RFC 3339 UTC time (`2026-01-05T12:00:00Z`, whole seconds)",
        "--yes",
    ] {
        assert!(
            rewind.contains(expected),
            "{expected:?} missing from:\n{rewind}"
        );
    }
    let refused = entrastream(&[
        "checkpoints",
        "rewind",
        "--config",
        "x.yaml",
        "--tenant",
        CONTOSO,
        "--to",
        "yesterday",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).starts_with(
            "error: invalid value 'yesterday' for '--to <TIME>': \"yesterday\" is not an RFC 3339 UTC time; \
             write it as 2026-01-05T12:00:00Z"
        ),
        "{}",
        text(&refused.stderr)
    );
}

/// A checkpoint that cannot be read cannot be rewound; a reset removes it.
#[test]
fn an_unreadable_checkpoint_is_refused_by_rewind_and_removed_by_reset() {
    let fixture = fixture();
    let store = FileStore::new(&fixture.state);
    let path = store.path_of(&tenant(CONTOSO), StreamKind::SignInsInteractive);
    let document = std::fs::read_to_string(&path).expect("document");
    std::fs::write(&path, &document[..document.len() / 2]).expect("writes");
    let corrupt = format!(
        "checkpoint {} is corrupt (not a checkpoint document: ",
        path.display()
    );

    let listed = entrastream(&["checkpoints", "list", "--config", &fixture.config]);
    assert_eq!(listed.status.code(), Some(0));
    let listing = text(&listed.stdout);
    let row = listing
        .lines()
        .find(|row| row.contains("sign_ins_interactive"))
        .expect("a row");
    assert!(
        row.starts_with(&format!("{CONTOSO}   sign_ins_interactive  -  "))
            && row.contains(&format!("unreadable: {corrupt}")),
        "{row}"
    );

    let rewind = entrastream(&[
        "checkpoints",
        "rewind",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--stream",
        "sign_ins_interactive",
        "--to",
        &seconds(fixture.base.saturating_add(MINUTE * 60)),
        "--yes",
    ]);
    let refused = text(&rewind.stderr);
    assert!(
        refused.starts_with(&format!(
            "error: not rewound, nothing changed: sign_ins_interactive: its checkpoint cannot be read, so it \
             cannot be rewound ({corrupt}"
        )) && refused.ends_with("; `entrastream checkpoints reset` removes it\n"),
        "{refused}"
    );
    assert_eq!(rewind.status.code(), Some(1));

    let reset = entrastream(&[
        "checkpoints",
        "reset",
        "--config",
        &fixture.config,
        "--tenant",
        CONTOSO,
        "--stream",
        "sign_ins_interactive",
        "--yes",
    ]);
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset.stderr));
    assert!(
        text(&reset.stdout).starts_with(&format!(
            "reset of tenant {CONTOSO} in the file store at {}:\n  sign_ins_interactive  unreadable checkpoint \
             removed (`entrastream checkpoints show` says why)\n",
            fixture.state.display()
        )),
        "{}",
        text(&reset.stdout)
    );
    assert!(!path.exists());
    assert_eq!(
        store
            .load(&tenant(CONTOSO), StreamKind::SignInsInteractive)
            .expect("loads"),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// a rewind, then the service: the rewound range published again, nothing lost

fn polling() -> PollingConfig {
    PollingConfig {
        interval: 2 * MINUTE,
        initial_lookback: 2 * HOUR,
        lateness: HOUR,
        reconcile_every: 20 * MINUTE,
        ..PollingConfig::default()
    }
}

/// `entrastream checkpoints …` in this process, at `clock`'s time.
async fn checkpoints_command(arguments: &[&str], clock: &Clock) -> (anyhow::Result<()>, String) {
    let cli = Cli::try_parse_from(
        ["entrastream", "checkpoints"]
            .iter()
            .chain(arguments)
            .copied(),
    )
    .expect("arguments parse");
    let CliCommand::Checkpoints(args) = cli.command else {
        panic!("not the checkpoints command");
    };
    let mut output = Vec::new();
    let outcome = entrastream::checkpoint_command::run(args, clock, &mut output).await;
    (outcome, text(&output))
}

fn cursors(config: &Config, state: &Path, kafka_store: bool) -> BTreeMap<StreamKind, Cursor> {
    let snapshot = kafka_store.then(|| {
        KafkaSnapshot::read(&config.kafka, &config.checkpoint).expect("reads the checkpoint topic")
    });
    [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive]
        .into_iter()
        .map(|stream| {
            let cursor = if let Some(snapshot) = &snapshot {
                snapshot.load(&tenant(CONTOSO), stream)
            } else {
                FileStore::new(state).peek(&tenant(CONTOSO), stream)
            };
            (stream, cursor.expect("loads").expect("a cursor"))
        })
        .collect()
}

async fn rewind_then_run(kafka_store: bool) {
    common::test_logging();
    let (sim, clock) = common::simulator(common::two_tenants(7, CONTOSO, FABRIKAM)).await;
    let manual = clock.as_manual().expect("manual").clone();
    let kafka = common::kafka();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(&sim, &kafka, directory.path(), polling());
    for tenant in &mut config.tenants {
        tenant.streams = Some(vec![
            StreamKind::DirectoryAudits,
            StreamKind::SignInsInteractive,
        ]);
    }
    if kafka_store {
        common::use_kafka_checkpoints(&mut config, Delivery::AtLeastOnce);
    }
    let state = directory.path().join("state");
    let config_file = directory.path().join("config.yaml");
    std::fs::write(&config_file, config.to_yaml()).expect("config");
    let config_path = config_file.display().to_string();
    let data_start = common::START.saturating_sub(HOUR);
    let data_end = common::START.saturating_add(HOUR);

    let first = common::start(config.clone(), &clock, None).await;
    common::drive(
        &manual,
        common::START.saturating_add(70 * MINUTE),
        Duration::from_secs(60),
    )
    .await;
    let rewind_to = common::START.saturating_add(20 * MINUTE);
    let rewind_arguments = [
        "rewind",
        "--config",
        &config_path,
        "--tenant",
        CONTOSO,
        "--to",
        &seconds(rewind_to),
        "--yes",
    ];
    // refused while the service runs: the kafka store's lease, the file store's lock
    let (refused, printed) = checkpoints_command(&rewind_arguments, &clock).await;
    let refusal = refused.expect_err("refused").to_string();
    assert_eq!(printed, "");
    if kafka_store {
        assert!(
            refusal.starts_with(&format!(
                "not rewound, nothing changed: the checkpoints of kafka.instance_id {id} are held by the instance \
                 on host ",
                id = config.kafka.instance_id
            )) && refusal.ends_with(
                "stop that instance first (it releases them as it stops). An instance killed before it could \
                 release them holds them until the next `entrastream run` with this kafka.instance_id takes them \
                 over (after checkpoint.takeover_wait) and stops"
            ),
            "{refusal}"
        );
    } else {
        let holder = format!(
            "checkpoint.path {} is in use by entrastream run (pid {}, host ",
            state.display(),
            std::process::id()
        );
        let fix = format!(
            "), which holds {}; stop that instance first (only one entrastream may use a checkpoint \
             directory), or give this one its own checkpoint.path",
            state.join("entrastream.lock").display()
        );
        assert!(
            refusal.starts_with(&format!("not rewound, nothing changed: {holder}"))
                && refusal.ends_with(&fix),
            "{refusal}"
        );
        // list reads beside it, and names it
        let listed = entrastream(&["checkpoints", "list", "--config", &config_path]);
        assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
        let listing = text(&listed.stdout);
        let held = listing.lines().nth(1).unwrap_or_default();
        assert!(
            held.starts_with(&format!(
                "held by entrastream run (pid {}, host ",
                std::process::id()
            )) && held.ends_with("): rewind and reset are refused until it stops"),
            "{listing}"
        );
        // the binary too, for reset and for a second `run` on the same checkpoint.path
        for arguments in [
            vec![
                "checkpoints",
                "reset",
                "--config",
                &config_path,
                "--tenant",
                CONTOSO,
                "--yes",
            ],
            vec!["run", "--config", &config_path],
        ] {
            let output = entrastream(&arguments);
            assert_eq!(output.status.code(), Some(1), "{arguments:?}");
            let stderr = text(&output.stderr);
            let last = stderr.lines().last().unwrap_or_default();
            let cause = if arguments[0] == "run" {
                String::new()
            } else {
                "not reset, nothing changed: ".to_owned()
            };
            assert!(
                last.starts_with(&format!("error: {cause}{holder}")) && last.ends_with(&fix),
                "{arguments:?}: {stderr}"
            );
        }
    }
    first.stop().await.expect("the first run stops cleanly");
    let first_pass = common::consume_events(&kafka);
    let comparison = common::compare_records(&sim, &first_pass, data_start, data_end, data_end);
    assert_eq!(
        (comparison.missing, comparison.duplicates),
        (0, 0),
        "{comparison:?}"
    );

    if kafka_store {
        // the binary reads the kafka store too
        let listed = entrastream(&[
            "checkpoints",
            "list",
            "--config",
            &config_path,
            "--output",
            "json",
        ]);
        assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
        let document: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
        assert_eq!(document["store"], "kafka");
        assert_eq!(document["location"], common::CHECKPOINT_TOPIC);
        assert_eq!(
            document["held_by"],
            serde_json::Value::Null,
            "released at the stop"
        );
        let streams = document["streams"].as_array().expect("streams");
        assert_eq!(streams.len(), 4);
        for stream in streams {
            assert!(stream["checkpoint"]["watermark"].is_string(), "{stream}");
            assert_eq!(stream["configured"], true);
        }
    }

    let before = cursors(&config, &state, kafka_store);
    let (rewinding, printed) = checkpoints_command(&rewind_arguments, &clock).await;
    rewinding.expect("rewound");
    let location = if kafka_store {
        format!("kafka store (topic {})", common::CHECKPOINT_TOPIC)
    } else {
        format!("file store at {}", state.display())
    };
    let range = |stream: StreamKind| {
        let watermark = before[&stream].watermark;
        format!(
            "reads again from {} to its watermark {} ({})",
            seconds(rewind_to),
            seconds(watermark),
            humantime::format_duration(watermark.duration_since(rewind_to))
        )
    };
    assert_eq!(
        printed,
        format!(
            "rewind of tenant {CONTOSO} in the {location}:\n{}{}\
             The records of these ranges are read from Graph and published again at the next start of entrastream run.\n\
             They are published with the keys they had (the Graph record id): consumers that deduplicate by key \
             (docs/consumers.md) keep one copy, others hold them twice.\n\
             rewound 2 streams: entrastream run reads them from {} at its next start\n",
            line(
                &["  directory_audits", &range(StreamKind::DirectoryAudits)],
                &[22]
            ),
            line(
                &[
                    "  sign_ins_interactive",
                    &range(StreamKind::SignInsInteractive)
                ],
                &[22]
            ),
            seconds(rewind_to)
        )
    );
    let after = cursors(&config, &state, kafka_store);
    for (stream, cursor) in &after {
        assert_eq!(cursor, &rewound(&before[stream], rewind_to), "{stream}");
    }

    let second = common::start(config.clone(), &clock, None).await;
    let end = common::START.saturating_add(2 * HOUR);
    common::drive(&manual, end, Duration::from_secs(60)).await;
    second.stop().await.expect("the second run stops cleanly");

    let records = common::consume_events(&kafka);
    let comparison = common::compare_records(&sim, &records, data_start, data_end, end);
    assert_eq!(
        (comparison.missing, comparison.unexpected),
        (0, 0),
        "{comparison:?}"
    );
    let counts = common::ids_by_stream(&records);
    let mut repeated = 0;
    for tenant_id in [CONTOSO, FABRIKAM] {
        for stream in [StreamKind::DirectoryAudits, StreamKind::SignInsInteractive] {
            let delivered = &counts[&(tenant_id.to_owned(), stream.as_str().to_owned())];
            let rewound_ids = sim.truth(tenant_id, stream, rewind_to, data_end, end);
            let all = sim.truth(tenant_id, stream, data_start, data_end, end);
            assert!(!rewound_ids.is_empty() && rewound_ids.len() < all.len());
            for id in &all {
                let expected = if tenant_id == CONTOSO && rewound_ids.contains(id) {
                    2
                } else {
                    1
                };
                assert_eq!(
                    delivered.get(id),
                    Some(&expected),
                    "{tenant_id} {stream} {id}"
                );
            }
            if tenant_id == CONTOSO {
                repeated += rewound_ids.len();
            }
        }
    }
    assert_eq!(comparison.duplicates, repeated);
    // a reset removes the cursor and (kafka) every delta the second run appended after it
    let (reset, printed) = checkpoints_command(
        &[
            "reset",
            "--config",
            &config_path,
            "--tenant",
            CONTOSO,
            "--stream",
            "sign_ins_interactive",
            "--yes",
        ],
        &clock,
    )
    .await;
    reset.expect("reset");
    assert!(
        printed.starts_with(&format!(
            "reset of tenant {CONTOSO} in the {location}:\n  sign_ins_interactive  checkpoint removed (watermark "
        )) && printed.ends_with(
            "reset 1 stream: entrastream run starts them from polling.initial_lookback (2h) at its next start\n"
        ),
        "{printed}"
    );
    let left = if kafka_store {
        let snapshot =
            KafkaSnapshot::read(&config.kafka, &config.checkpoint).expect("reads the topic");
        assert!(
            snapshot.holder().is_none(),
            "the command released the lease"
        );
        (
            snapshot.load(&tenant(CONTOSO), StreamKind::SignInsInteractive),
            snapshot.load(&tenant(CONTOSO), StreamKind::DirectoryAudits),
        )
    } else {
        let store = FileStore::new(&state);
        (
            store.peek(&tenant(CONTOSO), StreamKind::SignInsInteractive),
            store.peek(&tenant(CONTOSO), StreamKind::DirectoryAudits),
        )
    };
    assert_eq!(left.0.expect("no delta left without its cursor"), None);
    assert!(left.1.expect("loads").is_some(), "the other stream stays");
    println!(
        "kafka store {kafka_store}: {} records, {repeated} published again after the rewind to {}",
        comparison.expected,
        seconds(rewind_to)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewound_file_store_stream_publishes_its_range_again_and_loses_nothing() {
    rewind_then_run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewound_kafka_store_stream_publishes_its_range_again_and_loses_nothing() {
    rewind_then_run(true).await;
}
