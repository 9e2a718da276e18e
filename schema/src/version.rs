//! SchemaVer versions: `MODEL-REVISION-ADDITION`.

use std::fmt;
use std::str::FromStr;

/// A [SchemaVer](https://docs.snowplow.io/docs/api-reference/iglu/common-architecture/schemaver/)
/// version, `MODEL-REVISION-ADDITION`.
///
/// - `MODEL` changes when no earlier data can be read with the new schema (a breaking change).
/// - `REVISION` changes when some earlier data may no longer validate.
/// - `ADDITION` changes when every earlier record still validates.
///
/// Tally requires every example of an earlier version with the same `MODEL` to validate against
/// the current schema, so within one model only `ADDITION` changes land in practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVer {
    /// Breaking changes: a new major, a new file (`v2.json`), a new rule prefix.
    pub model: u32,
    /// Changes that may reject some earlier data.
    pub revision: u32,
    /// Changes that accept every earlier record.
    pub addition: u32,
}

/// A string that is not `MODEL-REVISION-ADDITION`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema version {0:?}: expected MODEL-REVISION-ADDITION, e.g. 1-0-0")]
pub struct SchemaVerError(pub String);

impl FromStr for SchemaVer {
    type Err = SchemaVerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SchemaVerError(s.to_owned());
        let mut parts = s.split('-').map(|p| {
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            if p.len() > 1 && p.starts_with('0') {
                return Err(err());
            }
            p.parse::<u32>().map_err(|_| err())
        });
        let (Some(model), Some(revision), Some(addition), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        let v = SchemaVer {
            model: model?,
            revision: revision?,
            addition: addition?,
        };
        if v.model == 0 {
            return Err(err());
        }
        Ok(v)
    }
}

impl fmt::Display for SchemaVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.model, self.revision, self.addition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let a: SchemaVer = "1-0-0".parse().expect("valid");
        let b: SchemaVer = "1-0-10".parse().expect("valid");
        let c: SchemaVer = "1-1-0".parse().expect("valid");
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1-0-10");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "", "1", "1-0", "1-0-0-0", "0-1-0", "1-00-0", "1.0.0", "a-b-c", "1--0",
        ] {
            assert!(bad.parse::<SchemaVer>().is_err(), "{bad:?} accepted");
        }
    }
}
