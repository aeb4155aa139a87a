//! A stream's cursor: correctness against records that Graph publishes late and out of order.
//!
//! A single timestamp cannot be a cursor for Graph's audit logs: records appear minutes to hours
//! after their event time, and sign-ins come newest first. The cursor therefore holds
//! - the **watermark**: the event time below which every record visible when its window was read
//!   has been published;
//! - the **seen ids** published within the horizon that can still be read again, so that window
//!   overlaps and re-reads publish nothing twice;
//! - the start of the last complete **reconciliation pass**. A pass re-reads
//!   `[previous pass start − lateness, watermark]`: a record that became visible after its window was
//!   read became visible after the previous pass started, and its event time is at most
//!   `lateness` before that, so the next pass finds it — however long the process was down.
//!
//! Regular windows read `[watermark − overlap, now − settle_delay]`, at most `max_window` long.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::Timestamp;

/// The cursor settings from `polling`.
#[derive(Clone, Copy, Debug)]
pub struct CursorSettings {
    pub settle_delay: Duration,
    pub overlap: Duration,
    pub max_window: Duration,
    pub lateness: Duration,
    pub reconcile_every: Duration,
    /// `polling.max_window_pages` × `polling.page_size`: about the records one window holds.
    pub window_records: u64,
    /// `polling.page_size`.
    pub page_size: u64,
}

impl From<&crate::config::PollingConfig> for CursorSettings {
    fn from(polling: &crate::config::PollingConfig) -> Self {
        CursorSettings {
            settle_delay: polling.settle_delay,
            overlap: polling.overlap,
            max_window: polling.max_window,
            lateness: polling.lateness,
            reconcile_every: polling.reconcile_every,
            window_records: u64::from(polling.max_window_pages) * u64::from(polling.page_size),
            page_size: u64::from(polling.page_size),
        }
    }
}

/// The shortest window the density makes: Graph's times have millisecond precision, and a
/// minute of even a very busy tenant is a few pages.
const MIN_WINDOW: Duration = Duration::from_secs(60);

/// The window that holds about `settings.window_records` at `records_per_hour`, between a minute
/// and `max_window`.
pub fn span_for_density(records_per_hour: u64, settings: &CursorSettings) -> Duration {
    if records_per_hour == 0 {
        return settings.max_window;
    }
    let seconds = settings.window_records.saturating_mul(3600) / records_per_hour;
    Duration::from_secs(seconds)
        .max(MIN_WINDOW)
        .min(settings.max_window)
}

/// An event-time range read with `ge from and le to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
    pub kind: WindowKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// Moves the watermark to `to` when complete.
    Regular,
    /// Part of a reconciliation pass: finds late records, leaves the watermark alone.
    Reconcile,
}

/// 128 bits of SHA-256 of a record id: collisions are out of reach, entries are small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdHash(pub u128);

impl IdHash {
    pub fn of(id: &str) -> IdHash {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest.as_ref()[..16]);
        IdHash(u128::from_be_bytes(first))
    }
}

/// Hashes an `IdHash` to its low 64 bits: it is already a cryptographic digest, so they are as
/// good a hash as any, and the map is asked twice for every record read (SipHash cost more).
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, digest: u128) {
        self.0 = digest as u64;
    }

    fn write(&mut self, bytes: &[u8]) {
        // only `write_u128` is used by `IdHash`; anything else is folded in, eight bytes at a time
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
}

/// The ids published within the horizon, with their event times (to know when to forget them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeenIds {
    entries: HashMap<IdHash, i64, BuildHasherDefault<DigestHasher>>,
}

impl SeenIds {
    pub fn contains(&self, id: IdHash) -> bool {
        self.entries.contains_key(&id)
    }

    pub fn insert(&mut self, id: IdHash, event_time: Timestamp) {
        self.entries.insert(id, event_time.as_millis());
    }

