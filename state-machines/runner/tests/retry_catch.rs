//! Retry (backoff sequence, limits, jitter) and Catch, and States.Runtime.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tally_states::{ExecutionResult, HistoryEvent, RecordingSleeper, TaskContext, TaskError};

fn secs(list: &[f64]) -> Vec<Duration> {
    list.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

fn two_states(task: Value) -> tally_states::Definition {
    load(json!({"StartAt": "T", "States": {
        "T": task,
        "Handle": {"Type": "Pass", "End": true}}}))
}

#[test]
fn backoff_1_2_4_then_catch() {
    let def = two_states(json!({"Type": "Task", "Resource": "local:fn", "End": true,
        "Retry": [{"ErrorEquals": ["EventBridge.FailedEntry"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle", "ResultPath": "$.error"}]}));
    let handler = Flaky::new(10, "EventBridge.FailedEntry");
    let sleeper = RecordingSleeper::new(start());
    let result = def.execute(json!({"page": "/"}), &exec(), &handler, &sleeper);
    assert_eq!(sleeper.delays(), secs(&[1.0, 2.0, 4.0]));
    assert_eq!(handler.calls(), 4);
    assert_eq!(
        result.output(),
        Some(
            &json!({"page": "/", "error": {"Error": "EventBridge.FailedEntry", "Cause": "failure 4"}})
        )
    );
    let retries: Vec<_> = result
        .history()
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::RetryScheduled { attempt, delay, .. } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        vec![
            (1, Duration::from_secs(1)),
            (2, Duration::from_secs(2)),
            (3, Duration::from_secs(4))
        ]
    );
    assert!(
        result
            .history()
            .iter()
            .any(|e| matches!(e, HistoryEvent::Caught { next, .. } if next == "Handle"))
    );
}

#[test]
fn defaults_are_interval_1_rate_2_attempts_3() {
    let def = task(json!({"Retry": [{"ErrorEquals": ["E"]}]}));
    let handler = Flaky::new(10, "E");
    let sleeper = RecordingSleeper::new(start());
    let result = def.execute(json!({}), &exec(), &handler, &sleeper);
    assert_eq!(sleeper.delays(), secs(&[1.0, 2.0, 4.0]));
    assert_eq!(result.error(), Some(("E", "failure 4")));
}

#[test]
fn succeeds_after_retries() {
    let def = task(
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 3, "BackoffRate": 1.5, "MaxAttempts": 5}]}),
    );
    let handler = Flaky::new(2, "E");
    let sleeper = RecordingSleeper::new(start());
    let result = def.execute(json!({}), &exec(), &handler, &sleeper);
    assert_eq!(result.output(), Some(&json!({"ok": true})));
    assert_eq!(sleeper.delays(), secs(&[3.0, 4.5]));
}

#[test]
fn max_attempts_zero_never_retries() {
    let def = task(json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 0}]}));
    let handler = Flaky::new(1, "E");
    let sleeper = RecordingSleeper::new(start());
    let result = def.execute(json!({}), &exec(), &handler, &sleeper);
    assert_eq!(result.error().map(|e| e.0), Some("E"));
    assert!(sleeper.delays().is_empty());
    assert_eq!(handler.calls(), 1);
}

#[test]
fn max_delay_seconds_caps_the_backoff() {
    let def = task(
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 4, "MaxDelaySeconds": 10}]}),
    );
    let sleeper = RecordingSleeper::new(start());
    def.execute(json!({}), &exec(), &Flaky::new(10, "E"), &sleeper);
    assert_eq!(sleeper.delays(), secs(&[2.0, 6.0, 10.0, 10.0]));
}

#[test]
fn full_jitter_stays_within_the_backoff() {
    let def = task(
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 4, "MaxAttempts": 3, "JitterStrategy": "FULL"}]}),
    );
    let sleeper = RecordingSleeper::new(start());
    def.execute(json!({}), &exec(), &Flaky::new(10, "E"), &sleeper);
    let d = sleeper.delays();
    assert_eq!(d.len(), 3);
    for (got, max) in d.iter().zip([4.0, 8.0, 16.0]) {
        assert!(got.as_secs_f64() <= max, "{got:?} > {max}");
    }
}

#[test]
fn first_matching_retrier_wins_and_has_its_own_count() {
    let def = task(json!({"Retry": [
        {"ErrorEquals": ["E"], "IntervalSeconds": 5, "MaxAttempts": 1},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}]}));
    let sleeper = RecordingSleeper::new(start());
    let result = def.execute(json!({}), &exec(), &Flaky::new(10, "E"), &sleeper);
    // The "E" retrier is used once, then exhausted: no fall-through to States.ALL.
    assert_eq!(sleeper.delays(), secs(&[5.0]));
    assert_eq!(result.error().map(|e| e.0), Some("E"));
}

#[test]
fn retry_count_is_in_the_context_object() {
    let def = task(
        json!({"Parameters": {"n.$": "$$.State.RetryCount"}, "Retry": [{"ErrorEquals": ["E"]}]}),
    );
    let handler = Flaky::new(2, "E");
    run(&def, json!({}), &handler);
    assert_eq!(
        *handler.calls.lock().unwrap(),
        vec![json!({"n": 0}), json!({"n": 1}), json!({"n": 2})]
    );
}

