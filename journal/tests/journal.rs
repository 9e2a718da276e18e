//! The journal's promises, through real files: order, acknowledged positions, torn tails,
//! segment removal, the lock, and a writer killed with SIGKILL.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use tally_journal::{Durability, Journal, JournalConfig, JournalError, kill_test};

fn open(dir: &Path) -> (Journal, tally_journal::Opened) {
    Journal::open(JournalConfig::new(dir, Durability::PageCache)).unwrap()
}

/// A journal in `dir` holding `payloads`, closed; the path of its first segment.
fn written(dir: &Path, payloads: &[String]) -> std::path::PathBuf {
    let (journal, _) = open(dir);
    for p in payloads {
        journal.append(p.as_bytes()).unwrap();
    }
    dir.join(format!("{:020}.seg", 0))
}

/// Appends `bytes` to the end of `segment`, as a crash or a writer in progress leaves them.
fn append_raw(segment: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(segment)
        .unwrap();
    f.write_all(bytes).unwrap();
}

fn payloads(records: &[tally_journal::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.payload.clone()).unwrap())
        .collect()
}

#[test]
fn records_come_back_in_order_and_unacknowledged_ones_come_back_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (journal, opened) = open(dir.path());
        assert_eq!(opened.pending, 0);
        for n in 0..5 {
            assert_eq!(journal.append(format!("view-{n}").as_bytes()).unwrap(), n);
        }
        let read = journal.read(3).unwrap();
        assert_eq!(payloads(&read), ["view-0", "view-1", "view-2"]);
        journal.ack(0).unwrap();
        journal.ack(2).unwrap(); // 1 is not done: the position stays at 1
        assert_eq!(journal.unacknowledged(), 4);
        assert_eq!(journal.unread(), 2);
    }
    let (journal, opened) = open(dir.path());
    assert_eq!(opened.pending, 4, "1 to 4 were never acknowledged in order");
    let read = journal.read(10).unwrap();
    assert_eq!(payloads(&read), ["view-1", "view-2", "view-3", "view-4"]);
    assert_eq!(read[0].seq, 1);
    assert_eq!(journal.append(b"view-5").unwrap(), 5, "numbering goes on");
}

#[test]
fn a_torn_last_record_is_cut_and_what_follows_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let views: Vec<String> = (0..3).map(|n| format!("view-{n}")).collect();
    let segment = written(dir.path(), &views);
    // Half a frame: a header that promises 100 bytes, and 10 of them.
    let mut half = 100u32.to_le_bytes().to_vec();
    half.extend_from_slice(&[0; 14]);
    append_raw(&segment, &half);

    let (journal, opened) = open(dir.path());
    assert_eq!(opened.pending, 3);
    assert_eq!(opened.torn_bytes, 18);
    journal.append(b"view-3").unwrap();
    let read = journal.read(10).unwrap();
    assert_eq!(payloads(&read), ["view-0", "view-1", "view-2", "view-3"]);
}

#[test]
fn zeros_a_crash_left_at_the_end_are_a_torn_tail_and_empty_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let views: Vec<String> = (0..3).map(|n| format!("view-{n}")).collect();
    let segment = written(dir.path(), &views);
    // What a file system can leave after power loss: the file longer, the new blocks zeroed.
    append_raw(&segment, &[0; 4096]);

    let (journal, opened) = open(dir.path());
    assert_eq!(
        (opened.pending, opened.torn_bytes, opened.damaged),
        (3, 4096, 0)
    );
    assert!(matches!(journal.append(b""), Err(JournalError::Empty)));
    let batch = journal.append_batch(&[&b"view-3"[..], b""]).unwrap_err();
    assert!(matches!(batch.error, JournalError::Empty), "{batch}");
    assert_eq!(batch.appended, 1);
    let read = journal.read(10).unwrap();
    assert_eq!(payloads(&read), ["view-0", "view-1", "view-2", "view-3"]);
}

