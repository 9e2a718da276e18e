//! One test per rule of the decision, on records built in place.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use serde_json::{Value, json};
use tally_edge::{
    CloudFrontRecord, Decision, Detail, EdgeConfig, EdgeView, PageRequest, Secret, SkipReason,
    TimePrecision, decide, keyed_event_id, page_view, parse_event,
};
use tally_schema::{BotReason, DeviceClass, Os};

use common::{config, now};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn event_json(method: &str, uri: &str, qs: &str, headers: &[(&str, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let list = map
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| json!([]));
        list.as_array_mut()
            .unwrap()
            .push(json!({"key": name, "value": value}));
    }
    json!({"Records": [{"cf": {
        "config": {
            "distributionDomainName": "d111111abcdef8.cloudfront.net",
            "distributionId": "EDFDVBD6EXAMPLE",
            "eventType": "origin-request",
            "requestId": "req-0001"
        },
        "request": {
            "clientIp": "203.0.113.178",
            "headers": map,
            "method": method,
            "querystring": qs,
            "uri": uri,
            "origin": {"s3": {"authMethod": "none", "customHeaders": {}, "domainName": "b.s3.amazonaws.com", "path": "", "region": "eu-west-1"}}
        }
    }}]})
}

fn record_of(v: &Value) -> CloudFrontRecord {
    parse_event(&v.to_string()).unwrap().records.remove(0)
}

fn record(method: &str, uri: &str, qs: &str, headers: &[(&str, &str)]) -> CloudFrontRecord {
    record_of(&event_json(method, uri, qs, headers))
}

fn get(uri: &str, headers: &[(&str, &str)]) -> CloudFrontRecord {
    record("GET", uri, "", headers)
}

fn view_with(r: &CloudFrontRecord, c: &EdgeConfig) -> EdgeView {
    match decide(r, c, now()) {
        Decision::PageView(v) => v,
        Decision::Skip(reason) => panic!("skipped: {reason}"),
    }
}

fn view(r: &CloudFrontRecord) -> EdgeView {
    view_with(r, &config())
}

fn skip(r: &CloudFrontRecord) -> SkipReason {
    match decide(r, &config(), now()) {
        Decision::Skip(reason) => reason,
        Decision::PageView(v) => panic!("counted: {v:?}"),
    }
}

#[test]
fn pages_are_html_no_extension_or_directory() {
    for uri in [
        "/",
        "/blog/",
        "/blog",
        "/a.html",
        "/a.HTM",
        "/blog/index.html",
        "/v1.2/",
    ] {
        assert!(
            matches!(
                decide(&get(uri, &[("User-Agent", CHROME)]), &config(), now()),
                Decision::PageView(_)
            ),
            "{uri}"
        );
    }
    for (uri, ext) in [
        ("/site.css", "css"),
        ("/app.js", "js"),
        ("/logo.PNG", "png"),
        ("/robots.txt", "txt"),
        ("/feed.xml", "xml"),
    ] {
        assert_eq!(
            skip(&get(uri, &[])),
            SkipReason::NotAPage {
                extension: ext.into()
            },
            "{uri}"
        );
    }
}

#[test]
fn page_extensions_are_configurable() {
    let mut c = config();
    c.page_extensions = vec!["php".into()];
    assert!(matches!(
        decide(&get("/index.php", &[]), &c, now()),
        Decision::PageView(_)
    ));
    assert_eq!(
        decide(&get("/a.html", &[]), &c, now()),
        Decision::Skip(SkipReason::NotAPage {
            extension: "html".into()
        })
    );
    assert!(matches!(
        decide(&get("/about", &[]), &c, now()),
        Decision::PageView(_)
    ));
}

#[test]
fn only_get_counts() {
    for m in ["POST", "HEAD", "OPTIONS", "PUT", "DELETE", "get", ""] {
        assert_eq!(skip(&record(m, "/", "", &[])), SkipReason::NotGet, "{m:?}");
    }
}

