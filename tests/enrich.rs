//! `state-machines/enrich.asl.json`: locally in tally-states, and the same definition in moto's
//! Step Functions, with our rule patterns (bus/rules) routing the results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tally::local::PutEventsTask;
use tally_bus::Pattern;
use tally_schema::validate::PageViewValidator;
use tally_states::{
    Definition, ExecutionContext, ExecutionResult, RecordingSleeper, TaskContext, TaskError,
    TaskHandler,
};

fn root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .to_path_buf()
}

fn definition_text() -> String {
    fs::read_to_string(root().join("state-machines/enrich.asl.json")).unwrap()
}

/// The inputs: the state machine's own fixtures, and what the edge sends for each of its
/// CloudFront fixtures that is a page view (`edge-<variant>`).
fn fixtures() -> Vec<(String, Value)> {
    let mut out = enrich_fixtures();
    out.extend(edge_fixtures());
    out
}

fn edge_fixtures() -> Vec<(String, Value)> {
    let dir = root().join("producers/edge/fixtures");
    let mut config = tally_edge::EdgeConfig::new("www.example.com");
    config.site_aliases = vec!["example.com".into()];
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 6, 40, 19).unwrap();
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let event = tally_edge::parse_event(&fs::read_to_string(&path).unwrap()).unwrap();
        if let tally_edge::Decision::PageView(view) =
            tally_edge::decide(event.record().unwrap(), &config, now)
        {
            let name = path
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .replace("example-cloudfront-origin-request-", "edge-");
            out.push((name, serde_json::to_value(&view).unwrap()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 8,
        "the edge fixtures hold fewer page views than expected"
    );
    out
}

fn enrich_fixtures() -> Vec<(String, Value)> {
    let dir = root().join("state-machines/fixtures");
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .replace("example-enrich-input-", "");
            (
                name,
                serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 5);
    out
}

fn rule_patterns() -> Vec<(String, Value)> {
    let dir = root().join("bus/rules");
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_owned();
            (
                name,
                serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn context(name: &str) -> ExecutionContext {
    ExecutionContext {
        name: name.into(),
        execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:enrich:{name}"),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:enrich".into(),
        state_machine_name: "enrich".into(),
        start_time: Utc.with_ymd_and_hms(2026, 11, 29, 6, 40, 19).unwrap()
            + chrono::Duration::milliseconds(180),
    }
}

/// An event as the bus sees it, reduced to what both runs must agree on: no ids, no times.
fn comparable(source: &str, detail_type: &str, detail: &Value) -> Value {
    let mut detail = detail.clone();
    if let Some(d) = detail.as_object_mut() {
        d.remove("received_at");
        d.remove("execution_id");
    }
    json!({"source": source, "detail-type": detail_type, "detail": detail})
}

/// Runs the definition locally on a local bus, through the real putEvents integration; with
/// `fail`, PageView puts fail with that error instead. Returns the result, the envelopes put on
/// the bus, and the retry delays.
fn run_locally(
    input: &Value,
    name: &str,
    fail: Option<&str>,
) -> (ExecutionResult, Vec<Value>, Vec<Duration>) {
    let subst = BTreeMap::from([("EventBusName".to_owned(), "tally".to_owned())]);
    let def = Definition::load(&definition_text(), &subst, &PutEventsTask::handles).unwrap();
    let (bus, put) = tally::local::recording_bus().unwrap();
    let real = PutEventsTask::new(&bus);
    let handler =
        |resource: &str, params: Value, ctx: &TaskContext<'_>| -> Result<Value, TaskError> {
            if let Some(error) = fail.filter(|_| params["Entries"][0]["DetailType"] == "PageView") {
                return Err(TaskError::new(error, "{\"FailedEntryCount\":1}"));
            }
            real.call(resource, params, ctx)
        };
    let sleeper = RecordingSleeper::new(Utc::now());
    let result = def.execute(input.clone(), &context(name), &handler, &sleeper);
    bus.shutdown();
    let events = put.lock().unwrap().clone();
    (result, events, sleeper.delays())
}

#[test]
fn the_definition_writes_the_schema_version_the_types_have() {
    let def: Value = serde_json::from_str(&definition_text()).unwrap();
    let written = &def["States"]["Complete"]["Parameters"]["completion"]["schema_version"];
    assert_eq!(
        written,
        &json!(tally_schema::page_view::VERSION.to_string())
    );
}

#[test]
fn every_complete_input_becomes_one_valid_page_view() {
    let validator = PageViewValidator::new().unwrap();
    for (name, input) in fixtures().into_iter().filter(|(n, _)| n != "incomplete") {
        let (result, events, _) = run_locally(&input, &name, None);
        assert_eq!(
            result.output(),
            Some(&json!({"event_id": input["event_id"]})),
            "{name}"
        );
        assert_eq!(events.len(), 1, "{name}");
        assert_eq!(
            validator.validate(&events[0]),
            vec![],
            "{name}: the whole event validates"
        );
        assert_eq!(events[0]["detail-type"], "PageView");
        assert_eq!(events[0]["source"], "tally");
        let resources = events[0]["resources"].as_array().unwrap();
        assert_eq!(resources[1], json!(context(&name).execution_arn), "{name}");
        let mut detail = events[0]["detail"].clone();
        assert_eq!(
            detail["received_at"], "2026-11-29T06:40:19.180Z",
            "from $$.Execution.StartTime"
        );
        // The detail is the input plus the completion, nothing else.
        detail["received_at"] = json!("2026-11-29T06:40:19.180Z");
        let mut expected = input.clone();
        expected["schema_version"] = json!("1-0-0");
        expected["received_at"] = json!("2026-11-29T06:40:19.180Z");
        assert_eq!(detail, expected, "{name}");
        assert_eq!(validator.validate(&detail), vec![], "{name}");
    }
}

#[test]
fn incomplete_input_is_dead_lettered_with_the_original_input() {
    let (_, input) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "incomplete")
        .unwrap();
    let (result, events, _) = run_locally(&input, "incomplete", None);
    assert_eq!(
        result.error(),
        Some((
            "Tally.DeadLettered",
            "the page view was put on the bus as PageView.Failed"
        ))
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail-type"], "PageView.Failed");
    assert_eq!(events[0]["detail"]["error"], "Tally.IncompleteInput");
    assert_eq!(events[0]["detail"]["input"], input);
}

#[test]
fn failed_puts_are_retried_with_backoff_then_dead_lettered() {
    let (_, input) = fixtures().into_iter().find(|(n, _)| n == "full").unwrap();
    let (result, events, delays) = run_locally(&input, "full", Some("EventBridge.FailedEntry"));
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4, 8], "4 retries from 1 s, doubling");
    assert_eq!(result.error().map(|(e, _)| e), Some("Tally.DeadLettered"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail-type"], "PageView.Failed");
    assert_eq!(events[0]["detail"]["error"], "EventBridge.FailedEntry");
    assert_eq!(events[0]["detail"]["input"], input, "nothing disappears");

    // An error outside the retry list is dead-lettered at once.
    let (_, events, delays) =
        run_locally(&input, "full", Some("EventBridge.AccessDeniedException"));
    assert!(delays.is_empty());
    assert_eq!(
        events[0]["detail"]["error"],
        "EventBridge.AccessDeniedException"
    );
}

/// The bus refuses both puts (it is shut down): the view ends in the last-resort queue, with
/// the error of each put and the original input.
#[test]
fn a_bus_that_refuses_the_dead_letter_too_leaves_the_view_in_the_last_resort_queue() {
    let (_, input) = fixtures().into_iter().find(|(n, _)| n == "full").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = tally::local::DataDir::new(dir.path());
    let queue = tally::local::LocalQueue::open(
        tally::local::last_resort_queue("tally"),
        &data.last_resort(),
    )
    .unwrap();
    let subst = BTreeMap::from([("EventBusName".to_owned(), "tally".to_owned())]);
    let def = Definition::load(&definition_text(), &subst, &PutEventsTask::handles).unwrap();
    let (bus, put) = tally::local::recording_bus().unwrap();
    bus.shutdown();
    let handler = PutEventsTask::new(&bus).last_resort(&queue);
    let sleeper = RecordingSleeper::new(Utc::now());
    let result = def.execute(input.clone(), &context("refused"), &handler, &sleeper);

    assert_eq!(result.error().map(|(e, _)| e), Some("Tally.LastResort"));
    assert!(put.lock().unwrap().is_empty());
    assert_eq!(sleeper.delays().len(), 8, "both puts retried 4 times");
    let kept = tally::local::read_queue(&data.last_resort()).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let body = &kept[0].body;
    assert_eq!(body["error"], "EventBridge.AmazonEventBridgeException");
    assert_eq!(
        body["dead_letter_error"],
        "EventBridge.AmazonEventBridgeException"
    );
    assert!(
        body["cause"].as_str().unwrap().contains("shut down"),
        "{body}"
    );
    assert_eq!(
        body["execution_id"],
        json!(context("refused").execution_arn)
    );
    assert_eq!(body["input"], input, "nothing disappears");
}

/// In moto, the same path: a bus that does not exist refuses both puts, and the view is in the
/// `BUS-last-resort` queue the definition builds the URL of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_sends_the_view_to_the_last_resort_queue_when_the_bus_refuses_both_puts() {
    let config = support::moto_config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = support::unique("no-such-bus");
    let url = sqs
        .create_queue()
        .queue_name(tally::local::last_resort_queue(&bus))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let machine = support::create_enrich_machine(&sfn, &bus, &bus).await;
    let (_, input) = fixtures().into_iter().find(|(n, _)| n == "full").unwrap();
    sfn.start_execution()
        .state_machine_arn(&machine)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for _ in 0..100 {
        let r = sqs.receive_message().queue_url(&url).send().await.unwrap();
        bodies.extend(r.messages().iter().map(|m| m.body().unwrap().to_owned()));
        if !bodies.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bodies.len(), 1, "nothing in the last-resort queue");
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(body["input"], input);
    assert!(body["cause"].as_str().unwrap().contains(&bus), "{body}");
    assert!(body["dead_letter_cause"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_runs_the_definition_to_the_same_events_and_our_rules_route_them_as_the_local_matcher()
{
    let config = support::moto_config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);

    let bus = support::unique("enrich");
    events.create_event_bus().name(&bus).send().await.unwrap();
    // One queue per rule: a catch-all for everything Tally puts, and each shipped pattern.
    let mut rules = vec![("all".to_owned(), json!({"source": ["tally"]}))];
    rules.extend(rule_patterns());
    let mut queues = BTreeMap::new();
    for (i, (name, pattern)) in rules.iter().enumerate() {
        let queue = format!("{bus}-{i}");
        let url =
            support::rule_to_queue(&events, &sqs, &bus, &format!("r{i}"), pattern, &queue).await;
        queues.insert(name.clone(), url);
    }

    let machine = support::create_enrich_machine(&sfn, &bus, &bus).await;

    let mut local_events = Vec::new();
    for (name, input) in fixtures() {
        let started = sfn
            .start_execution()
            .state_machine_arn(&machine)
            .name(&name)
            .input(input.to_string())
            .send()
            .await
            .unwrap();
        let mut status = aws_sdk_sfn::types::ExecutionStatus::Running;
        for _ in 0..200 {
            let d = sfn
                .describe_execution()
                .execution_arn(&started.execution_arn)
                .send()
                .await
                .unwrap();
            status = d.status;
            if status != aws_sdk_sfn::types::ExecutionStatus::Running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (local, put, _) = run_locally(&input, &name, None);
        let expected = if local.error().is_some() {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        assert_eq!(
            status.as_str(),
            expected,
            "{name}: moto and local end differently"
        );
        local_events.extend(put.iter().map(|e| {
            comparable(
                e["source"].as_str().unwrap(),
                e["detail-type"].as_str().unwrap(),
                &e["detail"],
            )
        }));
    }

    let received = |url: String| {
        let sqs = sqs.clone();
        async move {
            let mut out = Vec::new();
            loop {
                let r = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .unwrap();
                if r.messages().is_empty() {
                    break;
                }
                for m in r.messages() {
                    out.push(serde_json::from_str::<Value>(m.body().unwrap()).unwrap());
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
            out
        }
    };
    let all = received(queues["all"].clone()).await;
    let validator = PageViewValidator::new().unwrap();
    for e in all.iter().filter(|e| e["detail-type"] == "PageView") {
        // The detail is ours; the envelope is moto's, which leaves out `account`.
        assert_eq!(
            validator.validate(&e["detail"]),
            vec![],
            "moto put an invalid page view: {e}"
        );
        let resources = e["resources"].as_array().unwrap();
        assert!(
            resources
                .iter()
                .any(|r| r.as_str().unwrap().contains(":execution:")),
            "{e}"
        );
    }
    let canon = |evs: &[Value]| -> BTreeSet<String> { evs.iter().map(|e| e.to_string()).collect() };
    let moto_put: Vec<Value> = all
        .iter()
        .map(|e| {
            comparable(
                e["source"].as_str().unwrap(),
                e["detail-type"].as_str().unwrap(),
                &e["detail"],
            )
        })
        .collect();
    assert_eq!(
        canon(&moto_put),
        canon(&local_events),
        "moto and the local runner put different events"
    );
    assert_eq!(moto_put.len(), fixtures().len());

    // Every shipped pattern delivers in moto exactly what the local matcher selects.
    for (name, pattern) in rule_patterns() {
        let local = Pattern::from_value(&pattern).unwrap();
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|e| local.matches(e))
            .map(|e| e["id"].to_string())
            .collect();
        let got: BTreeSet<String> = received(queues[&name].clone())
            .await
            .iter()
            .map(|e| e["id"].to_string())
            .collect();
        assert_eq!(got, expected, "rule {name}");
        assert!(
            !expected.is_empty(),
            "rule {name} matches none of the fixtures: add one it matches"
        );
    }
}
