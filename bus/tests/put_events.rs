//! The PutEvents API of the local bus: envelope building, per-entry
//! validation with EventBridge's error codes, and request-level limits.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::sync::mpsc;

use serde_json::{Value, json};
use tally_bus::Pattern;
use tally_bus::local::{
    BusConfig, EventTime, LocalBus, PutEventsError, PutEventsRequest, PutEventsRequestEntry,
    PutEventsResponse, Rule, Target, TargetInput,
};

fn bus_with_sink(name: &str) -> (LocalBus, mpsc::Receiver<Value>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let sink = move |input: &TargetInput| {
        tx.lock()
            .unwrap()
            .send(input.as_json().unwrap().clone())
            .ok();
        Ok(())
    };
    let bus = LocalBus::builder(BusConfig::new(name, "123456789012", "eu-west-1"))
        .rule(
            Rule::new(
                "all",
                Pattern::parse(r#"{"source": [{"prefix": ""}]}"#).unwrap(),
            )
            .target(Target::new("t", sink)),
        )
        .build()
        .unwrap();
    (bus, rx)
}

fn entry(detail: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry {
        source: Some("tally.collector".into()),
        detail_type: Some("page view".into()),
        detail: Some(detail.into()),
        event_bus_name: Some("tally".into()),
        ..PutEventsRequestEntry::default()
    }
}

#[test]
fn builds_envelopes_like_eventbridge() {
    let (bus, rx) = bus_with_sink("tally");
    let mut e = entry(r#"{"path": "/blog/a"}"#);
    e.resources = Some(vec!["arn:aws:s3:::bucket".into()]);
    e.time = Some(EventTime::Text("2026-11-29T07:40:19+01:00".into()));
    let mut by_arn = entry(r#"{"path": "/"}"#);
    by_arn.event_bus_name = Some("arn:aws:events:eu-west-1:123456789012:event-bus/tally".into());
    by_arn.time = Some(EventTime::EpochSeconds(1_447_277_394.0));
    let response = bus.put_events(&[e, by_arn]).unwrap();
    bus.shutdown();

    assert_eq!(response.failed_entry_count, 0);
    let first: Value = rx.recv().unwrap();
    let id = response.entries[0].event_id.clone().unwrap();
    assert_eq!(
        first,
        json!({"version": "0", "id": id, "detail-type": "page view", "source": "tally.collector",
               "account": "123456789012", "time": "2026-11-29T06:40:19Z", "region": "eu-west-1",
               "resources": ["arn:aws:s3:::bucket"], "detail": {"path": "/blog/a"}})
    );
    let second: Value = rx.recv().unwrap();
    assert_eq!(second["time"], "2015-11-11T21:29:54Z");
    assert_eq!(second["resources"], json!([]));
    assert_ne!(response.entries[0].event_id, response.entries[1].event_id);
    let id = response.entries[1].event_id.as_deref().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"));
}

#[test]
fn time_defaults_to_now() {
    let (bus, rx) = bus_with_sink("tally");
    bus.put_events(&[entry("{}")]).unwrap();
    bus.shutdown();
    let time = rx.recv().unwrap()["time"].as_str().unwrap().to_owned();
    let b = time.as_bytes();
    assert_eq!((b.len(), b[10], b[19]), (20, b'T', b'Z'), "{time}");
    assert!(time.as_str() > "2024-01-01T00:00:00Z");
}

#[test]
fn reports_entry_errors_with_failed_entry_count() {
    let (bus, rx) = bus_with_sink("tally");
    let no_source = PutEventsRequestEntry {
        source: None,
        ..entry("{}")
    };
    let empty_type = PutEventsRequestEntry {
        detail_type: Some(String::new()),
        ..entry("{}")
    };
    let no_detail = PutEventsRequestEntry {
        detail: None,
        ..entry("{}")
    };
    let other_bus = PutEventsRequestEntry {
        event_bus_name: Some("elsewhere".into()),
        ..entry("{}")
    };
    let default_bus = PutEventsRequestEntry {
        event_bus_name: None,
        ..entry("{}")
    };
    let bad_time = PutEventsRequestEntry {
        time: Some(EventTime::Text("yesterday".into())),
        ..entry("{}")
    };
    let entries = [
        entry(r#"{"ok": true}"#),
        no_source,
        empty_type,
        no_detail,
        entry("not json at all"),
        entry("[1, 2, 3]"),
        other_bus,
        default_bus,
        bad_time,
        entry(r#"{"ok": "again"}"#),
    ];
    let response = bus.put_events(&entries).unwrap();
    bus.shutdown();

    let codes: Vec<(Option<&str>, Option<&str>)> = response
        .entries
        .iter()
        .map(|e| (e.error_code.as_deref(), e.error_message.as_deref()))
        .collect();
    assert_eq!(
        codes,
        [
            (None, None),
            (
                Some("InvalidArgument"),
                Some("Parameter Source is not valid. Reason: Source is a required argument.")
            ),
            (
                Some("InvalidArgument"),
                Some(
                    "Parameter DetailType is not valid. Reason: DetailType is a required argument."
                )
            ),
            (
                Some("InvalidArgument"),
                Some("Parameter Detail is not valid. Reason: Detail is a required argument.")
            ),
            (Some("MalformedDetail"), Some("Detail is malformed.")),
            (Some("MalformedDetail"), Some("Detail is malformed.")),
            (
                Some("ResourceNotFoundException"),
                Some("Event bus elsewhere does not exist.")
            ),
            (
                Some("ResourceNotFoundException"),
                Some("Event bus default does not exist.")
            ),
            (
                Some("InvalidArgument"),
                Some(
                    "Parameter Time is not valid. Reason: Time must be epoch seconds or an RFC 3339 date-time."
                )
            ),
            (None, None),
        ]
    );
    assert_eq!(response.failed_entry_count, 8);
    assert!(response.entries[0].event_id.is_some() && response.entries[1].event_id.is_none());
    assert_eq!(
        rx.try_iter().count(),
        2,
        "only the two valid entries reached the target"
    );
}

#[test]
fn the_default_bus_takes_entries_without_a_bus_name() {
    let (bus, rx) = bus_with_sink("default");
    let e = PutEventsRequestEntry {
        event_bus_name: None,
        ..entry("{}")
    };
    assert_eq!(bus.put_events(&[e]).unwrap().failed_entry_count, 0);
    bus.shutdown();
    assert_eq!(rx.try_iter().count(), 1);
}

#[test]
fn request_level_limits_fail_the_whole_call() {
    let (bus, _rx) = bus_with_sink("tally");
    let eleven = vec![entry("{}"); 11];
    assert!(
        matches!(bus.put_events(&eleven), Err(PutEventsError::Validation(m)) if m.contains("10"))
    );
    assert!(matches!(
        bus.put_events(&[]),
        Err(PutEventsError::Validation(_))
    ));

    // 256 KiB in all: Source + DetailType + Detail bytes (+14 for Time).
    let overhead = "tally.collector".len() + "page view".len();
    let fits = format!(r#"{{"x": "{}"}}"#, "a".repeat(256 * 1024 - overhead - 9));
    assert_eq!(fits.len() + overhead, 256 * 1024);
    assert_eq!(
        bus.put_events(&[entry(&fits)]).unwrap().failed_entry_count,
        0
    );
    let too_big = format!(r#"{{"x": "{}"}}"#, "a".repeat(256 * 1024 - overhead - 8));
    assert_eq!(
        bus.put_events(&[entry(&too_big)]),
        Err(PutEventsError::Validation(
            "Total size of the entries in the request is over the limit.".into()
        ))
    );
    bus.shutdown();
    assert_eq!(
        bus.put_events(&[entry("{}")]),
        Err(PutEventsError::ShutDown)
    );
}

#[test]
fn api_shapes_use_pascal_case() {
    let request: PutEventsRequest = serde_json::from_value(json!({
        "Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}", "Resources": [],
                     "Time": 1447277394, "EventBusName": "tally"}]
    }))
    .unwrap();
    assert_eq!(
        request.entries[0].time,
        Some(EventTime::EpochSeconds(1_447_277_394.0))
    );
    let (bus, _rx) = bus_with_sink("tally");
    let response = bus.put_events(&request.entries).unwrap();
    bus.shutdown();
    let out = serde_json::to_value(&response).unwrap();
    assert_eq!(out["FailedEntryCount"], 0);
    assert!(out["Entries"][0]["EventId"].is_string());
    assert!(out["Entries"][0].get("ErrorCode").is_none());
    let back: PutEventsResponse = serde_json::from_value(out).unwrap();
    assert_eq!(back, response);
}
