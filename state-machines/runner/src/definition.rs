//! Loading and validating a definition. Everything the runner cannot run
//! faithfully is refused here, naming the state and the feature.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use crate::choice::Rule;
use crate::error::{LoadError, STATES_ALL};
use crate::path::{Path, Root};
use crate::payload::{self, Template};
use crate::retry::{Catcher, Retrier};
use crate::subst::substitute;

/// A loaded and validated state machine definition.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(crate) start_at: String,
    pub(crate) states: BTreeMap<String, State>,
    pub(crate) comment: Option<String>,
}

/// Where a state goes after it succeeds.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    Next(String),
    End,
}

/// `Error`/`Cause` of a Fail state: fixed text, or a path / intrinsic.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Fixed(String),
    Dynamic(Template),
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Pass {
        result: Option<Value>,
        parameters: Option<Template>,
        result_path: Option<Path>,
        transition: Transition,
    },
    Task {
        resource: String,
        parameters: Option<Template>,
        result_selector: Option<Template>,
        result_path: Option<Path>,
        retry: Vec<Retrier>,
        catch: Vec<Catcher>,
        transition: Transition,
    },
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct State {
    /// `None` means `"InputPath": null` (the effective input is `{}`).
    pub input_path: Option<Path>,
    /// `None` means `"OutputPath": null` (the output is `{}`).
    pub output_path: Option<Path>,
    pub kind: Kind,
}

pub(crate) fn root_path() -> Path {
    // "$" always parses.
    match Path::parse("$") {
        Ok(p) => p,
        Err(_) => unreachable!("\"$\" is a valid path"),
    }
}

/// Parses a `ResultPath` value: `null`, or a reference path not into `$$`.
pub(crate) fn result_path(v: &Value) -> Result<Option<Path>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            let p = Path::parse(s).map_err(|e| format!("\"ResultPath\": {e}"))?;
            if p.root() == Root::Context {
                return Err(format!(
                    "\"ResultPath\" \"{s}\" must not point into the Context object"
                ));
            }
            Ok(Some(p))
        }
        _ => Err("\"ResultPath\" must be a string or null".into()),
    }
}

fn io_path(field: &str, v: &Value) -> Result<Option<Path>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Path::parse(s)
            .map(Some)
            .map_err(|e| format!("\"{field}\": {e}")),
        _ => Err(format!("\"{field}\" must be a string or null")),
    }
}

const TOP_LEVEL: &[&str] = &[
    "StartAt",
    "States",
    "Comment",
    "Version",
    "TimeoutSeconds",
    "QueryLanguage",
];

fn allowed_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pass" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "Result",
            "ResultPath",
            "Next",
            "End",
        ],
        "Task" => &[
            "Resource",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Next",
            "End",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        _ => &[],
    }
}

fn check_query_language(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some("JSONPath") => Ok(()),
        Some("JSONata") => Err("unsupported query language \"JSONata\" (only JSONPath)".into()),
        _ => Err(format!("unsupported query language {v}")),
    }
}

impl Definition {
    /// Loads a definition: applies `${Name}` substitutions, parses the JSON,
    /// and validates every state. `has_handler(resource)` says whether a Task
    /// resource has a local handler; a Task whose resource has none is refused.
    pub fn load(
        text: &str,
        substitutions: &BTreeMap<String, String>,
        has_handler: &dyn Fn(&str) -> bool,
    ) -> Result<Definition, LoadError> {
        let text = substitute(text, substitutions)?;
        let value: Value = serde_json::from_str(&text)?;
        Definition::from_value(&value, has_handler)
    }

