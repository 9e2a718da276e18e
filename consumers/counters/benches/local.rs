//! Events applied to the local store, per second: one transaction (one fsync) per event, and
//! batches of 100 in one transaction.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally_counters::{CountedView, LocalCounters};

fn fresh(views: &[CountedView], round: u64) -> Vec<CountedView> {
    views
        .iter()
        .map(|v| {
            let mut v = v.clone();
            v.event_id = format!("{}-{round}", v.event_id);
            v
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let details = support::details(1, 1000);
    let views: Vec<CountedView> = details
        .iter()
        .map(|d| CountedView::from_detail(d).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCounters::open(dir.path().join("bench.redb")).unwrap();
    let round = AtomicU64::new(0);
    let now = Utc::now();

    let mut group = c.benchmark_group("local");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply one event per transaction", |b| {
        let batch = fresh(&views, round.fetch_add(1, Ordering::Relaxed));
        let mut i = 0usize;
        b.iter(|| {
            // New ids each time (a duplicate would only be a lookup).
            let mut v = batch[i % batch.len()].clone();
            v.event_id = format!("{}-{i}", v.event_id);
            i += 1;
            black_box(store.apply_at(&v, now).unwrap());
        });
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("apply 100 events per transaction", |b| {
        b.iter(|| {
            let batch = fresh(&views[..100], round.fetch_add(1, Ordering::Relaxed));
            black_box(store.apply_batch_at(&batch, now).unwrap());
        });
    });
    group.throughput(Throughput::Elements(1));
    let relaxed = LocalCounters::open(dir.path().join("relaxed.redb"))
        .unwrap()
        .sync_each_event(false);
    group.bench_function("apply one event per transaction, synced at flush", |b| {
        let batch = fresh(&views, round.fetch_add(1, Ordering::Relaxed));
        let mut i = 0usize;
        b.iter(|| {
            let mut v = batch[i % batch.len()].clone();
            v.event_id = format!("{}-{i}", v.event_id);
            i += 1;
            black_box(relaxed.apply_at(&v, now).unwrap());
        });
        relaxed.sync().unwrap();
    });
    group.bench_function("redelivered event (duplicate)", |b| {
        let v = views[0].clone();
        store.apply_at(&v, now).unwrap();
        b.iter(|| black_box(store.apply_at(&v, now).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
