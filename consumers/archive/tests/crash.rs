//! Kill the writing process mid-write, restart, and count: no accepted record is lost, torn or
//! duplicated.
//!
//! The writer runs in a child process (`tally_journal::kill_test`: this test binary itself, running
//! only `child_writer`). It prints `accepted ID` after each `append` returns. The parent reads
//! those lines, kills the child (SIGKILL) at a different point each round, and starts the next
//! round on the same directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use chrono::Utc;
use serde_json::json;
use tally_archive::{Archive, ArchiveConfig, read_object};
use tally_journal::kill_test;

fn config(root: &Path) -> ArchiveConfig {
    let mut config = ArchiveConfig::new(root);
    config.buffer_bytes = 8 * 1024; // many objects, so kills land in every phase
    config
}

#[test]
#[ignore = "runs only as the child process of killed_writers_lose_nothing"]
fn child_writer() {
    let Some(root) = kill_test::child_dir() else {
        return;
    };
    let round: usize = std::env::var("TALLY_ARCHIVE_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let (archive, _) = Archive::open(config(&root)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let id = format!("r{round}-{i}");
        let event = json!({"version": "0", "id": id, "detail-type": "PageView", "source": "tally",
                           "detail": {"event_id": id, "padding": "x".repeat(i % 200)}});
        archive.append(&event, Utc::now()).unwrap();
        writeln!(out, "accepted {id}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn killed_writers_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let mut accepted = BTreeSet::new();
    for (round, kill_after) in [137usize, 1021, 2, 530, 77].into_iter().enumerate() {
        let round = round.to_string();
        let env = [("TALLY_ARCHIVE_ROUND", round.as_str())];
        let child = kill_test::Child::spawn("child_writer", &root, &env).unwrap();
        accepted.extend(child.kill_after("accepted ", kill_after).unwrap());
    }

    let (archive, recovery) = Archive::open(config(&root)).unwrap();
    archive.flush().unwrap();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for object in archive.objects().unwrap() {
        // Every object decompresses and every line parses: nothing torn.
        for record in read_object(&object).unwrap() {
            *counts
                .entry(record["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    let lost: Vec<_> = accepted
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "lost {} accepted records, e.g. {:?} ({recovery:?})",
        lost.len(),
        lost.first()
    );
    // At most one record per kill was appended but not reported (the parent reads the child's
    // lines wherever libtest's own "test child_writer ... " puts them).
    assert!(
        counts.len() - accepted.len() <= 5,
        "{} unreported records",
        counts.len() - accepted.len()
    );
    // Records archived but never reported were appended after the last line the parent saw
    // from that round (appends are sequential): nothing comes from anywhere else.
    let index = |id: &str| -> (usize, usize) {
        let (round, i) = id
            .trim_start_matches('r')
            .split_once('-')
            .expect("an id the child made");
        (round.parse().expect("round"), i.parse().expect("index"))
    };
    let mut last_reported: HashMap<usize, usize> = HashMap::new();
    for id in &accepted {
        let (round, i) = index(id);
        let last = last_reported.entry(round).or_default();
        *last = (*last).max(i);
    }
    for id in counts.keys().filter(|id| !accepted.contains(*id)) {
        let (round, i) = index(id);
        assert!(round < 5, "{id} was never written by a child");
        assert!(
            i > last_reported.get(&round).copied().unwrap_or_default(),
            "{id} was archived but not reported"
        );
    }
}
