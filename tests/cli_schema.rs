//! `tally schema validate` and `export` as a user runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn tally(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn example(name: &str) -> String {
    let path = tally::schema_files::default_dir()
        .join("page-view/examples")
        .join(name);
    fs::read_to_string(path).unwrap()
}

fn compact(text: &str) -> String {
    serde_json::from_str::<Value>(text).unwrap().to_string()
}

#[test]
fn one_bad_line_among_a_thousand_is_named_and_exits_1() {
    let good = compact(&example("valid/minimal.json"));
    let mut lines = vec![good.clone(); 1000];
    lines[736] = good
        .replace("\"country\"", "\"x\"")
        .replace("\"path\":\"/\"", "\"path\":\"no-slash\"");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("views.ndjson");
    fs::write(&file, lines.join("\n") + "\n").unwrap();

    let out = tally(&["schema", "validate", file.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    let reported: Vec<&str> = stdout.lines().collect();
    assert_eq!(reported.len(), 1, "{stdout}");
    assert!(
        reported[0].starts_with(&format!("{}:737: /path: ", file.display())),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1000 record(s), 1 invalid"));
}

#[test]
fn valid_input_from_stdin_and_files_exits_0() {
    let input = format!(
        "{}\n{}\n",
        compact(&example("valid/full.json")),
        compact(&example("valid/envelope.json"))
    );
    let pretty = tally::schema_files::default_dir().join("page-view/examples/valid/envelope.json");
    let out = tally(
        &["schema", "validate", "-", pretty.to_str().unwrap()],
        Some(&input),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 record(s), 0 invalid"));
}

#[test]
fn an_envelope_error_points_into_the_detail() {
    let out = tally(
        &["schema", "validate", "-"],
        Some(&example("invalid/envelope-detail-invalid.json")),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with("-:1: /detail/country: ")),
        "{stdout}"
    );
}

#[test]
fn a_missing_file_is_an_error_with_exit_2() {
    let out = tally(&["schema", "validate", "/nonexistent/views.ndjson"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/views.ndjson"));
}

#[test]
fn export_prints_the_committed_schema_and_the_registry_form() {
    let out = tally(&["schema", "export"], None);
    assert!(out.status.success());
    let committed =
        fs::read_to_string(tally::schema_files::default_dir().join("page-view/v1.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);

    let out = tally(&["schema", "export", "--registry-format"], None);
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert!(schema["properties"]["detail"].is_object());
}
