//! The depth of every queue of the stacks.

use anyhow::Context;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use super::sdk_error;
use crate::aws_queues::name_of;

/// One queue named `PREFIX-…`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueDepth {
    /// Its name.
    pub name: String,
    /// Messages waiting (`ApproximateNumberOfMessages`).
    pub messages: u64,
    /// Messages received and not yet deleted (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// A work queue (it has a redrive policy: its consumer reads it); any other queue is a
    /// failure place, where a message is a view that needs looking at.
    pub work_queue: bool,
}

/// Every queue named `PREFIX-…`, by name.
pub(crate) async fn read(client: &Client, prefix: &str) -> anyhow::Result<Vec<QueueDepth>> {
    let mut out = Vec::new();
    for url in crate::aws_failed::queues(client, prefix).await? {
        out.push(depth(client, &url).await?);
    }
    Ok(out)
}

async fn depth(client: &Client, url: &str) -> anyhow::Result<QueueDepth> {
    let name = name_of(url);
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("cannot read the attributes of {name}"))?
        .attributes
        .unwrap_or_default();
    let count = |a: QueueAttributeName| {
        attributes
            .get(&a)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    };
    Ok(QueueDepth {
        messages: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        work_queue: attributes.contains_key(&QueueAttributeName::RedrivePolicy),
        name,
    })
}
