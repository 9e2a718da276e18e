//! One S3 event: log objects in, executions started, poison lines kept with their reason, and
//! the invocation failed (so Lambda retries it) only for what may pass later.

use std::collections::BTreeMap;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use chrono::Utc;
use serde::Serialize;
use tally_lambda_sink::salts::{DaySalts, NoSalts, SaltStore};
use tally_lambda_sink::{Enrichment, FailureSink, start_all};
use tally_logs::{Importer, LogLine, NotAView, skip_key};
use tally_metrics::Invocation;

use crate::config::StandardConfig;
use crate::key::object_key;
use crate::objects::{GetError, Objects};
use crate::read::lines;
use crate::rejected::RejectedLine;

/// What an event came to, for the function's log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Objects read.
    pub objects: usize,
    /// Records read (header lines not counted).
    pub records: usize,
    /// Page views whose execution started.
    pub started: usize,
    /// Records that are not page views (and notifications that are not object creations), by
    /// reason.
    pub skipped: BTreeMap<String, usize>,
    /// Lines (or whole objects) sent to the failure queue with their reason.
    pub rejected: usize,
    /// Lines or objects rejected, and calls that failed, by reason: the rejection's key
    /// (`malformed`, `bad_time`…, `object_key`, `object`, `unreadable`; kept in the failure
    /// queue) or the call (`get_object`, `start_execution`, `failure_queue`; the event is
    /// retried).
    pub failed: BTreeMap<String, usize>,
}

/// The function's name in its metrics (the `Function` dimension).
pub const FUNCTION: &str = "standard-logs";

impl Summary {
    /// The event's metrics: views started, skips and failures by reason.
    pub fn metrics(&self) -> Invocation {
        Invocation::from_counts(FUNCTION, self.started, &self.skipped, &self.failed)
    }

    fn fail(&mut self, reason: &str) {
        *self.failed.entry(reason.to_owned()).or_default() += 1;
    }
}

/// Some calls failed and may pass later: the invocation fails, and Lambda's asynchronous
/// retries read the objects again (what was started already is started again under the same
/// `event_id`s, which the consumers dedupe). Once the retries are spent, the event goes to the
/// function's on-failure destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{failed} calls failed and may pass later, so the event is retried; the first: {first}")]
pub struct HandlerError {
    /// Calls that failed.
    pub failed: usize,
    /// The first of their errors.
    pub first: String,
    /// What was done regardless.
    pub summary: Summary,
}

/// What the handler talks to.
struct Clients<'a, O, E, F> {
    objects: &'a O,
    enrichment: &'a E,
    failures: &'a F,
    /// The visitor hash's salts of the days views are hashed for.
    salts: DaySalts,
}

/// Handles one S3 event: every page view of every created object starts an execution of the
/// enrichment machine; every line that can never be one, and every object that can never be
/// read, goes to `failures` with its reason. Calls that failed make it an error, after every
/// object was tried.
pub async fn handle<O: Objects, E: Enrichment, F: FailureSink<RejectedLine>>(
    config: &StandardConfig,
    objects: &O,
    enrichment: &E,
    failures: &F,
    event: &S3Event,
) -> Result<Summary, HandlerError> {
    handle_with_salts(config, objects, enrichment, failures, &NoSalts, event).await
}

/// [`handle`], with the visitor hash of every view keyed by the daily salts of `salts`. Salts
/// that cannot be read leave the views without a visitor hash, counted as failures
/// (`visitor_salt`) in the metrics.
pub async fn handle_with_salts<
    O: Objects,
    E: Enrichment,
    F: FailureSink<RejectedLine>,
    S: SaltStore,
>(
    config: &StandardConfig,
    objects: &O,
    enrichment: &E,
    failures: &F,
    salts: &S,
    event: &S3Event,
) -> Result<Summary, HandlerError> {
    let mut summary = Summary::default();
    let salts = match salts.day_salts(Utc::now()).await {
        Ok(salts) => salts,
        Err(e) => {
            tracing::error!(error = %e, "no visitor hash: cannot read the day's salts");
            summary.fail("visitor_salt");
            DaySalts::default()
        }
    };
    let clients = Clients {
        objects,
        enrichment,
        failures,
        salts,
    };
    let mut errors = Vec::new();
    for record in &event.records {
        object(config, &clients, record, &mut summary, &mut errors).await;
    }
    match errors.first() {
        None => Ok(summary),
        Some(first) => Err(HandlerError {
            failed: errors.len(),
            first: first.clone(),
            summary,
        }),
    }
}

