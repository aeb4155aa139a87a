//! Parse + map + serialize per record type: a record's text (as split from a Graph page) to the
//! bytes sent to Kafka. Run: `cargo bench --bench mapping`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entrastream::clock::Timestamp;
use entrastream::config::{ApiVersion, SchemaKind};
use entrastream::graph::record::Record;
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

fn bench(criterion: &mut Criterion) {
    for (stream, name) in [
        (StreamKind::SignInsInteractive, "sign_in_beta"),
        (StreamKind::DirectoryAudits, "directory_audit"),
        (StreamKind::Provisioning, "provisioning"),
    ] {
        let texts = records(stream);
        let bytes: usize = texts.iter().map(String::len).sum();
        for schema in [SchemaKind::Ocsf, SchemaKind::Raw] {
            let mut group = criterion.benchmark_group(format!("{name}/{}", schema.as_str()));
            group.throughput(Throughput::Elements(texts.len() as u64));
            let context = MapContext {
                tenant_id: "00000000-0000-0000-0000-000000000001",
                stream,
                api_version: ApiVersion::Beta,
                received_at: Timestamp::from_secs(1_800_000_000),
            };
            let mut out = Vec::with_capacity(64 * 1024);
            group.bench_function(format!("{} records, {} bytes avg", texts.len(), bytes / texts.len()), |bencher| {
                bencher.iter(|| {
                    for text in &texts {
                        out.clear();
                        let record = Record::parse(black_box(text)).expect("record");
                        map_record(schema, &record, &context, &mut out).expect("maps");
                        black_box(&out);
                    }
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
