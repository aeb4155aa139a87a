//! Metrics, health and logs. Below everything: every other module may use it.

pub mod health;
pub mod logging;
pub mod metrics;
pub mod server;
