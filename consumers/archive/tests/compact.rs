//! Compaction: fewer objects, the same records (by count and by content hash), atomically.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use tally_archive::{
    Archive, ArchiveConfig, COMPACT_DIR, CompactOptions, compact_day, list_objects, read_object,
};

fn event(i: usize, at: DateTime<Utc>) -> Value {
    json!({
        "version": "0", "id": format!("00000000-0000-4000-8000-{i:012}"), "detail-type": "PageView",
        "source": "tally", "account": "000000000000", "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "local", "resources": [],
        "detail": {"event_id": format!("e{i}"), "path": format!("/p{}", i % 7), "occurred_at": at.to_rfc3339()}
    })
}

/// 300 events over two days, 5 hours each day, written 10 records to an object.
fn archive(root: &Path) -> ArchiveConfig {
    let mut config = ArchiveConfig::new(root);
    config.buffer_bytes = serde_json::to_vec(&event(0, Utc::now())).unwrap().len() * 10;
    let (archive, _) = Archive::open(config.clone()).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 7, 8, 0, 0).unwrap();
    for i in 0..300 {
        let day = i / 150;
        let at = start + Duration::days(day as i64) + Duration::seconds((i % 150) as i64 * 100);
        archive.append(&event(i, at), at).unwrap();
    }
    archive.flush().unwrap();
    config
}

/// Records of a day: (count, hash of the sorted lines, hash of the lines in key order).
fn records(config: &ArchiveConfig, day: NaiveDate) -> (usize, u64, u64, usize) {
    let objects: Vec<_> = list_objects(&config.root, &config.layout)
        .unwrap()
        .into_iter()
        .filter(|o| o.hour.date_naive() == day)
        .collect();
    let lines: Vec<String> = objects
        .iter()
        .flat_map(|o| read_object(&o.path).unwrap())
        .map(|v| v.to_string())
        .collect();
    let mut ordered = DefaultHasher::new();
    lines.hash(&mut ordered);
    let mut sorted_lines = lines.clone();
    sorted_lines.sort();
    let mut sorted = DefaultHasher::new();
    sorted_lines.hash(&mut sorted);
    (
        lines.len(),
        sorted.finish(),
        ordered.finish(),
        objects.len(),
    )
}

fn options() -> CompactOptions {
    CompactOptions {
        now: Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).unwrap(),
        ..CompactOptions::default()
    }
}

#[test]
fn compaction_keeps_every_record_in_fewer_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let config = archive(tmp.path());
    let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
    let other = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
    let (count, sorted, ordered, objects) = records(&config, day);
    let untouched = records(&config, other);
    // Objects are keyed by their oldest record: one may also hold the next day's first records.
    assert!(count >= 150, "{count}");
    assert!(objects >= 10, "small objects to begin with: {objects}");
    let hours: std::collections::BTreeSet<_> = list_objects(&config.root, &config.layout)
        .unwrap()
        .into_iter()
        .filter(|o| o.hour.date_naive() == day)
        .map(|o| o.hour)
        .collect();
    assert!(hours.len() >= 3 && hours.len() < objects);

    let report = compact_day(&config, day, &options()).unwrap();
    assert_eq!(report.objects_before, objects);
    assert_eq!(report.partitions, hours.len());
    assert_eq!(report.objects_after, hours.len(), "one object per hour");
    assert_eq!(report.records, count);

    let after = records(&config, day);
    assert_eq!(
        after,
        (count, sorted, ordered, hours.len()),
        "same records, same order"
    );
    assert_eq!(
        records(&config, other),
        untouched,
        "another day is not touched"
    );
    let staging = tmp.path().join(COMPACT_DIR);
    assert!(fs::read_dir(&staging).map_or(true, |mut d| d.next().is_none()));

    // Again: nothing to merge, nothing changes.
    let again = compact_day(&config, day, &options()).unwrap();
    assert_eq!((again.compacted, again.objects_after), (0, hours.len()));
    assert_eq!(records(&config, day), after);
}

#[test]
fn objects_are_split_at_the_target_size() {
    let tmp = tempfile::tempdir().unwrap();
    let config = archive(tmp.path());
    let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
    let before = records(&config, day);
    let line = serde_json::to_vec(&event(0, Utc::now())).unwrap().len();
    let options = CompactOptions {
        target_bytes: line * 25,
        ..options()
    };
    let report = compact_day(&config, day, &options).unwrap();
    assert!(report.compacted > 0 && report.objects_after < before.3);
    assert!(
        report.objects_after > report.partitions,
        "split: {report:?}"
    );
    let after = records(&config, day);
    assert_eq!((after.0, after.1, after.2), (before.0, before.1, before.2));
}

#[test]
fn a_day_that_is_not_over_or_has_buffered_records_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = archive(tmp.path());
    let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
    let before = records(&config, day);
    let today = CompactOptions {
        now: Utc.with_ymd_and_hms(2026, 3, 7, 23, 0, 0).unwrap(),
        ..CompactOptions::default()
    };
    let err = compact_day(&config, day, &today).unwrap_err().to_string();
    assert!(err.contains("is not over"), "{err}");

    // A writer holding records of the day in its buffer (never flushed: forgotten, not dropped).
    let (writer, _) = Archive::open(config.clone()).unwrap();
    writer
        .append(
            &event(999, Utc.with_ymd_and_hms(2026, 3, 7, 9, 0, 0).unwrap()),
            Utc.with_ymd_and_hms(2026, 3, 7, 9, 0, 0).unwrap(),
        )
        .unwrap();
    let err = compact_day(&config, day, &options())
        .unwrap_err()
        .to_string();
    assert!(err.contains("buffer"), "{err}");
    assert_eq!(records(&config, day), before, "nothing changed");
    drop(writer);
}

#[test]
fn leftovers_of_an_interrupted_compaction_are_removed_and_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let config = archive(tmp.path());
    let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
    let before = records(&config, day);
    // A killed compaction leaves a staging directory (here, a copy of an object): not listed.
    let staging = tmp.path().join(COMPACT_DIR).join("2026-03-07-08");
    fs::create_dir_all(&staging).unwrap();
    let some = list_objects(&config.root, &config.layout)
        .unwrap()
        .remove(0);
    fs::copy(&some.path, staging.join("x.gz")).unwrap();
    assert_eq!(records(&config, day), before);
    let report = compact_day(&config, day, &options()).unwrap();
    assert_eq!(report.leftovers_removed, 1);
    let after = records(&config, day);
    assert_eq!((after.0, after.1), (before.0, before.1));
}