    pub fn remove(&mut self, id: IdHash) {
        self.entries.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets ids whose event time is before `threshold`.
    pub fn forget_before(&mut self, threshold: Timestamp) {
        let threshold = threshold.as_millis();
        self.entries
            .retain(|_, event_time| *event_time >= threshold);
    }

    /// Forgets ids whose event time is at or after `threshold` (a rewind: they are published
    /// again).
    pub fn forget_from(&mut self, threshold: Timestamp) {
        let threshold = threshold.as_millis();
        self.entries.retain(|_, event_time| *event_time < threshold);
    }

    /// The earliest and latest event time of the ids held.
    pub fn event_time_range(&self) -> Option<(Timestamp, Timestamp)> {
        let oldest = self.entries.values().min()?;
        let newest = self.entries.values().max()?;
        Some((
            Timestamp::from_millis(*oldest),
            Timestamp::from_millis(*newest),
        ))
    }

    /// Those of `ids` that `self` holds, with their event times.
    pub fn subset(&self, ids: &[IdHash]) -> SeenIds {
        SeenIds {
            entries: ids
                .iter()
                .filter_map(|id| self.entries.get(id).map(|time| (*id, *time)))
                .collect(),
        }
    }

    /// How many ids `self` and `other` hold together.
    pub fn union_len(&self, other: &SeenIds) -> usize {
        self.len()
            + other
                .entries
                .keys()
                .filter(|id| !self.entries.contains_key(id))
                .count()
    }

    pub fn merge(&mut self, other: &SeenIds) {
        self.entries
            .extend(other.entries.iter().map(|(id, time)| (*id, *time)));
    }

    /// Packed as sorted (event time, id) pairs: 24 bytes each, base64.
    fn to_packed(&self) -> String {
        let mut sorted: Vec<(i64, IdHash)> =
            self.entries.iter().map(|(id, time)| (*time, *id)).collect();
        sorted.sort_unstable();
        let mut bytes = Vec::with_capacity(sorted.len() * 24);
        for (time, id) in sorted {
            bytes.extend_from_slice(&time.to_be_bytes());
            bytes.extend_from_slice(&id.0.to_be_bytes());
        }
        STANDARD.encode(bytes)
    }

    fn from_packed(text: &str) -> Result<SeenIds, String> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|error| format!("seen ids are not base64: {error}"))?;
        if bytes.len() % 24 != 0 {
            return Err(format!(
                "seen ids have {} bytes, not a multiple of 24",
                bytes.len()
            ));
        }
        let entries = bytes
            .chunks_exact(24)
            .map(|chunk| {
                let mut time = [0u8; 8];
                time.copy_from_slice(&chunk[..8]);
                let mut id = [0u8; 16];
                id.copy_from_slice(&chunk[8..]);
                (IdHash(u128::from_be_bytes(id)), i64::from_be_bytes(time))
            })
            .collect();
        Ok(SeenIds { entries })
    }
}

impl Serialize for SeenIds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_packed())
    }
}

impl<'de> Deserialize<'de> for SeenIds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SeenIds::from_packed(&text).map_err(serde::de::Error::custom)
    }
}

/// A reconciliation pass under way, so that a restart resumes it instead of starting over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileProgress {
    /// Clock time the pass started.
    pub started: Timestamp,
    /// The pass reads up to here (the watermark when it started).
    pub range_end: Timestamp,
    /// Where its next chunk starts.
    pub next_from: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Complete below this event time, except for late records.
    pub watermark: Timestamp,
    /// Where the stream started; nothing before it is read.
    pub origin: Timestamp,
    /// Clock time the last complete reconciliation pass (or the stream) started.
    pub last_reconcile_started: Timestamp,
    /// A pass under way.
    pub reconcile: Option<ReconcileProgress>,
    /// Ids published within the horizon.
    pub seen: SeenIds,
    /// The density Graph showed in the last window the stream read whole (records per hour of event
    /// time): windows are sized so that each holds about `polling.max_window_pages` pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_per_hour: Option<u64>,
}

impl Cursor {
    /// A stream that starts now, reading from `origin`.
    pub fn start(origin: Timestamp, now: Timestamp) -> Cursor {
        let origin = origin.floor_to_second();
        Cursor {
            watermark: origin,
            origin,
            last_reconcile_started: now,
            reconcile: None,
            seen: SeenIds::default(),
            records_per_hour: None,
        }
    }

    /// The longest window to read: `polling.max_window`, or less where the density says that
    /// would take more than `polling.max_window_pages` pages.
    pub fn window_span(&self, settings: &CursorSettings) -> Duration {
        match self.records_per_hour {
            Some(rate) => span_for_density(rate, settings),
            None => settings.max_window,
        }
    }

    /// Notes how many records `span` of event time held. Less than a page says little (a quiet
    /// hour, the end of the data): the density then at most halves, so that windows grow back
    /// over a quiet range without overshooting the next busy one.
    pub fn observe_density(&mut self, records: u64, span: Duration, settings: &CursorSettings) {
        if span < MIN_WINDOW {
            return;
        }
        let measured = records.saturating_mul(3600) / span.as_secs().max(1);
        self.records_per_hour = Some(match self.records_per_hour {
            Some(previous) if records < settings.page_size => measured.max(previous / 2),
            _ => measured,
        });
    }

