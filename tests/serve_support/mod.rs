//! Shared helpers for the `tally serve` tests: start the real binary on a free port, talk raw
//! HTTP/1.1 to it, stop it with SIGTERM, and read its data directory with `tally query`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
pub const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
pub const FIREFOX_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0";
pub const GOOGLEBOT: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// A running `tally serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub stderr: PathBuf,
}

impl Server {
    /// Starts `tally serve ARGS --data DATA --addr 127.0.0.1:0` and waits for its ready line.
    pub fn start(data: &Path, args: &[&str]) -> Server {
        let stderr = data.with_extension("stderr.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
            .arg("serve")
            .args(args)
            .arg("--data")
            .arg(data)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start tally serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        let rest = line
            .strip_prefix("tally serve: http://")
            .unwrap_or_else(|| {
                let err = std::fs::read_to_string(&stderr).unwrap_or_default();
                panic!("unexpected first line {line:?}; stderr: {err}")
            });
        let addr: SocketAddr = rest
            .split('/')
            .next()
            .expect("addr")
            .parse()
            .expect("socket address");
        assert!(
            line.trim_end()
                .ends_with(&format!("(dashboard http://{addr}/_tally/)")),
            "{line:?}"
        );
        Server {
            child,
            addr,
            data: data.to_owned(),
            stderr,
        }
    }

    /// `GET path` with `headers`; the whole response.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers)
    }

    /// One request on a new connection (`Connection: close`).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut raw =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        self.raw(raw.as_bytes())
    }

    /// Sends `bytes` on a new connection and reads until the server closes it.
    pub fn raw(&self, bytes: &[u8]) -> Response {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        // The server may answer and close before it has read everything (e.g. a 431).
        s.write_all(bytes).ok();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        Response::parse(&out)
    }

    /// The server answers a plain page: the check after each attack.
    pub fn assert_alive(&self) {
        let r = self.get("/", &[("User-Agent", CHROME_LINUX)]);
        assert_eq!(r.status, 200, "the server no longer answers: {r:?}");
    }

    /// Requests `/` as Chrome from `clients` threads at once, `each` times per thread; every
    /// answer must be 200. Returns how many page views that sent.
    pub fn load(&self, clients: u64, each: u64) -> u64 {
        std::thread::scope(|s| {
            for _ in 0..clients {
                s.spawn(|| {
                    for _ in 0..each {
                        assert_eq!(self.get("/", &[("User-Agent", CHROME_LINUX)]).status, 200);
                    }
                });
            }
        });
        clients * each
    }

    /// A JSON API response.
    pub fn api(&self, path: &str) -> Value {
        let r = self.get(&format!("/_tally/api/{path}"), &[]);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        serde_json::from_slice(&r.body).expect("json")
    }

    /// SIGTERM, then the exit status (within 60 s).
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tally serve did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn parse(bytes: &[u8]) -> Response {
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Response::default();
        };
        let head = String::from_utf8_lossy(&bytes[..end]);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Response {
            status,
            headers,
            body: bytes[end + 4..].to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `tally query --data DATA --named NAME --format json`, as rows.
pub fn named(data: &Path, name: &str) -> Vec<Value> {
    query(data, &["--named", name])
}

/// `tally query --data DATA SQL --format json`, as rows.
pub fn sql(data: &Path, sql: &str) -> Vec<Value> {
    query(data, &[sql])
}

fn query(data: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("query")
        .args(args)
        .arg("--data")
        .arg(data)
        .args(["--format", "json"])
        .output()
        .expect("tally query");
    assert!(
        out.status.success(),
        "tally query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json rows")
}

/// `rows` as `(key column, views)` pairs.
pub fn counts(rows: &[Value], key: &str) -> Vec<(String, u64)> {
    rows.iter()
        .map(|r| {
            (
                r[key]
                    .as_str()
                    .map_or_else(|| r[key].to_string(), str::to_owned),
                r["views"].as_u64().expect("views"),
            )
        })
        .collect()
}

/// Fails unless `path` is readable and writable by its owner only (on Unix).
pub fn assert_owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
}
