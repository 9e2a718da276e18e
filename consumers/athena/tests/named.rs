//! Every named query on a generated archive, against counts computed here independently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use tally_archive::{Archive, ArchiveConfig};
use tally_athena::{Query, Range, named_queries, named_query, to_rows};

#[derive(Debug, Clone)]
struct View {
    event_id: String,
    site: &'static str,
    path: &'static str,
    occurred: DateTime<Utc>,
    country: Option<&'static str>,
    device: &'static str,
    os: &'static str,
    browser: &'static str,
    bot: Option<&'static str>,
    referrer: Option<(&'static str, bool)>,
    campaign: Option<(&'static str, Option<&'static str>, Option<&'static str>)>,
    visitor: Option<String>,
}

impl View {
    fn day(&self) -> String {
        self.occurred.format("%Y-%m-%d").to_string()
    }

    fn detail(&self) -> Value {
        let mut d = json!({
            "event_id": self.event_id, "schema_version": "1-0-0", "site": self.site, "path": self.path,
            "occurred_at": self.occurred.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "received_at": self.occurred.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "device": self.device, "os": self.os, "browser": self.browser, "is_bot": self.bot.is_some(),
            "referrer_same_site": self.referrer.is_some_and(|(_, same)| same),
        });
        let m = d.as_object_mut().unwrap();
        if let Some(c) = self.country {
            m.insert("country".into(), c.into());
        }
        if let Some(b) = self.bot {
            m.insert("bot_reason".into(), b.into());
        }
        if let Some((host, _)) = self.referrer {
            m.insert("referrer_host".into(), host.into());
            m.insert("referrer_path".into(), "/".into());
        }
        if let Some((campaign, source, medium)) = self.campaign {
            m.insert("utm_campaign".into(), campaign.into());
            if let Some(s) = source {
                m.insert("utm_source".into(), s.into());
            }
            if let Some(md) = medium {
                m.insert("utm_medium".into(), md.into());
            }
        }
        if let Some(v) = &self.visitor {
            m.insert("visitor_hash".into(), v.clone().into());
        }
        d
    }
}

/// A small deterministic generator (xorshift), so the archive is the same every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn generate(n: usize) -> Vec<View> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let start = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let occurred = start + chrono::Duration::seconds((rng.next() % (3 * 86_400)) as i64);
            let bot = if rng.next().is_multiple_of(7) {
                Some(rng.pick(&["user_agent_pattern", "headless_browser", "empty_user_agent"]))
            } else {
                None
            };
            View {
                event_id: format!("ev-{i}"),
                site: rng.pick(&["www.example.com", "blog.example.org"]),
                path: rng.pick(&[
                    "/",
                    "/about",
                    "/blog/",
                    "/blog/hello/",
                    "/café/",
                    "/pricing",
                ]),
                occurred,
                country: rng.pick(&[Some("FR"), Some("US"), Some("JP"), None, Some("BR")]),
                device: rng.pick(&["desktop", "mobile", "tablet", "unknown"]),
                os: rng.pick(&["windows", "ios", "android", "linux"]),
                browser: rng.pick(&["chrome", "safari", "firefox"]),
                bot,
                referrer: rng.pick(&[
                    None,
                    Some(("news.ycombinator.com", false)),
                    Some(("www.example.com", true)),
                    Some(("duckduckgo.com", false)),
                ]),
                campaign: rng.pick(&[
                    None,
                    None,
                    Some(("autumn", Some("newsletter"), Some("email"))),
                    Some(("launch", None, None)),
                ]),
                visitor: if rng.next().is_multiple_of(5) {
                    None
                } else {
                    Some(format!("{:032x}", rng.next() % 40))
                },
            }
        })
        .collect()
}

fn write_archive(dir: &std::path::Path, views: &[View]) {
    let mut config = ArchiveConfig::new(dir);
    config.buffer_bytes = 16 * 1024;
    let (archive, _) = Archive::open(config).unwrap();
    for (i, v) in views.iter().enumerate() {
        let event = json!({"version": "0", "id": format!("env-{i}"), "detail-type": "PageView", "source": "tally",
                           "account": "000000000000", "time": "2026-11-29T00:00:00Z", "region": "local",
                           "resources": [], "detail": v.detail()});
        archive.append(&event, v.occurred).unwrap();
    }
    archive.flush().unwrap();
    assert!(
        archive.objects().unwrap().len() > 5,
        "spread over several objects and partitions"
    );
}

fn rows(map: Vec<Map<String, Value>>) -> Vec<Value> {
    map.into_iter().map(Value::Object).collect()
}

