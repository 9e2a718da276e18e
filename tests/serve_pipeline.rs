//! `tally serve` end to end: known traffic through the real binary, SIGTERM, then `tally query`
//! over its data directory sees exactly the page views it served.

mod serve_support;

use serve_support::{
    CHROME_LINUX, FIREFOX_WINDOWS, GOOGLEBOT, IPHONE, Server, assert_owner_only, counts, named, sql,
};

#[test]
fn every_served_page_view_reaches_the_archive_after_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);

    let mut expected_views = 0;
    let mut get = |path: &str, headers: &[(&str, &str)], status: u16, counted: bool| {
        let r = server.get(path, headers);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        if counted {
            expected_views += 1;
        }
        r
    };
    for _ in 0..5 {
        get("/", &[("User-Agent", CHROME_LINUX)], 200, true);
    }
    for _ in 0..3 {
        get(
            "/about/",
            &[
                ("User-Agent", IPHONE),
                ("Referer", "https://news.example.org/item?id=1"),
            ],
            200,
            true,
        );
    }
    for _ in 0..2 {
        get(
            "/blog/hello-world.html?utm_source=mail&utm_medium=email&utm_campaign=autumn",
            &[("User-Agent", FIREFOX_WINDOWS)],
            200,
            true,
        );
    }
    // A bot is a page view, counted as a bot; a spoofed country is ignored without --trust-proxy.
    get(
        "/",
        &[
            ("User-Agent", GOOGLEBOT),
            ("CloudFront-Viewer-Country", "FR"),
        ],
        200,
        true,
    );
    // A conditional GET answered 304 is still a view of the page.
    let etag = get("/about/", &[("User-Agent", CHROME_LINUX)], 200, true)
        .header("etag")
        .expect("etag")
        .to_owned();
    get(
        "/about/",
        &[("User-Agent", CHROME_LINUX), ("If-None-Match", &etag)],
        304,
        true,
    );
    // Not page views: assets, missing pages, redirects, HEAD, the dashboard and its API.
    get("/style.css", &[("User-Agent", CHROME_LINUX)], 200, false);
    get("/logo.svg", &[("User-Agent", CHROME_LINUX)], 200, false);
    get("/missing", &[("User-Agent", CHROME_LINUX)], 404, false);
    get("/about", &[("User-Agent", CHROME_LINUX)], 301, false);
    get("/_tally/", &[("User-Agent", CHROME_LINUX)], 200, false);
    get(
        "/_tally/api/status",
        &[("User-Agent", CHROME_LINUX)],
        200,
        false,
    );
    assert_eq!(
        server
            .request("HEAD", "/", &[("User-Agent", CHROME_LINUX)])
            .status,
        200
    );

    // Stop at once: the drain, not a wait, must bring every view to the archive.
    let data = server.data.clone();
    let stderr_path = server.stderr.clone();
    let status = server.stop();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "exit {status:?}; stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "drained {expected_views} page view(s) ({expected_views} executed, 0 dead-lettered,"
        )),
        "{stderr}"
    );

    let total = sql(
        &data,
        "SELECT count(DISTINCT detail.event_id) AS views FROM page_views",
    );
    assert_eq!(
        total[0]["views"], expected_views,
        "archive holds every page view served"
    );
    let pages = counts(&named(&data, "top_pages"), "page");
    assert_eq!(
        pages,
        [
            ("/".to_owned(), 5),
            ("/about/".to_owned(), 5),
            ("/blog/hello-world.html".to_owned(), 2)
        ]
    );
    let bots = counts(&named(&data, "bots"), "class");
    assert_eq!(
        bots,
        [
            ("human".to_owned(), 12),
            ("user_agent_pattern".to_owned(), 1)
        ]
    );
    let countries = counts(&named(&data, "countries"), "country");
    assert_eq!(countries, [("unknown".to_owned(), 12)]);
    let referrers = counts(&named(&data, "referrers"), "referrer");
    assert_eq!(referrers, [("news.example.org".to_owned(), 3)]);
    let campaigns = counts(&named(&data, "campaigns"), "campaign");
    assert_eq!(campaigns, [("autumn".to_owned(), 2)]);
    let devices = named(&data, "devices");
    let by_device = |d: &str| -> u64 {
        devices
            .iter()
            .filter(|r| r["device"] == d)
            .map(|r| r["views"].as_u64().expect("views"))
            .sum()
    };
    assert_eq!((by_device("desktop"), by_device("mobile")), (9, 3));
    // Unique visitors: one keyed daily hash per (address, user agent): three browsers, one host.
    let daily = named(&data, "daily_visitors");
    assert_eq!(daily.len(), 1);
    assert_eq!(daily[0]["visitors"], 3);

    // Today's salt and the event-id key are kept, owner-only; no raw IP address is stored, and
    // no event id is a request id of the server's own (`serve-…`).
    let today = chrono::Utc::now().date_naive().to_string();
    assert_owner_only(&data.join("salts").join(today));
    assert_owner_only(&data.join("event-id-key"));
    for id in sql(&data, "SELECT detail.event_id AS event_id FROM page_views") {
        let id = id["event_id"].as_str().expect("an id");
        assert!(id.starts_with("k1-"), "{id} is not keyed");
    }
    let all = sql(&data, "SELECT * FROM page_views");
    assert!(
        !serde_json::to_string(&all)
            .expect("json")
            .contains("127.0.0.1")
    );
}

