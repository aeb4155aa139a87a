//! `entrastream schema export` and `entrastream schema sample`.

use std::io::Write;

use anyhow::Context;

use crate::cli::SchemaCommand;
use crate::clock::Timestamp;
use crate::config::{ApiVersion, SchemaKind};
use crate::graph::record::Record;
use crate::schema::{MapContext, map_record};
use crate::sim::config::{SimConfig, StreamRates};
use crate::sim::generate::{TenantData, minute_records};
use crate::sim::render::{self, render_record};

/// The JSON Schemas of `schemas/`, by output schema.
pub fn schemas(schema: SchemaKind) -> &'static [(&'static str, &'static str)] {
    match schema {
        SchemaKind::Ocsf => &[
            (
                "ocsf-3002-authentication.json",
                include_str!("../schemas/ocsf-3002-authentication.json"),
            ),
            (
                "ocsf-3001-account_change.json",
                include_str!("../schemas/ocsf-3001-account_change.json"),
            ),
            (
                "ocsf-3004-entity_management.json",
                include_str!("../schemas/ocsf-3004-entity_management.json"),
            ),
            (
                "ocsf-3005-user_access.json",
                include_str!("../schemas/ocsf-3005-user_access.json"),
            ),
            (
                "ocsf-3006-group_management.json",
                include_str!("../schemas/ocsf-3006-group_management.json"),
            ),
            (
                "ocsf-6003-api_activity.json",
                include_str!("../schemas/ocsf-6003-api_activity.json"),
            ),
        ],
        SchemaKind::Ecs => &[("ecs.json", include_str!("../schemas/ecs.json"))],
        SchemaKind::Raw => &[("raw.json", include_str!("../schemas/raw.json"))],
    }
}

pub fn run(command: SchemaCommand) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    match write(command, &mut stdout.lock()) {
        // the reader stopped reading (`| head -1`): the output ends there, as a Unix filter's does
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        outcome => outcome,
    }
}

fn write(command: SchemaCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        SchemaCommand::Export { schema } => {
            for (_, text) in schemas(schema.into()) {
                let document: serde_json::Value =
                    serde_json::from_str(text).context("an embedded schema is not JSON")?;
                writeln!(out, "{}", serde_json::to_string(&document)?)?;
            }
        }
        SchemaCommand::Sample {
            schema,
            stream,
            records,
            seed,
            quirk_rate,
            api_version,
        } => {
            let rendered_version = match api_version {
                ApiVersion::Beta => render::ApiVersion::Beta,
                ApiVersion::V1 => render::ApiVersion::V1,
            };
            let config = SimConfig {
                seed,
                quirk_rate,
                rates: StreamRates::uniform(60.0),
                ..SimConfig::default()
            };
            let tenant = TenantData::generate(&config, 0);
            let context = MapContext {
                tenant_id: &tenant.tenant_id,
                stream,
                api_version,
                received_at: Timestamp::from_secs(1_767_614_400),
            };
            let mut written = 0;
            let mut minute = 29_460_000;
            let mut text = Vec::new();
            let mut event = Vec::new();
            while written < records {
                for meta in minute_records(&config, &tenant, stream, minute) {
                    if written == records {
                        break;
                    }
                    text.clear();
                    render_record(&mut text, &tenant, &meta, rendered_version);
                    let record_text =
                        std::str::from_utf8(&text).context("a simulated record is not UTF-8")?;
                    let record =
                        Record::parse(record_text).map_err(|error| anyhow::anyhow!("{error}"))?;
                    event.clear();
                    map_record(schema.into(), &record, &context, &mut event)
                        .map_err(|error| anyhow::anyhow!("record {}: {error}", meta.id))?;
                    out.write_all(&event)?;
                    out.write_all(b"\n")?;
                    written += 1;
                }
                minute += 1;
            }
        }
    }
    Ok(())
}
