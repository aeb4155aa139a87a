//! What `check` asks the cluster besides metadata: broker settings, through the admin API.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use super::client_config;
use crate::config::KafkaConfig;

/// Whether the brokers create a topic at its first record (`auto.create.topics.enable`), and with
/// how many partitions (`num.partitions`), as broker `broker_id` reports them. Reading them needs
/// DESCRIBE_CONFIGS on the cluster.
pub async fn auto_created_topics(
    config: &KafkaConfig,
    broker_id: i32,
    timeout: Duration,
) -> Result<(bool, Option<String>), String> {
    let admin: AdminClient<DefaultClientContext> = client_config(config)?
        .create()
        .map_err(|error| format!("cannot create a Kafka admin client: {error}"))?;
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = admin
        .describe_configs([&ResourceSpecifier::Broker(broker_id)], &options)
        .await
        .map_err(|error| error.to_string())?;
    let resource = results
        .into_iter()
        .next()
        .ok_or_else(|| "the broker sent no configuration".to_owned())?
        .map_err(|code| code.to_string())?;
    let value = |key: &str| resource.get(key).and_then(|entry| entry.value.clone());
    // librdkafka reports a refused resource as one without entries
    let enabled = value("auto.create.topics.enable").ok_or_else(|| {
        "the broker did not report auto.create.topics.enable (the principal may not describe the \
         cluster's configuration)"
            .to_owned()
    })?;
    Ok((enabled == "true", value("num.partitions")))
}
