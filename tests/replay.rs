//! `tally replay`'s engine: counters built from live traffic, wiped, and rebuilt identically from
//! the archive; an interrupted replay resumed without skipping or repeating; a replay through the
//! bus that the archive does not take again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use serde_json::{Value, json};
use tally::local::replay::{
    BusSink, CountersSink, ReplayOptions, ReplayReport, ReplaySink, replay,
};
use tally::local::{BUS_NAME, DataDir, LocalPipeline};
use tally_archive::{Archive, ArchiveConfig, list_objects, read_object};
use tally_bus::local::PutEventsRequestEntry;
use tally_consumer::compliance::Probe;
use tally_counters::LocalCounters;

const BROWSERS: [&str; 3] = ["chrome", "firefox", "safari"];
const COUNTRIES: [Option<&str>; 4] = [Some("FR"), Some("DE"), None, Some("US")];

/// A page-view detail: a few pages, countries, devices, visitors, referrers, campaigns and bots.
fn detail(i: usize, at: DateTime<Utc>) -> Value {
    let mut d = json!({
        "event_id": format!("replay-test-{i:06}"),
        "schema_version": "1-0-0",
        "site": "www.example.com",
        "path": format!("/posts/{}/", i % 9),
        "occurred_at": at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "received_at": (at + Duration::milliseconds(40)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "device": if i.is_multiple_of(3) { "mobile" } else { "desktop" },
        "os": "linux",
        "browser": BROWSERS[i % 3],
        "is_bot": i.is_multiple_of(17),
        "referrer_same_site": false,
        "visitor_hash": format!("{:032x}", i % 23),
    });
    if i.is_multiple_of(17) {
        d["bot_reason"] = json!("user_agent_pattern");
    }
    if let Some(c) = COUNTRIES[i % 4] {
        d["country"] = json!(c);
    }
    if i.is_multiple_of(5) {
        d["referrer_host"] = json!("news.example.org");
    }
    if i.is_multiple_of(7) {
        d["utm_campaign"] = json!("spring");
    }
    d
}

fn envelope(i: usize, at: DateTime<Utc>) -> Value {
    json!({
        "version": "0", "id": format!("5e1f0000-0000-4000-8000-{i:012}"), "detail-type": "PageView",
        "source": "tally", "account": "000000000000", "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "local", "resources": [], "detail": detail(i, at)
    })
}

fn snapshot(data: &DataDir) -> Value {
    let counters = LocalCounters::open(data.counters()).unwrap();
    let s = counters.snapshot();
    assert!(
        s["counters"].as_array().is_some_and(|c| !c.is_empty()),
        "counters exist"
    );
    s
}

fn options(name: &str, from: NaiveDate, to: NaiveDate, restart: bool) -> ReplayOptions {
    ReplayOptions {
        from,
        to,
        name: name.into(),
        restart,
    }
}

fn run(
    data: &DataDir,
    options: &ReplayOptions,
    sink: &mut dyn ReplaySink,
    stop_after: Option<usize>,
) -> ReplayReport {
    let mut partitions = 0;
    replay(data, options, sink, &mut |_| {}, &mut |_| {
        partitions += 1;
        stop_after.is_some_and(|n| partitions >= n)
    })
    .unwrap()
}

fn wipe_counters(data: &DataDir) {
    fs::remove_file(data.counters()).unwrap();
}

fn archived(root: &Path) -> (usize, usize) {
    let config = ArchiveConfig::new(root);
    let objects = list_objects(&config.root, &config.layout).unwrap();
    let records = objects
        .iter()
        .map(|o| read_object(&o.path).unwrap().len())
        .sum();
    (objects.len(), records)
}

#[test]
fn counters_from_live_traffic_are_rebuilt_identically_by_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let now = Utc::now();
    let (pipeline, _) = LocalPipeline::open(&data).unwrap();
    let n = 300;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let entries: Vec<PutEventsRequestEntry> = chunk
            .iter()
            .map(|&i| PutEventsRequestEntry {
                source: Some("tally".into()),
                detail_type: Some("PageView".into()),
                detail: Some(detail(i, now - Duration::seconds(i as i64 * 7)).to_string()),
                event_bus_name: Some(BUS_NAME.into()),
                ..PutEventsRequestEntry::default()
            })
            .collect();
        let response = pipeline.bus().put_events(&entries).unwrap();
        assert_eq!(response.failed_entry_count, 0);
    }
    pipeline.shutdown().unwrap();
    let live = snapshot(&data);
    assert_eq!(live["dedupe_records"], n);

    wipe_counters(&data);
    let (from, to) = (now.date_naive() - Duration::days(1), now.date_naive());
    let opts = options("rebuild", from, to, false);
    let mut sink = CountersSink::open(&data).unwrap();
    let report = run(&data, &opts, &mut sink, None);
    drop(sink);
    assert!(report.complete);
    assert_eq!(
        (report.sink.delivered, report.sink.duplicates),
        (n as u64, 0)
    );
    assert_eq!(
        snapshot(&data),
        live,
        "the replay rebuilt exactly the live counters"
    );

    // Replaying what the counters have seen changes nothing.
    let mut sink = CountersSink::open(&data).unwrap();
    let again = run(&data, &options("rebuild", from, to, true), &mut sink, None);
    drop(sink);
    assert_eq!(again.sink.delivered, n as u64);
    assert_eq!(again.sink.duplicates, n as u64);
    assert_eq!(snapshot(&data), live);
}