#[test]
fn only_successful_responses_count_when_the_status_is_known() {
    let c = config();
    let r = get("/blog/", &[]);
    let mut request = PageRequest::from_cloudfront(&r.cf.request, &c);
    let decide_with = |request: &PageRequest<'_>| page_view(request, &c, "id-1".into(), now());
    assert!(
        decide_with(&request).is_ok(),
        "unknown status (origin-request): a view"
    );
    for code in [200, 203, 204, 299, 304] {
        request.status = Some(code);
        assert!(decide_with(&request).is_ok(), "{code}");
    }
    for code in [0, 100, 199, 301, 302, 303, 307, 400, 403, 404, 500, 503] {
        request.status = Some(code);
        assert_eq!(
            decide_with(&request).unwrap_err(),
            SkipReason::Status { code },
            "{code}"
        );
    }
    // The status is checked first: a failed request for an asset, or a POST, is a status skip.
    request.status = Some(404);
    request.method = "POST";
    assert_eq!(
        decide_with(&request).unwrap_err(),
        SkipReason::Status { code: 404 }
    );
    request.status = Some(200);
    assert_eq!(decide_with(&request).unwrap_err(), SkipReason::NotGet);
}

#[test]
fn prefetches_do_not_count() {
    for (h, v) in [
        ("Sec-Purpose", "prefetch"),
        ("Sec-Purpose", "prefetch;prerender"),
        ("Sec-Purpose", "prefetch; anonymous-client-ip"),
        ("Purpose", "prefetch"),
        ("Purpose", "Prefetch"),
        ("X-Moz", "prefetch"),
    ] {
        assert_eq!(skip(&get("/", &[(h, v)])), SkipReason::Prefetch, "{h}: {v}");
    }
    // Any of several values.
    assert_eq!(
        skip(&get("/", &[("Purpose", "x"), ("Purpose", "prefetch")])),
        SkipReason::Prefetch
    );
    assert!(matches!(
        decide(&get("/", &[("Purpose", "navigate")]), &config(), now()),
        Decision::PageView(_)
    ));
}

#[test]
fn only_origin_events() {
    let mut v = event_json("GET", "/", "", &[]);
    v["Records"][0]["cf"]["config"]["eventType"] = json!("viewer-response");
    assert_eq!(
        skip(&record_of(&v)),
        SkipReason::UnsupportedTrigger {
            event_type: "viewer-response".into()
        }
    );
    v["Records"][0]["cf"]["config"]["eventType"] = json!("x".repeat(1000));
    let SkipReason::UnsupportedTrigger { event_type } = skip(&record_of(&v)) else {
        panic!()
    };
    assert_eq!(event_type.len(), 32);
}

/// `get(uri)` as an origin-response event whose origin answered `status`.
fn response(uri: &str, status: &str) -> CloudFrontRecord {
    let mut v = event_json("GET", uri, "", &[]);
    v["Records"][0]["cf"]["config"]["eventType"] = json!("origin-response");
    v["Records"][0]["cf"]["response"] = json!({"status": status, "statusDescription": "x"});
    record_of(&v)
}

#[test]
fn an_origin_response_counts_only_a_success_or_a_304() {
    for status in ["200", "203", "304"] {
        assert!(
            matches!(
                decide(&response("/blog/", status), &config(), now()),
                Decision::PageView(_)
            ),
            "{status}"
        );
    }
    for (status, code) in [("301", 301), ("404", 404), ("503", 503), ("000", 0)] {
        assert_eq!(
            skip(&response("/blog/", status)),
            SkipReason::Status { code },
            "{status}"
        );
    }
    // The page rules still apply after the status.
    assert!(matches!(
        skip(&response("/site.css", "200")),
        SkipReason::NotAPage { .. }
    ));
}

#[test]
fn an_origin_request_counts_with_the_status_unknown() {
    assert!(matches!(
        decide(&get("/blog/", &[]), &config(), now()),
        Decision::PageView(_)
    ));
    // A response object on an origin-request event is not the origin's: it is not read.
    let mut v = event_json("GET", "/blog/", "", &[]);
    v["Records"][0]["cf"]["response"] = json!({"status": "404"});
    assert!(matches!(
        decide(&record_of(&v), &config(), now()),
        Decision::PageView(_)
    ));
}

#[test]
fn site_comes_from_configuration_not_host() {
    let v = view(&get("/", &[("Host", "bucket.s3.eu-west-1.amazonaws.com")]));
    assert_eq!(v.site, "www.example.com");
    let bad = EdgeConfig::new("Not A Host");
    assert_eq!(
        decide(&get("/", &[]), &bad, now()),
        Decision::Skip(SkipReason::InvalidSite)
    );
}