/// One notification's object.
async fn object<O: Objects, E: Enrichment, F: FailureSink<RejectedLine>>(
    config: &StandardConfig,
    clients: &Clients<'_, O, E, F>,
    record: &S3EventRecord,
    summary: &mut Summary,
    errors: &mut Vec<String>,
) {
    if !record
        .event_name
        .as_deref()
        .is_some_and(|n| n.starts_with("ObjectCreated:"))
    {
        *summary
            .skipped
            .entry("not_object_created".into())
            .or_default() += 1;
        return;
    }
    let bucket = record.s3.bucket.name.clone().unwrap_or_default();
    let encoded = record.s3.object.key.clone().unwrap_or_default();
    let reject = |line, reason: &str| RejectedLine::new(&bucket, &encoded, line, reason);
    let key = match object_key(&encoded) {
        Ok(key) if !bucket.is_empty() && !key.is_empty() => key,
        Ok(_) => {
            let rejected = reject(None, "no bucket or key");
            return keep(clients.failures, ("object_key", rejected), summary, errors).await;
        }
        Err(e) => {
            let rejected = reject(None, &e);
            return keep(clients.failures, ("object_key", rejected), summary, errors).await;
        }
    };
    let reject = |line, reason: &str| RejectedLine::new(&bucket, &key, line, reason);
    let bytes = match clients.objects.get(&bucket, &key).await {
        Ok(bytes) => bytes,
        Err(GetError::Permanent(e)) => {
            return keep(
                clients.failures,
                ("object", reject(None, &e)),
                summary,
                errors,
            )
            .await;
        }
        Err(GetError::Failed(e)) => {
            summary.fail("get_object");
            return errors.push(format!("s3://{bucket}/{key}: {e}"));
        }
    };
    summary.objects += 1;
    let reader = match lines(bytes, config.format) {
        Ok(reader) => reader,
        Err(m) => {
            let rejected = ("unreadable", reject(None, &m.reason));
            return keep(clients.failures, rejected, summary, errors).await;
        }
    };
    let salts = clients.salts.clone();
    let mut importer = Importer::new(config.import.clone())
        .with_daily_salts(Box::new(move |at| salts.salt_of(at)));
    let mut starts = Vec::new();
    for item in reader {
        summary.records += 1;
        match item.map_err(|m| (m.line, format!("malformed: {}", m.reason))) {
            Ok(line) => match step(&mut importer, &line) {
                Step::Start { name, input } => starts.push((line.number, name, input)),
                Step::Skip(key) => *summary.skipped.entry(key).or_default() += 1,
                Step::Reject(why, reason) => {
                    keep(
                        clients.failures,
                        (why, reject(Some(line.number), &reason)),
                        summary,
                        errors,
                    )
                    .await;
                }
            },
            Err((number, reason)) => {
                keep(
                    clients.failures,
                    ("malformed", reject(Some(number), &reason)),
                    summary,
                    errors,
                )
                .await;
            }
        }
    }
    for (number, result) in start_all(clients.enrichment, starts, config.sink.concurrency).await {
        match result {
            Ok(()) => summary.started += 1,
            Err(e) => {
                tracing::error!(bucket, key, line = number, error = %e, "execution not started");
                summary.fail("start_execution");
                errors.push(format!("s3://{bucket}/{key} line {number}: {e}"));
            }
        }
    }
}

/// What one line asks for.
enum Step {
    Start {
        name: String,
        input: String,
    },
    Skip(String),
    /// The reason's key (for the metrics) and the whole reason.
    Reject(&'static str, String),
}

fn step(importer: &mut Importer, line: &LogLine) -> Step {
    match importer.view(line) {
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

/// Sends `rejected` to the failure queue, counted under its reason's key; when that fails, the
/// event must be retried.
async fn keep<F: FailureSink<RejectedLine>>(
    failures: &F,
    (why, rejected): (&str, RejectedLine),
    summary: &mut Summary,
    errors: &mut Vec<String>,
) {
    match failures.reject(&rejected).await {
        Ok(()) => {
            tracing::warn!(
                bucket = rejected.bucket,
                key = rejected.key,
                line = rejected.line,
                reason = rejected.reason,
                "rejected"
            );
            summary.rejected += 1;
            summary.fail(why);
        }
        Err(e) => {
            summary.fail("failure_queue");
            tracing::error!(bucket = rejected.bucket, key = rejected.key, error = %e, "cannot keep a rejected line");
            errors.push(format!("failure queue: {e}"));
        }
    }
}
