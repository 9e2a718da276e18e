//! The rules `tally schema check` enforces, over files the caller has read.
//!
//! The committed tree, relative to the `schema` crate:
//!
//! ```text
//! page-view/v1.json                       generated detail schema (Draft 2020-12)
//! page-view/examples/valid/*.json         details or envelopes that must validate
//! page-view/examples/invalid/*.json       records that must not, each named for the rule it breaks
//! page-view/releases/<ver>/valid/*.json   valid examples frozen when <ver> was current
//! ```

use std::fmt;

use serde_json::Value;

use crate::SchemaVer;
use crate::generate::{self, REGISTRY_CONTENT_LIMIT};
use crate::page_view::VERSION;
use crate::validate::{PageViewValidator, Violation};

/// The committed schema file, relative to the `schema` crate.
pub const SCHEMA_FILE: &str = "page-view/v1.json";

/// The command that regenerates every generated schema file.
pub const REGENERATE_COMMAND: &str = "cargo run -- schema generate";

/// The command that freezes the current examples before a version bump.
pub const FREEZE_COMMAND: &str = "cargo run -- schema freeze";

/// A JSON example read from the tree.
#[derive(Debug, Clone)]
pub struct Example {
    /// Its path relative to the `schema` crate, for messages.
    pub name: String,
    /// Its parsed content, or the parse error.
    pub value: Result<Value, String>,
}

/// The valid examples frozen for an earlier (or the current) version.
#[derive(Debug, Clone)]
pub struct Release {
    /// The version the examples were valid for.
    pub version: SchemaVer,
    /// Its valid examples.
    pub examples: Vec<Example>,
}

/// Everything `check` looks at.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// The text of the committed schema file, if it exists.
    pub committed_schema: Option<String>,
    /// Examples that must validate.
    pub valid: Vec<Example>,
    /// Examples that must not validate.
    pub invalid: Vec<Example>,
    /// Frozen examples of earlier versions.
    pub releases: Vec<Release>,
}

/// One reason the check fails.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The committed schema file is missing or differs from the generated one.
    Stale {
        /// The file, relative to the `schema` crate.
        file: String,
    },
    /// The generated schema does not compile (a bug in the types' attributes).
    Uncompilable(String),
    /// An example could not be parsed as JSON.
    Unparsable {
        /// The example.
        example: String,
        /// The parse error.
        error: String,
    },
    /// A valid example fails validation.
    ValidRejected {
        /// The example.
        example: String,
        /// Why.
        violations: Vec<Violation>,
    },
    /// An invalid example passes validation.
    InvalidAccepted {
        /// The example.
        example: String,
    },
    /// There is no valid or no invalid example.
    NoExamples(&'static str),
    /// An example of an earlier version of the same model no longer validates.
    Incompatible {
        /// The earlier version.
        version: SchemaVer,
        /// The example.
        example: String,
        /// The field that broke, as a dotted path (`country`, `detail.country`).
        field: String,
        /// Why.
        violation: Violation,
    },
    /// A frozen release is newer than the types.
    ReleaseAhead(SchemaVer),
    /// The registry export is over the registry's size limit.
    RegistryTooLarge(usize),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Stale { file } => {
                write!(
                    f,
                    "{file} is stale: it differs from what the Rust types generate; run `{REGENERATE_COMMAND}`"
                )
            }
            Problem::Uncompilable(e) => write!(f, "the generated schema does not compile: {e}"),
            Problem::Unparsable { example, error } => write!(f, "{example}: not json: {error}"),
            Problem::ValidRejected {
                example,
                violations,
            } => {
                write!(f, "{example} should be valid but fails:")?;
                for v in violations {
                    write!(f, "\n    {v}")?;
                }
                Ok(())
            }
            Problem::InvalidAccepted { example } => {
                write!(f, "{example} should be invalid but passes validation")
            }
            Problem::NoExamples(kind) => write!(f, "there are no {kind} examples"),
            Problem::Incompatible {
                version,
                example,
                field,
                violation,
            } => write!(
                f,
                "breaking change to field `{field}`: {example} (valid in {version}) no longer validates against {VERSION}: {violation}; \
                 keep {} compatible or start model {}",
                version.model,
                version.model + 1
            ),
            Problem::ReleaseAhead(v) => write!(
                f,
                "frozen release {v} is newer than the types' version {VERSION}; bump page_view::VERSION"
            ),
            Problem::RegistryTooLarge(n) => write!(
                f,
                "the registry export is {n} characters, over the schema registry's limit of {REGISTRY_CONTENT_LIMIT}"
            ),
        }
    }
}

/// Runs every rule over `tree`; an empty list means the check passes.
pub fn check(tree: &Tree) -> Vec<Problem> {
    let mut problems = Vec::new();
    let generated = generate::to_file_text(&generate::page_view_schema());
    if tree.committed_schema.as_deref() != Some(generated.as_str()) {
        problems.push(Problem::Stale {
            file: SCHEMA_FILE.into(),
        });
    }
    let registry_len = generate::to_file_text(&generate::registry_schema())
        .chars()
        .count();
    if registry_len > REGISTRY_CONTENT_LIMIT {
        problems.push(Problem::RegistryTooLarge(registry_len));
    }
    let validator = match PageViewValidator::new() {
        Ok(v) => v,
        Err(e) => {
            problems.push(Problem::Uncompilable(e.to_string()));
            return problems;
        }
    };

    if tree.valid.is_empty() {
        problems.push(Problem::NoExamples("valid"));
    }
    if tree.invalid.is_empty() {
        problems.push(Problem::NoExamples("invalid"));
    }
    for ex in &tree.valid {
        match &ex.value {
            Err(error) => problems.push(Problem::Unparsable {
                example: ex.name.clone(),
                error: error.clone(),
            }),
            Ok(v) => {
                let violations = validator.validate(v);
                if !violations.is_empty() {
                    problems.push(Problem::ValidRejected {
                        example: ex.name.clone(),
                        violations,
                    });
                }
            }
        }
    }
    for ex in &tree.invalid {
        // An invalid example may be deliberately malformed JSON; that counts as rejected.
        if let Ok(v) = &ex.value
            && validator.validate(v).is_empty()
        {
            problems.push(Problem::InvalidAccepted {
                example: ex.name.clone(),
            });
        }
    }
    problems.extend(compatibility(&validator, &tree.releases));
    problems
}

/// Every example of every frozen release of the current model must validate against `validator`.
pub fn compatibility(validator: &PageViewValidator, releases: &[Release]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for release in releases {
        if release.version > VERSION {
            problems.push(Problem::ReleaseAhead(release.version));
            continue;
        }
        if release.version.model != VERSION.model {
            continue;
        }
        for ex in &release.examples {
            let Ok(value) = &ex.value else {
                problems.push(Problem::Unparsable {
                    example: ex.name.clone(),
                    error: ex.value.clone().err().unwrap_or_default(),
                });
                continue;
            };
            for violation in validator.validate(value) {
                problems.push(Problem::Incompatible {
                    version: release.version,
                    example: ex.name.clone(),
                    field: if violation.field.is_empty() {
                        "(record)".into()
                    } else {
                        violation.field.clone()
                    },
                    violation,
                });
            }
        }
    }
    problems
}
