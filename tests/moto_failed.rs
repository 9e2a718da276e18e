//! `tally failed list --aws` and `tally failed redrive --aws` against moto (SQS, Step Functions
//! and EventBridge in server mode): every failure queue named after the stack prefix is read,
//! each message with its reason and event id, and nothing is taken away by listing; a work
//! queue is not a failure place; redrive puts each message back the way it came and keeps,
//! with why, what cannot succeed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_sqs::Client as Sqs;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use tally::aws_failed::list;

async fn queue(sqs: &Sqs, name: String) -> String {
    let made = sqs.create_queue().queue_name(name).send().await.unwrap();
    made.queue_url.unwrap()
}

/// The counters' work queue and its dead-letter queue, as the pipeline template makes them.
async fn counters_queues(sqs: &Sqs, prefix: &str) -> (String, String) {
    let dlq = queue(sqs, format!("{prefix}-CountersDeadLetterQueue-Q")).await;
    let policy =
        json!({"deadLetterTargetArn": support::queue_arn(sqs, &dlq).await, "maxReceiveCount": 5});
    let work = sqs
        .create_queue()
        .queue_name(format!("{prefix}-CountersQueue-W"))
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .unwrap();
    (work.queue_url.unwrap(), dlq)
}

async fn send(sqs: &Sqs, url: &str, body: &Value) {
    sqs.send_message()
        .queue_url(url)
        .message_body(body.to_string())
        .send()
        .await
        .unwrap();
}

/// A rule target's dead letter as EventBridge writes it: the event, and why in its attributes.
async fn send_dead_letter(sqs: &Sqs, url: &str, event: &Value, rule_arn: &str, why: (&str, &str)) {
    let target = "arn:aws:firehose:us-east-1:123456789012:deliverystream/x";
    support::send_rule_dead_letter(sqs, url, event, (rule_arn, target), why).await;
}

/// A page view as the bus delivers it.
fn page_view(event_id: &str, model: &str) -> Value {
    json!({"version": "0", "id": format!("env-{event_id}"), "source": "tally",
        "detail-type": "PageView", "account": "123456789012", "time": "2026-11-29T08:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"event_id": event_id, "schema_version": model, "site": "example.org",
            "path": "/", "occurred_at": "2026-11-29T08:00:00.000Z", "device": "desktop",
            "os": "linux", "browser": "firefox", "is_bot": false}})
}

