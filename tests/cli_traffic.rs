//! `tally traffic` against a real HTTP/1.1 listener started here (hyper on tokio) that serves a
//! small site and records every request it receives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tally_edge::EdgeConfig;
use tally_edge::agent::classify;
use tally_edge::query::Utm;
use tally_edge::referrer;

const CRAWL_UA_PREFIX: &str = "tally-traffic/";

/// One request as the listener saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    fn is_crawl(&self) -> bool {
        self.header("user-agent")
            .is_some_and(|ua| ua.starts_with(CRAWL_UA_PREFIX))
    }
}

type Site = &'static [(&'static str, &'static str, &'static str)];

/// `/` links to two sections, an external site and a mail address, and uses a stylesheet and an
/// image; `/secret/` is linked from nowhere.
const SITE: Site = &[
    (
        "/",
        "text/html; charset=utf-8",
        r#"<html><head><link rel="stylesheet" href="/style.css"></head><body>
        <a href="/about/">About</a> <a href="blog/">Blog</a> <a href="https://example.com/">x</a>
        <a href="mailto:me@example.com">mail</a> <img src="img/logo.png"></body></html>"#,
    ),
    (
        "/about/",
        "text/html",
        r#"<a href="/">Home</a> <a href="../blog/first.html">First post</a>"#,
    ),
    (
        "/blog/",
        "text/html",
        r#"<a href="first.html">1</a> <a href="second.html#top">2</a> <a href="/missing/">gone</a>"#,
    ),
    (
        "/blog/first.html",
        "text/html",
        r#"<link rel=stylesheet href=/style.css><a href="/blog/">Blog</a>"#,
    ),
    ("/blog/second.html", "text/html", "<p>no links</p>"),
    ("/secret/", "text/html", "<p>linked from nowhere</p>"),
    ("/style.css", "text/css", "body { margin: 0 }"),
    ("/img/logo.png", "image/png", "not really a png"),
];

const PAGES: [&str; 5] = [
    "/",
    "/about/",
    "/blog/",
    "/blog/first.html",
    "/blog/second.html",
];

/// A recording HTTP server on a free loopback port, on its own runtime.
struct Listener {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Listener {
    fn start(site: Site, delay: Duration) -> Self {
        Self::start_failing(site, delay, None)
    }

    /// Like `start`, but `fail` (a path) is answered 503 to all but the crawl.
    fn start_failing(site: Site, delay: Duration, fail: Option<&'static str>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::clone(&seen);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let log = Arc::clone(&log);
                        async move { Ok::<_, Infallible>(answer(site, delay, fail, &log, &req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Listener {
            addr,
            seen,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn traffic(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| !s.is_crawl()).collect()
    }
}

async fn answer(
    site: Site,
    delay: Duration,
    fail: Option<&str>,
    log: &Mutex<Vec<Seen>>,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), v)
        })
        .collect();
    let path = req.uri().path().to_owned();
    let seen = Seen {
        at: Instant::now(),
        path: path.clone(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers,
    };
    let crawl = seen.is_crawl();
    log.lock().unwrap().push(seen);
    tokio::time::sleep(delay).await;
    if fail == Some(path.as_str()) && !crawl {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Full::new(Bytes::from_static(b"unavailable")))
            .unwrap();
    }
    match site.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => Response::builder()
            .header("content-type", *content_type)
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap(),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found")))
            .unwrap(),
    }
}

fn tally(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Runs `tally traffic` against `listener` and returns its summary.
fn traffic(listener: &Listener, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let url = listener.url();
    let mut args = vec![
        "traffic",
        "--target",
        &url,
        "--summary",
        summary.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = tally(&args);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("page views"), "{out}");
    serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap()
}

fn label<T: serde::Serialize>(class: &T) -> String {
    serde_json::to_value(class)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

fn counts(keys: impl IntoIterator<Item = String>) -> Value {
    let mut map = BTreeMap::<String, u64>::new();
    for k in keys {
        *map.entry(k).or_default() += 1;
    }
    serde_json::to_value(map).unwrap()
}

fn is_documentation_address(s: &str) -> bool {
    let Ok(ip) = s.parse::<Ipv4Addr>() else {
        return false;
    };
    let [a, b, c, _] = ip.octets();
    matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113))
}

