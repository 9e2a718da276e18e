//! Shared test helpers.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tally_states::{
    Definition, ExecutionContext, ExecutionResult, LoadError, RecordingSleeper, TaskContext,
    TaskError, TaskHandler,
};

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2019, 3, 26, 20, 14, 13).unwrap() + chrono::Duration::milliseconds(192)
}

pub fn exec() -> ExecutionContext {
    ExecutionContext {
        name: "exec-1".into(),
        execution_arn: "arn:aws:states:eu-west-1:123456789012:express:Tally:exec-1:abc".into(),
        state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:Tally".into(),
        state_machine_name: "Tally".into(),
        start_time: start(),
    }
}

pub fn load(def: Value) -> Definition {
    Definition::load(&def.to_string(), &BTreeMap::new(), &|_| true).unwrap()
}

pub fn load_err(def: Value) -> String {
    match Definition::load(&def.to_string(), &BTreeMap::new(), &|r: &str| {
        r != "no-handler"
    }) {
        Ok(_) => panic!("definition was accepted: {def}"),
        Err(e) => e.to_string(),
    }
}

pub fn load_error(def: Value) -> LoadError {
    match Definition::load(&def.to_string(), &BTreeMap::new(), &|_| true) {
        Ok(_) => panic!("definition was accepted: {def}"),
        Err(e) => e,
    }
}

/// Echoes its parameters.
pub fn echo() -> impl TaskHandler {
    |_: &str, p: Value, _: &TaskContext<'_>| -> Result<Value, TaskError> { Ok(p) }
}

/// Returns a fixed value.
pub fn returns(v: Value) -> impl TaskHandler {
    move |_: &str, _: Value, _: &TaskContext<'_>| -> Result<Value, TaskError> { Ok(v.clone()) }
}

/// Fails `failures` times with `error`, then returns `{"ok": true}`; records calls.
pub struct Flaky {
    pub failures: usize,
    pub error: String,
    pub calls: Mutex<Vec<Value>>,
}

impl Flaky {
    pub fn new(failures: usize, error: &str) -> Self {
        Flaky {
            failures,
            error: error.into(),
            calls: Mutex::new(Vec::new()),
        }
    }
    pub fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

impl TaskHandler for Flaky {
    fn call(&self, _: &str, p: Value, _: &TaskContext<'_>) -> Result<Value, TaskError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(p);
        if calls.len() <= self.failures {
            Err(TaskError::new(
                self.error.clone(),
                format!("failure {}", calls.len()),
            ))
        } else {
            Ok(json!({"ok": true}))
        }
    }
}

pub fn run(def: &Definition, input: Value, handler: &dyn TaskHandler) -> ExecutionResult {
    def.execute(input, &exec(), handler, &RecordingSleeper::new(start()))
}

pub fn output(def: &Definition, input: Value, handler: &dyn TaskHandler) -> Value {
    match run(def, input, handler) {
        ExecutionResult::Succeeded { output, .. } => output,
        ExecutionResult::Failed { error, cause, .. } => {
            panic!("execution failed: {error}: {cause}")
        }
    }
}

pub fn failure(def: &Definition, input: Value, handler: &dyn TaskHandler) -> (String, String) {
    match run(def, input, handler) {
        ExecutionResult::Succeeded { output, .. } => panic!("execution succeeded: {output}"),
        ExecutionResult::Failed { error, cause, .. } => (error, cause),
    }
}

/// A one-state machine: a Task with the given extra fields, `End: true`.
pub fn task(fields: Value) -> Definition {
    let mut state = json!({"Type": "Task", "Resource": "local:fn", "End": true});
    for (k, v) in fields.as_object().unwrap() {
        state[k] = v.clone();
    }
    load(json!({"StartAt": "T", "States": {"T": state}}))
}

/// A one-state machine: a Pass with the given extra fields, `End: true`.
pub fn pass(fields: Value) -> Definition {
    let mut state = json!({"Type": "Pass", "End": true});
    for (k, v) in fields.as_object().unwrap() {
        state[k] = v.clone();
    }
    load(json!({"StartAt": "P", "States": {"P": state}}))
}
