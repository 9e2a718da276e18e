//! A second producer: page views from CloudFront standard access logs.
//!
//! CloudFront's standard logs (legacy and v2, W3C format: `#Version` and `#Fields` header lines,
//! then one tab-separated line per request, usually gzipped) record every request the
//! distribution served, so they can backfill the event log from before the edge function was
//! deployed. This crate reads them ([`LogReader`], over any reader; [`open`] undoes gzip) and
//! turns each line into the same v1 page-view event the live pipeline puts on the bus
//! ([`Importer::map`]), by the edge's own rules ([`tally_edge::page_view`]): no rule is copied.
//!
//! - Only successful requests count: status 2xx or 304, by the edge's rule (the line's `sc-status`
//!   goes into the one decision). Everything else is skipped, by reason.
//! - `occurred_at` is the log line's `date` and `time` (UTC, whole seconds).
//! - `country` is the `c-country` field where the log has it (v2 logs can include it); where it
//!   does not, it is left out (unknown), never guessed.
//! - `detail.event_id` is the line's `x-edge-request-id`: the same id the edge function uses
//!   (CloudFront's `requestId`), so a request both seen live and imported is counted once. The
//!   envelope `id` is derived from it too ([`envelope_id`]), so importing a file twice yields the
//!   same events, which the importer drops.
//! - The client IP (`c-ip`) enters only the keyed visitor hash, when one is configured; no
//!   raw IP or user agent is ever in an event.
//!
//! The crate does no I/O beyond reading the reader it is given: where events go (the archive) is
//! the caller's business (`tally import cloudfront-logs`).

mod map;
mod parse;

pub use map::{ImportConfig, Importer, Outcome, envelope_id, skip_key};
pub use parse::{DEFAULT_FIELDS, LogLine, LogReader, Malformed, open};
