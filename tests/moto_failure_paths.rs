//! Issue 19's "done when": the pipeline's failure wiring, created in moto from the rendered
//! template (`failure_wiring`), a failure injected at each hop moto can reach, and each found in
//! its dead-letter place with its reason by `tally failed list --aws`, then put back by
//! `tally failed redrive --aws` where it can now succeed, and counted once.
//!
//! | hop | failure injected | dead-letter place |
//! | --- | --- | --- |
//! | enrichment | an input that is no page view (the state machine runs in moto) | `FailedEventsQueue`, through the bus and the failures' rule |
//! | bus | the bus refuses both puts (it is gone) | `{prefix}-last-resort` |
//! | counters consumer | its DynamoDB writes fail (no table): it throws for the whole batch | `CountersDeadLetterQueue`, by the queue's redrive policy |
//! | counters consumer | a poison message (a `PageView` it can never count) | `CountersDeadLetterQueue` |
//! | a rule's target | EventBridge cannot deliver | the rule's dead-letter queue |
//!
//! Where moto stands in only in part, and what this test does instead (nothing here calls AWS):
//! - moto runs a Lambda function only in Docker, so the counters' event source mapping is played
//!   by [`poll`]: receive what is visible, call the Lambda's handler (`dynamo::handle`), delete
//!   what it does not name. Messages are received with a one-second visibility timeout instead
//!   of the queue's 185 s, so five receives take seconds.
//! - moto's EventBridge never writes to a target's dead-letter queue (it drops what it cannot
//!   deliver, and delivers only to SQS, CloudWatch Logs and buses): the dead letter is written as
//!   EventBridge documents it (the event, with `RULE_ARN`, `TARGET_ARN`, `ERROR_CODE` and
//!   `ERROR_MESSAGE`). No API is missing that our code calls, so the SDK's replay client is not
//!   needed here.
//! - moto does not evaluate CloudWatch alarms: which alarm fires for which place is the
//!   template's (`tests/deploy_templates.rs`, and the table in deploy/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod failure_wiring;
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use tally_counters::Applied;
use tally_counters::dynamo::{DynamoCounters, handle};
use tally_deploy::Options;

/// One poll of the counters' queue as the event source mapping makes it: the messages visible
/// now (each hidden a second), one batch to the handler, the ones it does not name deleted.
/// Returns how many events it counted and how many messages it named.
async fn poll(sqs: &aws_sdk_sqs::Client, url: &str, store: &DynamoCounters) -> (usize, usize) {
    let mut messages = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(1)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        messages.extend(got.messages.unwrap_or_default());
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body}))
        .collect();
    let handled = handle(
        store,
        serde_json::from_value(json!({"Records": records})).unwrap(),
    )
    .await;
    let failed: Vec<&str> = handled
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for m in &messages {
        if !failed.contains(&m.message_id().unwrap_or_default()) {
            let receipt = m.receipt_handle.clone();
            sqs.delete_message()
                .queue_url(url)
                .set_receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        }
    }
    let counted = handled
        .outcomes
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Applied::Counted { .. })))
        .count();
    (counted, failed.len())
}

