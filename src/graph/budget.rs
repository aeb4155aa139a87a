//! Graph's request budget for one tenant and application, shared by the tenant's streams: a
//! token bucket at the documented 5 requests per 10 seconds, plus the pause a 429's
//! `Retry-After` asks for (which wins over the bucket).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::{Quota, RateLimiter};
use parking_lot::Mutex;

use crate::clock::{Clock, GovernorClock, Timestamp};
use crate::config::ThrottleConfig;

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    GovernorClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

pub struct RequestBudget {
    limiter: Limiter,
    governor_clock: GovernorClock,
    clock: Clock,
    paused_until: Mutex<Timestamp>,
}

impl RequestBudget {
    pub fn new(throttle: ThrottleConfig, clock: Clock) -> Self {
        let requests = NonZeroU32::new(throttle.requests.max(1)).unwrap_or(NonZeroU32::MIN);
        let replenish_every = throttle.per / requests.get();
        let quota = Quota::with_period(replenish_every)
            .unwrap_or_else(|| Quota::per_second(requests))
            .allow_burst(requests);
        let governor_clock = GovernorClock(clock.clone());
        RequestBudget {
            limiter: RateLimiter::direct_with_clock(quota, governor_clock.clone()),
            governor_clock,
            clock,
            paused_until: Mutex::new(Timestamp::from_millis(i64::MIN)),
        }
    }

    /// Waits until a request may be sent; returns how long that took on the clock.
    pub async fn acquire(&self) -> Duration {
        let started = self.clock.now();
        loop {
            let now = self.clock.now();
            let paused_until = *self.paused_until.lock();
            if paused_until > now {
                self.clock.sleep_until(paused_until).await;
                continue;
            }
            match self.limiter.check() {
                Ok(()) => return self.clock.now().duration_since(started),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.governor_clock.now());
                    // round up so that the next check finds the slot free
                    let wait_millis = wait.as_nanos().div_ceil(1_000_000) as u64;
                    self.clock
                        .sleep_until(now.saturating_add(Duration::from_millis(wait_millis.max(1))))
                        .await;
                }
            }
        }
    }

    /// Until when every request of the tenant is held (in the past when none is).
    pub fn paused_until(&self) -> Timestamp {
        *self.paused_until.lock()
    }

    /// Holds every request of the tenant until `until` (Graph's `Retry-After`).
    pub fn pause_until(&self, until: Timestamp) {
        let mut paused_until = self.paused_until.lock();
        if until > *paused_until {
            *paused_until = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn five_requests_per_ten_seconds_as_a_bucket() {
        let clock = Clock::manual(Timestamp::from_secs(1_000));
        let manual = clock.as_manual().expect("manual").clone();
        let budget =
            std::sync::Arc::new(RequestBudget::new(ThrottleConfig::default(), clock.clone()));
        let task = {
            let clock = clock.clone();
            let budget = budget.clone();
            let participant = clock.participant();
            tokio::spawn(async move {
                let _participant = participant;
                let mut sent_at = Vec::new();
                for _ in 0..8 {
                    budget.acquire().await;
                    sent_at.push(clock.now().as_millis() / 1000 - 1000);
                }
                budget.pause_until(clock.now().saturating_add(Duration::from_secs(30)));
                budget.acquire().await;
                sent_at.push(clock.now().as_millis() / 1000 - 1000);
                sent_at
            })
        };
        manual.run_until(Timestamp::from_secs(2_000)).await;
        let sent_at = task.await.expect("task");
        // a burst of five, then one every two seconds; a Retry-After pause wins over the bucket
        assert_eq!(sent_at, vec![0, 0, 0, 0, 0, 2, 4, 6, 36]);
    }
}
