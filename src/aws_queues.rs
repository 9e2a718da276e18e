//! The failure places of a deployed Tally: its SQS queues, each told apart by what SQS says of
//! it.
//!
//! Every queue named `PREFIX-…` is one of: a **work queue** (it has a redrive policy: its
//! consumer reads it, what fails moves on; `CountersQueue`), not a failure place and never read
//! here; the **dead-letter queue of a work queue** (SQS lists its source queues:
//! `CountersDeadLetterQueue`); or another failure place (a rule target's dead-letter queue,
//! `FailedEventsQueue`, the last resort, a log producer's failure queue), whose messages say
//! what they are.

use anyhow::Context;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

/// What a queue is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The dead-letter queue of the work queue at `source` (its URL).
    DeadLetterOf {
        /// The work queue's URL.
        source: String,
    },
    /// Any other failure place.
    Failures,
}

/// A failure queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureQueue {
    /// Its URL.
    pub url: String,
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: Kind,
}

/// The last part of a queue URL: its name.
pub fn name_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

/// The failure queues named `PREFIX-…`, by URL; work queues left out.
pub async fn failure_queues(client: &Client, prefix: &str) -> anyhow::Result<Vec<FailureQueue>> {
    let mut out = Vec::new();
    for url in crate::aws_failed::queues(client, prefix).await? {
        if is_work_queue(client, &url).await? {
            continue;
        }
        let kind = match dead_letter_source(client, &url).await? {
            Some(source) => Kind::DeadLetterOf { source },
            None => Kind::Failures,
        };
        let name = name_of(&url);
        out.push(FailureQueue { url, name, kind });
    }
    Ok(out)
}

fn sqs_err<E: std::error::Error + Send + Sync + 'static>(
    e: aws_sdk_sqs::error::SdkError<E>,
) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e))
}

/// Whether the queue at `url` has a redrive policy.
async fn is_work_queue(client: &Client, url: &str) -> anyhow::Result<bool> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(sqs_err)
        .with_context(|| format!("cannot read the attributes of {}", name_of(url)))?;
    Ok(attributes
        .attributes
        .is_some_and(|a| a.contains_key(&QueueAttributeName::RedrivePolicy)))
}

/// The work queue whose dead-letter queue is at `url`, if it is one.
async fn dead_letter_source(client: &Client, url: &str) -> anyhow::Result<Option<String>> {
    let sources = client
        .list_dead_letter_source_queues()
        .queue_url(url)
        .send()
        .await
        .map_err(sqs_err)
        .with_context(|| format!("cannot list the source queues of {}", name_of(url)))?;
    Ok(sources.queue_urls.into_iter().next())
}
