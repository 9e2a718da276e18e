//! `tally failed redrive --aws`: what the failure places hold, put back where it can now
//! succeed.
//!
//! Per failure queue (`aws_queues`), each message goes back the way it came:
//!
//! - `FailedEventsQueue` (the `PageView.Failed` events) and the last resort
//!   (`PREFIX-last-resort`) hold views that never reached the bus, with the enrichment's original
//!   input: a new execution of `PREFIX-enrich` each;
//! - a work queue's dead-letter queue (`CountersDeadLetterQueue`) holds messages its consumer
//!   could not apply: each is sent to the work queue again (for the counters, only a message the
//!   counters can count, `tally_counters::read_message`);
//! - a message with EventBridge's `RULE_ARN` attribute (a rule target's dead-letter queue) holds
//!   an event the rule could not deliver: it is put on the bus again as that rule takes it
//!   (`bus.rs`).
//!
//! A message is deleted only once it was put back. What cannot succeed stays, visible again,
//! with why: an input the enrichment refuses as no page view (`Tally.IncompleteInput`), a
//! message the counters can never count, an event no declared rule takes, a log producer's
//! rejection (a record that is no page view), a call that failed.

use anyhow::Context;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::Message;
use serde::Serialize;
use serde_json::Value;

mod back;
mod bus;

use crate::aws_failed::{body_of, event_id_in, receive, release};
use crate::aws_queues::{FailureQueue, Kind, failure_queues};

/// The error of an input that cannot be a page view: running it again fails the same way.
pub const INCOMPLETE_INPUT: &str = "Tally.IncompleteInput";

/// A message left in its queue, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The queue's name.
    pub queue: String,
    /// The page view's `event_id`, where the message holds one.
    pub event_id: Option<String>,
    /// Why it was not redriven.
    pub why: String,
}

/// What [`redrive`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedriveReport {
    /// Executions of the enrichment started (their messages deleted).
    pub started: u64,
    /// Messages sent to their work queue again (deleted from its dead-letter queue).
    pub sent_back: u64,
    /// Events put on the bus again (deleted from their rule's dead-letter queue).
    pub re_put: u64,
    /// Messages left where they were.
    pub kept: Vec<Kept>,
}

/// What was done with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Started,
    SentBack,
    RePut,
}

/// The AWS clients a redrive needs.
#[derive(Debug)]
pub struct Clients {
    /// For the failure queues.
    pub sqs: aws_sdk_sqs::Client,
    /// For the enrichment state machine.
    pub sfn: aws_sdk_sfn::Client,
    /// For the bus.
    pub events: aws_sdk_eventbridge::Client,
}

/// The way back of the messages of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// A new execution of the enrichment state machine (its ARN).
    Enrichment(String),
    /// The work queue at this URL.
    WorkQueue(String),
    /// The bus, for messages that name their rule; others are kept.
    Bus,
}

/// Redrives every failure queue of the stacks named `prefix`.
pub async fn redrive(clients: &Clients, prefix: &str) -> anyhow::Result<RedriveReport> {
    let mut machine = None;
    let mut report = RedriveReport::default();
    for queue in failure_queues(&clients.sqs, prefix).await? {
        let route = match &queue.kind {
            Kind::DeadLetterOf { source } => Route::WorkQueue(source.clone()),
            Kind::Failures
                if queue.name == format!("{prefix}-last-resort")
                    || queue.name.contains("-FailedEventsQueue-") =>
            {
                if machine.is_none() {
                    machine = Some(state_machine(&clients.sfn, prefix).await?);
                }
                Route::Enrichment(machine.clone().unwrap_or_default())
            }
            Kind::Failures => Route::Bus,
        };
        redrive_queue(clients, &route, &queue, &mut report).await?;
    }
    Ok(report)
}

/// The ARN of the state machine `PREFIX-enrich`.
async fn state_machine(sfn: &aws_sdk_sfn::Client, prefix: &str) -> anyhow::Result<String> {
    let name = format!("{prefix}-enrich");
    let mut pages = sfn.list_state_machines().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sfn::error::DisplayErrorContext(&e)))
            .context("cannot list the state machines")?;
        if let Some(m) = page.state_machines.iter().find(|m| m.name == name) {
            return Ok(m.state_machine_arn.clone());
        }
    }
    anyhow::bail!("no state machine {name}: is the pipeline deployed with --stack-prefix {prefix}?")
}

