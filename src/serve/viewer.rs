//! The origin-request event CloudFront would give the edge function, built from a local request.
//!
//! CloudFront adds viewer headers the site's own server never sees. Locally:
//!
//! - the device flags (`CloudFront-Is-{Desktop,Mobile,Tablet,SmartTV,IOS,Android}-Viewer`) come
//!   from the user agent, classified by the edge core itself;
//! - the country (`CloudFront-Viewer-Country`) comes from a header set by a trusted proxy (named by
//!   `--country-header`, default `CloudFront-Viewer-Country`) when `--trust-proxy` is on, and is
//!   otherwise unknown: a local server has no geolocation;
//! - the client address is the first `X-Forwarded-For` entry when `--trust-proxy` is on, else the
//!   socket's peer. It only feeds the keyed visitor hash; it is never stored.
//!
//! Whatever `CloudFront-*` or `X-Forwarded-For` headers the client sent itself are dropped: a
//! client cannot choose its own device flags or country.

use std::net::{IpAddr, SocketAddr};

use hyper::HeaderMap;
use serde_json::Map;
use tally_edge::event::{Cf, CfConfig, CfRequest, CloudFrontRecord, Header, Headers};
use tally_edge::{CloudFrontEvent, agent};
use tally_schema::{DeviceClass, Os};

/// How viewer headers are derived.
#[derive(Debug, Clone)]
pub struct ViewerRules {
    /// Whether a proxy in front sets `X-Forwarded-For` and the country header.
    pub trust_proxy: bool,
    /// The country header's name, lower-case.
    pub country_header: String,
}

/// The event CloudFront would send for this request; `request_id` must be unique per request
/// (it becomes the page view's `event_id`). Built as the typed event directly (it runs on every
/// request): the same value deserialising CloudFront's JSON would give.
pub fn origin_request(
    rules: &ViewerRules,
    request_id: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> CloudFrontEvent {
    let mut cf_headers = Headers::new();
    let mut add = |name: &str, key: &str, value: &str| {
        cf_headers.entry(name.to_owned()).or_default().push(Header {
            key: Some(key.to_owned()),
            value: value.to_owned(),
            extra: Map::new(),
        });
    };
    for (name, value) in headers {
        let name = name.as_str();
        if name.starts_with("cloudfront-")
            || name == "x-forwarded-for"
            || name == rules.country_header
        {
            continue;
        }
        if let Ok(value) = value.to_str() {
            add(name, name, value);
        }
    }
    let client = rules
        .trust_proxy
        .then(|| forwarded_client(headers))
        .flatten()
        .unwrap_or(peer.ip())
        .to_string();
    add("x-forwarded-for", "X-Forwarded-For", &client);

    let user_agent = headers
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let agent = agent::classify(user_agent);
    let flag = |b: bool| if b { "true" } else { "false" };
    let d = agent.device;
    for (name, key, on) in [
        (
            "cloudfront-is-desktop-viewer",
            "CloudFront-Is-Desktop-Viewer",
            d == DeviceClass::Desktop,
        ),
        (
            "cloudfront-is-mobile-viewer",
            "CloudFront-Is-Mobile-Viewer",
            d == DeviceClass::Mobile,
        ),
        (
            "cloudfront-is-tablet-viewer",
            "CloudFront-Is-Tablet-Viewer",
            d == DeviceClass::Tablet,
        ),
        (
            "cloudfront-is-smarttv-viewer",
            "CloudFront-Is-SmartTV-Viewer",
            d == DeviceClass::Smarttv,
        ),
        (
            "cloudfront-is-ios-viewer",
            "CloudFront-Is-IOS-Viewer",
            agent.os == Os::Ios,
        ),
        (
            "cloudfront-is-android-viewer",
            "CloudFront-Is-Android-Viewer",
            agent.os == Os::Android,
        ),
    ] {
        add(name, key, flag(on));
    }
    if rules.trust_proxy
        && let Some(country) = headers
            .get(rules.country_header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        add(
            "cloudfront-viewer-country",
            "CloudFront-Viewer-Country",
            &country.to_ascii_uppercase(),
        );
    }

    let cf = Cf {
        config: CfConfig {
            distribution_domain_name: "localhost".into(),
            distribution_id: "TALLYSERVE".into(),
            event_type: "origin-request".into(),
            request_id: Some(request_id.to_owned()),
            extra: Map::new(),
        },
        request: CfRequest {
            client_ip: client,
            headers: cf_headers,
            method: method.to_owned(),
            querystring: query.to_owned(),
            uri: path.to_owned(),
            origin: None,
            body: None,
            extra: Map::new(),
        },
        extra: Map::new(),
    };
    CloudFrontEvent {
        records: vec![CloudFrontRecord {
            cf,
            extra: Map::new(),
        }],
        extra: Map::new(),
    }
}

/// The first `X-Forwarded-For` entry, when it is an IP address.
fn forwarded_client(headers: &HeaderMap) -> Option<IpAddr> {
    let first = headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .split(',')
        .next()?
        .trim();
    first.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_edge::{Decision, EdgeConfig, decide};

    fn view(rules: &ViewerRules, headers: &[(&str, &str)]) -> tally_edge::EdgeView {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let event = origin_request(rules, "test-1", "GET", "/a/", "utm_campaign=x", &map, peer);
        // CloudFront's shape: the event survives its own JSON form unchanged.
        let json = serde_json::to_value(&event).expect("serialise");
        assert_eq!(
            json["Records"][0]["cf"]["config"]["eventType"],
            "origin-request"
        );
        let back: CloudFrontEvent = serde_json::from_value(json).expect("parse");
        assert_eq!(back, event);
        match decide(
            event.record().expect("record"),
            &EdgeConfig::new("localhost"),
            chrono::Utc::now(),
        ) {
            Decision::PageView(v) => v,
            Decision::Skip(r) => panic!("skipped: {r}"),
        }
    }

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

    #[test]
    fn device_from_the_user_agent_and_spoofed_headers_dropped() {
        let rules = ViewerRules {
            trust_proxy: false,
            country_header: "cloudfront-viewer-country".into(),
        };
        let v = view(
            &rules,
            &[
                ("user-agent", IPHONE),
                ("cloudfront-is-desktop-viewer", "true"),
                ("cloudfront-viewer-country", "FR"),
            ],
        );
        assert_eq!(v.device, DeviceClass::Mobile);
        assert_eq!(v.os, Os::Ios);
        assert_eq!(v.country, None);
        assert_eq!(v.utm_campaign.as_deref(), Some("x"));
    }

    #[test]
    fn country_from_a_trusted_header_only() {
        let rules = ViewerRules {
            trust_proxy: true,
            country_header: "x-country".into(),
        };
        let v = view(&rules, &[("user-agent", IPHONE), ("x-country", "de")]);
        assert_eq!(v.country.as_deref(), Some("DE"));
        let v = view(&rules, &[("user-agent", IPHONE), ("x-country", "Germany")]);
        assert_eq!(v.country, None);
    }
}
