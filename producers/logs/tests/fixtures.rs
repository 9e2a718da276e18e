//! The fixture log files, line by line: what is imported, skipped and rejected, and the events
//! are valid v1 page views that look like live ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{TimeZone, Utc};
use tally_logs::{
    ImportConfig, Importer, LogFormat, LogReader, Outcome, RealtimeFields, open, skip_key,
};
use tally_schema::validate::PageViewValidator;

struct Mapped {
    imported: Vec<serde_json::Value>,
    skipped: BTreeMap<String, Vec<usize>>,
    rejected: BTreeMap<String, Vec<usize>>,
    malformed: Vec<usize>,
}

fn map(text: &[u8], site: Option<&str>) -> Mapped {
    map_with(text, site, LogFormat::Standard)
}

fn map_with(text: &[u8], site: Option<&str>, format: LogFormat) -> Mapped {
    let received = Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap();
    let mut importer = Importer::new(ImportConfig::new(site.map(str::to_owned)));
    let mut out = Mapped {
        imported: Vec::new(),
        skipped: BTreeMap::new(),
        rejected: BTreeMap::new(),
        malformed: Vec::new(),
    };
    for line in LogReader::with_format(
        open(std::io::Cursor::new(text.to_vec())).unwrap(),
        format.clone(),
    ) {
        match line {
            Err(m) => out.malformed.push(m.line),
            Ok(line) => match importer.map(&line, received) {
                Outcome::PageView(e) => out.imported.push(serde_json::to_value(e).unwrap()),
                Outcome::Skipped(s) => out
                    .skipped
                    .entry(skip_key(&s))
                    .or_default()
                    .push(line.number),
                Outcome::Rejected { key, .. } => out
                    .rejected
                    .entry(key.into())
                    .or_default()
                    .push(line.number),
            },
        }
    }
    out
}

const LEGACY: &[u8] = include_bytes!("../fixtures/example-cloudfront-log-legacy.log");
const COUNTRY: &[u8] = include_bytes!("../fixtures/example-cloudfront-log-country.log");

#[test]
fn legacy_log_lines() {
    let out = map(LEGACY, None);
    assert_eq!(
        out.malformed,
        vec![8],
        "the cut-short line, by its line number"
    );
    assert_eq!(
        out.rejected,
        BTreeMap::from([("bad_time".into(), vec![11])])
    );
    assert_eq!(
        out.skipped,
        BTreeMap::from([
            ("not_a_page".into(), vec![4]),
            ("not_get".into(), vec![9]),
            ("status_4xx".into(), vec![5]),
        ])
    );
    let paths: Vec<&str> = out
        .imported
        .iter()
        .map(|e| e["detail"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/", "/posts/hello-world/", "/posts/hello-world/", "/"],
        "/index.html is normalised to / as at the edge"
    );
    let first = &out.imported[0]["detail"];
    assert_eq!(first["site"], "www.example.com", "from x-host-header");
    assert_eq!(first["occurred_at"], "2026-03-07T08:15:02.000Z");
    assert_eq!(first["received_at"], "2026-11-29T09:00:00Z");
    assert_eq!(
        first["event_id"],
        "Lg0b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA=="
    );
    assert_eq!(first["browser"], "chrome");
    assert_eq!(first["os"], "windows");
    assert_eq!(first["device"], "desktop");
    assert_eq!(first["referrer_host"], "www.google.com");
    assert!(first.get("country").is_none(), "no c-country: unknown");
    let bot = &out.imported[1]["detail"];
    assert_eq!(bot["is_bot"], true);
    assert_eq!(bot["bot_reason"], "user_agent_pattern");
    let not_modified = &out.imported[2]["detail"];
    assert_eq!(not_modified["is_bot"], false);
    assert_eq!(not_modified["referrer_same_site"], true);
    let campaign = &out.imported[3]["detail"];
    assert_eq!(campaign["utm_campaign"], "spring-launch");
    assert_eq!(campaign["device"], "mobile");
    assert_eq!(campaign["os"], "ios");
}

#[test]
fn country_where_the_log_has_it() {
    let out = map(COUNTRY, Some("example.com"));
    assert!(out.malformed.is_empty() && out.rejected.is_empty());
    assert_eq!(
        out.skipped,
        BTreeMap::from([
            ("not_a_page".into(), vec![6]),
            ("status_5xx".into(), vec![7])
        ])
    );
    let countries: Vec<Option<&str>> = out
        .imported
        .iter()
        .map(|e| e["detail"].get("country").and_then(|c| c.as_str()))
        .collect();
    assert_eq!(countries, [Some("FR"), None, Some("DE")]);
    assert!(
        out.imported
            .iter()
            .all(|e| e["detail"]["site"] == "example.com")
    );
}

#[test]
fn events_are_valid_live_shaped_envelopes() {
    let validator = PageViewValidator::new().unwrap();
    let mut all = map(LEGACY, None).imported;
    all.extend(map(COUNTRY, None).imported);
    assert_eq!(all.len(), 7);
    for event in &all {
        let violations = validator.validate(event);
        assert!(violations.is_empty(), "{event}: {violations:?}");
        assert_eq!(event["version"], "0");
        assert_eq!(event["source"], "tally");
        assert_eq!(event["detail-type"], "PageView");
        assert_eq!(event["time"], "2026-11-29T09:00:00Z");
        assert_eq!(event["detail"]["schema_version"], "1-0-0");
        let text = event.to_string();
        for ip in ["192.0.2.", "198.51.100.", "203.0.113.", "66.249."] {
            assert!(!text.contains(ip), "no client ip in {text}");
        }
        assert!(!text.contains("Mozilla"), "no raw user agent in {text}");
    }
}

#[test]
fn a_second_mapping_gives_the_same_events() {
    let a = map(LEGACY, None).imported;
    let b = map(LEGACY, None).imported;
    assert_eq!(a, b);
    let ids: std::collections::HashSet<&str> =
        a.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), a.len());
}

