//! Graph record → event in the configured schema: pure functions (no I/O, no clock; the time a
//! record was received comes in the context), so that mappings are tested with golden files.
//!
//! Values are parsed only where a mapping reads them; the rest of a record is copied as raw JSON
//! (into OCSF's `unmapped`, or whole into the raw envelope).

pub mod ecs;
pub mod json;
pub mod ocsf;
pub mod raw;
pub mod values;

use std::fmt;

use crate::clock::Timestamp;
use crate::config::{ApiVersion, SchemaKind};
use crate::graph::record::Record;
use crate::stream::StreamKind;

/// What a mapper knows besides the record.
#[derive(Clone, Copy, Debug)]
pub struct MapContext<'a> {
    pub tenant_id: &'a str,
    pub stream: StreamKind,
    pub api_version: ApiVersion,
    pub received_at: Timestamp,
}

/// Why a record cannot be mapped; it goes to the dead-letter topic with this reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError(pub String);

impl MapError {
    pub fn new(reason: impl Into<String>) -> Self {
        MapError(reason.into())
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for MapError {}

/// The schema name and version written into Kafka headers.
pub fn schema_version(schema: SchemaKind) -> &'static str {
    match schema {
        SchemaKind::Ocsf => ocsf::OCSF_VERSION,
        SchemaKind::Ecs => ecs::ECS_VERSION,
        SchemaKind::Raw => raw::RAW_VERSION,
    }
}

/// Appends the event of `record` to `out`; on error `out` is left as it was.
pub fn map_record(
    schema: SchemaKind,
    record: &Record,
    context: &MapContext,
    out: &mut Vec<u8>,
) -> Result<(), MapError> {
    let start = out.len();
    let result = match schema {
        SchemaKind::Raw => {
            raw::map(record, context, out);
            Ok(())
        }
        SchemaKind::Ecs => ecs::map(record, context, out),
        SchemaKind::Ocsf => match context.stream {
            StreamKind::DirectoryAudits => ocsf::map_directory_audit(record, context, out),
            StreamKind::Provisioning => ocsf::map_provisioning(record, context, out),
            _ => ocsf::map_sign_in(record, context, out),
        },
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}
