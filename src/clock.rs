//! Wall-clock time, injectable so that tests run hours of Graph traffic in seconds.
//!
//! Everything that depends on "now" — the pipeline's windows and waits, the rate limiter, the
//! simulator's record visibility, throttling and token lifetimes — reads it from a [`Clock`].
//! In production the clock is the system clock. In tests it is a [`ManualClock`] that only moves
//! when told to, or that advances by itself to the next deadline once every participant task is
//! parked on a clock sleep (a discrete-event simulation of time).
//!
//! tokio's paused time is not used: it auto-advances whenever the runtime is idle, which includes
//! waiting for a socket, so a real HTTP or Kafka round trip would see its timeouts fire at once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs * 1000)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(since_epoch) => Timestamp(since_epoch.as_millis() as i64),
            Err(before_epoch) => Timestamp(-(before_epoch.duration().as_millis() as i64)),
        }
    }

    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs())
        }
    }

    pub fn saturating_add(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_add(duration_millis(duration)))
    }

    pub fn saturating_sub(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_sub(duration_millis(duration)))
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// Rounds down to a whole second.
    pub fn floor_to_second(self) -> Self {
        Timestamp(self.0.div_euclid(1000) * 1000)
    }

    /// RFC 3339 in UTC with a `Z` suffix and whole seconds, the form Graph accepts in `$filter`.
    pub fn to_rfc3339_seconds(self) -> String {
        humantime::format_rfc3339_seconds(self.to_system_time()).to_string()
    }

    /// RFC 3339 in UTC with milliseconds.
    pub fn to_rfc3339_millis(self) -> String {
        humantime::format_rfc3339_millis(self.to_system_time()).to_string()
    }

    /// Parses an RFC 3339 UTC timestamp (`Z` suffix, up to nine fractional digits).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        humantime::parse_rfc3339_weak(text)
            .ok()
            .filter(|_| text.ends_with('Z') || text.ends_with('z'))
            .map(Timestamp::from_system_time)
    }
}

/// Serialized as RFC 3339 with milliseconds, so that checkpoints read well.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339_millis())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 UTC time: {text:?}")))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.to_rfc3339_millis())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.to_rfc3339_millis())
    }
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The source of "now" and of waits on it; cheap to clone.
#[derive(Clone)]
pub struct Clock {
    kind: ClockKind,
}

#[derive(Clone)]
enum ClockKind {
    System,
    Manual(Arc<ManualClock>),
}

impl fmt::Debug for Clock {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ClockKind::System => formatter.write_str("Clock::System"),
            ClockKind::Manual(manual) => write!(formatter, "Clock::Manual({:?})", manual.now()),
        }
    }
}

impl Clock {
    pub fn system() -> Self {
        Clock {
            kind: ClockKind::System,
        }
    }

    /// A clock that stands at `start` until a test moves it.
    pub fn manual(start: Timestamp) -> Self {
        Clock {
            kind: ClockKind::Manual(Arc::new(ManualClock::new(start))),
        }
    }

    /// The test control of a manual clock; `None` for the system clock.
    pub fn as_manual(&self) -> Option<&Arc<ManualClock>> {
        match &self.kind {
            ClockKind::System => None,
            ClockKind::Manual(manual) => Some(manual),
        }
    }

    pub fn now(&self) -> Timestamp {
        match &self.kind {
            ClockKind::System => Timestamp::from_system_time(SystemTime::now()),
            ClockKind::Manual(manual) => manual.now(),
        }
    }

    /// Waits until the clock reads `deadline` or later.
    pub async fn sleep_until(&self, deadline: Timestamp) {
        match &self.kind {
            ClockKind::System => {
                let remaining = deadline.duration_since(self.now());
                if !remaining.is_zero() {
                    tokio::time::sleep(remaining).await;
                }
            }
            ClockKind::Manual(manual) => manual.sleep_until(deadline).await,
        }
    }

    pub async fn sleep(&self, duration: Duration) {
        let deadline = self.now().saturating_add(duration);
        self.sleep_until(deadline).await;
    }

    /// Registers the calling task as one whose clock sleeps a manual clock waits for before it
    /// advances by itself. A no-op on the system clock. Dropping the guard deregisters.
    pub fn participant(&self) -> Participant {
        if let ClockKind::Manual(manual) = &self.kind {
            manual.add_participant();
        }
        Participant {
            clock: self.as_manual().cloned(),
        }
    }
}

/// Keeps a task counted as a participant of a manual clock while it lives.
#[must_use = "the task stops being a participant when the guard is dropped"]
pub struct Participant {
    clock: Option<Arc<ManualClock>>,
}

impl Drop for Participant {
    fn drop(&mut self) {
        if let Some(manual) = &self.clock {
            manual.remove_participant();
        }
    }
}

/// A clock under test control.
///
/// Every clock sleep must come from a participant task (see [`Clock::participant`]), and each
/// participant has at most one clock sleep outstanding. Then "as many sleepers as participants"
/// means nothing can happen before the earliest deadline, and [`ManualClock::run_until`] may jump
/// there.
pub struct ManualClock {
    state: Mutex<ManualState>,
    changed: Notify,
}

struct ManualState {
    now: Timestamp,
    next_sleeper_id: u64,
    sleepers: BTreeMap<(Timestamp, u64), oneshot::Sender<()>>,
    participants: usize,
}

