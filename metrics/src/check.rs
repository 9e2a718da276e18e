//! Reading an EMF line back, checked against the specification: for tests of every function
//! that emits one, and anyone who wants to see what a line says.

use std::collections::BTreeMap;

use serde_json::Value;

/// Why a line is not a valid EMF document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmfError {
    /// The line is not one JSON object.
    #[error("not a json object: {0}")]
    NotJson(String),
    /// A member the specification requires is missing or of the wrong type.
    #[error("{0}")]
    Invalid(String),
}

/// What a line says: its timestamp, its dimension values and its metrics' values, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// `_aws.Timestamp`, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Each dimension key of the directives, with its value.
    pub dimensions: BTreeMap<String, String>,
    /// Each metric named in the directives, with its value.
    pub metrics: BTreeMap<String, f64>,
    /// Each metric's unit.
    pub units: BTreeMap<String, String>,
}

impl Emitted {
    /// A metric's value, 0 when the line does not name it.
    pub fn get(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(0.0)
    }
}

fn invalid(what: impl Into<String>) -> EmfError {
    EmfError::Invalid(what.into())
}

/// Parses `line` as one EMF document: `_aws` with a millisecond `Timestamp` and
/// `CloudWatchMetrics`, each directive's `Namespace`, `Dimensions` (sets of at most 30 keys,
/// each a string member of the root) and `Metrics` (at most 100, each `Name` a numeric member
/// of the root).
pub fn read(line: &str) -> Result<Emitted, EmfError> {
    if line.contains('\n') {
        return Err(invalid("more than one line"));
    }
    let root: Value = serde_json::from_str(line).map_err(|e| EmfError::NotJson(e.to_string()))?;
    let root = root
        .as_object()
        .ok_or_else(|| EmfError::NotJson("not an object".into()))?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("no _aws object"))?;
    let timestamp_ms = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        // Milliseconds: from 2001 on; seconds would be 1,000 times smaller.
        .filter(|t| *t > 1_000_000_000_000)
        .ok_or_else(|| invalid("_aws.Timestamp is not a time in milliseconds"))?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid("_aws.CloudWatchMetrics is not a non-empty array"))?;
    let mut out = Emitted {
        timestamp_ms,
        dimensions: BTreeMap::new(),
        metrics: BTreeMap::new(),
        units: BTreeMap::new(),
    };
    for directive in directives {
        read_directive(root, directive, &mut out)?;
    }
    Ok(out)
}

fn read_directive(
    root: &serde_json::Map<String, Value>,
    directive: &Value,
    out: &mut Emitted,
) -> Result<(), EmfError> {
    let namespace = directive["Namespace"].as_str().unwrap_or_default();
    if namespace.is_empty() || namespace.len() > 255 {
        return Err(invalid("a directive's Namespace is not 1-255 characters"));
    }
    let sets = directive["Dimensions"]
        .as_array()
        .ok_or_else(|| invalid("a directive's Dimensions is not an array"))?;
    for set in sets {
        let keys = set
            .as_array()
            .filter(|k| k.len() <= 30)
            .ok_or_else(|| invalid("a dimension set is not an array of at most 30 keys"))?;
        for key in keys {
            let key = key.as_str().ok_or_else(|| invalid("a dimension key"))?;
            let value = root
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("dimension {key} has no string value")))?;
            out.dimensions.insert(key.into(), value.into());
        }
    }
    let metrics = directive["Metrics"]
        .as_array()
        .filter(|m| m.len() <= 100)
        .ok_or_else(|| invalid("a directive's Metrics is not an array of at most 100"))?;
    for metric in metrics {
        let name = metric["Name"]
            .as_str()
            .filter(|n| !n.is_empty() && n.len() <= 1024)
            .ok_or_else(|| invalid("a metric without a name"))?;
        let value = root
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| invalid(format!("metric {name} has no numeric value")))?;
        out.metrics.insert(name.into(), value);
        if let Some(unit) = metric["Unit"].as_str() {
            out.units.insert(name.into(), unit.into());
        }
    }
    Ok(())
}
