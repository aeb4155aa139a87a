//! Parse + map + serialize per record type: a record's text to the bytes sent to Kafka (the record
//! validated and split into its properties, mapped, written); beside it, a whole page scanned, and a
//! whole page scanned and mapped. Run: `cargo bench --bench mapping`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use entrastream::clock::Timestamp;
use entrastream::config::{ApiVersion, SchemaKind};
use entrastream::graph::record::{PageBody, Record};
use entrastream::schema::{MapContext, map_record};
use entrastream::sim::config::{SimConfig, StreamRates};
use entrastream::sim::generate::{TenantData, minute_records};
use entrastream::sim::render::{ApiVersion as SimVersion, render_record};
use entrastream::stream::StreamKind;

fn records(stream: StreamKind) -> Vec<String> {
    let config = SimConfig {
        rates: StreamRates::uniform(100.0),
        quirk_rate: 0.02,
        ..SimConfig::default()
    };
    let tenant = TenantData::generate(&config, 0);
    (29_000_000..29_000_010)
        .flat_map(|minute| minute_records(&config, &tenant, stream, minute))
        .map(|meta| {
            let mut out = Vec::new();
            render_record(&mut out, &tenant, &meta, SimVersion::Beta);
            String::from_utf8(out).expect("utf-8")
        })
        .collect()
}

/// A page split into records by `serde_json` without a tree: `RawValue` slices of the body.
#[derive(serde::Deserialize)]
struct RawPage<'a> {
    #[serde(borrow)]
    value: Vec<&'a serde_json::value::RawValue>,
}

/// A page of 1,000 beta sign-ins as Graph sends it.
fn page(texts: &[String]) -> bytes::Bytes {
    let mut body = String::from("{\"@odata.context\":\"x\",\"value\":[");
    for (index, text) in texts.iter().take(1000).enumerate() {
        if index > 0 {
            body.push(',');
        }
        body.push_str(text);
    }
    body.push_str("]}");
    bytes::Bytes::from(body)
}

fn bench(criterion: &mut Criterion) {
    // the page scan: a page validated and split into records and their properties, no tree built
    let sign_ins = records(StreamKind::SignInsInteractive);
    let page_body = page(&sign_ins);
    let mut group = criterion.benchmark_group("page_split");
    group.throughput(Throughput::Elements(sign_ins.len().min(1000) as u64));
    // each iteration gets a body of its own, as the pipeline does from the HTTP client (a shared
    // one would be copied before it is read); making it is not measured
    let fresh_body = || bytes::Bytes::from(page_body.to_vec());
    group.bench_function(
        "beta sign-ins, validated and split into records and their properties",
        |bencher| {
            bencher.iter_batched(
                fresh_body,
                |body| {
                    let page = PageBody::parse(black_box(body)).expect("page");
                    black_box(page.len())
                },
                BatchSize::LargeInput,
            )
        },
    );
    // the yardstick beside it: the same page split into records by serde_json without a
    // tree (`RawValue` slices; the records' properties are not found)
    group.bench_function(
        "beta sign-ins, split into records by serde_json RawValue (the yardstick)",
        |bencher| {
            bencher.iter_batched(
                fresh_body,
                |body| {
                    let page: RawPage<'_> = serde_json::from_slice(black_box(&body)).expect("page");
                    black_box(page.value.len())
                },
                BatchSize::LargeInput,
            )
        },
    );
    group.finish();

    // what the pipeline does per page: scan it (its records' properties found on the way), then map
    // every record
    let mut group = criterion.benchmark_group("page_to_ocsf");
    group.throughput(Throughput::Elements(sign_ins.len().min(1000) as u64));
    let context = MapContext {
        tenant_id: "00000000-0000-0000-0000-000000000001",
        stream: StreamKind::SignInsInteractive,
        api_version: ApiVersion::Beta,
        received_at: Timestamp::from_secs(1_800_000_000),
    };
    let mut out = Vec::with_capacity(64 * 1024);
    group.bench_function(
        "a page of 1,000 beta sign-ins, validated, split and mapped",
        |bencher| {
            bencher.iter_batched(
                fresh_body,
                |body| {
                    let page = PageBody::parse(black_box(body)).expect("page");
                    for (_, record) in page.records() {
                        out.clear();
                        let record = record.expect("record");
                        map_record(SchemaKind::Ocsf, &record, &context, &mut out).expect("maps");
                        black_box(&out);
                    }
                },
                BatchSize::LargeInput,
            )
        },
    );
    group.finish();

    for (stream, name) in [
        (StreamKind::SignInsInteractive, "sign_in_beta"),
        (StreamKind::DirectoryAudits, "directory_audit"),
        (StreamKind::Provisioning, "provisioning"),
    ] {
        let texts = records(stream);
        let bytes: usize = texts.iter().map(String::len).sum();
        for schema in [SchemaKind::Ocsf, SchemaKind::Ecs, SchemaKind::Raw] {
            let mut group = criterion.benchmark_group(format!("{name}/{}", schema.as_str()));
            group.throughput(Throughput::Elements(texts.len() as u64));
            let context = MapContext {
                tenant_id: "00000000-0000-0000-0000-000000000001",
                stream,
                api_version: ApiVersion::Beta,
                received_at: Timestamp::from_secs(1_800_000_000),
            };
            let mut out = Vec::with_capacity(64 * 1024);
            group.bench_function(
                format!("{} records, {} bytes avg", texts.len(), bytes / texts.len()),
                |bencher| {
                    bencher.iter(|| {
                        for text in &texts {
                            out.clear();
                            let record = Record::parse(black_box(text)).expect("record");
                            map_record(schema, &record, &context, &mut out).expect("maps");
                            black_box(&out);
                        }
                    })
                },
            );
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