#[test]
fn trusted_proxy_headers_give_client_and_country() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[
            "--trust-proxy",
            "--trusted-hops",
            "2",
            "--country-header",
            "X-Country",
            "--api-token",
            "t0ken-t0ken-t0ken-t0ken-t0ken-t0ken",
        ],
    );
    for (ip, country) in [
        ("203.0.113.7", "DE"),
        ("203.0.113.7", "DE"),
        ("198.51.100.2", "jp"),
        ("198.51.100.3", "not-a-code"),
    ] {
        let r = server.get(
            "/",
            &[
                ("User-Agent", CHROME_LINUX),
                // The client's own claim (192.0.2.99), the address the CDN saw (the visitor),
                // the CDN's address as the load balancer saw it: two trusted hops.
                ("X-Forwarded-For", &format!("192.0.2.99, {ip}, 10.0.0.1")),
                ("X-Country", country),
            ],
        );
        assert_eq!(r.status, 200);
    }
    // The API requires the token once a proxy exposes the server.
    assert_eq!(server.get("/_tally/api/status", &[]).status, 401);
    assert_eq!(
        server
            .get("/_tally/api/status", &[("Authorization", "Bearer wrong")])
            .status,
        401
    );
    let ok = server.get(
        "/_tally/api/status",
        &[(
            "Authorization",
            "Bearer t0ken-t0ken-t0ken-t0ken-t0ken-t0ken",
        )],
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let data = server.data.clone();
    assert!(server.stop().success());

    let countries = counts(&named(&data, "countries"), "country");
    assert_eq!(
        countries,
        [
            ("DE".to_owned(), 2),
            ("JP".to_owned(), 1),
            ("unknown".to_owned(), 1)
        ]
    );
    // Three client addresses, one user agent: three visitors.
    assert_eq!(named(&data, "daily_visitors")[0]["visitors"], 3);
    let all = serde_json::to_string(&sql(&data, "SELECT * FROM page_views")).expect("json");
    for ip in ["203.0.113.7", "198.51.100.2", "198.51.100.3"] {
        assert!(!all.contains(ip), "raw address {ip} stored");
    }
}

#[test]
fn no_pipeline_serves_files_and_counts_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--no-pipeline"]);
    server.assert_alive();
    assert_eq!(server.get("/_tally/api/live", &[]).status, 503);
    assert!(server.stop().success());
    assert!(!data.join("archive").exists());
}

#[test]
fn sigterm_under_load_loses_no_page_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let addr = server.addr;
    let ok = std::sync::atomic::AtomicU64::new(0);
    let stop_at = std::time::Instant::now() + std::time::Duration::from_millis(700);
    let (stderr_path, data) = (server.stderr.clone(), server.data.clone());
    let status = std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                // Keep requesting until the server refuses connections.
                loop {
                    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
                        return;
                    };
                    use std::io::{Read, Write};
                    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: {CHROME_LINUX}\r\nConnection: close\r\n\r\n");
                    if c.write_all(req.as_bytes()).is_err() {
                        return;
                    }
                    let mut out = Vec::new();
                    if c.read_to_end(&mut out).is_err() {
                        return;
                    }
                    if out.starts_with(b"HTTP/1.1 200") {
                        ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    } else if out.is_empty() {
                        return;
                    }
                }
            });
        }
        while std::time::Instant::now() < stop_at {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        server.stop()
    });
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "{stderr}");
    let ok = ok.into_inner();
    assert!(ok > 0);
    let drained = format!("drained {ok} page view(s) ({ok} executed, 0 dead-lettered,");
    assert!(
        stderr.contains(&drained),
        "expected {drained:?} in {stderr}"
    );
    let archived = sql(
        &data,
        "SELECT count(DISTINCT detail.event_id) AS views FROM page_views",
    );
    assert_eq!(archived[0]["views"], ok);
}

