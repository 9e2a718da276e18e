//! `tally failed list --aws` against moto: every queue named after the stack prefix is read,
//! each message with its reason and event id, and nothing is taken away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::json;
use tally::aws_failed::list;

#[test]
fn every_failure_queue_of_the_stack_is_listed_with_its_reasons_and_left_in_place() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = rt.block_on(support::moto_config());
    let sqs = aws_sdk_sqs::Client::new(&config);
    let prefix = support::unique("failed");
    rt.block_on(async {
        let queue = |name: String| {
            let sqs = sqs.clone();
            async move {
                let made = sqs.create_queue().queue_name(name).send().await.unwrap();
                made.queue_url.unwrap()
            }
        };
        // A rule target's dead-letter queue: EventBridge's reason is in message attributes.
        let dlq = queue(format!("{prefix}-ArchivePageViewsDlq-ABC123")).await;
        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .unwrap()
        };
        let event = json!({"detail-type": "PageView", "detail": {"event_id": "view-dlq"}});
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(event.to_string())
            .message_attributes("ERROR_CODE", attr("SDK_CLIENT_ERROR"))
            .message_attributes("ERROR_MESSAGE", attr("the stream is gone"))
            .send()
            .await
            .unwrap();
        // The failed-events queue: a PageView.Failed event with the enrichment's input.
        let failed = queue(format!("{prefix}-FailedEventsQueue-XYZ")).await;
        let input = json!({"event_id": "view-failed", "path": "/"}).to_string();
        let event = json!({"detail-type": "PageView.Failed",
            "detail": {"error": "Tally.IncompleteInput", "cause": "the input lacks site", "input": input}});
        sqs.send_message()
            .queue_url(&failed)
            .message_body(event.to_string())
            .send()
            .await
            .unwrap();
        // The last resort: both errors.
        let last = queue(format!("{prefix}-last-resort")).await;
        let input = json!({"event_id": "view-last"}).to_string();
        let body = json!({"error": "EventBridge.FailedEntry", "cause": "bus full",
            "dead_letter_error": "States.TaskFailed", "dead_letter_cause": "refused", "input": input});
        sqs.send_message()
            .queue_url(&last)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
        // The counters' on-failure destination: Lambda's record.
        let counters = queue(format!("{prefix}-CountersDeadLetterQueue-Q")).await;
        let record = json!({"requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": {"detail": {"event_id": "view-counters"}},
            "responsePayload": {"errorMessage": "transaction conflict"}});
        sqs.send_message()
            .queue_url(&counters)
            .message_body(record.to_string())
            .send()
            .await
            .unwrap();
        // Another stack's queue is not ours.
        let other = queue(format!("other-{prefix}-dlq")).await;
        sqs.send_message()
            .queue_url(&other)
            .message_body("{}")
            .send()
            .await
            .unwrap();
    });

    let mut listed = rt.block_on(list(&sqs, &prefix)).unwrap();
    listed.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let seen: Vec<(Option<&str>, &str)> = listed
        .iter()
        .map(|m| (m.event_id.as_deref(), m.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Some("view-counters"),
                "RetriesExhausted: transaction conflict"
            ),
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
}

#[test]
fn redrive_runs_the_failed_views_again_and_keeps_what_cannot_succeed() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = rt.block_on(support::moto_config());
    let clients = tally::aws_redrive::Clients {
        sqs: aws_sdk_sqs::Client::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
    };
    let sqs = &clients.sqs;
    let prefix = support::unique("redrive");
    let (failed, last, dlq, machine) = rt.block_on(async {
        let queue = |name: String| async move {
            let made = sqs.create_queue().queue_name(name).send().await.unwrap();
            made.queue_url.unwrap()
        };
        let send = |url: String, body: serde_json::Value| async move {
            sqs.send_message()
                .queue_url(url)
                .message_body(body.to_string())
                .send()
                .await
                .unwrap();
        };
        let failed = queue(format!("{prefix}-FailedEventsQueue-XYZ")).await;
        let view = |id: &str| json!({"event_id": id, "site": "example.org", "path": "/"}).to_string();
        send(failed.clone(), json!({"detail-type": "PageView.Failed",
            "detail": {"error": "EventBridge.ThrottlingException", "cause": "slow down", "input": view("view-throttled")}})).await;
        send(failed.clone(), json!({"detail-type": "PageView.Failed",
            "detail": {"error": "Tally.IncompleteInput", "cause": "the input lacks path", "input": view("view-incomplete")}})).await;
        let last = queue(format!("{prefix}-last-resort")).await;
        send(last.clone(), json!({"error": "EventBridge.FailedEntry", "cause": "bus full",
            "dead_letter_error": "States.TaskFailed", "dead_letter_cause": "refused", "input": view("view-last")})).await;
        // A rule target's dead-letter queue: events already on the bus, not this command's.
        let dlq = queue(format!("{prefix}-ArchivePageViewsDlq-A")).await;
        send(dlq.clone(), json!({"detail": {"event_id": "view-dlq"}})).await;
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
        (failed, last, dlq, machine)
    });

    let report = rt
        .block_on(tally::aws_redrive::redrive(&clients, &prefix))
        .unwrap();
    assert_eq!(report.started, 2, "{report:?}");
    assert_eq!(report.kept.len(), 1, "{report:?}");
    assert_eq!(report.kept[0].event_id.as_deref(), Some("view-incomplete"));
    assert!(
        report.kept[0].why.starts_with("Tally.IncompleteInput"),
        "{report:?}"
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
            let input: serde_json::Value = serde_json::from_str(&described.input.unwrap()).unwrap();
            inputs.push(input["event_id"].as_str().unwrap().to_owned());
        }
        inputs.sort();
        assert_eq!(
            inputs,
            ["view-last", "view-throttled"],
            "the original inputs, run again"
        );
        let depth = |url: String| async move {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .send()
                .await
                .unwrap();
            attrs.attributes.unwrap()
                [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
                .clone()
        };
        assert_eq!(
            depth(failed).await,
            "1",
            "the incomplete input stays, visible"
        );
        assert_eq!(depth(last).await, "0", "redriven, deleted");
        assert_eq!(depth(dlq).await, "1", "not this command's");
    });
}
