//! The standard-log producer: CloudFront writes a standard log object (legacy W3C, or standard
//! logging v2 in W3C or JSON) to S3 a few minutes after the requests it holds, cache hits
//! included; S3's object-created notification invokes this Lambda, which reads the object and
//! turns its lines into page views by the edge's own decision (`tally_logs::Importer::view`,
//! the mapping `tally import cloudfront-logs` runs), each starting an execution of the Express
//! enrichment state machine.
//!
//! - [`handle`] maps one S3 event: each object is fetched ([`Objects`], [`s3::S3`]), gunzipped
//!   when it is gzip, read in its format (detected per object unless `TALLY_LOG_FORMAT` says),
//!   and every page view is started ([`tally_lambda_sink::Enrichment`]); a line that can never be
//!   a view goes to the failure queue with its reason and where it is ([`RejectedLine`]: bucket,
//!   key, line number; never the line's values).
//! - [`Summary::metrics`] is the event as one CloudWatch embedded-metric-format line
//!   (`tally-metrics`, function `standard-logs`), which the binary prints per invocation.
//! - A call that failed and may pass later makes the invocation fail, so Lambda's asynchronous
//!   retries read the object again: the views it starts again have the same `event_id`s
//!   (CloudFront's request ids), which every consumer dedupes.

mod config;
mod handler;
mod key;
mod objects;
mod read;
mod rejected;

pub use config::{ConfigError, FORMAT_VAR, FormatChoice, StandardConfig};
pub use handler::{FUNCTION, HandlerError, Summary, handle, handle_with_salts};
pub use key::object_key;
pub use objects::{GetError, Objects, s3};
pub use read::{detect, lines};
pub use rejected::{RejectedLine, scrub};
pub use tally_lambda_sink::{CallError, Enrichment, FailureSink, salts, sfn, sqs};
