//! The fixtures in `fixtures/`: each round-trips, and each has its expected decision in
//! `fixtures/expected/<variant>.json`. Run with `TALLY_EDGE_BLESS=1` to rewrite the expected
//! files after a deliberate change, then review the diff.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::Value;
use tally_edge::{Decision, decide, parse_event};
use tally_schema::validate::PageViewValidator;

use common::*;

const VARIANTS: [&str; 17] = [
    "asset-css",
    "bot",
    "headless",
    "huge-query-string",
    "invalid-viewer-headers",
    "missing-headers",
    "multi-value-headers",
    "non-ascii-uri",
    "page-view",
    "post",
    "prefetch",
    "response-not-found",
    "response-not-modified",
    "response-page-view",
    "same-site-referrer",
    "tablet-mobile-and-tablet",
    "utm",
];

#[test]
fn every_variant_is_there() {
    let found: Vec<String> = fixtures().into_iter().map(|(v, _)| v).collect();
    assert_eq!(found, VARIANTS);
}

#[test]
fn fixtures_round_trip() {
    for (variant, path) in fixtures() {
        let text = read(&path);
        let original: Value = serde_json::from_str(&text).unwrap();
        let event = parse_event(&text).unwrap_or_else(|e| panic!("{variant}: {e}"));
        let serialised = serde_json::to_string(&event).unwrap();
        let reparsed = parse_event(&serialised).unwrap();
        assert_eq!(
            reparsed, event,
            "{variant}: parse → serialise → parse differs"
        );
        let back: Value = serde_json::from_str(&serialised).unwrap();
        assert_eq!(
            back, original,
            "{variant}: the request did not come back unchanged"
        );
    }
}

#[test]
fn decisions_match_expected() {
    let bless = std::env::var_os("TALLY_EDGE_BLESS").is_some();
    for (variant, path) in fixtures() {
        let event = parse_event(&read(&path)).unwrap();
        let decision = decide(event.record().unwrap(), &config(), now());
        let got = serde_json::to_string_pretty(&decision).unwrap() + "\n";
        let expected_path = expected_path(&variant);
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let want: Decision = serde_json::from_str(&read(&expected_path)).unwrap();
        assert_eq!(
            decision,
            want,
            "{variant}: decision differs from {}; got:\n{got}\n(TALLY_EDGE_BLESS=1 rewrites it)",
            expected_path.display()
        );
    }
}

#[test]
fn every_page_view_completes_to_a_valid_v1_detail() {
    let validator = PageViewValidator::new().unwrap();
    let mut views = 0;
    for (variant, path) in fixtures() {
        let event = parse_event(&read(&path)).unwrap();
        let mut config = config();
        for hashed in [false, true] {
            config.visitor_hash = hashed;
            config.visitor_hash_secret = Some(tally_edge::Secret(
                "a test secret of at least 32 bytes!".into(),
            ));
            if let Decision::PageView(view) = decide(event.record().unwrap(), &config, now()) {
                assert_eq!(view.visitor_hash.is_some(), hashed, "{variant}");
                let detail = serde_json::to_value(view.complete(received_at())).unwrap();
                let violations = validator.validate(&detail);
                assert!(
                    violations.is_empty(),
                    "{variant}: {violations:?}\n{detail:#}"
                );
                views += 1;
            }
        }
    }
    assert_eq!(views, 2 * 13);
}

#[test]
fn edge_views_have_the_state_machines_input_shape() {
    let dir = crate_dir().join("../../state-machines/fixtures");
    for name in [
        "example-enrich-input-full.json",
        "example-enrich-input-bot.json",
    ] {
        let path = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let input: Value = serde_json::from_str(&text).unwrap();
        let view: tally_edge::EdgeView = serde_json::from_value(input.clone())
            .unwrap_or_else(|e| panic!("{name} is not an EdgeView: {e}"));
        assert_eq!(serde_json::to_value(&view).unwrap(), input, "{name}");
    }
}