#[test]
fn segments_roll_and_are_removed_once_every_record_in_them_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        JournalConfig::new(dir.path(), Durability::Interval(std::time::Duration::ZERO));
    config.segment_bytes = 64;
    let (journal, _) = Journal::open(config).unwrap();
    for n in 0..10 {
        journal.append(format!("view-{n:02}").as_bytes()).unwrap(); // 15-byte frames
    }
    let segments = |dir: &Path| {
        let mut s: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".seg"))
            .collect();
        s.sort();
        s
    };
    assert_eq!(segments(dir.path()).len(), 3, "4 + 4 + 2 records");
    let read = journal.read(10).unwrap();
    assert_eq!(read.len(), 10, "read across segments");
    for r in &read[..5] {
        journal.ack(r.seq).unwrap();
    }
    assert_eq!(
        segments(dir.path()),
        [format!("{:020}.seg", 4), format!("{:020}.seg", 8)]
    );
    for r in &read[5..] {
        journal.ack(r.seq).unwrap();
    }
    assert_eq!(
        segments(dir.path()),
        [format!("{:020}.seg", 8)],
        "the writer's stays"
    );
    assert_eq!(journal.unacknowledged(), 0);
}

#[test]
fn a_batch_is_appended_in_order_across_segments_and_numbered_like_single_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = JournalConfig::new(dir.path(), Durability::PageCache);
    config.segment_bytes = 64;
    let (journal, _) = Journal::open(config).unwrap();
    assert_eq!(journal.append(b"view-00").unwrap(), 0);
    let batch: Vec<String> = (1..10).map(|n| format!("view-{n:02}")).collect();
    assert_eq!(
        journal.append_batch(&batch).unwrap(),
        1,
        "the first gets the next number"
    );
    assert_eq!(
        journal.append(b"view-10").unwrap(),
        10,
        "and the others follow it"
    );
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert_eq!(
        segments, 3,
        "4 + 4 + 3 records of 15 bytes in 64-byte segments"
    );
    let read = journal.read(20).unwrap();
    let expected: Vec<String> = (0..11).map(|n| format!("view-{n:02}")).collect();
    assert_eq!(payloads(&read), expected);
    assert!(read.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    drop(journal);
    let (journal, opened) = open(dir.path());
    assert_eq!(
        (opened.pending, opened.torn_bytes),
        (11, 0),
        "whole frames on disk"
    );
    assert_eq!(payloads(&journal.read(20).unwrap()), expected);
}

#[test]
fn a_batch_that_fails_part_way_says_how_many_were_appended() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path());
    let huge = vec![b'x'; tally_journal::MAX_RECORD + 1];
    let batch = [
        b"view-0".to_vec(),
        b"view-1".to_vec(),
        huge,
        b"view-3".to_vec(),
    ];
    let e = journal.append_batch(&batch).unwrap_err();
    assert_eq!(e.appended, 2);
    assert!(matches!(e.error, JournalError::TooLarge(_)), "{e}");
    assert_eq!(payloads(&journal.read(10).unwrap()), ["view-0", "view-1"]);
    assert_eq!(
        journal.append(b"view-4").unwrap(),
        2,
        "nothing else was numbered"
    );
}

#[test]
fn damage_inside_a_segment_is_reported_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut c = JournalConfig::new(dir.path(), Durability::PageCache);
        c.segment_bytes = 64;
        c
    };
    {
        let (journal, _) = Journal::open(config()).unwrap();
        for n in 0..8 {
            journal.append(format!("view-{n:02}").as_bytes()).unwrap();
        }
    }
    // Flip a payload byte of record 1 (the first segment holds 0..4).
    let first = dir.path().join(format!("{:020}.seg", 0));
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[15 + 8] ^= 0xff;
    std::fs::write(&first, bytes).unwrap();

    let (journal, _) = Journal::open(config()).unwrap();
    let read = journal.read(10).unwrap();
    assert_eq!(payloads(&read), ["view-00"], "up to the damage");
    journal.ack(0).unwrap();
    match journal.read(10) {
        Err(JournalError::Damaged { skipped, .. }) => assert_eq!(skipped, 3),
        other => panic!("expected damage, got {other:?}"),
    }
    let rest = journal.read(10).unwrap();
    assert_eq!(
        payloads(&rest),
        ["view-04", "view-05", "view-06", "view-07"]
    );
    for r in &rest {
        journal.ack(r.seq).unwrap();
    }
    assert_eq!(
        journal.unacknowledged(),
        0,
        "the lost records do not hold the position"
    );
}

#[test]
fn a_second_process_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let (_journal, _) = open(dir.path());
    // flock is per open file description: a second open in this process is refused as well.
    match Journal::open(JournalConfig::new(dir.path(), Durability::PageCache)) {
        Err(e @ JournalError::Locked { pid, .. }) => {
            assert_eq!(pid, Some(std::process::id()));
            assert!(
                e.to_string().contains("is locked by another process (pid "),
                "{e}"
            );
        }
        other => panic!("expected a lock error, got {other:?}"),
    }
}

