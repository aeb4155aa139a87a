//! `raw`: the Graph record exactly as received, in a small envelope.

use super::MapContext;
use super::json::ObjectWriter;
use crate::graph::record::Record;

pub const RAW_VERSION: &str = "1";

pub fn map(record: &Record, context: &MapContext, out: &mut Vec<u8>) {
    ObjectWriter::write(out, |envelope| {
        envelope.string("tenant_id", context.tenant_id);
        envelope.string("stream", context.stream.as_str());
        envelope.string("received_at", &context.received_at.to_rfc3339_millis());
        envelope.string("connector_version", env!("CARGO_PKG_VERSION"));
        envelope.string("api_version", context.api_version.as_str());
        // the record's text was validated as a JSON object when it was split from its page
        envelope.raw_text("record", record.text);
    });
}
