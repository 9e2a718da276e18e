//! `tally rules test` exit codes: 0 match, 1 no match, 2 invalid pattern.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::process::Command;

fn run(pattern: &str, event: &str) -> (Option<i32>, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let (p, e) = (tmp.path().join("p.json"), tmp.path().join("e.json"));
    fs::write(&p, pattern).unwrap();
    fs::write(&e, event).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args([
            "rules",
            "test",
            "--pattern",
            p.to_str().unwrap(),
            "--event",
            e.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

const EVENT: &str = r#"{"source": "tally", "detail-type": "PageView", "detail": {"schema_version": "1-0-0", "path": "/blog/x"}}"#;

#[test]
fn a_match_exits_0() {
    let (code, out, _) = run(
        r#"{"detail": {"schema_version": [{"prefix": "1-"}]}}"#,
        EVENT,
    );
    assert_eq!((code, out.trim()), (Some(0), "match"));
}

#[test]
fn no_match_exits_1() {
    let (code, out, _) = run(r#"{"detail": {"path": [{"prefix": "/docs/"}]}}"#, EVENT);
    assert_eq!((code, out.trim()), (Some(1), "no match"));
}

#[test]
fn an_invalid_pattern_exits_2_saying_why() {
    let (code, _, err) = run(r#"{"detail": {"path": [{"prefix": 5}]}}"#, EVENT);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("invalid pattern") && err.contains("prefix"),
        "{err}"
    );
}
