//! `tally traffic`: realistic simulated traffic against a running site (`tally serve`, or any
//! HTTP server), for demos and benchmarks.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;

use tally_traffic::client::Target;
use tally_traffic::{self as traffic, TrafficConfig};

/// `tally traffic` arguments.
#[derive(Debug, Args)]
pub struct TrafficArgs {
    /// Requests per second, pages and assets together; sent on schedule whatever the answers
    /// (open loop).
    #[arg(long)]
    pub rate: f64,
    /// How long to send: seconds (`30`), or with a unit (`30s`, `5m`, `1h`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Duration,
    /// The site's root URL (`http://` only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Seed of the simulated traffic: the same seed and site give the same requests (default:
    /// from the clock, printed in the summary).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Most requests in flight at once; when reached, requests leave late (counted).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Size of the simulated visitor pool (at most 100000; past 762, the RFC 5737 addresses are
    /// shared, as behind a NAT).
    #[arg(long, default_value_t = 300)]
    pub visitors: u32,
    /// Most pages the crawl of the site fetches.
    #[arg(long, default_value_t = 200)]
    pub max_pages: usize,
    /// Longest one request may take, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Also write what was sent as JSON to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
}

/// Runs `tally traffic`.
pub fn run(args: TrafficArgs) -> anyhow::Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!(
            "--timeout must be a positive number of seconds, not {}",
            args.timeout
        );
    }
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let config = TrafficConfig {
        target: Target::parse(&args.target)?,
        rate: args.rate,
        duration: args.duration,
        seed,
        concurrency: args.concurrency,
        visitors: args.visitors,
        max_pages: args.max_pages,
        timeout: Duration::from_secs_f64(args.timeout),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(traffic::run(&config))?;
    print!("{}", summary.report());
    if let Some(path) = &args.summary {
        let json = serde_json::to_string_pretty(&summary).context("cannot encode the summary")?;
        fs::write(path, json + "\n")
            .with_context(|| format!("cannot write the summary to {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A duration: seconds, or a number with `ms`, `s`, `m` or `h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (use 30, 30s, 5m or 1h)"))?;
    let secs = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "5 days", "-1", "1e400"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
