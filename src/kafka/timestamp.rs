//! The Kafka timestamp of an event's record: the event's own time, so that consumers that take
//! a record's time by default (Splunk Connect for Kafka's `_time`, Elastic Agent's and
//! Filebeat's `@timestamp`, a Kafka Connect sink partitioning by record time) file the event
//! under the time it happened, not the time entrastream read it.
//!
//! Clamped to what a topic keeps and takes: Kafka deletes by time the log segments whose newest
//! record is older than `retention.ms` (7 days by default), so a record stamped with an older
//! event time would be deleted at the broker's next retention check, before any consumer read
//! it; and brokers refuse records stamped too far in the future
//! (`message.timestamp.after.max.ms`). The exact time stays in the event and in the
//! `event_time` header.

use std::time::Duration;

use crate::clock::Timestamp;

/// How far back a record's timestamp goes: a day inside Kafka's default retention of 7 days,
/// so that a record stamped here still has a day before deletion by time.
pub const RECORD_TIME_MAX_AGE: Duration = Duration::from_secs(6 * 24 * 3600);

/// The record timestamp (epoch milliseconds) of an event that happened at `event_time`, sent at
/// `now`: the event time, no earlier than `now - RECORD_TIME_MAX_AGE` and no later than `now`.
pub fn record_timestamp(event_time: Timestamp, now: Timestamp) -> i64 {
    let oldest = now.saturating_sub(RECORD_TIME_MAX_AGE);
    event_time.max(oldest).min(now).as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_time_within_six_days_before_now() {
        let now = Timestamp::from_secs(1_767_614_400);
        let hour = Duration::from_secs(3600);
        let day = 24 * hour;
        for (event_time, expected) in [
            (now.saturating_sub(hour), now.saturating_sub(hour)),
            (now, now),
            (now.saturating_sub(6 * day), now.saturating_sub(6 * day)),
            // older than six days: six days, which a 7-day topic keeps for a day
            (now.saturating_sub(20 * day), now.saturating_sub(6 * day)),
            // Graph's clock ahead of ours: now, which no broker refuses
            (now.saturating_add(10 * hour), now),
        ] {
            assert_eq!(record_timestamp(event_time, now), expected.as_millis());
        }
    }
}
