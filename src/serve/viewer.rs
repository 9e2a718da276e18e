//! What the edge function would see of a local request: the headers CloudFront would forward
//! with it, read by the edge core's own rules.
//!
//! CloudFront adds viewer headers the site's own server never sees. Locally:
//!
//! - the device flags (`CloudFront-Is-{Desktop,Mobile,Tablet,SmartTV,IOS,Android}-Viewer`) come
//!   from the user agent, classified by the edge core itself;
//! - the country (`CloudFront-Viewer-Country`) comes from a header set by a trusted proxy (named by
//!   `--country-header`, default `CloudFront-Viewer-Country`) when `--trust-proxy` is on, and is
//!   otherwise unknown: a local server has no geolocation;
//! - the client address, with `--trust-proxy`, is the `X-Forwarded-For` entry `--trusted-hops`
//!   from the right (each trusted proxy appends the address it saw, so entries further left are
//!   whatever the client sent), else the socket's peer. It only feeds the keyed visitor hash; it
//!   is never stored.
//!
//! Whatever `CloudFront-*` or `X-Forwarded-For` headers the client sent itself are dropped: a
//! client cannot choose its own device flags or country.

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};
use hyper::HeaderMap;
use tally_edge::headers::{
    COUNTRY, HeaderSource, IS_ANDROID, IS_DESKTOP, IS_IOS, IS_MOBILE, IS_SMARTTV, IS_TABLET,
    country,
};
use tally_edge::{EdgeConfig, EdgeView, PageRequest, SkipReason, agent, is_event_id};
use tally_schema::{DeviceClass, Os};

/// How viewer headers are derived.
#[derive(Debug, Clone)]
pub struct ViewerRules {
    /// Whether a proxy in front sets `X-Forwarded-For` and the country header.
    pub trust_proxy: bool,
    /// How many trusted proxies append to `X-Forwarded-For` (at least 1): the client is the
    /// entry this far from the right.
    pub trusted_hops: usize,
    /// The country header's name, lower-case.
    pub country_header: String,
}

/// The page view the edge would make of this request answered with `status` (or why it would not
/// count it), seen at `now`: the edge core's rules ([`tally_edge::page_view`], the status
/// included) on the headers CloudFront would give the edge function ([`CloudFrontHeaders`]). `request_id` must be unique per request and an
/// event id ([`is_event_id`]): it becomes the page view's `event_id`, as CloudFront's request id
/// does at the edge.
#[allow(clippy::too_many_arguments)]
pub fn page_view(
    rules: &ViewerRules,
    edge: &EdgeConfig,
    visitor_salt: Option<&[u8]>,
    request_id: String,
    method: &str,
    status: u16,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    peer: SocketAddr,
    now: DateTime<Utc>,
) -> Result<EdgeView, SkipReason> {
    debug_assert!(
        is_event_id(&request_id),
        "{request_id:?} is not an event id"
    );
    let headers = CloudFrontHeaders::new(rules, headers, peer);
    let mut request =
        PageRequest::from_headers(method, path, query, &headers.client, &headers, edge);
    request.status = Some(status);
    request.visitor_salt = visitor_salt;
    tally_edge::page_view(&request, edge, request_id, now)
}