impl ManualClock {
    fn new(start: Timestamp) -> Self {
        ManualClock {
            state: Mutex::new(ManualState {
                now: start,
                next_sleeper_id: 0,
                sleepers: BTreeMap::new(),
                participants: 0,
            }),
            changed: Notify::new(),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.state.lock().now
    }

    /// Moves the clock forward by `duration` and wakes every sleeper whose deadline has passed.
    pub fn advance(&self, duration: Duration) {
        let target = self.now().saturating_add(duration);
        self.advance_to(target);
    }

    /// Moves the clock to `target` (never backwards) and wakes the sleepers that are due.
    pub fn advance_to(&self, target: Timestamp) {
        let mut state = self.state.lock();
        if target > state.now {
            state.now = target;
        }
        let now = state.now;
        while let Some(entry) = state.sleepers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let waker = entry.remove();
            // the sleeper may have given up already; nothing to wake then
            let _ = waker.send(());
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// The number of clock sleeps outstanding.
    pub fn sleepers(&self) -> usize {
        self.state.lock().sleepers.len()
    }

    pub fn participants(&self) -> usize {
        self.state.lock().participants
    }

    /// Advances by itself, deadline after deadline, until the clock reads `end`.
    ///
    /// It moves only while every participant is parked on a clock sleep, so work triggered by one
    /// deadline (HTTP round trips, Kafka deliveries) completes in real time before the next jump.
    /// With no participants it jumps straight to `end`.
    pub async fn run_until(&self, end: Timestamp) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_step = {
                let state = self.state.lock();
                if state.now >= end {
                    return;
                }
                if state.participants == 0 {
                    Some(end)
                } else if state.sleepers.len() >= state.participants {
                    let earliest = state.sleepers.keys().next().map(|(deadline, _)| *deadline);
                    Some(earliest.map_or(end, |deadline| deadline.min(end)))
                } else {
                    None
                }
            };
            match next_step {
                Some(target) => {
                    self.advance_to(target);
                    // let the woken tasks run before looking again
                    tokio::task::yield_now().await;
                }
                None => notified.await,
            }
        }
    }

    /// Waits (in real time) until every participant is parked on a clock sleep.
    pub async fn wait_until_parked(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.state.lock();
                if state.sleepers.len() >= state.participants {
                    return;
                }
            }
            notified.await;
        }
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        let (key, receiver) = {
            let mut state = self.state.lock();
            if deadline <= state.now {
                return;
            }
            let key = (deadline, state.next_sleeper_id);
            state.next_sleeper_id += 1;
            let (sender, receiver) = oneshot::channel();
            state.sleepers.insert(key, sender);
            (key, receiver)
        };
        self.changed.notify_waiters();
        let registration = SleepRegistration { clock: self, key };
        let _ = receiver.await;
        drop(registration);
    }

    fn add_participant(&self) {
        self.state.lock().participants += 1;
        self.changed.notify_waiters();
    }

    fn remove_participant(&self) {
        {
            let mut state = self.state.lock();
            state.participants = state.participants.saturating_sub(1);
        }
        self.changed.notify_waiters();
    }
}

/// Removes a sleeper whose future was dropped before its deadline (a `select!` that went the
/// other way), so that it no longer counts as parked.
struct SleepRegistration<'a> {
    clock: &'a ManualClock,
    key: (Timestamp, u64),
}

impl Drop for SleepRegistration<'_> {
    fn drop(&mut self) {
        let removed = self.clock.state.lock().sleepers.remove(&self.key).is_some();
        if removed {
            self.clock.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_and_parse_in_utc() {
        let time = Timestamp::from_millis(1_700_000_000_123);
        assert_eq!(time.to_rfc3339_millis(), "2023-11-14T22:13:20.123Z");
        assert_eq!(time.to_rfc3339_seconds(), "2023-11-14T22:13:20Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-14T22:13:20.1234567Z"),
            Some(time)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(time.floor_to_second())
        );
        assert_eq!(Timestamp::parse_rfc3339("2023-11-14T22:13:20+01:00"), None);
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_in_deadline_order() {
        let clock = Clock::manual(Timestamp::from_secs(100));
        let manual = clock.as_manual().expect("manual").clone();
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        for (name, seconds) in [("late", 30u64), ("early", 10), ("middle", 20)] {
            let clock = clock.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                let _participant = clock.participant();
                clock.sleep(Duration::from_secs(seconds)).await;
                sender.send((name, clock.now())).expect("receiver alive");
            });
        }
        drop(sender);
        // participants register inside the tasks; wait until all three sleep
        while manual.sleepers() < 3 {
            tokio::task::yield_now().await;
        }
        manual.run_until(Timestamp::from_secs(200)).await;
        let mut woken = Vec::new();
        while let Some(entry) = receiver.recv().await {
            woken.push(entry);
        }
        assert_eq!(
            woken,
            vec![
                ("early", Timestamp::from_secs(110)),
                ("middle", Timestamp::from_secs(120)),
                ("late", Timestamp::from_secs(130)),
            ]
        );
        assert_eq!(manual.now(), Timestamp::from_secs(200));
    }

    #[tokio::test]
    async fn a_dropped_sleep_no_longer_counts_as_parked() {
        let clock = Clock::manual(Timestamp::from_secs(0));
        let manual = clock.as_manual().expect("manual").clone();
        {
            let sleep = clock.sleep(Duration::from_secs(5));
            tokio::pin!(sleep);
            assert!(futures_util::poll!(sleep.as_mut()).is_pending());
            assert_eq!(manual.sleepers(), 1);
        }
        assert_eq!(manual.sleepers(), 0);
    }
}
