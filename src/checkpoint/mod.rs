//! Where stream cursors are kept between runs.
//!
//! A cursor is committed only after Kafka acknowledged every record of its batch. A checkpoint
//! that cannot be read stops the stream with an error that says what to do; it is never reset
//! silently, because a reset would either lose or duplicate events.

mod file;
mod memory;

use std::fmt;
use std::path::PathBuf;

pub use file::FileStore;
pub use memory::MemoryStore;

use crate::graph::cursor::Cursor;
use crate::stream::StreamKind;

/// A place cursors are loaded from and committed to. Calls block; the pipeline runs them off the
/// async runtime's worker threads.
pub trait CheckpointStore: Send + Sync {
    /// The stream's cursor, or `None` for a stream that never committed.
    fn load(&self, tenant: &str, stream: StreamKind) -> Result<Option<Cursor>, CheckpointError>;

    /// Replaces the stream's cursor, durably.
    fn commit(
        &self,
        tenant: &str,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<(), CheckpointError>;

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
        path: PathBuf,
        detail: String,
    },
    Foreign {
        path: PathBuf,
        found: String,
        expected: String,
    },
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
            CheckpointError::Corrupt { path, detail } => write!(
                formatter,
                "checkpoint {} is corrupt ({detail}); it is not reset silently: restore it from a backup, or \
                 delete it to read the stream again from polling.initial_lookback (records already \
                 delivered since then are delivered again)",
                path.display()
            ),
            CheckpointError::Foreign {
                path,
                found,
                expected,
            } => write!(
                formatter,
                "checkpoint {} belongs to {found}, not to {expected}; another instance's state was copied \
                 or shared: give each instance its own checkpoint.path",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}
