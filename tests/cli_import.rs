//! `tally import cloudfront-logs`, `tally replay` and `tally archive compact` as a user runs them:
//! a second import (another process) adds nothing; malformed lines are reported by file and line;
//! imported views reach the counters by a replay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use chrono::NaiveDate;
use serde_json::Value;
use tally_archive::{ArchiveConfig, list_objects, read_object};
use tally_counters::{Dimension, LocalCounters};

const LEGACY: &str = "producers/logs/fixtures/example-cloudfront-log-legacy.log";
const COUNTRY: &str = "producers/logs/fixtures/example-cloudfront-log-country.log";

fn tally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .current_dir(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn archived_ids(data: &Path) -> Vec<String> {
    let config = ArchiveConfig::new(data.join("archive"));
    let mut ids: Vec<String> = list_objects(&config.root, &config.layout)
        .unwrap()
        .iter()
        .flat_map(|o| read_object(&o.path).unwrap())
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn import_twice_then_replay_into_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    // The legacy file gzipped, as CloudFront delivers it.
    let gz_path = dir.path().join("E2EXAMPLE.2026-03-07-08.a1b2c3d4.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz_path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(
        &std::fs::read(
            Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join(LEGACY),
        )
        .unwrap(),
    )
    .unwrap();
    gz.finish().unwrap();
    let gz_s = gz_path.to_str().unwrap();

    let first = tally(&["import", "cloudfront-logs", gz_s, COUNTRY, "--data", data_s]);
    assert_eq!(first.status.code(), Some(1), "some lines were rejected");
    let report = json(&first);
    assert_eq!(report["files"], 2);
    assert_eq!(report["records"], 14);
    assert_eq!(report["imported"], 7);
    assert_eq!(report["skipped"]["not_a_page"], 2);
    assert_eq!(report["skipped"]["status_4xx"], 1);
    assert_eq!(report["skipped"]["status_5xx"], 1);
    assert_eq!(report["skipped"]["not_get"], 1);
    assert_eq!(report["rejected"]["malformed"], 1);
    assert_eq!(report["rejected"]["bad_time"], 1);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains(&format!("{gz_s}:8: malformed")),
        "the malformed line by file and line number: {stderr}"
    );
    assert!(stderr.contains(&format!("{gz_s}:11: bad_time")), "{stderr}");
    let ids = archived_ids(&data);
    assert_eq!(ids.len(), 7);

    // Another process, the same files: nothing added.
    let second = json(&tally(&[
        "import",
        "cloudfront-logs",
        COUNTRY,
        gz_s,
        "--data",
        data_s,
    ]));
    assert_eq!(second["imported"], 0);
    assert_eq!(second["skipped"]["already_archived"], 7);
    assert_eq!(archived_ids(&data), ids);

    let replayed = tally(&[
        "replay",
        "--from",
        "2026-03-07",
        "--to",
        "2026-03-08",
        "--consumer",
        "counters",
        "--data",
        data_s,
    ]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert_eq!(json(&replayed)["delivered"], 7);
    let counters = LocalCounters::open(data.join("counters.redb")).unwrap();
    let (from, to) = (
        NaiveDate::from_ymd_opt(2026, 3, 7).unwrap(),
        NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
    );
    let site = "www.example.com";
    assert_eq!(counters.total(site, from, to, Dimension::Views).unwrap(), 6);
    assert_eq!(counters.total(site, from, to, Dimension::Bots).unwrap(), 1);
    let countries = counters
        .top(site, from, to, Dimension::Country, 10)
        .unwrap();
    let countries: Vec<(&str, u64)> = countries
        .iter()
        .map(|c| (c.value.as_str(), c.count))
        .collect();
    assert_eq!(
        countries,
        [("DE", 1), ("FR", 1)],
        "unknown countries are not guessed"
    );
    drop(counters);

    // Compaction of an imported day: the same events.
    let compacted = tally(&[
        "archive",
        "compact",
        "--day",
        "2026-03-07",
        "--data",
        data_s,
    ]);
    assert!(
        compacted.status.success(),
        "{}",
        String::from_utf8_lossy(&compacted.stderr)
    );
    assert_eq!(json(&compacted)["objects_after"], 2);
    assert_eq!(archived_ids(&data), ids);
}

#[test]
fn replay_needs_a_target_and_names_unknown_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let none = tally(&[
        "replay",
        "--from",
        "2026-03-07",
        "--to",
        "2026-03-08",
        "--data",
        data,
    ]);
    assert_eq!(none.status.code(), Some(2));
    let unknown = tally(&[
        "replay",
        "--from",
        "2026-03-07",
        "--to",
        "2026-03-08",
        "--consumer",
        "nope",
        "--data",
        data,
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("\"nope\"") && stderr.contains("counters"),
        "{stderr}"
    );
}

#[test]
fn the_three_formats_agree_and_realtime_needs_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let fields = "timestamp,c-ip,sc-status,cs-method,cs-host,cs-uri-stem,x-edge-request-id,cs-user-agent,cs-referer,cs-uri-query,x-edge-result-type,c-country";
    let v2 = dir.path().join("v2");
    let out = tally(&[
        "import",
        "cloudfront-logs",
        "producers/logs/fixtures/example-cloudfront-log-v2.jsonl",
        "--format",
        "v2-json",
        "--data",
        v2.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "two malformed lines");
    assert_eq!(json(&out)["imported"], 4);
    let rt = dir.path().join("rt");
    // One deployment's key: the same request gets the same event id from every format.
    std::fs::create_dir_all(&rt).unwrap();
    std::fs::copy(v2.join("event-id-key"), rt.join("event-id-key")).unwrap();
    let out = tally(&[
        "import",
        "cloudfront-logs",
        "producers/logs/fixtures/example-cloudfront-realtime.log",
        "--format",
        "realtime",
        "--fields",
        fields,
        "--data",
        rt.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "one malformed line");
    assert_eq!(json(&out)["imported"], 4);
    let details = |data: &Path| {
        let config = ArchiveConfig::new(data.join("archive"));
        let mut d: Vec<String> = list_objects(&config.root, &config.layout)
            .unwrap()
            .iter()
            .flat_map(|o| read_object(&o.path).unwrap())
            .map(|e| {
                let mut detail = e["detail"].clone();
                let detail_map = detail.as_object_mut().unwrap();
                detail_map.remove("received_at");
                // Salted by each import's own salt (the fixtures' days are long past).
                let hash = detail_map.remove("visitor_hash");
                assert!(hash.is_some_and(|h| h.is_string()), "no visitor hash: {e}");
                detail.to_string()
            })
            .collect();
        d.sort();
        d
    };
    assert_eq!(
        details(&v2),
        details(&rt),
        "the same requests, the same views"
    );

    let none = tally(&["import", "cloudfront-logs", "x.log", "--format", "realtime"]);
    assert_eq!(none.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(stderr.contains("--fields"), "{stderr}");
    let short = tally(&[
        "import",
        "cloudfront-logs",
        "x.log",
        "--format",
        "realtime",
        "--fields",
        "timestamp",
    ]);
    assert_eq!(short.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("lacks cs-method"), "{stderr}");
}
