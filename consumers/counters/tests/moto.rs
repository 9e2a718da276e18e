//! The cloud path against moto's DynamoDB: the table with the documented key schema, events
//! applied in SQS batches through the Lambda's handler (called directly, not through the Lambda
//! runtime; `tests/moto_sqs.rs` feeds it from a real queue), redelivered, and the counts checked
//! against independent expectations and the local store.
//!
//! Needs the moto server that `./tests/run` starts (it sets `TALLY_MOTO_ENDPOINT`); run alone,
//! it fails, saying so. Nothing here calls AWS.
//!
//! What moto 5.2.5 does, and where it departs from DynamoDB:
//! - `TransactWriteItems` with conditional `Put`s and `Update` `ADD`s works, is all-or-nothing,
//!   and a failed condition cancels the whole transaction with `CancellationReasons` in request
//!   order (`ConditionalCheckFailed` / `None`), as DynamoDB does; so the dedupe and
//!   visitor-marker logic is exercised for real.
//! - moto never raises `TransactionConflict` (it applies requests one at a time), so the
//!   conflict-retry path is not exercised here.
//! - moto deep-copies every table a transaction touches before applying it (its rollback), so a
//!   transaction's cost grows with the table: keep the tables here small.
//! - moto's TTL is metadata only: expired items are never deleted. The condition
//!   `attribute_not_exists(pk) OR expires_at <= :now` does not rely on deletion, so the expiry
//!   test below holds on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use tally_counters::dynamo::{DynamoCounters, Handled, handle};
use tally_counters::{Applied, CountedView, Dimension, LocalCounters};

fn moto_endpoint() -> String {
    std::env::var("TALLY_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "this test needs the moto server: run it through ./tests/run, which installs and \
             starts moto and sets TALLY_MOTO_ENDPOINT"
        )
    })
}

/// A DynamoDB client of moto's.
async fn client() -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    Client::new(&config)
}

async fn store() -> DynamoCounters {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let table = format!(
        "counters-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let store = DynamoCounters::new(client().await, table);
    store.create_table().await.unwrap();
    store
}

/// The invocation's metrics line for a batch's outcomes, read back as EMF.
fn emitted(handled: &Handled) -> tally_metrics::Emitted {
    let results = handled.outcomes.iter().map(|(_, r)| r);
    let line = tally_counters::metrics::metrics(results).line(1_764_643_200_000, 1.0);
    let emitted = tally_metrics::read(&line).unwrap();
    assert_eq!(emitted.dimensions["Function"], "counters");
    emitted
}

/// An SQS batch of EventBridge events as the counters' queue delivers them (message `m{i}`).
fn sqs_event(events: &[Value]) -> SqsEvent {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"messageId": format!("m{i}"), "body": e.to_string()}))
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

fn batch(details: &[Value]) -> SqsEvent {
    sqs_event(&details.iter().map(support::event).collect::<Vec<_>>())
}

async fn scan(store: &DynamoCounters, client: &Client) -> Vec<BTreeMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        out.extend(
            page.items
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.into_iter().collect()),
        );
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

fn text(item: &BTreeMap<String, AttributeValue>, key: &str) -> String {
    item[key].as_s().unwrap().clone()
}

fn number(item: &BTreeMap<String, AttributeValue>, key: &str) -> u64 {
    item[key].as_n().unwrap().parse().unwrap()
}

