//! The dashboard in a real browser: known traffic through `tally serve`, then headless Chromium
//! (Debian's `chromium`, installed by `./tests/run`) loads `/_tally/` and the test reads the
//! numbers the page rendered.

mod serve_support;

use std::process::Command;

use serve_support::{CHROME_LINUX, FIREFOX_WINDOWS, IPHONE, Server};

const TOKEN: &str = "dashboard-test-token-0123456789abcdef";

/// The DOM of `url` after Chromium has run its scripts.
fn dump_dom(url: &str, profile: &std::path::Path) -> String {
    let chromium = std::env::var("TALLY_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-proxy-server",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {chromium:?} ({e}): this test needs headless Chromium; run it \
                 through ./tests/run, which installs Debian's chromium package, or set \
                 TALLY_CHROMIUM to a Chromium binary"
            )
        });
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 dom")
}

/// The text of the element with `id`.
fn text_of(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let rest = &dom[start..];
    let open = rest.find('>').expect("tag end") + 1;
    let close = rest[open..].find('<').expect("text end");
    rest[open..open + close].to_owned()
}

/// The rows of table `id` as `(data-key, numbers…)`.
fn rows(dom: &str, id: &str) -> Vec<(String, Vec<String>)> {
    let start = dom
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let table = &dom[start..start + dom[start..].find("</table>").expect("table end")];
    table
        .split("<tr data-key=\"")
        .skip(1)
        .map(|row| {
            let key = row[..row.find('"').expect("key end")].to_owned();
            let numbers = row
                .split("<td class=\"n\">")
                .skip(1)
                .map(|c| c[..c.find('<').expect("cell end")].to_owned())
                .collect();
            (key, numbers)
        })
        .collect()
}

fn row<'a>(table: &'a [(String, Vec<String>)], key: &str) -> &'a [String] {
    &table
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no row {key:?} in {table:?}"))
        .1
}

/// One request: path, client address, country, user agent, other headers.
type Visit<'a> = (&'a str, &'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);