#[test]
fn catch_default_result_path_replaces_the_input() {
    let def = two_states(json!({"Type": "Task", "Resource": "local:fn", "End": true,
        "Catch": [{"ErrorEquals": ["Other"], "Next": "Handle"}, {"ErrorEquals": ["E"], "Next": "Handle"}]}));
    assert_eq!(
        output(&def, json!({"in": 1}), &Flaky::new(1, "E")),
        json!({"Error": "E", "Cause": "failure 1"})
    );
}

#[test]
fn catch_result_path_null_keeps_the_input() {
    let def = two_states(json!({"Type": "Task", "Resource": "local:fn", "End": true,
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Handle", "ResultPath": null}]}));
    assert_eq!(
        output(&def, json!({"in": 1}), &Flaky::new(1, "E")),
        json!({"in": 1})
    );
}

#[test]
fn catch_does_not_apply_output_path() {
    let def = two_states(
        json!({"Type": "Task", "Resource": "local:fn", "End": true, "OutputPath": "$.nothing",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle", "ResultPath": "$.err"}]}),
    );
    assert_eq!(
        output(&def, json!({"in": 1}), &Flaky::new(1, "E")),
        json!({"in": 1, "err": {"Error": "E", "Cause": "failure 1"}})
    );
}

#[test]
fn uncaught_task_error_fails_the_execution() {
    let def = task(json!({"Catch": [{"ErrorEquals": ["Other"], "Next": "T"}]}));
    assert_eq!(
        failure(&def, json!({}), &Flaky::new(1, "E")),
        ("E".to_owned(), "failure 1".to_owned())
    );
}

#[test]
fn task_failed_does_not_match_timeout() {
    let def = two_states(json!({"Type": "Task", "Resource": "local:fn", "End": true,
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Handle"}]}));
    assert_eq!(
        failure(&def, json!({}), &Flaky::new(1, "States.Timeout")).0,
        "States.Timeout"
    );
    let def = two_states(json!({"Type": "Task", "Resource": "local:fn", "End": true,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}]}));
    assert!(
        run(&def, json!({}), &Flaky::new(1, "States.Timeout"))
            .output()
            .is_some()
    );
}

#[test]
fn states_runtime_is_never_retried_or_caught() {
    // A Parameters path that does not resolve raises States.Runtime, which
    // neither States.ALL nor an explicit "States.Runtime" retries or catches.
    let def = two_states(json!({"Type": "Task", "Resource": "local:fn", "End": true,
        "Parameters": {"x.$": "$.missing"},
        "Retry": [{"ErrorEquals": ["States.Runtime"]}, {"ErrorEquals": ["States.ALL"]}],
        "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "Handle"}, {"ErrorEquals": ["States.ALL"], "Next": "Handle"}]}));
    let handler = Flaky::new(0, "E");
    let sleeper = RecordingSleeper::new(start());
    let result = def.execute(json!({}), &exec(), &handler, &sleeper);
    assert_eq!(result.error().map(|e| e.0), Some("States.Runtime"));
    assert!(sleeper.delays().is_empty());
    assert_eq!(handler.calls(), 0);
    // Same when the handler itself reports States.Runtime.
    let result = def.execute(
        json!({"missing": 1}),
        &exec(),
        &Flaky::new(1, "States.Runtime"),
        &sleeper,
    );
    assert_eq!(result.error().map(|e| e.0), Some("States.Runtime"));
}

#[test]
fn fail_state_error_and_cause() {
    let def = load(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "because"}}}),
    );
    assert_eq!(
        failure(&def, json!({}), &echo()),
        ("Oops".to_owned(), "because".to_owned())
    );
    let def = load(json!({"StartAt": "F", "States": {"F": {"Type": "Fail",
        "ErrorPath": "$.e", "CausePath": "States.Format('page {} failed', $.p)"}}}));
    assert_eq!(
        failure(&def, json!({"e": "Bad", "p": "/x"}), &echo()),
        ("Bad".to_owned(), "page /x failed".to_owned())
    );
    let def = load(json!({"StartAt": "F", "States": {"F": {"Type": "Fail"}}}));
    assert_eq!(
        failure(&def, json!({}), &echo()),
        (String::new(), String::new())
    );
    let def = load(json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e"}}}));
    assert_eq!(failure(&def, json!({"e": 1}), &echo()).0, "States.Runtime");
}

#[test]
fn catch_then_continue_to_a_failure_state() {
    let def = load(json!({"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::events:putEvents", "End": true,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed", "ResultPath": "$.error"}]},
        "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}}}));
    let handler = |_: &str, _: Value, _: &TaskContext<'_>| -> Result<Value, TaskError> {
        Err(TaskError::new("EventBridge.FailedEntry", "entry rejected"))
    };
    let result = run(&def, json!({}), &handler);
    assert!(
        matches!(result, ExecutionResult::Failed { ref error, .. } if error == "EventBridge.FailedEntry")
    );
}
