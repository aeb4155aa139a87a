//! The mappings: golden files for generated and hand-written quirky records, the mapping document
//! kept true against real output, and a property test with arbitrary record-shaped JSON.
//!
//! `UPDATE_GOLDEN=1 cargo test --test mapping` rewrites the golden files; review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use entrastream::clock::Timestamp;
use entrastream::config::{ApiVersion, SchemaKind};
use std::borrow::Cow;

use entrastream::graph::record::{PageBody, Record};
use entrastream::schema::{MapContext, map_record};
use entrastream::stream::StreamKind;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mapping")
}

#[derive(Deserialize)]
struct Fixture<'a> {
    stream: StreamKind,
    api_version: String,
    #[serde(borrow)]
    record: &'a RawValue,
}

fn context(stream: StreamKind, api_version: &str) -> MapContext<'static> {
    MapContext {
        tenant_id: TENANT,
        stream,
        api_version: if api_version == "v1.0" {
            ApiVersion::V1
        } else {
            ApiVersion::Beta
        },
        received_at: Timestamp::from_secs(1_767_614_400),
    }
}

/// The mapped event, or `{"dead_letter": reason}` when the record cannot be mapped.
fn map_fixture(text: &str, schema: SchemaKind) -> Value {
    let fixture: Fixture = serde_json::from_str(text).expect("fixture");
    let context = context(fixture.stream, &fixture.api_version);
    let [alone, in_a_page, rebuilt] = map_three_ways(fixture.record.get(), schema, &context);
    assert_eq!(alone, in_a_page, "split alone and from a page's scan");
    assert_eq!(alone, rebuilt, "without the object values' properties kept");
    assert!(alone.get("not_readable").is_none(), "{alone}");
    alone
}

fn map_one(record: &Record, schema: SchemaKind, context: &MapContext) -> Value {
    let mut out = Vec::new();
    match map_record(schema, record, context, &mut out) {
        // a record with an escape that is no character (a lone surrogate) is copied verbatim,
        // which serde_json refuses to read back
        Ok(()) => serde_json::from_slice(&out).unwrap_or_else(
            |_| serde_json::json!({ "not_readable": String::from_utf8_lossy(&out) }),
        ),
        Err(error) => serde_json::json!({ "dead_letter": error.0 }),
    }
}

/// A record mapped as it reaches a mapper three ways: split alone (`Record::parse`), from the
/// scan of a page around it (`PageBody`), and rebuilt from its properties alone, without the
/// properties of its object values that both scans keep (the mapper then reads those objects
/// itself). All three must give the same event.
fn map_three_ways(text: &str, schema: SchemaKind, context: &MapContext) -> [Value; 3] {
    let alone = Record::parse(text).expect("a record");
    let page =
        PageBody::parse(bytes::Bytes::from(format!("{{\"value\":[{text}]}}"))).expect("a page");
    let (_, in_a_page) = page.records().next().expect("one record");
    let in_a_page = in_a_page.expect("a record");
    let properties: Vec<(Cow<str>, &str)> = alone
        .fields()
        .map(|(key, value)| (Cow::Owned(key.to_owned()), value))
        .collect();
    let rebuilt = Record::from_properties(text, &properties);
    [
        map_one(&alone, schema, context),
        map_one(&in_a_page, schema, context),
        map_one(&rebuilt, schema, context),
    ]
}

fn first_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(left), Value::Object(right)) => {
            let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
            keys.into_iter().find_map(|key| {
                first_difference(
                    left.get(key).unwrap_or(&Value::Null),
                    right.get(key).unwrap_or(&Value::Null),
                    &format!("{path}.{key}"),
                )
            })
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => left
            .iter()
            .zip(right)
            .enumerate()
            .find_map(|(index, (left, right))| {
                first_difference(left, right, &format!("{path}[{index}]"))
            }),
        _ if expected == actual => None,
        _ => Some(format!("{path}: golden {expected} != now {actual}")),
    }
}

