//! The `top_pages` named query over a large archive, DataFusion against DuckDB:
//! `consumers/athena/benches/top-pages.sh` (installs DuckDB, pinned, then runs this bench).
//!
//! - Generates, once, an archive of `TALLY_BENCH_EVENTS` page views (default 1,000,000) with the
//!   archive's own writer, cached under `$CARGO_TARGET_DIR/tally-bench/archive-N/`: 3 sites,
//!   5,000 pages each with a skewed (Zipf-like) popularity, 30 days of hourly partitions, 15 % bots,
//!   a 20 % share of views without a visitor hash, 500,000 visitors.
//! - Criterion-benches `Query::open` + `top_pages` on DataFusion (10 flat samples).
//! - Runs DuckDB (the Python package, from the venv `TALLY_VENV`, default
//!   `~/.cache/tally/venv`) on the same files with the same `queries/top_pages.sql` text, over a
//!   `page_views` view on `read_json(…, hive_partitioning = true)` (`duckdb_top_pages.py`),
//!   checks both return the same rows and prints the medians and their ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use serde_json::{Value, json};
use tally_archive::{Archive, ArchiveConfig};
use tally_athena::{Query, Range, named_query, to_rows};

const PAGES: u64 = 5_000;
const VISITORS: u64 = 500_000;
const DAYS: i64 = 30;

fn events() -> u64 {
    std::env::var("TALLY_BENCH_EVENTS")
        .ok()
        .map(|n| {
            n.replace('_', "")
                .parse()
                .expect("TALLY_BENCH_EVENTS: a number")
        })
        .unwrap_or(1_000_000)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

fn archive_dir(n: u64) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| manifest_dir().join("../../target"), PathBuf::from);
    target.join("tally-bench").join(format!("archive-{n}"))
}

/// xorshift64*: deterministic, so the archive is the same every time it is generated.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn page(rng: &mut Rng) -> String {
    // Popularity falls off steeply: u^4 puts most views on the first few hundred pages.
    let rank = (rng.unit().powi(4) * PAGES as f64) as u64;
    match rank % 4 {
        0 if rank == 0 => "/".to_owned(),
        0 => format!("/blog/{}/post-{rank}/", 2020 + rank % 7),
        1 => format!("/docs/section-{}/page-{rank}", rank % 40),
        2 => format!("/products/item-{rank}"),
        _ => format!("/tags/tag-{rank}/"),
    }
}

