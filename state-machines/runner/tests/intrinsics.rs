//! Intrinsic functions.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

/// Evaluates `expr` as the value of a `.$` field against `input`.
fn eval(expr: &str, input: Value) -> Result<Value, String> {
    let def = pass(json!({"Parameters": {"v.$": expr}}));
    match run(&def, input, &echo()) {
        tally_states::ExecutionResult::Succeeded { output, .. } => Ok(output["v"].clone()),
        tally_states::ExecutionResult::Failed { error, cause, .. } => {
            Err(format!("{error}: {cause}"))
        }
    }
}

fn ok(expr: &str, input: Value) -> Value {
    eval(expr, input).unwrap()
}

#[test]
fn format() {
    assert_eq!(
        ok(
            "States.Format('Hello, my name is {}.', $.name)",
            json!({"name": "Arnav"})
        ),
        json!("Hello, my name is Arnav.")
    );
    assert_eq!(
        ok(
            "States.Format('{} {} {} {}', $.n, true, null, 'x')",
            json!({"n": 1.5})
        ),
        json!("1.5 true null x")
    );
    // Escaped braces and quotes are literal.
    assert_eq!(
        ok("States.Format('\\{\\} {} it\\'s \\\\', 1)", json!({})),
        json!("{} 1 it's \\")
    );
    assert!(eval("States.Format($.t, 'a')", json!({"t": "<{}>"})).is_ok());
    assert_eq!(
        ok("States.Format($.t, 'a')", json!({"t": "<{}>"})),
        json!("<a>")
    );
}

#[test]
fn json_string_conversions() {
    assert_eq!(
        ok("States.StringToJson($.s)", json!({"s": "{\"a\":[1,2]}"})),
        json!({"a": [1, 2]})
    );
    assert_eq!(
        ok("States.JsonToString($.o)", json!({"o": {"a": 1}})),
        json!("{\"a\":1}")
    );
    assert!(
        eval("States.StringToJson($.s)", json!({"s": "{"}))
            .unwrap_err()
            .starts_with("States.Runtime")
    );
}

#[test]
fn json_merge_is_shallow() {
    let input = json!({"a": {"x": 1, "inner": {"p": 1}}, "b": {"y": 2, "inner": {"q": 2}}});
    assert_eq!(
        ok("States.JsonMerge($.a, $.b, false)", input.clone()),
        json!({"x": 1, "y": 2, "inner": {"q": 2}})
    );
    assert!(
        eval(
            "States.JsonMerge($.a, $.b, $.deep)",
            json!({"a": {}, "b": {}, "deep": true})
        )
        .is_err()
    );
}

#[test]
fn arrays() {
    assert_eq!(
        ok(
            "States.Array('a', 1, $.x, States.Array())",
            json!({"x": {"k": true}})
        ),
        json!(["a", 1, {"k": true}, []])
    );
    assert_eq!(
        ok("States.ArrayGetItem($.l, 1)", json!({"l": [5, 6, 7]})),
        json!(6)
    );
    assert!(eval("States.ArrayGetItem($.l, 3)", json!({"l": [5, 6, 7]})).is_err());
    assert_eq!(
        ok("States.ArrayLength($.l)", json!({"l": [5, 6, 7]})),
        json!(3)
    );
    assert_eq!(
        ok("States.ArrayContains($.l, 6)", json!({"l": [5, 6, 7]})),
        json!(true)
    );
    assert_eq!(
        ok("States.ArrayPartition($.l, 2)", json!({"l": [1, 2, 3]})),
        json!([[1, 2], [3]])
    );
    assert_eq!(
        ok("States.ArrayRange(1, 9, 3)", json!({})),
        json!([1, 4, 7])
    );
    assert_eq!(
        ok("States.ArrayUnique($.l)", json!({"l": [1, 2, 1, "1"]})),
        json!([1, 2, "1"])
    );
}

#[test]
fn math_add() {
    assert_eq!(ok("States.MathAdd($.v, -1)", json!({"v": 111})), json!(110));
    assert!(eval("States.MathAdd($.v, 1)", json!({"v": "1"})).is_err());
    assert!(eval("States.MathAdd($.v, 1)", json!({"v": 2147483647})).is_err());
}

#[test]
fn string_split() {
    assert_eq!(
        ok("States.StringSplit($.s, ',')", json!({"s": "1,2,3,4,5"})),
        json!(["1", "2", "3", "4", "5"])
    );
    assert_eq!(
        ok(
            "States.StringSplit($.s, $.d)",
            json!({"s": "This.is+a,test=string", "d": ".+,="})
        ),
        json!(["This", "is", "a", "test", "string"])
    );
}

#[test]
fn nested_calls_like_the_aws_example() {
    // The Developer Guide's example has three placeholders for two
    // arguments (refused here at load); this is it with two.
    let arn = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe.v1/1.0.0";
    let expr = "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))";
    assert_eq!(ok(expr, json!({"ImageRecipe": {"Arn": arn}})), json!("1.0"));
}

#[test]
fn uuid_is_v4() {
    let a = ok("States.UUID()", json!({}));
    let b = ok("States.UUID()", json!({}));
    let s = a.as_str().unwrap();
    assert_eq!(s.len(), 36);
    assert_eq!(&s[14..15], "4");
    assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
    assert_ne!(a, b);
}

#[test]
fn hash_sha256_and_base64() {
    assert_eq!(
        ok("States.Hash($.d, 'SHA-256')", json!({"d": "abc"})),
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        ok("States.Hash('', 'SHA-256')", json!({})),
        json!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(
        ok("States.Base64Encode('Data to encode')", json!({})),
        json!("RGF0YSB0byBlbmNvZGU=")
    );
    assert_eq!(
        ok("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})),
        json!("Data to encode")
    );
}

#[test]
fn context_paths_in_arguments() {
    assert_eq!(
        ok(
            "States.Format('{}/{}', $$.StateMachine.Name, $$.Execution.Name)",
            json!({})
        ),
        json!("Tally/exec-1")
    );
}

#[test]
fn load_time_refusals() {
    for (expr, needle) in [
        (
            "States.Nope($.a)",
            "unsupported intrinsic function \"States.Nope\"",
        ),
        (
            "States.MathRandom(1, 2)",
            "unsupported intrinsic function \"States.MathRandom\"",
        ),
        ("States.Format('{} {}', 1)", "placeholder"),
        ("States.ArrayLength($.a, 1)", "takes 1 argument"),
        ("States.JsonMerge($.a, $.b, true)", "deep merging"),
        ("States.Hash($.a, 'MD5')", "not supported"),
        ("States.Format('unterminated", "unterminated"),
        ("States.Format('{', 1)", "unescaped"),
        ("States.Array($.a[*])", "wildcard"),
        ("not a call", "unsupported intrinsic function"),
    ] {
        let msg = load_err(
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"v.$": expr}, "End": true}}}),
        );
        assert!(msg.starts_with("state \"P\": "), "{msg}");
        assert!(msg.contains(needle), "{expr}: {msg}");
    }
}
