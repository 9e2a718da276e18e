//! What the log producer Lambdas (`tally-realtime-lambda`, `tally-standard-logs-lambda`) send
//! to, in one place: the Express enrichment state machine ([`Enrichment`], [`sfn::Sfn`]), the
//! failure queue for records that can never be page views ([`FailureSink`], [`sqs::Sqs`]),
//! [`start_all`], which starts a batch's executions concurrently, the visitor hash's daily salts
//! ([`salts::SaltStore`], [`salts::dynamo::DynamoSalts`]) and the environment both read
//! ([`SinkConfig`]).
//!
//! The handlers are generic over the traits, so they run in tests without a network.

mod clients;
mod config;
pub mod salts;
mod start;

pub use clients::{CallError, Enrichment, FailureSink, error_text, sfn, sqs};
pub use config::{
    CONCURRENCY_VAR, FAILURE_QUEUE_VAR, SITE_VAR, STATE_MACHINE_VAR, SinkConfig, SinkConfigError,
};
pub use start::start_all;
