//! The checkpoint document both stores write: the cursor with its tenant, stream and a SHA-256 of
//! the cursor's JSON, so that a damaged or misplaced checkpoint is recognised instead of used.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::CheckpointError;
use crate::graph::cursor::Cursor;
use crate::stream::StreamKind;

pub const FORMAT: &str = "entrastream-checkpoint/1";

#[derive(Serialize)]
struct Document<'a> {
    format: &'a str,
    tenant: &'a str,
    stream: &'a str,
    sha256: String,
    cursor: &'a RawValue,
}

#[derive(Deserialize)]
struct StoredDocument<'a> {
    format: String,
    tenant: String,
    stream: String,
    sha256: String,
    #[serde(borrow)]
    cursor: &'a RawValue,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The document of `cursor`, as JSON bytes; `pretty` for files people may read.
pub fn encode(
    tenant: &str,
    stream: StreamKind,
    cursor: &Cursor,
    pretty: bool,
    location: &str,
) -> Result<Vec<u8>, CheckpointError> {
    let corrupt = |detail: String| CheckpointError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    let cursor_json = serde_json::to_string(cursor)
        .map_err(|error| corrupt(format!("cannot serialise the cursor: {error}")))?;
    let cursor_raw = RawValue::from_string(cursor_json)
        .map_err(|error| corrupt(format!("cannot serialise the cursor: {error}")))?;
    let document = Document {
        format: FORMAT,
        tenant,
        stream: stream.as_str(),
        sha256: sha256_hex(cursor_raw.get().as_bytes()),
        cursor: &cursor_raw,
    };
    let encoded = if pretty {
        serde_json::to_vec_pretty(&document)
    } else {
        serde_json::to_vec(&document)
    };
    encoded.map_err(|error| corrupt(format!("cannot serialise the checkpoint: {error}")))
}

/// The cursor of a document read from `location`, checked against the tenant and stream it is
/// expected to belong to.
pub fn decode(
    bytes: &[u8],
    tenant: &str,
    stream: StreamKind,
    location: &str,
) -> Result<Cursor, CheckpointError> {
    let corrupt = |detail: String| CheckpointError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    let document: StoredDocument = serde_json::from_slice(bytes)
        .map_err(|error| corrupt(format!("not a checkpoint document: {error}")))?;
    if document.format != FORMAT {
        return Err(corrupt(format!(
            "unknown format {:?}, expected {FORMAT:?}",
            document.format
        )));
    }
    if document.tenant != tenant || document.stream != stream.as_str() {
        return Err(CheckpointError::Foreign {
            location: location.to_owned(),
            found: format!("tenant {} stream {}", document.tenant, document.stream),
            expected: format!("tenant {tenant} stream {stream}"),
        });
    }
    if sha256_hex(document.cursor.get().as_bytes()) != document.sha256 {
        return Err(corrupt(
            "its checksum does not match its content".to_owned(),
        ));
    }
    serde_json::from_str(document.cursor.get())
        .map_err(|error| corrupt(format!("unreadable cursor: {error}")))
}
