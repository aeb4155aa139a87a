//! Cursors in memory: for tests, and for test doubles that fail on purpose.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::{CheckpointError, CheckpointStore, CommitFuture, CursorCommit};
use crate::config::TenantId;
use crate::graph::cursor::Cursor;
use crate::stream::StreamKind;

#[derive(Default)]
pub struct MemoryStore {
    cursors: Mutex<HashMap<(TenantId, StreamKind), Cursor>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    pub fn get(&self, tenant: &TenantId, stream: StreamKind) -> Option<Cursor> {
        self.cursors.lock().get(&(tenant.clone(), stream)).cloned()
    }
}

impl CheckpointStore for MemoryStore {
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        Ok(self.get(tenant, stream))
    }

    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture {
        let mut cursors = self.cursors.lock();
        let outcome = match commit {
            CursorCommit::Full(cursor) => {
                cursors.insert((tenant.clone(), stream), cursor);
                Ok(())
            }
            CursorCommit::Delta(delta) => match cursors.get_mut(&(tenant.clone(), stream)) {
                Some(cursor) => {
                    cursor.apply(&delta);
                    Ok(())
                }
                None => Err(CheckpointError::Unusable(format!(
                    "a delta for tenant {tenant} stream {stream} before any cursor was committed"
                ))),
            },
        };
        Box::pin(std::future::ready(outcome))
    }

    fn incremental(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}
