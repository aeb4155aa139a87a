//! entrastream: Microsoft Entra ID audit logs from Microsoft Graph into Kafka.

pub mod clock;
pub mod config;
pub mod sim;
pub mod stream;
