//! Compiled match conditions and the primitives they use (wildcards, CIDR
//! blocks, numeric ranges). Everything here is prepared once at compile time
//! so that matching a value never allocates.

use std::net::IpAddr;

use serde_json::{Number, Value};

/// The numeric range EventBridge supports for `numeric` and numeric
/// `anything-but` (inclusive), per the AWS documentation.
pub(crate) const NUMERIC_LIMIT: f64 = 5.0e9;

/// One element of a leaf's array of match conditions.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// `"text"`: equal strings, character by character.
    String(String),
    /// `42`: any JSON number with the same numeric value (`300` matches `300.0`).
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`: only JSON `null` (not the empty string).
    Null,
    /// `{"prefix": "..."}`.
    Prefix(String),
    /// `{"prefix": {"equals-ignore-case": "..."}}`, operand lower-cased.
    PrefixIgnoreCase(String),
    /// `{"suffix": "..."}`.
    Suffix(String),
    /// `{"suffix": {"equals-ignore-case": "..."}}`, operand lower-cased.
    SuffixIgnoreCase(String),
    /// `{"equals-ignore-case": "..."}`, operand lower-cased.
    EqualsIgnoreCase(String),
    /// `{"wildcard": "..."}`.
    Wildcard(Wildcard),
    /// `{"numeric": [...]}`.
    Numeric(NumericRange),
    /// `{"cidr": "..."}`.
    Cidr(Cidr),
    /// `{"exists": true|false}`.
    Exists(bool),
    /// `{"anything-but": ...}`.
    AnythingBut(AnythingBut),
}

/// The forms of `anything-but`.
#[derive(Debug, Clone)]
pub(crate) enum AnythingBut {
    /// A string or list of strings: matches any value that is not one of them.
    Strings(Vec<String>),
    /// A number or list of numbers: matches any value that is not numerically one of them.
    Numbers(Vec<f64>),
    /// `{"prefix": "..."}`: matches any value that is not a string with this prefix.
    Prefix(String),
    /// `{"suffix": "..."}`: matches any value that is not a string with this suffix.
    Suffix(String),
    /// `{"equals-ignore-case": ...}`, operands lower-cased.
    EqualsIgnoreCase(Vec<String>),
    /// `{"wildcard": ...}`.
    Wildcard(Vec<Wildcard>),
}

impl Condition {
    /// Whether this condition matches one present leaf value (a string, number,
    /// boolean or null; never an array or object).
    pub(crate) fn matches_scalar(&self, value: &Value) -> bool {
        match self {
            Condition::String(s) => value.as_str() == Some(s.as_str()),
            Condition::Number(n) => number(value).is_some_and(|v| v == *n),
            Condition::Bool(b) => value.as_bool() == Some(*b),
            Condition::Null => value.is_null(),
            Condition::Prefix(p) => value.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Condition::PrefixIgnoreCase(p) => value.as_str().is_some_and(|s| starts_with_ic(s, p)),
            Condition::Suffix(p) => value.as_str().is_some_and(|s| s.ends_with(p.as_str())),
            Condition::SuffixIgnoreCase(p) => value.as_str().is_some_and(|s| ends_with_ic(s, p)),
            Condition::EqualsIgnoreCase(p) => value.as_str().is_some_and(|s| equals_ic(s, p)),
            Condition::Wildcard(w) => value.as_str().is_some_and(|s| w.matches(s)),
            Condition::Numeric(r) => number(value).is_some_and(|v| r.contains(v)),
            Condition::Cidr(c) => value.as_str().is_some_and(|s| c.contains_str(s)),
            Condition::Exists(e) => *e,
            Condition::AnythingBut(a) => a.matches_scalar(value),
        }
    }
}

impl AnythingBut {
    fn matches_scalar(&self, value: &Value) -> bool {
        let s = value.as_str();
        match self {
            AnythingBut::Strings(list) => s.is_none_or(|s| !list.iter().any(|x| x == s)),
            AnythingBut::Numbers(list) => number(value).is_none_or(|v| !list.contains(&v)),
            AnythingBut::Prefix(p) => s.is_none_or(|s| !s.starts_with(p.as_str())),
            AnythingBut::Suffix(p) => s.is_none_or(|s| !s.ends_with(p.as_str())),
            AnythingBut::EqualsIgnoreCase(list) => {
                s.is_none_or(|s| !list.iter().any(|x| equals_ic(s, x)))
            }
            AnythingBut::Wildcard(list) => s.is_none_or(|s| !list.iter().any(|w| w.matches(s))),
        }
    }
}

/// A JSON number as `f64` (`None` for non-numbers).
fn number(value: &Value) -> Option<f64> {
    value.as_number().and_then(Number::as_f64)
}

/// `s` lower-cased equals `lower` (already lower-cased), without allocating.
fn equals_ic(s: &str, lower: &str) -> bool {
    s.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// `s` lower-cased starts with `lower` (already lower-cased), without allocating.
fn starts_with_ic(s: &str, lower: &str) -> bool {
    let mut folded = s.chars().flat_map(char::to_lowercase);
    lower.chars().all(|c| folded.next() == Some(c))
}

/// `s` lower-cased ends with `lower` (already lower-cased), without allocating.
fn ends_with_ic(s: &str, lower: &str) -> bool {
    let mut folded = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
    lower.chars().rev().all(|c| folded.next() == Some(c))
}

/// A compiled `wildcard` operand: the literal pieces between unescaped `*`.
///
/// `a*b*c` is stored as `["a", "b", "c"]`; `*x` as `["", "x"]`. Escapes
/// (`\*`, `\\`) are resolved at compile time. A `*` matches any sequence of
/// characters, including the empty one.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    parts: Vec<String>,
}

impl Wildcard {
    pub(crate) fn new(parts: Vec<String>) -> Self {
        debug_assert!(!parts.is_empty());
        Self { parts }
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(split) => split,
            None => return s.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        if s.len() < first.len() + last.len() || !s.starts_with(first.as_str()) {
            return false;
        }
        if !s.ends_with(last.as_str()) {
            return false;
        }
        // The middle pieces must appear in order, without overlapping the
        // first and last; taking the leftmost occurrence of each is optimal.
        let mut window = &s[first.len()..s.len() - last.len()];
        for part in middle {
            match window.find(part.as_str()) {
                Some(at) => window = &window[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A compiled `numeric` expression: an optional lower and upper bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumericRange {
    /// `(bound, inclusive)`.
    pub(crate) lower: Option<(f64, bool)>,
    /// `(bound, inclusive)`.
    pub(crate) upper: Option<(f64, bool)>,
}

impl NumericRange {
    /// Values outside ±5e9 never match, as EventBridge cannot compare them.
    fn contains(&self, v: f64) -> bool {
        if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&v) {
            return false;
        }
        let above = match self.lower {
            Some((b, true)) => v >= b,
            Some((b, false)) => v > b,
            None => true,
        };
        let below = match self.upper {
            Some((b, true)) => v <= b,
            Some((b, false)) => v < b,
            None => true,
        };
        above && below
    }
}

/// A compiled CIDR block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cidr {
    /// Network address and mask, host bits zero.
    V4 { network: u32, mask: u32 },
    /// Network address and mask, host bits zero.
    V6 { network: u128, mask: u128 },
}

impl Cidr {
    /// Whether `s` is an IP address of the same family inside the block.
    fn contains_str(&self, s: &str) -> bool {
        match (self, s.parse::<IpAddr>()) {
            (Cidr::V4 { network, mask }, Ok(IpAddr::V4(ip))) => u32::from(ip) & mask == *network,
            (Cidr::V6 { network, mask }, Ok(IpAddr::V6(ip))) => u128::from(ip) & mask == *network,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wc(parts: &[&str]) -> Wildcard {
        Wildcard::new(parts.iter().map(|p| (*p).to_owned()).collect())
    }

    #[test]
    fn wildcard_pieces() {
        assert!(wc(&["a", "b", "c"]).matches("abc"));
        assert!(wc(&["a", "b", "c"]).matches("a-b-c"));
        assert!(!wc(&["ab", "bc"]).matches("abc"));
        assert!(wc(&["ab", "bc"]).matches("abbc"));
        assert!(wc(&["", ""]).matches(""));
        assert!(wc(&["x"]).matches("x"));
        assert!(!wc(&["x"]).matches("xx"));
        assert!(wc(&["", "b", ""]).matches("abc"));
        assert!(!wc(&["", "b", "", "b", ""]).matches("abc"));
    }

    #[test]
    fn ignore_case_helpers() {
        assert!(equals_ic("AliCE", "alice"));
        assert!(!equals_ic("Alic", "alice"));
        assert!(starts_with_ic("EVENTBridge", "eventb"));
        assert!(!starts_with_ic("EV", "eventb"));
        assert!(ends_with_ic("file.PNG", ".png"));
        assert!(!ends_with_ic("png", ".png"));
        assert!(equals_ic("ÄÖÜ", "äöü"));
    }
}
