//! Any bytes: if they parse as a CloudFront request event, the core decides without panicking,
//! the request serialises back to exactly the JSON it came from, and a page view completes to a
//! valid v1 detail.
#![no_main]

use std::sync::LazyLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tally_edge::{Decision, EdgeConfig, Secret, decide, parse_event_slice};
use tally_schema::validate::PageViewValidator;

static VALIDATOR: LazyLock<PageViewValidator> =
    LazyLock::new(|| PageViewValidator::new().expect("the schema compiles"));

static CONFIG: LazyLock<EdgeConfig> = LazyLock::new(|| {
    let mut c = EdgeConfig::new("www.example.com");
    c.site_aliases = vec!["example.com".into()];
    c.visitor_hash = true;
    c.visitor_hash_secret = Some(Secret("0123456789abcdef0123456789abcdef".into()));
    c
});

fuzz_target!(|data: &[u8]| {
    let Ok(event) = parse_event_slice(data) else {
        return;
    };
    let original: Value = serde_json::from_slice(data).expect("parsed as an event, so as json");
    assert_eq!(serde_json::to_value(&event).expect("serialises"), original);
    let now = Utc
        .timestamp_millis_opt(1_795_934_419_123)
        .single()
        .expect("valid time");
    for record in &event.records {
        if let Decision::PageView(view) = decide(record, &CONFIG, now) {
            let detail = serde_json::to_value(view.complete(now)).expect("serialises");
            let violations = VALIDATOR.validate(&detail);
            assert!(violations.is_empty(), "{violations:?}");
        }
    }
});