/// Not a test on its own: the writer `a_writer_killed_with_sigkill_loses_no_acknowledged_append`
/// runs in a child process and kills.
#[test]
#[ignore = "run by a_writer_killed_with_sigkill_loses_no_acknowledged_append"]
fn sigkill_child() {
    let Some(dir) = kill_test::child_dir() else {
        return;
    };
    let (journal, _) = open(&dir);
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let seq = journal
            .append(format!("view-{n}").repeat(20).as_bytes())
            .unwrap();
        writeln!(out, "appended {seq}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_writer_killed_with_sigkill_loses_no_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = 0u64;
    for round in 0..3 {
        let child = kill_test::Child::spawn("sigkill_child", dir.path(), &[]).unwrap();
        let reported = child.kill_after("appended ", 2000).unwrap();
        let last: u64 = reported.last().unwrap().parse().unwrap();
        acknowledged = acknowledged.max(last + 1);
        let (journal, opened) = open(dir.path());
        assert!(
            opened.pending >= acknowledged,
            "round {round}: {} records survive, {acknowledged} were acknowledged",
            opened.pending
        );
        let mut seen = 0;
        loop {
            let read = journal.read(1000).unwrap();
            if read.is_empty() {
                break;
            }
            for r in &read {
                assert_eq!(r.seq, seen, "no gap, no repeat");
                assert!(
                    String::from_utf8(r.payload.clone())
                        .unwrap()
                        .starts_with("view-")
                );
                seen += 1;
            }
        }
        assert!(seen >= acknowledged);
    }
}

/// The position the position file holds (its first 8 bytes; the last 4 are a checksum).
fn position_on_disk(dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(dir.join("position")).unwrap();
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().unwrap()))
}

#[test]
fn with_interval_durability_the_syncer_writes_the_position_without_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let every = std::time::Duration::from_millis(20);
    let (journal, _) =
        Journal::open(JournalConfig::new(dir.path(), Durability::Interval(every))).unwrap();
    for n in 0..4 {
        journal.append(format!("view-{n}").as_bytes()).unwrap();
    }
    for r in journal.read(3).unwrap() {
        journal.ack(r.seq).unwrap();
    }
    // Nothing else is appended or read: only the syncer can write the position now.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while position_on_disk(dir.path()) != Some(3) {
        assert!(
            std::time::Instant::now() < deadline,
            "the position file still says {:?} after 5 s",
            position_on_disk(dir.path())
        );
        std::thread::sleep(every);
    }
}

#[test]
fn damage_in_the_last_segment_is_left_in_place_reported_and_appended_after() {
    let dir = tempfile::tempdir().unwrap();
    let views: Vec<String> = (0..4).map(|n| format!("view-{n:02}")).collect();
    let first = written(dir.path(), &views);
    // Flip a payload byte of record 1 (frames of 8 + 7 bytes).
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[15 + 8] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();

    let (journal, opened) = open(dir.path());
    assert_eq!(
        opened.torn_bytes, 0,
        "damage is not a torn tail: nothing cut"
    );
    assert_eq!(
        opened.damaged, 3,
        "the damaged record and the two behind it"
    );
    assert_eq!(std::fs::read(&first).unwrap(), bytes, "left as it was");
    assert_eq!(
        journal.append(b"view-after").unwrap(),
        4,
        "numbered after the loss"
    );
    let scan = tally_journal::scan(dir.path()).unwrap();
    assert_eq!(payloads(&scan.records), ["view-00", "view-after"]);
    assert!(
        matches!(scan.damage[..], [JournalError::Damaged { skipped: 3, .. }]),
        "{:?}",
        scan.damage
    );
    assert_eq!(payloads(&journal.read(10).unwrap()), ["view-00"]);
    assert!(matches!(
        journal.read(10),
        Err(JournalError::Damaged { skipped: 3, .. })
    ));
    assert_eq!(payloads(&journal.read(10).unwrap()), ["view-after"]);
}

