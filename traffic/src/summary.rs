//! What `tally traffic` sent, counted the way the pipeline counts: the summary that tests and
//! demos compare the pipeline's numbers against.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::plan::{Kind, Planned, Referral};

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status.
    Status(u16),
    /// No response: connection refused or reset, timeout; the reason.
    Failed(String),
}

/// The counts of one run. Page-view counts cover human page requests that got an HTTP response
/// (any status); bots are counted apart, by name; assets only in `requests` and
/// `asset_requests`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The site, `http://host:port`.
    pub target: String,
    /// The seed that reproduces this traffic.
    pub seed: u64,
    /// Requests per second asked for.
    pub rate: f64,
    /// Seconds asked for.
    pub duration_secs: f64,
    /// The pages the crawl found, most popular first.
    pub pages: Vec<String>,
    /// Requests sent (pages, bots and assets), answered or not.
    pub requests: u64,
    /// Asset requests sent.
    pub asset_requests: u64,
    /// Human page views answered.
    pub page_views: u64,
    /// Bot page requests answered.
    pub bot_views: u64,
    /// Distinct human visitors with at least one page view, told apart by address and user agent
    /// (as the pipeline's visitor hash does).
    pub unique_visitors: u64,
    /// Human page views by path.
    pub by_path: BTreeMap<String, u64>,
    /// Human page views by `CloudFront-Viewer-Country`.
    pub by_country: BTreeMap<String, u64>,
    /// Human page views by device class.
    pub by_device: BTreeMap<String, u64>,
    /// Human page views by browser family.
    pub by_browser: BTreeMap<String, u64>,
    /// Human page views by external referrer host.
    pub by_referrer_host: BTreeMap<String, u64>,
    /// Human page views referred by another page of the site.
    pub internal_referrals: u64,
    /// Human page views with no referrer.
    pub direct: u64,
    /// Human page views by `utm_campaign`.
    pub by_campaign: BTreeMap<String, u64>,
    /// Bot page requests answered, by bot.
    pub bots: BTreeMap<String, u64>,
    /// Answered requests by status code.
    pub status: BTreeMap<String, u64>,
    /// Requests without an answer, or answered with a 5xx status.
    pub errors: u64,
    /// Requests that left more than 100 ms after their time (the generator fell behind: raise
    /// `--concurrency` or lower `--rate`).
    pub late: u64,
    /// Seconds the run took, crawl excluded.
    pub elapsed_secs: f64,
    /// The first few distinct failure reasons.
    pub failures: Vec<String>,
    /// Address and user agent of each counted visitor.
    #[serde(skip)]
    visitors: BTreeSet<(String, String)>,
}

/// How many distinct failure reasons a summary keeps.
const MAX_FAILURES: usize = 5;

impl Summary {
    /// An empty summary of a run against `target` with these settings and crawled `pages`.
    pub fn new(target: &str, seed: u64, rate: f64, duration_secs: f64, pages: Vec<String>) -> Self {
        Summary {
            target: target.to_owned(),
            seed,
            rate,
            duration_secs,
            pages,
            ..Summary::default()
        }
    }

    /// Counts one request and how it ended.
    pub fn record(&mut self, request: &Planned, outcome: &Outcome, late: bool) {
        self.requests += 1;
        self.late += u64::from(late);
        if request.kind == Kind::Asset {
            self.asset_requests += 1;
        }
        let status = match outcome {
            Outcome::Failed(reason) => {
                self.errors += 1;
                if self.failures.len() < MAX_FAILURES && !self.failures.contains(reason) {
                    self.failures.push(reason.clone());
                }
                return;
            }
            Outcome::Status(status) => *status,
        };
        *self.status.entry(status.to_string()).or_default() += 1;
        if status >= 500 {
            self.errors += 1;
        }
        match request.kind {
            Kind::Asset => {}
            Kind::BotPage => {
                self.bot_views += 1;
                *self
                    .bots
                    .entry(request.bot.unwrap_or("unknown").to_owned())
                    .or_default() += 1;
            }
            Kind::Page => {
                self.page_views += 1;
                let header = |name: &str| {
                    let value = request.headers.iter().find(|(n, _)| *n == name);
                    value.map(|(_, v)| v.clone()).unwrap_or_default()
                };
                if self
                    .visitors
                    .insert((header("x-forwarded-for"), header("user-agent")))
                {
                    self.unique_visitors += 1;
                }
                let add = |map: &mut BTreeMap<String, u64>, key: &str| {
                    *map.entry(key.to_owned()).or_default() += 1;
                };
                add(&mut self.by_path, &request.path);
                add(&mut self.by_country, request.country);
                add(&mut self.by_device, &label(&request.device));
                add(&mut self.by_browser, &label(&request.browser));
                match request.referral {
                    Referral::Direct => self.direct += 1,
                    Referral::Internal => self.internal_referrals += 1,
                    Referral::External(host) => add(&mut self.by_referrer_host, host),
                }
                if let Some(campaign) = request.campaign {
                    add(&mut self.by_campaign, campaign);
                }
            }
        }
    }

    /// A few lines for the terminal.
    pub fn report(&self) -> String {
        let top = |map: &BTreeMap<String, u64>| {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let shown: Vec<String> = entries
                .iter()
                .take(5)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let more = entries.len().saturating_sub(5);
            if more > 0 {
                format!("{} (+{more} more)", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        let rate = if self.elapsed_secs > 0.0 {
            self.requests as f64 / self.elapsed_secs
        } else {
            0.0
        };
        let mut out = format!(
            "sent {} requests in {:.1} s ({rate:.1}/s) to {}: {} page views by {} visitors, \
             {} bot views, {} assets; {} errors, {} late\n",
            self.requests,
            self.elapsed_secs,
            self.target,
            self.page_views,
            self.unique_visitors,
            self.bot_views,
            self.asset_requests,
            self.errors,
            self.late,
        );
        for (name, map) in [
            ("pages", &self.by_path),
            ("countries", &self.by_country),
            ("devices", &self.by_device),
            ("browsers", &self.by_browser),
            ("referrers", &self.by_referrer_host),
            ("campaigns", &self.by_campaign),
            ("bots", &self.bots),
            ("status", &self.status),
        ] {
            if !map.is_empty() {
                out.push_str(&format!("  {name:<10} {}\n", top(map)));
            }
        }
        out.push_str(&format!(
            "  {:<10} direct {}, internal {}\n",
            "referrals", self.direct, self.internal_referrals
        ));
        for failure in &self.failures {
            out.push_str(&format!("  failure    {failure}\n"));
        }
        out
    }
}

/// The serde name of a schema class (`desktop`, `samsung_internet`).
fn label<T: Serialize>(class: &T) -> String {
    match serde_json::to_value(class) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}
