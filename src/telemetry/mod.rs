//! Metrics, health and logs. Below everything: every other module may use it.

pub mod metrics;
