//! Validation of page-view records, detail or whole envelope, one or many per document.

use std::fmt;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::Value;

use crate::generate;

/// A schema that could not be compiled into a validator.
#[derive(Debug, thiserror::Error)]
#[error("schema does not compile: {0}")]
pub struct SchemaError(String);

/// One reason a record is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer to the offending value within the record (`""` is the record itself).
    pub pointer: String,
    /// What is wrong with it.
    pub reason: String,
    /// The field concerned, as a dotted path (`detail.country`): the pointer's, or for a missing
    /// or unexpected property, that property. Empty for the record as a whole.
    pub field: String,
}

impl Violation {
    fn whole_record(reason: String) -> Self {
        Violation {
            pointer: String::new(),
            reason,
            field: String::new(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.reason)
    }
}

/// An invalid record in a document, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The line the record starts on, counted from 1.
    pub line: usize,
    /// Why it is invalid.
    pub violation: Violation,
}

/// What a document held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// How many records were read.
    pub records: usize,
    /// Every violation found, in document order.
    pub errors: Vec<RecordError>,
}

/// Longest value quoted in a message, in characters.
const MAX_QUOTED_CHARS: usize = 80;

/// A compiled schema, kept with its source to explain failures.
#[derive(Debug)]
pub struct Compiled {
    validator: Validator,
    schema: Value,
}

impl Compiled {
    /// Compiles a schema for one draft, with format validation on (`date-time` is checked).
    pub fn new(schema: Value, draft: Draft) -> Result<Self, SchemaError> {
        let validator = jsonschema::options()
            .with_draft(draft)
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| SchemaError(e.to_string()))?;
        Ok(Self { validator, schema })
    }

    /// Whether `instance` is valid.
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every violation by `instance`, pointers prefixed with `prefix`.
    pub fn violations(&self, instance: &Value, prefix: &str) -> Vec<Violation> {
        self.validator
            .iter_errors(instance)
            .map(|e| {
                let pointer = format!("{prefix}{}", e.instance_path().as_str());
                let named = match e.kind() {
                    ValidationErrorKind::Required { property } => property.as_str(),
                    ValidationErrorKind::AdditionalProperties { unexpected } => {
                        unexpected.first().map(String::as_str)
                    }
                    _ => None,
                };
                let field = pointer
                    .split('/')
                    .skip(1)
                    .chain(named)
                    .collect::<Vec<_>>()
                    .join(".");
                Violation {
                    reason: self.reason(&e),
                    pointer,
                    field,
                }
            })
            .collect()
    }

    /// The error's message with the offending value cut short; for a failed `oneOf` or `anyOf`
    /// whose alternatives are all described, the descriptions instead.
    fn reason(&self, e: &ValidationError<'_>) -> String {
        let keyword = e.schema_path().as_str();
        if keyword.ends_with("/oneOf") || keyword.ends_with("/anyOf") {
            let alternatives: Option<Vec<String>> = self
                .schema
                .pointer(keyword)
                .and_then(Value::as_array)
                .map(|branches| branches.iter().map(|b| describe(&self.schema, b)).collect());
            if let Some(alts) = alternatives.filter(|a| a.iter().all(|d| !d.is_empty())) {
                return format!("matches none of: {}", alts.join("; "));
            }
        }
        let text = e.to_string();
        let instance = e.instance().to_string();
        match text.strip_prefix(instance.as_str()) {
            Some(rest) if instance.chars().count() > MAX_QUOTED_CHARS => {
                let short: String = instance.chars().take(MAX_QUOTED_CHARS).collect();
                format!("{short}…{rest}")
            }
            _ => text,
        }
    }
}

/// A branch's description, following one local `$ref`; empty when it has none.
fn describe(root: &Value, branch: &Value) -> String {
    let target = branch
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
        .unwrap_or(branch);
    match target.get("description").and_then(Value::as_str) {
        Some(d) => d
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned(),
        None if target.get("type").and_then(Value::as_str) == Some("null") => "null".into(),
        None => String::new(),
    }
}

/// Validates page-view details and envelopes carrying them.
#[derive(Debug)]
pub struct PageViewValidator {
    detail: Compiled,
    envelope: Compiled,
}

impl PageViewValidator {
    /// A validator for the schema the current Rust types generate.
    pub fn new() -> Result<Self, SchemaError> {
        Self::for_detail_schema(&generate::page_view_schema())
    }

    /// A validator for the given detail schema (Draft 2020-12), for example a committed one.
    pub fn for_detail_schema(detail_schema: &Value) -> Result<Self, SchemaError> {
        let mut envelope = generate::envelope_schema();
        // The envelope is checked with an open detail; the detail is checked on its own, so that
        // any detail schema can be plugged in.
        if let Some(props) = envelope.pointer_mut("/properties") {
            props["detail"] = Value::Bool(true);
        }
        Ok(Self {
            detail: Compiled::new(detail_schema.clone(), Draft::Draft202012)?,
            envelope: Compiled::new(envelope, Draft::Draft202012)?,
        })
    }

    /// Validates one record: an envelope when it has `detail-type` or `detail`, else a detail.
    pub fn validate(&self, record: &Value) -> Vec<Violation> {
        if !record.is_object() {
            return vec![Violation::whole_record(
                "a record must be a JSON object".into(),
            )];
        }
        if !is_envelope(record) {
            return self.detail.violations(record, "");
        }
        let mut out = self.envelope.violations(record, "");
        if let Some(detail) = record.get("detail") {
            out.extend(self.detail.violations(detail, "/detail"));
        }
        out
    }

    /// Whether a record is valid; faster than [`validate`](Self::validate) when it is.
    pub fn is_valid(&self, record: &Value) -> bool {
        if !is_envelope(record) {
            return self.detail.is_valid(record);
        }
        self.envelope.is_valid(record)
            && record
                .get("detail")
                .is_some_and(|d| self.detail.is_valid(d))
    }

    /// Validates a document: one JSON value (possibly pretty-printed over many lines), or NDJSON
    /// with one record per line. Blank lines are skipped.
    pub fn validate_document(&self, text: &str) -> Report {
        let mut report = Report::default();
        let single = serde_json::from_str::<Value>(text);
        let ndjson = match &single {
            Ok(_) => false,
            Err(e) => e.to_string().starts_with("trailing characters") || first_line_is_json(text),
        };
        if !ndjson {
            report.records = 1;
            report.errors = self
                .parsed(single)
                .into_iter()
                .map(|violation| RecordError { line: 1, violation })
                .collect();
            return report;
        }
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            report.records += 1;
            let violations = self.parsed(serde_json::from_str::<Value>(line));
            report
                .errors
                .extend(violations.into_iter().map(|violation| RecordError {
                    line: i + 1,
                    violation,
                }));
        }
        report
    }

    fn parsed(&self, parsed: serde_json::Result<Value>) -> Vec<Violation> {
        match parsed {
            Ok(v) => self.validate(&v),
            Err(e) => vec![Violation::whole_record(format!("invalid json: {e}"))],
        }
    }
}

fn is_envelope(record: &Value) -> bool {
    record
        .as_object()
        .is_some_and(|o| o.contains_key("detail-type") || o.contains_key("detail"))
}

fn first_line_is_json(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| serde_json::from_str::<Value>(l).is_ok())
}