#[test]
fn device_precedence() {
    let flags = |smarttv: &'static str,
                 tablet: &'static str,
                 mobile: &'static str,
                 desktop: &'static str| {
        vec![
            ("CloudFront-Is-SmartTV-Viewer", smarttv),
            ("CloudFront-Is-Tablet-Viewer", tablet),
            ("CloudFront-Is-Mobile-Viewer", mobile),
            ("CloudFront-Is-Desktop-Viewer", desktop),
            ("User-Agent", CHROME),
        ]
    };
    let d = |h: Vec<(&str, &str)>| view(&get("/", &h)).device;
    assert_eq!(
        d(flags("true", "true", "true", "true")),
        DeviceClass::Smarttv
    );
    assert_eq!(
        d(flags("false", "true", "true", "false")),
        DeviceClass::Tablet
    );
    assert_eq!(
        d(flags("false", "false", "true", "false")),
        DeviceClass::Mobile
    );
    assert_eq!(
        d(flags("false", "false", "false", "true")),
        DeviceClass::Desktop
    );
    // No flag set: the user agent decides (a desktop Chrome).
    assert_eq!(
        d(flags("false", "false", "false", "false")),
        DeviceClass::Desktop
    );
    assert_eq!(d(vec![("User-Agent", "something")]), DeviceClass::Unknown);
}

#[test]
fn os_flags_from_cloudfront_win_over_the_user_agent() {
    let v = view(&get(
        "/",
        &[("User-Agent", CHROME), ("CloudFront-Is-IOS-Viewer", "true")],
    ));
    assert_eq!(v.os, Os::Ios);
    let v = view(&get(
        "/",
        &[
            ("User-Agent", CHROME),
            ("CloudFront-Is-Android-Viewer", "true"),
        ],
    ));
    assert_eq!(v.os, Os::Android);
    assert_eq!(view(&get("/", &[("User-Agent", CHROME)])).os, Os::Windows);
}

#[test]
fn out_of_bounds_viewer_values_are_dropped() {
    let v = view(&get(
        "/",
        &[
            ("CloudFront-Viewer-Country", "usa"),
            ("CloudFront-Viewer-Country-Region", "A B"),
            ("CloudFront-Viewer-City", "\u{7}"),
            ("CloudFront-Viewer-Time-Zone", "Mars/Olympus Mons"),
        ],
    ));
    assert_eq!(
        (v.country, v.region, v.city, v.timezone),
        (None, None, None, None)
    );
}

#[test]
fn minimised_details_are_left_out_and_the_time_cut_down() {
    let r = get(
        "/",
        &[
            ("User-Agent", CHROME),
            ("Accept-Language", "fr-CH, fr;q=0.9"),
            ("CloudFront-Viewer-Country", "CH"),
            ("CloudFront-Viewer-Country-Region", "GE"),
            ("CloudFront-Viewer-City", "Geneva"),
            ("CloudFront-Viewer-Time-Zone", "Europe/Zurich"),
        ],
    );
    let kept = view(&r);
    assert_eq!(
        (
            kept.region.as_deref(),
            kept.city.as_deref(),
            kept.timezone.as_deref()
        ),
        (Some("GE"), Some("Geneva"), Some("Europe/Zurich"))
    );
    assert_eq!(kept.language.as_deref(), Some("fr-CH"));
    assert_eq!(kept.occurred_at.0, now());

    let mut c = config();
    c.minimise.drop = vec![Detail::City, Detail::Timezone, Detail::Language];
    c.minimise.time_precision = TimePrecision::Hour;
    let v = view_with(&r, &c);
    assert_eq!((v.city, v.timezone, v.language), (None, None, None));
    assert_eq!(
        (v.country.as_deref(), v.region.as_deref()),
        (Some("CH"), Some("GE"))
    );
    assert_eq!(v.occurred_at.0.to_rfc3339(), "2026-11-29T06:00:00+00:00");
    // The visitor hash's day and the event id come from the time as seen, not the cut one.
    assert_eq!(v.event_id, kept.event_id);
}

