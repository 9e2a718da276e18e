//! Compiled EventBridge event patterns.

mod condition;
mod error;
mod matcher;
mod parse;

use serde_json::Value;

use condition::Condition;
pub use error::{ErrorKind, PatternError};

/// A validated, compiled EventBridge event pattern.
///
/// Compile once with [`Pattern::parse`] or [`Pattern::from_value`], then call
/// [`Pattern::matches`] for each event; matching does not allocate.
///
/// ```
/// use tally_bus::Pattern;
/// use serde_json::json;
///
/// let pattern = Pattern::parse(r#"{
///     "source": ["aws.ec2"],
///     "detail": { "state": [{ "anything-but": "initializing" }] }
/// }"#)?;
/// assert!(pattern.matches(&json!({"source": "aws.ec2", "detail": {"state": "running"}})));
/// assert!(!pattern.matches(&json!({"source": "aws.ec2", "detail": {"state": "initializing"}})));
/// # Ok::<(), tally_bus::PatternError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pattern {
    root: ObjectPattern,
}

impl Pattern {
    /// Parses and validates a pattern from JSON text.
    ///
    /// If a key is repeated within one JSON object, the last occurrence wins
    /// (as with `serde_json`).
    pub fn parse(json: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            PatternError::new("$".to_owned(), ErrorKind::InvalidJson(e.to_string()))
        })?;
        Pattern::from_value(&value)
    }

    /// Validates and compiles a pattern given as a JSON value.
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        parse::compile(value).map(|root| Pattern { root })
    }

    /// Whether `event` matches this pattern. An event that is not a JSON
    /// object is treated as an object with no fields.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(event.as_object())
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse(s)
    }
}

/// A pattern object: named fields (AND) and `$or` groups.
#[derive(Debug, Clone)]
struct ObjectPattern {
    fields: Vec<(String, Node)>,
    /// Each group must have at least one matching branch.
    ors: Vec<Vec<ObjectPattern>>,
}

/// The value of a pattern field.
#[derive(Debug, Clone)]
enum Node {
    /// An array of match conditions.
    Leaf(Leaf),
    /// A nested pattern object.
    Object(ObjectPattern),
}

/// An array of match conditions, any of which may match.
#[derive(Debug, Clone)]
struct Leaf {
    conditions: Vec<Condition>,
    /// Precomputed: the leaf contains `{"exists": false}`.
    matches_absent: bool,
}
