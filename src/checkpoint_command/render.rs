//! What `entrastream checkpoints` prints: aligned tables for people, one JSON document for
//! automation (its shape is documented in docs/runbook.md and kept by tests/checkpoints.rs).

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Opened, Row, Store};
use crate::checkpoint::rewind::rewound;
use crate::clock::Timestamp;
use crate::config::TenantId;
use crate::graph::cursor::{Cursor, CursorSettings};
use crate::stream::StreamKind;

fn seconds(time: Timestamp) -> String {
    time.to_rfc3339_seconds()
}

fn millis(time: Timestamp) -> String {
    time.to_rfc3339_millis()
}

/// Columns padded to their widest cell, two spaces apart, the last one unpadded.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[column]);
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn store_fields(opened: &Opened) -> (&'static str, String) {
    match &opened.store {
        Store::File(store) => ("file", store.directory().display().to_string()),
        Store::Kafka(snapshot) => ("kafka", snapshot.topic().to_owned()),
    }
}

fn header(opened: &Opened) -> String {
    let mut text = format!("checkpoints in the {}\n", opened.describe());
    match &opened.holder {
        Some(holder) => {
            let _ = writeln!(
                text,
                "held by {holder}: rewind and reset are refused until it stops"
            );
        }
        None => text.push_str("held by no instance\n"),
    }
    text.push('\n');
    text
}

pub(super) struct Listing<'a> {
    pub(super) opened: &'a Opened,
    pub(super) rows: &'a [Row],
}

fn reconcile_words(cursor: &Cursor) -> String {
    match cursor.reconcile {
        Some(progress) => format!("at {}", seconds(progress.next_from)),
        None => "no".to_owned(),
    }
}

fn note(row: &Row) -> String {
    let mut notes = Vec::new();
    if !row.configured {
        notes.push("not configured".to_owned());
    }
    match &row.cursor {
        Ok(None) => notes.push("no checkpoint: starts from polling.initial_lookback".to_owned()),
        Err(error) => notes.push(format!("unreadable: {error}")),
        Ok(Some(_)) => {}
    }
    notes.join("; ")
}

impl Listing<'_> {
    pub(super) fn table(&self) -> String {
        let mut rows = vec![
            [
                "TENANT",
                "STREAM",
                "WATERMARK",
                "ORIGIN",
                "LAST COMMIT",
                "RECORDS/H",
                "RECONCILE",
                "SEEN IDS",
                "NOTE",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for row in self.rows {
            let dash = || "-".to_owned();
            let mut cells = vec![row.tenant.clone(), row.stream.as_str().to_owned()];
            match &row.cursor {
                Ok(Some(cursor)) => cells.extend([
                    seconds(cursor.watermark),
                    seconds(cursor.origin),
                    row.last_commit.map_or_else(dash, seconds),
                    cursor
                        .records_per_hour
                        .map_or_else(dash, |rate| rate.to_string()),
                    reconcile_words(cursor),
                    cursor.seen.len().to_string(),
                ]),
                _ => cells.extend((0..6).map(|_| dash())),
            }
            cells.push(note(row));
            rows.push(cells);
        }
        format!("{}{}", header(self.opened), aligned(&rows))
    }

    pub(super) fn json(&self) -> Value {
        let (store, location) = store_fields(self.opened);
        json!({
            "store": store,
            "location": location,
            "held_by": self.opened.holder,
            "streams": self.rows.iter().map(|row| row_json(row, None)).collect::<Vec<_>>(),
        })
    }
}

fn row_json(row: &Row, settings: Option<&CursorSettings>) -> Value {
    let (checkpoint, error) = match &row.cursor {
        Ok(Some(cursor)) => (Some(cursor_json(cursor, row.last_commit, settings)), None),
        Ok(None) => (None, None),
        Err(error) => (None, Some(error.to_string())),
    };
    json!({
        "tenant": row.tenant,
        "stream": row.stream.as_str(),
        "configured": row.configured,
        "checkpoint": checkpoint,
        "error": error,
    })
}

fn cursor_json(
    cursor: &Cursor,
    last_commit: Option<Timestamp>,
    settings: Option<&CursorSettings>,
) -> Value {
    let mut value = json!({
        "watermark": millis(cursor.watermark),
        "origin": millis(cursor.origin),
        "last_commit": last_commit.map(millis),
        "last_reconcile_started": millis(cursor.last_reconcile_started),
        "records_per_hour": cursor.records_per_hour,
        "reconcile": cursor.reconcile.map(|progress| json!({
            "started": millis(progress.started),
            "range_end": millis(progress.range_end),
            "next_from": millis(progress.next_from),
        })),
        "seen_ids": cursor.seen.len(),
    });
    if let (Some(settings), Value::Object(fields)) = (settings, &mut value) {
        let range = cursor.seen.event_time_range();
        fields.insert(
            "seen_oldest".to_owned(),
            json!(range.map(|(oldest, _)| millis(oldest))),
        );
        fields.insert(
            "seen_newest".to_owned(),
            json!(range.map(|(_, newest)| millis(newest))),
        );
        fields.insert(
            "ids_kept_from".to_owned(),
            json!(millis(cursor.horizon(settings))),
        );
    }
    value
}

pub(super) fn show_json(opened: &Opened, row: &Row, settings: &CursorSettings) -> Value {
    let (store, location) = store_fields(opened);
    json!({
        "store": store,
        "location": location,
        "held_by": opened.holder,
        "stream": row_json(row, Some(settings)),
    })
}

pub(super) fn show_table(opened: &Opened, row: &Row, settings: &CursorSettings) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        vec!["tenant".to_owned(), row.tenant.clone()],
        vec!["stream".to_owned(), row.stream.as_str().to_owned()],
        vec![
            "configured".to_owned(),
            if row.configured { "yes" } else { "no" }.to_owned(),
        ],
    ];
    let mut field = |name: &str, value: String| rows.push(vec![name.to_owned(), value]);
    match &row.cursor {
        Ok(Some(cursor)) => {
            field("watermark", seconds(cursor.watermark));
            field("origin", seconds(cursor.origin));
            field(
                "last commit",
                row.last_commit
                    .map_or_else(|| "unknown".to_owned(), seconds),
            );
            field(
                "last reconcile started",
                seconds(cursor.last_reconcile_started),
            );
            field(
                "reconcile",
                match cursor.reconcile {
                    Some(progress) => format!(
                        "started {}, reads to {}, next from {}",
                        seconds(progress.started),
                        seconds(progress.range_end),
                        seconds(progress.next_from)
                    ),
                    None => "none under way".to_owned(),
                },
            );
            field(
                "records per hour",
                cursor
                    .records_per_hour
                    .map_or_else(|| "unknown".to_owned(), |rate| rate.to_string()),
            );
            field(
                "seen ids",
                match cursor.seen.event_time_range() {
                    Some((oldest, newest)) => format!(
                        "{} (event times {} to {})",
                        cursor.seen.len(),
                        seconds(oldest),
                        seconds(newest)
                    ),
                    None => "0".to_owned(),
                },
            );
            field("ids kept from", seconds(cursor.horizon(settings)));
        }
        Ok(None) => field(
            "checkpoint",
            "none: the stream starts from polling.initial_lookback".to_owned(),
        ),
        Err(error) => field("checkpoint", format!("unreadable: {error}")),
    }
    format!("{}{}", header(opened), aligned(&rows))
}

