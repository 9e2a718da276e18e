//! EventBridge's JSON path subset, used by `InputPath` and `InputPathsMap`.
//!
//! The user guide lists the supported syntax: dot notation (`$.detail`),
//! names made of alphanumeric characters, dashes, underscores and forward
//! slashes, array indices (`$.resources[0]`) and wildcards (`*`). The API
//! reference adds "You must use JSON dot notation, not bracket notation", so
//! `$['detail']` is rejected; brackets hold only an index or `*`.

use serde_json::Value;
use thiserror::Error;

/// Longest `InputPath` / `InputPathsMap` value the API accepts.
pub const MAX_PATH_LEN: usize = 256;

/// A rejected JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid json path {path:?}: {reason} at position {position}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// Byte offset of the offending character.
    pub position: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// A validated JSON path such as `$.detail.items[0].id` or `$.detail.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    Wildcard,
}

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '/')
}

impl JsonPath {
    /// Parses and validates a path.
    pub fn parse(text: &str) -> Result<JsonPath, PathError> {
        let err = |position: usize, reason: &'static str| PathError {
            path: text.to_owned(),
            position,
            reason,
        };
        if text.len() > MAX_PATH_LEN {
            return Err(err(MAX_PATH_LEN, "path is longer than 256 characters"));
        }
        if !text.starts_with('$') {
            return Err(err(0, "path must start with \"$\""));
        }
        let mut steps = Vec::new();
        let mut chars = text.char_indices().skip(1).peekable();
        while let Some((pos, c)) = chars.next() {
            match c {
                '.' => {
                    if chars.next_if(|&(_, c)| c == '*').is_some() {
                        steps.push(Step::Wildcard);
                        continue;
                    }
                    let mut name = String::new();
                    while let Some((_, c)) = chars.next_if(|&(_, c)| name_char(c)) {
                        name.push(c);
                    }
                    if name.is_empty() {
                        let at = chars.peek().map_or(text.len(), |&(p, _)| p);
                        return Err(err(at, "expected a field name after \".\""));
                    }
                    steps.push(Step::Key(name));
                }
                '[' => {
                    if chars.next_if(|&(_, c)| c == '*').is_some() {
                        steps.push(Step::Wildcard);
                    } else {
                        let mut digits = String::new();
                        while let Some((_, c)) = chars.next_if(|&(_, c)| c.is_ascii_digit()) {
                            digits.push(c);
                        }
                        if digits.is_empty() {
                            return Err(err(
                                pos + 1,
                                "brackets may hold only an array index or \"*\" (use dot notation for names)",
                            ));
                        }
                        let index = digits
                            .parse::<usize>()
                            .map_err(|_| err(pos + 1, "array index is too large"))?;
                        steps.push(Step::Index(index));
                    }
                    if chars.next_if(|&(_, c)| c == ']').is_none() {
                        let at = chars.peek().map_or(text.len(), |&(p, _)| p);
                        return Err(err(at, "expected \"]\""));
                    }
                }
                _ => return Err(err(pos, "expected \".\" or \"[\"")),
            }
        }
        Ok(JsonPath {
            text: text.to_owned(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path has no wildcard, so it selects at most one value.
    pub fn is_definite(&self) -> bool {
        !self.steps.contains(&Step::Wildcard)
    }

    /// Applies the path to `value`.
    ///
    /// A definite path returns the value it names, or `None` if there is none.
    /// A path with a wildcard returns an array of every match (possibly empty),
    /// as JsonPath implementations do for indefinite paths.
    pub fn select(&self, value: &Value) -> Option<Value> {
        if self.is_definite() {
            let mut current = value;
            for step in &self.steps {
                current = match (step, current) {
                    (Step::Key(k), Value::Object(map)) => map.get(k)?,
                    (Step::Index(i), Value::Array(items)) => items.get(*i)?,
                    _ => return None,
                };
            }
            return Some(current.clone());
        }
        let mut current: Vec<&Value> = vec![value];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match (step, v) {
                    (Step::Key(k), Value::Object(map)) => next.extend(map.get(k)),
                    (Step::Index(i), Value::Array(items)) => next.extend(items.get(*i)),
                    (Step::Wildcard, Value::Object(map)) => next.extend(map.values()),
                    (Step::Wildcard, Value::Array(items)) => next.extend(items.iter()),
                    _ => {}
                }
            }
            current = next;
        }
        Some(Value::Array(current.into_iter().cloned().collect()))
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for JsonPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JsonPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_definite_and_wildcard_paths() {
        let event = json!({"detail": {"instance-id": "i-1", "items": [{"id": 1}, {"id": 2}]},
                           "resources": ["arn:a", "arn:b"]});
        let get = |p: &str| JsonPath::parse(p).unwrap().select(&event);
        assert_eq!(get("$"), Some(event.clone()));
        assert_eq!(get("$.detail.instance-id"), Some(json!("i-1")));
        assert_eq!(get("$.resources[1]"), Some(json!("arn:b")));
        assert_eq!(get("$.detail.items[0].id"), Some(json!(1)));
        assert_eq!(get("$.detail.items[*].id"), Some(json!([1, 2])));
        assert_eq!(get("$.resources.*"), Some(json!(["arn:a", "arn:b"])));
        assert_eq!(get("$.detail.missing"), None);
        assert_eq!(get("$.resources[5]"), None);
        assert_eq!(get("$.detail.nothing[*]"), Some(json!([])));
    }

    #[test]
    fn rejects_unsupported_syntax() {
        for (p, reason) in [
            ("detail", "must start"),
            ("$['detail']", "brackets may hold only"),
            ("$.", "expected a field name"),
            ("$.a..b", "expected a field name"),
            ("$.a[0", "expected \"]\""),
            ("$.a b", "expected \".\" or \"[\""),
            ("$..a", "expected a field name"),
        ] {
            let e = JsonPath::parse(p).unwrap_err();
            assert!(e.to_string().contains(reason), "{p}: {e}");
        }
    }
}
