//! Page views from CloudFront's logs, in all three of its formats.
//!
//! CloudFront logs every request the distribution answered, cache hits included, so its logs are
//! a lossless source of page views. This crate reads them ([`LogReader`] over any reader, in a
//! [`LogFormat`]; [`open`] undoes gzip):
//!
//! - standard logs in the W3C format (legacy, and v2's W3C output): `#Version` and `#Fields`
//!   header lines, then one tab-separated line per request;
//! - standard logging v2's JSON output: one JSON object a line, keyed by the same field names;
//! - real-time log records: tab-separated values in the order of the real-time log
//!   configuration's field list ([`RealtimeFields`], which also reads one Kinesis record).
//!
//! Each record becomes the same v1 page-view event the live pipeline puts on the bus
//! ([`Importer::map`]), or the enrichment's input ([`Importer::view`]), by the edge's own rules
//! ([`tally_edge::page_view`]): no rule is copied.
//!
//! - Only successful requests count: status 2xx or 304, by the edge's rule (the line's `sc-status`
//!   goes into the one decision). Everything else is skipped, by reason.
//! - `occurred_at` is the line's `date` and `time` (UTC, whole seconds), else its
//!   `timestamp(ms)` (v2) or `timestamp` (real-time, to the millisecond).
//! - `country` is the `c-country` field where the log has it (v2 logs can include it); where it
//!   does not, it is left out (unknown), never guessed.
//! - `detail.event_id` is the record's `x-edge-request-id`: the same id the edge function uses
//!   (CloudFront's `requestId`), so a request both seen live and imported is counted once. The
//!   envelope `id` is derived from it too ([`envelope_id`]), so importing a file twice yields the
//!   same events, which the importer drops.
//! - The client IP (`c-ip`) enters only the keyed visitor hash, when one is configured; no
//!   raw IP or user agent is ever in an event.
//!
//! The crate does no I/O beyond reading the reader it is given: where events go (the archive) is
//! the caller's business (`tally import cloudfront-logs`).

mod json;
mod map;
mod parse;
mod realtime;
mod record;

pub use map::{ImportConfig, Importer, NotAView, Outcome, SaltOf, envelope_id, skip_key};
pub use parse::{DEFAULT_FIELDS, LogFormat, LogReader, open};
pub use realtime::{FieldListError, REALTIME_FIELDS, RealtimeFields};
pub use record::{Field, LogLine, Malformed};