    /// The next regular window, when time has moved past the watermark.
    pub fn next_regular(&self, now: Timestamp, settings: &CursorSettings) -> Option<Window> {
        let target = now.saturating_sub(settings.settle_delay).floor_to_second();
        if target <= self.watermark {
            return None;
        }
        let to = target.min(self.watermark.saturating_add(self.window_span(settings)));
        let from = self
            .watermark
            .saturating_sub(settings.overlap)
            .max(self.origin);
        Some(Window {
            from,
            to,
            kind: WindowKind::Regular,
        })
    }

    /// True when the watermark is within one window of "now" (nothing to catch up).
    pub fn caught_up(&self, now: Timestamp, settings: &CursorSettings) -> bool {
        self.next_regular(now, settings).is_none_or(|window| {
            window.to >= now.saturating_sub(settings.settle_delay).floor_to_second()
        })
    }

    pub fn reconcile_due(&self, now: Timestamp, settings: &CursorSettings) -> bool {
        self.reconcile.is_some()
            || now
                >= self
                    .last_reconcile_started
                    .saturating_add(settings.reconcile_every)
    }

    /// The next chunk of the reconciliation pass, starting a pass if none is under way.
    pub fn next_reconcile(&mut self, now: Timestamp, settings: &CursorSettings) -> Option<Window> {
        if self.reconcile.is_none() {
            if !self.reconcile_due(now, settings) {
                return None;
            }
            let range_start = self
                .last_reconcile_started
                .saturating_sub(settings.lateness)
                .floor_to_second()
                .max(self.origin);
            self.reconcile = Some(ReconcileProgress {
                started: now,
                range_end: self.watermark,
                next_from: range_start,
            });
        }
        let progress = self.reconcile?;
        if progress.next_from >= progress.range_end {
            self.finish_reconcile(settings);
            return None;
        }
        let to = progress.range_end.min(
            progress
                .next_from
                .saturating_add(self.window_span(settings)),
        );
        Some(Window {
            from: progress.next_from,
            to,
            kind: WindowKind::Reconcile,
        })
    }

    /// Records a window's ids as published and moves the cursor past it.
    pub fn complete(&mut self, window: &Window, published: &SeenIds, settings: &CursorSettings) {
        self.seen.merge(published);
        match window.kind {
            WindowKind::Regular => {
                if window.to > self.watermark {
                    self.watermark = window.to;
                }
            }
            WindowKind::Reconcile => {
                if let Some(progress) = self.reconcile.as_mut() {
                    progress.next_from = window.to;
                    if window.to >= progress.range_end {
                        self.finish_reconcile(settings);
                    }
                }
            }
        }
        self.forget_old_ids(settings);
    }

    /// Merges ids published by an unfinished window (graceful shutdown), leaving the position.
    pub fn remember(&mut self, published: &SeenIds) {
        self.seen.merge(published);
    }

    fn finish_reconcile(&mut self, settings: &CursorSettings) {
        if let Some(progress) = self.reconcile.take() {
            self.last_reconcile_started = progress.started;
        }
        self.forget_old_ids(settings);
    }

    /// Ids older than anything that can be read again are forgotten.
    fn forget_old_ids(&mut self, settings: &CursorSettings) {
        self.seen.forget_before(self.horizon(settings));
    }

    /// The event time below which no window can be read again: ids before it are forgotten.
    pub fn horizon(&self, settings: &CursorSettings) -> Timestamp {
        let next_pass_start = self
            .last_reconcile_started
            .saturating_sub(settings.lateness);
        let regular_start = self.watermark.saturating_sub(settings.overlap);
        let mut horizon = next_pass_start.min(regular_start);
        if let Some(progress) = self.reconcile {
            horizon = horizon.min(progress.next_from);
        }
        // a minute of slack for records whose time Graph rounds differently in filters
        horizon.saturating_sub(Duration::from_secs(60))
    }

    /// What a commit of this cursor, with `added` remembered, writes beyond the previous commit:
    /// the position, `added` (every id published since the previous commit, perhaps some it
    /// already held) and the horizon. Its size grows with `added`, not with the ids held.
    pub fn delta(&self, added: &SeenIds, settings: &CursorSettings) -> CursorDelta {
        CursorDelta {
            watermark: self.watermark,
            origin: self.origin,
            last_reconcile_started: self.last_reconcile_started,
            reconcile: self.reconcile,
            forget_before: self.horizon(settings),
            added: added.clone(),
            records_per_hour: self.records_per_hour,
        }
    }

