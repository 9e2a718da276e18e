//! `tally serve` killed with SIGKILL at any moment loses nothing: known traffic, several kills
//! mid-load, a restart on the same data directory each time, a clean stop; then every page the
//! server answered 200 for is in the archive exactly once, and the counters agree.

mod serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serve_support::{CHROME_LINUX, Server, sql};

/// Requests `/?utm_content=KEY` with a fresh key each time, from `clients` threads, until the
/// server stops answering; returns the keys answered 200 and how many were sent.
fn load_until_killed(addr: SocketAddr, round: u32, clients: u32) -> (Vec<String>, u64) {
    let answered = Mutex::new(Vec::new());
    let sent = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for c in 0..clients {
            let (answered, sent) = (&answered, &sent);
            s.spawn(move || {
                for n in 0.. {
                    let key = format!("r{round}-c{c}-n{n}");
                    let Ok(mut conn) = TcpStream::connect(addr) else {
                        return;
                    };
                    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    let req = format!(
                        "GET /?utm_content={key} HTTP/1.1\r\nHost: x\r\nUser-Agent: {CHROME_LINUX}\r\nConnection: close\r\n\r\n"
                    );
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if conn.write_all(req.as_bytes()).is_err() {
                        return;
                    }
                    let mut out = Vec::new();
                    if conn.read_to_end(&mut out).is_err() || out.is_empty() {
                        return;
                    }
                    // A whole 200 response: the server answered, so the view must be counted.
                    if out.starts_with(b"HTTP/1.1 200") && out.ends_with(b"</html>\n") {
                        answered.lock().expect("lock").push(key);
                    }
                }
            });
        }
    });
    (answered.into_inner().expect("lock"), sent.into_inner())
}

#[test]
fn sigkill_mid_load_loses_no_answered_page_view_and_counts_none_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut answered = BTreeSet::new();
    let mut sent = 0;
    for (round, after_ms) in [(0u32, 700u64), (1, 1100), (2, 400)] {
        let mut server = Server::start(&data, &[]);
        let addr = server.addr;
        let killer =
            std::thread::spawn(move || std::thread::sleep(Duration::from_millis(after_ms)));
        let (keys, n) = std::thread::scope(|s| {
            let load = s.spawn(|| load_until_killed(addr, round, 4));
            killer.join().expect("killer");
            server.child.kill().expect("SIGKILL");
            server.child.wait().expect("wait");
            load.join().expect("load")
        });
        assert!(
            !keys.is_empty(),
            "round {round}: nothing was answered before the kill"
        );
        sent += n;
        answered.extend(keys);
        drop(server);
    }
    // A clean stop: the last server runs whatever the killed ones left and drains.
    let server = Server::start(&data, &[]);
    let stderr = server.stderr.clone();
    let counters = wait_for_counters(&server, answered.len() as u64);
    let status = server.stop();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );

    let rows = sql(
        &data,
        "SELECT detail.utm_content AS k, count(*) AS n FROM page_views GROUP BY detail.utm_content",
    );
    let archived: BTreeMap<String, u64> = rows
        .iter()
        .map(|r| {
            (
                r["k"].as_str().expect("key").to_owned(),
                r["n"].as_u64().expect("n"),
            )
        })
        .collect();
    let twice: Vec<_> = archived.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "archived more than once: {:?}",
        &twice[..twice.len().min(5)]
    );
    let missing: Vec<_> = answered
        .iter()
        .filter(|k| !archived.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered views are not in the archive ({sent} sent, {} archived): {:?}",
        missing.len(),
        answered.len(),
        archived.len(),
        &missing[..missing.len().min(5)]
    );
    // Views appended but killed before their answer was sent are counted too: never fewer.
    let total = archived.values().sum::<u64>();
    assert!(total >= answered.len() as u64 && total <= sent);
    let dead_letters: Vec<String> = std::fs::read_dir(data.join("dead-letters"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        counters, total,
        "the counters agree with the archive (dead letters: {dead_letters:?})"
    );
    eprintln!(
        "{sent} sent, {} answered 200, {total} archived",
        answered.len()
    );
}

/// The counters' views of the last days, once they hold at least `least`.
fn wait_for_counters(server: &Server, least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let views = server.api("counters")["views"].as_u64().expect("views");
        let backlog = server.api("status")["pipeline"]["backlog"]
            .as_u64()
            .expect("backlog");
        if views >= least && backlog == 0 {
            // Settled: nothing left to run, and a second look sees the same.
            std::thread::sleep(Duration::from_millis(300));
            let again = server.api("counters")["views"].as_u64().expect("views");
            if again == views {
                return views;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the counters stay at {views} (< {least})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