async fn depth(sqs: &Sqs, url: &str) -> String {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    attrs.attributes.unwrap()[&QueueAttributeName::ApproximateNumberOfMessages].clone()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_failure_queue_of_the_stack_is_listed_with_its_reasons_and_left_in_place() {
    let rt = runtime();
    let config = rt.block_on(support::moto_config());
    let sqs = Sqs::new(&config);
    let prefix = support::unique("failed");
    let work = rt.block_on(async {
        let event = json!({"detail-type": "PageView", "detail": {"event_id": "view-dlq"}});
        let dlq = queue(&sqs, format!("{prefix}-ArchivePageViewsDeadLetterQueue-ABC123")).await;
        let rule = format!("arn:aws:events:us-east-1:123456789012:rule/{prefix}/archive-page-views");
        send_dead_letter(&sqs, &dlq, &event, &rule, ("SDK_CLIENT_ERROR", "the stream is gone")).await;
        // The failed-events queue: a PageView.Failed event with the enrichment's input.
        let failed = queue(&sqs, format!("{prefix}-FailedEventsQueue-XYZ")).await;
        let input = json!({"event_id": "view-failed", "path": "/"}).to_string();
        let event = json!({"detail-type": "PageView.Failed",
            "detail": {"error": "Tally.IncompleteInput", "cause": "the input lacks site", "input": input}});
        send(&sqs, &failed, &event).await;
        // The last resort: both errors.
        let last = queue(&sqs, format!("{prefix}-last-resort")).await;
        let input = json!({"event_id": "view-last"}).to_string();
        let body = json!({"error": "EventBridge.FailedEntry", "cause": "bus full",
            "dead_letter_error": "States.TaskFailed", "dead_letter_cause": "refused", "input": input});
        send(&sqs, &last, &body).await;
        // The counters' dead-letter queue: a message their queue's consumer could not apply.
        let (work, counters) = counters_queues(&sqs, &prefix).await;
        send(&sqs, &counters, &page_view("view-counters", "2-0-0")).await;
        // The work queue itself is no failure place: its messages are not listed.
        send(&sqs, &work, &page_view("view-pending", "1-0-0")).await;
        // Another stack's queue is not ours.
        let other = queue(&sqs, format!("other-{prefix}-dlq")).await;
        send(&sqs, &other, &json!({})).await;
        work
    });

    let mut listed = rt.block_on(list(&sqs, &prefix)).unwrap();
    listed.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let seen: Vec<(Option<&str>, &str)> = listed
        .iter()
        .map(|m| (m.event_id.as_deref(), m.reason.as_str()))
        .collect();
    let counters_reason = format!(
        "not applied in the receives {prefix}-CountersQueue-W's redrive policy allows: not a \
         countable page view: schema_version \"2-0-0\" is not of model 1"
    );
    assert_eq!(
        seen,
        [
            (Some("view-counters"), counters_reason.as_str()),
            (Some("view-dlq"), "SDK_CLIENT_ERROR: the stream is gone"),
            (
                Some("view-failed"),
                "Tally.IncompleteInput: the input lacks site"
            ),
            (
                Some("view-last"),
                "EventBridge.FailedEntry: bus full; then the dead letter: States.TaskFailed: refused"
            ),
        ]
    );
    assert!(listed.iter().all(|m| m.sent_at.is_some()), "{listed:?}");
    // Listing took nothing away: the same messages are there, visible, right after.
    let again = rt.block_on(list(&sqs, &prefix)).unwrap();
    assert_eq!(again.len(), 4, "{again:?}");
    assert_eq!(
        rt.block_on(depth(&sqs, &work)),
        "1",
        "the work queue was not read"
    );
}

/// The report's kept messages as `(event_id, why)`, sorted.
fn kept(report: &tally::aws_redrive::RedriveReport) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = report
        .kept
        .iter()
        .map(|k| (k.event_id.clone().unwrap_or_default(), k.why.clone()))
        .collect();
    kept.sort();
    kept
}

