//! Data minimisation: what every page view leaves out or coarsens, decided at the producer, so
//! nothing left out is ever stored or put on the bus.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A viewer detail a page view can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    /// The viewer's city (CloudFront's `CloudFront-Viewer-City`).
    City,
    /// The viewer's country subdivision.
    Region,
    /// The viewer's time zone.
    Timezone,
    /// The viewer's preferred language.
    Language,
}

/// How precise `occurred_at` is: the time is cut down to this unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimePrecision {
    /// To the millisecond, as the producer saw it.
    #[default]
    Millisecond,
    /// To the second.
    Second,
    /// To the minute.
    Minute,
    /// To the hour.
    Hour,
}

impl TimePrecision {
    /// `at`, cut down to this precision (`Millisecond`: as given, the page view's timestamp
    /// writes milliseconds).
    pub fn cut(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let unit = match self {
            TimePrecision::Millisecond => return at,
            TimePrecision::Second => TimeDelta::seconds(1),
            TimePrecision::Minute => TimeDelta::minutes(1),
            TimePrecision::Hour => TimeDelta::hours(1),
        };
        at.duration_trunc(unit).unwrap_or(at)
    }
}

/// Not a detail or a precision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of {expected}")]
pub struct ParseError {
    value: String,
    expected: &'static str,
}

/// `Display` and `FromStr` by the names the configuration spells (the serde names; a test
/// checks they agree).
macro_rules! named {
    ($type:ty, $expected:literal, [$($variant:ident => $name:literal),+]) => {
        impl $type {
            /// Every value and its name.
            pub const ALL: &'static [($type, &'static str)] = &[$((<$type>::$variant, $name)),+];
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let name = Self::ALL.iter().find(|(v, _)| v == self).map(|(_, n)| *n);
                f.write_str(name.unwrap_or_default())
            }
        }

        impl FromStr for $type {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::ALL.iter().find(|(_, n)| *n == s).map(|(v, _)| *v).ok_or_else(|| {
                    ParseError { value: s.to_owned(), expected: $expected }
                })
            }
        }
    };
}

named!(Detail, "city, region, timezone, language", [
    City => "city", Region => "region", Timezone => "timezone", Language => "language"
]);
named!(TimePrecision, "millisecond, second, minute, hour", [
    Millisecond => "millisecond", Second => "second", Minute => "minute", Hour => "hour"
]);

/// What every page view leaves out or coarsens. The default keeps everything, to the
/// millisecond.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Minimise {
    /// Viewer details left out of every page view (`city`, `region`, `timezone`, `language`).
    pub drop: Vec<Detail>,
    /// The precision of `occurred_at` (`millisecond`, `second`, `minute`, `hour`). The
    /// enrichment's `received_at` keeps Step Functions' milliseconds.
    pub time_precision: TimePrecision,
}

impl Minimise {
    /// `value`, unless `detail` is dropped.
    pub(crate) fn keep<T>(&self, detail: Detail, value: Option<T>) -> Option<T> {
        value.filter(|_| !self.drop.contains(&detail))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn times_are_cut_down_to_their_unit() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T17:48:59.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let cut = |p: TimePrecision| p.cut(at).to_rfc3339();
        assert_eq!(
            cut(TimePrecision::Millisecond),
            "2026-12-02T17:48:59.123+00:00"
        );
        assert_eq!(cut(TimePrecision::Second), "2026-12-02T17:48:59+00:00");
        assert_eq!(cut(TimePrecision::Minute), "2026-12-02T17:48:00+00:00");
        assert_eq!(cut(TimePrecision::Hour), "2026-12-02T17:00:00+00:00");
    }

    #[test]
    fn the_names_are_the_serde_names() {
        for (v, name) in Detail::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), *name);
        }
        for (v, name) in TimePrecision::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), *name);
        }
    }

    #[test]
    fn names_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!("timezone".parse(), Ok(Detail::Timezone));
        assert_eq!("minute".parse(), Ok(TimePrecision::Minute));
        assert_eq!(Detail::City.to_string(), "city");
        assert_eq!(TimePrecision::Minute.to_string(), "minute");
        let err = "town".parse::<Detail>().unwrap_err().to_string();
        assert_eq!(
            err,
            "\"town\" is not one of city, region, timezone, language"
        );
        let m: Minimise =
            serde_json::from_str(r#"{"drop": ["city"], "time_precision": "hour"}"#).unwrap();
        assert_eq!(m.keep(Detail::City, Some(1)), None);
        assert_eq!(m.keep(Detail::Region, Some(1)), Some(1));
        assert!(serde_json::from_str::<Minimise>(r#"{"drop": ["ip"]}"#).is_err());
    }
}
