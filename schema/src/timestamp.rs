//! Timestamps as the schema writes them: RFC 3339, UTC, milliseconds.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern every [`Timestamp`] matches: `2026-11-29T06:40:19.123Z`.
pub const TIMESTAMP_PATTERN: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$";

/// An instant, written as RFC 3339 in UTC with exactly three fractional digits and a `Z`.
///
/// Parsing accepts any RFC 3339 time (any offset, any precision) and normalises it; the schema
/// accepts only the normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Parses an RFC 3339 string, normalising it to UTC.
    pub fn parse(s: &str) -> Result<Self, chrono::ParseError> {
        DateTime::parse_from_rfc3339(s).map(|t| Timestamp(t.with_timezone(&Utc)))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        Timestamp::parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {s:?}: {e}")))
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "RFC 3339 instant in UTC with milliseconds, e.g. 2026-11-29T06:40:19.123Z.",
            "type": "string",
            "format": "date-time",
            "pattern": TIMESTAMP_PATTERN,
            "maxLength": 24,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_utc_millis() {
        let t = Timestamp::parse("2026-11-29T07:40:19.5+01:00").expect("valid");
        assert_eq!(t.to_string(), "2026-11-29T06:40:19.500Z");
        let json = serde_json::to_string(&t).expect("serialises");
        assert_eq!(json, "\"2026-11-29T06:40:19.500Z\"");
        let back: Timestamp = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, t);
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert!(serde_json::from_str::<Timestamp>("\"29/11/2026\"").is_err());
    }
}
