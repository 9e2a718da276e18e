//! Rule matching throughput: `cargo bench -p tally-bus --bench matching`.
//!
//! Each iteration matches one page-view event against every rule (10 or 100), as the bus does;
//! criterion reports events/s.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tally_bus::Pattern;

/// A mix of the operators real rules use, varied by `i` so no two rules are equal.
fn rule(i: usize) -> Pattern {
    let p = match i % 10 {
        0 => {
            json!({"source": ["tally"], "detail-type": ["PageView"], "detail": {"schema_version": [{"prefix": "1-"}]}})
        }
        1 => {
            json!({"detail": {"is_bot": [true], "bot_reason": [{"anything-but": ["header_flag"]}]}})
        }
        2 => json!({"detail": {"path": [{"prefix": format!("/section-{i}/")}]}}),
        3 => json!({"detail": {"country": ["FR", "DE", "JP", format!("X{}", i % 26)]}}),
        4 => {
            json!({"detail": {"utm_campaign": [{"exists": true}], "utm_source": [{"equals-ignore-case": "NEWSLETTER"}]}})
        }
        5 => json!({"detail": {"referrer_host": [{"suffix": format!(".example-{i}.com")}]}}),
        6 => json!({"detail": {"$or": [{"device": ["tablet"]}, {"os": ["android", "ios"]}]}}),
        7 => json!({"detail": {"path": [{"wildcard": format!("/posts/*/{i}*")}]}}),
        8 => json!({"detail-type": ["PageView.Failed"]}),
        _ => {
            json!({"detail": {"language": [{"prefix": {"equals-ignore-case": "fr"}}], "is_bot": [false]}})
        }
    };
    Pattern::from_value(&p).unwrap()
}

fn events() -> Vec<Value> {
    let detail = json!({
        "event_id": "p8vQhTNgFpnBHRcY3Nj2Ar9pQ1gZ7mXfWzL0bqUkD_eYx5sTa4vB1w==", "schema_version": "1-0-0",
        "site": "blog.example.org", "path": "/posts/hello-world/", "occurred_at": "2026-11-28T21:03:55.017Z",
        "received_at": "2026-11-28T21:03:55.092Z", "country": "FR", "region": "IDF", "city": "Paris",
        "timezone": "Europe/Paris", "device": "mobile", "os": "ios", "browser": "safari", "is_bot": false,
        "referrer_host": "news.ycombinator.com", "referrer_path": "/item", "referrer_same_site": false,
        "utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "autumn-launch", "language": "fr-FR",
    });
    let envelope = |detail: Value| {
        json!({"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "PageView",
               "source": "tally", "account": "123456789012", "time": "2026-11-28T21:03:55Z",
               "region": "eu-west-1", "resources": [], "detail": detail})
    };
    let mut bot = detail.clone();
    bot["is_bot"] = json!(true);
    bot["bot_reason"] = json!("user_agent_pattern");
    let mut plain = detail.clone();
    for k in [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "referrer_host",
        "referrer_path",
        "language",
    ] {
        plain.as_object_mut().unwrap().remove(k);
    }
    vec![envelope(detail), envelope(bot), envelope(plain)]
}

fn bench(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("matching");
    for n in [10, 100] {
        let rules: Vec<Pattern> = (0..n).map(rule).collect();
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::new("rules", n), &rules, |b, rules| {
            b.iter(|| {
                events
                    .iter()
                    .map(|e| rules.iter().filter(|r| r.matches(e)).count())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
