//! A cursor moved back in event time, so that the stream reads everything from a given time on
//! again (`entrastream checkpoints rewind`).
//!
//! What each part of the cursor becomes (see `graph::cursor` for what they mean):
//! - the **watermark** moves to the rewind time: the next regular windows read from there
//!   (less `polling.overlap`) up to now, as a stream catching up does;
//! - the **origin** moves back to the rewind time when that is earlier, since nothing before the
//!   origin is read; it never moves forward, which would cut the next reconciliation pass short;
//! - the **seen ids** from the rewind time on are forgotten, or the dedup would skip exactly the
//!   records the rewind is for; those before it are kept, so that the overlap before the rewind
//!   time publishes nothing twice;
//! - a **reconciliation pass** under way is dropped: it ran up to the old watermark. The start of
//!   the last complete pass stays, so that the next pass reads from it less `polling.lateness`
//!   again, which covers whatever the dropped pass had not read yet;
//! - the **density** (`records_per_hour`) stays: it describes the tenant's stream, not a
//!   position, and windows that turn out too dense are narrowed after their first page.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::graph::cursor::Cursor;

/// Graph keeps sign-in and audit logs 30 days on Entra ID P1/P2 (7 days on Entra ID Free); a
/// filter that starts earlier is refused with 400 "Invalid filter clause".
pub const GRAPH_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Left between the earliest rewind time and Graph's retention limit: the stream must reach the
/// range before Graph drops its start.
pub const RETENTION_MARGIN: Duration = Duration::from_secs(3600);

/// The earliest time a rewind may go back to at `now`: windows start up to `overlap` before it.
pub fn earliest_rewind(now: Timestamp, overlap: Duration) -> Timestamp {
    now.saturating_sub(GRAPH_RETENTION)
        .saturating_add(overlap)
        .saturating_add(RETENTION_MARGIN)
        .floor_to_second()
}

/// Why a rewind to `to` is refused for a cursor at `watermark`, with the fix.
pub fn refusal(
    to: Timestamp,
    watermark: Timestamp,
    now: Timestamp,
    overlap: Duration,
) -> Option<String> {
    if to > now {
        return Some(format!(
            "{} is in the future (now is {}); fix: give a --to before the stream's watermark {}",
            to.to_rfc3339_seconds(),
            now.to_rfc3339_seconds(),
            watermark.to_rfc3339_seconds()
        ));
    }
    if to >= watermark {
        return Some(format!(
            "{} is not before the watermark {}: the stream has read nothing from then on yet, so nothing \
             would be read again; fix: give a --to before {}",
            to.to_rfc3339_seconds(),
            watermark.to_rfc3339_seconds(),
            watermark.to_rfc3339_seconds()
        ));
    }
    let earliest = earliest_rewind(now, overlap);
    if to < earliest {
        return Some(format!(
            "{} is beyond Graph's retention: Graph keeps sign-in and audit logs 30 days (7 on Entra ID \
             Free) and refuses a read that starts earlier; fix: give a --to of {} or later (30 days ago, \
             less polling.overlap and an hour for the stream to get there)",
            to.to_rfc3339_seconds(),
            earliest.to_rfc3339_seconds()
        ));
    }
    None
}

