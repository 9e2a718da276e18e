//! Input and output processing, with the examples of the AWS Developer Guide
//! pages "InputPath, Parameters and ResultSelector" and "ResultPath".
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

#[test]
fn input_path_selects_a_node() {
    let input = json!({"comment": "Example for InputPath.",
        "dataset1": {"val1": 1, "val2": 2, "val3": 3},
        "dataset2": {"val1": "a", "val2": "b", "val3": "c"}});
    let def = task(json!({"InputPath": "$.dataset2"}));
    assert_eq!(
        output(&def, input, &echo()),
        json!({"val1": "a", "val2": "b", "val3": "c"})
    );
}

#[test]
fn parameters_select_and_add_static_values() {
    let input = json!({"comment": "Example for Parameters.",
        "product": {"details": {"color": "blue", "size": "small", "material": "cotton"},
                    "availability": "in stock", "sku": "2317", "cost": "$23"}});
    let def = task(
        json!({"Parameters": {"comment": "Selecting what I care about.",
        "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability", "StaticValue": "foo"}}}),
    );
    assert_eq!(
        output(&def, input, &echo()),
        json!({"comment": "Selecting what I care about.",
               "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}})
    );
}

#[test]
fn parameters_apply_after_input_path_and_recurse_into_arrays() {
    let def = task(
        json!({"InputPath": "$.a", "Parameters": {"list": [{"x.$": "$.b"}, "$.b", 3], "whole.$": "$"}}),
    );
    assert_eq!(
        output(&def, json!({"a": {"b": 7}}), &echo()),
        json!({"list": [{"x": 7}, "$.b", 3], "whole": {"b": 7}})
    );
}

#[test]
fn result_selector_shapes_the_task_result() {
    let result = json!({"resourceType": "elasticmapreduce", "resource": "createCluster.sync",
        "output": {"SdkHttpMetadata": {"HttpHeaders": {"Content-Length": "1112"}, "HttpStatusCode": 200},
                   "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
                   "ClusterId": "AKIAIOSFODNN7EXAMPLE"}});
    let def = task(
        json!({"ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"},
        "ResultPath": "$.EMROutput"}),
    );
    assert_eq!(
        output(&def, json!({"in": 1}), &returns(result)),
        json!({"in": 1, "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"}})
    );
}

fn resultpath_input() -> serde_json::Value {
    json!({"comment": "This is a test", "details": "Default example", "who": "Step Functions"})
}

#[test]
fn result_path_dollar_replaces_the_input() {
    let def = task(json!({"ResultPath": "$"}));
    assert_eq!(
        output(
            &def,
            resultpath_input(),
            &returns(json!("Hello, Step Functions!"))
        ),
        json!("Hello, Step Functions!")
    );
    let def = task(json!({}));
    assert_eq!(
        output(
            &def,
            resultpath_input(),
            &returns(json!("Hello, Step Functions!"))
        ),
        json!("Hello, Step Functions!")
    );
}

#[test]
fn result_path_null_discards_the_result() {
    let def = task(json!({"ResultPath": null}));
    assert_eq!(
        output(
            &def,
            resultpath_input(),
            &returns(json!("Hello, Step Functions!"))
        ),
        resultpath_input()
    );
}

#[test]
fn result_path_includes_the_result_with_the_input() {
    let def = task(json!({"ResultPath": "$.taskresult"}));
    let mut expected = resultpath_input();
    expected["taskresult"] = json!("Hello, Step Functions!");
    assert_eq!(
        output(
            &def,
            resultpath_input(),
            &returns(json!("Hello, Step Functions!"))
        ),
        expected
    );
}

#[test]
fn result_path_updates_a_node_and_creates_missing_parents() {
    let input = json!({"master": {"detail": [1, 2, 3]}});
    let def = task(json!({"ResultPath": "$.master.detail"}));
    assert_eq!(
        output(&def, input.clone(), &returns(json!(6))),
        json!({"master": {"detail": 6}})
    );
    let def = task(json!({"ResultPath": "$.a.b['c-d']"}));
    assert_eq!(
        output(&def, json!({}), &returns(json!(1))),
        json!({"a": {"b": {"c-d": 1}}})
    );
    let def = task(json!({"ResultPath": "$.master.detail[1]"}));
    assert_eq!(
        output(&def, input, &returns(json!("x"))),
        json!({"master": {"detail": [1, "x", 3]}})
    );
}

