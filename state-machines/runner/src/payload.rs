//! Payload templates (`Parameters`, `ResultSelector`): keys ending in `.$`
//! take a path or an intrinsic function call, recursively through nested
//! objects and arrays.

use serde_json::{Map, Value};

use crate::error::StateError;
use crate::intrinsics::Call;
use crate::path::Path;

/// A compiled payload template.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    Literal(Value),
    Path(Path),
    Call(Call),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

/// Compiles a `.$` value: a path or an intrinsic function call.
pub(crate) fn dynamic(text: &str) -> Result<Template, String> {
    if text.starts_with('$') {
        Path::parse(text).map(Template::Path)
    } else {
        Call::parse(text).map(Template::Call)
    }
}

impl Template {
    /// Compiles a template; the error names the offending key.
    pub(crate) fn compile(value: &Value) -> Result<Template, String> {
        Ok(match value {
            Value::Object(m) => {
                let mut fields = Vec::with_capacity(m.len());
                for (k, v) in m {
                    if let Some(name) = k.strip_suffix(".$") {
                        let Value::String(text) = v else {
                            return Err(format!(
                                "field \"{k}\" must be a string (a path or an intrinsic function)"
                            ));
                        };
                        let t = dynamic(text).map_err(|e| format!("field \"{k}\": {e}"))?;
                        fields.push((name.to_owned(), t));
                    } else {
                        fields.push((k.clone(), Template::compile(v)?));
                    }
                }
                Template::Object(fields)
            }
            Value::Array(a) => {
                Template::Array(a.iter().map(Template::compile).collect::<Result<_, _>>()?)
            }
            other => Template::Literal(other.clone()),
        })
    }

    /// Builds the payload from `input` (`$`) and `context` (`$$`).
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, StateError> {
        self.eval_named(input, context, "")
    }

    fn eval_named(&self, input: &Value, context: &Value, key: &str) -> Result<Value, StateError> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Path(p) => p.select(input, context).cloned().ok_or_else(|| {
                StateError::runtime(format!(
                    "the JSONPath \"{p}\" specified for the field \"{key}.$\" could not be found in the input {}",
                    if p.root() == crate::path::Root::Context { context } else { input }
                ))
            })?,
            Template::Call(c) => c.eval(input, context)?,
            Template::Object(fields) => {
                let mut m = Map::new();
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval_named(input, context, k)?);
                }
                Value::Object(m)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.eval_named(input, context, key))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}