#[test]
fn private_headers_never_reach_the_view() {
    let ua =
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0 UNIQUE-UA-MARK";
    let r = get(
        "/",
        &[
            ("User-Agent", ua),
            ("CloudFront-Viewer-Postal-Code", "98101-POSTAL"),
            ("CloudFront-Viewer-Latitude", "47.61234"),
            ("CloudFront-Viewer-Longitude", "-122.33456"),
            ("CloudFront-Viewer-Metro-Code", "819819"),
            ("CloudFront-Viewer-Address", "203.0.113.178:4242"),
            ("X-Forwarded-For", "203.0.113.178"),
            ("Cookie", "session=SECRET-COOKIE"),
        ],
    );
    let mut c = config();
    c.visitor_hash = true;
    c.visitor_hash_secret = Some(Secret("0123456789abcdef0123456789abcdef".into()));
    let out = serde_json::to_string(&view_with(&r, &c)).unwrap();
    for secret in [
        "98101",
        "47.61",
        "122.33",
        "819819",
        "203.0.113",
        "UNIQUE-UA-MARK",
        "Gecko",
        "SECRET-COOKIE",
    ] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
}

#[test]
fn bots_are_flagged_not_dropped() {
    let v = view(&get(
        "/",
        &[(
            "User-Agent",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        )],
    ));
    assert_eq!(
        (v.is_bot, v.bot_reason),
        (true, Some(BotReason::UserAgentPattern))
    );
    let v = view(&get("/", &[]));
    assert_eq!(
        (v.is_bot, v.bot_reason),
        (true, Some(BotReason::EmptyUserAgent))
    );
    let v = view(&get("/", &[("User-Agent", CHROME)]));
    assert_eq!((v.is_bot, v.bot_reason), (false, None));
}

#[test]
fn trusted_header_flags_a_bot() {
    let mut c = config();
    c.bot_flag_headers = vec!["x-amzn-waf-bot".into()];
    let v = view_with(
        &get("/", &[("User-Agent", CHROME), ("X-Amzn-Waf-Bot", "true")]),
        &c,
    );
    assert_eq!(
        (v.is_bot, v.bot_reason),
        (true, Some(BotReason::HeaderFlag))
    );
    for no in ["false", "0", "no", ""] {
        let v = view_with(
            &get("/", &[("User-Agent", CHROME), ("X-Amzn-Waf-Bot", no)]),
            &c,
        );
        assert!(!v.is_bot, "{no:?}");
    }
    // Not configured: the header means nothing.
    let v = view(&get(
        "/",
        &[("User-Agent", CHROME), ("X-Amzn-Waf-Bot", "true")],
    ));
    assert!(!v.is_bot);
}

#[test]
fn referrer_same_site_uses_site_and_aliases() {
    let rf = |r: &str| {
        let v = view(&get("/", &[("Referer", r)]));
        (v.referrer_host, v.referrer_path, v.referrer_same_site)
    };
    assert_eq!(
        rf("https://www.example.com/a?q=1"),
        (Some("www.example.com".into()), Some("/a".into()), true)
    );
    assert_eq!(
        rf("https://example.com/"),
        (Some("example.com".into()), Some("/".into()), true)
    );
    assert_eq!(
        rf("https://other.org/x#y"),
        (Some("other.org".into()), Some("/x".into()), false)
    );
    assert_eq!(rf("garbage"), (None, None, false));
    let v = view(&get("/", &[]));
    assert_eq!((v.referrer_host, v.referrer_same_site), (None, false));
}

#[test]
fn utm_and_language() {
    let v = view(&record(
        "GET",
        "/",
        "utm_source=a+b&utm_source=c&utm_campaign=%E2%82%AC",
        &[("Accept-Language", "pt-br;q=0.9,en")],
    ));
    assert_eq!(v.utm_source.as_deref(), Some("a b"));
    assert_eq!(v.utm_campaign.as_deref(), Some("€"));
    assert_eq!(v.language.as_deref(), Some("pt-BR"));
}