/// The summary is what the listener received, counted with the edge's own classifiers (the
/// ones the pipeline uses), and the requests look like real viewers'.
#[test]
fn the_summary_is_what_the_site_received() {
    let listener = Listener::start(SITE, Duration::ZERO);
    let summary = traffic(
        &listener,
        &[
            "--rate",
            "100",
            "--duration",
            "3",
            "--seed",
            "11",
            "--visitors",
            "1000",
        ],
    );

    // The crawl: every linked page once, nothing unlinked, nothing off-site; a prefetch.
    let crawl: Vec<Seen> = listener.seen().into_iter().filter(Seen::is_crawl).collect();
    let crawled: BTreeSet<&str> = crawl.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        crawled,
        PAGES.iter().copied().chain(["/missing/"]).collect(),
        "{crawl:?}"
    );
    assert_eq!(crawl.len(), crawled.len(), "a page was crawled twice");
    assert!(
        crawl
            .iter()
            .all(|s| s.header("sec-purpose") == Some("prefetch"))
    );
    let pages: Vec<&str> = summary["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(pages[0], "/");
    assert_eq!(
        pages.iter().copied().collect::<BTreeSet<_>>(),
        PAGES.into_iter().collect()
    );

    // Every request the summary counts arrived, and nothing else.
    let seen = listener.traffic();
    assert_eq!(seen.len(), 300);
    assert_eq!(summary["requests"], 300);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["status"], serde_json::json!({"200": 300}));
    let allowed: BTreeSet<&str> = PAGES
        .into_iter()
        .chain(["/style.css", "/img/logo.png"])
        .collect();
    for s in &seen {
        assert!(allowed.contains(s.path.as_str()), "{}", s.path);
    }

    // Header realism: documentation addresses only, a country and a user agent on every request.
    for s in &seen {
        let xff = s.header("x-forwarded-for").unwrap_or_default();
        assert!(is_documentation_address(xff), "{xff:?}");
        let country = s.header("cloudfront-viewer-country").unwrap_or_default();
        assert!(
            country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()),
            "{country:?}"
        );
        assert!(s.header("user-agent").is_some_and(|ua| !ua.is_empty()));
    }

    // Count what arrived the way the edge would.
    let config = EdgeConfig::new("127.0.0.1");
    let is_asset = |s: &&Seen| s.path.ends_with(".css") || s.path.ends_with(".png");
    let agent = |s: &Seen| classify(s.header("user-agent"));
    let humans: Vec<&Seen> = seen
        .iter()
        .filter(|s| !is_asset(s) && agent(s).bot.is_none())
        .collect();
    let bots = seen
        .iter()
        .filter(|s| !is_asset(s) && agent(s).bot.is_some())
        .count();
    let assets = seen.iter().filter(is_asset).count();
    assert_eq!(summary["asset_requests"], assets);
    assert_eq!(summary["bot_views"], bots);
    assert_eq!(summary["page_views"], humans.len());
    assert!(bots > 0 && assets > 0 && humans.len() > 100);
    let bot_names = summary["bots"].as_object().unwrap();
    assert_eq!(
        bot_names.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        bots as u64
    );

    let visitors: BTreeSet<(&str, &str)> = humans
        .iter()
        .map(|s| {
            (
                s.header("x-forwarded-for").unwrap(),
                s.header("user-agent").unwrap(),
            )
        })
        .collect();
    assert_eq!(summary["unique_visitors"], visitors.len());
    assert_eq!(
        summary["by_path"],
        counts(humans.iter().map(|s| s.path.clone()))
    );
    let by_country = counts(
        humans
            .iter()
            .map(|s| s.header("cloudfront-viewer-country").unwrap().to_owned()),
    );
    assert_eq!(summary["by_country"], by_country);
    assert!(by_country.as_object().unwrap().len() >= 5, "{by_country}");
    let by_device = counts(humans.iter().map(|s| label(&agent(s).device)));
    assert_eq!(summary["by_device"], by_device);
    for device in ["desktop", "mobile"] {
        assert!(by_device.get(device).is_some(), "{by_device}");
    }
    assert_eq!(
        summary["by_browser"],
        counts(humans.iter().map(|s| label(&agent(s).browser)))
    );

    let referrers: Vec<Option<referrer::Referrer>> = humans
        .iter()
        .map(|s| {
            s.header("referer")
                .map(|r| referrer::parse(r, &config).unwrap())
        })
        .collect();
    let external = referrers
        .iter()
        .flatten()
        .filter(|r| !r.same_site)
        .map(|r| r.host.clone());
    let by_referrer = counts(external);
    assert_eq!(summary["by_referrer_host"], by_referrer);
    assert!(by_referrer.get("www.google.com").is_some(), "{by_referrer}");
    assert_eq!(
        summary["internal_referrals"],
        referrers.iter().flatten().filter(|r| r.same_site).count()
    );
    assert_eq!(
        summary["direct"],
        referrers.iter().filter(|r| r.is_none()).count()
    );
    let by_campaign = counts(humans.iter().filter_map(|s| Utm::parse(&s.query).campaign));
    assert_eq!(summary["by_campaign"], by_campaign);
    assert!(!by_campaign.as_object().unwrap().is_empty());
}