/// A request's headers as CloudFront would forward them to an origin-request function: what the
/// client sent, less any `CloudFront-*`, `X-Forwarded-For` and country header of its own, plus the
/// viewer headers derived locally and `X-Forwarded-For` with the client address.
#[derive(Debug)]
pub struct CloudFrontHeaders<'a> {
    headers: &'a HeaderMap,
    country_header: &'a str,
    /// The client address (never stored: it only feeds the visitor hash).
    client: String,
    /// `CloudFront-Viewer-Country`, upper-case, when a trusted proxy said it.
    country: Option<String>,
    /// The `CloudFront-Is-*-Viewer` flags, from the user agent.
    flags: [(&'static str, bool); 6],
}

impl<'a> CloudFrontHeaders<'a> {
    /// The headers of a request from `peer`, by `rules`.
    pub fn new(rules: &'a ViewerRules, headers: &'a HeaderMap, peer: SocketAddr) -> Self {
        let client = rules
            .trust_proxy
            .then(|| forwarded_client(headers, rules.trusted_hops))
            .flatten()
            .unwrap_or(peer.ip())
            .to_string();
        let user_agent = headers
            .get(hyper::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let agent = agent::classify(user_agent);
        let d = agent.device;
        let flags = [
            (IS_DESKTOP, d == DeviceClass::Desktop),
            (IS_MOBILE, d == DeviceClass::Mobile),
            (IS_TABLET, d == DeviceClass::Tablet),
            (IS_SMARTTV, d == DeviceClass::Smarttv),
            (IS_IOS, agent.os == Os::Ios),
            (IS_ANDROID, agent.os == Os::Android),
        ];
        let country = rules
            .trust_proxy
            .then(|| headers.get(rules.country_header.as_str())?.to_str().ok())
            .flatten()
            .and_then(|c| country(&c.to_ascii_uppercase()));
        CloudFrontHeaders {
            headers,
            country_header: &rules.country_header,
            client,
            country,
            flags,
        }
    }

    /// Whether CloudFront sets `lower_name` itself, whatever the client sent: its own
    /// `CloudFront-*` headers, `X-Forwarded-For`, and the header a trusted proxy names the
    /// country in.
    fn replaces(&self, lower_name: &str) -> bool {
        lower_name.starts_with("cloudfront-")
            || lower_name == "x-forwarded-for"
            || lower_name == self.country_header
    }

    /// The values CloudFront itself sets for `lower_name`: `Some` for a header it
    /// [replaces](Self::replaces) (possibly with no value), `None` for a header the client's
    /// values pass through.
    fn cloudfront(&self, lower_name: &str) -> Option<Option<&str>> {
        if !self.replaces(lower_name) {
            return None;
        }
        Some(match lower_name {
            "x-forwarded-for" => Some(self.client.as_str()),
            COUNTRY => self.country.as_deref(),
            _ => self
                .flags
                .iter()
                .find(|(name, _)| *name == lower_name)
                .map(|(_, on)| if *on { "true" } else { "false" }),
        })
    }

    /// The client's values of `lower_name` that are header text.
    fn passed<'s>(&'s self, lower_name: &str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .get_all(lower_name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
    }
}

impl HeaderSource for CloudFrontHeaders<'_> {
    fn first(&self, lower_name: &str) -> Option<&str> {
        match self.cloudfront(lower_name) {
            Some(value) => value,
            None => self.passed(lower_name).next(),
        }
    }

    fn any_value(&self, lower_name: &str, test: &mut dyn FnMut(&str) -> bool) -> bool {
        match self.cloudfront(lower_name) {
            Some(value) => value.is_some_and(test),
            None => self.passed(lower_name).any(test),
        }
    }
}

/// The `X-Forwarded-For` entry `hops` from the right (every such header, in order), when it is
/// an IP address: the address the first trusted proxy saw. Entries left of it came from the
/// client and are never trusted; fewer entries than hops means no trusted one.
fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let at = entries.len().checked_sub(hops.max(1))?;
    entries[at].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use tally_edge::event::{Header, Headers};
    use tally_edge::{CloudFrontEvent, Decision, Secret, decide};

    /// The reference: the origin-request event CloudFront would send for the request, built the
    /// long way (every header copied into CloudFront's shape, the derived ones added), for the
    /// edge's `decide`.
    fn origin_request(
        rules: &ViewerRules,
        request_id: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> CloudFrontEvent {
        let mut cf_headers = Headers::new();
        let mut add = |name: &str, value: &str| {
            cf_headers.entry(name.to_owned()).or_default().push(Header {
                key: Some(name.to_owned()),
                value: value.to_owned(),
                extra: Map::new(),
            });
        };
        // What CloudFront replaces and adds: the same derivation as the direct reading's.
        let derived = CloudFrontHeaders::new(rules, headers, peer);
        for (name, value) in headers {
            if let Ok(value) = value.to_str()
                && !derived.replaces(name.as_str())
            {
                add(name.as_str(), value);
            }
        }
        let client = derived.client.clone();
        add("x-forwarded-for", &client);
        for (name, on) in derived.flags {
            add(name, if on { "true" } else { "false" });
        }
        if let Some(country) = &derived.country {
            add(COUNTRY, country);
        }
        let event = serde_json::json!({"Records": [{"cf": {
            "config": {
                "distributionDomainName": "localhost",
                "distributionId": "TALLYSERVE",
                "eventType": "origin-request",
                "requestId": request_id,
            },
            "request": {
                "clientIp": client,
                "headers": cf_headers,
                "method": "GET",
                "querystring": query,
                "uri": path,
            },
        }}]});
        serde_json::from_value(event).expect("an origin-request event")
    }

    /// A header's name and its value's bytes.
    type RawHeader<'a> = (&'a str, &'a [u8]);

    fn header_map(headers: &[RawHeader<'_>]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                hyper::header::HeaderValue::from_bytes(v).expect("value"),
            );
        }
        map
    }

    fn view(rules: &ViewerRules, headers: &[(&str, &str)]) -> EdgeView {
        let list: Vec<RawHeader<'_>> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        page_view(
            rules,
            &EdgeConfig::new("localhost"),
            None,
            "test-1".into(),
            "GET",
            200,
            "/a/",
            "utm_campaign=x",
            &header_map(&list),
            peer,
            Utc::now(),
        )
        .expect("a page view")
    }

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    #[test]
    fn device_from_the_user_agent_and_spoofed_headers_dropped() {
        let rules = ViewerRules {
            trust_proxy: false,
            trusted_hops: 1,
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
    fn the_client_is_taken_from_the_right_of_x_forwarded_for() {
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            "198.51.100.66, 203.0.113.7".parse().expect("value"),
        );
        headers.append("x-forwarded-for", "192.0.2.10".parse().expect("value"));
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        // The client forged 198.51.100.66; the proxies appended 203.0.113.7 and 192.0.2.10.
        assert_eq!(forwarded_client(&headers, 1), ip("192.0.2.10"));
        assert_eq!(forwarded_client(&headers, 2), ip("203.0.113.7"));
        assert_eq!(forwarded_client(&headers, 3), ip("198.51.100.66"));
        assert_eq!(
            forwarded_client(&headers, 4),
            None,
            "fewer entries than hops"
        );
        assert_eq!(forwarded_client(&HeaderMap::new(), 1), None);
    }

    #[test]
    fn the_response_status_is_part_of_the_decision() {
        let rules = ViewerRules {
            trust_proxy: false,
            trusted_hops: 1,
            country_header: "cloudfront-viewer-country".into(),
        };
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let decide = |method: &str, status: u16| {
            page_view(
                &rules,
                &EdgeConfig::new("localhost"),
                None,
                "test-1".into(),
                method,
                status,
                "/a/",
                "",
                &HeaderMap::new(),
                peer,
                Utc::now(),
            )
        };
        assert!(decide("GET", 200).is_ok());
        assert!(decide("GET", 304).is_ok(), "a revalidated page is a view");
        for code in [301, 400, 404, 405, 414, 500] {
            assert_eq!(decide("GET", code), Err(SkipReason::Status { code }));
        }
        assert_eq!(decide("HEAD", 200), Err(SkipReason::NotGet));
    }

    #[test]
    fn country_from_a_trusted_header_only() {
        let rules = ViewerRules {
            trust_proxy: true,
            trusted_hops: 1,
            country_header: "x-country".into(),
        };
        let v = view(&rules, &[("user-agent", IPHONE), ("x-country", "de")]);
        assert_eq!(v.country.as_deref(), Some("DE"));
        let v = view(&rules, &[("user-agent", IPHONE), ("x-country", "Germany")]);
        assert_eq!(v.country, None);
    }

    /// The direct reading gives what the edge's `decide` makes of CloudFront's event for the
    /// same request, header by header: spoofed CloudFront headers, proxies, prefetches, bot
    /// flags, repeated and non-text values.
    #[test]
    fn the_same_decision_as_the_edge_on_cloudfronts_event() {
        let mut edge = EdgeConfig::new("localhost");
        edge.visitor_hash = true;
        edge.visitor_hash_secret = Some(Secret("0123456789abcdef0123456789abcdef".into()));
        edge.bot_flag_headers = vec!["x-bot".into(), "cloudfront-is-desktop-viewer".into()];
        let proxy = ViewerRules {
            trust_proxy: true,
            trusted_hops: 1,
            country_header: "x-country".into(),
        };
        let direct = ViewerRules {
            trust_proxy: false,
            trusted_hops: 1,
            country_header: "cloudfront-viewer-country".into(),
        };
        let firefox = FIREFOX.as_bytes();
        let cases: Vec<(&ViewerRules, Vec<RawHeader>)> = vec![
            (&direct, vec![("user-agent", firefox)]),
            (&direct, vec![]),
            (
                &direct,
                vec![
                    ("user-agent", IPHONE.as_bytes()),
                    ("referer", b"https://news.example.org/item?id=1"),
                    ("accept-language", b"fr-CA,fr;q=0.8"),
                    ("cloudfront-is-mobile-viewer", b"false"),
                    ("cloudfront-viewer-country", b"FR"),
                    ("cloudfront-viewer-city", b"Paris"),
                    ("x-forwarded-for", b"198.51.100.9"),
                ],
            ),
            (
                &proxy,
                vec![
                    ("user-agent", firefox),
                    ("x-forwarded-for", b"203.0.113.7, 10.0.0.1"),
                    ("x-country", b" nz "),
                ],
            ),
            (
                &proxy,
                vec![
                    ("user-agent", firefox),
                    ("x-forwarded-for", b"not an ip"),
                    ("x-country", b"NZL"),
                ],
            ),
            (&direct, vec![("user-agent", firefox), ("x-country", b"NZ")]),
            (
                &direct,
                vec![
                    ("user-agent", firefox),
                    ("sec-purpose", b"prefetch;prerender"),
                ],
            ),
            (
                &direct,
                vec![
                    ("user-agent", firefox),
                    ("x-moz", b"other"),
                    ("x-moz", b"Prefetch"),
                ],
            ),
            (&direct, vec![("user-agent", firefox), ("x-bot", b"1")]),
            (&direct, vec![("user-agent", firefox), ("x-bot", b"no")]),
            (&direct, vec![("user-agent", b"curl/8.5.0")]),
            (
                &direct,
                vec![
                    ("user-agent", b"Mozilla/5.0 caf\xc3\xa9"),
                    ("user-agent", firefox),
                ],
            ),
            (
                &direct,
                vec![
                    ("referer", b"http://localhost/blog/"),
                    ("referer", b"https://x.example/"),
                ],
            ),
        ];
        let peer: SocketAddr = "[2001:db8::5]:443".parse().expect("addr");
        let now = Utc::now();
        for (i, (rules, headers)) in cases.iter().enumerate() {
            let map = header_map(headers);
            let id = format!("serve-test-{i}");
            let event = origin_request(rules, &id, "/blog/", "utm_source=x", &map, peer);
            let expected = match decide(event.record().expect("record"), &edge, now) {
                Decision::PageView(v) => Ok(v),
                Decision::Skip(r) => Err(r),
            };
            let got = page_view(
                rules,
                &edge,
                None,
                id,
                "GET",
                200,
                "/blog/",
                "utm_source=x",
                &map,
                peer,
                now,
            );
            assert_eq!(got, expected, "case {i}: {headers:?}");
        }
    }
}
