//! The allowed range of every number in the configuration (documented beside each key in
//! `config/full.yaml`). Each is checked before anything adds, multiplies or converts it, so
//! that no value a YAML file can hold overflows a sum or panics the service: the largest
//! duration allowed anywhere is Graph's 30-day retention.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::{
    CheckpointConfig, DEFAULT_MESSAGE_MAX_BYTES, GRAPH_RETENTION, GraphConfig, KafkaConfig,
    PollingConfig, ShutdownConfig, duration,
};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

pub const INTERVAL: RangeInclusive<Duration> = SECOND..=DAY;
pub const SETTLE_DELAY: RangeInclusive<Duration> = Duration::ZERO..=DAY;
pub const INITIAL_LOOKBACK: RangeInclusive<Duration> = Duration::ZERO..=GRAPH_RETENTION;
pub const LATENESS: RangeInclusive<Duration> = Duration::ZERO..=GRAPH_RETENTION;
pub const RECONCILE_EVERY: RangeInclusive<Duration> = SECOND..=GRAPH_RETENTION;
pub const OVERLAP: RangeInclusive<Duration> = Duration::ZERO..=DAY;
pub const MAX_WINDOW: RangeInclusive<Duration> = MINUTE..=DAY;
pub const PAGE_SIZE: RangeInclusive<u32> = 1..=1000;
pub const MAX_WINDOW_PAGES: RangeInclusive<u32> = 1..=1000;
pub const MAX_PAGES_IN_MEMORY: RangeInclusive<u32> = 1..=10_000;
pub const THROTTLE_REQUESTS: RangeInclusive<u32> = 1..=1000;
pub const THROTTLE_PER: RangeInclusive<Duration> = SECOND..=HOUR;
pub const REQUEST_TIMEOUT: RangeInclusive<Duration> = SECOND..=HOUR;
pub const BLOCKED_RETRY: RangeInclusive<Duration> = SECOND..=DAY;
pub const MAX_RETRY_AFTER: RangeInclusive<Duration> = SECOND..=DAY;
/// Graph's largest page (1,000 sign-ins with many Conditional Access policies) is a few MiB.
pub const MAX_PAGE_BYTES: RangeInclusive<u64> = 1024 * 1024..=1024 * 1024 * 1024;
/// A token response is a few KiB.
pub const MAX_TOKEN_RESPONSE_BYTES: RangeInclusive<u64> = 4 * 1024..=16 * 1024 * 1024;
pub const TRANSACTION_TIMEOUT: RangeInclusive<Duration> = SECOND..=Duration::from_secs(900);
pub const HEALTH_INTERVAL: RangeInclusive<Duration> = SECOND..=Duration::from_secs(300);
pub const SHUTDOWN_TIMEOUT: RangeInclusive<Duration> = SECOND..=Duration::from_secs(600);
pub const TOPIC_PARTITIONS: RangeInclusive<i32> = 1..=1000;
pub const REPLICATION_FACTOR: RangeInclusive<i16> = 1..=16;
/// From 1 MiB to librdkafka's largest `message.max.bytes`.
pub const MAX_RECORD_BYTES: RangeInclusive<u32> = 1024 * 1024..=1_000_000_000;
pub const LOAD_TIMEOUT: RangeInclusive<Duration> = SECOND..=HOUR;
pub const TAKEOVER_WAIT: RangeInclusive<Duration> = Duration::ZERO..=HOUR;
pub const CHECKPOINT_INTERVAL: RangeInclusive<Duration> = Duration::ZERO..=HOUR;

/// `{key}: {value} is outside {min}..={max}`, followed by `(why)` when there is a reason to give.
fn check<T: PartialOrd + Copy>(
    problems: &mut Vec<String>,
    key: &str,
    value: T,
    allowed: &RangeInclusive<T>,
    why: &str,
    text: impl Fn(T) -> String,
) {
    if allowed.contains(&value) {
        return;
    }
    let reason = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    problems.push(format!(
        "{key}: {} is outside {}..={}{reason}",
        text(value),
        text(*allowed.start()),
        text(*allowed.end())
    ));
}

fn duration_in(
    problems: &mut Vec<String>,
    key: &str,
    value: Duration,
    allowed: &RangeInclusive<Duration>,
    why: &str,
) {
    check(problems, key, value, allowed, why, duration::format);
}

fn number_in<T: PartialOrd + Copy + Display>(
    problems: &mut Vec<String>,
    key: &str,
    value: T,
    allowed: &RangeInclusive<T>,
    why: &str,
) {
    check(problems, key, value, allowed, why, |number| {
        number.to_string()
    });
}

