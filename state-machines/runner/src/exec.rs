//! Running a loaded definition.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::definition::{Definition, Kind, State, Text, Transition};
use crate::error::{
    LOCAL_TRANSITION_LIMIT, STATES_NO_CHOICE_MATCHED, STATES_RUNTIME, StateError, TaskError,
};
use crate::path::Path;
use crate::payload::Template;
use crate::retry::Sleeper;

/// At most this many states are entered in one execution; past it the
/// execution fails with `Local.TransitionLimitExceeded` (a local safeguard
/// against endless loops, standing in for the Express 5-minute limit).
pub const MAX_TRANSITIONS: usize = 25_000;

/// Who is running: the values the Context object and Task handlers see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionContext {
    /// `$$.Execution.Name`.
    pub name: String,
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    /// `$$.StateMachine.Id`.
    pub state_machine_arn: String,
    /// `$$.StateMachine.Name`.
    pub state_machine_name: String,
    /// `$$.Execution.StartTime`, formatted like `2019-03-26T20:14:13.192Z`.
    pub start_time: DateTime<Utc>,
}

/// What a Task handler is told besides its resource and parameters.
#[derive(Debug, Clone, Copy)]
pub struct TaskContext<'a> {
    /// The execution ARN (`$$.Execution.Id`).
    pub execution_arn: &'a str,
    /// The state machine ARN (`$$.StateMachine.Id`).
    pub state_machine_arn: &'a str,
    /// The Task state's name.
    pub state_name: &'a str,
    /// How many retries of this state preceded this call.
    pub retry_count: u32,
    /// The whole Context object as `$$` sees it.
    pub context_object: &'a Value,
}

/// Runs Task states' resources locally.
pub trait TaskHandler: Send + Sync {
    /// `resource` is the Task's `Resource` string, e.g.
    /// `arn:aws:states:::events:putEvents`; `parameters` is the effective input
    /// after `InputPath` and `Parameters`. The result goes through
    /// `ResultSelector`, `ResultPath` and `OutputPath`; an error takes part in
    /// `Retry` and `Catch` under its name.
    fn call(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext<'_>,
    ) -> Result<Value, TaskError>;
}

impl<F> TaskHandler for F
where
    F: Fn(&str, Value, &TaskContext<'_>) -> Result<Value, TaskError> + Send + Sync,
{
    fn call(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext<'_>,
    ) -> Result<Value, TaskError> {
        self(resource, parameters, ctx)
    }
}

/// One entry of the execution history.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryEvent {
    /// A state was entered with this (raw) input.
    StateEntered {
        /// State name.
        state: String,
        /// Raw state input.
        input: Value,
    },
    /// A state finished with this output.
    StateExited {
        /// State name.
        state: String,
        /// State output.
        output: Value,
    },
    /// A Task handler was called.
    TaskScheduled {
        /// State name.
        state: String,
        /// The Task's resource.
        resource: String,
        /// The effective parameters.
        parameters: Value,
    },
    /// A Task handler returned a result (before `ResultSelector`).
    TaskSucceeded {
        /// State name.
        state: String,
        /// The raw result.
        result: Value,
    },
    /// A state raised an error (a handler error or a runtime error).
    StateFailed {
        /// State name.
        state: String,
        /// Error name.
        error: String,
        /// Error cause.
        cause: String,
    },
    /// A retrier matched; the state is run again after `delay`.
    RetryScheduled {
        /// State name.
        state: String,
        /// The error being retried.
        error: String,
        /// 1 for the first retry.
        attempt: u32,
        /// The delay slept before the retry.
        delay: Duration,
    },
    /// A catcher matched; the execution goes on at `next`.
    Caught {
        /// State name.
        state: String,
        /// The error caught.
        error: String,
        /// The catcher's `Next`.
        next: String,
    },
}

