//! A local replay into the counters, per event: what `tally replay --consumer counters` does for
//! each archive partition (read its gzipped NDJSON objects, sort the events by `occurred_at`,
//! read each as a `CountedView`, apply them in batches of 20,000 per write transaction, sync; the
//! next partition is read on a second thread meanwhile),
//! over 100,000 archived events in 24 hour partitions, into an empty store. The command's engine
//! lives in the `tally` binary, whose release build takes a quarter of an hour here; this bench
//! runs the same library calls.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tally_archive::{Archive, ArchiveConfig, ArchiveObject, list_objects, read_in_event_order};
use tally_counters::{CountedView, LocalCounters};

const EVENTS: usize = 100_000;
const BATCH: usize = 20_000;

fn archive(root: &std::path::Path) -> Vec<Vec<ArchiveObject>> {
    let details = support::details(7, 5_000);
    let (archive, _) = Archive::open(ArchiveConfig::new(root)).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 7, 0, 0, 0).unwrap();
    let step = 86_400_000 / EVENTS as i64;
    let mut hour = None;
    for i in 0..EVENTS {
        let at: DateTime<Utc> = start + Duration::milliseconds(i as i64 * step);
        if hour.is_some_and(|h| h != at.hour()) {
            archive.flush().unwrap();
        }
        hour = Some(at.hour());
        let mut detail = details[i % details.len()].clone();
        detail["event_id"] = json!(format!("bench-{i:08}"));
        detail["occurred_at"] = json!(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        let envelope = json!({
            "version": "0", "id": format!("00000000-0000-4000-8000-{i:012}"),
            "detail-type": "PageView", "source": "tally", "account": "000000000000",
            "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "region": "local",
            "resources": [], "detail": detail
        });
        archive.append(&envelope, at).unwrap();
    }
    archive.flush().unwrap();
    let config = ArchiveConfig::new(root);
    let mut groups: Vec<Vec<ArchiveObject>> = Vec::new();
    for object in list_objects(&config.root, &config.layout).unwrap() {
        match groups.last_mut() {
            Some(g) if g[0].hour == object.hour => g.push(object),
            _ => groups.push(vec![object]),
        }
    }
    groups
}

/// As `tally replay` does it: the next partition read and sorted on another thread while this
/// one is applied.
fn replay(groups: &[Vec<ArchiveObject>], store: &LocalCounters) -> usize {
    let now = Utc::now();
    let mut applied = 0;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for group in groups {
                if tx.send(read_in_event_order(group).unwrap()).is_err() {
                    return;
                }
            }
        });
        for events in rx {
            let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
            let mut views = Vec::with_capacity(BATCH);
            for event in &events {
                views.push(CountedView::from_event(event).unwrap());
                if views.len() == BATCH {
                    applied += store.apply_batch_at(&views, now).unwrap().len();
                    views.clear();
                }
            }
            applied += store.apply_batch_at(&views, now).unwrap().len();
            store.sync().unwrap();
        }
    });
    applied
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let groups = archive(&dir.path().join("archive"));
    let n = AtomicU64::new(0);
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("100k archived events into empty counters", |b| {
        b.iter_batched(
            || {
                let path = dir.path().join(format!(
                    "counters-{}.redb",
                    n.fetch_add(1, Ordering::Relaxed)
                ));
                LocalCounters::open(path).unwrap().sync_each_event(false)
            },
            |store| assert_eq!(replay(&groups, &store), EVENTS),
            BatchSize::PerIteration,
        );
    });
    // Where the time goes: reading the partitions alone, and applying parsed views alone.
    group.bench_function("read and sort 100k archived events (no counters)", |b| {
        b.iter(|| {
            let mut n = 0;
            for g in &groups {
                n += read_in_event_order(g).unwrap().len();
            }
            assert_eq!(n, EVENTS);
        });
    });
    let views: Vec<CountedView> = groups
        .iter()
        .flat_map(|g| read_in_event_order(g).unwrap())
        .map(|(_, e)| CountedView::from_event(&e).unwrap())
        .collect();
    group.bench_function("apply 100k parsed views (no archive)", |b| {
        b.iter_batched(
            || {
                let path = dir.path().join(format!(
                    "counters-{}.redb",
                    n.fetch_add(1, Ordering::Relaxed)
                ));
                LocalCounters::open(path).unwrap().sync_each_event(false)
            },
            |store| {
                let now = Utc::now();
                for chunk in views.chunks(BATCH) {
                    store.apply_batch_at(chunk, now).unwrap();
                }
                store.sync().unwrap();
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
