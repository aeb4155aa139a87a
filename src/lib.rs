//! entrastream: Microsoft Entra ID audit logs from Microsoft Graph into Kafka.

pub mod auth;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod graph;
pub mod schema;
pub mod sim;
pub mod stream;
pub mod telemetry;
