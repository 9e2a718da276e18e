//! The CloudFront Lambda@Edge request event, as AWS documents it ("Lambda@Edge event structure",
//! request events).
//!
//! ```text
//! { "Records": [ { "cf": {
//!     "config":  { "distributionDomainName", "distributionId", "eventType", "requestId" },
//!     "request": { "clientIp", "headers": { "<lower-case name>": [ { "key", "value" } ] },
//!                  "method", "querystring", "uri", "origin"?, "body"? } } } ] }
//! ```
//!
//! The handler must give CloudFront back the viewer's request unchanged, so these types
//! round-trip exactly: every object keeps the fields it does not name in `extra`, `origin` and
//! `body` are kept as raw JSON, and an optional field that is present as `null` is kept as such
//! (rather than read as "absent" and dropped). Whatever these types cannot give back exactly,
//! they refuse to parse: if [`parse_event`] succeeds, serialising the result gives the same JSON
//! value back.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A JSON document that is not a CloudFront request event.
#[derive(Debug, thiserror::Error)]
#[error("not a cloudfront request event: {0}")]
pub struct EventError(#[from] serde_json::Error);

/// Parses a Lambda@Edge request event from JSON text.
pub fn parse_event(json: &str) -> Result<CloudFrontEvent, EventError> {
    Ok(serde_json::from_str(json)?)
}

/// Parses a Lambda@Edge request event from JSON bytes.
pub fn parse_event_slice(json: &[u8]) -> Result<CloudFrontEvent, EventError> {
    Ok(serde_json::from_slice(json)?)
}

/// The whole event Lambda@Edge passes to the function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudFrontEvent {
    /// The records; CloudFront sends exactly one.
    #[serde(rename = "Records")]
    pub records: Vec<CloudFrontRecord>,
    /// Fields this type does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CloudFrontEvent {
    /// The record CloudFront sends (the first), if any.
    pub fn record(&self) -> Option<&CloudFrontRecord> {
        self.records.first()
    }
}

/// One record of the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudFrontRecord {
    /// The CloudFront part: configuration and request.
    pub cf: Cf,
    /// Fields this type does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Records[n].cf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cf {
    /// The distribution and the request's id.
    pub config: CfConfig,
    /// The viewer's request, as CloudFront will forward it.
    pub request: CfRequest,
    /// Response events only: the origin's response.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub response: Option<CfResponse>,
    /// Fields this type does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Records[n].cf.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfConfig {
    /// The distribution's domain name, e.g. `d111111abcdef8.cloudfront.net`.
    pub distribution_domain_name: String,
    /// The distribution's id, e.g. `EDFDVBD6EXAMPLE`.
    pub distribution_id: String,
    /// The trigger: `viewer-request`, `origin-request`, `origin-response` or `viewer-response`.
    pub event_type: String,
    /// The request's id, the same as in the `x-amz-cf-id` header and the access logs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub request_id: Option<String>,
    /// Fields this type does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Records[n].cf.request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfRequest {
    /// The viewer's IP address (IPv4 or IPv6). Never leaves the edge function.
    pub client_ip: String,
    /// Headers by lower-case name; each a list of `{key, value}` in the order received.
    pub headers: Headers,
    /// The HTTP method, upper-case.
    pub method: String,
    /// The query string without the `?`, as the viewer sent it (percent-encoded).
    pub querystring: String,
    /// The path, as the viewer sent it (percent-encoded).
    pub uri: String,
    /// Origin-request only: the origin, `{"s3": {…}}` or `{"custom": {…}}`, kept as raw JSON.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub origin: Option<Value>,
    /// The request body (`inputTruncated`, `action`, `encoding`, `data`) when the distribution
    /// includes it; kept as raw JSON.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub body: Option<Value>,
    /// Fields this type does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Records[n].cf.response` (origin-response and viewer-response events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfResponse {
    /// The status code as CloudFront writes it: a string, e.g. `"200"`.
    pub status: String,
    /// Fields this type does not name (`statusDescription`, `headers`), kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CfResponse {
    /// The status code, when `status` is a number (otherwise unknown, as at origin-request).
    pub fn code(&self) -> Option<u16> {
        self.status.trim().parse().ok()
    }
}

/// `cf.request.headers`: lower-case header name → the header's values.
pub type Headers = BTreeMap<String, Vec<Header>>;

/// One header value, with the name as the viewer spelled it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The name as the viewer spelled it; optional in what a function returns.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub key: Option<String>,
    /// The value.
    pub value: String,
    /// Fields this type does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CfRequest {
    /// The first value of a header, by lower-case name.
    pub fn header(&self, lower_name: &str) -> Option<&str> {
        self.headers
            .get(lower_name)
            .and_then(|values| values.first())
            .map(|h| h.value.as_str())
    }

    /// Every value of a header, by lower-case name.
    pub fn header_values<'a>(&'a self, lower_name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .get(lower_name)
            .into_iter()
            .flatten()
            .map(|h| h.value.as_str())
    }
}

/// For an optional field: present means `Some`, so that a present `null` is either kept (for
/// `Value`) or refused (for `String`) rather than silently dropped on the way back.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips(json: &str) -> bool {
        let before: Value = serde_json::from_str(json).expect("json");
        let event = parse_event(json).expect("parses");
        serde_json::to_value(&event).expect("serialises") == before
    }

    const MINIMAL: &str = r#"{"Records":[{"cf":{"config":{"distributionDomainName":"d.cloudfront.net","distributionId":"E1","eventType":"origin-request","requestId":"abc"},"request":{"clientIp":"203.0.113.1","headers":{},"method":"GET","querystring":"","uri":"/"}}}]}"#;

    #[test]
    fn minimal_round_trips() {
        assert!(round_trips(MINIMAL));
    }

    #[test]
    fn unknown_fields_and_nulls_are_kept() {
        let json = r#"{"Records":[{"cf":{"config":{"distributionDomainName":"d","distributionId":"E","eventType":"origin-request","requestId":"r","future":1},"request":{"clientIp":"::1","headers":{"x":[{"key":"X","value":"1","extra":true},{"value":"2"}]},"method":"GET","querystring":"","uri":"/","origin":null,"body":{"inputTruncated":false,"action":"read-only","encoding":"base64","data":""},"new":[1,2.5]},"response":{"status":"200"}},"eventSourceArn":"x"}],"top":null}"#;
        assert!(round_trips(json));
    }

    #[test]
    fn null_string_fields_are_refused() {
        let json = MINIMAL.replace(r#""requestId":"abc""#, r#""requestId":null"#);
        assert!(parse_event(&json).is_err());
        let json = MINIMAL.replace(
            r#""headers":{}"#,
            r#""headers":{"a":[{"key":null,"value":"v"}]}"#,
        );
        assert!(parse_event(&json).is_err());
    }

    #[test]
    fn missing_request_id_is_absent() {
        let json = MINIMAL.replace(r#","requestId":"abc""#, "");
        let event = parse_event(&json).expect("parses");
        assert_eq!(
            event.record().map(|r| r.cf.config.request_id.is_none()),
            Some(true)
        );
        assert!(round_trips(&json));
    }
}
