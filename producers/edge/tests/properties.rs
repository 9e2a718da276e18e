//! Properties over arbitrary records: the core never panics, the request always comes back
//! unchanged, and every page view it makes is a valid v1 detail once completed.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tally_edge::{Decision, Secret, decide, parse_event, parse_event_slice};
use tally_schema::validate::PageViewValidator;

static VALIDATOR: LazyLock<PageViewValidator> = LazyLock::new(|| PageViewValidator::new().unwrap());

/// Header names: some CloudFront knows, some arbitrary.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "user-agent",
            "referer",
            "accept-language",
            "purpose",
            "sec-purpose",
            "cloudfront-viewer-country",
            "cloudfront-viewer-country-region",
            "cloudfront-viewer-city",
            "cloudfront-viewer-time-zone",
            "cloudfront-is-mobile-viewer",
            "cloudfront-is-tablet-viewer",
            "cloudfront-is-desktop-viewer",
            "cloudfront-is-smarttv-viewer",
            "cloudfront-is-ios-viewer",
            "cloudfront-is-android-viewer",
            "x-bot",
        ])
        .prop_map(String::from),
        any::<String>(),
    ]
}

/// Header values: plausible ones and arbitrary strings.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "true",
            "false",
            "FR",
            "fr",
            "IDF",
            "Paris",
            "Europe/Paris",
            "prefetch",
            "https://www.example.com/a?b",
            "https://example.com",
            "en-GB,en;q=0.8",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1",
            "Googlebot/2.1",
            "",
        ])
        .prop_map(String::from),
        any::<String>(),
        "[ -~]{0,300}",
    ]
}

fn header_entry() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(any::<String>()),
        header_value(),
        any::<bool>(),
    )
        .prop_map(|(key, value, extra)| {
            let mut m = Map::new();
            if let Some(k) = key {
                m.insert("key".into(), Value::String(k));
            }
            m.insert("value".into(), Value::String(value));
            if extra {
                m.insert("extra".into(), json!({"n": 1.5, "l": [null, true]}));
            }
            Value::Object(m)
        })
}

fn uri() -> impl Strategy<Value = String> {
    prop_oneof![
        "(/[a-zA-Z0-9%.é日_-]{0,12}){0,6}/?",
        any::<String>(),
        Just("/index.html".to_owned()),
        Just("/a.css".to_owned()),
    ]
}

fn querystring() -> impl Strategy<Value = String> {
    prop_oneof![
        "((utm_(source|medium|campaign|term|content)|x|utm%5Fsource)=[a-zA-Z0-9%+é&=]{0,20}&?){0,8}",
        any::<String>(),
    ]
}

fn record() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["GET", "POST", "HEAD", "get"]).prop_map(String::from),
        prop_oneof![Just("GET".to_owned()), any::<String>()],
        uri(),
        querystring(),
        prop::collection::btree_map(header_name(), prop::collection::vec(header_entry(), 0..3), 0..12),
        proptest::option::of(prop_oneof![Just("4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==".to_owned()), any::<String>()]),
        prop_oneof![Just("origin-request".to_owned()), any::<String>()],
        any::<String>(),
        proptest::option::of(prop_oneof![Just(Value::Null), Just(json!({"s3": {"domainName": "b", "region": "eu-west-1"}}))]),
        any::<bool>(),
    )
        .prop_map(|(m1, m2, uri, qs, headers, request_id, event_type, client_ip, origin, extras)| {
            let method = if client_ip.len() % 2 == 0 { m1 } else { m2 };
            let mut config = json!({
                "distributionDomainName": "d111111abcdef8.cloudfront.net",
                "distributionId": "EDFDVBD6EXAMPLE",
                "eventType": event_type,
            });
            if let Some(id) = request_id {
                config["requestId"] = Value::String(id);
            }
            let mut request = json!({
                "clientIp": client_ip, "headers": headers, "method": method,
                "querystring": qs, "uri": uri,
            });
            if let Some(o) = origin {
                request["origin"] = o;
            }
            if extras {
                request["body"] = json!({"inputTruncated": false, "action": "read-only", "encoding": "text", "data": "x"});
                request["future"] = json!([1, "two", {"three": null}]);
                config["future"] = json!(u64::MAX);
            }
            json!({"Records": [{"cf": {"config": config, "request": request}}]})
        })
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "Records",
                        "cf",
                        "config",
                        "request",
                        "headers",
                        "key",
                        "value",
                        "origin",
                        "body",
                        "requestId"
                    ])
                    .prop_map(String::from),
                    any::<String>(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_records_never_panic_and_come_back_unchanged(event in record(), hashed in any::<bool>()) {
        let text = event.to_string();
        let parsed = parse_event(&text).unwrap();
        let mut config = common::config();
        config.visitor_hash = hashed;
        config.visitor_hash_secret = Some(Secret("0123456789abcdef0123456789abcdef".into()));
        let before = parsed.clone();
        let decision = decide(parsed.record().unwrap(), &config, common::now());
        prop_assert_eq!(&parsed, &before);
        prop_assert_eq!(serde_json::to_value(&parsed).unwrap(), event);
        if let Decision::PageView(view) = decision {
            let detail = serde_json::to_value(view.complete(common::received_at())).unwrap();
            let violations = VALIDATOR.validate(&detail);
            prop_assert!(violations.is_empty(), "{:?}\n{:#}", violations, detail);
        }
    }

    #[test]
    fn whatever_parses_round_trips(value in arbitrary_json()) {
        let text = value.to_string();
        if let Ok(event) = parse_event(&text) {
            prop_assert_eq!(serde_json::to_value(&event).unwrap(), value);
            if let Some(record) = event.record() {
                let _ = decide(record, &common::config(), common::now());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_event_slice(&bytes);
    }
}
