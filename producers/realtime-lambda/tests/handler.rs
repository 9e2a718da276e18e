//! The handler over the fixtures, with fake clients: what starts an execution, what is skipped,
//! what goes to the failure queue with its reason, and what is handed back to the stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use aws_lambda_events::event::kinesis::KinesisEvent;
use serde_json::Value;
use support::{Recorder, config, fixture, fixture_text};
use tally_realtime_lambda::handle;

const VARIANTS: [&str; 2] = ["page-views", "malformed"];

#[test]
fn fixtures_round_trip() {
    for variant in VARIANTS {
        let text = fixture_text(variant);
        let event: KinesisEvent = serde_json::from_str(&text).unwrap();
        let again: KinesisEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(event, again, "{variant}");
        let original: Value = serde_json::from_str(&text).unwrap();
        let written = serde_json::to_value(&event).unwrap();
        for (a, b) in original["Records"]
            .as_array()
            .unwrap()
            .iter()
            .zip(written["Records"].as_array().unwrap())
        {
            for key in ["data", "sequenceNumber", "partitionKey"] {
                assert_eq!(a["kinesis"][key], b["kinesis"][key], "{variant}: {key}");
            }
            assert_eq!(a["eventID"], b["eventID"], "{variant}");
        }
    }
}

fn run(variant: &str, fakes: &Recorder) -> (Vec<String>, tally_realtime_lambda::Summary) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (response, summary) =
        runtime.block_on(handle(&config(&[]), fakes, fakes, &fixture(variant)));
    let mut failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    failed.sort();
    (failed, summary)
}

/// The batch's metrics line, read back as EMF, checked to be the real-time Lambda's.
fn metrics(summary: &tally_realtime_lambda::Summary) -> tally_metrics::Emitted {
    let line = summary.metrics().line(1_764_643_200_000, 7.0);
    let emitted = tally_metrics::read(&line).unwrap();
    assert_eq!(emitted.dimensions["Function"], "realtime-logs");
    assert_eq!(emitted.get("Latency"), 7.0);
    emitted
}

#[test]
fn page_views_start_executions_and_the_rest_is_skipped_by_reason() {
    let fakes = Recorder::default();
    let (failed, summary) = run("page-views", &fakes);
    assert!(failed.is_empty());
    assert_eq!(summary.records, 10);
    assert_eq!(summary.started, 4, "page, 304, campaign, bot");
    assert_eq!(
        summary.skipped,
        BTreeMap::from([
            ("not_a_page".into(), 1),
            ("not_get".into(), 2),
            ("status_0xx".into(), 1),
            ("status_3xx".into(), 1),
            ("status_4xx".into(), 1),
        ])
    );
    assert_eq!(summary.rejected, 0);
    let m = metrics(&summary);
    assert_eq!(
        (m.get("Views"), m.get("Skipped"), m.get("Failed")),
        (4.0, 6.0, 0.0)
    );
    assert_eq!(
        (m.get("Skipped.not_get"), m.get("Skipped.status_4xx")),
        (2.0, 1.0)
    );
    let views = started_views(&fakes);
    let paths: Vec<&str> = views.iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/", "/posts/hello-world/", "/", "/about/"]);
    let first = &views[0];
    assert_eq!(first["site"], "www.example.com", "from cs-host");
    assert_eq!(first["occurred_at"], "2026-03-07T08:15:02.123Z");
    assert_eq!(first["country"], "FR");
    assert_eq!(first["referrer_host"], "www.google.com");
    assert_eq!(
        first["event_id"], "Rt1b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA==",
        "CloudFront's request id"
    );
    let campaign = &views[2];
    assert_eq!(
        campaign["utm_campaign"], "spring-launch",
        "from cs-uri-query"
    );
    assert_eq!(campaign["os"], "ios");
    assert_eq!(views[3]["is_bot"], true);
    for view in &views {
        let text = view.to_string();
        assert!(
            !text.contains("192.0.2.") && !text.contains("2001:db8"),
            "{text}"
        );
        assert!(!text.contains("Mozilla"), "{text}");
    }
}