/// With one request in flight at a time the order is fixed too: the same seed sends the same
/// requests, another seed others.
#[test]
fn a_seed_gives_the_same_traffic() {
    let run = |seed: &str| {
        let listener = Listener::start(SITE, Duration::ZERO);
        let mut summary = traffic(
            &listener,
            &[
                "--rate",
                "60",
                "--duration",
                "1",
                "--seed",
                seed,
                "--concurrency",
                "1",
            ],
        );
        summary["elapsed_secs"] = Value::Null;
        summary["late"] = Value::Null;
        summary["target"] = Value::Null;
        // The site's own address (a free port, so another each run) written as `SITE`.
        let url = listener.url();
        let requests: Vec<String> = listener
            .traffic()
            .into_iter()
            .map(|mut s| {
                s.headers.remove("host");
                format!("{} {} {:?}", s.path, s.query, s.headers).replace(&url, "SITE")
            })
            .collect();
        (requests, summary)
    };
    let (a, summary_a) = run("5");
    let (b, summary_b) = run("5");
    let (c, _) = run("6");
    assert_eq!(a.len(), 60);
    assert!(
        a.iter().any(|r| r.contains("SITE/")),
        "no internal referrer"
    );
    if let Some(i) = (0..a.len()).find(|&i| a.get(i) != b.get(i)) {
        panic!("request {i} differs:\n{:?}\n{:?}", a.get(i), b.get(i));
    }
    assert_eq!(summary_a, summary_b);
    assert_ne!(a, c);
}

/// Requests leave on schedule, spread over the duration, whatever the answers: a site that
/// takes 300 ms per answer does not slow the sending down (a closed loop would need 18 s).
#[test]
fn requests_are_paced_open_loop() {
    let listener = Listener::start(SITE, Duration::from_millis(300));
    let summary = traffic(
        &listener,
        &["--rate", "20", "--duration", "3", "--seed", "2"],
    );
    let seen = listener.traffic();
    assert_eq!(seen.len(), 60);
    assert_eq!(summary["requests"], 60);
    let first = seen.iter().map(|s| s.at).min().unwrap();
    let last = seen.iter().map(|s| s.at).max().unwrap();
    let in_first_second = seen
        .iter()
        .filter(|s| s.at.duration_since(first) < Duration::from_secs(1))
        .count();
    // 20 are due in the first second (more only after a stall, catching up); a burst would
    // send all 60 at once.
    assert!(
        in_first_second <= 45,
        "{in_first_second} in the first second"
    );
    assert!(
        last.duration_since(first) >= Duration::from_millis(2500),
        "{:?}",
        last.duration_since(first)
    );
    assert!(
        last.duration_since(first) < Duration::from_secs(12),
        "sending waited for answers: {:?}",
        last.duration_since(first)
    );
}

/// Server errors are counted as errors and by status; the page views are still counted (the
/// request reached the site).
#[test]
fn server_errors_are_counted() {
    let listener = Listener::start_failing(SITE, Duration::ZERO, Some("/about/"));
    let summary = traffic(
        &listener,
        &["--rate", "100", "--duration", "2", "--seed", "4"],
    );
    let seen = listener.traffic();
    let failed = seen.iter().filter(|s| s.path == "/about/").count();
    assert!(failed > 0);
    assert_eq!(summary["errors"], failed);
    assert_eq!(summary["status"]["503"], failed);
    assert_eq!(summary["status"]["200"], seen.len() - failed);
    assert_eq!(summary["requests"], seen.len());
}

/// A site whose `/` is not HTML is one page.
#[test]
fn a_site_without_links_is_its_root() {
    const PLAIN: Site = &[("/", "text/plain", "hello")];
    let listener = Listener::start(PLAIN, Duration::ZERO);
    let summary = traffic(
        &listener,
        &["--rate", "50", "--duration", "1", "--seed", "3"],
    );
    assert_eq!(summary["pages"], serde_json::json!(["/"]));
    assert!(listener.traffic().iter().all(|s| s.path == "/"));
    assert_eq!(summary["requests"], 50);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for (args, says) in [
        (vec!["--rate", "0", "--duration", "1"], "--rate"),
        (
            vec!["--rate", "10", "--duration", "0.01"],
            "less than one request",
        ),
        (vec!["--rate", "10", "--duration", "1x"], "unknown unit"),
        (
            vec!["--rate", "10", "--duration", "1", "--visitors", "100001"],
            "--visitors",
        ),
        (
            vec![
                "--rate",
                "10",
                "--duration",
                "1",
                "--target",
                "https://example.com",
            ],
            "only http://",
        ),
        (
            vec!["--rate", "10", "--duration", "1", "--target", &closed],
            "cannot crawl the site",
        ),
    ] {
        let mut full = vec!["traffic"];
        full.extend(args.iter().copied());
        let (code, _, err) = tally(&full);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
