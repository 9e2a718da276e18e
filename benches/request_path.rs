//! What `tally serve` adds to each counted request on its request path, per request: the edge
//! decision on the headers CloudFront would forward ([`page_view`]), and the journal append
//! (`Feed::send`: the view serialised into the journal's frame, checksummed, one `write` to the
//! segment file in a temporary directory; the page cache only, as serve's journal between its
//! fsyncs); then both together. For a request with Firefox's headers and for one with wrk's
//! (bench/serve/run.sh).
//! `cargo bench -p tally --bench request_path`; see bench/serve/README.md.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::SocketAddr;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};
use tally::serve::viewer::{ViewerRules, page_view};
use tally_edge::{EdgeConfig, Secret};
use tally_journal::{Durability, Journal, JournalConfig};

/// The headers Firefox sends for a page, and what wrk sends in bench/serve/run.sh.
const FIREFOX: &[(&str, &str)] = &[
    ("host", "localhost:8080"),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ),
    (
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ),
    ("accept-language", "en-GB,en;q=0.5"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("referer", "https://news.example.org/item?id=42"),
    ("connection", "keep-alive"),
    ("upgrade-insecure-requests", "1"),
    ("sec-fetch-dest", "document"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-site", "cross-site"),
    ("priority", "u=0, i"),
];
const WRK: &[(&str, &str)] = &[
    ("host", "127.0.0.1:18080"),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ),
];

fn headers(list: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in list {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn bench(c: &mut Criterion) {
    let rules = ViewerRules {
        trust_proxy: false,
        trusted_hops: 1,
        country_header: "cloudfront-viewer-country".into(),
    };
    let mut edge = EdgeConfig::new("localhost");
    edge.event_id_key = Some(Secret("0123456789abcdef0123456789abcdef".into()));
    let salt = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    let query = "utm_source=newsletter&utm_campaign=winter";

    let mut group = c.benchmark_group("serve_request");
    for (name, list) in [("firefox", FIREFOX), ("wrk", WRK)] {
        let map = headers(list);
        let decide = || {
            page_view(
                &rules,
                &edge,
                Some(salt.as_bytes()),
                "serve-0123456789abcdef-1".to_owned(),
                "GET",
                200,
                "/blog/",
                query,
                black_box(&map),
                peer,
                Utc::now(),
            )
        };
        let view = decide().unwrap();
        group.bench_function(format!("page_view/{name}"), |b| {
            b.iter(|| black_box(decide()))
        });
        let dir = tempfile::tempdir().unwrap();
        let config = JournalConfig::new(dir.path(), Durability::PageCache);
        let (journal, _) = Journal::open(config).unwrap();
        let append = |view: &tally_edge::EdgeView| {
            let seq = journal
                .append_with(|buf| serde_json::to_writer(buf, view).map_err(std::io::Error::other))
                .unwrap();
            black_box(seq);
        };
        group.bench_function(format!("journal_append/{name}"), |b| {
            b.iter(|| append(black_box(&view)))
        });
        group.bench_function(format!("both/{name}"), |b| {
            b.iter(|| append(&decide().unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
