//! The PutEvents API shape, for callers such as the Step Functions
//! `events:putEvents` integration.
//!
//! Request-level limits fail the whole call with a `ValidationException`
//! ([`PutEventsError::Validation`](super::PutEventsError)): 1 to 10 entries,
//! and at most 256 KiB for all entries together, computed as the user guide's
//! "Calculating PutEvents event entry size" does (14 bytes for `Time` if
//! present, plus the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each
//! resource). Entry-level problems are reported per entry, as the API does,
//! with the codes and messages EventBridge returns:
//!
//! | Problem | ErrorCode | ErrorMessage |
//! | --- | --- | --- |
//! | no or empty `Source` | `InvalidArgument` | `Parameter Source is not valid. Reason: Source is a required argument.` |
//! | no or empty `DetailType` | `InvalidArgument` | `Parameter DetailType is not valid. Reason: DetailType is a required argument.` |
//! | no or empty `Detail` | `InvalidArgument` | `Parameter Detail is not valid. Reason: Detail is a required argument.` |
//! | `Detail` not a JSON object | `MalformedDetail` | `Detail is malformed.` |
//! | unparsable `Time` | `InvalidArgument` | `Parameter Time is not valid. Reason: ...` |
//! | another bus | `ResourceNotFoundException` | `Event bus NAME does not exist.` |
//!
//! An entry without `EventBusName` goes to the bus named `default`, as in
//! AWS; this local bus only knows itself, so unless it is named `default`
//! such an entry fails with `ResourceNotFoundException`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::time::{format_rfc3339, from_unix_seconds_f64, parse_rfc3339};

/// Most entries in one call.
pub const MAX_ENTRIES: usize = 10;
/// Most bytes for all entries of one call.
pub const MAX_REQUEST_SIZE: usize = 256 * 1024;

/// `Time` of an entry: the API's timestamp, as epoch seconds (the JSON
/// protocol's form) or an RFC 3339 string (as a state machine may pass it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventTime {
    /// Seconds since the Unix epoch.
    EpochSeconds(f64),
    /// An RFC 3339 date-time.
    Text(String),
}

/// One entry of a PutEvents request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsRequestEntry {
    /// The event source, e.g. `tally.collector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The `detail-type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    /// The detail, as JSON text of an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Resource ARNs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// The event time; now if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<EventTime>,
    /// The bus name or ARN; `default` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<String>,
    /// X-Ray trace header (accepted and ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
}

/// A whole PutEvents request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsRequest {
    /// The entries (1 to 10).
    pub entries: Vec<PutEventsRequestEntry>,
    /// Global endpoint id (accepted and ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
}

/// The result for one entry: an `EventId`, or an error code and message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsResultEntry {
    /// The new event's id, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Why the entry failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl PutEventsResultEntry {
    pub(crate) fn ok(id: String) -> Self {
        Self {
            event_id: Some(id),
            ..Self::default()
        }
    }

    pub(crate) fn failed(code: &str, message: impl Into<String>) -> Self {
        Self {
            event_id: None,
            error_code: Some(code.to_owned()),
            error_message: Some(message.into()),
        }
    }
}

/// The PutEvents response: one result per entry, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsResponse {
    /// How many entries failed.
    pub failed_entry_count: usize,
    /// The results, in the order of the request entries.
    pub entries: Vec<PutEventsResultEntry>,
}

/// The size the API charges an entry.
pub fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let time = if entry.time.is_some() { 14 } else { 0 };
    let resources: usize = entry.resources.iter().flatten().map(String::len).sum();
    time + len(&entry.source) + len(&entry.detail_type) + len(&entry.detail) + resources
}

/// Checks an entry's fields and builds its envelope, or says what is wrong
/// as (ErrorCode, ErrorMessage). `id` is used for the envelope.
pub(crate) fn build_envelope(
    entry: &PutEventsRequestEntry,
    id: String,
    account: &str,
    region: &str,
    now: std::time::SystemTime,
) -> Result<Value, PutEventsResultEntry> {
    let required = |value: &Option<String>, name: &str| match value.as_deref() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(PutEventsResultEntry::failed(
            "InvalidArgument",
            format!("Parameter {name} is not valid. Reason: {name} is a required argument."),
        )),
    };
    let source = required(&entry.source, "Source")?;
    let detail_type = required(&entry.detail_type, "DetailType")?;
    let detail_text = required(&entry.detail, "Detail")?;
    let detail = match serde_json::from_str::<Value>(&detail_text) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Err(PutEventsResultEntry::failed(
                "MalformedDetail",
                "Detail is malformed.",
            ));
        }
    };
    let time = match &entry.time {
        None => now,
        Some(t) => {
            let parsed = match t {
                EventTime::EpochSeconds(s) => from_unix_seconds_f64(*s),
                EventTime::Text(s) => parse_rfc3339(s),
            };
            parsed.ok_or_else(|| {
                PutEventsResultEntry::failed(
                    "InvalidArgument",
                    "Parameter Time is not valid. Reason: Time must be epoch seconds or an RFC 3339 date-time.",
                )
            })?
        }
    };
    let resources: Vec<Value> = entry
        .resources
        .iter()
        .flatten()
        .map(|r| Value::String(r.clone()))
        .collect();
    let mut map = Map::new();
    map.insert("version".into(), Value::from("0"));
    map.insert("id".into(), Value::from(id));
    map.insert("detail-type".into(), Value::from(detail_type));
    map.insert("source".into(), Value::from(source));
    map.insert("account".into(), Value::from(account));
    map.insert("time".into(), Value::from(format_rfc3339(time)));
    map.insert("region".into(), Value::from(region));
    map.insert("resources".into(), Value::Array(resources));
    map.insert("detail".into(), detail);
    Ok(Value::Object(map))
}