#[test]
fn every_fixture_maps_to_its_reviewed_golden_file() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|value| value == "1");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "{} fixtures", paths.len());
    let golden_dir = fixtures_dir().join("golden");
    let mut problems = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("fixture");
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("name");
        for schema in [SchemaKind::Ocsf, SchemaKind::Ecs, SchemaKind::Raw] {
            let actual = map_fixture(&text, schema);
            let golden_path = golden_dir.join(format!("{name}.{}.json", schema.as_str()));
            if update {
                std::fs::create_dir_all(&golden_dir).expect("golden dir");
                let pretty = serde_json::to_string_pretty(&actual).expect("pretty") + "\n";
                std::fs::write(&golden_path, pretty).expect("write golden");
                continue;
            }
            let golden: Value = std::fs::read_to_string(&golden_path)
                .ok()
                .and_then(|golden| serde_json::from_str(&golden).ok())
                .unwrap_or(Value::Null);
            if let Some(difference) = first_difference(&golden, &actual, name) {
                problems.push(format!("{} ({}): {difference}", name, schema.as_str()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "outputs differ from golden files (UPDATE_GOLDEN=1 to rewrite, then review):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_fixtures_cover_every_class_and_the_documented_quirks() {
    let mut classes = BTreeSet::new();
    let mut dead_letters = 0;
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let event = map_fixture(
            &std::fs::read_to_string(&path).expect("fixture"),
            SchemaKind::Ocsf,
        );
        match event["class_uid"].as_i64() {
            Some(class) => {
                classes.insert(class);
            }
            None => dead_letters += 1,
        }
    }
    assert_eq!(
        classes,
        BTreeSet::from([3001, 3002, 3004, 3005, 3006, 6003])
    );
    assert_eq!(
        dead_letters, 1,
        "only the sign-in without a user cannot be mapped"
    );

    let text =
        std::fs::read_to_string(fixtures_dir().join("quirk_repeated_key.json")).expect("fixture");
    assert_eq!(
        text.matches("\"riskState\"").count(),
        2,
        "the fixture really repeats a key"
    );
    let event = map_fixture(&text, SchemaKind::Ocsf);
    assert_eq!(
        event["unmapped"]["riskState"], "none",
        "the later value wins"
    );
    let unknown = map_fixture(
        &std::fs::read_to_string(fixtures_dir().join("quirk_unknown_enum_values.json"))
            .expect("fixture"),
        SchemaKind::Ocsf,
    );
    assert_eq!(
        (unknown["severity_id"].clone(), unknown["severity"].clone()),
        (Value::from(99), Value::from("veryHigh"))
    );
    assert_eq!(
        (
            unknown["auth_protocol_id"].clone(),
            unknown["auth_protocol"].clone()
        ),
        (Value::from(99), Value::from("primaryRefreshTokenExchange"))
    );
    assert_eq!(
        (
            unknown["user"]["type_id"].clone(),
            unknown["user"]["type"].clone()
        ),
        (Value::from(99), Value::from("externalMember"))
    );
    let failure = map_fixture(
        &std::fs::read_to_string(fixtures_dir().join("sign_in_interactive_wrong_password.json"))
            .expect("fixture"),
        SchemaKind::Ocsf,
    );
    assert_eq!(
        (
            failure["activity_id"].clone(),
            failure["status_id"].clone(),
            failure["status_code"].clone()
        ),
        (Value::from(1), Value::from(2), Value::from("50126"))
    );
    let ecs = map_fixture(
        &std::fs::read_to_string(fixtures_dir().join("sign_in_interactive_mfa_success.json"))
            .expect("fixture"),
        SchemaKind::Ecs,
    );
    assert!(
        ecs["source"]["geo"]["region_name"].is_string(),
        "the state is a region, not a country"
    );
    assert!(ecs["source"]["geo"].get("country_name").is_none());
}

/// The rows of the tables in `docs/mapping.md`: (section, output field).
fn documented_fields() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mapping.md"))
            .expect("docs/mapping.md");
    let mut section = String::new();
    let mut fields = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            section = heading
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 || !cells[1].starts_with('`') {
            continue;
        }
        fields.push((section.clone(), cells[1].trim_matches('`').to_owned()));
    }
    fields
}

