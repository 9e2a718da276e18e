//! The sink: `StartExecution` on the Express enrichment state machine, bounded in time.
//!
//! One client per container, built on first use: a current-thread tokio runtime and an
//! `aws-sdk-sfn` client with the configured connect and total timeouts and no retries, so one call
//! never takes longer than `total_timeout_ms`. Credentials come from the environment variables the
//! Lambda runtime sets for the execution role (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), read once when the client is built; nothing else is consulted, so no
//! profile file or instance-metadata probe can eat the budget.
//!
//! A Lambda container is frozen between invocations, and the connection it pooled may be closed
//! by the service meanwhile: the next call then fails at once with an I/O error on that
//! connection, or the connection closes before the answer. The sink retries such a call once, on a
//! new connection, within what is left of
//! the budget (the execution is named after the event id, so a view sent twice is one event),
//! and drops pooled connections idle for [`POOL_IDLE`], below the idle timeout of AWS's
//! endpoints, so a connection the service has closed is rarely picked at all.

use std::time::{Duration, Instant};

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::error::SdkError;
use aws_smithy_http_client::tls;
use aws_smithy_types::retry::{ErrorKind, RetryConfig};
use aws_smithy_types::timeout::TimeoutConfig;
use tally_edge::EdgeConfig;

/// How long an idle pooled connection is kept: well below the 60 s idle timeout of AWS's load
/// balancers (and hyper's default of 90 s).
pub const POOL_IDLE: Duration = Duration::from_secs(20);

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
    /// The whole budget of one [`Sink::send`], a retry included.
    total: Duration,
    /// The visitor hash's daily salts, when the configuration has a salts table.
    salts: Option<crate::salts::EdgeSalts>,
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
        let mut builder = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region(config)))
            .credentials_provider(lambda_credentials()?)
            .timeout_config(timeouts(config))
            .retry_config(RetryConfig::disabled())
            .http_client(http_client());
        if let Some(endpoint) = &config.endpoint_url {
            builder = builder.endpoint_url(endpoint);
        }
        // The client's HTTP connector and sleep implementation need the runtime's context.
        let client = {
            let _guard = runtime.enter();
            aws_sdk_sfn::Client::from_conf(builder.build())
        };
        let salts = crate::salts::EdgeSalts::new(config, &runtime)?;
        Ok(Sink {
            runtime,
            client,
            state_machine_arn,
            total,
            salts,
        })
    }

    /// The salt of `now`'s day when the configuration has a salts table (read once a day,
    /// within the budget), `None` without one.
    pub fn visitor_salt(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<std::sync::Arc<str>>, SinkError> {
        match &self.salts {
            Some(salts) => salts.salt(&self.runtime, self.total, now).map(Some),
            None => Ok(None),
        }
    }

    /// Starts one execution whose input is `input` (the edge view's JSON), named after
    /// `event_id`; blocks at most the configured total timeout. A call that failed on a pooled
    /// connection the service had closed is made once more, on a new one, within the budget.
    pub fn send(&self, event_id: &str, input: String) -> Result<Sent, SinkError> {
        let started = Instant::now();
        let first = self.runtime.block_on(self.start(event_id, input.clone()));
        let result = match first {
            Err(e) if is_stale_connection(&e) => {
                let left = self.total.saturating_sub(started.elapsed());
                tracing::info!(event_id, left_ms = left.as_millis() as u64, error = %aws_sdk_sfn::error::DisplayErrorContext(&e), "the pooled connection failed: retrying once");
                // The timer needs the runtime's context: made inside the future it runs.
                let again = async { tokio::time::timeout(left, self.start(event_id, input)).await };
                match self.runtime.block_on(again) {
                    Ok(result) => result,
                    Err(_) => {
                        return Err(SinkError::Timeout(format!(
                            "the retry did not finish in the {} ms left",
                            left.as_millis()
                        )));
                    }
                }
            }
            other => other,
        };
        outcome(result)
    }

    async fn start(&self, event_id: &str, input: String) -> Result<(), StartError> {
        self.client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(execution_name(event_id))
            .input(input)
            .send()
            .await
            .map(|_| ())
    }
}

type StartError = SdkError<
    aws_sdk_sfn::operation::start_execution::StartExecutionError,
    aws_sdk_sfn::config::http::HttpResponse,
>;

/// A failure of the connection itself before any response, not a timeout: an I/O error, or the
/// connection closed before the response began (hyper's incomplete message, which the SDK marks
/// transient), as on a pooled connection the service closed while the container was frozen. A
/// retry may start the execution twice; it is named after the event id, and every count is of
/// distinct event ids.
fn is_stale_connection(e: &StartError) -> bool {
    let SdkError::DispatchFailure(d) = e else {
        return false;
    };
    !d.is_timeout() && (d.is_io() || d.as_other() == Some(ErrorKind::TransientError))
}

fn outcome(result: Result<(), StartError>) -> Result<Sent, SinkError> {
    match result {
        Ok(()) => Ok(Sent::Started),
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

/// The configured region of the home region's services, or [`DEFAULT_REGION`].
pub(crate) fn region(config: &EdgeConfig) -> String {
    config
        .region
        .as_deref()
        .unwrap_or(DEFAULT_REGION)
        .to_owned()
}

/// Connect and total timeouts from the configuration: no call takes longer than the budget.
pub(crate) fn timeouts(config: &EdgeConfig) -> TimeoutConfig {
    let total = Duration::from_millis(config.total_timeout_ms);
    let connect = Duration::from_millis(config.connect_timeout_ms).min(total);
    TimeoutConfig::builder()
        .connect_timeout(connect)
        .read_timeout(total)
        .operation_attempt_timeout(total)
        .operation_timeout(total)
        .build()
}

/// The HTTPS client: rustls on aws-lc, idle pooled connections dropped after [`POOL_IDLE`].
pub(crate) fn http_client() -> aws_sdk_sfn::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .pool_idle_timeout(POOL_IDLE)
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}

/// The execution role's credentials, as the Lambda runtime sets them for the function's process.
/// They do not change while the process lives.
pub(crate) fn lambda_credentials() -> Result<Credentials, SinkError> {
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
