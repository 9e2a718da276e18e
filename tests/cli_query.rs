//! `tally query` over a local archive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use chrono::Utc;
use serde_json::{Value, json};
use tally_archive::{Archive, ArchiveConfig};

fn archive_with(dir: &std::path::Path, paths: &[&str]) {
    let (archive, _) = Archive::open(ArchiveConfig::new(dir.join("archive"))).unwrap();
    for (i, path) in paths.iter().enumerate() {
        let detail = json!({"event_id": format!("e{i}"), "schema_version": "1-0-0", "site": "www.example.com",
            "path": path, "occurred_at": "2026-11-29T06:40:19.123Z", "received_at": "2026-11-29T06:40:19.180Z",
            "device": "desktop", "os": "linux", "browser": "firefox", "is_bot": false, "referrer_same_site": false});
        let event = json!({"version": "0", "id": format!("id{i}"), "detail-type": "PageView", "source": "tally",
            "account": "000000000000", "time": "2026-11-29T06:40:19Z", "region": "local", "resources": [], "detail": detail});
        archive.append(&event, Utc::now()).unwrap();
    }
    archive.flush().unwrap();
}

fn tally(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn named_queries_run_over_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    archive_with(tmp.path(), &["/", "/about", "/about"]);
    let data = tmp.path().to_str().unwrap();
    let (code, out, err) = tally(&[
        "query",
        "--named",
        "top_pages",
        "--data",
        data,
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["page"], "/about");
    assert_eq!(rows[0]["views"], 2);
    assert_eq!(rows[1]["views"], 1);

    let (code, out, _) = tally(&[
        "query",
        "SELECT count(*) AS n FROM page_views",
        "--data",
        data,
        "--format",
        "csv",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "n\n3\n");

    let (code, out, _) = tally(&["query", "--named", "countries", "--data", data]);
    assert_eq!(code, Some(0));
    assert!(out.lines().next().unwrap().starts_with("country"), "{out}");
    assert!(out.contains("unknown"), "{out}");
}

#[test]
fn unknown_names_missing_archives_and_bad_sql_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    let (code, _, err) = tally(&["query", "--named", "top_pages", "--data", data]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no archive at"), "{err}");

    archive_with(tmp.path(), &["/"]);
    let (code, _, err) = tally(&["query", "--named", "nope", "--data", data]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no named query \"nope\"") && err.contains("top_pages"),
        "{err}"
    );
    let (code, _, err) = tally(&["query", "SELEC oops", "--data", data]);
    assert_eq!(code, Some(2));
    assert!(!err.is_empty());
}
