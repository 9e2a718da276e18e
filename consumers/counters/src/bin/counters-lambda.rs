//! The counters' Lambda: each EventBridge page-view event, applied once to the DynamoDB table
//! named by `TALLY_COUNTERS_TABLE`. Logs are JSON lines (one object per event),
//! and one CloudWatch embedded-metric-format line per event (`tally_counters::metrics`).

use std::time::Instant;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
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
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            let id = event.payload.id.clone().unwrap_or_default();
            let event_id = event.payload.detail["event_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let started = Instant::now();
            let result = handle(store, event.payload).await;
            metrics(&result).emit(started);
            match result {
                Ok(applied) => {
                    let result = match applied {
                        Applied::Counted { .. } => "counted",
                        Applied::Duplicate => "duplicate",
                    };
                    tracing::info!(id, event_id, result, "applied");
                    Ok::<_, Error>(applied)
                }
                Err(e) => {
                    tracing::error!(id, event_id, permanent = e.is_permanent(), error = %e, "not applied");
                    Err(e.into())
                }
            }
        },
    ))
    .await
}