#[test]
fn the_api_answers_from_the_counters_and_refuses_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    for path in ["/", "/", "/about/"] {
        assert_eq!(server.get(path, &[("User-Agent", IPHONE)]).status, 200);
    }
    // The bus delivers to the consumers after the execution: wait for the counters.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.api("live")["total"] != 3 {
        assert!(std::time::Instant::now() < deadline, "pipeline stuck");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let counters = server.api("counters?limit=1");
    assert_eq!(
        (counters["views"].as_u64(), counters["visitors"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        counters["top"]["page"],
        serde_json::json!([{"value": "/", "count": 2}])
    );
    assert_eq!(
        counters["top"]["device"],
        serde_json::json!([{"value": "mobile", "count": 3}])
    );
    let live = server.api("live");
    assert_eq!(live["total"], 3);
    assert_eq!(live["minutes"].as_array().map(Vec::len), Some(30));
    let pages = server.api("query/top_pages");
    assert_eq!(pages["rows"][0]["page"], "/");
    assert_eq!(pages["rows"][0]["views"], 2);
    let queries = server.api("queries");
    assert!(
        queries["queries"]
            .as_array()
            .expect("names")
            .contains(&serde_json::json!("top_pages"))
    );
    // An empty range has no rows.
    assert_eq!(
        server.api("query/top_pages?from=2001-01-01&to=2001-01-02")["rows"],
        serde_json::json!([])
    );

    for (path, status, message) in [
        ("counters?from=yesterday", 400, "from is not a date"),
        ("counters?from=2026-02-01&to=2026-01-01", 400, "is after to"),
        (
            "counters?from=2000-01-01&to=2026-01-01",
            400,
            "longer than 366 days",
        ),
        ("counters?limit=0", 400, "limit"),
        ("query/drop_tables", 404, "no named query"),
        ("nothing", 404, "no endpoint"),
    ] {
        let r = server.get(&format!("/_tally/api/{path}"), &[]);
        assert_eq!(r.status, status, "{path}");
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json error");
        assert!(
            body["error"].as_str().expect("error").contains(message),
            "{path}: {body}"
        );
    }
    assert!(server.stop().success());
}

#[test]
fn beyond_loopback_the_api_token_is_generated_and_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--trust-proxy"]);
    let token_file = data.join("api-token");
    let token = std::fs::read_to_string(&token_file).expect("generated token");
    assert_owner_only(&token_file);
    assert!(server.stderr().contains(&format!("/_tally/#token={token}")));
    assert_eq!(server.get("/_tally/api/live", &[]).status, 401);
    let r = server.get(
        "/_tally/api/live",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The dashboard page itself is public; only its data needs the token.
    assert_eq!(server.get("/_tally/", &[]).status, 200);
    assert!(server.stop().success());
}

/// The first value under `key` anywhere in `v`.
fn find<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|x| find(x, key))),
        serde_json::Value::Array(items) => items.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}

#[test]
fn minimised_details_never_reach_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--drop", "language", "--time-precision", "minute"]);
    let headers = [
        ("User-Agent", CHROME_LINUX),
        ("Accept-Language", "fr-CH, fr;q=0.9"),
    ];
    assert_eq!(server.get("/", &headers).status, 200);
    assert!(server.stop().success());
    let rows = sql(&data, "SELECT * FROM page_views");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let text = serde_json::to_string(&rows).expect("json");
    assert!(!text.contains("fr-CH"), "{text}");
    let at = find(&rows[0], "occurred_at")
        .and_then(|v| v.as_str())
        .expect("occurred_at");
    assert!(at.ends_with(":00.000Z"), "{at} is not cut to the minute");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["serve", "--drop", "town"])
        .output()
        .expect("tally serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"town\" is not one of city, region, timezone, language"),
        "{stderr}"
    );
}

#[test]
fn links_from_the_sites_own_addresses_are_same_site_not_referrers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    for referer in [
        "http://127.0.0.1:8080/about/",
        "http://localhost/blog/",
        "https://news.example.org/item?id=1",
    ] {
        let r = server.get("/", &[("User-Agent", CHROME_LINUX), ("Referer", referer)]);
        assert_eq!(r.status, 200);
    }
    assert!(server.stop().success());
    let referrers = counts(&named(&data, "referrers"), "referrer");
    assert_eq!(referrers, [("news.example.org".to_owned(), 1)]);
}
