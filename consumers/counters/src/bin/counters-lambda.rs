//! The counters' Lambda: each SQS batch of EventBridge page-view events (the counters' queue,
//! through its event source mapping with `ReportBatchItemFailures`) applied once per `event_id`
//! to the DynamoDB table named by `TALLY_COUNTERS_TABLE`, answering with the messages that
//! failed. Logs are JSON lines (one per batch, and one per failed message), and one CloudWatch
//! embedded-metric-format line per batch (`tally_counters::metrics`).

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tally_counters::Applied;
use tally_counters::dynamo::{DynamoCounters, handle};
use tally_counters::metrics::metrics;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_target(false)
        .with_current_span(false)
        .init();
    let store = DynamoCounters::from_env().await.inspect_err(|e| {
        tracing::error!(error = %e, "cannot start");
    })?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let started = Instant::now();
        let handled = handle(store, event.payload).await;
        let results: Vec<_> = handled.outcomes.iter().map(|(_, r)| r).collect();
        metrics(results.iter().copied()).emit(started);
        let counted = results
            .iter()
            .filter(|r| matches!(r, Ok(Applied::Counted { .. })))
            .count();
        for (message_id, result) in &handled.outcomes {
            if let Err(e) = result {
                tracing::error!(message_id, permanent = e.is_permanent(), error = %e, "not applied");
            }
        }
        tracing::info!(
            messages = results.len(),
            counted,
            failed = handled.response.batch_item_failures.len(),
            "batch"
        );
        Ok::<SqsBatchResponse, Error>(handled.response)
    }))
    .await
}
