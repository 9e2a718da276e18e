//! The real-time log producer: CloudFront real-time log records, delivered by a Kinesis data
//! stream to a Lambda function, become page views through the edge's own decision and go to the
//! enrichment state machine, which puts them on the bus.
//!
//! CloudFront writes a real-time record for every request it answers (cache hits included), after
//! the response is sent: the viewer waits for nothing, and the record knows the status.
//!
//! - [`RealtimeFields`] (from `tally-logs`) reads each record by the configuration's field list.
//! - [`handle`] maps a whole Kinesis batch: page views start executions of the Express machine
//!   ([`Enrichment`]); a record that can never be a page view (malformed, no request id…) goes to
//!   the failure queue with its reason ([`FailureSink`]); what failed for a reason that may pass
//!   (a throttled call, the failure queue unreachable) is reported back to Lambda as a batch item
//!   failure, so the stream retries it.
//! - [`Summary::metrics`] is the batch as one CloudWatch embedded-metric-format line
//!   (`tally-metrics`, function `realtime-logs`), which the binary prints per invocation.
//! - [`sfn`] and [`sqs`] are the real clients (`tally-lambda-sink`, shared with the standard-log
//!   producer); the handler is generic over the traits, so it runs in tests without a network.

mod config;
mod handler;
mod redact;
mod rejected;

pub use config::{ConfigError, RealtimeConfig};
pub use handler::{FUNCTION, Summary, handle, handle_with_salts};
pub use redact::redact;
pub use rejected::RejectedRecord;
pub use tally_lambda_sink::{CallError, Enrichment, FailureSink, salts, sfn, sqs};
pub use tally_logs::RealtimeFields;