#[test]
fn redrive_puts_each_failure_back_the_way_it_came_and_keeps_what_cannot_succeed() {
    let rt = runtime();
    let config = rt.block_on(support::moto_config());
    let clients = tally::aws_redrive::Clients {
        sqs: Sqs::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
        events: aws_sdk_eventbridge::Client::new(&config),
    };
    let sqs = &clients.sqs;
    let prefix = support::unique("redrive");
    let rule = |name: &str| format!("arn:aws:events:us-east-1:123456789012:rule/{prefix}/{name}");
    let (failed, last, work, counters, dlq, replays, machine) = rt.block_on(async {
        let failed = queue(sqs, format!("{prefix}-FailedEventsQueue-XYZ")).await;
        let view = |id: &str| json!({"event_id": id, "site": "example.org", "path": "/"}).to_string();
        send(sqs, &failed, &json!({"detail-type": "PageView.Failed",
            "detail": {"error": "EventBridge.ThrottlingException", "cause": "slow down", "input": view("view-throttled")}})).await;
        send(sqs, &failed, &json!({"detail-type": "PageView.Failed",
            "detail": {"error": "Tally.IncompleteInput", "cause": "the input lacks path", "input": view("view-incomplete")}})).await;
        let last = queue(sqs, format!("{prefix}-last-resort")).await;
        send(sqs, &last, &json!({"error": "EventBridge.FailedEntry", "cause": "bus full",
            "dead_letter_error": "States.TaskFailed", "dead_letter_cause": "refused", "input": view("view-last")})).await;
        // The counters' dead letters: one whose writes failed (countable), one poison.
        let (work, counters) = counters_queues(sqs, &prefix).await;
        send(sqs, &counters, &page_view("view-conflict", "1-0-0")).await;
        send(sqs, &counters, &page_view("view-poison", "2-0-0")).await;
        // The counters' rule's dead letters: one EventBridge could not put on the counters'
        // queue, one of a rule no consumer declares; and a log producer's rejection.
        let dlq = queue(sqs, format!("{prefix}-CountersPageViewsDeadLetterQueue-A")).await;
        let why = ("SDK_CLIENT_ERROR", "the queue refused it");
        send_dead_letter(sqs, &dlq, &page_view("view-rule", "1-0-0"), &rule("counters-page-views"), why).await;
        send_dead_letter(sqs, &dlq, &page_view("view-unknown", "1-0-0"), &rule("gone-rule"), why).await;
        let rejections = queue(sqs, format!("{prefix}-realtime-logs-FailureQueue-R")).await;
        send(sqs, &rejections, &json!({"reason": "malformed", "line": 3})).await;
        // The bus, with a rule catching what comes back as a re-put replay.
        clients.events.create_event_bus().name(&prefix).send().await.unwrap();
        let replays = support::rule_to_queue(&clients.events, sqs, &prefix, "catch",
            &json!({"source": ["tally.replay"]}), &support::unique("replays")).await;
        let machine = clients
            .sfn
            .create_state_machine()
            .name(format!("{prefix}-enrich"))
            .definition(r#"{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}"#)
            .role_arn("arn:aws:iam::123456789012:role/enrich")
            .send()
            .await
            .unwrap()
            .state_machine_arn;
        (failed, last, work, counters, dlq, replays, machine)
    });

    let report = rt
        .block_on(tally::aws_redrive::redrive(&clients, &prefix))
        .unwrap();
    assert_eq!(
        (report.started, report.sent_back, report.re_put),
        (2, 1, 1),
        "{report:#?}"
    );
    let kept = kept(&report);
    let whys: Vec<(&str, &str)> = kept
        .iter()
        .map(|(id, why)| (id.as_str(), why.split(':').next().unwrap()))
        .collect();
    assert_eq!(
        whys,
        [
            ("", "no rule and no enrichment input"),
            ("view-incomplete", "Tally.IncompleteInput"),
            ("view-poison", "not a countable page view"),
            (
                "view-unknown",
                "rule gone-rule is none of the declared consumers' rules"
            ),
        ],
        "{kept:#?}"
    );

    rt.block_on(async {
        let executions = clients
            .sfn
            .list_executions()
            .state_machine_arn(&machine)
            .send()
            .await
            .unwrap()
            .executions;
        let mut inputs = Vec::new();
        for e in executions {
            let described = clients
                .sfn
                .describe_execution()
                .execution_arn(e.execution_arn)
                .send()
                .await
                .unwrap();
            let input: Value = serde_json::from_str(&described.input.unwrap()).unwrap();
            inputs.push(input["event_id"].as_str().unwrap().to_owned());
        }
        inputs.sort();
        assert_eq!(
            inputs,
            ["view-last", "view-throttled"],
            "the original inputs, run again"
        );
        assert_eq!(
            depth(sqs, &failed).await,
            "1",
            "the incomplete input stays, visible"
        );
        assert_eq!(depth(sqs, &last).await, "0", "redriven, deleted");
        assert_eq!(depth(sqs, &counters).await, "1", "the poison stays");
        assert_eq!(depth(sqs, &dlq).await, "1", "the unknown rule's stays");
        // The countable dead letter is on the counters' queue again, as it was.
        let back = sqs.receive_message().queue_url(&work).send().await.unwrap();
        let body: Value = serde_json::from_str(back.messages()[0].body().unwrap()).unwrap();
        assert_eq!(body, page_view("view-conflict", "1-0-0"));
        // The rule's dead letter is on the bus again, as a re-put replay the counters take.
        let caught = sqs
            .receive_message()
            .queue_url(&replays)
            .send()
            .await
            .unwrap();
        assert_eq!(caught.messages().len(), 1, "{caught:?}");
        let event: Value = serde_json::from_str(caught.messages()[0].body().unwrap()).unwrap();
        assert_eq!(event["source"], "tally.replay");
        assert_eq!(event["detail"]["event_id"], "view-rule");
    });
}
