//! The handler over the fixtures, with fake clients: what starts an execution, what is skipped,
//! what goes to the failure queue with its reason, and when the event is retried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use aws_lambda_events::event::s3::S3Event;
use serde_json::Value;
use support::{Fakes, config, fixture, fixture_text};
use tally_standard_logs_lambda::{HandlerError, StandardConfig, Summary, handle};

const VARIANTS: [&str; 2] = ["standard-log", "v2-json"];

#[test]
fn fixtures_round_trip() {
    for variant in VARIANTS {
        let text = fixture_text(variant);
        let event: S3Event = serde_json::from_str(&text).unwrap();
        let again: S3Event = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(event, again, "{variant}");
        let original: Value = serde_json::from_str(&text).unwrap();
        let written = serde_json::to_value(&event).unwrap();
        let (a, b) = (&original["Records"][0], &written["Records"][0]);
        for key in ["bucket", "object"] {
            for field in ["name", "key", "size", "eTag", "sequencer", "arn"] {
                assert_eq!(
                    a["s3"][key][field], b["s3"][key][field],
                    "{variant}: {key}.{field}"
                );
            }
        }
        assert_eq!(a["eventName"], b["eventName"], "{variant}");
        assert_eq!(a["eventTime"], b["eventTime"], "{variant}");
    }
}

fn run_with(
    config: &StandardConfig,
    fakes: &Fakes,
    event: &S3Event,
) -> Result<Summary, HandlerError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(handle(config, fakes, fakes, fakes, event))
}

fn run(fakes: &Fakes, variant: &str) -> Result<Summary, HandlerError> {
    run_with(&config(&[]), fakes, &fixture(variant))
}

/// The event's metrics line, read back as EMF, checked to be the standard-log Lambda's.
fn metrics(summary: &Summary) -> tally_metrics::Emitted {
    let line = summary.metrics().line(1_764_643_200_000, 7.0);
    let emitted = tally_metrics::read(&line).unwrap();
    assert_eq!(emitted.dimensions["Function"], "standard-logs");
    assert_eq!(emitted.get("Latency"), 7.0);
    emitted
}

fn ids(fakes: &Fakes) -> BTreeSet<String> {
    fakes
        .started
        .lock()
        .unwrap()
        .iter()
        .map(|(_, input)| {
            let view: Value = serde_json::from_str(input).unwrap();
            view["event_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_gzipped_w3c_log_starts_its_page_views_and_keeps_its_poison_lines() {
    let fakes = Fakes::with(&VARIANTS);
    let summary = run(&fakes, "standard-log").unwrap();
    assert_eq!((summary.objects, summary.records), (1, 9));
    // `/`, the Googlebot hit (a bot is a view, classed), the 304, `/index.html`.
    assert_eq!(summary.started, 4, "{summary:?}");
    let skipped: Vec<(&str, usize)> = summary
        .skipped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        skipped,
        [("not_a_page", 1), ("not_get", 1), ("status_4xx", 1)]
    );
    let rejected = fakes.rejected.lock().unwrap().clone();
    assert_eq!(summary.rejected, 2);
    let m = metrics(&summary);
    assert_eq!(
        (m.get("Views"), m.get("Skipped"), m.get("Failed")),
        (4.0, 3.0, 2.0)
    );
    assert_eq!(
        (m.get("Failed.malformed"), m.get("Failed.bad_time")),
        (1.0, 1.0)
    );
    assert_eq!(m.get("Skipped.not_get"), 1.0);
    let lines: Vec<Option<usize>> = rejected.iter().map(|r| r.line).collect();
    assert_eq!(
        lines,
        [Some(8), Some(11)],
        "by line number, headers counted"
    );
    assert!(
        rejected[0]
            .reason
            .starts_with("malformed: 4 tab-separated fields"),
        "{rejected:?}"
    );
    assert!(rejected[1].reason.starts_with("bad_time: "), "{rejected:?}");
    assert_eq!(
        rejected[0].key,
        "cloudfront/E2EXAMPLE.2026-03-07-08.a1b2c3d4.gz"
    );
    assert_eq!(rejected[0].bucket, "tally-logs-example");
    let kept = serde_json::to_string(&rejected).unwrap();
    for private in ["203.0.113.5", "Mozilla", "iPhone"] {
        assert!(!kept.contains(private), "{private} in {kept}");
    }
    for (name, input) in fakes.started.lock().unwrap().iter() {
        let view: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            *name,
            tally_edge::execution_name(view["event_id"].as_str().unwrap())
        );
        assert!(
            !input.contains("192.0.2.10") && !input.contains("Mozilla"),
            "{input}"
        );
    }
}

#[test]
fn a_plain_v2_json_log_under_an_encoded_key_is_read_as_json() {
    let fakes = Fakes::with(&VARIANTS);
    let summary = run(&fakes, "v2-json").unwrap();
    assert_eq!(
        (summary.records, summary.started, summary.rejected),
        (12, 4, 2),
        "{summary:?}"
    );
    let want: BTreeSet<String> = [1, 2, 3, 4]
        .iter()
        .map(|n| format!("Rt{n}b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA=="))
        .collect();
    assert_eq!(ids(&fakes), want);
    let rejected = fakes.rejected.lock().unwrap().clone();
    assert!(
        rejected
            .iter()
            .all(|r| r.key.contains("/year=2026/month=03/")),
        "decoded: {rejected:?}"
    );
    // Forced to W3C, the same object is all malformed lines, none silently dropped.
    let forced = run_with(
        &config(&[("TALLY_LOG_FORMAT", "standard")]),
        &Fakes::with(&VARIANTS),
        &fixture("v2-json"),
    )
    .unwrap();
    assert_eq!((forced.started, forced.rejected), (0, 12));
}

#[test]
fn a_second_run_on_the_same_object_starts_the_same_event_ids() {
    let fakes = Fakes::with(&VARIANTS);
    run(&fakes, "standard-log").unwrap();
    let first = fakes.started.lock().unwrap().clone();
    run(&fakes, "standard-log").unwrap();
    let all = fakes.started.lock().unwrap().clone();
    assert_eq!(all.len(), 2 * first.len());
    let names: BTreeSet<&String> = all.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names.len(),
        first.len(),
        "the same executions and event ids: consumers dedupe them"
    );
}

