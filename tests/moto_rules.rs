//! Differential test: every matcher vector (bus/tests/vectors) routed through moto's EventBridge.
//!
//! Each vector gets its own bus, rule and SQS target queue in moto; the vector's event is put with
//! PutEvents and the queue says whether moto's rule matched. The expected answer is AWS's
//! documented one (the vector's `matches`), which the local matcher must give. Where moto departs
//! from the documentation, the vector is listed in `MOTO_DEPARTS` below: the test fails if that list
//! is wrong in either direction, so a moto upgrade that fixes one shows up.
//!
//! PutEvents only sets `source`, `detail-type`, `detail`, `resources` and `time`; vectors are
//! moved into that shape by nesting their other top-level fields under `detail`, in the pattern
//! and in the event alike (nesting does not change matching). Vectors that cannot be expressed that
//! way (patterns on `account`, `id` or `version`, which EventBridge sets; events without
//! a string source) are skipped and counted; the count is asserted so the skip list cannot
//! silently grow. Each event is put in its own region, so patterns on `region` are checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tally_bus::Pattern;

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    pattern: Value,
    event: Value,
    matches: bool,
}

/// Vectors on which moto 5.2.5 departs from AWS's documentation (name: what moto does).
const MOTO_DEPARTS: &[(&str, &str)] = &[
    (
        "doc complex example with anything-but and numeric",
        "pattern on time does not match",
    ),
    (
        "doc prefix on time matches",
        "prefix on time does not match the rendered time",
    ),
    (
        "exists false matches an empty array",
        "treats an empty array as present",
    ),
    (
        "exists true does not match an empty array",
        "treats an empty array as present",
    ),
    (
        "ruler array of objects matches one element",
        "does not descend into arrays of objects",
    ),
    (
        "ruler fields from the same array element match",
        "does not descend into arrays of objects",
    ),
    (
        "ruler nested arrays of objects",
        "does not descend into arrays of objects",
    ),
];

/// How many vectors cannot be put through PutEvents (see the module docs).
const EXPECTED_SKIPPED: usize = 7;

const PUT_EVENTS_FIELDS: [&str; 5] = ["source", "detail-type", "detail", "resources", "time"];
const SET_BY_EVENTBRIDGE: [&str; 3] = ["version", "id", "account"];

fn vectors() -> Vec<Vector> {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("bus/tests/vectors");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .filter(|p| p.file_stem().unwrap() != "invalid")
        .flat_map(|p| serde_json::from_str::<Vec<Vector>>(&fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// The pattern with its custom top-level fields nested under `detail`, or why it cannot be.
fn lift_pattern(pattern: &Value) -> Result<Value, String> {
    let obj = pattern.as_object().ok_or("pattern is not an object")?;
    let mut out = Map::new();
    let mut detail = obj
        .get("detail")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in obj {
        if SET_BY_EVENTBRIDGE.contains(&k.as_str()) {
            return Err(format!("pattern uses {k:?}, which EventBridge sets"));
        }
        if k == "detail" && !v.is_object() {
            return Err("pattern on detail itself".into());
        }
        if PUT_EVENTS_FIELDS.contains(&k.as_str()) || k == "region" {
            if k != "detail" {
                out.insert(k.clone(), v.clone());
            }
            continue;
        }
        if k == "$or" {
            let branches = v.as_array().ok_or("$or is not an array")?;
            let all_custom = branches.iter().all(|b| {
                b.as_object()
                    .is_some_and(|b| b.keys().all(|k| !PUT_EVENTS_FIELDS.contains(&k.as_str())))
            });
            if !all_custom {
                return Err("top-level $or mixes envelope and custom fields".into());
            }
        }
        if detail.insert(k.clone(), v.clone()).is_some() {
            return Err(format!("{k:?} is both top-level and in detail"));
        }
    }
    if !detail.is_empty() || obj.contains_key("detail") {
        out.insert("detail".into(), Value::Object(detail));
    }
    Ok(Value::Object(out))
}

/// The event as PutEvents fields (source, detail-type, detail, resources, time) and the envelope
/// it becomes, or why it cannot be put.
fn lift_event(event: &Value, pattern: &Value) -> Result<(Value, Value), String> {
    let obj = event.as_object().ok_or("event is not an object")?;
    let mut detail = match obj.get("detail") {
        Some(Value::Object(d)) => d.clone(),
        Some(_) => return Err("event detail is not an object".into()),
        None => Map::new(),
    };
    for (k, v) in obj {
        if PUT_EVENTS_FIELDS.contains(&k.as_str())
            || SET_BY_EVENTBRIDGE.contains(&k.as_str())
            || k == "region"
            || k == "time"
        {
            continue;
        }
        if detail.insert(k.clone(), v.clone()).is_some() {
            return Err(format!("{k:?} is both top-level and in detail"));
        }
    }
    let refers = |k: &str| pattern.get(k).is_some();
    let source = match obj.get("source") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("source is not a string".into()),
        None if refers("source") => return Err("pattern tests source, event has none".into()),
        None => "tally.vector".into(),
    };
    let detail_type = match obj.get("detail-type") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("detail-type is not a string".into()),
        None if refers("detail-type") => {
            return Err("pattern tests detail-type, event has none".into());
        }
        None => "Vector".into(),
    };
    let resources = match obj.get("resources") {
        Some(Value::Array(r)) if r.iter().all(Value::is_string) => r.clone(),
        Some(_) => return Err("resources is not an array of strings".into()),
        None if refers("resources") => return Err("pattern tests resources, event has none".into()),
        None => vec![],
    };
    // The event is put in its own region, so that patterns on `region` see it.
    let region = match obj.get("region") {
        Some(Value::String(r)) if is_region(r) => r.clone(),
        Some(_) => return Err("region is not an AWS region name".into()),
        None if refers("region") => return Err("pattern tests region, event has none".into()),
        None => "us-east-1".into(),
    };
    let time = match obj.get("time") {
        Some(Value::String(t)) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| "time is not RFC 3339".to_owned())?
                .timestamp(),
        ),
        Some(_) => return Err("time is not a string".into()),
        None if refers("time") => return Err("pattern tests time, event has none".into()),
        None => None,
    };
    let put = json!({
        "source": source, "detail-type": detail_type, "resources": resources, "detail": detail,
        "region": region, "time": time,
    });
    let envelope = json!({
        "version": "0", "id": "00000000-0000-4000-8000-000000000000", "detail-type": detail_type,
        "source": source, "account": "123456789012", "time": obj.get("time").cloned().unwrap_or_else(|| "2026-11-29T00:00:00Z".into()),
        "region": region, "resources": resources, "detail": detail,
    });
    Ok((put, envelope))
}

