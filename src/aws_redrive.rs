//! `tally failed redrive --aws`: the page views the enrichment could not put on the bus, run
//! through it again.
//!
//! Two failure places hold a view that never reached the bus, with the enrichment's original
//! input: `FailedEventsQueue` (the `PageView.Failed` events) and the last resort
//! (`PREFIX-last-resort`). Each message's input starts a new execution of `PREFIX-enrich`; the
//! message is deleted only once the execution started. What cannot succeed stays, with why: an
//! input the enrichment refuses as no page view (`Tally.IncompleteInput`), a message without an
//! input, an execution that could not start. The other failure queues (rule targets'
//! dead-letter queues, the counters' on-failure queue) hold events already on the bus and are
//! left alone (`tally failed list --aws` shows them).

use anyhow::Context;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::Message;
use serde::Serialize;
use serde_json::Value;

use crate::aws_failed::{body_of, event_id_in, queues, receive, release};

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
    /// Executions started (their messages deleted).
    pub started: u64,
    /// Messages left where they were.
    pub kept: Vec<Kept>,
}

/// The AWS clients a redrive needs.
#[derive(Debug)]
pub struct Clients {
    /// For the failure queues.
    pub sqs: aws_sdk_sqs::Client,
    /// For the enrichment state machine.
    pub sfn: aws_sdk_sfn::Client,
}

/// Redrives the failed-events and last-resort queues of the stacks named `prefix`.
pub async fn redrive(clients: &Clients, prefix: &str) -> anyhow::Result<RedriveReport> {
    let machine = state_machine(&clients.sfn, prefix).await?;
    let mut report = RedriveReport::default();
    for url in queues(&clients.sqs, prefix).await? {
        let queue = url.rsplit('/').next().unwrap_or(&url).to_owned();
        if queue == format!("{prefix}-last-resort") || queue.contains("-FailedEventsQueue-") {
            redrive_queue(clients, &machine, &url, &queue, &mut report).await?;
        }
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
    machine: &str,
    url: &str,
    queue: &str,
    report: &mut RedriveReport,
) -> anyhow::Result<()> {
    let mut kept = Vec::new();
    loop {
        let batch = receive(&clients.sqs, url, queue).await?;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            match redrive_one(clients, machine, url, &message).await {
                Ok(()) => report.started += 1,
                Err(why) => {
                    let event_id = event_id_in(&body_of(&message));
                    report.kept.push(Kept {
                        queue: queue.to_owned(),
                        event_id,
                        why,
                    });
                    kept.push(message);
                }
            }
        }
    }
    release(&clients.sqs, url, &kept).await
}

/// Starts an execution with the message's input and deletes the message; or says why not.
async fn redrive_one(
    clients: &Clients,
    machine: &str,
    url: &str,
    message: &Message,
) -> Result<(), String> {
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
    clients
        .sqs
        .delete_message()
        .queue_url(url)
        .set_receipt_handle(message.receipt_handle.clone())
        .send()
        .await
        .map_err(|e| {
            // Not lost either way: the message comes back and runs again (the consumers are
            // idempotent per event_id).
            format!(
                "started, but the message could not be deleted: {}",
                short(&e)
            )
        })?;
    Ok(())
}

/// An SDK error as its code and message (or its display, for one that never reached AWS).
fn short<E: ProvideErrorMetadata + std::fmt::Display>(e: &E) -> String {
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
