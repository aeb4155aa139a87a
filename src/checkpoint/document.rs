//! The checkpoint document both stores write: the cursor with its tenant, stream and a SHA-256 of
//! the cursor's JSON, so that a damaged or misplaced checkpoint is recognised instead of used.
//! Beside it, the file store's journal entries: a [`CursorDelta`] naming the document it follows
//! (by that SHA-256), protected the same way.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::CheckpointError;
use crate::config::TenantId;
use crate::graph::cursor::{Cursor, CursorDelta};
use crate::stream::StreamKind;

pub const FORMAT: &str = "entrastream-checkpoint/1";
pub const DELTA_FORMAT: &str = "entrastream-checkpoint-delta/1";

#[derive(Serialize)]
struct Document<'a> {
    format: &'a str,
    tenant: &'a str,
    stream: &'a str,
    sha256: String,
    /// The file store creates the document's journal with it: a document that says so and has no
    /// journal lost its deltas (documents of earlier versions do not say so).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    journal: bool,
    cursor: &'a RawValue,
}

#[derive(Deserialize)]
struct StoredDocument<'a> {
    format: String,
    tenant: String,
    stream: String,
    sha256: String,
    #[serde(default)]
    journal: bool,
    #[serde(borrow)]
    cursor: &'a RawValue,
}

/// A checkpoint document, read and checked.
pub struct Decoded {
    pub cursor: Cursor,
    /// The `sha256` journal entries name as their base.
    pub sha256: String,
    /// Whether its journal was created with it.
    pub journal: bool,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

fn hex(digest: aws_lc_rs::digest::Digest) -> String {
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Refuses a document or journal entry of another format, tenant or stream.
fn check_labels(
    location: &str,
    format: (&str, &str),
    found: (&str, &str),
    tenant: &str,
    stream: StreamKind,
) -> Result<(), CheckpointError> {
    let (format, expected_format) = format;
    if format != expected_format {
        return Err(CheckpointError::Corrupt {
            location: location.to_owned(),
            detail: format!("unknown format {format:?}, expected {expected_format:?}"),
        });
    }
    let (found_tenant, found_stream) = found;
    if found_tenant != tenant || found_stream != stream.as_str() {
        return Err(CheckpointError::Foreign {
            location: location.to_owned(),
            found: format!("tenant {found_tenant} stream {found_stream}"),
            expected: format!("tenant {tenant} stream {stream}"),
        });
    }
    Ok(())
}

#[derive(Serialize)]
struct DeltaEntry<'a> {
    format: &'a str,
    tenant: &'a str,
    stream: &'a str,
    /// The `sha256` of the document this entry follows.
    base: &'a str,
    /// Of `base` and `delta` together.
    sha256: String,
    delta: &'a RawValue,
}

#[derive(Deserialize)]
struct StoredDeltaEntry<'a> {
    format: String,
    tenant: String,
    stream: String,
    base: String,
    sha256: String,
    #[serde(borrow)]
    delta: &'a RawValue,
}

/// The document of `cursor` (`pretty` for files people may read) and its `sha256`, which journal
/// entries name as their base; `journal`: its journal is created with it.
pub fn encode_with_digest(
    tenant: &TenantId,
    stream: StreamKind,
    cursor: &Cursor,
    pretty: bool,
    journal: bool,
    location: &str,
) -> Result<(Vec<u8>, String), CheckpointError> {
    let corrupt = |detail: String| CheckpointError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    // serialised once, not parsed again
    let cursor_raw = serde_json::value::to_raw_value(cursor)
        .map_err(|error| corrupt(format!("cannot serialise the cursor: {error}")))?;
    let sha256 = sha256_hex(cursor_raw.get().as_bytes());
    let document = Document {
        format: FORMAT,
        tenant: tenant.as_str(),
        stream: stream.as_str(),
        sha256: sha256.clone(),
        journal,
        cursor: &cursor_raw,
    };
    let encoded = if pretty {
        serde_json::to_vec_pretty(&document)
    } else {
        serde_json::to_vec(&document)
    };
    encoded
        .map(|bytes| (bytes, sha256))
        .map_err(|error| corrupt(format!("cannot serialise the checkpoint: {error}")))
}

/// A journal entry: `delta` after the document whose `sha256` is `base`, as one line of JSON
/// ending in a newline.
pub fn encode_delta(
    tenant: &TenantId,
    stream: StreamKind,
    base: &str,
    delta: &CursorDelta,
    location: &str,
) -> Result<Vec<u8>, CheckpointError> {
    let corrupt = |detail: String| CheckpointError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    let delta_raw = serde_json::value::to_raw_value(delta)
        .map_err(|error| corrupt(format!("cannot serialise the cursor's change: {error}")))?;
    let entry = DeltaEntry {
        format: DELTA_FORMAT,
        tenant: tenant.as_str(),
        stream: stream.as_str(),
        base,
        sha256: delta_digest(base, delta_raw.get()),
        delta: &delta_raw,
    };
    let mut line = serde_json::to_vec(&entry)
        .map_err(|error| corrupt(format!("cannot serialise the journal entry: {error}")))?;
    line.push(b'\n');
    Ok(line)
}

/// A journal entry's base (the `sha256` of the document it follows) and delta, checked against
/// the tenant and stream it is expected to belong to.
pub fn decode_delta(
    line: &[u8],
    tenant: &TenantId,
    stream: StreamKind,
    location: &str,
) -> Result<(String, CursorDelta), CheckpointError> {
    let corrupt = |detail: String| CheckpointError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    let entry: StoredDeltaEntry = serde_json::from_slice(line)
        .map_err(|error| corrupt(format!("not a journal entry: {error}")))?;
    check_labels(
        location,
        (&entry.format, DELTA_FORMAT),
        (&entry.tenant, &entry.stream),
        tenant.as_str(),
        stream,
    )?;
    if delta_digest(&entry.base, entry.delta.get()) != entry.sha256 {
        return Err(corrupt(
            "a journal entry's checksum does not match its content".to_owned(),
        ));
    }
    let delta = serde_json::from_str(entry.delta.get())
        .map_err(|error| corrupt(format!("unreadable journal entry: {error}")))?;
    Ok((entry.base, delta))
}

fn delta_digest(base: &str, delta_json: &str) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(base.as_bytes());
    context.update(b"\n");
    context.update(delta_json.as_bytes());
    hex(context.finish())
}

/// The cursor of a document read from `location`, checked against the tenant and stream it is
/// expected to belong to, and the document's `sha256`.
pub fn decode_with_digest(
    bytes: &[u8],
    tenant: &TenantId,
    stream: StreamKind,
    location: &str,
) -> Result<Decoded, CheckpointError> {
    let corrupt = |detail: String| CheckpointError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    let document: StoredDocument = serde_json::from_slice(bytes)
        .map_err(|error| corrupt(format!("not a checkpoint document: {error}")))?;
    check_labels(
        location,
        (&document.format, FORMAT),
        (&document.tenant, &document.stream),
        tenant.as_str(),
        stream,
    )?;
    if sha256_hex(document.cursor.get().as_bytes()) != document.sha256 {
        return Err(corrupt(
            "its checksum does not match its content".to_owned(),
        ));
    }
    let cursor = serde_json::from_str(document.cursor.get())
        .map_err(|error| corrupt(format!("unreadable cursor: {error}")))?;
    Ok(Decoded {
        cursor,
        sha256: document.sha256,
        journal: document.journal,
    })
}