/// How an execution ended, with its history.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionResult {
    /// The execution reached a Succeed state or an `End`.
    Succeeded {
        /// The execution output.
        output: Value,
        /// What happened, in order.
        history: Vec<HistoryEvent>,
    },
    /// The execution failed. `error` and `cause` are empty when a Fail state
    /// gives none.
    Failed {
        /// Error name.
        error: String,
        /// Error cause.
        cause: String,
        /// What happened, in order.
        history: Vec<HistoryEvent>,
    },
}

impl ExecutionResult {
    /// The history, whatever the outcome.
    pub fn history(&self) -> &[HistoryEvent] {
        match self {
            ExecutionResult::Succeeded { history, .. }
            | ExecutionResult::Failed { history, .. } => history,
        }
    }

    /// The output, if the execution succeeded.
    pub fn output(&self) -> Option<&Value> {
        match self {
            ExecutionResult::Succeeded { output, .. } => Some(output),
            ExecutionResult::Failed { .. } => None,
        }
    }

    /// `(error, cause)`, if the execution failed.
    pub fn error(&self) -> Option<(&str, &str)> {
        match self {
            ExecutionResult::Failed { error, cause, .. } => Some((error, cause)),
            ExecutionResult::Succeeded { .. } => None,
        }
    }
}

/// Formats a time as the Context object does: UTC, milliseconds, `Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

enum Step {
    Next(String, Value),
    Succeed(Value),
    Fail(StateError),
}

struct Run<'a> {
    def: &'a Definition,
    exec: &'a ExecutionContext,
    input: &'a Value,
    handler: &'a dyn TaskHandler,
    sleeper: &'a dyn Sleeper,
    history: Vec<HistoryEvent>,
}

fn apply_input_path(
    path: &Option<Path>,
    input: &Value,
    context: &Value,
) -> Result<Value, StateError> {
    match path {
        None => Ok(Value::Object(Map::new())),
        Some(p) => p.select(input, context).cloned().ok_or_else(|| {
            StateError::runtime(format!(
                "invalid path \"{p}\": the path could not be found in the input {input}"
            ))
        }),
    }
}

fn apply_result_path(
    path: &Option<Path>,
    raw_input: &Value,
    result: Value,
) -> Result<Value, StateError> {
    match path {
        None => Ok(raw_input.clone()),
        Some(p) => p
            .insert(raw_input.clone(), result)
            .map_err(StateError::runtime),
    }
}

