//! The Lambda's handler: one SQS batch of EventBridge page-view events, applied together, and
//! the batch response naming only the messages that failed.
//!
//! The counters' rule targets an SQS queue; the event source mapping hands the function batches
//! with `ReportBatchItemFailures`. A message is reported failed when its body is no countable page
//! view (a poison message: it comes back until the queue's redrive policy moves it to the
//! dead-letter queue) or when its event could not be written (it comes back after the visibility
//! timeout and is tried again). Every other message is deleted by Lambda: its event was counted
//! now, or before (a duplicate).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;

use super::DynamoCounters;
use crate::{Applied, CountedView, CountersError, read_message};

/// What one batch did.
#[derive(Debug)]
pub struct Handled {
    /// For Lambda: the messages to keep, by message id.
    pub response: SqsBatchResponse,
    /// Each message's id and outcome, in the batch's order.
    pub outcomes: Vec<(String, Result<Applied, CountersError>)>,
}

/// Applies the batch's page views through `store` and says which messages failed.
pub async fn handle(store: &DynamoCounters, event: SqsEvent) -> Handled {
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|m| m.message_id.clone().unwrap_or_default())
        .collect();
    let read: Vec<Result<CountedView, CountersError>> = event
        .records
        .iter()
        .map(|m| read_message(m.body.as_deref().unwrap_or_default()))
        .collect();
    let views: Vec<CountedView> = read
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .cloned()
        .collect();
    let mut applied = store.apply_batch(&views, Utc::now()).await.into_iter();
    let mut response = SqsBatchResponse::default();
    let mut outcomes = Vec::with_capacity(ids.len());
    for (id, read) in ids.into_iter().zip(read) {
        let outcome = match read {
            Ok(_) => applied
                .next()
                .unwrap_or_else(|| Err(CountersError::Dynamo("not applied".into()))),
            Err(e) => Err(e),
        };
        if outcome.is_err() {
            response.add_failure(id.clone());
        }
        outcomes.push((id, outcome));
    }
    Handled { response, outcomes }
}
