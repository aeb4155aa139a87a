//! A stream's state, as `entrastream_stream_state` and the state-change log lines name it: one
//! line per change, with the tenant and the stream. The stream task changes it, and so does a
//! page fetch while it waits out its tenant's `Retry-After` pause (`throttled`, with the time it
//! resumes), which is why it lives behind a lock.

use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::graph::client::Throttling;
use crate::graph::error::BlockReason;
use crate::stream::StreamKind;
use crate::telemetry::metrics::StreamMetrics;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    Starting,
    CatchingUp,
    CaughtUp,
    Retrying,
    /// Waiting out the tenant's pause after a 429, until `resumes_at`.
    Throttled {
        resumes_at: Timestamp,
    },
    Blocked(BlockReason),
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Starting => "starting",
            StreamState::CatchingUp => "catching_up",
            StreamState::CaughtUp => "caught_up",
            StreamState::Retrying => "retrying",
            StreamState::Throttled { .. } => "throttled",
            StreamState::Blocked(reason) => reason.as_str(),
        }
    }
}

/// The state of one stream.
pub(super) struct StateCell {
    tenant: String,
    stream: StreamKind,
    metrics: StreamMetrics,
    states: Mutex<States>,
}

struct States {
    current: StreamState,
    /// The state a stream returns to when its throttling pause ends.
    before_throttling: Option<StreamState>,
}

impl StateCell {
    pub(super) fn new(tenant: &str, stream: StreamKind, metrics: StreamMetrics) -> StateCell {
        StateCell {
            tenant: tenant.to_owned(),
            stream,
            metrics,
            states: Mutex::new(States {
                current: StreamState::Starting,
                before_throttling: None,
            }),
        }
    }

    pub(super) fn get(&self) -> StreamState {
        self.states.lock().current
    }

    /// Changes the state, with one log line saying so; `detail` says why (retrying, blocked).
    pub(super) fn set(&self, state: StreamState, detail: Option<&str>) {
        let previous = {
            let mut states = self.states.lock();
            if states.current == state {
                return;
            }
            states.before_throttling = None;
            std::mem::replace(&mut states.current, state)
        };
        self.metrics.set_state(state.as_str());
        let tenant = self.tenant.as_str();
        let stream = self.stream.as_str();
        match state {
            StreamState::Blocked(reason) => tracing::error!(
                tenant,
                stream,
                state = state.as_str(),
                reason = reason.as_str(),
                detail = detail.unwrap_or_default(),
                "stream blocked"
            ),
            StreamState::Retrying => tracing::warn!(
                tenant,
                stream,
                state = state.as_str(),
                detail = detail.unwrap_or_default(),
                "stream retrying"
            ),
            StreamState::Throttled { resumes_at } => tracing::warn!(
                tenant,
                stream,
                state = state.as_str(),
                resumes_at = %resumes_at,
                detail = detail.unwrap_or_default(),
                "stream throttled"
            ),
            _ if matches!(previous, StreamState::Blocked(_) | StreamState::Retrying) => {
                tracing::info!(
                    tenant,
                    stream,
                    state = state.as_str(),
                    previous = previous.as_str(),
                    "stream recovered"
                )
            }
            StreamState::CaughtUp => {
                tracing::info!(tenant, stream, state = state.as_str(), "stream caught up")
            }
            StreamState::CatchingUp => {
                tracing::info!(tenant, stream, state = state.as_str(), "stream catching up")
            }
            StreamState::Starting => {
                tracing::info!(tenant, stream, state = state.as_str(), "stream starting")
            }
        }
    }

    /// What a page fetch says about waiting out its tenant's pause: the stream is `throttled`
    /// until it resumes, then back in the state it was in.
    pub(super) fn throttling(&self, event: Throttling) {
        let tenant = self.tenant.as_str();
        let stream = self.stream.as_str();
        match event {
            Throttling::Throttled {
                resumes_at,
                retry_after,
                sent,
            } => {
                self.enter_throttled(resumes_at);
                tracing::warn!(
                    tenant,
                    stream,
                    state = "throttled",
                    resumes_at = %resumes_at,
                    retry_after_seconds = retry_after.as_secs(),
                    retry_after_sent = sent,
                    "stream throttled by graph, the tenant pauses its requests"
                );
            }
            Throttling::Waiting { resumes_at } => {
                self.enter_throttled(resumes_at);
                tracing::info!(
                    tenant,
                    stream,
                    state = "throttled",
                    resumes_at = %resumes_at,
                    "stream waits out its tenant's throttling pause"
                );
            }
            Throttling::Resumed => {
                let resumed = {
                    let mut states = self.states.lock();
                    if !matches!(states.current, StreamState::Throttled { .. }) {
                        return;
                    }
                    let back = states
                        .before_throttling
                        .take()
                        .unwrap_or(StreamState::CatchingUp);
                    states.current = back;
                    back
                };
                self.metrics.set_state(resumed.as_str());
                tracing::info!(
                    tenant,
                    stream,
                    state = resumed.as_str(),
                    previous = "throttled",
                    "stream resumed after throttling"
                );
            }
        }
    }

    fn enter_throttled(&self, resumes_at: Timestamp) {
        {
            let mut states = self.states.lock();
            let previous =
                std::mem::replace(&mut states.current, StreamState::Throttled { resumes_at });
            if !matches!(previous, StreamState::Throttled { .. }) {
                states.before_throttling = Some(previous);
            }
        }
        self.metrics.set_state("throttled");
    }
}