impl Run<'_> {
    fn context(&self, state: &str, entered: DateTime<Utc>, retry_count: u32) -> Value {
        json!({
            "Execution": {
                "Id": self.exec.execution_arn,
                "Input": self.input,
                "Name": self.exec.name,
                "StartTime": format_time(self.exec.start_time),
            },
            "State": {
                "EnteredTime": format_time(entered),
                "Name": state,
                "RetryCount": retry_count,
            },
            "StateMachine": {
                "Id": self.exec.state_machine_arn,
                "Name": self.exec.state_machine_name,
            },
        })
    }

    fn run_state(&mut self, name: &str, state: &State, input: &Value) -> Step {
        let entered = self.sleeper.now();
        let ctx = self.context(name, entered, 0);
        let done = |output: Value, t: &Transition| match t {
            Transition::Next(n) => Step::Next(n.clone(), output),
            Transition::End => Step::Succeed(output),
        };
        let finish = |out: Result<Value, StateError>, t: &Transition| match out {
            Ok(v) => done(v, t),
            Err(e) => Step::Fail(e),
        };
        match &state.kind {
            Kind::Pass {
                result,
                parameters,
                result_path,
                transition,
            } => {
                let out = (|| {
                    let effective = self.effective_input(state, parameters, input, &ctx)?;
                    let result = result.clone().unwrap_or(effective);
                    let merged = apply_result_path(result_path, input, result)?;
                    apply_input_path(&state.output_path, &merged, &ctx)
                })();
                finish(out, transition)
            }
            Kind::Succeed => {
                let out = apply_input_path(&state.input_path, input, &ctx)
                    .and_then(|v| apply_input_path(&state.output_path, &v, &ctx));
                match out {
                    Ok(v) => Step::Succeed(v),
                    Err(e) => Step::Fail(e),
                }
            }
            Kind::Fail { error, cause } => {
                let text = |t: &Option<Text>, field: &str| -> Result<String, StateError> {
                    match t {
                        None => Ok(String::new()),
                        Some(Text::Fixed(s)) => Ok(s.clone()),
                        Some(Text::Dynamic(tpl)) => match tpl.eval(input, &ctx)? {
                            Value::String(s) => Ok(s),
                            other => Err(StateError::runtime(format!(
                                "\"{field}\" must resolve to a string, got {other}"
                            ))),
                        },
                    }
                };
                match (text(error, "ErrorPath"), text(cause, "CausePath")) {
                    (Ok(error), Ok(cause)) => Step::Fail(StateError::new(error, cause)),
                    (Err(e), _) | (_, Err(e)) => Step::Fail(e),
                }
            }
            Kind::Choice { choices, default } => {
                let effective = match apply_input_path(&state.input_path, input, &ctx) {
                    Ok(v) => v,
                    Err(e) => return Step::Fail(e),
                };
                let mut next = None;
                for (rule, target) in choices {
                    match rule.eval(&effective, &ctx) {
                        Ok(true) => {
                            next = Some(target);
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => return Step::Fail(e),
                    }
                }
                let Some(next) = next.or(default.as_ref()) else {
                    return Step::Fail(StateError::new(
                        STATES_NO_CHOICE_MATCHED,
                        format!(
                            "no choice rule matched and there is no \"Default\" in state \"{name}\""
                        ),
                    ));
                };
                match apply_input_path(&state.output_path, &effective, &ctx) {
                    Ok(out) => Step::Next(next.clone(), out),
                    Err(e) => Step::Fail(e),
                }
            }
            Kind::Task { .. } => self.run_task(name, state, input, entered),
        }
    }

    fn effective_input(
        &self,
        state: &State,
        parameters: &Option<Template>,
        input: &Value,
        ctx: &Value,
    ) -> Result<Value, StateError> {
        let v = apply_input_path(&state.input_path, input, ctx)?;
        match parameters {
            None => Ok(v),
            Some(t) => t.eval(&v, ctx),
        }
    }

    fn run_task(
        &mut self,
        name: &str,
        state: &State,
        input: &Value,
        entered: DateTime<Utc>,
    ) -> Step {
        let Kind::Task {
            resource,
            parameters,
            result_selector,
            result_path,
            retry,
            catch,
            transition,
        } = &state.kind
        else {
            return Step::Fail(StateError::runtime("internal error: not a task"));
        };
        let mut attempts = vec![0u64; retry.len()];
        let mut retry_count: u32 = 0;
        loop {
            let ctx = self.context(name, entered, retry_count);
            let params = match self.effective_input(state, parameters, input, &ctx) {
                Ok(p) => p,
                Err(e) => return self.fail(name, e),
            };
            self.history.push(HistoryEvent::TaskScheduled {
                state: name.to_owned(),
                resource: resource.clone(),
                parameters: params.clone(),
            });
            let task_ctx = TaskContext {
                execution_arn: &self.exec.execution_arn,
                state_machine_arn: &self.exec.state_machine_arn,
                state_name: name,
                retry_count,
                context_object: &ctx,
            };
            let error: StateError = match self.handler.call(resource, params, &task_ctx) {
                Ok(result) => {
                    self.history.push(HistoryEvent::TaskSucceeded {
                        state: name.to_owned(),
                        result: result.clone(),
                    });
                    let out = (|| {
                        let selected = match result_selector {
                            None => result,
                            Some(t) => t.eval(&result, &ctx)?,
                        };
                        let merged = apply_result_path(result_path, input, selected)?;
                        apply_input_path(&state.output_path, &merged, &ctx)
                    })();
                    match out {
                        Ok(v) => {
                            return match transition {
                                Transition::Next(n) => Step::Next(n.clone(), v),
                                Transition::End => Step::Succeed(v),
                            };
                        }
                        Err(e) => return self.fail(name, e),
                    }
                }
                Err(e) => e.into(),
            };
            self.history.push(HistoryEvent::StateFailed {
                state: name.to_owned(),
                error: error.error.clone(),
                cause: error.cause.clone(),
            });
            if let Some(i) = retry.iter().position(|r| r.matches(&error.error)) {
                let r = &retry[i];
                if attempts[i] < r.max_attempts {
                    let delay = r.delay(attempts[i]);
                    attempts[i] += 1;
                    retry_count = retry_count.saturating_add(1);
                    self.history.push(HistoryEvent::RetryScheduled {
                        state: name.to_owned(),
                        error: error.error.clone(),
                        attempt: retry_count,
                        delay,
                    });
                    self.sleeper.sleep(delay);
                    continue;
                }
            }
            if let Some(c) = catch.iter().find(|c| c.matches(&error.error)) {
                self.history.push(HistoryEvent::Caught {
                    state: name.to_owned(),
                    error: error.error.clone(),
                    next: c.next.clone(),
                });
                return match apply_result_path(&c.result_path, input, error.to_value()) {
                    Ok(out) => Step::Next(c.next.clone(), out),
                    Err(e) => self.fail(name, e),
                };
            }
            return Step::Fail(error);
        }
    }

    /// A runtime error inside a Task: recorded, never retried or caught.
    fn fail(&mut self, name: &str, e: StateError) -> Step {
        debug_assert_eq!(e.error, STATES_RUNTIME);
        self.history.push(HistoryEvent::StateFailed {
            state: name.to_owned(),
            error: e.error.clone(),
            cause: e.cause.clone(),
        });
        Step::Fail(e)
    }
}

