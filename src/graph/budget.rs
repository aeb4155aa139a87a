//! Graph's request budgets for the identity and access reports: at most 5 requests in any 10
//! seconds per application and tenant, and at most 122 in any 10 seconds per application across
//! all of its tenants (`polling.throttle`, `graph.app_budget`).
//!
//! Both are kept as sliding windows, with a tenth of the window as a safety margin: a token
//! bucket of the same rate lets a full burst follow a steady trickle (8 requests in 6 seconds at
//! "5 per 10 s"), which Graph answers with 429s. One [`AppBudget`] is shared by every tenant that
//! uses the same application (client id and login authority); when requests compete for it, the
//! live polls of caught-up streams go first, then catch-up pages take turns across tenants, so
//! that one tenant's backlog never starves another's freshness. A 429's `Retry-After` pauses the
//! tenant's requests and wins over both windows.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::{Clock, Timestamp};
use crate::config::ThrottleConfig;

/// How a request ranks when requests compete for the application's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A caught-up stream polling for news: keeps every tenant fresh.
    Live,
    /// A page of a stream that is behind (catching up, a reconciliation pass).
    CatchUp,
}

/// The send times of the requests in the last window: at most `limit` of them.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    span: Duration,
    sent: VecDeque<Timestamp>,
}

impl SlidingWindow {
    /// At most `throttle.requests` in any `throttle.per`, plus `margin` of that span.
    pub fn new(throttle: ThrottleConfig, margin: Duration) -> SlidingWindow {
        let limit = throttle.requests.max(1) as usize;
        SlidingWindow {
            limit,
            span: throttle.per.saturating_add(margin),
            sent: VecDeque::with_capacity(limit),
        }
    }

    /// The earliest time a request may be sent (`now` or earlier when one may be sent now).
    pub fn free_at(&self, now: Timestamp) -> Timestamp {
        if self.sent.len() < self.limit {
            return now;
        }
        // the deque holds at most `limit` entries: the oldest leaves the window first
        self.sent
            .front()
            .map_or(now, |oldest| oldest.saturating_add(self.span))
    }

    /// Counts a request sent at `now`.
    pub fn record(&mut self, now: Timestamp) {
        while self.sent.len() >= self.limit {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
    }
}

/// The margin kept below each of Graph's limits: a tenth of the window.
fn margin(throttle: ThrottleConfig) -> Duration {
    throttle.per / 10
}

/// One application's budget, shared by the tenants that use it.
pub struct AppBudget {
    clock: Clock,
    tenant_throttle: ThrottleConfig,
    state: Mutex<AppState>,
}

struct AppState {
    app: SlidingWindow,
    tenants: HashMap<Arc<str>, TenantState>,
    waiting: Vec<Waiter>,
    next_waiter: u64,
}

struct TenantState {
    window: SlidingWindow,
    paused_until: Timestamp,
    /// The last request granted to the tenant: catch-up pages take turns, the longest-waiting
    /// tenant first.
    last_granted: Option<Timestamp>,
}

#[derive(Clone)]
struct Waiter {
    id: u64,
    tenant: Arc<str>,
    priority: Priority,
}

impl AppBudget {
    /// `app`: the application's limit across its tenants; `tenant`: per application and tenant.
    pub fn new(app: ThrottleConfig, tenant: ThrottleConfig, clock: Clock) -> Arc<AppBudget> {
        Arc::new(AppBudget {
            clock,
            tenant_throttle: tenant,
            state: Mutex::new(AppState {
                app: SlidingWindow::new(app, margin(app)),
                tenants: HashMap::new(),
                waiting: Vec::new(),
                next_waiter: 0,
            }),
        })
    }

