//! A work queue's dead letter, sent to the work queue again.

use aws_sdk_sqs::types::Message;

use super::{Done, short};
use crate::aws_queues::name_of;

/// Sends the message's body to the work queue at `source`; or says why not. A message of the
/// counters' queue that the counters can never count stays.
pub(super) async fn send(
    sqs: &aws_sdk_sqs::Client,
    source: &str,
    message: &Message,
) -> Result<Done, String> {
    let body = message.body.clone().unwrap_or_default();
    let source_name = name_of(source);
    if source_name.contains("-CountersQueue-")
        && let Err(e) = tally_counters::read_message(&body)
    {
        return Err(format!("{e}: the counters would refuse it again"));
    }
    sqs.send_message()
        .queue_url(source)
        .message_body(body)
        .send()
        .await
        .map_err(|e| format!("cannot send it to {source_name}: {}", short(&e)))?;
    Ok(Done::SentBack)
}
