//! Errors returned when a pattern fails validation.

use thiserror::Error;

/// A pattern was rejected: what is wrong ([`ErrorKind`]) and where (a JSON path).
///
/// The path is written JSONPath-style from the pattern root, for example
/// `$.detail.state[0]` or `$["detail-type"][1].numeric`. Its `Display` form is
/// `<path>: <reason>`, lower-case and without a trailing period.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{path}: {kind}")]
pub struct PatternError {
    path: String,
    kind: ErrorKind,
}

impl PatternError {
    pub(crate) fn new(path: String, kind: ErrorKind) -> Self {
        Self { path, kind }
    }

    /// The JSON path of the offending key or value, starting at `$`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// The reason a pattern was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not JSON at all.
    #[error("invalid json: {0}")]
    InvalidJson(String),
    /// The pattern (or a `$or` branch) is not a JSON object.
    #[error("pattern must be a json object")]
    NotAnObject,
    /// `{}` as a pattern, nested object or `$or` branch.
    #[error("empty objects are not allowed")]
    EmptyObject,
    /// A field's value is neither an array of match conditions nor a nested object.
    #[error("field value must be an array of match conditions or an object")]
    NotArrayOrObject,
    /// An empty array of match conditions (or an empty operand list).
    #[error("empty arrays are not allowed")]
    EmptyArray,
    /// An element of a match-condition array is itself an array.
    #[error("match value must be a string, number, boolean, null or an operator object")]
    InvalidMatchValue,
    /// An operator object with no key, such as `[{}]`.
    #[error("match expression has no operator")]
    MissingOperator,
    /// An operator object with more than one key.
    #[error("match expression must have exactly one operator, found {0}")]
    TooManyOperators(usize),
    /// An operator name that is not supported (at this position).
    #[error("unknown operator \"{0}\"")]
    UnknownOperator(String),
    /// An operator was given an operand of the wrong type.
    #[error("operand of \"{operator}\" must be {expected}")]
    InvalidOperand {
        /// The operator, e.g. `prefix` or `anything-but/wildcard`.
        operator: String,
        /// What it accepts, e.g. `a string`.
        expected: &'static str,
    },
    /// `anything-but` prefix or suffix with an empty string.
    #[error("operand of \"{0}\" must not be empty")]
    EmptyOperand(String),
    /// An `anything-but` list mixing strings and numbers.
    #[error("anything-but list must contain only strings or only numbers")]
    MixedAnythingButList,
    /// A malformed `numeric` expression.
    #[error("invalid numeric expression: {0}")]
    InvalidNumeric(String),
    /// A number outside the range EventBridge supports for numeric matching.
    #[error("number {0} is outside the supported range -5e9 to 5e9")]
    NumberOutOfRange(f64),
    /// A malformed `cidr` operand.
    #[error("invalid cidr \"{cidr}\": {reason}")]
    InvalidCidr {
        /// The operand as given.
        cidr: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A malformed `wildcard` operand.
    #[error("invalid wildcard \"{pattern}\": {reason} at position {position}")]
    InvalidWildcard {
        /// The operand as given.
        pattern: String,
        /// Why it was rejected.
        reason: &'static str,
        /// Byte offset of the offending character.
        position: usize,
    },
    /// `$or` whose value is not an array of at least two objects.
    #[error("$or must be an array of at least two objects")]
    InvalidOr,
    /// An operator name used as a field name inside a `$or` branch.
    #[error("\"{0}\" is a reserved operator name and cannot be a field name inside $or")]
    ReservedFieldInOr(String),
}
