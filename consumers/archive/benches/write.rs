//! Archive write throughput: `cargo bench -p tally-archive --bench write`.
//!
//! Appends page-view events (whole envelopes) to a local archive with the default 1 MiB buffer,
//! objects written as they fill. Before measuring, it prints the compressed bytes per event of a
//! 20,000-event archive.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tally_archive::{Archive, ArchiveConfig};

fn event(i: u64) -> Value {
    let paths = [
        "/",
        "/blog/",
        "/blog/hello-world/",
        "/about",
        "/pricing",
        "/docs/getting-started/",
    ];
    let countries = ["FR", "US", "DE", "JP", "BR", "GB"];
    json!({
        "version": "0", "id": format!("6a7e8feb-b491-4cf7-a9f1-{i:012x}"), "detail-type": "PageView",
        "source": "tally", "account": "123456789012", "time": "2026-11-28T21:03:55Z", "region": "eu-west-1",
        "resources": ["arn:aws:states:eu-west-1:123456789012:stateMachine:enrich",
                      format!("arn:aws:states:eu-west-1:123456789012:express:enrich:{i}:x")],
        "detail": {
            "event_id": format!("p8vQhTNgFpnBHRcY3Nj2Ar9pQ1gZ7mXfWzL0bqUkD_{i:x}=="), "schema_version": "1-0-0",
            "site": "blog.example.org", "path": paths[(i % 6) as usize], "occurred_at": "2026-11-28T21:03:55.017Z",
            "received_at": "2026-11-28T21:03:55.092Z", "country": countries[(i % 6) as usize],
            "device": "mobile", "os": "ios", "browser": "safari", "is_bot": false, "referrer_same_site": false,
            "referrer_host": "news.ycombinator.com", "referrer_path": "/item", "language": "fr-FR"
        }
    })
}

fn bench(c: &mut Criterion) {
    let events: Vec<Value> = (0..20_000).map(event).collect();
    {
        let tmp = tempfile::tempdir().unwrap();
        let (archive, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
        for e in &events {
            archive.append(e, Utc::now()).unwrap();
        }
        archive.flush().unwrap();
        let bytes: u64 = archive
            .objects()
            .unwrap()
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        eprintln!(
            "archive: {:.1} compressed bytes per event",
            bytes as f64 / events.len() as f64
        );
    }
    let mut group = c.benchmark_group("archive");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("append/20k", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |tmp| {
                let (archive, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
                for e in &events {
                    archive.append(e, Utc::now()).unwrap();
                }
                archive.flush().unwrap();
                tmp
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