#[test]
fn poison_records_go_to_the_failure_queue_with_their_reason() {
    let fakes = Recorder::default();
    let (failed, summary) = run("malformed", &fakes);
    assert!(
        failed.is_empty(),
        "a poison record is not retried: {failed:?}"
    );
    assert_eq!(summary.started, 1, "the rest of the batch lands");
    assert_eq!(summary.rejected, 4);
    let m = metrics(&summary);
    assert_eq!((m.get("Views"), m.get("Failed")), (1.0, 4.0));
    assert_eq!(
        [
            m.get("Failed.malformed"),
            m.get("Failed.bad_time"),
            m.get("Failed.no_request_id")
        ],
        [2.0, 1.0, 1.0]
    );
    let rejected = fakes.rejected.lock().unwrap().clone();
    let reasons: Vec<&str> = rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons[0],
        "malformed: 11 tab-separated fields where the real-time log configuration names 12"
    );
    assert!(
        reasons[1].starts_with("malformed: not utf-8"),
        "{}",
        reasons[1]
    );
    assert_eq!(reasons[2], "bad_time: timestamp \"yesterday\"");
    assert_eq!(
        reasons[3],
        "no_request_id: x-edge-request-id is missing or not an event id"
    );
    for r in &rejected {
        assert!(r.event_id.as_deref().unwrap().starts_with("shardId-"));
        assert!(!r.redacted.contains("192.0.2."), "{}", r.redacted);
        assert!(!r.redacted.contains("Mozilla"), "{}", r.redacted);
    }
}

#[test]
fn what_may_pass_later_is_handed_back_to_the_stream() {
    let fakes = Recorder {
        // The execution of the 304's view is throttled; keeping the bad-time record fails.
        fail_on: Some("hello-world".into()),
        ..Recorder::default()
    };
    let (failed, summary) = run("page-views", &fakes);
    let event = fixture("page-views");
    assert_eq!(failed, [event.records[1].kinesis.sequence_number.clone()]);
    assert_eq!((summary.started, summary.retried), (3, 1));
    let m = metrics(&summary);
    assert_eq!(
        (m.get("Views"), m.get("Failed.start_execution")),
        (3.0, 1.0)
    );

    let fakes = Recorder {
        fail_on: Some("bad_time".into()),
        ..Recorder::default()
    };
    let (failed, summary) = run("malformed", &fakes);
    let event = fixture("malformed");
    assert_eq!(failed, [event.records[2].kinesis.sequence_number.clone()]);
    assert_eq!((summary.rejected, summary.retried), (3, 1));
    let m = metrics(&summary);
    assert_eq!(
        (m.get("Failed.failure_queue"), m.get("Failed.bad_time")),
        (1.0, 0.0)
    );
    assert_eq!(m.get("Failed"), 4.0, "three kept, one retried");
}

/// Salts for the fixture's day, whatever the time; or a store that cannot answer.
struct FixedSalts(Option<&'static str>);

impl tally_realtime_lambda::salts::SaltStore for FixedSalts {
    async fn day_salts(
        &self,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<tally_realtime_lambda::salts::DaySalts, tally_realtime_lambda::CallError> {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        match self.0 {
            Some(salt) => Ok(tally_realtime_lambda::salts::DaySalts(
                [(day, salt.into())].into(),
            )),
            None => Err(tally_realtime_lambda::CallError("the table is away".into())),
        }
    }
}

fn hashes(salts: &FixedSalts) -> (Vec<Option<String>>, tally_realtime_lambda::Summary) {
    let fakes = Recorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (response, summary) = runtime.block_on(tally_realtime_lambda::handle_with_salts(
        &config(&[]),
        &fakes,
        &fakes,
        salts,
        &fixture("page-views"),
    ));
    assert!(response.batch_item_failures.is_empty());
    let views = started_views(&fakes);
    let hashes = views
        .iter()
        .map(|v| v["visitor_hash"].as_str().map(str::to_owned))
        .collect();
    (hashes, summary)
}

#[test]
fn the_visitor_hash_is_keyed_by_the_days_salt_and_a_missing_salt_loses_no_view() {
    let (a, summary) = hashes(&FixedSalts(Some(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )));
    assert_eq!(summary.started, 4);
    assert!(a.iter().all(Option::is_some), "{a:?}");
    let (b, _) = hashes(&FixedSalts(Some(
        "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
    )));
    assert!(
        a.iter().zip(&b).all(|(x, y)| x != y),
        "another day's salt, other hashes"
    );
    let (none, summary) = hashes(&FixedSalts(None));
    assert_eq!(summary.started, 4, "every view still starts");
    assert!(none.iter().all(Option::is_none), "{none:?}");
    assert_eq!(metrics(&summary).get("Failed.visitor_salt"), 1.0);
}

/// The views the fakes saw started, by time.
fn started_views(fakes: &Recorder) -> Vec<Value> {
    let mut views: Vec<Value> = fakes
        .started
        .lock()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    views.sort_by_key(|v| v["occurred_at"].as_str().unwrap().to_owned());
    views
}
