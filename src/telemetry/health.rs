//! What `/healthz` and `/readyz` report: alive while the process serves; ready while Kafka is
//! reachable and healthy and every tenant can get tokens.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

#[derive(Default)]
pub struct Health {
    kafka_reachable: AtomicBool,
    kafka_problem: Mutex<Option<String>>,
    kafka_fatal: Mutex<Option<String>>,
    tenants: Mutex<BTreeMap<String, Option<String>>>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub problems: Vec<String>,
}

impl Health {
    pub fn new() -> Self {
        Health::default()
    }

    pub fn kafka_probe(&self, result: Result<usize, String>) {
        match result {
            Ok(_) => {
                self.kafka_reachable.store(true, Ordering::Release);
                *self.kafka_problem.lock() = None;
            }
            Err(error) => {
                self.kafka_reachable.store(false, Ordering::Release);
                *self.kafka_problem.lock() = Some(error);
            }
        }
    }

    pub fn kafka_fatal(&self, error: String) {
        *self.kafka_fatal.lock() = Some(error);
    }

    pub fn register_tenant(&self, tenant: &str) {
        self.tenants.lock().entry(tenant.to_owned()).or_insert(None);
    }

    /// `None` when the tenant's credentials work, the refusal otherwise.
    pub fn tenant_auth(&self, tenant: &str, problem: Option<String>) {
        self.tenants.lock().insert(tenant.to_owned(), problem);
    }

    pub fn readiness(&self) -> Readiness {
        let mut problems = Vec::new();
        if let Some(fatal) = self.kafka_fatal.lock().clone() {
            problems.push(format!("kafka producer failed: {fatal}"));
        }
        if !self.kafka_reachable.load(Ordering::Acquire) {
            let detail = self
                .kafka_problem
                .lock()
                .clone()
                .unwrap_or_else(|| "not probed yet".to_owned());
            problems.push(format!("kafka is not reachable: {detail}"));
        }
        for (tenant, problem) in self.tenants.lock().iter() {
            if let Some(problem) = problem {
                problems.push(format!("tenant {tenant}: {problem}"));
            }
        }
        Readiness {
            ready: problems.is_empty(),
            problems,
        }
    }
}