#[test]
fn a_scan_reads_beside_the_writer_without_its_lock_and_skips_what_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path());
    for n in 0..3 {
        journal.append(format!("view-{n}").as_bytes()).unwrap();
    }
    journal.ack(0).unwrap();
    journal.sync().unwrap();
    // A torn append in progress at the tail is not read, and not cut: the writer owns the file.
    let segment = dir.path().join(format!("{:020}.seg", 0));
    let before = std::fs::metadata(&segment).unwrap().len();
    append_raw(&segment, &[9, 0, 0, 0, 1, 2]);
    let scan = tally_journal::scan(dir.path()).unwrap();
    assert_eq!(payloads(&scan.records), ["view-1", "view-2"]);
    assert!(scan.damage.is_empty());
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), before + 6);
    let missing = tally_journal::scan(&dir.path().join("none")).unwrap();
    assert!(missing.records.is_empty() && !dir.path().join("none").exists());
}

#[test]
fn line_files_are_imported_once_in_order_without_their_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&a, "one\n\ntwo\n").unwrap();
    std::fs::write(&b, "three\nfou").unwrap();
    let journal_dir = dir.path().join("j");
    let files = [a.clone(), b.clone(), dir.path().join("missing.jsonl")];
    let imported = tally_journal::import_lines(&journal_dir, &files).unwrap();
    assert_eq!(
        imported,
        tally_journal::Imported {
            records: 3,
            files: 2,
            torn_bytes: 3
        }
    );
    assert!(!a.exists() && !b.exists() && !journal_dir.join(".import").exists());
    let (journal, opened) = open(&journal_dir);
    assert_eq!(opened.pending, 3);
    assert_eq!(
        payloads(&journal.read(10).unwrap()),
        ["one", "two", "three"]
    );
    journal.append(b"four").unwrap();
    drop(journal);
    // A file left beside a journal with records was imported by a process killed before it
    // removed the file: removed, not imported again.
    std::fs::write(&a, "one\n").unwrap();
    let again = tally_journal::import_lines(&journal_dir, std::slice::from_ref(&a)).unwrap();
    assert_eq!((again.records, again.files), (0, 1));
    assert!(!a.exists());
    let scan = tally_journal::scan(&journal_dir).unwrap();
    assert_eq!(payloads(&scan.records), ["one", "two", "three", "four"]);
}

#[test]
fn a_lock_released_here_is_not_kept_by_a_child_another_thread_starts() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::process::Command::new("true").status().ok();
            }
        })
    };
    for _ in 0..300 {
        let (journal, _) = open(dir.path());
        drop(journal);
    }
    stop.store(true, Ordering::Relaxed);
    spawner.join().unwrap();
}

/// Sets the last-written time of every segment in `dir` whose base is below `below` to `at`.
fn age_segments(dir: &Path, below: u64, at: std::time::SystemTime) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let base = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok());
        if base.is_some_and(|b| b < below) {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            file.set_modified(at).unwrap();
        }
    }
}

#[test]
fn retention_expires_the_segments_last_written_before_the_cutoff() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let mut config = JournalConfig::new(dir.path(), Durability::PageCache);
    config.segment_bytes = 64;
    let (journal, _) = Journal::open(config.clone()).unwrap();
    for n in 0..10 {
        journal.append(format!("view-{n:02}").as_bytes()).unwrap(); // 4 + 4 + 2 records
    }
    let (week_ago, day_ago) = (
        SystemTime::now() - Duration::from_secs(7 * 86_400),
        SystemTime::now() - Duration::from_secs(86_400),
    );
    // The first two segments are a week old; the writer's is new.
    age_segments(dir.path(), 8, week_ago);
    assert_eq!(journal.expire_before(day_ago).unwrap(), 8);
    assert_eq!(journal.unacknowledged(), 2);
    assert_eq!(payloads(&journal.read(10).unwrap()), ["view-08", "view-09"]);
    assert_eq!(
        journal.expire_before(day_ago).unwrap(),
        0,
        "nothing else is old"
    );
    // Now the writer's segment is old too: it is closed, and its records expire.
    age_segments(dir.path(), u64::MAX, week_ago);
    assert_eq!(journal.expire_before(day_ago).unwrap(), 2);
    assert_eq!(journal.unacknowledged(), 0);
    assert!(journal.read(10).unwrap().is_empty());
    journal.append(b"view-10").unwrap();
    drop(journal);
    let (journal, opened) = Journal::open(config).unwrap();
    assert_eq!(opened.pending, 1, "only the new record is left");
    assert_eq!(payloads(&journal.read(10).unwrap()), ["view-10"]);
}
