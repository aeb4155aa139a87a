//! entrastream: Microsoft Entra ID audit logs from Microsoft Graph into Kafka.
//!
//! # Data flow
//!
//! ```text
//!  auth::TokenProvider ─┐
//!                       ▼
//!  graph::pages ──► graph::record ──► dedup (graph::cursor) ──► schema::map_record ──► kafka::Publisher
//!  (nextLink,        (id, event time,   (ids seen within the      (OCSF | raw)           (idempotent,
//!   budget, retries)  raw JSON)          lateness horizon)              │                  acks=all, keyed)
//!                                                                      └─ failure ─► dead-letter topic
//!                                                    checkpoint::CheckpointStore ◄── every delivery acked
//! ```
//!
//! One task per stream (`pipeline`), a request budget per tenant (`graph::budget`), bounded
//! producer buffers so that a slow Kafka slows the Graph reads.
//!
//! # Layout
//!
//! - `cli`, `app`, `shutdown`, `demo`: the commands and the service's wiring.
//!   `checkpoint_command`: `entrastream checkpoints` (see, rewind, reset cursors). `backfill`: a
//!   past range read once beside the service, by its own stream tasks bounded to the range.
//! - `config`: the YAML configuration, strict and documented. `files`: bounded reads of the files
//!   it names. `validate`: what can be known of a configuration without connecting (its secrets
//!   read, librdkafka's judgement of its Kafka settings), for `run` and `check`.
//! - `auth`: access tokens. `graph`: endpoints, client, records, cursor. `schema`: mappings.
//! - `kafka`: producer and delivery tracking. `checkpoint`: cursor stores.
//! - `pipeline`: the stream task. `telemetry`: metrics, health, logs. `clock`, `retry`: time.
//!   `text`: wording shared by the commands' output.
//! - `upstream`: what is read from the login, managed-identity and Graph endpoints: bodies
//!   within a size limit and a deadline, upstream text redacted before it reaches a message.
//! - `sim`: the Graph simulator (tests, demo, benchmarks); production modules never use it.

pub mod app;
pub mod auth;
pub mod backfill;
pub mod check;
pub mod checkpoint;
pub mod checkpoint_command;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod files;
pub mod graph;
pub mod kafka;
pub mod pipeline;
pub mod retry;
pub mod schema;
pub mod schema_command;
pub mod shutdown;
pub mod sim;
pub mod stream;
pub mod swar;
pub mod telemetry;
pub mod text;
pub mod upstream;
pub mod validate;
