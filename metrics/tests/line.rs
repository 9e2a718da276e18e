//! The EMF line: valid JSON that follows the specification, and says what the invocation did.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use serde_json::Value;
use tally_metrics::{Invocation, MAX_REASONS, read};

const NOW_MS: u64 = 1_764_643_200_123;

fn batch() -> Invocation {
    let mut invocation = Invocation::new("realtime-logs");
    invocation
        .views(3)
        .skipped("not_a_page", 2)
        .skipped("status_4xx", 1)
        .skipped("not_a_page", 1)
        .failed("start_execution", 1);
    invocation
}

#[test]
fn the_line_is_emf_with_every_count_and_the_latency() {
    let line = batch().line(NOW_MS, 12.5);
    let emitted = read(&line).unwrap();
    assert_eq!(emitted.timestamp_ms, NOW_MS);
    assert_eq!(emitted.dimensions["Function"], "realtime-logs");
    for (name, value) in [
        ("Views", 3.0),
        ("Skipped", 4.0),
        ("Skipped.not_a_page", 3.0),
        ("Skipped.status_4xx", 1.0),
        ("Failed", 1.0),
        ("Failed.start_execution", 1.0),
        ("Latency", 12.5),
    ] {
        assert_eq!(emitted.metrics.get(name), Some(&value), "{name}: {line}");
    }
    assert_eq!(emitted.metrics.len(), 7, "{line}");
    assert_eq!(emitted.units["Latency"], "Milliseconds");
    assert_eq!(emitted.units["Views"], "Count");
    let doc: Value = serde_json::from_str(&line).unwrap();
    let directive = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Tally");
    assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
}

#[test]
fn an_idle_invocation_still_reports_its_totals() {
    let emitted = read(&Invocation::new("counters").line(NOW_MS, 0.0)).unwrap();
    let names: Vec<&str> = emitted.metrics.keys().map(String::as_str).collect();
    assert_eq!(names, ["Failed", "Latency", "Skipped", "Views"]);
    assert!(emitted.metrics.values().all(|v| *v == 0.0));
}

#[test]
fn reasons_become_bounded_metric_names() {
    let mut invocation = Invocation::new("edge");
    invocation
        .failed("Start Execution: 10.0.0.1", 1)
        .skipped("", 1);
    for i in 0..2 * MAX_REASONS {
        invocation.skipped(&format!("reason_{i}"), 1);
    }
    let line = invocation.line(NOW_MS, 1.0);
    let emitted = read(&line).unwrap();
    assert!(
        emitted
            .metrics
            .contains_key("Failed.start_execution__10_0_0_1")
    );
    let skipped = emitted.metrics.keys().filter(|k| k.starts_with("Skipped."));
    assert_eq!(skipped.count(), MAX_REASONS, "{line}");
    assert_eq!(emitted.get("Skipped"), (2 * MAX_REASONS + 1) as f64);
    assert!(emitted.get("Skipped.other") > 1.0);
    assert!(!line.contains(' '), "{line}");
}

#[test]
fn read_refuses_what_is_not_emf() {
    let good = batch().line(NOW_MS, 1.0);
    let seconds = good.replace(&NOW_MS.to_string(), &(NOW_MS / 1000).to_string());
    let no_value = good.replace("\"Views\":3,", "");
    let no_dimension = good.replace("\"Function\":\"realtime-logs\",", "");
    for (what, line) in [
        ("seconds", seconds),
        ("no value", no_value),
        ("no dimension", no_dimension),
        ("two lines", format!("{good}\n{good}")),
        ("not json", "Views=3".to_owned()),
    ] {
        assert!(read(&line).is_err(), "{what}: {line}");
    }
}

#[test]
fn emit_measures_the_latency_from_the_start() {
    // What emit prints is the line for now; its latency is the time since `started`.
    let started = Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let line = batch().line(NOW_MS, started.elapsed().as_secs_f64() * 1000.0);
    assert!(read(&line).unwrap().get("Latency") >= 5.0);
    batch().emit(started);
}