    /// The budget of one of the application's tenants.
    pub fn tenant(self: &Arc<Self>, tenant_id: &str) -> RequestBudget {
        let tenant: Arc<str> = Arc::from(tenant_id);
        self.state
            .lock()
            .tenants
            .entry(tenant.clone())
            .or_insert_with(|| TenantState {
                window: SlidingWindow::new(self.tenant_throttle, margin(self.tenant_throttle)),
                paused_until: Timestamp::from_millis(i64::MIN),
                last_granted: None,
            });
        RequestBudget {
            app: self.clone(),
            tenant,
        }
    }

    /// Waits until `tenant` may send a request of `priority`; counts it as sent.
    async fn acquire(&self, tenant: &Arc<str>, priority: Priority) {
        let id = {
            let mut state = self.state.lock();
            let id = state.next_waiter;
            state.next_waiter += 1;
            state.waiting.push(Waiter {
                id,
                tenant: tenant.clone(),
                priority,
            });
            id
        };
        // a cancelled wait (a stream stopping) leaves the queue
        let _waiting = WaitingGuard { budget: self, id };
        loop {
            let now = self.clock.now();
            let wake = {
                let mut state = self.state.lock();
                match state.try_grant(id, now) {
                    Ok(()) => return,
                    Err(wake) => wake,
                }
            };
            self.clock.sleep_until(wake).await;
        }
    }
}

impl AppState {
    /// When `tenant` may send, by its own window and pause alone.
    fn tenant_free_at(&self, tenant: &str, now: Timestamp) -> Timestamp {
        self.tenants.get(tenant).map_or(now, |state| {
            state.window.free_at(now).max(state.paused_until)
        })
    }

    /// Grants the request of waiter `id` if it may go now and no waiter ahead of it may; else
    /// says when to look again.
    fn try_grant(&mut self, id: u64, now: Timestamp) -> Result<(), Timestamp> {
        let Some(waiter) = self.waiting.iter().find(|waiter| waiter.id == id).cloned() else {
            return Err(now);
        };
        let tenant_free = self.tenant_free_at(&waiter.tenant, now);
        if tenant_free > now {
            return Err(tenant_free);
        }
        let app_free = self.app.free_at(now);
        if app_free > now {
            return Err(app_free);
        }
        let ahead = self.waiting.iter().any(|other| {
            other.id != id
                && self.tenant_free_at(&other.tenant, now) <= now
                && self.rank(other) < self.rank(&waiter)
        });
        if ahead {
            // the waiter ahead takes this turn at the same instant; look again just after
            return Err(now.saturating_add(Duration::from_millis(1)));
        }
        self.app.record(now);
        if let Some(state) = self.tenants.get_mut(&waiter.tenant) {
            state.window.record(now);
            state.last_granted = Some(now);
        }
        self.waiting.retain(|other| other.id != id);
        Ok(())
    }

    /// Live polls first; then the tenant that was granted a request longest ago; then the
    /// earliest waiter.
    fn rank(&self, waiter: &Waiter) -> (Priority, Option<Timestamp>, u64) {
        let last_granted = self
            .tenants
            .get(&waiter.tenant)
            .and_then(|state| state.last_granted);
        (waiter.priority, last_granted, waiter.id)
    }
}

struct WaitingGuard<'a> {
    budget: &'a AppBudget,
    id: u64,
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.budget
            .state
            .lock()
            .waiting
            .retain(|waiter| waiter.id != self.id);
    }
}

/// The budgets of every application in the configuration, by client id and login authority.
pub struct Budgets {
    app: ThrottleConfig,
    tenant: ThrottleConfig,
    clock: Clock,
    apps: HashMap<(String, String), Arc<AppBudget>>,
}

impl Budgets {
    pub fn new(app: ThrottleConfig, tenant: ThrottleConfig, clock: Clock) -> Budgets {
        Budgets {
            app,
            tenant,
            clock,
            apps: HashMap::new(),
        }
    }

    /// The budget of `tenant_id` read with application `client_id` at `login_authority`.
    pub fn tenant(
        &mut self,
        client_id: &str,
        login_authority: &str,
        tenant_id: &str,
    ) -> RequestBudget {
        let (app, tenant, clock) = (self.app, self.tenant, &self.clock);
        self.apps
            .entry((client_id.to_ascii_lowercase(), login_authority.to_owned()))
            .or_insert_with(|| AppBudget::new(app, tenant, clock.clone()))
            .tenant(tenant_id)
    }
}

