//! The standard-log producer's Lambda: S3 object-created notifications of CloudFront standard
//! log objects in, enrichment executions started. Configured by its environment
//! (`TALLY_STATE_MACHINE_ARN`, `TALLY_FAILURE_QUEUE_URL`, optional `TALLY_SITE`,
//! `TALLY_LOG_FORMAT`, `TALLY_CONCURRENCY`); logs are JSON lines, one summary per event, and
//! one CloudWatch embedded-metric-format line per event (`Summary::metrics`). An
//! error return makes Lambda retry the event (asynchronous invocation), then send it to the
//! function's on-failure destination.

use std::time::Instant;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tally_standard_logs_lambda::s3::S3;
use tally_standard_logs_lambda::salts::dynamo::DynamoSalts;
use tally_standard_logs_lambda::sfn::Sfn;
use tally_standard_logs_lambda::sqs::Sqs;
use tally_standard_logs_lambda::{StandardConfig, handle_with_salts};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_target(false)
        .with_current_span(false)
        .init();
    let config = StandardConfig::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "cannot start");
    })?;
    let aws = aws_config::load_from_env().await;
    let objects = S3::new(aws_sdk_s3::Client::new(&aws));
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
    let (config, objects, enrichment, failures) = (&config, &objects, &enrichment, &failures);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let started = Instant::now();
        let result =
            handle_with_salts(config, objects, enrichment, failures, salts, &event.payload).await;
        let summary = match &result {
            Ok(summary) => summary,
            Err(e) => &e.summary,
        };
        summary.metrics().emit(started);
        tracing::info!(
            objects = summary.objects,
            records = summary.records,
            started = summary.started,
            rejected = summary.rejected,
            skipped = ?summary.skipped,
            failed = ?summary.failed,
            "event"
        );
        result.map(|_| ()).map_err(Error::from)
    }))
    .await
}