/// Every field path of an event (objects by key, arrays as `[]`), `unmapped` and Graph's
/// verbatim property copies left out.
fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                if path == "unmapped" || path.ends_with(".properties") || path.ends_with(".data") {
                    out.insert(path);
                    continue;
                }
                paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            let path = format!("{prefix}[]");
            if items.iter().all(|item| !item.is_object()) {
                out.insert(path);
            } else {
                for item in items {
                    paths(item, &path, out);
                }
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

#[test]
fn the_mapping_document_lists_exactly_the_fields_the_mappers_write() {
    let documented = documented_fields();
    assert!(
        documented.len() > 80,
        "{} documented rows",
        documented.len()
    );
    let binary = env!("CARGO_BIN_EXE_entrastream");
    for (section, schema, streams) in [
        (
            "3002",
            "ocsf",
            vec![
                "sign_ins_interactive",
                "sign_ins_non_interactive",
                "sign_ins_service_principal",
                "sign_ins_managed_identity",
            ],
        ),
        ("audits", "ocsf", vec!["directory_audits"]),
        ("3004", "ocsf", vec!["provisioning"]),
        (
            "ecs",
            "ecs",
            vec![
                "sign_ins_interactive",
                "sign_ins_service_principal",
                "directory_audits",
                "provisioning",
            ],
        ),
    ] {
        let mut produced = BTreeSet::new();
        for stream in streams {
            let output = std::process::Command::new(binary)
                .args([
                    "schema",
                    "sample",
                    "--schema",
                    schema,
                    "--stream",
                    stream,
                    "--records",
                    "400",
                    "--quirk-rate",
                    "0.1",
                ])
                .output()
                .expect("sample");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                let event: Value = serde_json::from_str(line).expect("event");
                paths(&event, "", &mut produced);
            }
        }
        let listed: BTreeSet<String> = documented
            .iter()
            .filter(|(documented_section, _)| documented_section == section)
            .map(|(_, field)| field.clone())
            .collect();
        let undocumented: Vec<&String> = produced.difference(&listed).collect();
        let never_written: Vec<&String> = listed.difference(&produced).collect();
        assert!(
            undocumented.is_empty(),
            "section {section}: written but not in docs/mapping.md: {undocumented:?}"
        );
        assert!(
            never_written.is_empty(),
            "section {section}: in docs/mapping.md but never written: {never_written:?}"
        );
    }
}

/// A small deterministic generator of arbitrary JSON, biased towards the shapes of records.
struct Arbitrary(u64);

