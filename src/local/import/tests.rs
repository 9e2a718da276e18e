//! The import's archive side: what counts as archived already, and that views reach the archive
//! as they are read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use serde_json::json;
use tally_archive::{Archive, ArchiveConfig, list_objects, read_object};
use tally_logs::{ImportConfig, LogFormat};

use super::{ImportReport, import_cloudfront_logs};
use crate::local::DataDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("producers/logs/fixtures")
        .join(name)
}

fn archived(data: &DataDir) -> usize {
    let config = ArchiveConfig::new(data.archive());
    list_objects(&config.root, &config.layout)
        .unwrap()
        .iter()
        .map(|o| read_object(&o.path).unwrap().len())
        .sum()
}

#[test]
fn a_view_archived_days_after_it_happened_is_not_imported_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    // Live, the view of 2026-03-07 08:15 arrived five days late (a spool caught up): the archive
    // holds it under the partition of its arrival.
    let (archive, _) = Archive::open(ArchiveConfig::new(data.archive())).unwrap();
    // Its event id is the request id keyed by the data directory's key, as every producer
    // here keys it.
    let key = data.event_id_key().unwrap();
    let event_id = tally_edge::keyed_event_id(
        key.0.as_bytes(),
        "Lg0b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA==",
    );
    let live = json!({"id": "live-1", "detail": {"event_id": event_id}});
    let arrival = Utc.with_ymd_and_hms(2026, 3, 12, 9, 0, 0).unwrap();
    archive.append(&live, arrival).unwrap();
    archive.flush().unwrap();
    drop(archive);
    let report = import_cloudfront_logs(
        &[fixture("example-cloudfront-log-legacy.log")],
        &LogFormat::Standard,
        ImportConfig::new(None),
        &data,
        Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        report.skipped.get("already_archived"),
        Some(&1),
        "{report:?}"
    );
    assert_eq!(report.imported, 3);
}

#[test]
fn each_files_views_are_in_the_archive_before_the_next_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let mut seen = Vec::new();
    let mut progress = |r: &ImportReport| seen.push((r.imported, archived(&data)));
    let files = [
        fixture("example-cloudfront-log-legacy.log"),
        fixture("example-cloudfront-log-country.log"),
    ];
    let report = import_cloudfront_logs(
        &files,
        &LogFormat::Standard,
        ImportConfig::new(None),
        &DataDir::new(dir.path()),
        Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap(),
        &mut progress,
    )
    .unwrap();
    assert_eq!(seen, [(4, 4), (7, 7)]);
    assert_eq!(report.imported, 7);
}

#[test]
fn imported_views_have_keyed_ids_and_visitors_of_a_daily_salt() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let log = fixture("example-cloudfront-log-legacy.log");
    let report = import_cloudfront_logs(
        std::slice::from_ref(&log),
        &LogFormat::Standard,
        ImportConfig::new(None),
        &data,
        Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.imported, 4);
    let text = std::fs::read_to_string(&log).unwrap();
    let request_ids: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').nth(14))
        .collect();
    assert!(!request_ids.is_empty());
    let config = ArchiveConfig::new(data.archive());
    for object in list_objects(&config.root, &config.layout).unwrap() {
        for event in read_object(&object.path).unwrap() {
            let detail = &event["detail"];
            let id = detail["event_id"].as_str().unwrap();
            assert!(id.starts_with(tally_edge::event_id::PREFIX), "{id}");
            assert!(detail["visitor_hash"].is_string(), "{detail}");
            let json = event.to_string();
            for raw in &request_ids {
                assert!(!json.contains(raw), "request id {raw} in {json}");
            }
        }
    }
    // The log's days are long past: their salts were this import's only.
    assert_eq!(
        std::fs::read_dir(dir.path().join("salts")).unwrap().count(),
        0
    );
}
