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
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
    let live = json!({"id": "live-1", "detail": {
        "event_id": "Lg0b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA=="}});
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
