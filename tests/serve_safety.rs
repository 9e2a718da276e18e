//! `tally serve` as S3 behind CloudFront would answer (index documents, the 404 page, content
//! types, validators, conditional GET), and its answers to attacks: after each, the server still
//! answers.

mod serve_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serve_support::{CHROME_LINUX, Server};

const SECRET: &str = "top-secret-outside-the-root";

fn site() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("docs")).expect("mkdir");
    std::fs::write(root.join("index.html"), "<h1>home</h1>").expect("write");
    std::fs::write(root.join("docs/index.html"), "<h1>docs</h1>").expect("write");
    std::fs::write(root.join("404.html"), "<h1>custom not found</h1>").expect("write");
    std::fs::write(root.join("app.js"), "let x = 1;").expect("write");
    std::fs::write(root.join("data.json"), "{}").expect("write");
    std::fs::write(root.join(".env"), SECRET).expect("write");
    std::fs::write(dir.path().join("secret.txt"), SECRET).expect("write");
    std::fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
    std::fs::write(dir.path().join("outside/index.html"), SECRET).expect("write");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.html"))
            .expect("symlink");
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("out")).expect("symlink");
        std::os::unix::fs::symlink(root.join("docs/index.html"), root.join("inside.html"))
            .expect("symlink");
    }
    (dir, root)
}

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let (dir, root) = site();
    let root = root.to_str().expect("utf-8 path").to_owned();
    let mut args = vec![root.as_str()];
    args.extend_from_slice(extra);
    let server = Server::start(&dir.path().join("data"), &args);
    (dir, server)
}

#[test]
fn serves_like_s3_behind_cloudfront() {
    let (_dir, server) = start(&["--no-pipeline"]);
    let home = server.get("/", &[]);
    assert_eq!((home.status, home.text().as_str()), (200, "<h1>home</h1>"));
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(server.get("/docs/", &[]).text(), "<h1>docs</h1>");
    let redirect = server.get("/docs?x=1", &[]);
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (301, Some("/docs/?x=1"))
    );
    let missing = server.get("/nope/", &[]);
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (404, "<h1>custom not found</h1>")
    );
    assert_eq!(
        server.get("/app.js", &[]).header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        server.get("/data.json", &[]).header("content-type"),
        Some("application/json")
    );
    // A symlink inside the root is served.
    assert_eq!(server.get("/inside.html", &[]).text(), "<h1>docs</h1>");

    let etag = home.header("etag").expect("etag").to_owned();
    let modified = home
        .header("last-modified")
        .expect("last-modified")
        .to_owned();
    let r = server.get("/", &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(
        server.get("/", &[("If-None-Match", "\"other\"")]).status,
        200
    );
    assert_eq!(
        server.get("/", &[("If-Modified-Since", &modified)]).status,
        304
    );
    assert_eq!(
        server
            .get(
                "/",
                &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")]
            )
            .status,
        200
    );
    // If-None-Match wins over If-Modified-Since.
    assert_eq!(
        server
            .get(
                "/",
                &[
                    ("If-None-Match", "\"other\""),
                    ("If-Modified-Since", &modified)
                ]
            )
            .status,
        200
    );

    let head = server.request("HEAD", "/", &[]);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("content-length"), Some("13"));
    let post = server.request("POST", "/", &[("Content-Length", "0")]);
    assert_eq!(
        (post.status, post.header("allow")),
        (405, Some("GET, HEAD"))
    );
    assert!(server.stop().success());
}

#[test]
fn path_traversal_and_symlinks_out_of_the_root_get_nothing() {
    let (_dir, server) = start(&[]);
    for path in [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/%252e%252e/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/secret.txt%00.html",
        "/%zz",
        "/.env",
        "/leak.html",
        "/out/",
        "/out/index.html",
        "//etc/passwd",
        "/docs/....//....//secret.txt",
    ] {
        let r = server.get(path, &[("User-Agent", CHROME_LINUX)]);
        assert!(
            matches!(r.status, 400 | 404),
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains(SECRET), "{path} leaked the secret");
        assert!(!r.text().contains("root:"), "{path} leaked /etc/passwd");
        server.assert_alive();
    }
    // A redirect never leaves the site (no protocol-relative `//host/`).
    let r = server.get("//docs", &[]);
    assert_eq!((r.status, r.header("location")), (301, Some("/docs/")));
    assert!(server.stop().success());
}

#[test]
fn absurd_urls_and_header_floods_are_refused() {
    let (_dir, server) = start(&[]);
    let long = format!("/{}", "a".repeat(5000));
    assert_eq!(server.get(&long, &[]).status, 414);
    server.assert_alive();
    let huge = format!("/{}", "a".repeat(100_000));
    let r = server.get(&huge, &[]);
    assert!(matches!(r.status, 414 | 431 | 400), "{}", r.status);
    server.assert_alive();

    let many: Vec<(String, String)> = (0..500)
        .map(|i| (format!("X-Flood-{i}"), "1".to_owned()))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(server.get("/", &refs).status, 431);
    server.assert_alive();
    let big = "b".repeat(64 * 1024);
    assert_eq!(server.get("/", &[("X-Big", &big)]).status, 431);
    server.assert_alive();

    let garbage = server.raw(b"\x16\x03\x01\x02\x00garbage that is not http\r\n\r\n");
    assert!(matches!(garbage.status, 0 | 400), "{}", garbage.status);
    server.assert_alive();
    let r = server.raw(b"GET /\x01\x7f HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(r.status, 0 | 400), "{}", r.status);
    server.assert_alive();
    assert!(server.stop().success());
}

#[test]
fn slow_clients_are_cut_off_and_do_not_block_others() {
    let (_dir, server) = start(&["--header-timeout", "1", "--max-connections", "8"]);
    // Slowloris: headers started, never finished.
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).expect("connect");
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .expect("write");
            s
        })
        .collect();
    server.assert_alive();
    let started = Instant::now();
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = Vec::new();
        // The server closes the connection (possibly after a 408): read ends, not times out.
        let read = s.read_to_end(&mut buf);
        assert!(
            read.is_ok() || started.elapsed() < Duration::from_secs(9),
            "slow client not cut off"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    server.assert_alive();

    // More idle connections than allowed: the extra ones are closed, the server still answers
    // once they go.
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    drop(idle);
    std::thread::sleep(Duration::from_millis(200));
    server.assert_alive();
    assert!(server.stop().success());
}
