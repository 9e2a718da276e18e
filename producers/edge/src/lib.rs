//! The pure core of Tally's edge producer.
//!
//! CloudFront calls the edge function (Lambda@Edge, origin-request) with each request it is about
//! to forward to the origin. This crate decides whether that request is a page view and, if so,
//! what the edge knows of it ([`EdgeView`]: the page-view detail without `schema_version` and
//! `received_at`, which enrichment adds). It does no I/O, has no AWS SDK, and never changes the
//! request: the handler gives CloudFront back what it was given.
//!
//! ```
//! use chrono::Utc;
//! use tally_edge::{Decision, EdgeConfig, decide, parse_event};
//!
//! let json = include_str!("../fixtures/example-cloudfront-origin-request-page-view.json");
//! let event = parse_event(json).expect("a request event");
//! let config = EdgeConfig::new("www.example.com");
//! let record = event.record().expect("one record");
//! match decide(record, &config, Utc::now()) {
//!     Decision::PageView(view) => assert_eq!(view.path, "/posts/hello-world/"),
//!     Decision::Skip(reason) => panic!("skipped: {reason}"),
//! }
//! ```
//!
//! The rules (page detection, device precedence, the headers deliberately dropped, bot and
//! user-agent classification, referrer, UTM, the visitor hash) are in the crate's README and in
//! each module's documentation.

pub mod agent;
pub mod config;
mod decide;
pub mod device;
pub mod event;
pub mod event_id;
pub mod headers;
mod keys;
pub mod language;
pub mod minimise;
pub mod query;
pub mod referrer;
mod request;
pub mod visitor;

pub use config::{ConfigError, EdgeConfig, Secret};
pub use decide::{
    Decision, EdgeView, MAX_EXECUTION_NAME_CHARS, ORIGIN_REQUEST, ORIGIN_RESPONSE, SkipReason,
    decide, decide_salted, event_id, execution_name, is_event_id,
};
pub use event::{
    CfConfig, CfRequest, CfResponse, CloudFrontEvent, CloudFrontRecord, EventError, Header,
    Headers, parse_event, parse_event_slice,
};
pub use event_id::keyed_event_id;
pub use minimise::{Detail, Minimise, TimePrecision};
pub use request::{PageRequest, is_counted_status, page_view};
