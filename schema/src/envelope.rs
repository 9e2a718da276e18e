//! The EventBridge event envelope, generic over its detail.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An EventBridge event as rules and targets see it.
///
/// The field names follow EventBridge exactly (`detail-type` with a hyphen); everything Tally
/// defines lives in `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope<D> {
    /// Envelope version; EventBridge always sets `"0"`.
    #[schemars(length(min = 1, max = 8))]
    pub version: String,
    /// Unique id EventBridge gives each event.
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// What happened: `PageView`, or `PageView.Failed` for a dead-letter event.
    #[serde(rename = "detail-type")]
    #[schemars(length(min = 1, max = 128))]
    pub detail_type: String,
    /// Who said so: `tally` for every event Tally puts.
    #[schemars(length(min = 1, max = 256))]
    pub source: String,
    /// The AWS account (twelve digits; `000000000000` locally).
    #[schemars(pattern(r"^[0-9]{12}$"))]
    pub account: String,
    /// When the event was put, RFC 3339.
    pub time: DateTime<Utc>,
    /// The AWS region (`local` locally).
    #[schemars(length(min = 1, max = 32), pattern(r"^[a-z0-9-]+$"))]
    pub region: String,
    /// ARNs the event concerns; empty for page views.
    #[schemars(length(max = 16), inner(length(max = 2048)))]
    pub resources: Vec<String>,
    /// The typed payload.
    pub detail: D,
}
