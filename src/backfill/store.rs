//! What the live stream covers, read from its checkpoint without touching it, and where a backfill
//! keeps its own progress: `{checkpoint.path}/backfill/{tenant}/{stream}.json`, a cursor per
//! stream (origin: where the backfill started; watermark: how far Kafka acknowledged it), beside
//! the live cursors and written the same way (atomic, fsynced, journaled).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::checkpoint::{
    CheckpointError, CheckpointStore, CommitFuture, CursorCommit, FileStore, journal_of,
};
use crate::clock::Timestamp;
use crate::config::{CheckpointStoreKind, Config, TenantId};
use crate::graph::cursor::Cursor;
use crate::stream::StreamKind;

/// The directory of the file store, as `run` uses it.
pub fn checkpoint_directory(config: &Config) -> Result<PathBuf, String> {
    match config.checkpoint.store {
        CheckpointStoreKind::File => Ok(config
            .checkpoint
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from("./state"))),
        CheckpointStoreKind::Kafka => Err(
            "backfill reads the live cursors and keeps its progress in the file checkpoint store; with \
             checkpoint.store: kafka it cannot run yet; fix: run it with a configuration whose checkpoint \
             store is file (the live instance's)"
                .to_owned(),
        ),
    }
}

/// The live stream's cursor, loaded from a copy of its files: loading may fold a journal into a
/// new document, which only the live instance may write. A copy taken while the live instance
/// replaced its document is taken again.
pub fn live_cursor(
    directory: &Path,
    tenant: &TenantId,
    stream: StreamKind,
) -> Result<Option<Cursor>, String> {
    let live = FileStore::new(directory);
    let document = live.path_of(tenant, stream);
    let mut last_error = String::new();
    for _ in 0..3 {
        let copy = tempfile::tempdir()
            .map_err(|error| format!("cannot make a temporary directory: {error}"))?;
        let copied = FileStore::new(copy.path());
        let target = copied.path_of(tenant, stream);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot make {}: {error}", parent.display()))?;
        }
        for (from, to) in [
            (journal_of(&document), journal_of(&target)),
            (document.clone(), target.clone()),
        ] {
            match std::fs::copy(&from, &to) {
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(format!(
                        "cannot read the live checkpoint {}: {error}; fix: run the backfill as a user who may \
                         read checkpoint.path",
                        from.display()
                    ));
                }
            }
        }
        match copied.load(tenant, stream) {
            Ok(cursor) => return Ok(cursor),
            Err(CheckpointError::Corrupt { detail, .. }) => last_error = detail,
            Err(error) => return Err(error.to_string()),
        }
    }
    Err(format!(
        "the live checkpoint {} cannot be read ({last_error}); fix: `entrastream run` reports the same at its \
         start and says how to repair it",
        document.display()
    ))
}

/// The backfill's progress store: its commits go to the file store under `backfill/`, and the
/// watermark each stream committed last is kept for the progress lines.
pub struct ProgressStore {
    files: FileStore,
    committed: Arc<Mutex<HashMap<StreamKind, Timestamp>>>,
}

impl ProgressStore {
    pub fn new(checkpoint_directory: &Path) -> ProgressStore {
        ProgressStore {
            files: FileStore::new(checkpoint_directory.join("backfill")),
            committed: Arc::default(),
        }
    }

    /// Where the stream's progress is kept, for messages.
    pub fn path_of(&self, tenant: &TenantId, stream: StreamKind) -> PathBuf {
        self.files.path_of(tenant, stream)
    }

    /// The watermark the stream committed last in this run.
    pub fn committed(&self, stream: StreamKind) -> Option<Timestamp> {
        self.committed.lock().get(&stream).copied()
    }

    /// Writes a whole cursor at once (a backfill that starts over).
    pub fn replace(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<(), CheckpointError> {
        self.files.commit_now(tenant, stream, cursor)
    }
}

impl CheckpointStore for ProgressStore {
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        self.files.load(tenant, stream)
    }

    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture {
        let watermark = match &commit {
            CursorCommit::Full(cursor) => cursor.watermark,
            CursorCommit::Delta(delta) => delta.watermark,
        };
        let committing = self.files.commit(tenant, stream, commit);
        let committed = self.committed.clone();
        Box::pin(async move {
            committing.await?;
            committed.lock().insert(stream, watermark);
            Ok(())
        })
    }

    fn incremental(&self) -> bool {
        self.files.incremental()
    }

    fn describe(&self) -> String {
        self.files.describe()
    }
}
