//! Generated page views and an independent count of what they should add up to.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*), so failures reproduce.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// `count` page-view details (as JSON) over three sites and three days, with bots, same-site
/// referrers, missing fields and repeated visitors.
pub fn details(seed: u64, count: usize) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    let sites = [
        "www.example.com",
        "blog.example.org",
        "shop.example.net:8443",
    ];
    let paths = [
        "/",
        "/about",
        "/blog/",
        "/blog/hello/",
        "/café/",
        "/pricing",
    ];
    let countries = ["FR", "DE", "US", "JP", "BR"];
    let devices = ["desktop", "mobile", "tablet", "unknown"];
    let oses = ["windows", "macos", "ios", "android", "linux", "unknown"];
    let browsers = ["chrome", "firefox", "safari", "edge", "unknown"];
    let reasons = ["empty_user_agent", "user_agent_pattern", "headless_browser"];
    let referrers = ["news.ycombinator.com", "www.google.com", "duckduckgo.com"];
    let campaigns = ["autumn-launch", "été 2026"];
    let visitors: Vec<String> = (0..12).map(|i| format!("{:032x}", 0xabc0 + i)).collect();
    let days = ["2026-11-27", "2026-11-28", "2026-11-29"];
    (0..count)
        .map(|i| {
            let site = rng.pick(&sites);
            let day = rng.pick(&days);
            let at = format!(
                "{day}T{:02}:{:02}:{:02}.{:03}Z",
                rng.next() % 24,
                rng.next() % 60,
                rng.next() % 60,
                rng.next() % 1000
            );
            let mut d = json!({
                "event_id": format!("gen-{seed}-{i}"),
                "schema_version": "1-0-0",
                "site": site,
                "path": rng.pick(&paths),
                "occurred_at": at,
                "received_at": at,
                "device": rng.pick(&devices),
                "os": rng.pick(&oses),
                "browser": rng.pick(&browsers),
                "is_bot": false,
                "referrer_same_site": false,
            });
            if rng.chance(10) {
                d["is_bot"] = json!(true);
                d["bot_reason"] = json!(rng.pick(&reasons));
            }
            if rng.chance(80) {
                d["country"] = json!(rng.pick(&countries));
            }
            if rng.chance(50) {
                if rng.chance(30) {
                    d["referrer_host"] = json!(site.split(':').next().unwrap());
                    d["referrer_same_site"] = json!(true);
                } else {
                    d["referrer_host"] = json!(rng.pick(&referrers));
                }
            }
            if rng.chance(20) {
                d["utm_campaign"] = json!(rng.pick(&campaigns));
            }
            if rng.chance(85) {
                let v = &visitors[(rng.next() % visitors.len() as u64) as usize];
                d["visitor_hash"] = json!(v);
            }
            d
        })
        .collect()
}

/// Wraps a detail into a whole EventBridge event.
pub fn event(detail: &Value) -> Value {
    json!({
        "version": "0",
        "id": format!("env-{}", detail["event_id"].as_str().unwrap()),
        "detail-type": "PageView",
        "source": "tally",
        "account": "000000000000",
        "time": detail["received_at"],
        "region": "local",
        "resources": [],
        "detail": detail,
    })
}

/// `(site, dimension, day, value)` → count, computed straight from the details, independently of
/// the crate: each `event_id` once, humans in the page-view dimensions, bots by reason.
pub fn expected(details: &[Value]) -> BTreeMap<(String, String, String, String), u64> {
    let mut seen = BTreeSet::new();
    let mut visitors = BTreeSet::new();
    let mut out: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    for d in details {
        if !seen.insert(d["event_id"].as_str().unwrap().to_owned()) {
            continue;
        }
        let site = d["site"].as_str().unwrap().to_owned();
        let at = d["occurred_at"].as_str().unwrap();
        let day = at[..10].to_owned();
        let hour = at[11..13].to_owned();
        let mut add = |dim: &str, value: &str| {
            *out.entry((site.clone(), dim.to_owned(), day.clone(), value.to_owned()))
                .or_default() += 1;
        };
        if d["is_bot"].as_bool().unwrap() {
            add("bots", d["bot_reason"].as_str().unwrap());
            continue;
        }
        add("views", "all");
        add("page", d["path"].as_str().unwrap());
        if let Some(c) = d["country"].as_str() {
            add("country", c);
        }
        add("device", d["device"].as_str().unwrap());
        add("browser", d["browser"].as_str().unwrap());
        add("os", d["os"].as_str().unwrap());
        if let Some(r) = d["referrer_host"].as_str()
            && !d["referrer_same_site"].as_bool().unwrap()
        {
            add("referrer", r);
        }
        if let Some(c) = d["utm_campaign"].as_str() {
            add("campaign", c);
        }
        add("hour", &hour);
        if let Some(v) = d["visitor_hash"].as_str()
            && visitors.insert((site.clone(), day.clone(), v.to_owned()))
        {
            add("visitors", "all");
        }
    }
    out
}

/// Human views per `(site, minute "YYYY-MM-DDTHH:MM")`, each `event_id` once.
pub fn expected_minutes(details: &[Value]) -> BTreeMap<(String, String), u64> {
    let mut seen = BTreeSet::new();
    let mut out: BTreeMap<(String, String), u64> = BTreeMap::new();
    for d in details {
        if !seen.insert(d["event_id"].as_str().unwrap().to_owned()) || d["is_bot"] == json!(true) {
            continue;
        }
        let at = d["occurred_at"].as_str().unwrap();
        *out.entry((d["site"].as_str().unwrap().to_owned(), at[..16].to_owned()))
            .or_default() += 1;
    }
    out
}
