//! `InputTransformer`: `InputPathsMap` variables substituted into an
//! `InputTemplate`. The rules are documented on [`Transformer`].

use serde_json::Value;

use super::{InputError, JsonPath, RenderContext, RenderError, TargetInput};

/// At most this many `InputPathsMap` entries.
pub const MAX_INPUT_PATHS: usize = 100;
/// Longest `InputTemplate` the API accepts.
pub const MAX_TEMPLATE_LEN: usize = 8192;

pub(super) const RULE_ARN: &str = "aws.events.rule-arn";
pub(super) const RULE_NAME: &str = "aws.events.rule-name";
pub(super) const INGESTION_TIME: &str = "aws.events.event.ingestion-time";
pub(super) const EVENT: &str = "aws.events.event";
pub(super) const EVENT_JSON: &str = "aws.events.event.json";

const RESERVED: [&str; 5] = [RULE_ARN, RULE_NAME, INGESTION_TIME, EVENT, EVENT_JSON];

/// A compiled, validated input transformer.
///
/// What the EventBridge documentation says, and what this type does:
///
/// * A template whose first non-blank character is `{` is a JSON template
///   ("If InputTemplate is a JSON object (surrounded by curly braces)...");
///   its output must be valid JSON. Anything else is a string template and
///   its output is the text as written, placeholders substituted (a template
///   `"instance <instance> is in <state>"` is delivered with its quotes, as
///   SQS receives it from EventBridge).
/// * Outside string literals, a variable is replaced by its JSON value, and
///   string values get quotes: `{"instance": <instance>}` gives
///   `{"instance": "i-0123456789"}` (the user guide's "Simple JSON" example;
///   the Pipes guide says quotes are added to string values). Such strings
///   are JSON-escaped, so value positions always stay valid.
///   In a string template, values outside quotes are inserted as raw text.
/// * Inside a string literal (`"state is <state>"`), a string value is
///   inserted as is: "EventBridge doesn't escape values extracted by Input
///   Path". A value with a `"` therefore breaks a JSON template; that is a
///   delivery-time failure (the event goes to the dead-letter destination).
///   An object or array inserted in a string loses its internal quotes
///   ("EventBridge removes any internal quotes to ensure a valid string", in
///   the "common issues" list of the Pipes input transformation guide).
/// * A variable whose path matches nothing "isn't created and won't appear
///   in the output": it becomes empty text, which is `""` where a JSON value
///   is expected (as recorded against AWS by LocalStack's snapshot tests).
/// * A placeholder cannot be an object key; a placeholder that is neither in
///   `InputPathsMap` nor predefined is rejected ("InputTemplate for target
///   ... contains invalid placeholder ..."). `<aws.events.event>` and
///   `<aws.events.event.json>` "can only be used as a value for a JSON field,
///   as their contents are not escaped", so they are rejected inside strings.
/// * Text in angle brackets that is not a possible variable name (e.g.
///   `a < b > c`) is literal.
#[derive(Debug, Clone)]
pub struct Transformer {
    paths: Vec<(String, JsonPath)>,
    template: String,
    json: bool,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Var { var: Var, in_string: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Var {
    User(usize),
    RuleArn,
    RuleName,
    IngestionTime,
    Event,
    EventJson,
}

fn valid_key(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn placeholder_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The next non-whitespace character at or after byte `from`.
fn next_non_ws(s: &str, from: usize) -> Option<char> {
    s[from..].chars().find(|c| !c.is_whitespace())
}

impl Transformer {
    /// Validates and compiles `InputPathsMap` and `InputTemplate`.
    pub fn new<'a, I>(paths: I, template: &str) -> Result<Transformer, InputError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut compiled: Vec<(String, JsonPath)> = Vec::new();
        for (name, path) in paths {
            if RESERVED.contains(&name) || name.starts_with("AWS.") {
                return Err(InputError::ReservedVariable(name.to_owned()));
            }
            if !valid_key(name) {
                return Err(InputError::InvalidVariableName(name.to_owned()));
            }
            if compiled.iter().any(|(n, _)| n == name) {
                return Err(InputError::DuplicateVariable(name.to_owned()));
            }
            compiled.push((name.to_owned(), JsonPath::parse(path)?));
        }
        if compiled.len() > MAX_INPUT_PATHS {
            return Err(InputError::TooManyPaths(compiled.len()));
        }
        if template.is_empty() {
            return Err(InputError::EmptyTemplate);
        }
        if template.len() > MAX_TEMPLATE_LEN {
            return Err(InputError::TemplateTooLong(template.len()));
        }
        let json = template.trim_start().starts_with('{');
        let segments = scan(template, json, &compiled)?;
        let transformer = Transformer {
            paths: compiled,
            template: template.to_owned(),
            json,
            segments,
        };
        if json {
            // With well-behaved values the template must be JSON; a value that
            // breaks it (an unescaped quote) is only known at delivery time.
            let probe = transformer.substitute(&mut |_, in_string| {
                if in_string {
                    String::new()
                } else {
                    "null".to_owned()
                }
            });
            if let Err(e) = serde_json::from_str::<Value>(&probe) {
                return Err(InputError::TemplateNotJson(e.to_string()));
            }
        }
        Ok(transformer)
    }

    /// The `InputTemplate` as given.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The `InputPathsMap` entries, in the order given.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &JsonPath)> {
        self.paths.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// Whether the template is a JSON template (starts with `{`).
    pub fn is_json(&self) -> bool {
        self.json
    }

    fn substitute(&self, value_of: &mut dyn FnMut(Var, bool) -> String) -> String {
        let mut out = String::with_capacity(self.template.len());
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Var { var, in_string } => out.push_str(&value_of(*var, *in_string)),
            }
        }
        out
    }