    /// The cursor a delta committed after this one describes.
    pub fn apply(&mut self, delta: &CursorDelta) {
        self.watermark = delta.watermark;
        self.origin = delta.origin;
        self.last_reconcile_started = delta.last_reconcile_started;
        self.reconcile = delta.reconcile;
        self.records_per_hour = delta.records_per_hour;
        self.seen.merge(&delta.added);
        self.seen.forget_before(delta.forget_before);
    }
}

/// A commit's change to the cursor committed before it (see [`Cursor::delta`]): stores that keep
/// a journal append it instead of writing every id held again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CursorDelta {
    pub watermark: Timestamp,
    pub origin: Timestamp,
    pub last_reconcile_started: Timestamp,
    pub reconcile: Option<ReconcileProgress>,
    /// Ids with an earlier event time are forgotten.
    pub forget_before: Timestamp,
    /// Ids published since the previous commit.
    pub added: SeenIds,
    /// The cursor's density (deltas of earlier versions have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_per_hour: Option<u64>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// The settings the cursor's unit tests (and those of `checkpoint::rewind`) use.
    pub(crate) fn settings() -> CursorSettings {
        CursorSettings {
            settle_delay: Duration::ZERO,
            overlap: MINUTE,
            max_window: 60 * MINUTE,
            lateness: 120 * MINUTE,
            reconcile_every: 15 * MINUTE,
            window_records: 20 * 1000,
            page_size: 1000,
        }
    }

    fn t(minutes: i64) -> Timestamp {
        Timestamp::from_secs(1_800_000_000 + minutes * 60)
    }

    #[test]
    fn windows_hold_about_max_window_pages_at_the_density_last_seen() {
        let settings = settings();
        let mut cursor = Cursor::start(t(0), t(600));
        // unknown density: max_window
        assert_eq!(cursor.window_span(&settings), 60 * MINUTE);
        // 60,000 records in an hour, 20 pages of 1,000: 20 minutes
        cursor.observe_density(60_000, 60 * MINUTE, &settings);
        assert_eq!(cursor.records_per_hour, Some(60_000));
        assert_eq!(cursor.window_span(&settings), 20 * MINUTE);
        assert_eq!(
            cursor
                .next_regular(t(600), &settings)
                .map(|window| window.to),
            Some(t(20))
        );
        // a busier stream: never below a minute
        cursor.observe_density(10_000_000, 60 * MINUTE, &settings);
        assert_eq!(cursor.window_span(&settings), MINUTE);
        // less than a page: the density halves at most, and windows grow back step by step
        cursor.observe_density(0, MINUTE, &settings);
        assert_eq!(cursor.records_per_hour, Some(5_000_000));
        cursor.observe_density(0, MINUTE, &settings);
        assert_eq!(cursor.records_per_hour, Some(2_500_000));
        // a window shorter than a minute tells nothing
        cursor.observe_density(1_000, Duration::from_secs(30), &settings);
        assert_eq!(cursor.records_per_hour, Some(2_500_000));
        // a quiet stream's window is max_window
        let mut quiet = Cursor::start(t(0), t(600));
        quiet.observe_density(0, 60 * MINUTE, &settings);
        assert_eq!(quiet.window_span(&settings), 60 * MINUTE);
        // the density travels with deltas, and documents of earlier versions have none
        let mut restored = Cursor::start(t(0), t(600));
        restored.apply(&cursor.delta(&SeenIds::default(), &settings));
        assert_eq!(restored.records_per_hour, Some(2_500_000));
        let earlier: Cursor = serde_json::from_str(
            &serde_json::to_string(&Cursor::start(t(0), t(600))).expect("json"),
        )
        .expect("reads");
        assert_eq!(earlier.records_per_hour, None);
    }

    #[test]
    fn regular_windows_catch_up_in_max_window_steps_with_overlap() {
        let settings = settings();
        let mut cursor = Cursor::start(t(-150), t(0));
        let mut windows = Vec::new();
        while let Some(window) = cursor.next_regular(t(0), &settings) {
            windows.push((window.from, window.to));
            cursor.complete(&window, &SeenIds::default(), &settings);
        }
        assert_eq!(
            windows,
            vec![(t(-150), t(-90)), (t(-91), t(-30)), (t(-31), t(0))],
            "the first window starts at the origin, later ones a minute early"
        );
        assert!(cursor.caught_up(t(0), &settings));
        assert_eq!(cursor.next_regular(t(0), &settings), None);
    }

    #[test]
    fn reconciliation_reads_from_the_previous_pass_minus_lateness_to_the_watermark() {
        let settings = settings();
        let mut cursor = Cursor::start(t(-600), t(0));
        cursor.watermark = t(30);
        assert!(!cursor.reconcile_due(t(10), &settings));
        assert!(cursor.reconcile_due(t(15), &settings));
        let mut chunks = Vec::new();
        while let Some(window) = cursor.next_reconcile(t(31), &settings) {
            assert_eq!(window.kind, WindowKind::Reconcile);
            chunks.push((window.from, window.to));
            cursor.complete(&window, &SeenIds::default(), &settings);
        }
        assert_eq!(
            chunks,
            vec![(t(-120), t(-60)), (t(-60), t(0)), (t(0), t(30))]
        );
        assert_eq!(cursor.last_reconcile_started, t(31));
        assert_eq!(cursor.reconcile, None);
        assert!(!cursor.reconcile_due(t(45), &settings));
        assert!(cursor.reconcile_due(t(46), &settings));
    }

    #[test]
    fn ids_are_forgotten_once_nothing_can_read_them_again() {
        let settings = settings();
        let mut cursor = Cursor::start(t(-600), t(0));
        let mut published = SeenIds::default();
        published.insert(IdHash::of("old"), t(-200));
        published.insert(IdHash::of("recent"), t(-100));
        let window = Window {
            from: t(-1),
            to: t(1),
            kind: WindowKind::Regular,
        };
        cursor.complete(&window, &published, &settings);
        // the next pass reads from t(0) - 120 min = t(-120), less a minute of slack
        assert!(!cursor.seen.contains(IdHash::of("old")));
        assert!(cursor.seen.contains(IdHash::of("recent")));
    }

    #[test]
    fn deltas_applied_in_order_rebuild_the_cursor_they_were_taken_from() {
        let settings = settings();
        let mut live = Cursor::start(t(-300), t(0));
        let mut rebuilt = live.clone();
        let mut number = 0u64;
        let mut window_ids = |count: u64, at: Timestamp| {
            let mut ids = SeenIds::default();
            for _ in 0..count {
                number += 1;
                ids.insert(
                    IdHash::of(&number.to_string()),
                    at.saturating_add(Duration::from_millis(number)),
                );
            }
            ids
        };
        let mut deltas = 0;
        for step in 0..40 {
            let now = t(step * 10);
            let window = if let Some(window) = live.next_reconcile(now, &settings) {
                window
            } else if let Some(window) = live.next_regular(now, &settings) {
                window
            } else {
                continue;
            };
            // a commit inside the window: the ids so far remembered, the position unchanged
            let mut pending = window_ids(30, window.from);
            let mut inside = live.clone();
            inside.remember(&pending);
            rebuilt.apply(&live.delta(&pending, &settings));
            assert_eq!(rebuilt, inside, "step {step}: inside the window");
            // the window's end: the whole pending set again, with the rest of the window
            pending.merge(&window_ids(20, window.to.saturating_sub(MINUTE)));
            live.complete(&window, &pending, &settings);
            rebuilt.apply(&live.delta(&pending, &settings));
            assert_eq!(rebuilt, live, "step {step}: {window:?}");
            deltas += 2;
        }
        assert!(deltas >= 40, "{deltas} deltas");
        assert!(live.reconcile.is_none() && live.last_reconcile_started > t(0));
        assert!(
            live.seen.len() < 50 * (deltas / 2),
            "ids were forgotten on the way: {} held",
            live.seen.len()
        );
        let delta = live.delta(&window_ids(3, t(400)), &settings);
        let text = serde_json::to_string(&delta).expect("serializes");
        let back: CursorDelta = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, delta);
        assert_eq!(back.added.len(), 3);
    }

    #[test]
    fn cursors_round_trip_through_json() {
        let mut cursor = Cursor::start(t(-60), t(0));
        cursor.seen.insert(IdHash::of("a"), t(-5));
        cursor.seen.insert(IdHash::of("b"), t(-4));
        cursor.reconcile = Some(ReconcileProgress {
            started: t(1),
            range_end: t(2),
            next_from: t(-3),
        });
        let text = serde_json::to_string(&cursor).expect("serializes");
        let back: Cursor = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, cursor);
        assert_eq!(IdHash::of("a"), IdHash::of("a"));
        assert_ne!(IdHash::of("a"), IdHash::of("b"));
    }
}
