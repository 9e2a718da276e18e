//! `tally failed list --aws`: every failure place of a deployed Tally, read without consuming.
//!
//! The stacks' failure places are SQS queues whose names start with the stack prefix
//! (CloudFormation names a queue `STACK-LOGICALID-SUFFIX`, and the last-resort queue is
//! `PREFIX-last-resort`), told apart in `aws_queues`: each rule target's dead-letter queue,
//! `FailedEventsQueue` (the `PageView.Failed` events), the counters' dead-letter queue, the
//! enrichment's last resort and the log producers' failure queues; a work queue
//! (`CountersQueue`) is not one and is not read. Each message is received with a short
//! visibility timeout and made visible again at once ([`RELEASE`]), so listing takes nothing
//! away.

use anyhow::Context;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
};
use serde::Serialize;
use serde_json::Value;

use crate::aws_queues::{FailureQueue, Kind, failure_queues, name_of};

/// Seconds a listed message stays hidden if the release after it fails.
pub const HIDE: i32 = 30;

/// The visibility a listed message is given back: visible again at once.
pub const RELEASE: i32 = 0;

/// One message in a failure place, and why it is there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedMessage {
    /// The queue's name.
    pub queue: String,
    /// When it was sent to the queue (RFC 3339), if SQS says.
    pub sent_at: Option<String>,
    /// The page view's `event_id`, where the message holds one.
    pub event_id: Option<String>,
    /// Why it failed, as the message or its attributes say.
    pub reason: String,
    /// The body, parsed when it is JSON.
    pub body: Value,
}

/// Lists the messages of every failure queue whose name starts with `PREFIX-`, leaving them in
/// place.
pub async fn list(client: &Client, prefix: &str) -> anyhow::Result<Vec<FailedMessage>> {
    let mut out = Vec::new();
    for queue in failure_queues(client, prefix).await? {
        out.extend(peek(client, &queue).await?);
    }
    Ok(out)
}

/// The URLs of the queues named `PREFIX-…`.
pub(crate) async fn queues(client: &Client, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut urls = Vec::new();
    let mut pages = client
        .list_queues()
        .queue_name_prefix(format!("{prefix}-"))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
            .with_context(|| format!("cannot list the queues named {prefix}-*"))?;
        urls.extend(page.queue_urls.unwrap_or_default());
    }
    urls.sort();
    Ok(urls)
}

/// Every message of `queue`, each made visible again once all were received.
async fn peek(client: &Client, queue: &FailureQueue) -> anyhow::Result<Vec<FailedMessage>> {
    let mut messages = Vec::new();
    loop {
        let batch = receive(client, &queue.url, &queue.name).await?;
        if batch.is_empty() {
            break;
        }
        messages.extend(batch);
    }
    release(client, &queue.url, &messages).await?;
    Ok(messages.iter().map(|m| describe(queue, m)).collect())
}

/// Up to 10 messages of the queue `queue` at `url`, hidden for [`HIDE`] seconds, with their
/// send time and attributes (none: the queue is empty, or all of it is hidden).
pub(crate) async fn receive(
    client: &Client,
    url: &str,
    queue: &str,
) -> anyhow::Result<Vec<Message>> {
    let received = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(HIDE)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
        .with_context(|| format!("cannot read the queue {queue}"))?;
    Ok(received.messages.unwrap_or_default())
}

/// Makes `messages` visible again.
pub(crate) async fn release(
    client: &Client,
    url: &str,
    messages: &[Message],
) -> anyhow::Result<()> {
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .visibility_timeout(RELEASE)
                    .build()
                    .ok()
            })
            .collect();
        client
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
            .with_context(|| format!("cannot make the listed messages of {url} visible again (they are, {HIDE} s after the listing)"))?;
    }
    Ok(())
}

/// A message's body, parsed when it is JSON.
pub(crate) fn body_of(message: &Message) -> Value {
    let text = message.body.as_deref().unwrap_or_default();
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// What one message of `queue` says about itself (or, in a work queue's dead-letter queue, what
/// its consumer would say of it).
pub fn describe(queue: &FailureQueue, message: &Message) -> FailedMessage {
    let body = body_of(message);
    let attribute = |name: &str| {
        message
            .message_attributes
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value.clone())
    };
    let reason = match (attribute("ERROR_CODE"), attribute("ERROR_MESSAGE")) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code,
        _ => match &queue.kind {
            Kind::DeadLetterOf { source } => {
                dead_letter_reason(source, message.body.as_deref().unwrap_or_default())
            }
            Kind::Failures => reason_in(&body),
        },
    };
    let sent_at = message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339());
    FailedMessage {
        queue: queue.name.clone(),
        sent_at,
        event_id: event_id_in(&body),
        reason,
        body,
    }
}

/// Why a message moved from the work queue at `source` to its dead-letter queue: its consumer
/// received it as often as the redrive policy allows without applying it. For the counters'
/// queue, the counters' own reading of it says whether it can ever be counted.
pub(crate) fn dead_letter_reason(source: &str, body: &str) -> String {
    let source = name_of(source);
    let moved = format!("not applied in the receives {source}'s redrive policy allows");
    if !source.contains("-CountersQueue-") {
        return moved;
    }
    match tally_counters::read_message(body) {
        Err(e) => format!("{moved}: {e}"),
        Ok(_) => format!(
            "{moved}: a countable page view whose writes failed (the counters function's log says why)"
        ),
    }
}

/// The reason a body gives: a `PageView.Failed` event's error and cause, a last-resort
/// message's (both errors), a Lambda on-failure record's condition and error message.
fn reason_in(body: &Value) -> String {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let pair = |error: &Value, cause: &Value| match (s(error), s(cause)) {
        (Some(e), Some(c)) => Some(format!("{e}: {c}")),
        (Some(e), None) => Some(e),
        _ => None,
    };
    let detail = &body["detail"];
    let last_resort = pair(&body["error"], &body["cause"]).map(|first| {
        match pair(&body["dead_letter_error"], &body["dead_letter_cause"]) {
            Some(then) => format!("{first}; then the dead letter: {then}"),
            None => first,
        }
    });
    pair(&detail["error"], &detail["cause"])
        .or(last_resort)
        .or_else(|| {
            let condition = s(&body["requestContext"]["condition"])?;
            let message = s(&body["responsePayload"]["errorMessage"]).unwrap_or_default();
            Some(format!("{condition}: {message}"))
        })
        .unwrap_or_else(|| "no reason in the message".to_owned())
}

/// The page view's `event_id` in a body: the event's detail, a Lambda on-failure record's
/// request, or the enrichment's input (a JSON string in `PageView.Failed` and last-resort
/// messages).
pub(crate) fn event_id_in(body: &Value) -> Option<String> {
    let input = |v: &Value| {
        v.as_str()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .or_else(|| v.is_object().then(|| v.clone()))
    };
    [
        body["detail"]["event_id"].clone(),
        body["requestPayload"]["detail"]["event_id"].clone(),
        input(&body["detail"]["input"]).unwrap_or_default()["event_id"].clone(),
        input(&body["input"]).unwrap_or_default()["event_id"].clone(),
    ]
    .into_iter()
    .find_map(|v| v.as_str().map(str::to_owned))
}