impl Arbitrary {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "",
            "x",
            "2026-01-05T10:00:00Z",
            "not a time",
            "é€\u{200f}",
            "\"quoted\"",
            "\\",
            "success",
            "failure",
            "User",
            "Group",
            "@",
        ];
        (0..self.below(3))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 5 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => Value::from(self.below(100_000) as i64 - 50_000),
            3 => Value::from(self.below(1000) as f64 / 7.0),
            4 => Value::from(self.string()),
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => Value::Object(
                (0..self.below(5))
                    .map(|_| {
                        const KEYS: &[&str] = &[
                            "id",
                            "displayName",
                            "type",
                            "userPrincipalName",
                            "modifiedProperties",
                            "newValue",
                            "oldValue",
                            "city",
                            "geoCoordinates",
                            "latitude",
                            "errorCode",
                            "user",
                            "app",
                            "key",
                            "value",
                            "failureReason",
                            "additionalDetails",
                            "state",
                            "countryOrRegion",
                            "deviceId",
                            "operatingSystem",
                            "isCompliant",
                            "isManaged",
                            "longitude",
                            "odd \"key\"",
                        ];
                        (
                            KEYS[self.below(KEYS.len() as u64) as usize].to_owned(),
                            self.value(depth + 1),
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// Object values with repeated keys, keys with escapes, an escape that is no character, `{}`,
/// whitespace: read from the properties the scans keep, they map as when the mapper reads the
/// objects itself.
#[test]
fn object_values_of_every_shape_map_alike_every_way() {
    let records = [
        r#"{"id":"a","createdDateTime":"2026-01-05T10:00:00Z","userId":"u","ipAddress":"192.0.2.1","status":{"errorCode":1,"errorCode":0,"failure\u0052eason":"x","additionalDetails":"d"},"deviceDetail":{"deviceId":"d1","deviceId":"d2","displayName":null,"browser":"Edge","browser":"Firefox"},"location":{ "city" : "Oslo" , "c\u006funtryOrRegion":"NO","geoCoordinates":{"latitude":59.9,"longitude":10.7}}}"#,
        r#"{"id":"b","createdDateTime":"2026-01-05T10:00:00Z","userId":"u","status":{},"deviceDetail":{"bad\ud800":1,"deviceId":"d"},"location":null}"#,
        r#"{"id":"c","activityDateTime":"2026-01-05T10:00:00Z","category":"UserManagement","activityDisplayName":"Update user","result":"success","initiatedBy":{"user":{"id":"u1","userPrincipalName":"a@b"},"user":{"id":"u2"},"app":null},"targetResources":[{"id":"t","type":"User"}]}"#,
        r#"{"id":"d","activityDateTime":"2026-01-05T10:00:00Z","provisioningAction":"create","provisioningStatusInfo":{"status":"failure","errorInformation":{"errorCode":"E1"}},"targetIdentity":{"id":"t","displayName":"T","identityType":"User","id":"t2"},"sourceIdentity":{"id":"s"}}"#,
    ];
    for text in records {
        for stream in StreamKind::ALL {
            for schema in [SchemaKind::Ocsf, SchemaKind::Ecs, SchemaKind::Raw] {
                let [alone, in_a_page, rebuilt] =
                    map_three_ways(text, schema, &context(stream, "beta"));
                assert_eq!(
                    alone,
                    in_a_page,
                    "{stream} {}: from a page, {text}",
                    schema.as_str()
                );
                assert_eq!(
                    alone,
                    rebuilt,
                    "{stream} {}: rebuilt, {text}",
                    schema.as_str()
                );
            }
        }
    }
    // what the kept properties gave: the last repeat, decoded keys
    let event = map_three_ways(
        records[0],
        SchemaKind::Ocsf,
        &context(StreamKind::SignInsInteractive, "beta"),
    )
    .into_iter()
    .next()
    .expect("an event");
    assert_eq!(event["status_id"], 1, "{event}");
    assert_eq!(event["status_detail"], "x (d)", "{event}");
    assert_eq!(event["device"]["uid"], "d2", "{event}");
    assert_eq!(
        event["src_endpoint"]["location"]["country"], "NO",
        "{event}"
    );
    assert_eq!(
        event["unmapped"]["deviceDetail"],
        serde_json::json!({"browser": "Firefox"}),
        "{event}"
    );
}

#[test]
fn arbitrary_record_shaped_json_never_panics_the_mappers() {
    const RECORD_KEYS: &[&str] = &[
        "id",
        "createdDateTime",
        "activityDateTime",
        "userId",
        "userPrincipalName",
        "userDisplayName",
        "appId",
        "appDisplayName",
        "ipAddress",
        "status",
        "location",
        "deviceDetail",
        "authenticationDetails",
        "authenticationProtocol",
        "riskLevelAggregated",
        "userType",
        "servicePrincipalId",
        "initiatedBy",
        "targetResources",
        "category",
        "activityDisplayName",
        "operationType",
        "result",
        "additionalDetails",
        "provisioningAction",
        "provisioningStatusInfo",
        "targetIdentity",
        "sourceIdentity",
        "modifiedProperties",
        "autonomousSystemNumber",
        "homeTenantId",
        "correlationId",
    ];
    let mut arbitrary = Arbitrary(7);
    let mut mapped = 0;
    let mut refused = 0;
    for case in 0..20_000 {
        let mut record = serde_json::Map::new();
        for _ in 0..arbitrary.below(20) {
            let key = RECORD_KEYS[arbitrary.below(RECORD_KEYS.len() as u64) as usize];
            record.insert(key.to_owned(), arbitrary.value(0));
        }
        let text = serde_json::to_string(&Value::Object(record)).expect("json");
        let parsed = Record::parse(&text).expect("an object is a record");
        if case < 2_000 {
            for stream in StreamKind::ALL {
                for schema in [SchemaKind::Ocsf, SchemaKind::Ecs] {
                    let [alone, in_a_page, rebuilt] =
                        map_three_ways(&text, schema, &context(stream, "beta"));
                    assert_eq!(alone, in_a_page, "case {case}: from a page, {text}");
                    assert_eq!(alone, rebuilt, "case {case}: rebuilt, {text}");
                }
            }
        }
        for stream in StreamKind::ALL {
            for schema in [SchemaKind::Ocsf, SchemaKind::Ecs, SchemaKind::Raw] {
                let mut out = Vec::new();
                match map_record(schema, &parsed, &context(stream, "beta"), &mut out) {
                    Ok(()) => {
                        serde_json::from_slice::<Value>(&out).unwrap_or_else(|error| {
                            panic!("case {case}: invalid JSON ({error}) from {text}")
                        });
                        mapped += 1;
                    }
                    Err(error) => {
                        assert!(!error.0.is_empty(), "a refusal names its reason");
                        assert!(out.is_empty(), "a refused record leaves no partial output");
                        refused += 1;
                    }
                }
            }
        }
    }
    assert!(
        mapped > 100_000 && refused > 10_000,
        "mapped {mapped}, refused {refused}"
    );
}

/// `entrastream schema sample` of `records` records of `stream` (seed 1, no quirks), parsed.
fn sample(schema: &str, stream: &str, records: usize) -> Vec<Value> {
    sample_with_quirks(schema, stream, records, 0.0)
}

/// `sample` with a share of quirky records.
fn sample_with_quirks(schema: &str, stream: &str, records: usize, quirk_rate: f64) -> Vec<Value> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["schema", "sample", "--schema", schema, "--stream", stream])
        .args(["--records", &records.to_string()])
        .args(["--quirk-rate", &quirk_rate.to_string()])
        .output()
        .expect("sample");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("an event"))
        .collect()
}

/// The row of `field` in the section of docs/mapping.md whose heading starts with `section`.
fn documented_rule(section: &str, field: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mapping.md"))
            .expect("docs/mapping.md");
    let mut in_section = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            in_section = heading.starts_with(section);
            continue;
        }
        if in_section && line.starts_with(&format!("| `{field}` |")) {
            return line.to_owned();
        }
    }
    panic!("docs/mapping.md has no row for {field} in {section}")
}

