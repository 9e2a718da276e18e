//! Table-driven tests from `tests/vectors/*.json`.
//!
//! Every file except `invalid.json` holds match vectors
//! `{"name", "pattern", "event", "matches"}` (optional "doc"/"note" fields
//! say where a vector comes from); `invalid.json` holds rejected patterns
//! `{"name", "pattern", "error_contains"}` with an optional exact "path".
//! The vectors are data so that other implementations (such as moto's
//! EventBridge) can be tested against them too.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use tally_bus::Pattern;

#[derive(Debug, Deserialize)]
struct MatchVector {
    name: String,
    pattern: Value,
    event: Value,
    matches: bool,
}

#[derive(Debug, Deserialize)]
struct InvalidVector {
    name: String,
    pattern: Value,
    error_contains: String,
    path: Option<String>,
}

fn vector_files() -> Vec<PathBuf> {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/vectors");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Vec<T> {
    let text = fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_invalid_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "invalid.json")
}

#[test]
fn match_vectors() {
    let mut failures = Vec::new();
    let mut count = 0;
    for file in vector_files().iter().filter(|f| !is_invalid_file(f)) {
        let stem = file.file_stem().unwrap().to_string_lossy();
        for v in load::<MatchVector>(file) {
            count += 1;
            match Pattern::from_value(&v.pattern) {
                Ok(p) if p.matches(&v.event) == v.matches => {}
                Ok(_) => failures.push(format!(
                    "{stem}: {}: expected matches={}",
                    v.name, v.matches
                )),
                Err(e) => failures.push(format!("{stem}: {}: pattern rejected: {e}", v.name)),
            }
        }
    }
    assert!(count > 0, "no match vectors found");
    assert!(
        failures.is_empty(),
        "{} failing vectors:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_vectors() {
    let file =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/vectors/invalid.json");
    let mut failures = Vec::new();
    let vectors = load::<InvalidVector>(&file);
    assert!(!vectors.is_empty());
    for v in vectors {
        match Pattern::from_value(&v.pattern) {
            Ok(_) => failures.push(format!("{}: accepted", v.name)),
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains(&v.error_contains) {
                    failures.push(format!("{}: {msg:?} lacks {:?}", v.name, v.error_contains));
                }
                if v.path.as_deref().is_some_and(|p| p != e.path()) {
                    failures.push(format!(
                        "{}: path {:?}, expected {:?}",
                        v.name,
                        e.path(),
                        v.path
                    ));
                }
                if msg.ends_with('.') {
                    failures.push(format!("{}: message ends with a period: {msg:?}", v.name));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing vectors:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parse_reports_invalid_json() {
    let err = Pattern::parse("{\"source\": [").unwrap_err();
    assert_eq!(err.path(), "$");
    assert!(err.to_string().starts_with("$: invalid json: "), "{err}");
}

#[test]
fn parse_and_from_str_agree() {
    let text = r#"{"source": [{"prefix": "aws."}]}"#;
    let a = Pattern::parse(text).unwrap();
    let b: Pattern = text.parse().unwrap();
    let event = serde_json::json!({"source": "aws.ec2"});
    assert!(a.matches(&event) && b.matches(&event));
}

#[test]
fn non_object_event_has_no_fields() {
    let p = Pattern::parse(r#"{"a": [{"exists": false}]}"#).unwrap();
    assert!(p.matches(&serde_json::json!([1, 2])));
    let p = Pattern::parse(r#"{"a": ["x"]}"#).unwrap();
    assert!(!p.matches(&serde_json::json!("x")));
}