    /// Renders the template for one event.
    pub fn render(
        &self,
        event: &Value,
        ctx: &RenderContext<'_>,
    ) -> Result<TargetInput, RenderError> {
        let values: Vec<Option<Value>> = self.paths.iter().map(|(_, p)| p.select(event)).collect();
        let json = self.json;
        let out = self.substitute(&mut |var, in_string| {
            let owned;
            let value: Option<&Value> = match var {
                Var::User(i) => values.get(i).and_then(Option::as_ref),
                Var::RuleArn => return insert_str(ctx.rule_arn, json, in_string),
                Var::RuleName => return insert_str(ctx.rule_name, json, in_string),
                Var::IngestionTime => return insert_str(ctx.ingestion_time, json, in_string),
                Var::Event => {
                    owned = event_without_detail(event);
                    Some(&owned)
                }
                Var::EventJson => Some(event),
            };
            match value {
                None if json && !in_string => "\"\"".to_owned(),
                None => String::new(),
                Some(Value::String(s)) => insert_str(s, json, in_string),
                Some(v @ (Value::Object(_) | Value::Array(_))) if in_string => {
                    strip_quotes(&v.to_string())
                }
                Some(v) => v.to_string(),
            }
        });
        if !json {
            return Ok(TargetInput::Text(out));
        }
        serde_json::from_str(&out)
            .map(TargetInput::Json)
            .map_err(|e| RenderError {
                reason: format!("transformed input is not valid json: {e}"),
                output: out,
            })
    }
}

fn insert_str(s: &str, json: bool, in_string: bool) -> String {
    if json && !in_string {
        Value::String(s.to_owned()).to_string()
    } else {
        s.to_owned()
    }
}

/// Removes the quotes of a compact JSON text (and the backslash of an
/// escaped quote), so an object can sit inside a string literal.
fn strip_quotes(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {}
            '\\' if chars.peek() == Some(&'"') => {}
            _ => out.push(c),
        }
    }
    out
}

/// `<aws.events.event>`: the event without `detail`, with `detail-type`
/// spelled `detailType` (as AWS delivers it; see LocalStack's AWS-validated
/// snapshot `test_input_transformer_predefined_variables`).
fn event_without_detail(event: &Value) -> Value {
    match event {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "detail")
                .map(|(k, v)| {
                    let key = if k == "detail-type" {
                        "detailType".to_owned()
                    } else {
                        k.clone()
                    };
                    (key, v.clone())
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Splits a template into literals and variables, tracking string literals.
fn scan(
    template: &str,
    json: bool,
    paths: &[(String, JsonPath)],
) -> Result<Vec<Segment>, InputError> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut in_string = false;
    let mut escaped = false;
    // The first placeholder in the current string literal, to reject keys.
    let mut string_placeholder: Option<String> = None;
    let mut i = 0;
    while let Some(c) = template[i..].chars().next() {
        let len = c.len_utf8();
        if in_string && escaped {
            escaped = false;
        } else if in_string && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
            if in_string {
                string_placeholder = None;
            } else if let Some(name) = string_placeholder.take()
                && json
                && next_non_ws(template, i + 1) == Some(':')
            {
                return Err(InputError::PlaceholderAsKey(name));
            }
        } else if c == '<' {
            let rest = &template[i + 1..];
            if let Some(end) = rest.find('>') {
                let name = &rest[..end];
                if !name.is_empty() && name.chars().all(placeholder_char) {
                    let var = match name {
                        RULE_ARN => Var::RuleArn,
                        RULE_NAME => Var::RuleName,
                        INGESTION_TIME => Var::IngestionTime,
                        EVENT => Var::Event,
                        EVENT_JSON => Var::EventJson,
                        _ => match paths.iter().position(|(n, _)| n == name) {
                            Some(idx) => Var::User(idx),
                            None => return Err(InputError::InvalidPlaceholder(name.to_owned())),
                        },
                    };
                    if in_string && matches!(var, Var::Event | Var::EventJson) {
                        return Err(InputError::EventVariableInString(name.to_owned()));
                    }
                    let after = i + 1 + end + 1;
                    if in_string {
                        string_placeholder.get_or_insert_with(|| name.to_owned());
                    } else if json && next_non_ws(template, after) == Some(':') {
                        return Err(InputError::PlaceholderAsKey(name.to_owned()));
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Var { var, in_string });
                    i = after;
                    continue;
                }
            }
        }
        literal.push(c);
        i += len;
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}
