#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::SystemTime;

use chrono::{NaiveDate, TimeZone};
use serde_json::json;
use tally_archive::{Archive, list_objects};
use tally_bus::local::JsonJournal;
use tally_counters::CountedView;

use super::*;

/// `days` ago, at 10:00 UTC (the journal's segments carry real times, so everything does).
fn ago(days: i64) -> DateTime<Utc> {
    let day = (Utc::now() - Duration::days(days)).date_naive();
    Utc.from_utc_datetime(&day.and_hms_opt(10, 0, 0).expect("a time"))
}

/// Sets the last-written time of every segment under `dir` to `when`.
fn age(dir: &std::path::Path, when: SystemTime) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "seg") {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            file.set_modified(when).expect("set the time");
        }
    }
}

#[test]
fn everything_older_than_the_retention_goes_and_the_rest_stays() {
    let root = tempfile::tempdir().expect("a temp dir");
    let data = DataDir::new(root.path());
    let now = Utc::now();
    // The archive: an object of 30 days ago, one of 5 days ago.
    let (archive, _) = Archive::open(ArchiveConfig::new(data.archive())).expect("open");
    for (id, days) in [("old", 30), ("new", 5)] {
        archive
            .append(&json!({"id": id, "detail": {}}), ago(days))
            .expect("append");
        archive.flush().expect("flush");
    }
    drop(archive);
    // The counters: a view of 30 days ago, one of 5 days ago.
    let counters = LocalCounters::open(data.counters()).expect("open");
    for (id, days) in [("old", 30), ("new", 5)] {
        let detail = json!({
            "event_id": id, "schema_version": "1-0-0", "site": "example.com", "path": "/",
            "occurred_at": ago(days).to_rfc3339(), "received_at": ago(days).to_rfc3339(),
            "device": "desktop", "os": "linux", "browser": "firefox", "is_bot": false,
            "referrer_same_site": false,
        });
        counters
            .apply_at(
                &CountedView::from_detail(&detail).expect("a view"),
                ago(days),
            )
            .expect("apply");
    }
    drop(counters);
    // A dead letter written a month ago, and one written now.
    let dead = data.dead_letters().join("counters-page-views");
    let journal = JsonJournal::open(&dead).expect("open");
    journal.append(&json!({"reason": "old"})).expect("append");
    drop(journal);
    age(&dead, SystemTime::from(ago(30)));

    let report = prune(&data, 10, now).expect("prune");
    assert_eq!(report.archive_objects, 1);
    assert!(report.counter_rows > 0);
    assert_eq!(report.dead_letters, 1);

    let config = ArchiveConfig::new(data.archive());
    let left: Vec<NaiveDate> = list_objects(&config.root, &config.layout)
        .expect("list")
        .iter()
        .map(|o| o.hour.date_naive())
        .collect();
    assert_eq!(left, [ago(5).date_naive()]);
    let counters = LocalCounters::open(data.counters()).expect("open");
    let days: std::collections::BTreeSet<String> = counters
        .counters()
        .expect("counters")
        .into_iter()
        .map(|c| c.day)
        .collect();
    assert_eq!(days, [ago(5).date_naive().to_string()].into());
    drop(counters);
    let journal = JsonJournal::open(&dead).expect("open");
    journal.append(&json!({"reason": "new"})).expect("append");
    drop(journal);
    let again = prune(&data, 10, now).expect("prune");
    assert_eq!(
        (again.archive_objects, again.dead_letters),
        (0, 0),
        "what is inside the retention stays"
    );
    assert_eq!(tally_journal::scan(&dead).expect("scan").records.len(), 1);
    assert!(
        prune(&data, 0, now).is_err(),
        "a retention of 0 days is refused"
    );
}