#[test]
fn result_path_into_a_non_object_is_a_runtime_error() {
    let def = task(json!({"ResultPath": "$.a.b"}));
    let (error, _) = failure(&def, json!({"a": 1}), &returns(json!(2)));
    assert_eq!(error, "States.Runtime");
}

#[test]
fn output_path_filters_the_output() {
    let def = task(json!({"ResultPath": "$.r", "OutputPath": "$.r.x"}));
    assert_eq!(
        output(&def, json!({"keep": 1}), &returns(json!({"x": [1, 2]}))),
        json!([1, 2])
    );
}

#[test]
fn null_input_and_output_paths_give_empty_objects() {
    let def = task(json!({"InputPath": null}));
    assert_eq!(output(&def, json!({"a": 1}), &echo()), json!({}));
    let def = task(json!({"OutputPath": null}));
    assert_eq!(output(&def, json!({"a": 1}), &echo()), json!({}));
}

#[test]
fn result_path_applies_to_the_raw_input_not_the_effective_input() {
    let def = task(json!({"InputPath": "$.inner", "ResultPath": "$.out"}));
    assert_eq!(
        output(&def, json!({"inner": {"v": 1}, "other": 2}), &echo()),
        json!({"inner": {"v": 1}, "other": 2, "out": {"v": 1}})
    );
}

#[test]
fn pass_result_parameters_and_result_path() {
    let def = pass(json!({"Result": {"x": 1}, "ResultPath": "$.res"}));
    assert_eq!(
        output(&def, json!({"in": true}), &echo()),
        json!({"in": true, "res": {"x": 1}})
    );
    let def = pass(json!({"Parameters": {"v.$": "$.in"}}));
    assert_eq!(output(&def, json!({"in": 5}), &echo()), json!({"v": 5}));
    let def = pass(json!({}));
    assert_eq!(output(&def, json!({"in": 5}), &echo()), json!({"in": 5}));
    // "Result" is not a template: ".$" keys stay as they are.
    let def = pass(json!({"Result": {"k.$": "$.in"}}));
    assert_eq!(
        output(&def, json!({"in": 5}), &echo()),
        json!({"k.$": "$.in"})
    );
}

#[test]
fn missing_paths_are_runtime_errors() {
    for fields in [
        json!({"InputPath": "$.missing"}),
        json!({"Parameters": {"x.$": "$.missing"}}),
        json!({"OutputPath": "$.missing"}),
        json!({"ResultSelector": {"x.$": "$.missing"}}),
    ] {
        let def = task(fields.clone());
        let (error, cause) = failure(&def, json!({"a": 1}), &returns(json!({"b": 2})));
        assert_eq!(error, "States.Runtime", "{fields}");
        assert!(cause.contains("$.missing"), "{cause}");
    }
}

#[test]
fn paths_with_indexes_and_brackets() {
    let def = task(
        json!({"Parameters": {"a.$": "$.list[1]", "b.$": "$['odd key'].x", "c.$": "$.m[0][1]"}}),
    );
    assert_eq!(
        output(
            &def,
            json!({"list": [10, 20], "odd key": {"x": "y"}, "m": [[1, 2]]}),
            &echo()
        ),
        json!({"a": 20, "b": "y", "c": 2})
    );
}

#[test]
fn succeed_applies_input_and_output_paths() {
    let def = load(
        json!({"StartAt": "S", "States": {"S": {"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}}}),
    );
    assert_eq!(output(&def, json!({"a": {"b": 3}}), &echo()), json!(3));
}

#[test]
fn states_chain_through_next() {
    let def = load(json!({"StartAt": "One", "States": {
        "One": {"Type": "Pass", "Result": 1, "ResultPath": "$.one", "Next": "Two"},
        "Two": {"Type": "Task", "Resource": "local:fn", "Parameters": {"sum.$": "States.MathAdd($.one, 41)"}, "Next": "Done"},
        "Done": {"Type": "Succeed"}}}));
    assert_eq!(output(&def, json!({}), &echo()), json!({"sum": 42}));
}
