//! Cursors in memory: for tests, and for test doubles that fail on purpose.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::{CheckpointError, CheckpointStore, CommitFuture};
use crate::graph::cursor::Cursor;
use crate::stream::StreamKind;

#[derive(Default)]
pub struct MemoryStore {
    cursors: Mutex<HashMap<(String, StreamKind), Cursor>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    pub fn get(&self, tenant: &str, stream: StreamKind) -> Option<Cursor> {
        self.cursors
            .lock()
            .get(&(tenant.to_owned(), stream))
            .cloned()
    }
}

impl CheckpointStore for MemoryStore {
    fn load(&self, tenant: &str, stream: StreamKind) -> Result<Option<Cursor>, CheckpointError> {
        Ok(self.get(tenant, stream))
    }

    fn commit(&self, tenant: &str, stream: StreamKind, cursor: Cursor) -> CommitFuture {
        self.cursors
            .lock()
            .insert((tenant.to_owned(), stream), cursor);
        Box::pin(std::future::ready(Ok(())))
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}