#[test]
fn the_dashboard_shows_the_traffic_it_was_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        &dir.path().join("data"),
        &["--trust-proxy", "--api-token", TOKEN],
    );
    // Known traffic: 4 visitors (address + user agent), 10 views.
    let traffic: [Visit; 10] = [
        ("/", "203.0.113.1", "DE", CHROME_LINUX, &[]),
        ("/", "203.0.113.1", "DE", CHROME_LINUX, &[]),
        (
            "/",
            "203.0.113.2",
            "FR",
            IPHONE,
            &[("Referer", "https://news.example.org/a")],
        ),
        ("/about/", "203.0.113.1", "DE", CHROME_LINUX, &[]),
        ("/about/", "203.0.113.2", "FR", IPHONE, &[]),
        (
            "/about/",
            "203.0.113.3",
            "FR",
            FIREFOX_WINDOWS,
            &[("Referer", "https://news.example.org/b")],
        ),
        (
            "/blog/hello-world.html?utm_campaign=launch&utm_source=mail",
            "203.0.113.3",
            "FR",
            FIREFOX_WINDOWS,
            &[],
        ),
        (
            "/blog/hello-world.html?utm_campaign=launch&utm_source=mail",
            "203.0.113.4",
            "JP",
            IPHONE,
            &[],
        ),
        (
            "/blog/hello-world.html?utm_campaign=launch&utm_source=mail",
            "203.0.113.4",
            "JP",
            IPHONE,
            &[],
        ),
        (
            "/blog/",
            "203.0.113.4",
            "JP",
            IPHONE,
            &[("Referer", "https://search.example.com/")],
        ),
    ];
    for (path, ip, country, ua, extra) in traffic {
        let mut headers = vec![
            ("User-Agent", ua),
            ("X-Forwarded-For", ip),
            ("CloudFront-Viewer-Country", country),
        ];
        headers.extend_from_slice(extra);
        assert_eq!(server.get(path, &headers).status, 200, "{path}");
    }
    // Wait until both consumers have every view: the page reads the counters (live) and the
    // archive (history); the bus delivers to them after the enrichment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let bearer = format!("Bearer {TOKEN}");
    let api = |path: &str| -> serde_json::Value {
        let r = server.get(
            &format!("/_tally/api/{path}"),
            &[("Authorization", &bearer)],
        );
        serde_json::from_slice(&r.body).expect("api json")
    };
    loop {
        let live = api("live");
        let history = api("query/daily_visitors");
        if live["total"] == 10 && history["rows"][0]["views"] == 10 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pipeline stuck: {live} {history}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let profile = dir.path().join("chromium-profile");
    let base = format!("http://{}/_tally/", server.addr);

    // Without the token the API refuses, and the page says so.
    let refused = dump_dom(&base, &profile);
    assert!(refused.contains("data-state=\"error\""), "{refused}");
    assert!(text_of(&refused, "error").contains("Authorization"));

    let dom = dump_dom(&format!("{base}#token={TOKEN}"), &profile);
    assert!(
        dom.contains("data-state=\"ready\""),
        "page did not load its data: {dom}"
    );
    assert_eq!(text_of(&dom, "site"), "localhost");
    assert_eq!(text_of(&dom, "views"), "10");
    assert_eq!(text_of(&dom, "visitors"), "4");
    assert_eq!(text_of(&dom, "live-total"), "10");
    // The live view polls: within Chromium's 10 s of virtual time it was redrawn more than once
    // without a reload.
    let updates = dom
        .split("data-updates=\"")
        .nth(1)
        .and_then(|s| s[..s.find('"')?].parse::<u32>().ok())
        .expect("live view update count");
    assert!(updates >= 2, "the live view was drawn {updates} time(s)");

    let pages = rows(&dom, "t-pages");
    assert_eq!(pages.len(), 4);
    assert_eq!(row(&pages, "/"), ["3", "2"]);
    assert_eq!(row(&pages, "/about/"), ["3", "3"]);
    assert_eq!(row(&pages, "/blog/hello-world.html"), ["3", "2"]);
    assert_eq!(row(&pages, "/blog/"), ["1", "1"]);
    let referrers = rows(&dom, "t-referrers");
    assert_eq!(row(&referrers, "news.example.org"), ["2"]);
    assert_eq!(row(&referrers, "search.example.com"), ["1"]);
    assert_eq!(row(&rows(&dom, "t-campaigns"), "launch"), ["3"]);
    let countries = rows(&dom, "t-countries");
    assert_eq!(row(&countries, "FR"), ["4"]);
    assert_eq!(row(&countries, "JP"), ["3"]);
    assert_eq!(row(&countries, "DE"), ["3"]);
    let devices = rows(&dom, "t-devices");
    assert_eq!(row(&devices, "mobile"), ["5"]);
    assert_eq!(row(&devices, "desktop"), ["5"]);
    let browsers = rows(&dom, "t-browsers");
    assert_eq!(row(&browsers, "safari"), ["5"]);
    assert_eq!(row(&browsers, "chrome"), ["3"]);
    assert_eq!(row(&browsers, "firefox"), ["2"]);
    // Every view happened this hour (UTC), unless the hour turned during the test.
    let hour_cells: u64 = dom
        .split("data-hour=\"")
        .skip(1)
        .map(|c| {
            c[c.find('>').expect(">") + 1..c.find('<').expect("<")]
                .parse::<u64>()
                .expect("number")
        })
        .sum();
    assert_eq!(hour_cells, 10);

    // The dashboard is not a page view: still 10.
    let data = server.data.clone();
    assert!(server.stop().success());
    let total = serve_support::sql(&data, "SELECT count(*) AS n FROM page_views");
    assert_eq!(total[0]["n"], 10);
}
