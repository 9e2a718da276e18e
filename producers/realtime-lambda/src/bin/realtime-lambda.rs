//! The real-time log producer's Lambda: Kinesis batches of CloudFront real-time log records in,
//! enrichment executions started, partial batch failures out. Configured by its environment
//! (`TALLY_REALTIME_FIELDS`, `TALLY_STATE_MACHINE_ARN`, `TALLY_FAILURE_QUEUE_URL`, optional
//! `TALLY_SITE`, `TALLY_CONCURRENCY`, `TALLY_SALTS_TABLE`, `TALLY_EVENT_ID_KEY`); logs are JSON lines, one summary per batch,
//! and one CloudWatch embedded-metric-format line per batch (`Summary::metrics`).

use std::time::Instant;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tally_realtime_lambda::salts::dynamo::DynamoSalts;
use tally_realtime_lambda::sfn::Sfn;
use tally_realtime_lambda::sqs::Sqs;
use tally_realtime_lambda::{RealtimeConfig, handle_with_salts};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_target(false)
        .with_current_span(false)
        .init();
    let config = RealtimeConfig::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "cannot start");
    })?;
    let aws = aws_config::load_from_env().await;
    let enrichment = Sfn::new(
        aws_sdk_sfn::Client::new(&aws),
        config.sink.state_machine_arn.clone(),
    );
    let failures = Sqs::new(
        aws_sdk_sqs::Client::new(&aws),
        config.sink.failure_queue_url.clone(),
    );
    let salts = config
        .sink
        .salts_table
        .clone()
        .map(|table| DynamoSalts::new(aws_sdk_dynamodb::Client::new(&aws), table));
    let salts = &salts;
    let (config, enrichment, failures) = (&config, &enrichment, &failures);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move {
            let started = Instant::now();
            let (response, summary) =
                handle_with_salts(config, enrichment, failures, salts, &event.payload).await;
            summary.metrics().emit(started);
            tracing::info!(
                records = summary.records,
                started = summary.started,
                rejected = summary.rejected,
                retried = summary.retried,
                skipped = ?summary.skipped,
                failed = ?summary.failed,
                "batch"
            );
            Ok::<KinesisEventResponse, Error>(response)
        },
    ))
    .await
}
