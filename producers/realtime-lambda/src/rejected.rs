//! A record that can never be a page view, as the failure queue keeps it.

use serde::Serialize;

/// A record that can never be a page view, as the failure queue keeps it: why, where it was in
/// the stream, and its values with the identifying ones blanked ([`crate::redact`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRecord {
    /// What was wrong (`malformed: 5 tab-separated fields where …`, `bad_time: …`).
    pub reason: String,
    /// The Kinesis event id (`shardId-…:sequence`).
    pub event_id: Option<String>,
    /// The record's sequence number in its shard.
    pub sequence_number: String,
    /// The stream's ARN.
    pub event_source_arn: Option<String>,
    /// The record's values, tab-separated, identifying ones replaced.
    pub redacted: String,
}
