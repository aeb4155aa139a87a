//! Hostile input, generated: pages and records that Graph (or anyone on its path) could send, and
//! configuration files a user could write, mutated at random from real ones, and arbitrary bytes.
//! Nothing panics, nothing hangs, and whatever is mapped is valid JSON.
//!
//! `ENTRASTREAM_FUZZ_CASES` sets the cases per property (scripts/test runs 10,000; 1,000 by
//! default). A failure prints the minimal input proptest shrank it to.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use entrastream::clock::Timestamp;
use entrastream::config::{ApiVersion, Config, SchemaKind};
use entrastream::graph::endpoint;
use entrastream::graph::record::{PageBody, Record};
use entrastream::schema::{MapContext, map_record};
use entrastream::stream::StreamKind;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};

/// Longer than any input here takes by far: a case that needs it is a hang.
const CASE_LIMIT: Duration = Duration::from_secs(5);

fn cases() -> u32 {
    std::env::var("ENTRASTREAM_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(1_000)
}

fn runner() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The Graph records of the mapping fixtures, with the stream each belongs to.
fn fixture_records() -> Vec<(StreamKind, String)> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mapping");
    let mut records = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&directory)
        .expect("fixtures")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("fixture");
        let fixture: serde_json::Value = serde_json::from_str(&text).expect("json");
        let stream = StreamKind::ALL
            .into_iter()
            .find(|kind| fixture["stream"] == kind.as_str())
            .expect("the fixture names its stream");
        records.push((stream, fixture["record"].to_string()));
    }
    records
}

/// A page of Graph's shape holding the fixtures of one log family.
fn fixture_pages() -> Vec<(StreamKind, Vec<u8>)> {
    let records = fixture_records();
    [
        StreamKind::SignInsInteractive,
        StreamKind::DirectoryAudits,
        StreamKind::Provisioning,
    ]
    .into_iter()
    .map(|stream| {
        let family: Vec<&str> = records
            .iter()
            .filter(|(kind, _)| kind.family() == stream.family())
            .map(|(_, record)| record.as_str())
            .collect();
        let page = format!(
            "{{\"@odata.context\":\"https://graph.microsoft.com/beta/$metadata#auditLogs\",\
             \"@odata.nextLink\":\"https://graph.microsoft.com/beta/auditLogs?$skiptoken=x\",\
             \"value\":[{}]}}",
            family.join(",")
        );
        (stream, page.into_bytes())
    })
    .collect()
}

