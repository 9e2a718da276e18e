//! Target input processing, as EventBridge applies it before delivery.
//!
//! A target gets one of (PutTargets API): the whole event (the default),
//! `Input` (constant JSON text), `InputPath` (a JSON path into the event) or
//! `InputTransformer` (variables from `InputPathsMap` substituted into
//! `InputTemplate`). Everything is validated when the configuration is built;
//! the only delivery-time failure is a JSON template that stops being JSON
//! once the values are in (see [`Transformer`]).

mod path;
mod template;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use thiserror::Error;

pub use path::{JsonPath, MAX_PATH_LEN, PathError};
pub use template::{MAX_INPUT_PATHS, MAX_TEMPLATE_LEN, Transformer};

/// Longest `Input` text the API accepts.
pub const MAX_INPUT_LEN: usize = 8192;

/// What a target receives: JSON, or the text of a string template.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetInput {
    /// A JSON document: the event, `Input`, an `InputPath` selection or a JSON template.
    Json(Value),
    /// The output of a string `InputTemplate`, exactly as EventBridge sends it.
    Text(String),
}

impl TargetInput {
    /// The JSON value, if this is JSON.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            TargetInput::Json(v) => Some(v),
            TargetInput::Text(_) => None,
        }
    }

    /// The text, if this came from a string template.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            TargetInput::Json(_) => None,
            TargetInput::Text(s) => Some(s),
        }
    }

    /// The payload as a JSON value: the JSON itself, or the text as a JSON
    /// string (how the dead-letter record stores it).
    pub fn to_value(&self) -> Value {
        match self {
            TargetInput::Json(v) => v.clone(),
            TargetInput::Text(s) => Value::String(s.clone()),
        }
    }
}

/// The body a target receives: compact JSON, or the template text.
impl std::fmt::Display for TargetInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetInput::Json(v) => write!(f, "{v}"),
            TargetInput::Text(s) => f.write_str(s),
        }
    }
}

/// The predefined transformer variables for one delivery.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// `<aws.events.rule-name>`.
    pub rule_name: &'a str,
    /// `<aws.events.rule-arn>`.
    pub rule_arn: &'a str,
    /// `<aws.events.event.ingestion-time>`: when the bus accepted the event (RFC 3339).
    pub ingestion_time: &'a str,
}

/// A transformed input could not be produced at delivery time.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{reason}")]
pub struct RenderError {
    /// Why.
    pub reason: String,
    /// The text that was produced.
    pub output: String,
}

/// A target input configuration was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum InputError {
    /// A malformed JSON path.
    #[error(transparent)]
    Path(#[from] PathError),
    /// `Input` is not JSON.
    #[error("input is not valid json: {0}")]
    InvalidConstant(String),
    /// `Input` is longer than 8192 characters.
    #[error("input is {0} characters long; at most 8192 are allowed")]
    ConstantTooLong(usize),
    /// More than 100 `InputPathsMap` entries.
    #[error("input paths map has {0} entries; at most 100 are allowed")]
    TooManyPaths(usize),
    /// A variable name outside `[A-Za-z0-9_-]{1,256}`.
    #[error("invalid variable name {0:?}: must be 1 to 256 characters from [A-Za-z0-9_-]")]
    InvalidVariableName(String),
    /// A variable named like a predefined one.
    #[error("variable name {0:?} is reserved")]
    ReservedVariable(String),
    /// The same variable twice.
    #[error("variable {0:?} is defined twice")]
    DuplicateVariable(String),
    /// An empty `InputTemplate`.
    #[error("input template must not be empty")]
    EmptyTemplate,
    /// An `InputTemplate` longer than 8192 characters.
    #[error("input template is {0} characters long; at most 8192 are allowed")]
    TemplateTooLong(usize),
    /// A placeholder that is neither in `InputPathsMap` nor predefined.
    #[error("input template contains invalid placeholder <{0}>: it is not in the input paths map")]
    InvalidPlaceholder(String),
    /// A placeholder used as (part of) an object key.
    #[error("placeholder <{0}> cannot be used as an object key")]
    PlaceholderAsKey(String),
    /// `<aws.events.event>` or `<aws.events.event.json>` inside a string.
    #[error("<{0}> can only be used as the value of a json field, not inside a string")]
    EventVariableInString(String),
    /// A JSON template that is not JSON even with placeholder values filled in.
    #[error("json input template is not valid json: {0}")]
    TemplateNotJson(String),
    /// More than one of `Input`, `InputPath` and `InputTransformer`.
    #[error("only one of Input, InputPath, or InputTransformer may be provided")]
    Conflicting,
}

/// The `InputTransformer` field of a PutTargets target, as the API spells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    /// Variable name to JSON path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_paths_map: BTreeMap<String, String>,
    /// The template with `<name>` placeholders.
    pub input_template: String,
}

/// How a target's input is produced from the matched event.
#[derive(Debug, Clone, Default)]
pub enum InputConfig {
    /// The whole event (EventBridge's default).
    #[default]
    Event,
    /// `Input`: constant JSON, whatever the event.
    Constant(Value),
    /// `InputPath`: the part of the event the path selects (`null` if it
    /// selects nothing).
    Path(JsonPath),
    /// `InputTransformer`.
    Transformer(Transformer),
}

impl InputConfig {
    /// `Input`: constant JSON text.
    pub fn constant(json: &str) -> Result<InputConfig, InputError> {
        if json.len() > MAX_INPUT_LEN {
            return Err(InputError::ConstantTooLong(json.len()));
        }
        serde_json::from_str(json)
            .map(InputConfig::Constant)
            .map_err(|e| InputError::InvalidConstant(e.to_string()))
    }

    /// `InputPath`.
    pub fn path(path: &str) -> Result<InputConfig, InputError> {
        Ok(InputConfig::Path(JsonPath::parse(path)?))
    }

    /// `InputTransformer`.
    pub fn transformer(spec: &InputTransformer) -> Result<InputConfig, InputError> {
        let paths = spec
            .input_paths_map
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        Ok(InputConfig::Transformer(Transformer::new(
            paths,
            &spec.input_template,
        )?))
    }

    /// Builds the configuration from the three optional PutTargets fields,
    /// rejecting more than one (as the API does).
    pub fn from_api(
        input: Option<&str>,
        input_path: Option<&str>,
        input_transformer: Option<&InputTransformer>,
    ) -> Result<InputConfig, InputError> {
        match (input, input_path, input_transformer) {
            (None, None, None) => Ok(InputConfig::Event),
            (Some(json), None, None) => InputConfig::constant(json),
            (None, Some(path), None) => InputConfig::path(path),
            (None, None, Some(spec)) => InputConfig::transformer(spec),
            _ => Err(InputError::Conflicting),
        }
    }

    /// Produces the input for one matched event.
    pub fn render(
        &self,
        event: &Value,
        ctx: &RenderContext<'_>,
    ) -> Result<TargetInput, RenderError> {
        match self {
            InputConfig::Event => Ok(TargetInput::Json(event.clone())),
            InputConfig::Constant(v) => Ok(TargetInput::Json(v.clone())),
            InputConfig::Path(p) => Ok(TargetInput::Json(p.select(event).unwrap_or(Value::Null))),
            InputConfig::Transformer(t) => t.render(event, ctx),
        }
    }
}
