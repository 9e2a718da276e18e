//! The sink: `StartExecution` on the Express enrichment state machine, bounded in time.
//!
//! One client per container, built on first use: a current-thread tokio runtime and an
//! `aws-sdk-sfn` client with the configured connect and total timeouts and no retries, so one call
//! never takes longer than `total_timeout_ms`. Credentials come from the environment variables the
//! Lambda runtime sets for the execution role (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), read once when the client is built; nothing else is consulted, so no
//! profile file or instance-metadata probe can eat the budget.

use std::time::Duration;

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::error::SdkError;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use tally_edge::EdgeConfig;

/// Region used when the configuration names none: Lambda@Edge functions live in us-east-1.
pub const DEFAULT_REGION: &str = "us-east-1";

pub use tally_edge::{MAX_EXECUTION_NAME_CHARS as MAX_NAME_CHARS, execution_name};

/// Why a page view was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The configuration has no state machine.
    #[error("no state_machine_arn in the edge configuration")]
    NoStateMachine,
    /// The Lambda runtime's credential variables are missing.
    #[error("no credentials: {0} is not set")]
    Credentials(&'static str),
    /// The runtime could not be built.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(String),
    /// The view could not be serialised.
    #[error("cannot serialise the page view: {0}")]
    Json(#[from] serde_json::Error),
    /// The call did not finish within the budget.
    #[error("start execution timed out: {0}")]
    Timeout(String),
    /// The call failed.
    #[error("start execution failed: {0}")]
    Call(String),
}

/// What happened to a page view that was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// A new execution started.
    Started,
    /// An execution of that name exists (moto and Standard workflows say so; Express on AWS
    /// starts another one): the view was sent before.
    AlreadySent,
}

/// The state machine client, built once per container.
#[derive(Debug)]
pub struct Sink {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_sfn::Client,
    state_machine_arn: String,
}

impl Sink {
    /// Builds the runtime and the client; makes no call.
    pub fn new(config: &EdgeConfig) -> Result<Self, SinkError> {
        let state_machine_arn = config
            .state_machine_arn
            .clone()
            .ok_or(SinkError::NoStateMachine)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SinkError::Runtime(e.to_string()))?;
        let total = Duration::from_millis(config.total_timeout_ms);
        let connect = Duration::from_millis(config.connect_timeout_ms).min(total);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(connect)
            .read_timeout(total)
            .operation_attempt_timeout(total)
            .operation_timeout(total)
            .build();
        let region = config
            .region
            .as_deref()
            .unwrap_or(DEFAULT_REGION)
            .to_owned();
        let mut builder = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(lambda_credentials()?)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::disabled());
        if let Some(endpoint) = &config.endpoint_url {
            builder = builder.endpoint_url(endpoint);
        }
        // The client's HTTP connector and sleep implementation need the runtime's context.
        let client = {
            let _guard = runtime.enter();
            aws_sdk_sfn::Client::from_conf(builder.build())
        };
        Ok(Sink {
            runtime,
            client,
            state_machine_arn,
        })
    }

    /// Starts one execution whose input is `input` (the edge view's JSON), named after
    /// `event_id`; blocks at most the configured total timeout.
    pub fn send(&self, event_id: &str, input: String) -> Result<Sent, SinkError> {
        let call = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(execution_name(event_id))
            .input(input)
            .send();
        match self.runtime.block_on(call) {
            Ok(_) => Ok(Sent::Started),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                Ok(Sent::AlreadySent)
            }
            Err(e) => {
                let timed_out = match &e {
                    SdkError::TimeoutError(_) => true,
                    SdkError::DispatchFailure(d) => d.is_timeout(),
                    _ => false,
                };
                let text = aws_sdk_sfn::error::DisplayErrorContext(&e).to_string();
                Err(if timed_out {
                    SinkError::Timeout(text)
                } else {
                    SinkError::Call(text)
                })
            }
        }
    }
}

/// The execution role's credentials, as the Lambda runtime sets them for the function's process.
/// They do not change while the process lives.
fn lambda_credentials() -> Result<Credentials, SinkError> {
    let var = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(SinkError::Credentials(name))
    };
    Ok(Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN").ok(),
        None,
        "lambda-environment",
    ))
}