#[test]
fn what_may_pass_later_fails_the_invocation_after_the_rest_is_done() {
    let fakes = Fakes {
        fail_start: Some("Ut9b3Cq7V5EXAMPLE".into()),
        ..Fakes::with(&VARIANTS)
    };
    let err = run(&fakes, "standard-log").unwrap_err();
    assert_eq!(err.failed, 1);
    assert!(err.first.contains("line 10: throttled"), "{err}");
    assert_eq!(
        (err.summary.started, err.summary.rejected),
        (3, 2),
        "the rest went through"
    );
    let m = metrics(&err.summary);
    assert_eq!(
        (m.get("Views"), m.get("Failed.start_execution")),
        (3.0, 1.0)
    );

    let fakes = Fakes {
        fail_reject: Some("bad_time".into()),
        ..Fakes::with(&VARIANTS)
    };
    let err = run(&fakes, "standard-log").unwrap_err();
    assert!(
        err.to_string().contains("failure queue: queue unreachable"),
        "{err}"
    );
    let m = metrics(&err.summary);
    assert_eq!(
        (m.get("Failed.failure_queue"), m.get("Failed.bad_time")),
        (1.0, 0.0)
    );

    let fakes = Fakes {
        fail_get: true,
        ..Fakes::with(&VARIANTS)
    };
    let err = run(&fakes, "standard-log").unwrap_err();
    assert!(
        err.first.contains("s3://tally-logs-example/cloudfront/"),
        "{err}"
    );
    assert_eq!(err.summary.objects, 0);
    assert_eq!(metrics(&err.summary).get("Failed.get_object"), 1.0);
}

#[test]
fn an_object_gone_or_not_created_is_kept_or_skipped_not_retried() {
    let fakes = Fakes::default();
    let summary = run(&fakes, "standard-log").unwrap();
    assert_eq!((summary.objects, summary.rejected), (0, 1));
    let rejected = fakes.rejected.lock().unwrap().clone();
    assert_eq!(rejected[0].line, None);
    assert_eq!(rejected[0].reason, "the object is gone");
    assert_eq!(metrics(&summary).get("Failed.object"), 1.0);

    let mut removed = fixture("standard-log");
    removed.records[0].event_name = Some("ObjectRemoved:Delete".into());
    let summary = run_with(&config(&[]), &fakes, &removed).unwrap();
    assert_eq!(summary.skipped.get("not_object_created"), Some(&1));
    assert_eq!(summary.rejected, 0);
    assert_eq!(metrics(&summary).get("Skipped.not_object_created"), 1.0);

    let mut bad_key = fixture("standard-log");
    bad_key.records[0].s3.object.key = Some("broken%2".into());
    let summary = run_with(&config(&[]), &fakes, &bad_key).unwrap();
    assert_eq!(summary.rejected, 1);
    assert_eq!(metrics(&summary).get("Failed.object_key"), 1.0);
    assert!(
        fakes.rejected.lock().unwrap()[1]
            .reason
            .contains("percent-encoding")
    );
}