/// `cursor` moved back so that every record from `to` (whole seconds) on is read and published
/// again; see the module's documentation.
pub fn rewound(cursor: &Cursor, to: Timestamp) -> Cursor {
    let to = to.floor_to_second();
    let mut rewound = cursor.clone();
    rewound.watermark = to;
    rewound.origin = cursor.origin.min(to);
    rewound.reconcile = None;
    rewound.seen.forget_from(to);
    rewound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::cursor::tests::settings;
    use crate::graph::cursor::{IdHash, ReconcileProgress, SeenIds, WindowKind};

    const MINUTE: Duration = Duration::from_secs(60);

    fn t(minutes: i64) -> Timestamp {
        Timestamp::from_secs(1_800_000_000 + minutes * 60)
    }

    fn cursor() -> Cursor {
        let mut cursor = Cursor::start(t(-300), t(-300));
        cursor.watermark = t(0);
        cursor.last_reconcile_started = t(-20);
        cursor.reconcile = Some(ReconcileProgress {
            started: t(-5),
            range_end: t(-5),
            next_from: t(-90),
        });
        cursor.records_per_hour = Some(1200);
        for minute in [-62, -61, -60, -59, -30, -1] {
            cursor
                .seen
                .insert(IdHash::of(&minute.to_string()), t(minute));
        }
        cursor
    }

    #[test]
    fn the_rewound_range_is_read_again_and_nothing_before_it_twice() {
        let before = cursor();
        let rewound = rewound(&before, t(-60).saturating_add(Duration::from_millis(400)));
        assert_eq!(rewound.watermark, t(-60), "whole seconds");
        assert_eq!(rewound.origin, t(-300));
        assert_eq!(rewound.reconcile, None);
        assert_eq!(rewound.last_reconcile_started, t(-20));
        assert_eq!(rewound.records_per_hour, Some(1200));
        // ids from the rewind time on are forgotten, those before it kept
        for (minute, kept) in [
            (-62, true),
            (-61, true),
            (-60, false),
            (-59, false),
            (-1, false),
        ] {
            assert_eq!(
                rewound.seen.contains(IdHash::of(&minute.to_string())),
                kept,
                "{minute}"
            );
        }
        // the next regular window starts an overlap before the rewind time, and reads on to now
        let settings = settings();
        let window = rewound.next_regular(t(0), &settings).expect("a window");
        assert_eq!((window.from, window.to), (t(-61), t(0)));
        // the next pass starts where the dropped one would have: the last complete pass less lateness
        let mut reconciling = rewound.clone();
        reconciling.watermark = t(0);
        let pass = reconciling.next_reconcile(t(1), &settings).expect("due");
        assert_eq!((pass.from, pass.kind), (t(-140), WindowKind::Reconcile));
    }

    #[test]
    fn a_rewind_before_the_origin_moves_the_origin_back_and_never_forward() {
        let before = cursor();
        let far = rewound(&before, t(-400));
        assert_eq!((far.watermark, far.origin), (t(-400), t(-400)));
        assert_eq!(far.seen, SeenIds::default());
        let window = far.next_regular(t(0), &settings()).expect("a window");
        assert_eq!(window.from, t(-400), "nothing before the new origin");
        let near = rewound(&before, t(-100));
        assert_eq!(near.origin, t(-300));
    }

    #[test]
    fn future_times_times_past_the_watermark_and_beyond_retention_are_refused_with_the_fix() {
        let now = Timestamp::parse_rfc3339("2026-12-07T18:00:00Z").expect("time");
        let watermark = Timestamp::parse_rfc3339("2026-12-07T17:00:00Z").expect("time");
        let at = |text: &str| Timestamp::parse_rfc3339(text).expect("time");
        assert_eq!(
            refusal(at("2026-12-07T18:00:01Z"), watermark, now, MINUTE).as_deref(),
            Some(
                "2026-12-07T18:00:01Z is in the future (now is 2026-12-07T18:00:00Z); fix: give a --to before \
                 the stream's watermark 2026-12-07T17:00:00Z"
            )
        );
        assert_eq!(
            refusal(at("2026-12-07T17:00:00Z"), watermark, now, MINUTE).as_deref(),
            Some(
                "2026-12-07T17:00:00Z is not before the watermark 2026-12-07T17:00:00Z: the stream has read \
                 nothing from then on yet, so nothing would be read again; fix: give a --to before \
                 2026-12-07T17:00:00Z"
            )
        );
        assert_eq!(
            refusal(at("2026-11-07T19:00:59Z"), watermark, now, MINUTE).as_deref(),
            Some(
                "2026-11-07T19:00:59Z is beyond Graph's retention: Graph keeps sign-in and audit logs 30 days \
                 (7 on Entra ID Free) and refuses a read that starts earlier; fix: give a --to of \
                 2026-11-07T19:01:00Z or later (30 days ago, less polling.overlap and an hour for the stream \
                 to get there)"
            )
        );
        assert_eq!(
            refusal(at("2026-11-07T19:01:00Z"), watermark, now, MINUTE),
            None
        );
        assert_eq!(
            refusal(at("2026-12-07T16:59:59Z"), watermark, now, MINUTE),
            None
        );
    }
}
