//! The local consumer: compliance, idempotency, persistence, counting against independently
//! computed expectations, and the query API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use tally_bus::local::TargetInput;
use tally_consumer::LocalConsumer;
use tally_consumer::compliance::{self, Claims, Probe};
use tally_counters::{Applied, Count, CountedView, Dimension, LocalCounters, Plan};

fn views(details: &[serde_json::Value]) -> Vec<CountedView> {
    details
        .iter()
        .map(|d| CountedView::from_detail(d).unwrap())
        .collect()
}

fn counters_map(store: &LocalCounters) -> BTreeMap<(String, String, String, String), u64> {
    store
        .counters()
        .unwrap()
        .into_iter()
        .map(|c| ((c.site, c.dimension, c.day, c.value), c.count))
        .collect()
}

fn now() -> DateTime<Utc> {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

#[test]
fn compliance() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalCounters::open(dir.path().join("counters.redb")).unwrap());
    compliance::check(
        Arc::clone(&store),
        &[Claims {
            rule: "page-views",
            examples: &[
                "bot.json",
                "envelope.json",
                "full.json",
                "minimal.json",
                "non-ascii.json",
                "same-site-referrer.json",
            ],
            // A replay carries the original event_id: it matches and is deduplicated.
            foreign: &["replayed"],
        }],
    );
    // full.json and envelope.json are the same page view (same event_id): counted once.
    let snapshot = store.snapshot();
    assert_eq!(snapshot["dedupe_records"], json!(5), "{snapshot}");
    let day = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    assert_eq!(
        store
            .total("blog.example.org", day, day, Dimension::Views)
            .unwrap(),
        1
    );
}

#[test]
fn redelivery_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCounters::open(dir.path().join("c.redb")).unwrap();
    let details = support::details(7, 300);
    for d in &details {
        let input = TargetInput::Json(support::event(d));
        store.handle("page-views", &input).unwrap();
    }
    let first = store.snapshot();
    // Redeliver everything, through the consumer and straight to the store.
    for d in &details {
        let input = TargetInput::Json(support::event(d));
        store.handle("page-views", &input).unwrap();
        let view = CountedView::from_detail(d).unwrap();
        assert_eq!(store.apply(&view).unwrap(), Applied::Duplicate);
    }
    assert_eq!(first, store.snapshot());
    assert_eq!(counters_map(&store), support::expected(&details));
}

#[test]
fn counts_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/c.redb");
    let details = support::details(11, 200);
    let before = {
        let store = LocalCounters::open(&path).unwrap();
        for v in views(&details) {
            store.apply_at(&v, now()).unwrap();
        }
        store.snapshot()
    }; // closed here
    let store = LocalCounters::open(&path).unwrap();
    assert_eq!(before, store.snapshot());
    // The dedupe set persisted too: redelivery after reopening changes nothing.
    for v in views(&details) {
        assert_eq!(store.apply_at(&v, now()).unwrap(), Applied::Duplicate);
    }
    assert_eq!(before, store.snapshot());
    assert_eq!(counters_map(&store), support::expected(&details));
}

