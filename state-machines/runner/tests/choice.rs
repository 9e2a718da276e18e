//! Choice state operators.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

/// Evaluates one rule (plus "Next") against `input`: true if it matched.
fn matches(rule: Value, input: Value) -> Result<bool, String> {
    let mut rule = rule;
    rule["Next"] = json!("Yes");
    let def = load(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [rule], "Default": "No"},
        "Yes": {"Type": "Pass", "Result": true, "End": true},
        "No": {"Type": "Pass", "Result": false, "End": true}}}));
    match run(&def, input, &echo()) {
        tally_states::ExecutionResult::Succeeded { output, .. } => Ok(output.as_bool().unwrap()),
        tally_states::ExecutionResult::Failed { error, .. } => Err(error),
    }
}

fn yes(rule: Value, input: Value) {
    assert_eq!(
        matches(rule.clone(), input.clone()),
        Ok(true),
        "{rule} on {input}"
    );
}

fn no(rule: Value, input: Value) {
    assert_eq!(
        matches(rule.clone(), input.clone()),
        Ok(false),
        "{rule} on {input}"
    );
}

#[test]
fn string_comparisons() {
    let i = json!({"s": "b", "t": "b", "u": "c"});
    yes(json!({"Variable": "$.s", "StringEquals": "b"}), i.clone());
    no(json!({"Variable": "$.s", "StringEquals": "B"}), i.clone());
    yes(
        json!({"Variable": "$.s", "StringEqualsPath": "$.t"}),
        i.clone(),
    );
    yes(json!({"Variable": "$.s", "StringLessThan": "c"}), i.clone());
    no(json!({"Variable": "$.s", "StringLessThan": "b"}), i.clone());
    yes(
        json!({"Variable": "$.s", "StringLessThanEquals": "b"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.s", "StringGreaterThan": "a"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.s", "StringGreaterThanEquals": "b"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.s", "StringLessThanPath": "$.u"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.u", "StringGreaterThanPath": "$.s"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.t"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.t"}),
        i.clone(),
    );
    // A value of another type does not match.
    no(
        json!({"Variable": "$.n", "StringEquals": "1"}),
        json!({"n": 1}),
    );
}

#[test]
fn string_matches_with_wildcards_and_escapes() {
    let m = |p: &str, s: &str| {
        matches(
            json!({"Variable": "$.s", "StringMatches": p}),
            json!({"s": s}),
        )
        .unwrap()
    };
    assert!(m("log-*.txt", "log-2024.txt"));
    assert!(m("*.log", "a.b.log"));
    assert!(m("*", ""));
    assert!(m("a*b*c", "aXXbYYc"));
    assert!(!m("a*b*c", "aXXbYY"));
    assert!(!m("log-*.txt", "log-2024.csv"));
    assert!(m("a\\*b", "a*b"));
    assert!(!m("a\\*b", "aXb"));
    assert!(m("a\\\\b", "a\\b"));
}