/// Redrives every message of one queue; kept messages are made visible again.
async fn redrive_queue(
    clients: &Clients,
    route: &Route,
    queue: &FailureQueue,
    report: &mut RedriveReport,
) -> anyhow::Result<()> {
    let mut kept = Vec::new();
    loop {
        let batch = receive(&clients.sqs, &queue.url, &queue.name).await?;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            let done = match route {
                Route::Enrichment(machine) => start(clients, machine, &message).await,
                Route::WorkQueue(source) => back::send(&clients.sqs, source, &message).await,
                Route::Bus => re_put(clients, &message).await,
            };
            let deleted = match done {
                Ok(done) => delete(&clients.sqs, &queue.url, &message)
                    .await
                    .map(|()| done),
                Err(why) => Err(why),
            };
            match deleted {
                Ok(Done::Started) => report.started += 1,
                Ok(Done::SentBack) => report.sent_back += 1,
                Ok(Done::RePut) => report.re_put += 1,
                Err(why) => {
                    let event_id = event_id_in(&body_of(&message));
                    let queue = queue.name.clone();
                    report.kept.push(Kept {
                        queue,
                        event_id,
                        why,
                    });
                    kept.push(message);
                }
            }
        }
    }
    release(&clients.sqs, &queue.url, &kept).await
}

/// Puts a rule's dead letter on the bus again, as its rule takes it.
async fn re_put(clients: &Clients, message: &Message) -> Result<Done, String> {
    let Some(rule_arn) = bus::attribute(message, "RULE_ARN") else {
        return Err("no rule and no enrichment input: a record that is no page view, kept to be read (tally failed list --aws)".into());
    };
    let event = body_of(message);
    let re_put = bus::re_put(&rule_arn, &event)?;
    bus::put(&clients.events, &re_put)
        .await
        .map(|()| Done::RePut)
}

/// Deletes a message that was put back. If that fails it is not lost: it comes back, and runs
/// again (every consumer is idempotent per `event_id`).
async fn delete(sqs: &aws_sdk_sqs::Client, url: &str, message: &Message) -> Result<(), String> {
    sqs.delete_message()
        .queue_url(url)
        .set_receipt_handle(message.receipt_handle.clone())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "put back, but the message could not be deleted: {}",
                short(&e)
            )
        })
}

/// Starts an execution with the message's input; or says why not.
async fn start(clients: &Clients, machine: &str, message: &Message) -> Result<Done, String> {
    let body = body_of(message);
    let (error, input) = enrichment_failure(&body).ok_or("no enrichment input in the message")?;
    if error.as_deref() == Some(INCOMPLETE_INPUT) {
        return Err(format!(
            "{INCOMPLETE_INPUT}: the input cannot be a page view, running it again would fail the same way"
        ));
    }
    // Named after the message: a redrive that started it but could not delete the message
    // starts it again under the same name, which a standard workflow takes as the same start.
    let name = format!(
        "redrive-{}",
        message.message_id.as_deref().unwrap_or("message")
    );
    clients
        .sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name.chars().take(80).collect::<String>())
        .input(input)
        .send()
        .await
        .map_err(|e| format!("cannot start the enrichment: {}", short(&e)))?;
    Ok(Done::Started)
}

/// An SDK error as its code and message (or its display, for one that never reached AWS).
pub(crate) fn short<E: ProvideErrorMetadata + std::fmt::Display>(e: &E) -> String {
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    }
}

/// The enrichment's error and original input (a JSON text) in a `PageView.Failed` event or a
/// last-resort message.
pub fn enrichment_failure(body: &Value) -> Option<(Option<String>, String)> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let text = |v: &Value| match v {
        Value::String(t) => Some(t.clone()),
        Value::Object(_) => Some(v.to_string()),
        _ => None,
    };
    let detail = &body["detail"];
    if let Some(input) = text(&detail["input"]) {
        return Some((s(&detail["error"]), input));
    }
    text(&body["input"]).map(|input| (s(&body["error"]), input))
}