/// What `rewind` or `reset` is about to do, said before it does it.
pub(super) struct Plan<'a> {
    pub(super) tenant: &'a TenantId,
    pub(super) location: &'a str,
    /// `None`: an unreadable checkpoint (reset only).
    pub(super) planned: Vec<(StreamKind, Option<&'a Cursor>)>,
    pub(super) skipped: &'a [StreamKind],
    pub(super) settings: CursorSettings,
    pub(super) initial_lookback: Duration,
    pub(super) now: Timestamp,
}

const DEDUP_NOTE: &str = "They are published with the keys they had (the Graph record id): consumers that \
                          deduplicate by key (docs/consumers.md) keep one copy, others hold them twice.\n";

impl Plan<'_> {
    fn skipped_rows(&self, rows: &mut Vec<Vec<String>>) {
        for stream in self.skipped {
            rows.push(vec![
                format!("  {stream}"),
                "no checkpoint: left alone (it starts from polling.initial_lookback)".to_owned(),
            ]);
        }
    }

    pub(super) fn rewind(&self, to: Timestamp) -> String {
        let to = to.floor_to_second();
        let mut rows = Vec::new();
        for (stream, cursor) in &self.planned {
            let Some(cursor) = cursor else {
                continue;
            };
            let mut words = format!(
                "reads again from {} to its watermark {} ({})",
                seconds(to),
                seconds(cursor.watermark),
                humantime::format_duration(cursor.watermark.duration_since(to))
            );
            // ids before the rewind time are kept, unless the cursor had forgotten them already
            let overlap_start = to.saturating_sub(self.settings.overlap);
            if rewound(cursor, to).origin < to && overlap_start < cursor.horizon(&self.settings) {
                let _ = write!(
                    words,
                    ", and may repeat the {} before it (polling.overlap: ids that old are no longer held)",
                    humantime::format_duration(self.settings.overlap)
                );
            }
            rows.push(vec![format!("  {stream}"), words]);
        }
        self.skipped_rows(&mut rows);
        format!(
            "rewind of tenant {} in the {}:\n{}The records of these ranges are read from Graph and published \
             again at the next start of entrastream run.\n{DEDUP_NOTE}",
            self.tenant,
            self.location,
            aligned(&rows)
        )
    }

    pub(super) fn reset(&self) -> String {
        let lookback = humantime::format_duration(self.initial_lookback).to_string();
        let restart = self.now.saturating_sub(self.initial_lookback);
        let mut rows = Vec::new();
        let mut gaps = Vec::new();
        for (stream, cursor) in &self.planned {
            let Some(cursor) = cursor else {
                rows.push(vec![
                    format!("  {stream}"),
                    "unreadable checkpoint removed (`entrastream checkpoints show` says why)"
                        .to_owned(),
                ]);
                continue;
            };
            rows.push(vec![
                format!("  {stream}"),
                format!(
                    "checkpoint removed (watermark {}, {} seen ids)",
                    seconds(cursor.watermark),
                    cursor.seen.len()
                ),
            ]);
            if cursor.watermark < restart {
                gaps.push(format!(
                    "warning: {stream} has read only up to {}, more than polling.initial_lookback ago: the \
                     events from then to {} (now less {lookback}) would never be read; rewind it instead to keep them\n",
                    seconds(cursor.watermark),
                    seconds(restart)
                ));
            }
        }
        self.skipped_rows(&mut rows);
        format!(
            "reset of tenant {} in the {}:\n{}At its next start entrastream run starts these streams from \
             polling.initial_lookback ({lookback}) before then, as new streams (from {} if it started now): \
             what they published since then is published again.\n{DEDUP_NOTE}{}",
            self.tenant,
            self.location,
            aligned(&rows),
            seconds(restart),
            gaps.concat()
        )
    }
}
