//! The Step Functions `events:putEvents` integration, onto the local bus; and the enrichment's
//! other task, `sqs:sendMessage`, onto its local last-resort queue.

use serde_json::Value;
use tally_bus::local::{LocalBus, PutEventsError, PutEventsRequestEntry, Ticket};
use tally_states::{TaskContext, TaskError, TaskHandler};

use super::send_message::{LocalQueue, SEND_MESSAGE, no_queue};

/// The optimized EventBridge integration's resource.
pub const PUT_EVENTS: &str = "arn:aws:states:::events:putEvents";

/// The error of a request EventBridge refuses as a whole.
pub const REFUSED: &str = "EventBridge.AmazonEventBridgeException";

/// Runs `arn:aws:states:::events:putEvents` tasks against a [`LocalBus`], as Step Functions'
/// optimized integration does against EventBridge:
///
/// - `Detail` may be a JSON object; it is sent as JSON text;
/// - the state machine's and the execution's ARNs are appended to each entry's `Resources`;
/// - a response with `FailedEntryCount > 0` fails the task with `EventBridge.FailedEntry`, whose
///   cause is the response;
/// - a request the API refuses as a whole fails with `EventBridge.AmazonEventBridgeException`, the
///   name Step Functions gives the service's own exceptions (its SDK's exception class), so the
///   definition's `Retry` treats a local refusal as it treats one on AWS.
///
/// It also runs `arn:aws:states:::sqs:sendMessage` (the enrichment's `SendLastResort`) onto the
/// [`LocalQueue`] given by [`PutEventsTask::last_resort`]; without one, the send fails with
/// `SQS.QueueDoesNotExistException` and the message in its cause, so the execution's failure
/// still holds it.
#[derive(Debug)]
pub struct PutEventsTask<'a> {
    bus: &'a LocalBus,
    ticket: Option<Ticket>,
    last_resort: Option<&'a LocalQueue>,
}

impl<'a> PutEventsTask<'a> {
    /// A handler putting onto `bus`.
    pub fn new(bus: &'a LocalBus) -> Self {
        Self {
            bus,
            ticket: None,
            last_resort: None,
        }
    }

    /// A handler putting onto `bus` whose every delivery holds `ticket` (see
    /// [`LocalBus::put_with_ticket`]).
    pub fn with_ticket(bus: &'a LocalBus, ticket: Ticket) -> Self {
        Self {
            bus,
            ticket: Some(ticket),
            last_resort: None,
        }
    }

    /// This handler, sending `sqs:sendMessage` tasks to `queue`.
    pub fn last_resort(mut self, queue: &'a LocalQueue) -> Self {
        self.last_resort = Some(queue);
        self
    }

    /// Whether this handler runs `resource`: for `Definition::load`.
    pub fn handles(resource: &str) -> bool {
        resource == PUT_EVENTS || resource == SEND_MESSAGE
    }
}

impl TaskHandler for PutEventsTask<'_> {
    fn call(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext<'_>,
    ) -> Result<Value, TaskError> {
        if resource == SEND_MESSAGE {
            return match self.last_resort {
                Some(queue) => queue.send(&parameters),
                None => Err(no_queue(
                    parameters["QueueUrl"].as_str().unwrap_or_default(),
                    &parameters["MessageBody"],
                )),
            };
        }
        if resource != PUT_EVENTS {
            return Err(TaskError::new(
                "States.TaskFailed",
                format!("no local handler for {resource}"),
            ));
        }
        let invalid = |why: String| TaskError::new(REFUSED, why);
        let Some(Value::Array(raw)) = parameters.get("Entries") else {
            return Err(invalid("parameter Entries must be an array".into()));
        };
        let mut entries = Vec::with_capacity(raw.len());
        for (i, raw) in raw.iter().enumerate() {
            let mut raw = raw.clone();
            if let Some(detail) = raw.get_mut("Detail").filter(|d| !d.is_string()) {
                *detail = Value::String(detail.to_string());
            }
            let mut entry: PutEventsRequestEntry = serde_json::from_value(raw)
                .map_err(|e| invalid(format!("entry {i} is not a PutEvents entry: {e}")))?;
            let resources = entry.resources.get_or_insert_with(Vec::new);
            resources.push(ctx.state_machine_arn.to_owned());
            resources.push(ctx.execution_arn.to_owned());
            entries.push(entry);
        }
        let response = self
            .bus
            .put_events_with_ticket(&entries, self.ticket.as_ref())
            .map_err(|e: PutEventsError| invalid(e.to_string()))?;
        let json = serde_json::to_value(&response).unwrap_or_default();
        if response.failed_entry_count > 0 {
            return Err(TaskError::new("EventBridge.FailedEntry", json.to_string()));
        }
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use tally_bus::local::BusConfig;

    use super::*;

    /// A refused request raises what the definition retries: the local runner and Step
    /// Functions take the same path through `PutPageView`.
    #[test]
    fn a_refused_request_raises_the_error_the_definition_retries() {
        let bus = LocalBus::builder(BusConfig::new("tally", "000000000000", "local"))
            .build()
            .unwrap();
        bus.shutdown(); // every request is refused now
        let context = json!({});
        let ctx = TaskContext {
            execution_arn: "arn:aws:states:local:000000000000:execution:enrich:x",
            state_machine_arn: "arn:aws:states:local:000000000000:stateMachine:enrich",
            state_name: "PutPageView",
            retry_count: 0,
            context_object: &context,
        };
        let entries = json!({"Entries": [{"EventBusName": "tally", "Source": "tally",
            "DetailType": "PageView", "Detail": {}}]});
        let err = PutEventsTask::new(&bus)
            .call(PUT_EVENTS, entries, &ctx)
            .unwrap_err();
        assert_eq!(err.error, REFUSED);
        let asl: Value = serde_json::from_str(crate::serve::feed::ENRICH_ASL).unwrap();
        let retried = &asl["States"]["PutPageView"]["Retry"][0]["ErrorEquals"];
        assert!(
            retried.as_array().unwrap().contains(&json!(err.error)),
            "PutPageView retries {retried}, not {}",
            err.error
        );
    }
}