#[test]
fn counting_matches_independent_expectations() {
    for seed in [1, 2, 3, 42] {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalCounters::open(dir.path().join("c.redb")).unwrap();
        let mut details = support::details(seed, 500);
        // Duplicates within the stream, out of order.
        let again: Vec<_> = details.iter().step_by(7).cloned().collect();
        details.extend(again);
        let vs = views(&details);
        // Half one by one, half in one batch (with its own duplicates).
        let (a, b) = vs.split_at(vs.len() / 2);
        for v in a {
            store.apply_at(v, now()).unwrap();
        }
        store.apply_batch_at(b, now()).unwrap();
        assert_eq!(
            counters_map(&store),
            support::expected(&details),
            "seed {seed}"
        );

        let minutes = support::expected_minutes(&details);
        let snapshot = store.snapshot();
        let got: BTreeMap<(String, String), u64> = snapshot["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let t: DateTime<Utc> = m[1].as_str().unwrap().parse().unwrap();
                (
                    (
                        m[0].as_str().unwrap().to_owned(),
                        t.format("%Y-%m-%dT%H:%M").to_string(),
                    ),
                    m[2].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, minutes, "seed {seed}");
    }
}

#[test]
fn plan_of_examples() {
    let full: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../schema/page-view/examples/valid/full.json",
            std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let plan = Plan::of(&CountedView::from_detail(&full).unwrap());
    let got: Vec<(String, String)> = plan
        .increments
        .iter()
        .map(|(d, v)| (d.to_string(), v.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("views", "all"),
        ("page", "/posts/hello-world/"),
        ("country", "FR"),
        ("device", "mobile"),
        ("browser", "safari"),
        ("os", "ios"),
        ("referrer", "news.ycombinator.com"),
        ("campaign", "autumn-launch"),
        ("hour", "21"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(
        plan.visitor.as_deref(),
        Some("9f86d081884c7d659a2feaa0c55ad015")
    );
    assert_eq!(plan.day, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
    assert_eq!(
        plan.minute.unwrap().to_rfc3339(),
        "2026-11-28T21:03:00+00:00"
    );

    // The typed PageView gives the same plan.
    let typed: tally_schema::PageView = serde_json::from_value(full.clone()).unwrap();
    assert_eq!(Plan::of(&CountedView::from_page_view(&typed)), plan);

    // A bot counts only in `bots`.
    let mut bot = full.clone();
    bot["is_bot"] = json!(true);
    bot["bot_reason"] = json!("headless_browser");
    let plan = Plan::of(&CountedView::from_detail(&bot).unwrap());
    assert_eq!(
        plan.increments,
        vec![(Dimension::Bots, "headless_browser".to_owned())]
    );
    assert_eq!((plan.visitor, plan.minute), (None, None));

    // A later addition (unknown field, unknown class) is still counted; another model is not.
    let mut addition = full.clone();
    addition["schema_version"] = json!("1-0-1");
    addition["new_field"] = json!("x");
    addition["device"] = json!("watch");
    assert!(CountedView::from_detail(&addition).is_ok());
    let mut model2 = full;
    model2["schema_version"] = json!("2-0-0");
    let err = CountedView::from_detail(&model2).unwrap_err();
    assert!(err.is_permanent(), "{err}");
}

#[test]
fn query_api() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCounters::open(dir.path().join("c.redb")).unwrap();
    let details = support::details(5, 600);
    store.apply_batch_at(&views(&details), now()).unwrap();
    let expected = support::expected(&details);

    let (from, to) = (
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
    );
    for dimension in Dimension::ALL {
        let mut sums: BTreeMap<String, u64> = BTreeMap::new();
        for ((site, dim, day, value), n) in &expected {
            if site == "www.example.com"
                && dim == dimension.as_str()
                && day.as_str() >= "2026-11-27"
                && day.as_str() <= "2026-11-28"
            {
                *sums.entry(value.clone()).or_default() += n;
            }
        }
        let mut want: Vec<Count> = sums
            .into_iter()
            .map(|(value, count)| Count { value, count })
            .collect();
        want.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        want.truncate(3);
        let got = store
            .top("www.example.com", from, to, dimension, 3)
            .unwrap();
        assert_eq!(got, want, "{dimension}");
    }
    // An unknown site, an empty range.
    assert!(
        store
            .top("nope", from, to, Dimension::Page, 5)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .top("www.example.com", to, from, Dimension::Page, 5)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn live_view_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCounters::open(dir.path().join("c.redb")).unwrap();
    let now: DateTime<Utc> = "2026-11-29T12:00:30Z".parse().unwrap();
    let base = json!({
        "schema_version": "1-0-0", "site": "www.example.com", "path": "/",
        "received_at": "2026-11-29T12:00:00Z", "device": "desktop", "os": "linux",
        "browser": "firefox", "is_bot": false, "referrer_same_site": false,
        "visitor_hash": "00112233445566778899aabbccddeeff",
    });
    // Views 0, 0, 5, 29 and 30 minutes ago (the last one is out of the window), and a bot.
    for (i, ago) in [0i64, 0, 5, 29, 30].iter().enumerate() {
        let mut d = base.clone();
        d["event_id"] = json!(format!("live-{i}"));
        d["occurred_at"] = json!((now - Duration::minutes(*ago)).to_rfc3339());
        store
            .apply_at(&CountedView::from_detail(&d).unwrap(), now)
            .unwrap();
    }
    let mut bot = base.clone();
    bot["event_id"] = json!("live-bot");
    bot["occurred_at"] = json!(now.to_rfc3339());
    bot["is_bot"] = json!(true);
    bot["bot_reason"] = json!("header_flag");
    store
        .apply_at(&CountedView::from_detail(&bot).unwrap(), now)
        .unwrap();

    let live = store.last_minutes("www.example.com", now).unwrap();
    assert_eq!(live.len(), 30);
    assert_eq!(live[29].minute.to_rfc3339(), "2026-11-29T12:00:00+00:00");
    assert_eq!(live[0].minute.to_rfc3339(), "2026-11-29T11:31:00+00:00");
    let counts: Vec<u64> = live.iter().map(|m| m.count).collect();
    let mut want = vec![0u64; 30];
    want[29] = 2;
    want[24] = 1;
    want[0] = 1;
    assert_eq!(counts, want);
    // One visitor, five views.
    let day = now.date_naive();
    assert_eq!(
        store
            .total("www.example.com", day, day, Dimension::Visitors)
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .total("www.example.com", day, day, Dimension::Views)
            .unwrap(),
        5
    );

    // Within the TTL a redelivery is a duplicate; once its dedupe record expired (and was
    // purged, or merely expired) the same id counts again, as in DynamoDB.
    let mut again = base.clone();
    again["event_id"] = json!("live-0");
    again["occurred_at"] = json!(now.to_rfc3339());
    let view = CountedView::from_detail(&again).unwrap();
    assert_eq!(
        store.apply_at(&view, now + Duration::days(6)).unwrap(),
        Applied::Duplicate
    );
    let later = now + Duration::days(10);
    assert!(store.purge_expired(later).unwrap() > 0);
    let snapshot = store.snapshot();
    assert_eq!(snapshot["dedupe_records"], json!(0));
    assert_eq!(snapshot["visitor_markers"], json!(0));
    assert_eq!(snapshot["minutes"], json!([]));
    assert_eq!(
        store.apply_at(&view, later).unwrap(),
        Applied::Counted { new_visitor: true }
    );
}

#[test]
fn a_batch_counts_like_one_by_one_and_fails_only_what_it_cannot_count() {
    let dir = tempfile::tempdir().unwrap();
    let batched = LocalCounters::open(dir.path().join("batched.redb")).unwrap();
    let single = LocalCounters::open(dir.path().join("single.redb")).unwrap();
    let details = support::details(11, 200);
    let mut inputs: Vec<TargetInput> = details
        .iter()
        .map(|d| TargetInput::Json(support::event(d)))
        .collect();
    // A repeat inside the batch, text, and an event that is not a page view.
    inputs.insert(50, inputs[10].clone());
    inputs.insert(100, TargetInput::Text("hello".into()));
    inputs.insert(150, TargetInput::Json(json!({"detail": {"site": "x"}})));
    let results = batched.handle_batch("page-views", &inputs);
    assert_eq!(results.len(), inputs.len());
    for (i, result) in results.iter().enumerate() {
        match i {
            100 | 150 => assert!(result.as_ref().unwrap_err().is_permanent(), "input {i}"),
            _ => assert!(result.is_ok(), "input {i}: {result:?}"),
        }
    }
    for input in &inputs {
        single.handle("page-views", input).ok();
    }
    assert_eq!(counters_map(&batched), support::expected(&details));
    assert_eq!(counters_map(&batched), counters_map(&single));
    // The whole batch again: every view is a duplicate, nothing changes.
    let before = batched.snapshot();
    let again = batched.handle_batch("page-views", &inputs);
    assert_eq!(again.iter().filter(|r| r.is_ok()).count(), inputs.len() - 2);
    assert_eq!(before, batched.snapshot());
}

#[test]
fn rejects_what_it_cannot_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCounters::open(dir.path().join("c.redb")).unwrap();
    let err = store
        .handle("page-views", &TargetInput::Text("hello".into()))
        .unwrap_err();
    assert!(err.is_permanent());
    let err = store
        .handle(
            "page-views",
            &TargetInput::Json(json!({"detail": {"site": "x"}})),
        )
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
}

#[test]
fn relaxed_sync_persists_at_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.redb");
    let details = support::details(13, 150);
    let before = {
        let store = LocalCounters::open(&path).unwrap().sync_each_event(false);
        for d in &details {
            store
                .handle("page-views", &TargetInput::Json(support::event(d)))
                .unwrap();
        }
        store.flush().unwrap();
        store.snapshot()
    };
    let store = LocalCounters::open(&path).unwrap();
    assert_eq!(before, store.snapshot());
    assert_eq!(counters_map(&store), support::expected(&details));
}

#[test]
fn retention_removes_the_day_counts_of_days_before_the_first_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCounters::open(dir.path().join("c.redb")).unwrap();
    let base = json!({
        "schema_version": "1-0-0", "site": "www.example.com", "path": "/",
        "received_at": "2026-11-29T12:00:00Z", "device": "desktop", "os": "linux",
        "browser": "firefox", "is_bot": false, "referrer_same_site": false,
    });
    for (i, day) in ["2026-11-26", "2026-11-27", "2026-11-28"]
        .iter()
        .enumerate()
    {
        let mut d = base.clone();
        d["event_id"] = json!(format!("day-{i}"));
        d["occurred_at"] = json!(format!("{day}T10:00:00Z"));
        store
            .apply_at(&CountedView::from_detail(&d).unwrap(), now())
            .unwrap();
    }
    let days = |store: &LocalCounters| -> std::collections::BTreeSet<String> {
        counters_map(store)
            .into_keys()
            .map(|(_, _, day, _)| day)
            .collect()
    };
    assert_eq!(days(&store).len(), 3);
    let first_kept = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let removed = store.prune_days_before(first_kept).unwrap();
    assert!(removed > 0);
    assert_eq!(days(&store), ["2026-11-28".to_owned()].into());
    assert_eq!(store.prune_days_before(first_kept).unwrap(), 0);
}
