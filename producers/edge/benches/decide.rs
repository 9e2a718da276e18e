//! Time per event of the pure core over the fixtures: `decide` alone, and the whole handler path
//! (parse the event, decide, serialise the view, serialise the request back).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::path::PathBuf;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally_edge::{CloudFrontEvent, Decision, EdgeConfig, Secret, decide, parse_event};

fn fixtures() -> Vec<String> {
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn config() -> EdgeConfig {
    let mut c = EdgeConfig::new("www.example.com");
    c.site_aliases = vec!["example.com".into()];
    c.visitor_hash = true;
    c.visitor_hash_secret = Some(Secret("0123456789abcdef0123456789abcdef".into()));
    c
}

fn bench(c: &mut Criterion) {
    let texts = fixtures();
    let events: Vec<CloudFrontEvent> = texts.iter().map(|t| parse_event(t).unwrap()).collect();
    let config = config();
    let now = Utc::now();
    // Warm the lazily compiled bot and user-agent patterns outside the measurement.
    for e in &events {
        black_box(decide(e.record().unwrap(), &config, now));
    }

    let mut group = c.benchmark_group("edge");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("decide_all_fixtures", |b| {
        b.iter(|| {
            for e in &events {
                black_box(decide(black_box(e.record().unwrap()), &config, now));
            }
        })
    });
    // The same with the event id keyed (`event_id_key`): one more keyed hash a page view.
    let mut keyed = config.clone();
    keyed.event_id_key = Some(Secret("fedcba9876543210fedcba9876543210".into()));
    group.bench_function("decide_all_fixtures_keyed_event_id", |b| {
        b.iter(|| {
            for e in &events {
                black_box(decide(black_box(e.record().unwrap()), &keyed, now));
            }
        })
    });
    group.bench_function("parse_decide_serialise_all_fixtures", |b| {
        b.iter(|| {
            for t in &texts {
                let event = parse_event(black_box(t)).unwrap();
                if let Decision::PageView(v) = decide(event.record().unwrap(), &config, now) {
                    black_box(serde_json::to_vec(&v).unwrap());
                }
                black_box(serde_json::to_vec(&event).unwrap());
            }
        })
    });
    // Without the 120 kB query-string fixture, which dominates parsing.
    let typical: Vec<&String> = texts.iter().filter(|t| t.len() < 20_000).collect();
    group.throughput(Throughput::Elements(typical.len() as u64));
    group.bench_function("parse_decide_serialise_typical_fixtures", |b| {
        b.iter(|| {
            for t in &typical {
                let event = parse_event(black_box(t)).unwrap();
                if let Decision::PageView(v) = decide(event.record().unwrap(), &config, now) {
                    black_box(serde_json::to_vec(&v).unwrap());
                }
                black_box(serde_json::to_vec(&event).unwrap());
            }
        })
    });
    group.finish();

    // The user-agent classification alone (bot patterns, woothee), per user agent.
    let agents: Vec<String> = events
        .iter()
        .filter_map(|e| {
            e.record()?
                .cf
                .request
                .header("user-agent")
                .map(String::from)
        })
        .collect();
    let mut group = c.benchmark_group("agent");
    group.throughput(Throughput::Elements(agents.len() as u64));
    group.bench_function("classify_fixture_user_agents", |b| {
        b.iter(|| {
            for ua in &agents {
                black_box(tally_edge::agent::classify(Some(black_box(ua))));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
