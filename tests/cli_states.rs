//! `tally states run` as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::process::Command;

use serde_json::Value;

fn tally(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The enrichment's definition (the checkout's, found at run time).
fn definition() -> String {
    format!(
        "{}/state-machines/enrich.asl.json",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    )
}

fn fixture(name: &str) -> String {
    format!(
        "{}/state-machines/fixtures/example-enrich-input-{name}.json",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    )
}

#[test]
fn prints_the_output_and_the_event_put() {
    let (code, out, err) = tally(&[
        "states",
        "run",
        &definition(),
        "--input",
        &fixture("full"),
        "--start-time",
        "2026-11-29T06:40:19.180Z",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "SUCCEEDED");
    let events = report["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["detail"]["received_at"],
        "2026-11-29T06:40:19.180Z"
    );
    assert_eq!(
        report["output"]["event_id"],
        events[0]["detail"]["event_id"]
    );
}

#[test]
fn a_failed_execution_exits_1_and_shows_the_dead_letter() {
    let (code, out, _) = tally(&[
        "states",
        "run",
        &definition(),
        "--input",
        &fixture("incomplete"),
    ]);
    assert_eq!(code, Some(1));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "FAILED");
    assert_eq!(report["error"], "Tally.DeadLettered");
    assert_eq!(report["events"][0]["detail-type"], "PageView.Failed");
}

#[test]
fn an_unsupported_definition_is_refused_naming_the_state_and_feature() {
    let tmp = tempfile::tempdir().unwrap();
    let def = tmp.path().join("map.asl.json");
    fs::write(
        &def,
        r#"{"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "End": true}}}"#,
    )
    .unwrap();
    let (code, out, err) = tally(&[
        "states",
        "run",
        def.to_str().unwrap(),
        "--input",
        &fixture("full"),
    ]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty(), "nothing ran: {out}");
    assert!(err.contains("\"Fan\"") && err.contains("Map"), "{err}");
}

#[test]
fn a_missing_substitution_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let def = tmp.path().join("s.asl.json");
    let text = fs::read_to_string(definition()).unwrap().replacen(
        "\"Source\": \"tally\"",
        "\"Source\": \"${Source}\"",
        1,
    );
    fs::write(&def, text).unwrap();
    let (code, _, err) = tally(&[
        "states",
        "run",
        def.to_str().unwrap(),
        "--input",
        &fixture("full"),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("Source"), "{err}");
    let (code, out, _) = tally(&[
        "states",
        "run",
        def.to_str().unwrap(),
        "--input",
        &fixture("full"),
        "--subst",
        "Source=tally",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"PageView\""));
}
