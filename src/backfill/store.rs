//! What the live stream covers, read from its checkpoint without touching it, and where a backfill
//! keeps its own progress: a cursor per stream (origin: where the backfill started; watermark: how
//! far Kafka acknowledged it) in the configured store, beside the live cursors and written the
//! same way: `{checkpoint.path}/backfill/{tenant}/{stream}.json`, or the checkpoint topic under
//! `{kafka.instance_id}.backfill` (its own lease: the live instance's is never claimed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::checkpoint::{
    CheckpointError, CheckpointStore, CommitFuture, CursorCommit, FileStore, KafkaStore, journal_of,
};
use crate::clock::Timestamp;
use crate::config::{CheckpointStoreKind, Config, TenantId};
use crate::graph::cursor::Cursor;
use crate::kafka::Publisher;
use crate::stream::StreamKind;

/// Where the live cursors are read from.
pub enum LiveCursors {
    /// The file store's directory (`checkpoint.path`).
    Files(PathBuf),
    /// The kafka store as read at the backfill's start, and the live instance's id.
    Kafka {
        store: Arc<KafkaStore>,
        instance_id: String,
    },
}

impl LiveCursors {
    pub fn load(&self, tenant: &TenantId, stream: StreamKind) -> Result<Option<Cursor>, String> {
        match self {
            LiveCursors::Files(directory) => live_cursor(directory, tenant, stream),
            LiveCursors::Kafka { store, instance_id } => store
                .whole_cursor_of(instance_id, tenant, stream)
                .map_err(|error| error.to_string()),
        }
    }

    /// Where they are, for messages.
    pub fn describe(&self) -> String {
        match self {
            LiveCursors::Files(directory) => directory.display().to_string(),
            LiveCursors::Kafka { store, instance_id } => {
                format!("the {} (kafka.instance_id {instance_id})", store.describe())
            }
        }
    }
}

/// The id the backfill's own records carry in the checkpoint topic: its own lease and cursors,
/// apart from the live instance's.
pub fn backfill_instance_id(live_instance_id: &str) -> String {
    format!("{live_instance_id}.backfill")
}

/// Opens the configured checkpoint store for the backfill: its progress store, and where the
/// live cursors are. The kafka store is opened under [`backfill_instance_id`]: claiming the live
/// instance's lease would stop it.
pub async fn open(
    config: &Config,
    publisher: Arc<Publisher>,
) -> Result<(ProgressStore, LiveCursors), String> {
    match config.checkpoint.store {
        CheckpointStoreKind::File => {
            let directory = config
                .checkpoint
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from("./state"));
            let progress = FileStore::new(directory.join("backfill"));
            Ok((
                ProgressStore::new(Arc::new(progress), None),
                LiveCursors::Files(directory),
            ))
        }
        CheckpointStoreKind::Kafka => {
            let mut kafka = config.kafka.clone();
            kafka.instance_id = backfill_instance_id(&config.kafka.instance_id);
            let store = KafkaStore::open(&kafka, &config.checkpoint, publisher)
                .await
                .map_err(|error| error.to_string())?;
            let store = Arc::new(store);
            Ok((
                ProgressStore::new(store.clone(), Some(store.clone())),
                LiveCursors::Kafka {
                    store,
                    instance_id: config.kafka.instance_id.clone(),
                },
            ))
        }
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

/// The backfill's progress store: its commits go to the configured store (files under
/// `backfill/`, or the checkpoint topic under the backfill's own instance id), and the watermark
/// each stream committed last is kept for the progress lines.
pub struct ProgressStore {
    inner: Arc<dyn CheckpointStore>,
    /// The kafka store, whose lease is watched and released.
    pub kafka: Option<Arc<KafkaStore>>,
    committed: Arc<Mutex<HashMap<StreamKind, Timestamp>>>,
}

impl ProgressStore {
    pub fn new(inner: Arc<dyn CheckpointStore>, kafka: Option<Arc<KafkaStore>>) -> ProgressStore {
        ProgressStore {
            inner,
            kafka,
            committed: Arc::default(),
        }
    }

    /// The watermark the stream committed last in this run.
    pub fn committed(&self, stream: StreamKind) -> Option<Timestamp> {
        self.committed.lock().get(&stream).copied()
    }

    /// Writes a whole cursor (a backfill that starts over).
    pub async fn replace(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<(), CheckpointError> {
        self.inner
            .commit(tenant, stream, CursorCommit::Full(cursor.clone()))
            .await
    }
}

impl CheckpointStore for ProgressStore {
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        self.inner.load(tenant, stream)
    }

    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture {
        let watermark = match &commit {
            CursorCommit::Full(cursor) => cursor.watermark,
            CursorCommit::Delta(delta) => delta.watermark,
        };
        let committing = self.inner.commit(tenant, stream, commit);
        let committed = self.committed.clone();
        Box::pin(async move {
            committing.await?;
            committed.lock().insert(stream, watermark);
            Ok(())
        })
    }

    fn incremental(&self) -> bool {
        self.inner.incremental()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
