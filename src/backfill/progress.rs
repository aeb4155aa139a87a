//! What a backfill shows while it runs and when it ends: a progress bar on a terminal, plain
//! lines otherwise (records, pages, requests against the budget, throttled answers, ETA), and the
//! summary per stream.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::store::ProgressStore;
use crate::clock::Timestamp;
use crate::stream::StreamKind;
use crate::telemetry::metrics::Metrics;

/// One stream of the backfill: its range and what this run reads of it.
#[derive(Clone, Debug)]
pub struct StreamPlan {
    pub stream: StreamKind,
    /// Where the backfill of the stream started (an earlier run's `--since` when continued).
    pub since: Timestamp,
    /// Where this run starts reading: `since`, or where an earlier run got.
    pub resume_from: Timestamp,
    /// Where it ends: `--until`, or the live stream's origin when that is earlier.
    pub to: Timestamp,
    /// `--until`, when the live stream's origin cut the range short.
    pub until_beyond_live: Option<Timestamp>,
    /// The live stream's origin: it publishes everything from there on.
    pub live_origin: Timestamp,
}

/// What one stream did in this run, read from the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub records: u64,
    pub pages: u64,
    pub requests: u64,
    pub throttled: u64,
}

/// Counts of the stream `stream` of tenant `tenant` (its configured id) in `metrics`.
pub fn counts(metrics: &Arc<Metrics>, tenant: &str, stream: StreamKind) -> Counts {
    let handles = metrics.stream(tenant, stream);
    let mut requests = 0;
    let mut pages = 0;
    for family in metrics.gather() {
        if family.name() != "entrastream_graph_requests_total" {
            continue;
        }
        for metric in family.get_metric() {
            let label = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|pair| pair.name() == name)
                    .map(|pair| pair.value().to_owned())
                    .unwrap_or_default()
            };
            if label("tenant") != tenant || label("stream") != stream.as_str() {
                continue;
            }
            let count = metric.get_counter().get_value() as u64;
            requests += count;
            if label("outcome") == "success" {
                pages += count;
            }
        }
    }
    Counts {
        records: handles.published.get(),
        pages,
        requests,
        throttled: handles.throttled.get(),
    }
}

/// The share of this run's event time that Kafka acknowledged, 0 to 1.
fn fraction_done(plans: &[StreamPlan], store: &ProgressStore) -> f64 {
    let mut total = 0u64;
    let mut done = 0u64;
    for plan in plans {
        let length = plan.to.duration_since(plan.resume_from).as_millis() as u64;
        let reached = store
            .committed(plan.stream)
            .unwrap_or(plan.resume_from)
            .min(plan.to);
        total += length;
        done += reached.duration_since(plan.resume_from).as_millis() as u64;
    }
    if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    }
}

