//! What the simulator saw: counters and a bounded log of recent requests, for tests to assert on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::config::FaultKind;
use crate::clock::Timestamp;

/// Requests kept in the log; older ones are dropped so that memory stays bounded.
const LOG_CAPACITY: usize = 200_000;

#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// Simulated time of the request.
    pub at: Timestamp,
    pub tenant_id: Option<String>,
    /// `token`, `signIns`, `directoryAudits` or `provisioning`.
    pub endpoint: String,
    pub status: u16,
    pub fault: Option<FaultKind>,
    /// Records in the page (0 for errors).
    pub records: usize,
    pub has_skiptoken: bool,
}

#[derive(Default)]
pub struct Stats {
    pub tokens_issued: AtomicU64,
    pub throttled: AtomicU64,
    pub requests: AtomicU64,
    log: Mutex<VecDeque<RequestRecord>>,
}

impl Stats {
    pub fn record(&self, record: RequestRecord) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut log = self.log.lock();
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// The requests still in the log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().iter().cloned().collect()
    }

    /// Responses with this status (429 for throttling, ...).
    pub fn count_status(&self, status: u16) -> usize {
        self.log
            .lock()
            .iter()
            .filter(|record| record.status == status)
            .count()
    }
}