/// Day counters as `(site, dimension, day, value)` → count, read back from the items.
fn day_counters(
    items: &[BTreeMap<String, AttributeValue>],
) -> BTreeMap<(String, String, String, String), u64> {
    items
        .iter()
        .filter(|i| text(i, "pk").starts_with("D#"))
        .map(|i| {
            let pk = text(i, "pk");
            let mut parts = pk[2..].rsplitn(3, '#');
            let dim = parts.next().unwrap().to_owned();
            let day = parts.next().unwrap().to_owned();
            let site = parts.next().unwrap().to_owned();
            let value = i
                .get("v")
                .map(|v| v.as_s().unwrap().clone())
                .unwrap_or_else(|| text(i, "sk"));
            ((site, dim, day, value), number(i, "n"))
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn lambda_handler_counts_once() {
    let store = store().await;
    let client = client().await;
    let mut details = support::details(99, 60);
    // Two distinct paths longer than DynamoDB's 1,024-byte sort key, equal in their first 1,000
    // bytes: counted apart, read back whole.
    for (i, tail) in ["a", "b"].iter().enumerate() {
        let mut d = details[0].clone();
        d["event_id"] = json!(format!("long-{i}"));
        d["is_bot"] = json!(false);
        d.as_object_mut().unwrap().remove("bot_reason");
        d["path"] = json!(format!("/{}{tail}", "é".repeat(600)));
        details.push(d);
    }

    // Batches of 25 (more than one transaction's 100 items each).
    let mut views = 0.0;
    for chunk in details.chunks(25) {
        let handled = handle(&store, batch(chunk)).await;
        views += emitted(&handled).get("Views");
        assert!(handled.response.batch_item_failures.is_empty());
        for (_, applied) in &handled.outcomes {
            assert!(
                matches!(applied, Ok(Applied::Counted { .. })),
                "{applied:?}"
            );
        }
    }
    assert_eq!(views, details.len() as f64, "one Views per event counted");
    let first = scan(&store, &client).await;
    assert_eq!(day_counters(&first), support::expected(&details));

    // Redelivery: every event is a duplicate, and no item changed.
    for chunk in details.chunks(25) {
        let handled = handle(&store, batch(chunk)).await;
        let m = emitted(&handled);
        assert_eq!(
            (m.get("Views"), m.get("Skipped.duplicate")),
            (0.0, chunk.len() as f64)
        );
        assert!(
            handled
                .outcomes
                .iter()
                .all(|(_, r)| matches!(r, Ok(Applied::Duplicate)))
        );
    }
    let second = scan(&store, &client).await;
    assert_eq!(first, second);

    // Minute counters.
    let minutes: BTreeMap<(String, String), u64> = second
        .iter()
        .filter(|i| text(i, "pk").starts_with("M#"))
        .map(|i| {
            (
                (text(i, "pk")[2..].to_owned(), text(i, "sk")),
                number(i, "n"),
            )
        })
        .collect();
    assert_eq!(minutes, support::expected_minutes(&details));

    // The query API gives the local store's answers.
    let dir = tempfile::tempdir().unwrap();
    let local = LocalCounters::open(dir.path().join("c.redb")).unwrap();
    let views: Vec<CountedView> = details
        .iter()
        .map(|d| CountedView::from_detail(d).unwrap())
        .collect();
    local.apply_batch_at(&views, Utc::now()).unwrap();
    let (from, to) = (
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
    );
    for site in [
        "www.example.com",
        "blog.example.org",
        "shop.example.net:8443",
    ] {
        for dimension in Dimension::ALL {
            assert_eq!(
                store.top(site, from, to, dimension, 5).await.unwrap(),
                local.top(site, from, to, dimension, 5).unwrap(),
                "{site} {dimension}"
            );
        }
        let at: DateTime<Utc> = "2026-11-28T12:10:00Z".parse().unwrap();
        assert_eq!(
            store.last_minutes(site, at).await.unwrap(),
            local.last_minutes(site, at).unwrap(),
            "{site}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn visitors_and_expiry() {
    let store = store().await;
    let detail = |id: &str, at: &str| {
        json!({
            "event_id": id, "schema_version": "1-0-0", "site": "www.example.com", "path": "/",
            "occurred_at": at, "received_at": at, "device": "desktop", "os": "linux",
            "browser": "firefox", "is_bot": false, "referrer_same_site": false,
            "visitor_hash": "00112233445566778899aabbccddeeff",
        })
    };
    let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
    let view = |id: &str, at: &str| CountedView::from_detail(&detail(id, at)).unwrap();
    let a = view("v-1", "2026-11-29T08:00:00.000Z");
    let b = view("v-2", "2026-11-29T09:00:00.000Z");
    let c = view("v-3", "2026-11-30T09:00:00.000Z");
    assert_eq!(
        store.apply(&a, now).await.unwrap(),
        Applied::Counted { new_visitor: true }
    );
    assert_eq!(
        store.apply(&b, now).await.unwrap(),
        Applied::Counted { new_visitor: false }
    );
    assert_eq!(
        store.apply(&c, now).await.unwrap(),
        Applied::Counted { new_visitor: true }
    );
    assert_eq!(store.apply(&b, now).await.unwrap(), Applied::Duplicate);
    let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    let total = |dim| {
        let store = store.clone();
        async move {
            store
                .top("www.example.com", day, day, dim, 1)
                .await
                .unwrap()[0]
                .count
        }
    };
    assert_eq!(total(Dimension::Visitors).await, 1);
    assert_eq!(total(Dimension::Views).await, 2);

    // After the dedupe TTL the same id counts again (moto keeps the expired item; the condition
    // ignores it, as it must on DynamoDB, where TTL deletion lags).
    let later = now + Duration::days(7) + Duration::hours(1);
    assert_eq!(
        store.apply(&b, later).await.unwrap(),
        Applied::Counted { new_visitor: false }
    );
    assert_eq!(total(Dimension::Views).await, 3);

    // What the handler refuses: another source, a detail of another model, a body that is no
    // event; a re-put replay (source tally.replay) is counted.
    let mut foreign = support::event(&detail("v-9", "2026-11-29T08:00:00.000Z"));
    foreign["source"] = json!("someone.else");
    let mut model2 = detail("v-10", "2026-11-29T08:00:00.000Z");
    model2["schema_version"] = json!("2-0-0");
    let mut replayed = support::event(&detail("v-11", "2026-11-29T10:00:00.000Z"));
    replayed["source"] = json!("tally.replay");
    let events = [
        foreign,
        support::event(&model2),
        json!("not an event"),
        replayed,
    ];
    let handled = handle(&store, sqs_event(&events)).await;
    assert_eq!(emitted(&handled).get("Failed.invalid"), 3.0);
    let failed: Vec<&str> = handled
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m0", "m1", "m2"]);
    for (_, result) in &handled.outcomes[..3] {
        let err = result.as_ref().unwrap_err();
        assert!(err.is_permanent(), "{err}");
    }
    assert!(matches!(handled.outcomes[3].1, Ok(Applied::Counted { .. })));
    assert_eq!(total(Dimension::Views).await, 4);
}

#[tokio::test(flavor = "current_thread")]
async fn under_a_retention_day_counters_carry_their_expiry() {
    let store = store().await.with_retention_days(Some(30));
    let client = client().await;
    let detail = json!({
        "event_id": "r-1", "schema_version": "1-0-0", "site": "www.example.com", "path": "/",
        "occurred_at": "2026-11-29T08:00:00.000Z", "received_at": "2026-11-29T08:00:00.000Z",
        "device": "desktop", "os": "linux", "browser": "firefox", "is_bot": false,
        "referrer_same_site": false,
    });
    let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
    store
        .apply(&CountedView::from_detail(&detail).unwrap(), now)
        .await
        .unwrap();
    let expiry: DateTime<Utc> = "2026-12-30T00:00:00Z".parse().unwrap();
    let days: Vec<_> = scan(&store, &client)
        .await
        .into_iter()
        .filter(|i| text(i, "pk").starts_with("D#"))
        .collect();
    assert!(!days.is_empty());
    for item in days {
        assert_eq!(
            number(&item, "expires_at"),
            expiry.timestamp() as u64,
            "{}",
            text(&item, "pk")
        );
    }
}
