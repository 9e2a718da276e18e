//! The local store: day files, idempotency across reopening, torn lines, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, OpenOptions};
use std::io::Write;

use serde_json::{Value, json};
use tally_bus::local::TargetInput;
use tally_consumer::LocalConsumer;
use tally_failures::{Appended, FailedEvents, FailuresError, read_failed};

fn failed(id: &str, time: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "PageView.Failed", "source": "tally",
        "account": "000000000000", "time": time, "region": "local", "resources": [],
        "detail": {"error": "States.TaskFailed", "cause": "boom", "execution_id": "x",
                   "input": {"path": "/a"}}
    })
}

#[test]
fn events_go_to_the_file_of_their_utc_day_once_even_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("failed");
    let (store, _) = FailedEvents::open(&dir).unwrap();
    let a = failed("a", "2026-11-28T23:59:59+01:00");
    let b = failed("b", "2026-11-29T00:00:01Z");
    assert_eq!(
        store.append(&a).unwrap(),
        Appended::Written(dir.join("2026-11-28.jsonl"))
    );
    assert_eq!(
        store.append(&b).unwrap(),
        Appended::Written(dir.join("2026-11-29.jsonl"))
    );
    assert_eq!(store.append(&a).unwrap(), Appended::Duplicate);
    drop(store);

    let (store, recovery) = FailedEvents::open(&dir).unwrap();
    assert_eq!(recovery.events, 2);
    assert_eq!(recovery.torn_bytes, 0);
    assert_eq!(store.append(&b).unwrap(), Appended::Duplicate);
    assert_eq!(store.len(), 2);
    assert_eq!(read_failed(&dir).unwrap(), vec![a, b]);
}

#[test]
fn a_torn_last_line_is_cut_off_and_later_appends_stay_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("failed");
    let (store, _) = FailedEvents::open(&dir).unwrap();
    let a = failed("a", "2026-11-29T06:00:00Z");
    store.append(&a).unwrap();
    drop(store);
    let day = dir.join("2026-11-29.jsonl");
    OpenOptions::new()
        .append(true)
        .open(&day)
        .unwrap()
        .write_all(br#"{"version":"0","id":"b","det"#)
        .unwrap();
    // Readers skip the torn line; opening cuts it off.
    assert_eq!(read_failed(&dir).unwrap(), vec![a.clone()]);
    let (store, recovery) = FailedEvents::open(&dir).unwrap();
    assert_eq!(recovery.events, 1);
    assert_eq!(recovery.torn_bytes, 28);
    let b = failed("b", "2026-11-29T07:00:00Z");
    store.append(&b).unwrap();
    assert_eq!(read_failed(&dir).unwrap(), vec![a, b]);
}

#[test]
fn bad_input_is_refused_permanently_and_corrupt_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("failed");
    let (store, _) = FailedEvents::open(&dir).unwrap();
    let err = store
        .handle("failed", &TargetInput::Json(json!({"detail": {}})))
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.message().contains("\"id\""), "{err}");
    let err = store
        .handle("failed", &TargetInput::Text("x".into()))
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(store.is_empty());
    // An event without a usable time goes to today's file rather than nowhere.
    let mut no_time = failed("c", "");
    no_time.as_object_mut().unwrap().remove("time");
    store
        .handle("failed", &TargetInput::Json(no_time.clone()))
        .unwrap();
    assert_eq!(read_failed(&dir).unwrap(), vec![no_time]);
    drop(store);

    fs::write(dir.join("2026-01-01.jsonl"), "{\"id\":\"x\"}\nnot json\n").unwrap();
    let err = FailedEvents::open(&dir).unwrap_err();
    assert!(
        matches!(err, FailuresError::Corrupt { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2026-01-01.jsonl:2"), "{err}");
}