fn sorted_desc<K: Ord + Clone>(counts: BTreeMap<K, u64>) -> Vec<(K, u64)> {
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn expected(name: &str, views: &[View]) -> Vec<Value> {
    let humans: Vec<&View> = views.iter().filter(|v| v.bot.is_none()).collect();
    let count_by = |key: &dyn Fn(&View) -> Option<String>| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for v in &humans {
            if let Some(k) = key(v) {
                *m.entry(k).or_default() += 1;
            }
        }
        m
    };
    match name {
        "top_pages" => {
            let mut m: BTreeMap<(String, String), (u64, BTreeSet<String>)> = BTreeMap::new();
            for v in &humans {
                let e = m.entry((v.site.into(), v.path.into())).or_default();
                e.0 += 1;
                e.1.extend(v.visitor.clone());
            }
            let mut rows: Vec<_> = m.into_iter().collect();
            rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
            rows.into_iter()
                .take(100)
                .map(|((site, page), (views, vis))| json!({"site": site, "page": page, "views": views, "visitors": vis.len()}))
                .collect()
        }
        "countries" => sorted_desc(count_by(&|v| Some(v.country.unwrap_or("unknown").into())))
            .into_iter()
            .map(|(c, n)| json!({"country": c, "views": n}))
            .collect(),
        "devices" => {
            let mut m: BTreeMap<(String, String, String), u64> = BTreeMap::new();
            for v in &humans {
                *m.entry((v.device.into(), v.os.into(), v.browser.into()))
                    .or_default() += 1;
            }
            sorted_desc(m)
                .into_iter()
                .map(|((d, o, b), n)| json!({"device": d, "os": o, "browser": b, "views": n}))
                .collect()
        }
        "hours" => {
            let m = count_by(&|v| Some(v.occurred.format("%H").to_string()));
            m.into_iter()
                .map(|(h, n)| json!({"hour": h.parse::<u32>().unwrap(), "views": n}))
                .collect()
        }
        "referrers" => sorted_desc(count_by(&|v| {
            v.referrer
                .filter(|(_, same)| !same)
                .map(|(h, _)| h.to_owned())
        }))
        .into_iter()
        .take(100)
        .map(|(r, n)| json!({"referrer": r, "views": n}))
        .collect(),
        "campaigns" => {
            let mut m: BTreeMap<(String, String, String), u64> = BTreeMap::new();
            for v in &humans {
                if let Some((c, s, md)) = v.campaign {
                    *m.entry((c.into(), s.unwrap_or("").into(), md.unwrap_or("").into()))
                        .or_default() += 1;
                }
            }
            sorted_desc(m)
                .into_iter()
                .map(
                    |((c, s, md), n)| json!({"campaign": c, "source": s, "medium": md, "views": n}),
                )
                .collect()
        }
        "daily_visitors" => {
            let mut m: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
            for v in &humans {
                let e = m.entry(v.day()).or_default();
                e.0.extend(v.visitor.clone());
                e.1 += 1;
            }
            m.into_iter()
                .map(|(d, (vis, n))| json!({"day": d, "visitors": vis.len(), "views": n}))
                .collect()
        }
        "bots" => {
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            for v in views {
                *m.entry(v.bot.unwrap_or("human").into()).or_default() += 1;
            }
            let total = views.len() as f64;
            sorted_desc(m)
                .into_iter()
                .map(|(c, n)| json!({"class": c, "views": n, "share": n as f64 / total}))
                .collect()
        }
        other => panic!("no expectation for {other}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_named_query_agrees_with_independent_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let views = generate(3000);
    // A page view delivered twice (same event id, new envelope) counts once.
    let dup = views[10].clone();
    let mut written = views.clone();
    written.push(dup);
    write_archive(tmp.path(), &written);

    let rt = runtime();
    let query = rt
        .block_on(Query::open(tmp.path(), &Range::new(None, None).unwrap()))
        .unwrap();
    for named in named_queries() {
        let batches = rt
            .block_on(query.run(named.sql))
            .unwrap_or_else(|e| panic!("{}: {e}", named.name));
        let got = rows(to_rows(&batches).unwrap());
        let want = expected(named.name, &views);
        assert_eq!(got, want, "named query {}", named.name);
        assert!(
            !want.is_empty(),
            "{} returned nothing: the generator does not exercise it",
            named.name
        );
    }
}

#[test]
fn a_date_range_limits_the_days() {
    let tmp = tempfile::tempdir().unwrap();
    let views = generate(500);
    write_archive(tmp.path(), &views);
    let rt = runtime();
    let range = Range::new(Some("2026-11-28".into()), Some("2026-11-28".into())).unwrap();
    let query = rt.block_on(Query::open(tmp.path(), &range)).unwrap();
    let batches = rt
        .block_on(query.run(named_query("daily_visitors").unwrap().sql))
        .unwrap();
    let got = rows(to_rows(&batches).unwrap());
    let days: Vec<&str> = got.iter().map(|r| r["day"].as_str().unwrap()).collect();
    assert_eq!(days, vec!["2026-11-28"]);
    let in_range = views
        .iter()
        .filter(|v| v.bot.is_none() && v.day() == "2026-11-28")
        .count();
    assert_eq!(got[0]["views"], json!(in_range));
}

#[test]
fn bad_dates_and_missing_archives_are_clear_errors() {
    assert!(
        Range::new(Some("28/11/2026".into()), None)
            .unwrap_err()
            .to_string()
            .contains("28/11/2026")
    );
    let tmp = tempfile::tempdir().unwrap();
    let err = runtime()
        .block_on(Query::open(
            &tmp.path().join("nope"),
            &Range::new(None, None).unwrap(),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("no archive at"), "{err}");
}

#[test]
fn every_query_file_is_a_named_query() {
    let dir = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("queries");
    let files: HashSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let named: HashSet<String> = named_queries().iter().map(|q| q.name.to_owned()).collect();
    assert_eq!(
        files, named,
        "add the file to the list in src/lib.rs (or remove it)"
    );
}

#[test]
fn the_tables_columns_are_named_as_athena_sees_them_here_too() {
    let tmp = tempfile::tempdir().unwrap();
    write_archive(tmp.path(), &generate(300));
    let rt = runtime();
    let query = rt
        .block_on(Query::open(tmp.path(), &Range::new(None, None).unwrap()))
        .unwrap();
    // `detail_type` is read from the JSON key `detail-type` (the SerDe mapping), here as there.
    let sql = "SELECT detail_type, count(*) AS n FROM page_views GROUP BY detail_type";
    let got = rows(to_rows(&rt.block_on(query.run(sql)).unwrap()).unwrap());
    assert_eq!(got, [json!({"detail_type": "PageView", "n": 300})]);
}
