//! The page-view event: the contract in the middle of Tally.
//!
//! This crate holds the Rust types of the event ([`Envelope`] around a [`PageView`] detail), the
//! JSON Schema generated from them ([`generate`]), validation of records against it
//! ([`validate`]) and the compatibility rules between versions ([`check`]).
//!
//! It does no I/O and knows nothing of AWS beyond the shape of an EventBridge event: callers read
//! and write files, and pass their contents in.

pub mod check;
mod envelope;
pub mod generate;
pub mod page_view;
mod timestamp;
pub mod validate;
mod version;

pub use envelope::Envelope;
pub use page_view::{BotReason, Browser, DeviceClass, Os, PageView};
pub use timestamp::Timestamp;
pub use version::{SchemaVer, SchemaVerError};

/// The `source` of every page-view event Tally puts on a bus.
pub const SOURCE: &str = "tally";

/// The `detail-type` of a page-view event.
pub const DETAIL_TYPE: &str = "PageView";

/// The `detail-type` of a dead-letter event: a page view that could not be completed.
pub const DETAIL_TYPE_FAILED: &str = "PageView.Failed";
