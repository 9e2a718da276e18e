//! Timestamps as the schema writes them: RFC 3339, UTC, milliseconds.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
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
        match normal_form(&self.0) {
            Some(buf) => f.write_str(as_str(&buf)),
            None => f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true)),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match normal_form(&self.0) {
            Some(buf) => s.serialize_str(as_str(&buf)),
            None => s.collect_str(self),
        }
    }
}

/// `t` in the normal form, written digit by digit into a buffer: every page view serialises
/// one, and chrono's formatter costs several times more. `None` for what chrono writes itself:
/// years outside 0–9999 and leap seconds.
fn normal_form(t: &DateTime<Utc>) -> Option<[u8; 24]> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    let fields = [
        (0, 4, year),
        (5, 2, t.month()),
        (8, 2, t.day()),
        (11, 2, t.hour()),
        (14, 2, t.minute()),
        (17, 2, t.second()),
        (20, 3, nanos / 1_000_000),
    ];
    for (at, width, mut value) in fields {
        for i in (at..at + width).rev() {
            // A decimal digit: `value % 10` is below 10.
            buf[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    Some(buf)
}

/// The buffer [`normal_form`] wrote: ASCII digits and separators only.
fn as_str(buf: &[u8; 24]) -> &str {
    std::str::from_utf8(buf).unwrap_or_default()
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
    use chrono::TimeZone;

    use super::*;

    /// The digit-by-digit form is chrono's, across years, months, days, times and milliseconds
    /// (and chrono's own where it takes over: leap seconds, years past 9999).
    #[test]
    fn the_fast_form_is_chronos() {
        let chrono_form = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut t = Utc
            .with_ymd_and_hms(0, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let step = chrono::Duration::milliseconds(86_400_000 * 37 + 3_723_457);
        let mut checked = 0;
        while t.year() < 10_010 {
            let ts = Timestamp(t);
            assert_eq!(ts.to_string(), chrono_form(&t), "{t:?}");
            let json = serde_json::to_string(&ts).expect("serialises");
            assert_eq!(json, format!("\"{}\"", chrono_form(&t)));
            t += step;
            checked += 1;
        }
        assert!(checked > 90_000, "{checked}");
        let leap = Utc
            .with_ymd_and_hms(2016, 12, 31, 23, 59, 59)
            .single()
            .and_then(|t| t.with_nanosecond(1_500_000_000))
            .expect("a leap second");
        assert_eq!(Timestamp(leap).to_string(), chrono_form(&leap));
        assert!(Timestamp(leap).to_string().contains(":60."));
    }

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
