//! One Kinesis batch: records in, executions started, failures sorted into "keep with the
//! reason" and "let the stream retry".

use std::collections::BTreeMap;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use serde::Serialize;
use tally_logs::{Importer, NotAView, skip_key};

use chrono::Utc;
use tally_lambda_sink::salts::{DaySalts, NoSalts, SaltStore};
use tally_lambda_sink::{Enrichment, FailureSink, start_all};
use tally_metrics::Invocation;

use crate::config::RealtimeConfig;
use crate::redact::redact;
use crate::rejected::RejectedRecord;

/// What a batch came to, for the function's log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the batch.
    pub records: usize,
    /// Page views whose execution started.
    pub started: usize,
    /// Records that are not page views, by reason (`not_a_page`, `status_4xx`…).
    pub skipped: BTreeMap<String, usize>,
    /// Records sent to the failure queue with their reason.
    pub rejected: usize,
    /// Records handed back to the stream to be retried (reported as batch item failures).
    pub retried: usize,
    /// Records rejected or retried, by reason: the rejection's key (`malformed`, `bad_time`,
    /// `no_request_id`…; kept in the failure queue) or the call that failed (`start_execution`,
    /// `failure_queue`; retried).
    pub failed: BTreeMap<String, usize>,
}

/// The function's name in its metrics (the `Function` dimension).
pub const FUNCTION: &str = "realtime-logs";

impl Summary {
    /// The batch's metrics: views started, skips and failures by reason.
    pub fn metrics(&self) -> Invocation {
        Invocation::from_counts(FUNCTION, self.started, &self.skipped, &self.failed)
    }

    fn fail(&mut self, reason: &str) {
        *self.failed.entry(reason.to_owned()).or_default() += 1;
    }
}

/// What one record asks for.
enum Step {
    Start {
        name: String,
        input: String,
    },
    Skip(String),
    /// The reason's key (for the metrics) and the whole reason.
    Reject(&'static str, String),
}

/// Handles one batch: every page view starts an execution of the enrichment machine, every record
/// that can never be one goes to `failures` with its reason (and is done with), and every record
/// whose execution or failure message could not be sent is in the response's
/// `batchItemFailures`, by sequence number, so Lambda retries from there.
pub async fn handle<E: Enrichment, F: FailureSink<RejectedRecord>>(
    config: &RealtimeConfig,
    enrichment: &E,
    failures: &F,
    event: &KinesisEvent,
) -> (KinesisEventResponse, Summary) {
    handle_with_salts(config, enrichment, failures, &NoSalts, event).await
}

/// [`handle`], with the visitor hash of every view keyed by the daily salts of `salts`. Salts
/// that cannot be read leave the views without a visitor hash, counted as a failure
/// (`visitor_salt`) in the metrics.
pub async fn handle_with_salts<E: Enrichment, F: FailureSink<RejectedRecord>, S: SaltStore>(
    config: &RealtimeConfig,
    enrichment: &E,
    failures: &F,
    salts: &S,
    event: &KinesisEvent,
) -> (KinesisEventResponse, Summary) {
    let mut summary = Summary {
        records: event.records.len(),
        ..Summary::default()
    };
    let salts = match salts.day_salts(Utc::now()).await {
        Ok(salts) => salts,
        Err(e) => {
            tracing::error!(error = %e, "no visitor hash: cannot read the day's salts");
            summary.fail("visitor_salt");
            DaySalts::default()
        }
    };
    let mut importer = Importer::new(config.import.clone())
        .with_daily_salts(Box::new(move |at| salts.salt_of(at)));
    let mut starts = Vec::new();
    let mut retry: Vec<&str> = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        let seq = record.kinesis.sequence_number.as_str();
        match step(config, &mut importer, record, i + 1) {
            Step::Start { name, input } => starts.push((seq, name, input)),
            Step::Skip(key) => *summary.skipped.entry(key).or_default() += 1,
            Step::Reject(key, reason) => {
                let rejected = rejected(config, record, reason);
                match failures.reject(&rejected).await {
                    Ok(()) => {
                        tracing::warn!(sequence_number = seq, reason = %rejected.reason, "rejected");
                        summary.rejected += 1;
                        summary.fail(key);
                    }
                    Err(e) => {
                        tracing::error!(sequence_number = seq, error = %e, "cannot keep a rejected record");
                        summary.fail("failure_queue");
                        retry.push(seq);
                    }
                }
            }
        }
    }
    for (seq, result) in start_all(enrichment, starts, config.sink.concurrency).await {
        match result {
            Ok(()) => summary.started += 1,
            Err(e) => {
                tracing::error!(sequence_number = seq, error = %e, "execution not started");
                summary.fail("start_execution");
                retry.push(seq);
            }
        }
    }
    summary.retried = retry.len();
    let mut response = KinesisEventResponse::default();
    response.set_failures(retry);
    (response, summary)
}

fn step(
    config: &RealtimeConfig,
    importer: &mut Importer,
    record: &KinesisEventRecord,
    number: usize,
) -> Step {
    let line = match config.fields.parse_record(&record.kinesis.data, number) {
        Ok(line) => line,
        Err(m) => return Step::Reject("malformed", format!("malformed: {}", m.reason)),
    };
    match importer.view(&line) {
        Ok(view) => match serde_json::to_string(&view) {
            Ok(input) => Step::Start {
                name: tally_edge::execution_name(&view.event_id),
                input,
            },
            Err(e) => Step::Reject("serialise", format!("cannot serialise the view: {e}")),
        },
        Err(NotAView::Skipped(reason)) => Step::Skip(skip_key(&reason)),
        Err(NotAView::Rejected { key, message }) => Step::Reject(key, format!("{key}: {message}")),
    }
}

fn rejected(
    config: &RealtimeConfig,
    record: &KinesisEventRecord,
    reason: String,
) -> RejectedRecord {
    RejectedRecord {
        reason,
        event_id: record.event_id.clone(),
        sequence_number: record.kinesis.sequence_number.clone(),
        event_source_arn: record.event_source_arn.clone(),
        redacted: redact(&record.kinesis.data, &config.fields),
    }
}
