//! Errors: refusals at load time, and the errors a running state raises.

use serde_json::{Value, json};

/// Why a definition was refused at load time. Nothing of a refused definition runs.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A `${Name}` placeholder had no value in the substitution map.
    #[error("no value for substitution \"${{{0}}}\"")]
    MissingSubstitution(String),
    /// The definition text (after substitution) is not JSON.
    #[error("definition is not valid json: {0}")]
    Json(#[from] serde_json::Error),
    /// A problem with the top level of the definition.
    #[error("{0}")]
    TopLevel(String),
    /// A problem with one state, named.
    #[error("state \"{state}\": {message}")]
    State {
        /// The state's name.
        state: String,
        /// What is wrong or unsupported.
        message: String,
    },
}

impl LoadError {
    pub(crate) fn state(state: &str, message: impl Into<String>) -> Self {
        LoadError::State {
            state: state.to_owned(),
            message: message.into(),
        }
    }
}

/// The error a [`crate::TaskHandler`] returns; it takes part in `Retry` and `Catch`
/// under its `error` name, as a failed AWS service integration does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    /// The error name, e.g. `EventBridge.FailedEntry`.
    pub error: String,
    /// A human-readable cause.
    pub cause: String,
}

impl TaskError {
    /// Builds a task error from a name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// Error name of runtime failures (paths that don't resolve, failed intrinsics, ...).
pub const STATES_RUNTIME: &str = "States.Runtime";
/// Error name when no `Choice` rule matched and there is no `Default`.
pub const STATES_NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// Wildcard error name in `ErrorEquals`.
pub const STATES_ALL: &str = "States.ALL";
/// Wildcard (except `States.Timeout`) error name in `ErrorEquals`.
pub const STATES_TASK_FAILED: &str = "States.TaskFailed";
/// Error name used when a local execution exceeds the transition limit (local only).
pub const LOCAL_TRANSITION_LIMIT: &str = "Local.TransitionLimitExceeded";

/// An error raised while running a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateError {
    pub error: String,
    pub cause: String,
}

impl StateError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StateError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    pub fn runtime(cause: impl Into<String>) -> Self {
        StateError::new(STATES_RUNTIME, cause)
    }

    /// The error output a `Catch` hands on: `{"Error": .., "Cause": ..}`.
    pub fn to_value(&self) -> Value {
        json!({"Error": self.error, "Cause": self.cause})
    }
}

impl From<TaskError> for StateError {
    fn from(e: TaskError) -> Self {
        StateError {
            error: e.error,
            cause: e.cause,
        }
    }
}

/// Whether an `ErrorEquals` name matches a raised error, per the AWS rules:
/// `States.ALL` matches everything but `States.Runtime` (and
/// `States.DataLimitExceeded`); `States.TaskFailed` matches everything but
/// those and `States.Timeout`. `States.Runtime` is never retried or caught.
pub(crate) fn error_matches(pattern: &str, error: &str) -> bool {
    if error == STATES_RUNTIME {
        return false;
    }
    let wildcard_ok = error != "States.DataLimitExceeded";
    match pattern {
        STATES_ALL => wildcard_ok,
        STATES_TASK_FAILED => wildcard_ok && error != "States.Timeout",
        other => other == error,
    }
}