/// One change to a byte string.
#[derive(Clone, Debug)]
enum Mutation {
    Replace {
        at: usize,
        byte: u8,
    },
    Delete {
        at: usize,
        length: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// A copy of `length` bytes from `from`, inserted at `at` (repeated keys, nested objects).
    Duplicate {
        from: usize,
        length: usize,
        at: usize,
    },
    Truncate {
        at: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // bytes Graph's JSON is made of, and some it never sends
    let interesting = prop_oneof![
        Just(b'"'),
        Just(b'\\'),
        Just(b'{'),
        Just(b'}'),
        Just(b'['),
        Just(b']'),
        Just(b','),
        Just(b':'),
        Just(b'0'),
        Just(b'-'),
        Just(b'e'),
        Just(0xc3),
        Just(0xff),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(at, byte)| Mutation::Replace { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, length)| Mutation::Delete { at, length }),
        (any::<usize>(), prop::collection::vec(interesting, 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..400, any::<usize>())
            .prop_map(|(from, length, at)| Mutation::Duplicate { from, length, at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for change in mutations {
        let length = bytes.len().max(1);
        match change {
            Mutation::Replace { at, byte } => {
                if let Some(slot) = bytes.get_mut(at % length) {
                    *slot = *byte;
                }
            }
            Mutation::Delete { at, length: count } => {
                let start = (at % length).min(bytes.len());
                let end = (start + count).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Insert {
                at,
                bytes: inserted,
            } => {
                let position = (at % length).min(bytes.len());
                bytes.splice(position..position, inserted.iter().copied());
            }
            Mutation::Duplicate {
                from,
                length: count,
                at,
            } => {
                let start = (from % length).min(bytes.len());
                let end = (start + count).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                let position = (at % length).min(bytes.len());
                bytes.splice(position..position, copy);
            }
            Mutation::Truncate { at } => bytes.truncate(at % length),
        }
    }
    bytes
}

/// Everything the pipeline does with a page: parse it, read each record's id and time, map it
/// into every schema. A mapped event must be valid JSON.
fn process_page(stream: StreamKind, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let Ok(page) = PageBody::parse(bytes::Bytes::from(bytes)) else {
        return Ok(());
    };
    let _ = page.next_link();
    for (_, record) in page.records() {
        let Ok(record) = record else {
            continue;
        };
        map_everywhere(stream, &record)?;
    }
    prop_assert!(
        started.elapsed() < CASE_LIMIT,
        "a page took {:?}",
        started.elapsed()
    );
    Ok(())
}

/// Records mapped into at least one schema, across the tests: the mutations must leave many
/// readable, or the properties would only ever test the parser's refusals.
static MAPPED: AtomicUsize = AtomicUsize::new(0);

fn map_everywhere(stream: StreamKind, record: &Record) -> Result<(), TestCaseError> {
    let _ = record.id();
    let _ = record.time(endpoint::time_field(stream));
    for schema in [SchemaKind::Ocsf, SchemaKind::Ecs, SchemaKind::Raw] {
        for api_version in [ApiVersion::Beta, ApiVersion::V1] {
            let context = MapContext {
                tenant_id: "contoso.onmicrosoft.com",
                stream,
                api_version,
                received_at: Timestamp::from_secs(1_767_614_400),
            };
            let mut out = Vec::new();
            if map_record(schema, record, &context, &mut out).is_ok() {
                MAPPED.fetch_add(1, Ordering::Relaxed);
                prop_assert!(
                    serde_json::from_slice::<serde_json::Value>(&out).is_ok(),
                    "{schema:?} wrote invalid JSON: {}",
                    String::from_utf8_lossy(&out)
                );
            } else {
                prop_assert!(out.is_empty(), "a failed mapping leaves nothing behind");
            }
        }
    }
    Ok(())
}

#[test]
fn mutated_pages_never_panic_and_map_to_valid_json() {
    let pages = fixture_pages();
    let parsed = AtomicUsize::new(0);
    let mapped_before = MAPPED.load(Ordering::Relaxed);
    proptest!(runner(), |(page in 0..pages.len(), mutations in prop::collection::vec(mutation(), 1..6))| {
        let (stream, bytes) = &pages[page];
        let bytes = mutate(bytes.clone(), &mutations);
        if PageBody::parse(bytes::Bytes::from(bytes.clone())).is_ok() {
            parsed.fetch_add(1, Ordering::Relaxed);
        }
        process_page(*stream, bytes)?;
    });
    let parsed = parsed.load(Ordering::Relaxed);
    let mapped = MAPPED.load(Ordering::Relaxed) - mapped_before;
    println!(
        "{} mutated pages: {parsed} still pages, {mapped} mappings of their records",
        cases()
    );
    assert!(parsed as u32 >= cases() / 20, "{parsed} pages parsed");
    assert!(mapped as u32 >= cases(), "{mapped} records mapped");
}

#[test]
fn arbitrary_bytes_as_a_page_never_panic() {
    proptest!(runner(), |(bytes in prop::collection::vec(any::<u8>(), 0..2048))| {
        process_page(StreamKind::SignInsNonInteractive, bytes)?;
    });
}

#[test]
fn mutated_records_parsed_alone_never_panic_and_map_to_valid_json() {
    let records = fixture_records();
    proptest!(runner(), |(index in 0..records.len(), mutations in prop::collection::vec(mutation(), 1..6))| {
        let (stream, text) = &records[index];
        let bytes = mutate(text.clone().into_bytes(), &mutations);
        if let Ok(text) = String::from_utf8(bytes)
            && let Ok(record) = Record::parse(&text)
        {
            map_everywhere(*stream, &record)?;
        }
    });
}

#[test]
fn mutated_configurations_never_panic() {
    let full = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/full.yaml"))
        .expect("config/full.yaml");
    // numbers, durations and ids a user could write in their place
    let replacements = prop_oneof![
        Just("18446744073709551615s".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("1e400".to_owned()),
        Just("..".to_owned()),
        Just("x/../../evil?#@".to_owned()),
        Just("{env: ENTRASTREAM_FUZZ_NOT_SET}".to_owned()),
        Just("[".to_owned()),
        Just("\"\\uD800\"".to_owned()),
        "[ -~]{0,12}",
    ];
    proptest!(runner(), |(mutations in prop::collection::vec(mutation(), 0..4), replacement in replacements, at in any::<usize>())| {
        let mut bytes = mutate(full.clone(), &mutations);
        // a value replaced after one of the colons
        let colons: Vec<usize> = bytes.iter().enumerate().filter(|(_, byte)| **byte == b':').map(|(index, _)| index).collect();
        if let Some(colon) = colons.get(at % colons.len().max(1)) {
            let end = bytes[*colon..].iter().position(|byte| *byte == b'\n').map_or(bytes.len(), |offset| colon + offset);
            bytes.splice(colon + 1..end, format!(" {replacement}").into_bytes());
        }
        let started = Instant::now();
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = Config::from_yaml(&text, "fuzzed.yaml");
        }
        prop_assert!(started.elapsed() < CASE_LIMIT);
    });
}
