//! Load-time validation and refusals, and substitutions.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};
use tally_states::{Definition, LoadError};

fn one(state: Value) -> Value {
    json!({"StartAt": "X", "States": {"X": state}})
}

#[test]
fn refuses_unsupported_state_types() {
    for ty in ["Map", "Parallel", "Wait", "Bogus"] {
        let msg = load_err(json!({"StartAt": "Fan", "States": {"Fan": {"Type": ty, "End": true}}}));
        assert_eq!(
            msg,
            format!("state \"Fan\": unsupported state type \"{ty}\"")
        );
    }
}

#[test]
fn refuses_unsupported_fields() {
    for field in [
        "ItemSelector",
        "TimeoutSeconds",
        "HeartbeatSeconds",
        "Credentials",
        "Arguments",
        "Assign",
        "Output",
    ] {
        let mut state = json!({"Type": "Task", "Resource": "r", "End": true});
        state[field] = json!(1);
        let msg = load_err(one(state));
        assert_eq!(
            msg,
            format!("state \"X\": unsupported field \"{field}\" in a Task state")
        );
    }
    let msg = load_err(one(
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "End": true}),
    ));
    assert!(msg.contains("unsupported field \"End\""), "{msg}");
    let msg = load_err(one(
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "Frobnicate": true, "Next": "X"}]}),
    ));
    assert!(
        msg.contains("unsupported field \"Frobnicate\" in choice rule"),
        "{msg}"
    );
    let msg = load_err(one(
        json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["E"], "Foo": 1}]}),
    ));
    assert!(
        msg.contains("unsupported field \"Foo\" in retrier"),
        "{msg}"
    );
}

#[test]
fn refuses_jsonata() {
    let msg = load_err(
        json!({"QueryLanguage": "JSONata", "StartAt": "X", "States": {"X": {"Type": "Succeed"}}}),
    );
    assert!(msg.contains("JSONata"), "{msg}");
    let msg = load_err(one(json!({"Type": "Succeed", "QueryLanguage": "JSONata"})));
    assert!(
        msg.starts_with("state \"X\"") && msg.contains("JSONata"),
        "{msg}"
    );
    // JSONPath is accepted explicitly.
    load(
        json!({"QueryLanguage": "JSONPath", "Comment": "c", "Version": "1.0", "TimeoutSeconds": 300,
        "StartAt": "X", "States": {"X": {"Type": "Succeed", "QueryLanguage": "JSONPath", "Comment": "c"}}}),
    );
}

#[test]
fn refuses_unknown_top_level_fields() {
    let msg = load_err(json!({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}, "Extra": 1}));
    assert_eq!(msg, "unsupported top-level field \"Extra\"");
}

#[test]
fn refuses_a_task_without_a_handler() {
    let msg = load_err(one(
        json!({"Type": "Task", "Resource": "no-handler", "End": true}),
    ));
    assert_eq!(msg, "state \"X\": no handler for resource \"no-handler\"");
}

#[test]
fn refuses_bad_transitions() {
    let msg =
        load_err(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}));
    assert_eq!(msg, "state \"A\": Next target \"Nowhere\" does not exist");
    let msg = load_err(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "Lonely": {"Type": "Succeed"}}}),
    );
    assert_eq!(
        msg,
        "state \"Lonely\": state is not reachable from \"StartAt\""
    );
    let msg = load_err(json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}));
    assert!(msg.contains("\"StartAt\""), "{msg}");
    let msg = load_err(one(json!({"Type": "Pass"})));
    assert!(msg.contains("\"Next\" or \"End\""), "{msg}");
    let msg = load_err(one(json!({"Type": "Pass", "Next": "X", "End": true})));
    assert!(msg.contains("must not both"), "{msg}");
    let msg = load_err(one(json!({"Type": "Task", "Resource": "r", "End": true,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]})));
    assert!(msg.contains("Catch Next target \"Gone\""), "{msg}");
    // Targets of Catch and Choice count for reachability.
    load(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "r", "Next": "C", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "S"}], "Default": "F"},
        "S": {"Type": "Succeed"}, "F": {"Type": "Fail"}}}));
}

