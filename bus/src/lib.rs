//! EventBridge event-pattern (content filter) matching for Tally.
//!
//! The pattern matcher is pure: compile a pattern once with [`Pattern::parse`] or
//! [`Pattern::from_value`] (which validate it the way EventBridge does and
//! report what is wrong and where as a [`PatternError`]), then test events
//! with [`Pattern::matches`].
//!
//! Supported: exact strings, numbers (compared numerically), booleans and
//! null; `prefix` and `suffix` (also with `equals-ignore-case`);
//! `equals-ignore-case`; `wildcard`; `anything-but` (value, list, `prefix`,
//! `suffix`, `wildcard`, `equals-ignore-case`); `numeric`; `exists`; `cidr`
//! (IPv4 and IPv6); `$or` at any level; nested objects; arrays in events.
//! See the crate README for the exact semantics and the places where the
//! stricter reading of the AWS documentation was chosen.
//!
//! [`local`] is an in-process event bus built on the matcher: rules, targets,
//! EventBridge input transformation, per-target queues with retries and
//! dead-letter journals, and the PutEvents API shape. Its only file I/O is the
//! dead-letter journals (`local::JsonJournal`) and the overflow journals, both `tally-journal`s.

pub mod local;
mod pattern;

pub use pattern::{ErrorKind, Pattern, PatternError};
