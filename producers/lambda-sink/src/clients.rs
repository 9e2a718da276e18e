//! What a producer Lambda calls: the enrichment state machine and the failure queue, as traits so
//! the handlers run without a network in tests, and their AWS clients.

use std::future::Future;

use serde::Serialize;

/// A call that failed; every such failure may pass on a later try (throttling, a network error,
/// a service error), so the record is handed back to be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

/// Starts the enrichment of one page view.
pub trait Enrichment: Clone + Send + Sync + 'static {
    /// Starts an execution named `name` ([`tally_edge::execution_name`] of the view's
    /// `event_id`) whose input is `input` (an `EdgeView` as JSON).
    fn start(
        &self,
        name: String,
        input: String,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// Keeps records `R` that can never be page views, each with its reason.
pub trait FailureSink<R: Serialize + Sync>: Clone + Send + Sync + 'static {
    /// Sends one rejected record to the failure destination.
    fn reject(&self, record: &R) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// An SDK error with its sources, on one line.
pub fn error_text<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Step Functions: `StartExecution` on the Express enrichment machine.
pub mod sfn {
    use aws_sdk_sfn::operation::start_execution::StartExecutionError;

    use super::{CallError, Enrichment, error_text};

    /// The state machine client.
    #[derive(Debug, Clone)]
    pub struct Sfn {
        client: aws_sdk_sfn::Client,
        state_machine_arn: String,
    }

    impl Sfn {
        /// Executions of `state_machine_arn` through `client`.
        pub fn new(client: aws_sdk_sfn::Client, state_machine_arn: String) -> Self {
            Sfn {
                client,
                state_machine_arn,
            }
        }
    }

    impl Enrichment for Sfn {
        /// An execution of that name that exists already is this view started before (the
        /// name is derived from its `event_id`): done, not an error.
        async fn start(&self, name: String, input: String) -> Result<(), CallError> {
            let sent = self
                .client
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .name(name)
                .input(input)
                .send()
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(StartExecutionError::ExecutionAlreadyExists(_))
                    ) =>
                {
                    Ok(())
                }
                Err(e) => Err(CallError(format!("start execution: {}", error_text(&e)))),
            }
        }
    }
}

/// SQS: the failure queue.
pub mod sqs {
    use serde::Serialize;

    use super::{CallError, FailureSink, error_text};

    /// The failure queue client: each rejected record is one JSON message.
    #[derive(Debug, Clone)]
    pub struct Sqs {
        client: aws_sdk_sqs::Client,
        queue_url: String,
    }

    impl Sqs {
        /// Messages to `queue_url` through `client`.
        pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
            Sqs { client, queue_url }
        }
    }

    impl<R: Serialize + Sync> FailureSink<R> for Sqs {
        async fn reject(&self, record: &R) -> Result<(), CallError> {
            let body = serde_json::to_string(record)
                .map_err(|e| CallError(format!("cannot serialise the rejected record: {e}")))?;
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| CallError(format!("send to the failure queue: {}", error_text(&e))))
        }
    }
}