/// "1h 2m", "3m 4s", "5s": a wait a person reads.
pub fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        _ => format!("{}h {}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// The progress of the whole backfill, as one line (without the percentage, which the bar shows).
pub struct Progress {
    pub tenant: String,
    pub plans: Vec<StreamPlan>,
    pub metrics: Arc<Metrics>,
    pub store: Arc<ProgressStore>,
    /// `--requests-per-10s`.
    pub budget: u32,
    pub started: Timestamp,
}

impl Progress {
    fn totals(&self) -> Counts {
        self.plans
            .iter()
            .map(|plan| counts(&self.metrics, &self.tenant, plan.stream))
            .fold(Counts::default(), |sum, each| Counts {
                records: sum.records + each.records,
                pages: sum.pages + each.pages,
                requests: sum.requests + each.requests,
                throttled: sum.throttled + each.throttled,
            })
    }

    /// `(fraction, details)`: `12,345 records, 15 pages, 17 requests (budget 2 per 10s), 0
    /// throttled, 1m 10s elapsed, eta 2m 5s`.
    pub fn describe(&self, now: Timestamp) -> (f64, String) {
        let fraction = fraction_done(&self.plans, &self.store);
        let totals = self.totals();
        let elapsed = now.duration_since(self.started);
        let eta = if fraction >= 1.0 {
            "0s".to_owned()
        } else if fraction <= 0.0 || elapsed.is_zero() {
            "unknown".to_owned()
        } else {
            short_duration(elapsed.mul_f64((1.0 - fraction) / fraction))
        };
        (
            fraction,
            format!(
                "{} records, {} pages, {} requests (budget {} per 10s), {} throttled, {} elapsed, eta {eta}",
                totals.records,
                totals.pages,
                totals.requests,
                self.budget,
                totals.throttled,
                short_duration(elapsed),
            ),
        )
    }
}

/// Where progress goes: a bar on a terminal, a line per tick elsewhere.
pub enum Display {
    Bar(indicatif::ProgressBar),
    Lines(Mutex<Box<dyn Write + Send>>),
}

impl Display {
    /// A bar drawn on stderr.
    pub fn bar() -> Display {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(1000),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{wide_bar} {percent:>3}%\n{wide_msg}")
        {
            bar.set_style(style);
        }
        Display::Bar(bar)
    }

    pub fn lines(writer: Box<dyn Write + Send>) -> Display {
        Display::Lines(Mutex::new(writer))
    }

    /// A line that stays (what the backfill plans, what it skips).
    pub fn say(&self, line: &str) {
        match self {
            Display::Bar(bar) => bar.println(line),
            Display::Lines(writer) => {
                let mut writer = writer.lock();
                let _ = writeln!(writer, "{line}");
                let _ = writer.flush();
            }
        }
    }

    pub fn tick(&self, progress: &Progress, now: Timestamp) {
        let (fraction, details) = progress.describe(now);
        match self {
            Display::Bar(bar) => {
                bar.set_position((fraction * 1000.0) as u64);
                bar.set_message(details);
            }
            Display::Lines(_) => self.say(&format!(
                "backfill {}%: {details}",
                (fraction * 100.0).floor() as u64
            )),
        }
    }

    pub fn finish(&self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// How a stream's backfill ended in this run.
#[derive(Clone, Debug)]
pub struct StreamSummary {
    pub plan: StreamPlan,
    pub counts: Counts,
    /// Records read at or after the live origin, left to the live stream.
    pub left_to_live: u64,
    /// Where Kafka acknowledged the stream up to.
    pub reached: Timestamp,
}

/// The end of a backfill: per stream and in total.
#[derive(Clone, Debug)]
pub struct Summary {
    pub tenant: String,
    pub streams: Vec<StreamSummary>,
    pub elapsed: Duration,
    /// Stopped (a signal) before the end: a rerun continues.
    pub stopped: bool,
    /// Why it ended early, with the fix.
    pub failure: Option<String>,
}

impl Summary {
    pub fn complete(&self) -> bool {
        !self.stopped && self.failure.is_none()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let records: u64 = self.streams.iter().map(|each| each.counts.records).sum();
        let pages: u64 = self.streams.iter().map(|each| each.counts.pages).sum();
        let requests: u64 = self.streams.iter().map(|each| each.counts.requests).sum();
        let throttled: u64 = self.streams.iter().map(|each| each.counts.throttled).sum();
        let how = if self.complete() {
            "finished"
        } else {
            "stopped before its end"
        };
        writeln!(
            formatter,
            "backfill of tenant {} {how} in {}: {records} records published, {pages} pages, {requests} requests, \
             {throttled} throttled (429)",
            self.tenant,
            short_duration(self.elapsed),
        )?;
        for each in &self.streams {
            let plan = &each.plan;
            let continued = if plan.resume_from > plan.since {
                format!(
                    " (continued from {})",
                    plan.resume_from.to_rfc3339_seconds()
                )
            } else {
                String::new()
            };
            let state = if plan.since >= plan.to {
                "nothing before the live stream".to_owned()
            } else if each.reached >= plan.to {
                "complete".to_owned()
            } else {
                format!("reached {}", each.reached.to_rfc3339_seconds())
            };
            write!(
                formatter,
                "  {}: {} records, {} pages, {} requests, {} throttled; {}..{} {state}{continued}",
                plan.stream,
                each.counts.records,
                each.counts.pages,
                each.counts.requests,
                each.counts.throttled,
                plan.since.to_rfc3339_seconds(),
                plan.to.to_rfc3339_seconds(),
            )?;
            write!(
                formatter,
                "; skipped as the live stream's: from {} on",
                plan.live_origin.to_rfc3339_seconds()
            )?;
            if let Some(until) = plan.until_beyond_live {
                write!(formatter, " (to --until {})", until.to_rfc3339_seconds())?;
            }
            writeln!(
                formatter,
                ", {} records read there left to it",
                each.left_to_live
            )?;
        }
        if let Some(failure) = &self.failure {
            writeln!(formatter, "error: {failure}")?;
        }
        if !self.complete() {
            writeln!(
                formatter,
                "what Kafka acknowledged is kept: the same command continues where this one stopped"
            )?;
        }
        Ok(())
    }
}