pub(super) fn polling(polling: &PollingConfig, problems: &mut Vec<String>) {
    duration_in(
        problems,
        "polling.interval",
        polling.interval,
        &INTERVAL,
        "",
    );
    duration_in(
        problems,
        "polling.settle_delay",
        polling.settle_delay,
        &SETTLE_DELAY,
        "",
    );
    duration_in(
        problems,
        "polling.initial_lookback",
        polling.initial_lookback,
        &INITIAL_LOOKBACK,
        "Graph keeps 30 days, 7 on Entra ID Free, and refuses an older start with 400 \"Invalid \
         filter clause\"",
    );
    duration_in(
        problems,
        "polling.lateness",
        polling.lateness,
        &LATENESS,
        "Graph keeps 30 days",
    );
    duration_in(
        problems,
        "polling.reconcile_every",
        polling.reconcile_every,
        &RECONCILE_EVERY,
        "Graph keeps 30 days",
    );
    if LATENESS.contains(&polling.lateness)
        && RECONCILE_EVERY.contains(&polling.reconcile_every)
        && polling.lateness.saturating_add(polling.reconcile_every) > GRAPH_RETENTION
    {
        problems.push(
            "polling.lateness: lateness plus reconcile_every must stay within Graph's 30-day retention"
                .to_owned(),
        );
    }
    duration_in(problems, "polling.overlap", polling.overlap, &OVERLAP, "");
    duration_in(
        problems,
        "polling.max_window",
        polling.max_window,
        &MAX_WINDOW,
        "",
    );
    number_in(
        problems,
        "polling.page_size",
        polling.page_size,
        &PAGE_SIZE,
        "Graph's maximum is 1000, the best use of its budget",
    );
    number_in(
        problems,
        "polling.max_window_pages",
        polling.max_window_pages,
        &MAX_WINDOW_PAGES,
        "",
    );
    number_in(
        problems,
        "polling.max_pages_in_memory",
        polling.max_pages_in_memory,
        &MAX_PAGES_IN_MEMORY,
        "",
    );
    number_in(
        problems,
        "polling.throttle.requests",
        polling.throttle.requests,
        &THROTTLE_REQUESTS,
        "",
    );
    duration_in(
        problems,
        "polling.throttle.per",
        polling.throttle.per,
        &THROTTLE_PER,
        "",
    );
    duration_in(
        problems,
        "polling.request_timeout",
        polling.request_timeout,
        &REQUEST_TIMEOUT,
        "",
    );
    duration_in(
        problems,
        "polling.blocked_retry",
        polling.blocked_retry,
        &BLOCKED_RETRY,
        "",
    );
    duration_in(
        problems,
        "polling.max_retry_after",
        polling.max_retry_after,
        &MAX_RETRY_AFTER,
        "",
    );
    number_in(
        problems,
        "polling.max_page_bytes",
        polling.max_page_bytes,
        &MAX_PAGE_BYTES,
        "",
    );
    number_in(
        problems,
        "polling.max_token_response_bytes",
        polling.max_token_response_bytes,
        &MAX_TOKEN_RESPONSE_BYTES,
        "",
    );
}

pub(super) fn kafka(kafka: &KafkaConfig, problems: &mut Vec<String>) {
    duration_in(
        problems,
        "kafka.transaction_timeout",
        kafka.transaction_timeout,
        &TRANSACTION_TIMEOUT,
        "15m is the broker's default transaction.max.timeout.ms",
    );
    duration_in(
        problems,
        "kafka.health_interval",
        kafka.health_interval,
        &HEALTH_INTERVAL,
        "",
    );
    // a record can be no larger than the producer takes
    let message_max_bytes = kafka
        .librdkafka
        .get("message.max.bytes")
        .and_then(|bytes| bytes.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
    let event_max_bytes = 1024..=u32::try_from(message_max_bytes).unwrap_or(u32::MAX);
    number_in(
        problems,
        "kafka.max_record_bytes",
        kafka.max_record_bytes,
        &event_max_bytes,
        "up to the producer's message.max.bytes",
    );
}

pub(super) fn graph(graph: &GraphConfig, problems: &mut Vec<String>) {
    number_in(
        problems,
        "graph.app_budget.requests",
        graph.app_budget.requests,
        &THROTTLE_REQUESTS,
        "",
    );
    duration_in(
        problems,
        "graph.app_budget.per",
        graph.app_budget.per,
        &THROTTLE_PER,
        "",
    );
}

pub(super) fn shutdown(shutdown: &ShutdownConfig, problems: &mut Vec<String>) {
    duration_in(
        problems,
        "shutdown.timeout",
        shutdown.timeout,
        &SHUTDOWN_TIMEOUT,
        "keep it below the pod's terminationGracePeriodSeconds",
    );
}

pub(super) fn checkpoint(checkpoint: &CheckpointConfig, problems: &mut Vec<String>) {
    number_in(
        problems,
        "checkpoint.topic_partitions",
        checkpoint.topic_partitions,
        &TOPIC_PARTITIONS,
        "",
    );
    if let Some(factor) = checkpoint.replication_factor {
        number_in(
            problems,
            "checkpoint.replication_factor",
            factor,
            &REPLICATION_FACTOR,
            "leave it out for the broker's default",
        );
    }
    number_in(
        problems,
        "checkpoint.max_record_bytes",
        checkpoint.max_record_bytes,
        &MAX_RECORD_BYTES,
        "",
    );
    duration_in(
        problems,
        "checkpoint.load_timeout",
        checkpoint.load_timeout,
        &LOAD_TIMEOUT,
        "",
    );
    duration_in(
        problems,
        "checkpoint.takeover_wait",
        checkpoint.takeover_wait,
        &TAKEOVER_WAIT,
        "",
    );
    duration_in(
        problems,
        "checkpoint.interval",
        checkpoint.interval,
        &CHECKPOINT_INTERVAL,
        "",
    );
}
