//! What one invocation of a Tally function did, as one line of CloudWatch's embedded metric
//! format (EMF): the Lambda log agent sends the function's stdout to CloudWatch Logs, which
//! turns the line into metrics in the namespace [`NAMESPACE`], with the one dimension
//! [`FUNCTION_DIMENSION`].
//!
//! Every line has [`VIEWS`] (views handed on: executions started by a producer, events counted
//! by the counters), [`SKIPPED`] and [`FAILED`] (their totals, zero included, so an alarm has a
//! data point per invocation), `Skipped.{reason}` and `Failed.{reason}` for each reason that
//! occurred, and [`LATENCY`] in milliseconds. Reasons are short keys chosen by the code
//! (`not_a_page`, `start_execution`), never values read from a request: no address, user agent
//! or request id reaches a metric.
//!
//! [`read`] parses a line back and checks it against the specification, for the tests of every
//! function that emits one.
//!
//! A plain crate (serde_json and thiserror only), so the producers and the counters consumer
//! share it without depending on each other or on an AWS SDK.

mod check;
mod line;

pub use check::{EmfError, Emitted, read};
pub use line::{
    FAILED, FUNCTION_DIMENSION, Invocation, LATENCY, MAX_REASONS, NAMESPACE, SKIPPED, VIEWS,
};
