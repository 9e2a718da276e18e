//! Matching a compiled pattern against an event.
//!
//! Semantics (AWS EventBridge "Event patterns" and "Content filtering"):
//!
//! * every field of a pattern object must match (AND), and every `$or` group
//!   must have at least one matching branch;
//! * a leaf matches if any of its conditions matches (OR);
//! * if the event value is an array, a leaf matches if any element matches,
//!   and a nested pattern object matches if any single element matches it as a
//!   whole (so fields from different array elements are never combined);
//! * a field is *absent* when it is missing, when its value is an object (it is
//!   not a leaf), or when it is an array holding no leaf value (such as `[]`).
//!   Only `{"exists": false}` matches an absent field; null is a present value.

use serde_json::{Map, Value};

use super::condition::Condition;
use super::{Leaf, Node, ObjectPattern};

impl ObjectPattern {
    /// `event` is `None` when the corresponding event node is missing or is not
    /// an object: all of this pattern's fields are then absent.
    pub(crate) fn matches(&self, event: Option<&Map<String, Value>>) -> bool {
        self.fields
            .iter()
            .all(|(name, node)| node.matches(event.and_then(|e| e.get(name))))
            && self
                .ors
                .iter()
                .all(|branches| branches.iter().any(|b| b.matches(event)))
    }
}

impl Node {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Node::Leaf(leaf) => leaf.matches(value),
            Node::Object(object) => object_matches(object, value),
        }
    }
}

fn object_matches(object: &ObjectPattern, value: Option<&Value>) -> bool {
    match value {
        Some(Value::Object(map)) => object.matches(Some(map)),
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().any(|item| object_matches(object, Some(item)))
        }
        _ => object.matches(None),
    }
}

impl Leaf {
    fn matches(&self, value: Option<&Value>) -> bool {
        match value {
            Some(v) if has_leaf(v) => any_leaf(v, &|scalar| {
                self.conditions.iter().any(|c| c.matches_scalar(scalar))
            }),
            _ => self.matches_absent,
        }
    }
}

/// Whether `v` is, or (as an array, at any depth) contains, a scalar.
fn has_leaf(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().any(has_leaf),
        _ => true,
    }
}

/// Whether `f` holds for some scalar in `v` (flattening nested arrays and
/// skipping objects).
fn any_leaf(v: &Value, f: &dyn Fn(&Value) -> bool) -> bool {
    match v {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().any(|item| any_leaf(item, f)),
        scalar => f(scalar),
    }
}

impl Leaf {
    pub(crate) fn new(conditions: Vec<Condition>) -> Self {
        let matches_absent = conditions
            .iter()
            .any(|c| matches!(c, Condition::Exists(false)));
        Self {
            conditions,
            matches_absent,
        }
    }
}