fn generate(dir: &Path, n: u64) {
    let _ = std::fs::remove_dir_all(dir);
    let (archive, _) = Archive::open(ArchiveConfig::new(dir)).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let start = Utc.with_ymd_and_hms(2026, 10, 30, 0, 0, 0).unwrap();
    let span_ms = DAYS * 86_400_000;
    let started = Instant::now();
    for i in 0..n {
        let at = start + chrono::Duration::milliseconds((i as i64 * span_ms) / n as i64);
        let stamp = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let site = match rng.next() % 10 {
            0..=6 => "www.example.com",
            7 | 8 => "blog.example.org",
            _ => "docs.example.net",
        };
        let bot = rng.next() % 100 < 15;
        let mut detail = json!({
            "event_id": format!("{:016x}{:016x}", rng.next(), i), "schema_version": "1-0-0",
            "site": site, "path": page(&mut rng), "occurred_at": stamp, "received_at": stamp,
            "country": rng.pick(&["FR", "US", "DE", "JP", "BR", "GB", "IN", "CA"]),
            "device": rng.pick(&["desktop", "mobile", "tablet"]),
            "os": rng.pick(&["windows", "ios", "android", "linux", "macos"]),
            "browser": rng.pick(&["chrome", "safari", "firefox", "edge"]),
            "is_bot": bot, "referrer_same_site": false, "language": "en-US",
        });
        let m = detail.as_object_mut().unwrap();
        if bot {
            m.insert("bot_reason".into(), "user_agent_pattern".into());
        }
        if rng.next() % 100 >= 20 {
            let visitor = rng.next() % VISITORS;
            m.insert("visitor_hash".into(), format!("{visitor:032x}").into());
        }
        if rng.next().is_multiple_of(3) {
            m.insert(
                "referrer_host".into(),
                rng.pick(&["news.ycombinator.com", "duckduckgo.com", "t.co"])
                    .into(),
            );
            m.insert("referrer_path".into(), "/".into());
        }
        let event = json!({
            "version": "0", "id": format!("env-{i}"), "detail-type": "PageView", "source": "tally",
            "account": "123456789012", "time": stamp, "region": "eu-west-1", "resources": [],
            "detail": detail,
        });
        archive.append(&event, at).unwrap();
        if i > 0 && i % 1_000_000 == 0 {
            eprintln!(
                "generated {i} of {n} events ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    archive.flush().unwrap();
    std::fs::write(dir.join("complete"), n.to_string()).unwrap();
}

fn archive(n: u64) -> PathBuf {
    let dir = archive_dir(n);
    if !dir.join("complete").exists() {
        eprintln!("generating {n} events into {}", dir.display());
        generate(&dir, n);
    }
    let bytes: u64 = walk(&dir.join("events"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    eprintln!(
        "archive: {n} events, {} objects, {:.1} MB compressed ({:.1} bytes per event)",
        walk(&dir.join("events")).len(),
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

type Row = (String, String, u64, u64);

fn rows_of(values: &[Value]) -> Vec<Row> {
    values
        .iter()
        .map(|r| {
            (
                r["site"].as_str().unwrap().to_owned(),
                r["page"].as_str().unwrap().to_owned(),
                r["views"].as_u64().unwrap(),
                r["visitors"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn datafusion(rt: &tokio::runtime::Runtime, dir: &Path, sql: &str) -> Vec<Row> {
    rt.block_on(async {
        let query = Query::open(dir, &Range::new(None, None).unwrap())
            .await
            .unwrap();
        let batches = query.run(sql).await.unwrap();
        let rows: Vec<Value> = to_rows(&batches)
            .unwrap()
            .into_iter()
            .map(Value::Object)
            .collect();
        rows_of(&rows)
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TALLY_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/tally/venv"),
        PathBuf::from,
    );
    venv.join("bin/python")
}

fn bench(c: &mut Criterion) {
    let n = events();
    let dir = archive(n);
    let sql = named_query("top_pages").unwrap().sql;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let times = Mutex::new(Vec::new());
    let mut result = Vec::new();
    let mut group = c.benchmark_group("top_pages");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function(format!("datafusion/{n}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                result = datafusion(&rt, &dir, sql);
                let took = started.elapsed();
                times.lock().unwrap().push(took);
                total += took;
            }
            total
        })
    });
    group.finish();
    let datafusion_median = median(times.into_inner().unwrap());

    let output = Command::new(venv_python())
        .arg(manifest_dir().join("benches/duckdb_top_pages.py"))
        .arg(dir.join("events"))
        .arg(manifest_dir().join("queries/top_pages.sql"))
        .arg("5")
        .output()
        .expect("cannot run the venv's python: run consumers/athena/benches/top-pages.sh");
    assert!(
        output.status.success(),
        "duckdb failed (run consumers/athena/benches/top-pages.sh, which installs it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let duck: Value = serde_json::from_slice(&output.stdout).unwrap();
    let duck_rows = rows_of(duck["rows"].as_array().unwrap());
    assert_eq!(
        result, duck_rows,
        "DataFusion and DuckDB disagree on the top pages"
    );
    assert_eq!(result.len(), 100, "top_pages returns 100 pages");
    let duck_median = Duration::from_secs_f64(duck["median_s"].as_f64().unwrap());
    eprintln!(
        "top_pages over {n} events: DataFusion {:.3} s, DuckDB {} {:.3} s (medians); \
         DataFusion / DuckDB = {:.2}; same 100 rows",
        datafusion_median.as_secs_f64(),
        duck["version"].as_str().unwrap_or("?"),
        duck_median.as_secs_f64(),
        datafusion_median.as_secs_f64() / duck_median.as_secs_f64(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
