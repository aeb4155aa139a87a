//! Where stream cursors are kept between runs.
//!
//! A cursor is committed only after Kafka acknowledged every record of its batch (in exactly-once
//! mode: in the same transaction as the records). A checkpoint that cannot be read stops the
//! stream with an error that says what to do; it is never reset silently, because a reset would
//! either lose or duplicate events.

mod document;
mod file;
mod kafka;
mod lock;
mod memory;
pub mod rewind;
mod snapshot;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

pub use file::{FileStore, journal_of};
pub use kafka::{KafkaStore, Lease, TakeOver, probe_read};
pub use lock::{Holder, LOCK_FILE, StateLock};
pub use memory::MemoryStore;
pub use snapshot::KafkaSnapshot;

use crate::config::TenantId;
use crate::graph::cursor::{Cursor, CursorDelta};
use crate::stream::StreamKind;

/// A commit under way; it owns what it needs, so that it can be awaited beside a shutdown signal.
pub type CommitFuture = Pin<Box<dyn Future<Output = Result<(), CheckpointError>> + Send + 'static>>;

/// A cursor as a Kafka record, for stores that can commit it inside a transaction.
#[derive(Clone, Debug)]
pub struct CheckpointRecord {
    pub topic: String,
    pub key: String,
    pub value: Vec<u8>,
}

/// What a commit writes.
#[derive(Clone, Debug)]
pub enum CursorCommit {
    /// The whole cursor: it replaces whatever the store held.
    Full(Cursor),
    /// The change since the previous commit of this run (incremental stores only).
    Delta(CursorDelta),
}

/// A place cursors are loaded from and committed to.
pub trait CheckpointStore: Send + Sync {
    /// The stream's cursor, or `None` for a stream that never committed. May block: the pipeline
    /// calls it off the async runtime's worker threads.
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError>;

    /// Commits the stream's cursor, durably, once the returned future completes: the whole
    /// cursor, or (a store that is [`incremental`](CheckpointStore::incremental), after a whole
    /// one this run) its delta from the previous commit.
    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture;

    /// Whether the store takes deltas: a commit then costs what it adds, not every id held
    /// within the lateness horizon again.
    fn incremental(&self) -> bool {
        false
    }

    /// The record that carries `cursor` inside a Kafka transaction (exactly-once delivery); only
    /// the kafka store has one.
    fn transactional_record(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<CheckpointRecord, CheckpointError> {
        let _ = (tenant, stream, cursor);
        Err(CheckpointError::Unusable(format!(
            "the {} cannot commit inside a Kafka transaction; exactly_once needs checkpoint.store: kafka",
            self.describe()
        )))
    }

    /// Where checkpoints live, for messages.
    fn describe(&self) -> String;
}

#[derive(Debug)]
pub enum CheckpointError {
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    Corrupt {
        location: String,
        detail: String,
    },
    Foreign {
        location: String,
        found: String,
        expected: String,
    },
    /// The store cannot be reached for now (Kafka down, a delivery timed out): the commit is
    /// tried again; nothing advances meanwhile.
    Unavailable {
        store: String,
        detail: String,
    },
    /// The store refuses the write for a reason only the operator can fix (authorization, a
    /// record above the topic's size limit); the message says what to do.
    Refused(String),
    /// The store cannot be used as configured (topic missing and not creatable, not compacted,
    /// unreadable at start-up); the message says what to do.
    Unusable(String),
    /// Another process holds the file store's lock (see [`StateLock`]).
    Locked(Holder),
}

impl CheckpointError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, CheckpointError::Unavailable { .. })
    }
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Io {
                path,
                action,
                source,
            } => write!(
                formatter,
                "cannot {action} checkpoint {}: {source}; check that checkpoint.path exists and is writable",
                path.display()
            ),
            CheckpointError::Corrupt { location, detail } => write!(
                formatter,
                "checkpoint {location} is corrupt ({detail}); it is not reset silently: restore it from a backup, or \
                 delete it to read the stream again from polling.initial_lookback (records already \
                 delivered since then are delivered again)"
            ),
            CheckpointError::Foreign {
                location,
                found,
                expected,
            } => write!(
                formatter,
                "checkpoint {location} belongs to {found}, not to {expected}; another instance's state was copied \
                 or shared: give each instance its own checkpoint.path or kafka.instance_id"
            ),
            CheckpointError::Unavailable { store, detail } => write!(
                formatter,
                "cannot commit to the {store} for now ({detail}); the commit is tried again and the stream does not \
                 advance meanwhile"
            ),
            CheckpointError::Refused(detail) | CheckpointError::Unusable(detail) => {
                formatter.write_str(detail)
            }
            CheckpointError::Locked(holder) => write!(formatter, "{holder}"),
        }
    }
}

impl std::error::Error for CheckpointError {}
