//! The local archive writer: layout, buffering, redelivery, recovery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tally_archive::{Appended, Archive, ArchiveConfig, read_object};
use tally_journal::{Durability, Journal, JournalConfig};

fn event(i: usize) -> Value {
    json!({
        "version": "0", "id": format!("00000000-0000-4000-8000-{i:012}"), "detail-type": "PageView",
        "source": "tally", "account": "000000000000", "time": "2026-11-29T06:40:19Z", "region": "local",
        "resources": [], "detail": {"event_id": format!("e{i}"), "path": "/"}
    })
}

fn segment_name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// A buffer as a killed archive leaves it: one batch (`batch ID MILLIS`, then its records).
fn dead_buffer(root: &std::path::Path, records: std::ops::Range<usize>) -> std::path::PathBuf {
    let dir = root.join("_buffer");
    let config = JournalConfig::new(&dir, Durability::PageCache);
    let (journal, _) = Journal::open(config).unwrap();
    let millis = Utc
        .with_ymd_and_hms(2026, 11, 29, 7, 0, 0)
        .unwrap()
        .timestamp_millis();
    journal
        .append(format!("batch dead01 {millis}").as_bytes())
        .unwrap();
    for i in records {
        journal.append(event(i).to_string().as_bytes()).unwrap();
    }
    dir.join(segment_name(0))
}

fn all_records(archive: &Archive) -> Vec<Value> {
    archive
        .objects()
        .unwrap()
        .iter()
        .flat_map(|p| read_object(p).unwrap())
        .collect()
}

#[test]
fn an_object_is_written_when_the_buffer_is_full_under_the_firehose_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ArchiveConfig::new(tmp.path());
    let line = serde_json::to_vec(&event(0)).unwrap().len() + 1;
    config.buffer_bytes = line * 10;
    let (archive, _) = Archive::open(config).unwrap();
    let arrival = Utc.with_ymd_and_hms(2026, 11, 29, 6, 40, 19).unwrap();
    for i in 0..9 {
        assert_eq!(
            archive.append(&event(i), arrival).unwrap(),
            Appended::Written
        );
    }
    assert!(
        archive.objects().unwrap().is_empty(),
        "buffered until 10 records"
    );
    archive
        .append(&event(9), arrival + chrono::Duration::hours(2))
        .unwrap();
    let objects = archive.objects().unwrap();
    assert_eq!(objects.len(), 1);
    let key = objects[0]
        .strip_prefix(tmp.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // The partition is the oldest record's arrival hour.
    assert!(
        key.starts_with(
            "events/year=2026/month=11/day=29/hour=06/tally-archive-1-2026-11-29-06-40-19-"
        ),
        "{key}"
    );
    assert!(key.ends_with(".gz"));
    let records = read_object(&objects[0]).unwrap();
    assert_eq!(
        records,
        (0..10).map(event).collect::<Vec<_>>(),
        "whole envelopes, in order"
    );
    // Nothing is left in the buffer once written.
    drop(archive);
    let buffer = tally_journal::scan(&tmp.path().join("_buffer")).unwrap();
    assert!(buffer.records.is_empty(), "{:?}", buffer.records);
}

#[test]
fn an_object_is_written_when_the_buffer_is_old_enough_and_on_flush() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ArchiveConfig::new(tmp.path());
    config.buffer_interval = Duration::from_millis(30);
    let (archive, _) = Archive::open(config).unwrap();
    archive.append(&event(1), Utc::now()).unwrap();
    assert_eq!(archive.flush_due().unwrap(), None, "not yet due");
    std::thread::sleep(Duration::from_millis(40));
    assert!(archive.flush_due().unwrap().is_some());
    archive.append(&event(2), Utc::now()).unwrap();
    assert!(archive.flush().unwrap().is_some());
    assert_eq!(archive.flush().unwrap(), None, "nothing left");
    assert_eq!(all_records(&archive), vec![event(1), event(2)]);
}

#[test]
fn a_redelivered_event_is_archived_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    assert_eq!(
        archive.append(&event(1), Utc::now()).unwrap(),
        Appended::Written
    );
    assert_eq!(
        archive.append(&event(1), Utc::now()).unwrap(),
        Appended::Duplicate
    );
    archive.flush().unwrap();
    assert_eq!(
        archive.append(&event(1), Utc::now()).unwrap(),
        Appended::Duplicate,
        "across objects too"
    );
    archive.flush().unwrap();
    assert_eq!(all_records(&archive), vec![event(1)]);
}

#[test]
fn a_record_that_is_not_an_event_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    let err = archive
        .append(&json!({"detail": {}}), Utc::now())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an event"), "{err}");
    assert!(archive.append(&json!([1]), Utc::now()).is_err());
}

