//! The one backoff rule: exponential, capped, with full jitter; a `Retry-After` from Graph wins.
//!
//! Written here rather than taken from a crate because the waits run on the injectable clock and
//! the rule is "full jitter" (a uniform draw between zero and the capped exponential): `backon`
//! adds its jitter on top of the delay, and `retry-policies` is tied to `SystemTime`.

use std::time::Duration;

/// Backoff of transient errors: 1 s, 2 s, 4 s, ... capped at 5 minutes, drawn with full jitter.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The ceiling of the wait before attempt `attempt` (1-based) after a failure.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exponent).min(self.cap)
    }

    /// The wait before retry `attempt`: uniform in [0, ceiling], unless Graph said how long.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(retry_after) = retry_after {
            return retry_after;
        }
        self.ceiling(attempt).mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_capped_and_retry_after_wins() {
        let backoff = Backoff::default();
        assert_eq!(backoff.ceiling(1), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(8));
        assert_eq!(backoff.ceiling(20), Duration::from_secs(300));
        for attempt in 1..12 {
            assert!(backoff.delay(attempt, None) <= backoff.ceiling(attempt));
        }
        assert_eq!(
            backoff.delay(3, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
