//! `tally traffic` (`tally-traffic`): realistic simulated traffic against a running site, for demos and benchmarks.
//!
//! The crawl (`crawl`) finds the pages and their assets; the planner (`plan`) turns a seed into
//! a deterministic sequence of requests from simulated visitors (`population`); the runner below
//! sends them open-loop at a fixed rate; the summary (`summary`) counts what was sent the way the
//! pipeline counts page views.

pub mod client;
pub mod crawl;
pub mod html;
pub mod plan;
pub mod population;
pub mod rng;
pub mod summary;

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use client::{HttpClient, Target};
use plan::{Planned, Planner};
use summary::{Outcome, Summary};

/// Why a run could not go.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// A setting is out of range or malformed: which, and why.
    #[error("{0}")]
    Invalid(String),
    /// The site's root could not be fetched.
    #[error("cannot crawl the site: {0}")]
    Crawl(String),
    /// The request limiter closed while requests were still planned.
    #[error("the request limiter closed")]
    Limiter,
}

fn invalid(message: String) -> TrafficError {
    TrafficError::Invalid(message)
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    /// The site.
    pub target: Target,
    /// Requests per second (pages, bots and assets together).
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// The seed of the simulated traffic.
    pub seed: u64,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Size of the visitor pool (at most [`plan::MAX_VISITORS`]).
    pub visitors: u32,
    /// Most pages the crawl fetches.
    pub max_pages: usize,
    /// Longest a request may take.
    pub timeout: Duration,
}

/// A request later than this after its time counts as late.
const LATE: Duration = Duration::from_millis(100);

impl TrafficConfig {
    /// The number of requests a run sends: `rate × duration`, rounded down.
    pub fn total(&self) -> u64 {
        (self.rate * self.duration.as_secs_f64()).floor() as u64
    }

    fn validate(&self) -> Result<(), TrafficError> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(invalid(format!(
                "--rate must be a positive number of requests per second, not {}",
                self.rate
            )));
        }
        if self.total() == 0 {
            return Err(invalid(format!(
                "--rate {} for --duration {:?} is less than one request",
                self.rate, self.duration
            )));
        }
        if self.concurrency == 0 {
            return Err(invalid("--concurrency must be at least 1".into()));
        }
        if self.visitors == 0 || self.visitors > plan::MAX_VISITORS {
            return Err(invalid(format!(
                "--visitors must be between 1 and {}, not {}",
                plan::MAX_VISITORS,
                self.visitors
            )));
        }
        Ok(())
    }
}

/// Crawls the site, then sends `rate × duration` requests, the `i`-th at `i / rate` seconds after
/// the start, whatever the answers (open loop): at most `concurrency` in flight, so when the site
/// cannot keep up, requests leave late (counted) rather than being dropped or piling up.
pub async fn run(config: &TrafficConfig) -> Result<Summary, TrafficError> {
    config.validate()?;
    let client = HttpClient::new(config.target.clone(), config.timeout);
    let pages = crawl::crawl(&client, config.max_pages).await?;
    tracing::info!(pages = pages.len(), "crawled {}", config.target.origin());

    let mut summary = Summary::new(
        config.target.origin(),
        config.seed,
        config.rate,
        config.duration.as_secs_f64(),
        pages.iter().map(|p| p.path.clone()).collect(),
    );
    let mut planner = Planner::new(config.target.origin(), pages, config.visitors, config.seed);
    let total = config.total();
    let progress = progress_bar(total);
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Planned, Outcome, bool)>();

    let start = Instant::now();
    let mut last_message = start;
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / config.rate);
        tokio::time::sleep_until(due).await;
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .map_err(|_| TrafficError::Limiter)?;
        let late = Instant::now().saturating_duration_since(due) > LATE;
        let request = planner.next_request();
        let client = client.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let outcome = match client.get(&request.target, &request.headers).await {
                Ok(response) => Outcome::Status(response.status.as_u16()),
                Err(reason) => Outcome::Failed(reason),
            };
            drop(permit);
            // The receiver lives until every sender is gone.
            let _ = done.send((request, outcome, late));
        });
        while let Ok((request, outcome, late)) = done_rx.try_recv() {
            summary.record(&request, &outcome, late);
        }
        if last_message.elapsed() >= Duration::from_millis(200) {
            last_message = Instant::now();
            show(&progress, &summary, start);
        }
    }
    drop(done_tx);
    while let Some((request, outcome, late)) = done_rx.recv().await {
        summary.record(&request, &outcome, late);
        show(&progress, &summary, start);
    }
    summary.elapsed_secs = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    Ok(summary)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} requests, {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn show(progress: &ProgressBar, summary: &Summary, start: Instant) {
    let secs = start.elapsed().as_secs_f64().max(1e-3);
    progress.set_position(summary.requests);
    progress.set_message(format!(
        "{:.0}/s, {} errors",
        summary.requests as f64 / secs,
        summary.errors
    ));
}