/// The number of messages in the queue at `url`, waiting up to five seconds for `at_least`
/// (Express executions and moto's deliveries are asynchronous).
async fn wait_for(sqs: &aws_sdk_sqs::Client, url: &str, at_least: u64) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages as N;
    let mut n = 0;
    for _ in 0..50 {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(N)
            .send()
            .await;
        n = attrs.unwrap().attributes.unwrap()[&N].parse().unwrap();
        if n >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    n
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join(format!(
        "state-machines/fixtures/example-enrich-input-{name}.json"
    ));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn view(event_id: &str) -> Value {
    let mut view = fixture("full");
    view["event_id"] = json!(event_id);
    view
}

async fn start(sfn: &aws_sdk_sfn::Client, machine: &str, input: &Value) {
    // moto names an unnamed execution "None": each start gets its own name.
    sfn.start_execution()
        .state_machine_arn(machine)
        .name(support::unique("run"))
        .input(input.to_string())
        .send()
        .await
        .unwrap();
}

/// A page view put on the bus as the enrichment puts it.
async fn put(events: &aws_sdk_eventbridge::Client, bus: &str, detail: &Value) {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source("tally")
        .detail_type("PageView")
        .detail(detail.to_string())
        .build();
    let out = events.put_events().entries(entry).send().await.unwrap();
    assert_eq!(out.failed_entry_count, 0);
}

/// What EventBridge writes to a rule target's dead-letter queue when it cannot deliver.
async fn dead_letter(sqs: &aws_sdk_sqs::Client, url: &str, bus: &str, event: &Value) {
    let rule = format!("arn:aws:events:us-east-1:123456789012:rule/{bus}/counters-page-views");
    let target = "arn:aws:sqs:us-east-1:123456789012:counters";
    let why = ("SDK_CLIENT_ERROR", "the queue's policy refused the send");
    support::send_rule_dead_letter(sqs, url, event, (&rule, target), why).await;
}

/// What the test works with.
struct Stage {
    sqs: aws_sdk_sqs::Client,
    sfn: aws_sdk_sfn::Client,
    events: aws_sdk_eventbridge::Client,
    template: Value,
    wiring: failure_wiring::Wiring,
    /// The counters' store over their table.
    store: DynamoCounters,
    /// A store whose every write fails (its table does not exist).
    broken: DynamoCounters,
}

async fn stage() -> Stage {
    let config = support::moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let template =
        tally_deploy::render(&tally::cmd::deploy::sources().unwrap(), &Options::default())
            .unwrap()
            .pipeline;
    let prefix = support::unique("tally");
    let wiring = failure_wiring::create(&config, &prefix, &template).await;
    let store = DynamoCounters::new(dynamo.clone(), format!("{prefix}-counters"));
    store.create_table().await.unwrap();
    Stage {
        sqs: aws_sdk_sqs::Client::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
        events: aws_sdk_eventbridge::Client::new(&config),
        template,
        wiring,
        store,
        broken: DynamoCounters::new(dynamo, format!("{prefix}-no-such-table")),
    }
}

/// One failure at each hop.
async fn inject(s: &Stage) {
    let Stage {
        sqs,
        sfn,
        events,
        template,
        wiring,
        broken,
        ..
    } = s;
    let prefix = &wiring.prefix;
    let counters_queue = wiring.url("CountersQueue");
    // The enrichment refuses an input that is no page view: PageView.Failed, on the bus, to the
    // failures' rule's queue.
    start(sfn, &wiring.machine, &fixture("incomplete")).await;
    assert_eq!(wait_for(sqs, wiring.url("FailedEventsQueue"), 1).await, 1);
    // The bus refuses both the view and its dead letter: the last resort.
    failure_wiring::delete_bus_and_rules(events, wiring, template).await;
    start(sfn, &wiring.machine, &view("view-refused")).await;
    assert_eq!(
        wait_for(sqs, wiring.url("EnrichLastResortQueue"), 1).await,
        1
    );
    failure_wiring::create_bus_and_rules(events, wiring, template).await;
    // A view the counters' function throws on (its writes fail), and a poison message.
    start(sfn, &wiring.machine, &view("view-thrown")).await;
    put(
        events,
        prefix,
        &json!({"event_id": "view-poison", "schema_version": "1-0-0"}),
    )
    .await;
    assert_eq!(wait_for(sqs, counters_queue, 2).await, 2);
    for _ in 0..5 {
        assert_eq!(
            poll(sqs, counters_queue, broken).await,
            (0, 2),
            "both named, both back"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(
        poll(sqs, counters_queue, broken).await,
        (0, 0),
        "received five times: moved"
    );
    // EventBridge could not deliver a view to the counters' queue.
    let mut undelivered = json!({"version": "0", "id": "e-1", "source": "tally",
        "detail-type": "PageView", "account": "123456789012", "time": "2026-11-28T21:03:57Z",
        "region": "us-east-1", "resources": [], "detail": view("view-undelivered")});
    undelivered["detail"]["schema_version"] = json!("1-0-0");
    dead_letter(
        sqs,
        wiring.url("CountersPageViewsDeadLetterQueue"),
        prefix,
        &undelivered,
    )
    .await;
}

/// Each failure is in its place, with its reason.
async fn assert_each_in_its_place(s: &Stage) {
    let (sqs, wiring, prefix) = (&s.sqs, &s.wiring, &s.wiring.prefix);
    let listed = tally::aws_failed::list(sqs, prefix).await.unwrap();
    let place = |id: &str| {
        let url = wiring.url(id);
        let name = url.rsplit('/').next().unwrap();
        let mut reasons: Vec<(Option<String>, String)> = listed
            .iter()
            .filter(|m| m.queue == name)
            .map(|m| (m.event_id.clone(), m.reason.clone()))
            .collect();
        reasons.sort();
        reasons
    };
    let failed = place("FailedEventsQueue");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .1
            .starts_with("Tally.IncompleteInput: the input lacks one of"),
        "{failed:?}"
    );
    let last = place("EnrichLastResortQueue");
    assert_eq!(last.len(), 1, "{listed:#?}");
    assert_eq!(last[0].0.as_deref(), Some("view-refused"));
    assert!(
        last[0].1.contains(prefix.as_str()) && last[0].1.contains("then the dead letter"),
        "{last:?}"
    );
    let counters = place("CountersDeadLetterQueue");
    assert_eq!(counters.len(), 2, "{listed:#?}");
    assert_eq!(counters[0].0.as_deref(), Some("view-poison"));
    assert!(
        counters[0]
            .1
            .ends_with("not a countable page view: detail: missing field `site`"),
        "{counters:?}"
    );
    assert_eq!(counters[1].0.as_deref(), Some("view-thrown"));
    assert!(
        counters[1]
            .1
            .contains("a countable page view whose writes failed"),
        "{counters:?}"
    );
    let rule = place("CountersPageViewsDeadLetterQueue");
    assert_eq!(
        rule,
        [(
            Some("view-undelivered".into()),
            "SDK_CLIENT_ERROR: the queue's policy refused the send".into()
        )]
    );
    assert_eq!(
        listed.len(),
        5,
        "nothing else, the work queue not read: {listed:#?}"
    );
}

/// Put back where it can now succeed, the rest kept with why; counted once each.
async fn redrive_and_count(s: &Stage) {
    let (sqs, sfn, events, prefix) = (&s.sqs, &s.sfn, &s.events, &s.wiring.prefix);
    let (store, counters_queue) = (&s.store, s.wiring.url("CountersQueue"));
    let clients = tally::aws_redrive::Clients {
        sqs: sqs.clone(),
        sfn: sfn.clone(),
        events: events.clone(),
    };
    let report = tally::aws_redrive::redrive(&clients, prefix).await.unwrap();
    assert_eq!(
        (report.started, report.sent_back, report.re_put),
        (1, 1, 1),
        "{report:#?}"
    );
    let mut kept: Vec<&str> = report
        .kept
        .iter()
        .map(|k| k.why.split(':').next().unwrap())
        .collect();
    kept.sort_unstable();
    assert_eq!(
        kept,
        ["Tally.IncompleteInput", "not a countable page view"],
        "{report:#?}"
    );
    // The three views reach the counters' queue again, and are counted once each.
    assert_eq!(wait_for(sqs, counters_queue, 3).await, 3);
    assert_eq!(poll(sqs, counters_queue, store).await, (3, 0));
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let views = store
        .top(
            "blog.example.org",
            day,
            day,
            tally_counters::Dimension::Views,
            1,
        )
        .await
        .unwrap();
    assert_eq!(views[0].count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_ends_in_its_dead_letter_place_with_its_reason_and_goes_back_from_there() {
    let s = stage().await;
    inject(&s).await;
    assert_each_in_its_place(&s).await;
    redrive_and_count(&s).await;
}