    /// Validates an already-parsed definition (no substitution step).
    pub fn from_value(
        value: &Value,
        has_handler: &dyn Fn(&str) -> bool,
    ) -> Result<Definition, LoadError> {
        let top = |m: &str| LoadError::TopLevel(m.to_owned());
        let Value::Object(root) = value else {
            return Err(top("a definition must be a json object"));
        };
        for k in root.keys() {
            if !TOP_LEVEL.contains(&k.as_str()) {
                return Err(LoadError::TopLevel(format!(
                    "unsupported top-level field \"{k}\""
                )));
            }
        }
        if let Some(q) = root.get("QueryLanguage") {
            check_query_language(q).map_err(LoadError::TopLevel)?;
        }
        if root
            .get("Version")
            .is_some_and(|v| v.as_str() != Some("1.0"))
        {
            return Err(top("\"Version\" must be \"1.0\""));
        }
        if root
            .get("TimeoutSeconds")
            .is_some_and(|t| t.as_u64().is_none_or(|n| n == 0))
        {
            return Err(top("\"TimeoutSeconds\" must be a positive integer"));
        }
        let comment = match root.get("Comment") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(top("\"Comment\" must be a string")),
        };
        let start_at = root
            .get("StartAt")
            .and_then(Value::as_str)
            .ok_or_else(|| top("\"StartAt\" is required and must be a string"))?
            .to_owned();
        let Some(Value::Object(raw_states)) = root.get("States") else {
            return Err(top("\"States\" is required and must be an object"));
        };
        if raw_states.is_empty() {
            return Err(top("\"States\" must not be empty"));
        }
        let mut states = BTreeMap::new();
        for (name, raw) in raw_states {
            if name.is_empty() || name.chars().count() > 80 {
                return Err(LoadError::state(
                    name,
                    "a state name must have 1 to 80 characters",
                ));
            }
            let state = compile_state(raw, has_handler).map_err(|m| LoadError::state(name, m))?;
            states.insert(name.clone(), state);
        }
        if !states.contains_key(&start_at) {
            return Err(LoadError::TopLevel(format!(
                "\"StartAt\" names a state that does not exist: \"{start_at}\""
            )));
        }
        let def = Definition {
            start_at,
            states,
            comment,
        };
        def.check_transitions()?;
        Ok(def)
    }

    /// The state names each state can go to next.
    fn targets(state: &State) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        match &state.kind {
            Kind::Pass { transition, .. } | Kind::Task { transition, .. } => {
                if let Transition::Next(n) = transition {
                    out.push(("Next", n.as_str()));
                }
                if let Kind::Task { catch, .. } = &state.kind {
                    out.extend(catch.iter().map(|c| ("Catch Next", c.next.as_str())));
                }
            }
            Kind::Choice { choices, default } => {
                out.extend(choices.iter().map(|(_, n)| ("Choices Next", n.as_str())));
                if let Some(d) = default {
                    out.push(("Default", d.as_str()));
                }
            }
            Kind::Succeed | Kind::Fail { .. } => {}
        }
        out
    }

    fn check_transitions(&self) -> Result<(), LoadError> {
        for (name, state) in &self.states {
            for (field, target) in Self::targets(state) {
                if !self.states.contains_key(target) {
                    return Err(LoadError::state(
                        name,
                        format!("{field} target \"{target}\" does not exist"),
                    ));
                }
            }
        }
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([self.start_at.as_str()]);
        while let Some(n) = queue.pop_front() {
            if !seen.insert(n) {
                continue;
            }
            if let Some(s) = self.states.get(n) {
                queue.extend(Self::targets(s).into_iter().map(|(_, t)| t));
            }
        }
        if let Some(unreached) = self.states.keys().find(|k| !seen.contains(k.as_str())) {
            return Err(LoadError::state(
                unreached,
                "state is not reachable from \"StartAt\"",
            ));
        }
        Ok(())
    }

    /// The name of the first state.
    pub fn start_at(&self) -> &str {
        &self.start_at
    }

    /// The top-level `Comment`, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The names of all states, sorted.
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// The `Resource` of every Task state, sorted and deduplicated.
    pub fn task_resources(&self) -> BTreeSet<&str> {
        self.states
            .values()
            .filter_map(|s| match &s.kind {
                Kind::Task { resource, .. } => Some(resource.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn transition(m: &Map<String, Value>) -> Result<Transition, String> {
    match (m.get("Next"), m.get("End")) {
        (Some(_), Some(_)) => Err("\"Next\" and \"End\" must not both be present".into()),
        (Some(Value::String(n)), None) => Ok(Transition::Next(n.clone())),
        (Some(_), None) => Err("\"Next\" must be a string".into()),
        (None, Some(Value::Bool(true))) => Ok(Transition::End),
        (None, Some(_)) => Err("\"End\" must be true".into()),
        (None, None) => Err("one of \"Next\" or \"End\" is required".into()),
    }
}

fn template(m: &Map<String, Value>, field: &str) -> Result<Option<Template>, String> {
    m.get(field)
        .map(|v| Template::compile(v).map_err(|e| format!("\"{field}\": {e}")))
        .transpose()
}

fn fail_text(m: &Map<String, Value>, fixed: &str, dynamic: &str) -> Result<Option<Text>, String> {
    match (m.get(fixed), m.get(dynamic)) {
        (Some(_), Some(_)) => Err(format!(
            "\"{fixed}\" and \"{dynamic}\" must not both be present"
        )),
        (Some(Value::String(s)), None) => Ok(Some(Text::Fixed(s.clone()))),
        (Some(_), None) => Err(format!("\"{fixed}\" must be a string")),
        (None, Some(Value::String(s))) => {
            let t = payload::dynamic(s).map_err(|e| format!("\"{dynamic}\": {e}"))?;
            Ok(Some(Text::Dynamic(t)))
        }
        (None, Some(_)) => Err(format!("\"{dynamic}\" must be a string")),
        (None, None) => Ok(None),
    }
}

fn compile_state(raw: &Value, has_handler: &dyn Fn(&str) -> bool) -> Result<State, String> {
    let Value::Object(m) = raw else {
        return Err("a state must be an object".into());
    };
    let ty = match m.get("Type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err("\"Type\" must be a string".into()),
        None => return Err("\"Type\" is required".into()),
    };
    if !matches!(ty, "Pass" | "Task" | "Choice" | "Succeed" | "Fail") {
        return Err(format!("unsupported state type \"{ty}\""));
    }
    let allowed = allowed_fields(ty);
    for k in m.keys() {
        match k.as_str() {
            "Type" | "Comment" => {}
            "QueryLanguage" => check_query_language(&m[k.as_str()])?,
            k if allowed.contains(&k) => {}
            k => return Err(format!("unsupported field \"{k}\" in a {ty} state")),
        }
    }
    if m.get("Comment").is_some_and(|c| !c.is_string()) {
        return Err("\"Comment\" must be a string".into());
    }
    let root = root_path;
    let input_path = m
        .get("InputPath")
        .map(|v| io_path("InputPath", v))
        .transpose()?
        .unwrap_or_else(|| Some(root()));
    let output_path = m
        .get("OutputPath")
        .map(|v| io_path("OutputPath", v))
        .transpose()?
        .unwrap_or_else(|| Some(root()));
    let result_path_field = || -> Result<Option<Path>, String> {
        m.get("ResultPath")
            .map(result_path)
            .transpose()
            .map(|r| r.unwrap_or_else(|| Some(root())))
    };
    let kind = match ty {
        "Pass" => Kind::Pass {
            result: m.get("Result").cloned(),
            parameters: template(m, "Parameters")?,
            result_path: result_path_field()?,
            transition: transition(m)?,
        },
        "Task" => {
            let resource = match m.get("Resource") {
                Some(Value::String(r)) => r.clone(),
                Some(_) => return Err("\"Resource\" must be a string".into()),
                None => return Err("\"Resource\" is required".into()),
            };
            if !has_handler(&resource) {
                return Err(format!("no handler for resource \"{resource}\""));
            }
            let retry = match m.get("Retry") {
                None => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(Retrier::compile)
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err("\"Retry\" must be an array".into()),
            };
            let catch = match m.get("Catch") {
                None => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(Catcher::compile)
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err("\"Catch\" must be an array".into()),
            };
            let all_last = |lists: Vec<&Vec<String>>, what: &str| -> Result<(), String> {
                let n = lists.len();
                match lists.iter().position(|l| l.iter().any(|e| e == STATES_ALL)) {
                    Some(i) if i + 1 != n => {
                        Err(format!("\"States.ALL\" must be in the last {what}"))
                    }
                    _ => Ok(()),
                }
            };
            all_last(retry.iter().map(|r| &r.error_equals).collect(), "retrier")?;
            all_last(catch.iter().map(|c| &c.error_equals).collect(), "catcher")?;
            Kind::Task {
                resource,
                parameters: template(m, "Parameters")?,
                result_selector: template(m, "ResultSelector")?,
                result_path: result_path_field()?,
                retry,
                catch,
                transition: transition(m)?,
            }
        }
        "Choice" => {
            let Some(Value::Array(items)) = m.get("Choices") else {
                return Err("\"Choices\" is required and must be an array".into());
            };
            if items.is_empty() {
                return Err("\"Choices\" must not be empty".into());
            }
            let mut choices = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let rule = Rule::compile(item, true)
                    .map_err(|e| format!("choice rule #{}: {e}", i + 1))?;
                let next = item
                    .get("Next")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("choice rule #{}: \"Next\" must be a string", i + 1))?;
                choices.push((rule, next.to_owned()));
            }
            let default = match m.get("Default") {
                None => None,
                Some(Value::String(d)) => Some(d.clone()),
                Some(_) => return Err("\"Default\" must be a string".into()),
            };
            Kind::Choice { choices, default }
        }
        "Succeed" => Kind::Succeed,
        _ => Kind::Fail {
            error: fail_text(m, "Error", "ErrorPath")?,
            cause: fail_text(m, "Cause", "CausePath")?,
        },
    };
    Ok(State {
        input_path,
        output_path,
        kind,
    })
}
