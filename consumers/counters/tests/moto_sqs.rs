//! The counters' Lambda fed from a real queue, as its event source mapping feeds it: messages
//! received from moto's SQS (server mode) in one batch, handed to `dynamo::handle`, the messages
//! it does not name as failures deleted, the ones it names left to come back; DynamoDB is moto's
//! too. Needs `./tests/run` (it sets `TALLY_MOTO_ENDPOINT`); run alone it fails, saying so.
//! Nothing here calls AWS.
//!
//! moto 5.2.5's SQS applies a redrive policy on receive, as SQS does: a message received
//! `maxReceiveCount` times moves to the dead-letter queue when it is next due.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use chrono::NaiveDate;
use serde_json::{Value, json};
use tally_counters::dynamo::{DynamoCounters, handle};
use tally_counters::{Applied, Dimension, read_message};

async fn config() -> SdkConfig {
    let endpoint = std::env::var("TALLY_MOTO_ENDPOINT")
        .expect("this test needs the moto server: run it through ./tests/run");
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{what}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The counters' queue and its dead-letter queue (after one receive, as `maxReceiveCount` 1).
async fn queues(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let dlq = sqs
        .create_queue()
        .queue_name(unique("dlq"))
        .send()
        .await
        .unwrap();
    let dlq = dlq.queue_url.unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": 1}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(unique("counters"))
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap();
    (queue.queue_url.unwrap(), dlq)
}

/// Everything visible in the queue at `url`, hidden for a second.
async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

/// The Lambda event of `messages`, as the event source mapping builds it.
fn lambda_event(messages: &[Message]) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle,
                   "body": m.body, "eventSource": "aws:sqs"})
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

/// What the event source mapping does with the answer: deletes every message not named.
async fn delete_all_but(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    messages: &[Message],
    failed: &[String],
) {
    for m in messages {
        if !failed.contains(m.message_id.as_ref().unwrap()) {
            let handle = m.receipt_handle.clone();
            sqs.delete_message()
                .queue_url(url)
                .set_receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
}

/// A human view of `/` on www.example.com in the minute 08:00 of 2026-11-29: the hot keys.
fn hot(id: &str, visitor: usize) -> Value {
    json!({
        "event_id": id, "schema_version": "1-0-0", "site": "www.example.com", "path": "/",
        "occurred_at": "2026-11-29T08:00:30.000Z", "received_at": "2026-11-29T08:00:31.000Z",
        "country": "FR", "device": "desktop", "os": "linux", "browser": "firefox",
        "is_bot": false, "referrer_same_site": false,
        "visitor_hash": format!("{visitor:032x}"),
    })
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_with_copies_on_hot_keys_counts_each_event_once_and_keeps_only_the_poison() {
    let config = config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let store = DynamoCounters::new(aws_sdk_dynamodb::Client::new(&config), unique("counters"));
    store.create_table().await.unwrap();
    let (url, dlq) = queues(&sqs).await;

    // 20 distinct events of 5 visitors, the first 10 twice (a producer's retry, a re-put: a new
    // envelope id, the same event_id), and one message that is no page view.
    let mut bodies: Vec<String> = (0..20)
        .map(|i| support::event(&hot(&format!("e{i}"), i % 5)).to_string())
        .collect();
    for i in 0..10 {
        let mut copy = support::event(&hot(&format!("e{i}"), i % 5));
        copy["id"] = json!(format!("copy-{i}"));
        bodies.push(copy.to_string());
    }
    let mut poison = support::event(&hot("p", 0));
    poison["detail"]["schema_version"] = json!("2-0-0");
    bodies.push(poison.to_string());
    for body in &bodies {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let messages = receive_all(&sqs, &url).await;
    assert_eq!(messages.len(), 31);
    let handled = handle(&store, lambda_event(&messages)).await;
    let failed: Vec<String> = handled
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let poison_id = messages
        .iter()
        .find(|m| m.body.as_deref() == Some(poison.to_string().as_str()))
        .and_then(|m| m.message_id.clone())
        .unwrap();
    assert_eq!(
        failed,
        [poison_id],
        "only the poison message is named: {:?}",
        handled.outcomes
    );
    let counted = handled
        .outcomes
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Applied::Counted { .. })))
        .count();
    let duplicates = handled
        .outcomes
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Applied::Duplicate)))
        .count();
    assert_eq!((counted, duplicates), (20, 10));
    delete_all_but(&sqs, &url, &messages, &failed).await;

    let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    let count = |dimension| {
        let store = store.clone();
        async move {
            store
                .top("www.example.com", day, day, dimension, 5)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(Dimension::Views).await[0].count, 20);
    assert_eq!(count(Dimension::Page).await[0].count, 20);
    assert_eq!(count(Dimension::Visitors).await[0].count, 5);
    let at = "2026-11-29T08:00:59Z".parse().unwrap();
    let minutes = store.last_minutes("www.example.com", at).await.unwrap();
    assert_eq!(minutes.last().unwrap().count, 20);

    // The copies again, in a later batch: duplicates, nothing changes.
    for body in &bodies[20..30] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The poison is due again: received once already, it moves to the dead-letter queue.
    let again = receive_all(&sqs, &url).await;
    assert_eq!(again.len(), 10, "the copies, not the poison");
    let handled = handle(&store, lambda_event(&again)).await;
    assert!(handled.response.batch_item_failures.is_empty());
    assert!(
        handled
            .outcomes
            .iter()
            .all(|(_, r)| matches!(r, Ok(Applied::Duplicate)))
    );
    delete_all_but(&sqs, &url, &again, &[]).await;
    assert_eq!(count(Dimension::Views).await[0].count, 20);

    let dead = receive_all(&sqs, &dlq).await;
    assert_eq!(dead.len(), 1);
    let why = read_message(dead[0].body.as_deref().unwrap()).unwrap_err();
    assert!(
        why.is_permanent() && why.to_string().contains("2-0-0"),
        "{why}"
    );
}
