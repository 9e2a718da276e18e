//! The Context object, Task handler context, history, time formatting.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::*;
use serde_json::{Value, json};
use tally_states::{
    ExecutionResult, HistoryEvent, MAX_TRANSITIONS, RecordingSleeper, Sleeper, TaskContext,
    TaskError, format_time,
};

#[test]
fn context_object_values() {
    let def = load(json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Next": "Ctx"},
        "Ctx": {"Type": "Pass", "Parameters": {
            "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "start.$": "$$.Execution.StartTime",
            "input.$": "$$.Execution.Input", "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount", "sm.$": "$$.StateMachine.Id", "smName.$": "$$.StateMachine.Name",
            "all.$": "$$"}, "End": true}}}));
    let out = output(&def, json!({"page": "/home"}), &echo());
    assert_eq!(
        out["id"],
        json!("arn:aws:states:eu-west-1:123456789012:express:Tally:exec-1:abc")
    );
    assert_eq!(out["name"], json!("exec-1"));
    assert_eq!(out["start"], json!("2019-03-26T20:14:13.192Z"));
    assert_eq!(out["input"], json!({"page": "/home"}));
    assert_eq!(out["state"], json!("Ctx"));
    assert_eq!(out["entered"], json!("2019-03-26T20:14:13.192Z"));
    assert_eq!(out["retries"], json!(0));
    assert_eq!(
        out["sm"],
        json!("arn:aws:states:eu-west-1:123456789012:stateMachine:Tally")
    );
    assert_eq!(out["smName"], json!("Tally"));
    assert!(out["all"]["Execution"].is_object());
}

#[test]
fn time_is_formatted_with_millis_and_z() {
    let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    assert_eq!(format_time(t), "2024-01-02T03:04:05.000Z");
    assert_eq!(format_time(start()), "2019-03-26T20:14:13.192Z");
}

#[test]
fn entered_time_follows_the_recording_clock() {
    let def = load(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "r", "Next": "After", "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 2}]},
        "After": {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime"}, "End": true}}}));
    let sleeper = RecordingSleeper::new(start());
    let result = def.execute(json!({}), &exec(), &Flaky::new(1, "E"), &sleeper);
    assert_eq!(
        result.output(),
        Some(&json!({"t": "2019-03-26T20:14:15.192Z"}))
    );
    assert_eq!(sleeper.now(), start() + chrono::Duration::seconds(2));
}

#[test]
fn task_context_has_arns_and_state_name() {
    let def = task(json!({}));
    let handler = |resource: &str, _: Value, ctx: &TaskContext<'_>| -> Result<Value, TaskError> {
        Ok(
            json!({"resource": resource, "exec": ctx.execution_arn, "sm": ctx.state_machine_arn,
                  "state": ctx.state_name, "retry": ctx.retry_count,
                  "ctxName": ctx.context_object["State"]["Name"]}),
        )
    };
    assert_eq!(
        output(&def, json!({}), &handler),
        json!({"resource": "local:fn", "exec": "arn:aws:states:eu-west-1:123456789012:express:Tally:exec-1:abc",
               "sm": "arn:aws:states:eu-west-1:123456789012:stateMachine:Tally", "state": "T", "retry": 0, "ctxName": "T"})
    );
}

#[test]
fn history_records_the_run() {
    let def = load(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 1}]}}}));
    let result = run(&def, json!({"a": 1}), &Flaky::new(1, "E"));
    assert_eq!(
        result.history(),
        &[
            HistoryEvent::StateEntered {
                state: "T".into(),
                input: json!({"a": 1})
            },
            HistoryEvent::TaskScheduled {
                state: "T".into(),
                resource: "r".into(),
                parameters: json!({"a": 1})
            },
            HistoryEvent::StateFailed {
                state: "T".into(),
                error: "E".into(),
                cause: "failure 1".into()
            },
            HistoryEvent::RetryScheduled {
                state: "T".into(),
                error: "E".into(),
                attempt: 1,
                delay: Duration::from_secs(1)
            },
            HistoryEvent::TaskScheduled {
                state: "T".into(),
                resource: "r".into(),
                parameters: json!({"a": 1})
            },
            HistoryEvent::TaskSucceeded {
                state: "T".into(),
                result: json!({"ok": true})
            },
            HistoryEvent::StateExited {
                state: "T".into(),
                output: json!({"ok": true})
            },
        ]
    );
}

#[test]
fn endless_loops_stop_at_the_transition_limit() {
    let def = load(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}));
    let result = run(&def, json!({}), &echo());
    assert!(
        matches!(result, ExecutionResult::Failed { ref error, .. } if error == "Local.TransitionLimitExceeded")
    );
    assert_eq!(
        result
            .history()
            .iter()
            .filter(|e| matches!(e, HistoryEvent::StateEntered { .. }))
            .count(),
        MAX_TRANSITIONS
    );
}