impl Definition {
    /// Runs the state machine on `input`. Task states call `handler`; retries
    /// sleep on `sleeper`, which also supplies `$$.State.EnteredTime`.
    pub fn execute(
        &self,
        input: Value,
        exec: &ExecutionContext,
        handler: &dyn TaskHandler,
        sleeper: &dyn Sleeper,
    ) -> ExecutionResult {
        let mut run = Run {
            def: self,
            exec,
            input: &input,
            handler,
            sleeper,
            history: Vec::new(),
        };
        let mut current = self.start_at.clone();
        let mut data = input.clone();
        for _ in 0..MAX_TRANSITIONS {
            let Some(state) = run.def.states.get(&current) else {
                return ExecutionResult::Failed {
                    error: STATES_RUNTIME.to_owned(),
                    cause: format!("state \"{current}\" does not exist"),
                    history: run.history,
                };
            };
            run.history.push(HistoryEvent::StateEntered {
                state: current.clone(),
                input: data.clone(),
            });
            match run.run_state(&current, state, &data) {
                Step::Next(next, output) => {
                    run.history.push(HistoryEvent::StateExited {
                        state: current.clone(),
                        output: output.clone(),
                    });
                    current = next;
                    data = output;
                }
                Step::Succeed(output) => {
                    run.history.push(HistoryEvent::StateExited {
                        state: current.clone(),
                        output: output.clone(),
                    });
                    return ExecutionResult::Succeeded {
                        output,
                        history: run.history,
                    };
                }
                Step::Fail(e) => {
                    return ExecutionResult::Failed {
                        error: e.error,
                        cause: e.cause,
                        history: run.history,
                    };
                }
            }
        }
        ExecutionResult::Failed {
            error: LOCAL_TRANSITION_LIMIT.to_owned(),
            cause: format!("more than {MAX_TRANSITIONS} states were entered"),
            history: run.history,
        }
    }
}