/// 240 events over six hours of 2026-03-07 (and a few of the 6th and 8th, outside the range or
/// not), archived as an import does: each hour's objects in that hour's partition.
fn past_archive(data: &DataDir) -> usize {
    let mut config = ArchiveConfig::new(data.archive());
    config.buffer_bytes = 8 << 10;
    let (archive, _) = Archive::open(config).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 7, 8, 0, 0).unwrap();
    let mut hour = None;
    for i in 0..240 {
        let at = start + Duration::seconds(i as i64 * 90);
        if hour.is_some_and(|h| h != at.hour()) {
            archive.flush().unwrap();
        }
        hour = Some(at.hour());
        archive.append(&envelope(i, at), at).unwrap();
    }
    // One the day before (outside the range) and one just after midnight (inside).
    let before = Utc.with_ymd_and_hms(2026, 3, 6, 23, 59, 0).unwrap();
    archive.append(&envelope(1000, before), before).unwrap();
    archive.flush().unwrap();
    240
}

#[test]
fn an_interrupted_replay_resumes_without_skipping_or_repeating() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let events = past_archive(&data);
    let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();

    let mut sink = CountersSink::open(&data).unwrap();
    let full = run(&data, &options("full", day, day, false), &mut sink, None);
    drop(sink);
    assert_eq!(full.sink.delivered, events as u64);
    assert_eq!(full.events_outside_days, 1);
    let reference = snapshot(&data);

    wipe_counters(&data);
    let opts = options("resumed", day, day, false);
    let mut sink = CountersSink::open(&data).unwrap();
    let first = run(&data, &opts, &mut sink, Some(2));
    drop(sink);
    assert!(!first.complete, "stopped after two partitions");
    assert!(first.sink.delivered > 0 && first.sink.delivered < events as u64);

    let mut sink = CountersSink::open(&data).unwrap();
    let second = run(&data, &opts, &mut sink, None);
    drop(sink);
    assert!(second.complete);
    assert_eq!(
        second.objects_already_replayed, first.objects_replayed,
        "the checkpoint's objects are skipped"
    );
    assert_eq!(
        first.sink.delivered + second.sink.delivered,
        events as u64,
        "nothing skipped"
    );
    assert_eq!(second.sink.duplicates, 0, "nothing delivered twice");
    assert_eq!(snapshot(&data), reference);

    let mut sink = CountersSink::open(&data).unwrap();
    let third = run(&data, &opts, &mut sink, None);
    assert_eq!((third.objects_replayed, third.sink.delivered), (0, 0));
}

#[test]
fn a_replay_through_the_bus_is_counted_and_not_archived_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let events = past_archive(&data);
    let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
    let mut sink = CountersSink::open(&data).unwrap();
    run(&data, &options("direct", day, day, false), &mut sink, None);
    drop(sink);
    let reference = snapshot(&data);
    wipe_counters(&data);

    let before = archived(&data.archive());
    let mut sink = BusSink::open(&data, None).unwrap();
    let report = run(&data, &options("bus", day, day, false), &mut sink, None);
    sink.shutdown().unwrap();
    assert_eq!(report.sink.delivered, events as u64);
    assert_eq!(
        archived(&data.archive()),
        before,
        "replayed events are not archived again"
    );
    assert_eq!(
        snapshot(&data),
        reference,
        "through the bus, the same counters"
    );
}