#[test]
fn gzipped_files_read_the_same() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(LEGACY).unwrap();
    let gzipped = gz.finish().unwrap();
    let plain = map(LEGACY, None);
    let zipped = map(&gzipped, None);
    assert_eq!(plain.imported, zipped.imported);
    assert_eq!(plain.malformed, zipped.malformed);
}

#[test]
fn logs_and_edge_decide_alike() {
    // The same request as an origin-request event and as a log line: one set of rules.
    let event = tally_edge::parse_event(
        r#"{"Records":[{"cf":{"config":{"distributionDomainName":"d111111abcdef8.cloudfront.net","distributionId":"E1","eventType":"origin-request","requestId":"Ut9b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA=="},"request":{"clientIp":"203.0.113.5","headers":{"user-agent":[{"key":"User-Agent","value":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"}],"referer":[{"key":"Referer","value":"https://news.example.org/item?id=1"}]},"method":"GET","querystring":"utm_source=newsletter&utm_medium=email&utm_campaign=spring-launch","uri":"/index.html"}}}]}"#,
    )
    .unwrap();
    let at = Utc.with_ymd_and_hms(2026, 3, 7, 9, 1, 59).unwrap();
    let tally_edge::Decision::PageView(view) = tally_edge::decide(
        event.record().unwrap(),
        &tally_edge::EdgeConfig::new("www.example.com"),
        at,
    ) else {
        panic!("a page view at the edge");
    };
    let edge =
        serde_json::to_value(view.complete(Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap()))
            .unwrap();
    let logs = map(LEGACY, None).imported.remove(3);
    assert_eq!(logs["detail"], edge);
}

const V2_JSON: &[u8] = include_bytes!("../fixtures/example-cloudfront-log-v2.jsonl");
const REALTIME: &[u8] = include_bytes!("../fixtures/example-cloudfront-realtime.log");
const REALTIME_FIELDS: &str = "timestamp,c-ip,sc-status,cs-method,cs-host,cs-uri-stem,x-edge-request-id,cs-user-agent,cs-referer,cs-uri-query,x-edge-result-type,c-country";

fn map_format(text: &[u8], format: LogFormat) -> Mapped {
    map_with(text, None, format)
}

#[test]
fn v2_json_lines() {
    let out = map_format(V2_JSON, LogFormat::V2Json);
    assert_eq!(out.malformed, vec![11, 12], "an array value, not JSON");
    assert!(out.rejected.is_empty());
    assert_eq!(
        out.skipped,
        BTreeMap::from([
            ("not_a_page".into(), vec![5]),
            ("not_get".into(), vec![8, 9]),
            ("status_0xx".into(), vec![10]),
            ("status_3xx".into(), vec![7]),
            ("status_4xx".into(), vec![6]),
        ])
    );
    let first = &out.imported[0]["detail"];
    assert_eq!(
        first["occurred_at"], "2026-03-07T08:15:02.123Z",
        "timestamp(ms)"
    );
    assert_eq!(first["site"], "www.example.com", "x-host-header");
    assert_eq!(first["country"], "FR");
}

#[test]
fn realtime_records_by_their_field_list() {
    let fields = RealtimeFields::parse(REALTIME_FIELDS).unwrap();
    let out = map_format(REALTIME, LogFormat::Realtime(fields));
    assert_eq!(out.malformed, vec![11], "one value short");
    assert!(out.rejected.is_empty());
    assert_eq!(out.skipped.values().map(Vec::len).sum::<usize>(), 6);
    let paths: Vec<&str> = out
        .imported
        .iter()
        .map(|e| e["detail"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/", "/posts/hello-world/", "/", "/about/"]);
    let campaign = &out.imported[2]["detail"];
    assert_eq!(campaign["utm_campaign"], "spring-launch");
    assert_eq!(campaign["occurred_at"], "2026-03-07T08:15:04.250Z");
}

#[test]
fn the_same_requests_in_v2_json_and_realtime_give_the_same_events() {
    let fields = RealtimeFields::parse(REALTIME_FIELDS).unwrap();
    let realtime = map_format(REALTIME, LogFormat::Realtime(fields)).imported;
    let json = map_format(V2_JSON, LogFormat::V2Json).imported;
    assert_eq!(realtime.len(), 4);
    assert_eq!(realtime, json);
}
