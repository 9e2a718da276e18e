//! A local runner for the Amazon States Language definitions Tally uses
//! (JSONPath query language), meant to behave like AWS Step Functions for the
//! features it accepts and to refuse everything else when a definition is
//! loaded. See `README.md` beside this crate for what is supported.
//!
//! ```
//! use std::collections::BTreeMap;
//! use serde_json::{json, Value};
//! use tally_states::{Definition, ExecutionContext, RecordingSleeper, TaskContext, TaskError};
//!
//! let text = r#"{"StartAt": "Hello", "States": {"Hello": {
//!     "Type": "Task", "Resource": "${Fn}", "End": true}}}"#;
//! let subs = BTreeMap::from([("Fn".to_owned(), "local:hello".to_owned())]);
//! let def = Definition::load(text, &subs, &|r| r == "local:hello").expect("valid definition");
//! let handler = |_: &str, p: Value, _: &TaskContext<'_>| -> Result<Value, TaskError> { Ok(json!({"got": p})) };
//! let start = chrono::Utc::now();
//! let exec = ExecutionContext {
//!     name: "run-1".into(),
//!     execution_arn: "arn:aws:states:eu-west-1:123456789012:express:M:run-1:x".into(),
//!     state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:M".into(),
//!     state_machine_name: "M".into(),
//!     start_time: start,
//! };
//! let result = def.execute(json!({"a": 1}), &exec, &handler, &RecordingSleeper::new(start));
//! assert_eq!(result.output(), Some(&json!({"got": {"a": 1}})));
//! ```

mod choice;
mod definition;
mod error;
mod exec;
mod intrinsics;
mod path;
mod payload;
mod retry;
mod subst;

pub use definition::Definition;
pub use error::{
    LOCAL_TRANSITION_LIMIT, LoadError, STATES_ALL, STATES_NO_CHOICE_MATCHED, STATES_RUNTIME,
    STATES_TASK_FAILED, TaskError,
};
pub use exec::{
    ExecutionContext, ExecutionResult, HistoryEvent, MAX_TRANSITIONS, TaskContext, TaskHandler,
    format_time,
};
pub use intrinsics::SUPPORTED as SUPPORTED_INTRINSICS;
pub use path::{Path, Root, Segment};
pub use retry::{RealSleeper, RecordingSleeper, Sleeper};
pub use subst::substitute;