/// `eu-west-1` and the like: moto serves only real region names.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matcher_vectors_agree_with_moto_except_where_moto_departs_from_the_docs() {
    let mut clients = std::collections::HashMap::new();

    let mut skipped = Vec::new();
    let mut departs = Vec::new();
    let mut checked = 0;
    for (i, v) in vectors().iter().enumerate() {
        let lifted =
            lift_pattern(&v.pattern).and_then(|p| lift_event(&v.event, &p).map(|e| (p, e)));
        let (pattern, (put, envelope)) = match lifted {
            Ok(x) => x,
            Err(why) => {
                skipped.push(format!("{}: {why}", v.name));
                continue;
            }
        };
        // Lifting must not change the documented answer, as the local matcher sees it.
        let local = Pattern::from_value(&pattern).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            local.matches(&envelope),
            v.matches,
            "lifting changed vector {:?}",
            v.name
        );

        let region = put["region"].as_str().unwrap().to_owned();
        if !clients.contains_key(&region) {
            let config = support::moto_config_in(&region).await;
            clients.insert(
                region.clone(),
                (
                    aws_sdk_eventbridge::Client::new(&config),
                    aws_sdk_sqs::Client::new(&config),
                ),
            );
        }
        let (events, sqs) = &clients[&region];
        let bus = support::unique(&format!("v{i}"));
        events.create_event_bus().name(&bus).send().await.unwrap();
        let queue_url = support::rule_to_queue(events, sqs, &bus, "r", &pattern, &bus).await;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source(put["source"].as_str().unwrap())
            .detail_type(put["detail-type"].as_str().unwrap())
            .detail(put["detail"].to_string())
            .set_resources(Some(
                put["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
            ))
            .set_time(
                put["time"]
                    .as_i64()
                    .map(aws_smithy_types::DateTime::from_secs),
            )
            .build();
        let out = events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(out.failed_entry_count, 0, "{}: {out:?}", v.name);
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let moto_matches = !received.messages().is_empty();
        checked += 1;
        if moto_matches != v.matches {
            departs.push(v.name.clone());
        }
    }

    let mut expected: Vec<&str> = MOTO_DEPARTS.iter().map(|(n, _)| *n).collect();
    expected.sort_unstable();
    departs.sort();
    assert_eq!(
        departs, expected,
        "vectors where moto departs from the docs changed"
    );
    assert_eq!(
        skipped.len(),
        EXPECTED_SKIPPED,
        "skipped vectors changed:\n{}",
        skipped.join("\n")
    );
    assert!(checked >= 100, "only {checked} vectors went through moto");
}