#[test]
fn event_id_is_the_request_id_or_derived() {
    assert_eq!(view(&get("/", &[])).event_id, "req-0001");
    let mut v = event_json("GET", "/", "", &[]);
    v["Records"][0]["cf"]["config"]["requestId"] = json!("not/valid");
    let r = record_of(&v);
    let a = view(&r).event_id;
    assert!(a.starts_with("edge-") && a.len() == 37, "{a}");
    assert_eq!(a, view(&r).event_id, "deterministic");
    let later = match decide(&r, &config(), now() + chrono::Duration::milliseconds(1)) {
        Decision::PageView(v) => v.event_id,
        Decision::Skip(_) => panic!(),
    };
    assert_ne!(a, later);
    v["Records"][0]["cf"]["config"]
        .as_object_mut()
        .unwrap()
        .remove("requestId");
    assert_eq!(
        view(&record_of(&v)).event_id,
        a,
        "absent and invalid derive alike"
    );
    // The client IP is not part of the derived id.
    v["Records"][0]["cf"]["request"]["clientIp"] = json!("198.51.100.1");
    assert_eq!(view(&record_of(&v)).event_id, a);
}

#[test]
fn occurred_at_is_now_in_millis() {
    let out = serde_json::to_value(view(&get("/", &[]))).unwrap();
    assert_eq!(out["occurred_at"], "2026-11-29T06:40:19.123Z");
    assert!(out.get("schema_version").is_none() && out.get("received_at").is_none());
}

#[test]
fn visitor_hash_is_off_by_default_and_needs_a_secret() {
    let r = get("/", &[("User-Agent", CHROME)]);
    assert_eq!(view(&r).visitor_hash, None);
    let mut c = config();
    c.visitor_hash = true;
    assert_eq!(view_with(&r, &c).visitor_hash, None, "no secret, no hash");
    c.visitor_hash_secret = Some(Secret("0123456789abcdef0123456789abcdef".into()));
    let h = view_with(&r, &c).visitor_hash.unwrap();
    assert_eq!(h.len(), 32);
    c.visitor_hash = false;
    assert_eq!(view_with(&r, &c).visitor_hash, None);
}

#[test]
fn hostile_records_cost_bounded_work() {
    let names: Vec<String> = (0..5000).map(|i| format!("X-Junk-{i}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let long_ua = "Mozilla/5.0 ".repeat(50_000);
    let long_ref = format!("https://x.org/{}", "%C3%A9/".repeat(50_000));
    let long_lang = "en-".repeat(50_000);
    headers.extend([
        ("User-Agent", long_ua.as_str()),
        ("Referer", long_ref.as_str()),
        ("Accept-Language", long_lang.as_str()),
    ]);
    for _ in 0..2000 {
        headers.push(("Purpose", "navigate"));
    }
    let uri = format!("/{}", "%E6%97%A5/".repeat(20_000));
    let qs = "a=%zz&".repeat(50_000) + "utm_source=%FF";
    let r = record("GET", &uri, &qs, &headers);
    let start = Instant::now();
    let v = view(&r);
    let took = start.elapsed();
    assert!(took.as_secs() < 2, "took {took:?}");
    assert_eq!(v.path.chars().count(), 1024);
    assert_eq!(v.utm_source.as_deref(), Some("\u{FFFD}"));
    assert_eq!(v.language, None);
}

#[test]
fn a_keyed_event_id_hides_the_request_id_and_is_the_same_for_every_producer() {
    let r = get("/", &[("User-Agent", CHROME)]);
    let request_id = r.cf.config.request_id.clone().expect("the fixture has one");
    assert_eq!(view(&r).event_id, request_id, "unkeyed: the request id");
    let mut c = config();
    c.event_id_key = Some(Secret("0123456789abcdef0123456789abcdef".into()));
    let keyed = view_with(&r, &c);
    assert_eq!(
        keyed.event_id,
        keyed_event_id(c.event_id_key.as_ref().unwrap().0.as_bytes(), &request_id)
    );
    assert_ne!(keyed.event_id, request_id);
    let json = serde_json::to_string(&keyed).unwrap();
    assert!(!json.contains(&request_id), "the request id is in {json}");
    let request = PageRequest::from_cloudfront(&r.cf.request, &c);
    let other = page_view(&request, &c, request_id.clone(), now()).expect("a view");
    assert_eq!(
        other.event_id, keyed.event_id,
        "another producer, the same id"
    );
}