#[test]
fn refuses_unsupported_paths() {
    for (path, needle) in [
        ("$.items[*]", "wildcard"),
        ("$.items[?(@.a == 1)]", "filter"),
        ("$..a", "recursive descent"),
        ("$.a[0:2]", "slice"),
        ("$.a[0,1]", "union"),
        ("$.*", "wildcard"),
        ("a.b", "does not start with"),
    ] {
        let msg = load_err(one(json!({"Type": "Pass", "InputPath": path, "End": true})));
        assert!(
            msg.starts_with("state \"X\": ") && msg.contains(needle),
            "{path}: {msg}"
        );
    }
    let msg = load_err(one(
        json!({"Type": "Pass", "ResultPath": "$$.Execution.Id", "End": true}),
    ));
    assert!(msg.contains("Context object"), "{msg}");
    let msg = load_err(one(
        json!({"Type": "Pass", "Parameters": {"a.$": 1}, "End": true}),
    ));
    assert!(msg.contains("field \"a.$\" must be a string"), "{msg}");
    let msg = load_err(one(
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a[*]", "IsNull": true, "Next": "X"}]}),
    ));
    assert!(msg.contains("wildcard"), "{msg}");
}

#[test]
fn refuses_bad_choice_rules_and_retriers() {
    let bad = [
        json!({"Type": "Choice", "Choices": []}),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": 1, "Next": "X"}]}),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "X"}]}),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x"}]}),
        json!({"Type": "Choice", "Choices": [{"Not": {"Variable": "$.a", "IsNull": true, "Next": "X"}, "Next": "X"}]}),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "IsNull": true, "Next": "X"}]}),
        json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}),
        json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}),
        json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]}),
        json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]}),
        json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]}),
        json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": []}]}),
        json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}),
    ];
    for state in bad {
        let msg = load_err(one(state.clone()));
        assert!(msg.starts_with("state \"X\": "), "{state}: {msg}");
    }
}

#[test]
fn refuses_invalid_json() {
    let err = Definition::load("{not json", &BTreeMap::new(), &|_| true).unwrap_err();
    assert!(matches!(err, LoadError::Json(_)));
}

#[test]
fn substitutions_replace_placeholders() {
    let text = r#"{"StartAt": "Put", "States": {"Put": {"Type": "Task", "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {"Entries": [{"EventBusName": "${BusName}", "Source": "${Source}", "Detail.$": "$"}]}, "End": true}}}"#;
    let subs = BTreeMap::from([
        ("BusName".to_owned(), "tally-bus".to_owned()),
        ("Source".to_owned(), "tally.pageviews".to_owned()),
        ("Unused".to_owned(), "x".to_owned()),
    ]);
    let def = Definition::load(text, &subs, &|r| r == "arn:aws:states:::events:putEvents").unwrap();
    assert_eq!(
        def.task_resources().into_iter().collect::<Vec<_>>(),
        vec!["arn:aws:states:::events:putEvents"]
    );
    assert_eq!(
        output(&def, json!({"p": "/"}), &echo()),
        json!({"Entries": [{"EventBusName": "tally-bus", "Source": "tally.pageviews", "Detail": {"p": "/"}}]})
    );
}

#[test]
fn a_missing_substitution_is_named() {
    let text = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "${Known} ${Missing}", "End": true}}}"#;
    let subs = BTreeMap::from([("Known".to_owned(), "k".to_owned())]);
    let err = Definition::load(text, &subs, &|_| true).unwrap_err();
    assert_eq!(err.to_string(), "no value for substitution \"${Missing}\"");
    assert!(matches!(err, LoadError::MissingSubstitution(ref n) if n == "Missing"));
}

#[test]
fn load_error_names_the_state() {
    let err =
        load_error(json!({"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "End": true}}}));
    assert!(matches!(err, LoadError::State { ref state, .. } if state == "Fan"));
}

#[test]
fn accessors() {
    let def = load(
        json!({"Comment": "hi", "StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}),
    );
    assert_eq!(def.start_at(), "A");
    assert_eq!(def.comment(), Some("hi"));
    assert_eq!(def.state_names().collect::<Vec<_>>(), vec!["A", "B"]);
}