/// The OCSF severity of one Graph risk level, as docs/mapping.md states it; `None` outside
/// Graph's set.
fn documented_severity(level: Option<&str>) -> Option<i64> {
    match level {
        None | Some("none") | Some("hidden") => Some(1),
        Some("low") => Some(2),
        Some("medium") => Some(3),
        Some("high") => Some(4),
        Some(_) => None,
    }
}

/// The sign-in rules of docs/mapping.md hold on 3,000 simulated sign-ins: severity is the higher
/// of the two risk levels, a hidden risk level is absent (and kept in `unmapped`), and the host
/// profile is declared exactly when the event has a `device`.
#[test]
fn the_documented_sign_in_rules_hold() {
    assert!(
        documented_rule("3002", "severity_id").contains("the higher of the two"),
        "the document states the rule tested here"
    );
    assert!(documented_rule("3002", "user.risk_level_id").contains("hidden or absent → absent"));
    assert!(
        documented_rule("3002", "metadata.profiles[]")
            .contains("host too when the event has a `device`")
    );
    let raw = sample("raw", "sign_ins_interactive", 3000);
    let events = sample("ocsf", "sign_ins_interactive", 3000);
    assert_eq!(raw.len(), events.len());
    let (mut raised, mut hidden, mut without_device) = (0, 0, 0);
    for (envelope, event) in raw.iter().zip(&events) {
        let record = &envelope["record"];
        assert_eq!(event["metadata"]["original_event_uid"], record["id"]);
        let aggregated = record["riskLevelAggregated"].as_str();
        let during = record["riskLevelDuringSignIn"].as_str();
        let expected = documented_severity(aggregated)
            .max(documented_severity(during))
            .expect("the generator writes Graph's levels");
        assert_eq!(event["severity_id"], expected, "{record}");
        if expected > documented_severity(aggregated).unwrap_or(1) {
            raised += 1;
        }
        let user = &event["user"];
        if aggregated == Some("hidden") {
            hidden += 1;
            assert!(user.get("risk_level_id").is_none(), "{event}");
            assert!(user.get("risk_level").is_none(), "{event}");
            assert_eq!(event["unmapped"]["riskLevelAggregated"], "hidden");
        } else {
            assert!(event["unmapped"].get("riskLevelAggregated").is_none());
        }
        assert_ne!(user["risk_level"], "hidden", "{event}");
        let profiles = event["metadata"]["profiles"].as_array().expect("profiles");
        let declares_host = profiles.iter().any(|profile| profile == "host");
        assert_eq!(declares_host, event.get("device").is_some(), "{event}");
        if !declares_host {
            without_device += 1;
        }
    }
    println!(
        "of {} sign-ins: {raised} raised above the aggregate by the sign-in's own risk, {hidden} \
         with a hidden risk level, {without_device} without a device",
        events.len()
    );
    assert!(raised > 0 && hidden > 0 && without_device > 0);
}