#[test]
fn numeric_comparisons() {
    let i = json!({"n": 5, "f": 5.0, "m": 7.5});
    yes(json!({"Variable": "$.n", "NumericEquals": 5}), i.clone());
    yes(json!({"Variable": "$.f", "NumericEquals": 5}), i.clone());
    yes(
        json!({"Variable": "$.n", "NumericEqualsPath": "$.f"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.n", "NumericLessThan": 5.5}),
        i.clone(),
    );
    no(json!({"Variable": "$.n", "NumericLessThan": 5}), i.clone());
    yes(
        json!({"Variable": "$.n", "NumericLessThanEquals": 5}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.n", "NumericGreaterThan": -1}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.n", "NumericLessThanPath": "$.m"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.m", "NumericGreaterThanPath": "$.n"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.f"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.f"}),
        i.clone(),
    );
    no(
        json!({"Variable": "$.s", "NumericEquals": 5}),
        json!({"s": "5"}),
    );
}

#[test]
fn boolean_comparisons() {
    yes(
        json!({"Variable": "$.b", "BooleanEquals": true}),
        json!({"b": true}),
    );
    no(
        json!({"Variable": "$.b", "BooleanEquals": false}),
        json!({"b": true}),
    );
    yes(
        json!({"Variable": "$.b", "BooleanEqualsPath": "$.c"}),
        json!({"b": false, "c": false}),
    );
    no(
        json!({"Variable": "$.b", "BooleanEquals": true}),
        json!({"b": "true"}),
    );
}

#[test]
fn timestamp_comparisons() {
    let i = json!({"t": "2019-03-26T20:14:13.192Z", "u": "2019-03-26T21:14:13+01:00", "later": "2020-01-01T00:00:00Z"});
    yes(
        json!({"Variable": "$.t", "TimestampEquals": "2019-03-26T20:14:13.192Z"}),
        i.clone(),
    );
    // Same instant written with an offset.
    yes(
        json!({"Variable": "$.u", "TimestampEquals": "2019-03-26T20:14:13Z"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.t", "TimestampLessThan": "2020-01-01T00:00:00Z"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.t", "TimestampGreaterThan": "2019-01-01T00:00:00Z"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.t", "TimestampLessThanEquals": "2019-03-26T20:14:13.192Z"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2019-03-26T20:14:13.192Z"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.t", "TimestampLessThanPath": "$.later"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.later", "TimestampGreaterThanPath": "$.t"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.t", "TimestampEqualsPath": "$.t"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.later"}),
        i.clone(),
    );
    yes(
        json!({"Variable": "$.later", "TimestampGreaterThanEqualsPath": "$.t"}),
        i.clone(),
    );
    // Not a timestamp (lower-case "t" separator, or not a string): no match.
    no(
        json!({"Variable": "$.x", "TimestampEquals": "2019-03-26T20:14:13Z"}),
        json!({"x": "2019-03-26t20:14:13Z"}),
    );
    no(
        json!({"Variable": "$.x", "TimestampEquals": "2019-03-26T20:14:13Z"}),
        json!({"x": 3}),
    );
}

#[test]
fn type_tests() {
    let i = json!({"n": null, "s": "x", "num": 1.5, "b": false, "t": "2019-03-26T20:14:13Z"});
    yes(json!({"Variable": "$.s", "IsPresent": true}), i.clone());
    yes(
        json!({"Variable": "$.missing", "IsPresent": false}),
        i.clone(),
    );
    no(
        json!({"Variable": "$.missing", "IsPresent": true}),
        i.clone(),
    );
    yes(json!({"Variable": "$.n", "IsNull": true}), i.clone());
    yes(json!({"Variable": "$.s", "IsNull": false}), i.clone());
    yes(json!({"Variable": "$.s", "IsString": true}), i.clone());
    yes(json!({"Variable": "$.num", "IsString": false}), i.clone());
    yes(json!({"Variable": "$.num", "IsNumeric": true}), i.clone());
    yes(json!({"Variable": "$.b", "IsBoolean": true}), i.clone());
    yes(json!({"Variable": "$.t", "IsTimestamp": true}), i.clone());
    yes(json!({"Variable": "$.s", "IsTimestamp": false}), i.clone());
}

#[test]
fn and_or_not() {
    let i = json!({"a": 1, "b": "x"});
    yes(
        json!({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "StringEquals": "x"}]}),
        i.clone(),
    );
    no(
        json!({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "StringEquals": "y"}]}),
        i.clone(),
    );
    yes(
        json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.b", "StringEquals": "x"}]}),
        i.clone(),
    );
    yes(
        json!({"Not": {"Variable": "$.b", "StringEquals": "y"}}),
        i.clone(),
    );
    yes(
        json!({"Not": {"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Not": {"Variable": "$.a", "IsPresent": true}}]}}),
        i,
    );
}

#[test]
fn missing_variable_is_a_runtime_error() {
    assert_eq!(
        matches(
            json!({"Variable": "$.missing", "StringEquals": "x"}),
            json!({})
        ),
        Err("States.Runtime".into())
    );
    assert_eq!(
        matches(
            json!({"Variable": "$.s", "StringEqualsPath": "$.missing"}),
            json!({"s": "x"})
        ),
        Err("States.Runtime".into())
    );
    // IsPresent guards it.
    assert_eq!(
        matches(
            json!({"And": [{"Variable": "$.missing", "IsPresent": true}, {"Variable": "$.missing", "StringEquals": "x"}]}),
            json!({})
        ),
        Ok(false)
    );
}

#[test]
fn first_match_wins_default_and_no_match() {
    let def = load(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.v", "Choices": [
            {"Variable": "$.v", "NumericGreaterThan": 10, "Next": "Big"},
            {"Variable": "$.v", "NumericGreaterThan": 0, "Next": "Small"}]},
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Small": {"Type": "Pass", "ResultPath": "$", "Parameters": {"got.$": "$"}, "End": true}}}));
    assert_eq!(
        output(&def, json!({"in": {"v": 50}}), &echo()),
        json!("big")
    );
    // Choice output is the OutputPath of the effective input.
    assert_eq!(
        output(&def, json!({"in": {"v": 5}}), &echo()),
        json!({"got": 5})
    );
    assert_eq!(
        failure(&def, json!({"in": {"v": -1}}), &echo()).0,
        "States.NoChoiceMatched"
    );
}