/// One tenant's share of its application's budget, used by all of the tenant's streams.
pub struct RequestBudget {
    app: Arc<AppBudget>,
    tenant: Arc<str>,
}

impl RequestBudget {
    /// A tenant whose application serves no other tenant (tests, `check`).
    pub fn alone(tenant: ThrottleConfig, clock: Clock) -> RequestBudget {
        AppBudget::new(ThrottleConfig::APP_DEFAULT, tenant, clock).tenant("tenant")
    }

    /// Waits until a request may be sent; returns how long that took on the clock.
    pub async fn acquire(&self, priority: Priority) -> Duration {
        let started = self.app.clock.now();
        self.app.acquire(&self.tenant, priority).await;
        self.app.clock.now().duration_since(started)
    }

    /// Until when every request of the tenant is held (in the past when none is).
    pub fn paused_until(&self) -> Timestamp {
        let state = self.app.state.lock();
        state
            .tenants
            .get(&self.tenant)
            .map_or(Timestamp::from_millis(i64::MIN), |tenant| {
                tenant.paused_until
            })
    }

    /// Holds every request of the tenant until `until` (Graph's `Retry-After`).
    pub fn pause_until(&self, until: Timestamp) {
        let mut state = self.app.state.lock();
        if let Some(tenant) = state.tenants.get_mut(&self.tenant)
            && until > tenant.paused_until
        {
            tenant.paused_until = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: Timestamp = Timestamp::from_secs(1_000);

    fn seconds_since_start(clock: &Clock) -> f64 {
        clock.now().duration_since(START).as_secs_f64()
    }

    /// Sends `count` requests of `priority` for `budget`, one after another; their send times.
    fn sender(
        clock: &Clock,
        budget: RequestBudget,
        priority: Priority,
        count: usize,
    ) -> tokio::task::JoinHandle<Vec<f64>> {
        let clock = clock.clone();
        let participant = clock.participant();
        tokio::spawn(async move {
            let _participant = participant;
            let mut sent_at = Vec::new();
            for _ in 0..count {
                budget.acquire(priority).await;
                sent_at.push(seconds_since_start(&clock));
            }
            sent_at
        })
    }

    #[tokio::test]
    async fn five_requests_in_any_eleven_seconds_and_a_retry_after_wins() {
        let clock = Clock::manual(START);
        let manual = clock.as_manual().expect("manual").clone();
        let budget = Arc::new(RequestBudget::alone(
            ThrottleConfig::default(),
            clock.clone(),
        ));
        let task = {
            let clock = clock.clone();
            let budget = budget.clone();
            let participant = clock.participant();
            tokio::spawn(async move {
                let _participant = participant;
                let mut sent_at = Vec::new();
                for _ in 0..8 {
                    budget.acquire(Priority::CatchUp).await;
                    sent_at.push(seconds_since_start(&clock));
                }
                budget.pause_until(clock.now().saturating_add(Duration::from_secs(30)));
                budget.acquire(Priority::CatchUp).await;
                sent_at.push(seconds_since_start(&clock));
                sent_at
            })
        };
        manual.run_until(Timestamp::from_secs(2_000)).await;
        let sent_at = task.await.expect("task");
        // five at once, the next five when the first leave the window (10 s and a tenth)
        assert_eq!(
            sent_at,
            vec![0.0, 0.0, 0.0, 0.0, 0.0, 11.0, 11.0, 11.0, 41.0]
        );
    }

    #[tokio::test]
    async fn the_app_budget_binds_across_tenants_and_tenants_take_turns() {
        let clock = Clock::manual(START);
        let manual = clock.as_manual().expect("manual").clone();
        let app = AppBudget::new(
            ThrottleConfig {
                requests: 12,
                per: Duration::from_secs(10),
            },
            ThrottleConfig::default(),
            clock.clone(),
        );
        // six tenants with a backlog each: 5 per tenant would be 30 per window, the app allows 12
        let tasks: Vec<_> = (0..6)
            .map(|tenant| {
                sender(
                    &clock,
                    app.tenant(&format!("tenant-{tenant}")),
                    Priority::CatchUp,
                    20,
                )
            })
            .collect();
        manual.run_until(Timestamp::from_secs(2_000)).await;
        let mut all = Vec::new();
        let mut per_tenant_while_competing = Vec::new();
        for task in tasks {
            let sent_at: Vec<i64> = task
                .await
                .expect("task")
                .iter()
                .map(|at| (at * 1000.0).round() as i64)
                .collect();
            // the first come take the first window; from then on all six wait for turns
            per_tenant_while_competing.push(
                sent_at
                    .iter()
                    .filter(|at| (11_000..44_000).contains(*at))
                    .count(),
            );
            all.extend(sent_at);
        }
        all.sort_unstable();
        // never more than 12 in any 11 s
        for (index, at) in all.iter().enumerate() {
            let in_window = all[index..]
                .iter()
                .take_while(|later| **later < at + 11_000)
                .count();
            assert!(
                in_window <= 12,
                "{in_window} requests from {at} ms: {all:?}"
            );
        }
        // 12 per 11 s in all (a turn given up to a waiter ahead costs a millisecond), taken in
        // turns: each tenant 2 of each window's 12
        assert_eq!(all.len(), 120);
        assert!((33_000..33_010).contains(&all[47]), "{all:?}");
        assert_eq!(per_tenant_while_competing, vec![6; 6], "{all:?}");
    }

    #[tokio::test]
    async fn live_polls_go_before_catch_up_pages() {
        let clock = Clock::manual(START);
        let manual = clock.as_manual().expect("manual").clone();
        let app = AppBudget::new(
            ThrottleConfig {
                requests: 4,
                per: Duration::from_secs(10),
            },
            ThrottleConfig::default(),
            clock.clone(),
        );
        // three tenants with a backlog use the app's whole budget
        let backlog: Vec<_> = (0..3)
            .map(|tenant| {
                sender(
                    &clock,
                    app.tenant(&format!("behind-{tenant}")),
                    Priority::CatchUp,
                    20,
                )
            })
            .collect();
        manual
            .run_until(START.saturating_add(Duration::from_secs(5)))
            .await;
        manual.wait_until_parked().await;
        // a caught-up tenant polls: it goes at the next free turn, ahead of every waiting page
        let live = sender(&clock, app.tenant("fresh"), Priority::Live, 2);
        manual.run_until(Timestamp::from_secs(2_000)).await;
        assert_eq!(live.await.expect("live"), vec![11.0, 11.0]);
        for task in backlog {
            assert_eq!(task.await.expect("backlog").len(), 20);
        }
    }

    #[tokio::test]
    async fn a_stopped_waiter_leaves_the_queue() {
        let clock = Clock::manual(START);
        let manual = clock.as_manual().expect("manual").clone();
        let app = AppBudget::new(
            ThrottleConfig {
                requests: 1,
                per: Duration::from_secs(10),
            },
            ThrottleConfig::default(),
            clock.clone(),
        );
        let live = app.tenant("live");
        live.acquire(Priority::Live).await;
        // a live poll waits for the next turn, then is cancelled (its stream stops)
        let waiting = sender(&clock, app.tenant("stopping"), Priority::Live, 1);
        manual
            .run_until(START.saturating_add(Duration::from_secs(1)))
            .await;
        waiting.abort();
        let _ = waiting.await;
        let behind = sender(&clock, app.tenant("behind"), Priority::CatchUp, 1);
        manual.run_until(Timestamp::from_secs(2_000)).await;
        assert_eq!(behind.await.expect("behind"), vec![11.0]);
    }
}
