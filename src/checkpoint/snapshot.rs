//! The kafka store's checkpoints read without claiming the lease: what `entrastream checkpoints`
//! lists and shows, and who holds the lease (which `rewind` and `reset` refuse to go past).

use std::collections::HashMap;
use std::time::Instant;

use super::CheckpointError;
use super::kafka::{
    Lease, cursor_key, delta_prefix, lease_key, load_from, metadata_client, read_records,
    release_key, topic_partitions, unusable,
};
use crate::clock::Timestamp;
use crate::config::{CheckpointConfig, KafkaConfig, TenantId};
use crate::graph::cursor::Cursor;
use crate::kafka::client_config;
use crate::stream::StreamKind;

/// The checkpoint topic's records of one `kafka.instance_id`, as read once.
pub struct KafkaSnapshot {
    topic: String,
    instance_id: String,
    /// Whether the topic exists (a missing one holds no checkpoint).
    pub topic_exists: bool,
    values: HashMap<String, Vec<u8>>,
    /// Each key's record timestamp, epoch milliseconds.
    timestamps: HashMap<String, i64>,
}

impl KafkaSnapshot {
    /// Reads the checkpoint topic to its end (read_committed), within `checkpoint.load_timeout`.
    /// Blocks.
    pub fn read(
        kafka: &KafkaConfig,
        checkpoint: &CheckpointConfig,
    ) -> Result<KafkaSnapshot, CheckpointError> {
        let deadline = Instant::now() + checkpoint.load_timeout;
        let client = client_config(kafka).map_err(unusable)?;
        let topic = checkpoint.topic.clone();
        let partitions = topic_partitions(&metadata_client(&client)?, &topic, deadline)?;
        let (values, timestamps) = match partitions {
            Some(partitions) => read_records(&client, &topic, partitions, deadline)?,
            None => Default::default(),
        };
        Ok(KafkaSnapshot {
            topic,
            instance_id: kafka.instance_id.clone(),
            topic_exists: partitions.is_some(),
            values,
            timestamps,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The lease of an instance that claimed the checkpoints and has not released them: one
    /// that runs, or one that was killed before it could say it stopped.
    pub fn holder(&self) -> Option<Lease> {
        let lease: Lease =
            serde_json::from_slice(self.values.get(&lease_key(&self.instance_id))?).ok()?;
        let released = self
            .values
            .contains_key(&release_key(&self.instance_id, &lease.generation));
        (!released).then_some(lease)
    }

    /// The stream's cursor, its deltas applied, checked as a start-up load checks it.
    pub fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        load_from(&self.values, &self.topic, &self.instance_id, tenant, stream)
            .map(|loaded| loaded.map(|(cursor, _)| cursor))
    }

    /// When the stream last committed: the latest timestamp of its cursor and delta records.
    pub fn last_commit(&self, tenant: &TenantId, stream: StreamKind) -> Option<Timestamp> {
        let key = cursor_key(&self.instance_id, tenant, stream);
        let prefix = delta_prefix(&self.instance_id, tenant, stream);
        self.timestamps
            .iter()
            .filter(|(name, _)| **name == key || name.starts_with(&prefix))
            .map(|(_, millis)| *millis)
            .max()
            .map(Timestamp::from_millis)
    }

    /// The tenants and streams of this instance that have a cursor or deltas in the topic.
    pub fn stored(&self) -> Vec<(String, StreamKind)> {
        let cursors = format!("cursor/{}/", self.instance_id);
        let deltas = format!("cursor-delta/{}/", self.instance_id);
        let mut found: Vec<(String, StreamKind)> = self
            .values
            .keys()
            .filter_map(|key| {
                let rest = key
                    .strip_prefix(&cursors)
                    .or_else(|| key.strip_prefix(&deltas))?;
                let mut parts = rest.split('/');
                let tenant = parts.next()?;
                let stream = parts.next()?.parse::<StreamKind>().ok()?;
                Some((tenant.to_owned(), stream))
            })
            .collect();
        found.sort();
        found.dedup();
        found
    }
}
