//! Table-driven target-input tests from `tests/input_vectors/transform.json`
//! (examples of the EventBridge user guide and API reference, and outputs
//! LocalStack recorded against AWS). Kept apart from `tests/vectors/`, whose
//! runner reads every file there as pattern vectors.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use tally_bus::local::input::{
    InputConfig, InputError, InputTransformer, MAX_INPUT_PATHS, RenderContext, TargetInput,
};

fn load() -> Value {
    let path =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/input_vectors/transform.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn config_for(case: &Value, doc: &Value) -> Result<InputConfig, InputError> {
    if let Some(path) = case["input_path"].as_str() {
        return InputConfig::from_api(None, Some(path), None);
    }
    let map = match case["paths"].as_str() {
        Some(name) => &doc[format!("{name}_paths")],
        None => &case["map"],
    };
    let spec = InputTransformer {
        input_paths_map: serde_json::from_value::<BTreeMap<String, String>>(map.clone()).unwrap(),
        input_template: case["template"].as_str().unwrap().to_owned(),
    };
    InputConfig::from_api(None, None, Some(&spec))
}

#[test]
fn input_vectors() {
    let doc = load();
    let ctx = RenderContext {
        rule_name: doc["context"]["rule_name"].as_str().unwrap(),
        rule_arn: doc["context"]["rule_arn"].as_str().unwrap(),
        ingestion_time: doc["context"]["ingestion_time"].as_str().unwrap(),
    };
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut event = doc["events"][case["event"].as_str().unwrap()].clone();
        if let Some(over) = case["event_override"].as_object() {
            for (k, v) in over {
                event[k] = v.clone();
            }
        }
        let config = config_for(case, &doc);
        if let Some(expected) = case["config_error"].as_str() {
            let err = config
                .err()
                .unwrap_or_else(|| panic!("{name}: expected a config error"));
            assert!(err.to_string().contains(expected), "{name}: got {err}");
            continue;
        }
        let config = config.unwrap_or_else(|e| panic!("{name}: {e}"));
        let rendered = config.render(&event, &ctx);
        if let Some(expected) = case["render_error"].as_str() {
            let err = rendered
                .err()
                .unwrap_or_else(|| panic!("{name}: expected a render error"));
            assert!(err.to_string().contains(expected), "{name}: got {err}");
        } else if let Some(text) = case.get("text") {
            assert_eq!(
                rendered.unwrap(),
                TargetInput::Text(text.as_str().unwrap().into()),
                "{name}"
            );
        } else {
            let json = case
                .get("json")
                .unwrap_or_else(|| panic!("{name}: no expectation"));
            assert_eq!(rendered.unwrap(), TargetInput::Json(json.clone()), "{name}");
        }
    }
}

#[test]
fn transformer_limits_and_api_shape() {
    // At most 100 variables.
    let many = |n: usize| InputTransformer {
        input_paths_map: (0..n)
            .map(|i| (format!("v{i}"), "$.detail".to_owned()))
            .collect(),
        input_template: "\"x\"".to_owned(),
    };
    assert!(InputConfig::transformer(&many(MAX_INPUT_PATHS)).is_ok());
    let err = InputConfig::transformer(&many(MAX_INPUT_PATHS + 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input paths map has 101 entries; at most 100 are allowed"
    );

    // Template length limits.
    let template = |t: String| InputTransformer {
        input_template: t,
        ..InputTransformer::default()
    };
    assert_eq!(
        InputConfig::transformer(&template(String::new())).unwrap_err(),
        InputError::EmptyTemplate
    );
    assert!(InputConfig::transformer(&template("a".repeat(8193))).is_err());

    // Only one of Input, InputPath and InputTransformer.
    let err = InputConfig::from_api(Some("{}"), Some("$.detail"), None).unwrap_err();
    assert_eq!(err, InputError::Conflicting);
    assert!(InputConfig::from_api(Some("{not json"), None, None).is_err());

    // The PutTargets field names deserialise.
    let spec: InputTransformer = serde_json::from_str(
        r#"{"InputPathsMap": {"state": "$.detail.state"}, "InputTemplate": "{\"s\": <state>}"}"#,
    )
    .unwrap();
    assert_eq!(spec.input_paths_map["state"], "$.detail.state");
    assert!(InputConfig::transformer(&spec).is_ok());
}

#[test]
fn constant_input_ignores_the_event() {
    let config = InputConfig::from_api(Some(r#"{"hello": "world"}"#), None, None).unwrap();
    let ctx = RenderContext {
        rule_name: "r",
        rule_arn: "arn",
        ingestion_time: "2026-01-01T00:00:00Z",
    };
    let out = config
        .render(&serde_json::json!({"detail": {}}), &ctx)
        .unwrap();
    assert_eq!(out.to_string(), r#"{"hello":"world"}"#);
}