#[test]
fn the_buffer_files_of_an_older_tally_are_written_out_without_their_torn_line() {
    let tmp = tempfile::tempdir().unwrap();
    let buffer = tmp.path().join("_buffer");
    fs::create_dir_all(&buffer).unwrap();
    let millis = Utc
        .with_ymd_and_hms(2026, 11, 29, 23, 59, 59)
        .unwrap()
        .timestamp_millis();
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&event(i).to_string());
        text.push('\n');
    }
    text.push_str(&event(3).to_string()[..40]); // died mid-line
    fs::write(
        buffer.join(format!("batch-deadbeef000001-{millis}.ndjson")),
        text,
    )
    .unwrap();

    let (archive, recovery) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    assert_eq!(
        (
            recovery.objects_written,
            recovery.records,
            recovery.torn_bytes
        ),
        (1, 3, 40)
    );
    assert_eq!(all_records(&archive), (0..3).map(event).collect::<Vec<_>>());
    assert_eq!(
        archive.append(&event(2), Utc::now()).unwrap(),
        Appended::Duplicate,
        "recovered ids are known"
    );
    assert_eq!(
        archive.append(&event(3), Utc::now()).unwrap(),
        Appended::Written,
        "the torn one was never accepted"
    );
    let key = archive.objects().unwrap()[0]
        .strip_prefix(tmp.path())
        .unwrap()
        .display()
        .to_string();
    assert!(
        key.starts_with("events/year=2026/month=11/day=29/hour=23/"),
        "{key}"
    );
}

#[test]
fn a_buffer_whose_object_was_already_written_is_not_written_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    let arrival = Utc.with_ymd_and_hms(2026, 11, 29, 6, 0, 0).unwrap();
    archive.append(&event(1), arrival).unwrap();
    // Keep a copy of the buffer, flush, then put the copy back: as if the process died between
    // writing the object and acknowledging its batch.
    let buffer = tmp.path().join("_buffer");
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = ["position", &segment_name(0)]
        .iter()
        .map(|n| (buffer.join(n), fs::read(buffer.join(n)).unwrap_or_default()))
        .collect();
    archive.flush().unwrap();
    drop(archive);
    for (path, bytes) in saved {
        fs::write(path, bytes).unwrap();
    }

    let (archive, recovery) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    assert_eq!((recovery.already_written, recovery.objects_written), (1, 0));
    assert_eq!(all_records(&archive), vec![event(1)]);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    first.append(&event(1), Utc::now()).unwrap();
    // Its recovery would take the live writer's buffer file.
    let err = Archive::open(ArchiveConfig::new(tmp.path())).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "locked by another process (pid {})",
            std::process::id()
        )),
        "{message}"
    );
    drop(first);
    let (again, recovery) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    assert_eq!(recovery.records, 0, "the first flushed on drop");
    assert_eq!(all_records(&again).len(), 1);
}

#[test]
fn a_view_run_again_after_a_restart_is_not_archived_again() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (archive, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
        archive.append(&event(1), Utc::now()).unwrap();
        archive.flush().unwrap(); // in an object, no longer in the buffer
    }
    let (archive, _) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    // The same view in a new envelope (the enrichment ran again: a new envelope id).
    let mut again = event(1);
    again["id"] = json!("11111111-1111-4111-8111-111111111111");
    assert_eq!(
        archive.append(&again, Utc::now()).unwrap(),
        Appended::Duplicate
    );
    assert_eq!(
        archive.append(&event(2), Utc::now()).unwrap(),
        Appended::Written
    );
    archive.flush().unwrap();
    assert_eq!(all_records(&archive).len(), 2);
}

#[test]
fn a_torn_last_record_in_the_buffer_was_never_accepted_and_the_rest_is_written_out() {
    let tmp = tempfile::tempdir().unwrap();
    let segment = dead_buffer(tmp.path(), 0..3);
    let mut f = fs::OpenOptions::new().append(true).open(&segment).unwrap();
    std::io::Write::write_all(&mut f, &[99, 0, 0, 0, 1, 1, 1, 1, b'{']).unwrap();
    let (archive, recovery) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    assert_eq!(
        (
            recovery.objects_written,
            recovery.records,
            recovery.torn_bytes
        ),
        (1, 3, 9)
    );
    assert_eq!(all_records(&archive), (0..3).map(event).collect::<Vec<_>>());
    let key = archive.objects().unwrap()[0].display().to_string();
    assert!(
        key.contains("/day=29/hour=07/"),
        "partitioned by the header: {key}"
    );
    assert!(key.contains("dead01"), "named by the header: {key}");
}

#[test]
fn a_damaged_record_in_the_buffer_costs_what_it_hit_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let segment = dead_buffer(tmp.path(), 0..4);
    let mut bytes = fs::read(&segment).unwrap();
    let header = 8 + "batch dead01 1795935600000".len();
    let first = 8 + event(0).to_string().len();
    bytes[header + first + 8 + 5] ^= 0xff; // record 1's payload
    fs::write(&segment, bytes).unwrap();
    let (archive, recovery) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    assert_eq!(
        (recovery.objects_written, recovery.records, recovery.lost),
        (1, 1, 3),
        "record 0 written out; 1 and the two behind it lost, and counted"
    );
    assert_eq!(all_records(&archive), vec![event(0)]);
    assert_eq!(
        archive.append(&event(2), Utc::now()).unwrap(),
        Appended::Written
    );
    drop(archive);
    let (archive, recovery) = Archive::open(ArchiveConfig::new(tmp.path())).unwrap();
    assert_eq!(
        recovery.lost, 0,
        "reported once: the damage is acknowledged"
    );
    assert_eq!(all_records(&archive).len(), 2);
}