/// Every scalar of `value` (numbers, booleans and strings, as JSON text), nulls and empty strings
/// left out; a modified property's JSON-encoded `oldValue`/`newValue` decoded first, as the
/// mapping decodes them.
fn leaves(value: &Value, key: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::String(text) if text.trim().is_empty() => {}
        Value::String(text) if key == "oldValue" || key == "newValue" => {
            match serde_json::from_str::<Value>(text) {
                Ok(decoded) => leaves(&decoded, "", out),
                Err(_) => out.push((key.to_owned(), value.to_string())),
            }
        }
        Value::Array(items) => items.iter().for_each(|item| leaves(item, key, out)),
        Value::Object(map) => map
            .iter()
            .for_each(|(name, child)| leaves(child, name, out)),
        scalar => out.push((key.to_owned(), scalar.to_string())),
    }
}

/// Directory audits keep every value of `initiatedBy`, `targetResources` and `additionalDetails`
/// (each scalar is somewhere in the event: where it was mapped, or in `unmapped`), and
/// `unmapped` no longer repeats them whole.
#[test]
fn audit_events_lose_no_value_and_repeat_none_whole() {
    assert!(documented_rule("audits", "unmapped").contains("only what found no home"));
    for quirk_rate in [0.0, 0.1] {
        let raw = sample_with_quirks("raw", "directory_audits", 3000, quirk_rate);
        let events = sample_with_quirks("ocsf", "directory_audits", 3000, quirk_rate);
        let mut unmapped_bytes = 0;
        for (envelope, event) in raw.iter().zip(&events) {
            let record = &envelope["record"];
            let mut in_event = Vec::new();
            leaves(event, "", &mut in_event);
            let written: BTreeSet<&String> = in_event.iter().map(|(_, value)| value).collect();
            let unmapped = &event["unmapped"];
            unmapped_bytes += unmapped.to_string().len();
            for property in ["initiatedBy", "targetResources", "additionalDetails"] {
                let Some(value) = record.get(property) else {
                    continue;
                };
                if unmapped.get(property) == Some(value) {
                    // kept whole only when nothing of it was mapped: then no part is elsewhere
                    continue;
                }
                let mut graph = Vec::new();
                leaves(value, property, &mut graph);
                for (key, leaf) in graph {
                    let implied = match (key.as_str(), leaf.as_str()) {
                        // the group target's type: `group` says it
                        ("type", "\"Group\"") => event.get("group").is_some(),
                        // the detail's name: `http_request.user_agent` holds its value
                        ("key", "\"User-Agent\"") => {
                            event["http_request"]["user_agent"].is_string()
                        }
                        _ => false,
                    };
                    assert!(
                        implied || written.contains(&leaf),
                        "{property}.{key} = {leaf} lost from {}:\n{event}",
                        record["id"]
                    );
                }
            }
        }
        println!(
            "quirk rate {quirk_rate}: {} audits, unmapped {} bytes on average",
            events.len(),
            unmapped_bytes / events.len().max(1)
        );
    }
}

/// ECS `event.type` of audits: a user or group is created or deleted only by its own activity
/// (Elastic's `["user","creation"]` is a new account); what is added to a user changes it.
#[test]
fn ecs_creation_and_deletion_of_users_and_groups_are_their_lifecycle_only() {
    assert!(
        documented_rule("ecs", "event.type[]")
            .contains("registering or deleting security info changes the user")
    );
    let events = sample("ecs", "directory_audits", 3000);
    let mut changes_of_a_user = 0;
    for event in &events {
        let action = event["event"]["action"].as_str().expect("an action");
        let types: Vec<&str> = event["event"]["type"]
            .as_array()
            .expect("types")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        match types.as_slice() {
            ["user", "creation"] => assert_eq!(action, "Add user"),
            ["user", "deletion"] => assert!(matches!(action, "Delete user" | "Hard Delete user")),
            ["group", "creation"] => assert_eq!(action, "Add group"),
            ["group", "deletion"] => {
                assert!(matches!(action, "Delete group" | "Hard Delete group"))
            }
            _ => {}
        }
        if action.ends_with("security info") {
            assert_eq!(types, ["user", "change"], "{action}");
            changes_of_a_user += 1;
        }
    }
    assert!(changes_of_a_user > 0);
}
