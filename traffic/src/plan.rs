//! The traffic itself: a deterministic sequence of requests from a pool of simulated visitors.
//!
//! - Visitors: a fixed pool; each has a stable address from the documentation ranges of
//!   RFC 5737 (sent as `X-Forwarded-For`), a country (`CloudFront-Viewer-Country`), a user agent
//!   and the `Accept-Language` of its country. A share of them are bots.
//! - Pages are chosen by a Zipf-like popularity (the `k`-th page of the crawl, in breadth-first
//!   order from `/`, weighs `1/k^1.1`).
//! - A human either lands (a referrer from search, social, news or none, and on a share of landings
//!   a `utm_*` campaign) or goes on to another page of the site (the previous page as referrer).
//!   The first time a visitor sees a page, its assets are fetched too, most of them (the rest
//!   cached), each with the page as referrer. Assets are not page views.
//! - Bots fetch pages uniformly, with no referrer and no assets.
//!
//! The same seed, site and pool size give the same requests in the same order.

use std::collections::{HashSet, VecDeque};

use tally_schema::{Browser, DeviceClass};

use super::population::{self, BOTS, BROWSERS, Origin};
use super::rng::Rng;

/// A page of the site and the assets it references (site paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The page's path.
    pub path: String,
    /// Paths of its stylesheets, scripts, icons and images on the same site.
    pub assets: Vec<String>,
}

/// The RFC 5737 addresses: the hosts of three /24 ranges.
pub const ADDRESSES: u32 = 3 * 254;

/// The most visitors a pool can have. Past [`ADDRESSES`], visitors share addresses (as behind a
/// NAT) and are told apart, as the pipeline does, by address and user agent together.
pub const MAX_VISITORS: u32 = 100_000;

/// The RFC 5737 documentation ranges.
const RANGES: [&str; 3] = ["192.0.2", "198.51.100", "203.0.113"];

/// The address of visitor `i`: distinct for every `i < ADDRESSES`, spread over the three ranges.
pub fn visitor_address(i: u32) -> String {
    let i = i % ADDRESSES;
    let range = RANGES[(i % 3) as usize];
    // 97 is prime to 254, so `i / 3 ↦ host` visits every host once.
    let host = 1 + (i / 3 * 97) % 254;
    format!("{range}.{host}")
}

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A page view by a human.
    Page,
    /// A page fetched by a bot.
    BotPage,
    /// An asset (not a page view).
    Asset,
}

/// Where a page view came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Referral {
    /// No `Referer`.
    Direct,
    /// Another page of the site.
    Internal,
    /// Another site: its host.
    External(&'static str),
}

/// One planned request and the labels the summary counts it under.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What it is.
    pub kind: Kind,
    /// Path and query string.
    pub target: String,
    /// Request headers.
    pub headers: Vec<(&'static str, String)>,
    /// Which visitor sends it.
    pub visitor: u32,
    /// The page path (the asset's path for an asset).
    pub path: String,
    /// The viewer's country.
    pub country: &'static str,
    /// Device class (humans).
    pub device: DeviceClass,
    /// Browser family (humans).
    pub browser: Browser,
    /// The bot's name (bots).
    pub bot: Option<&'static str>,
    /// The referrer.
    pub referral: Referral,
    /// `utm_campaign`, on tagged landings.
    pub campaign: Option<&'static str>,
}

#[derive(Debug)]
struct Visitor {
    address: String,
    country: &'static str,
    /// Index into `BROWSERS`, or into `BOTS` when `bot`.
    agent: usize,
    bot: bool,
    language: &'static str,
    /// The page the visitor is on, if in a visit.
    on: Option<usize>,
    /// Pages whose assets the visitor has (cached).
    seen: HashSet<usize>,
}

/// Share of page requests by a visitor already on the site going on to another page (the rest
/// land: a visitor of the pool arriving), in percent.
const CONTINUE_PERCENT: u32 = 45;
/// How many recently landed visitors may go on browsing.
const MAX_ACTIVE: usize = 24;
/// Share of a page's assets fetched on a first view (the rest come from a shared cache), percent.
const ASSET_PERCENT: u32 = 80;

/// The request generator.
#[derive(Debug)]
pub struct Planner {
    rng: Rng,
    origin: String,
    pages: Vec<Page>,
    /// Cumulative Zipf weights of `pages`.
    popularity: Vec<u64>,
    visitors: Vec<Visitor>,
    /// Humans who landed recently, oldest first.
    active: VecDeque<usize>,
    pending_assets: VecDeque<Planned>,
}

impl Planner {
    /// A generator for the site at `origin` (`http://host:port`, for internal referrers) with
    /// `pages` (at least one; the first is the most popular), `visitors` visitors (at most
    /// [`MAX_VISITORS`], at least 1) and `seed`.
    pub fn new(origin: &str, pages: Vec<Page>, visitors: u32, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut total = 0u64;
        let popularity = (1..=pages.len())
            .map(|k| {
                total += (1e6 / (k as f64).powf(1.1)) as u64;
                total
            })
            .collect();
        let visitors = (0..visitors.clamp(1, MAX_VISITORS))
            .map(|i| {
                let bot = rng.percent(population::BOT_PERCENT);
                let (agent, country, language) = if bot {
                    let agent = rng.index(BOTS.len());
                    let country = rng.weighted(population::BOT_COUNTRIES, |c| c.1).0;
                    (agent, country, "en-US,en;q=0.9")
                } else {
                    let agent = rng.weighted_index(BROWSERS, |b| b.weight);
                    let (country, _, language) = *rng.weighted(population::COUNTRIES, |c| c.1);
                    (agent, country, language)
                };
                Visitor {
                    address: visitor_address(i),
                    country,
                    agent,
                    bot,
                    language,
                    on: None,
                    seen: HashSet::new(),
                }
            })
            .collect();
        Planner {
            rng,
            origin: origin.to_owned(),
            pages,
            popularity,
            visitors,
            active: VecDeque::new(),
            pending_assets: VecDeque::new(),
        }
    }

    /// The next request.
    pub fn next_request(&mut self) -> Planned {
        if !self.pending_assets.is_empty()
            && self.rng.percent(85)
            && let Some(asset) = self.pending_assets.pop_front()
        {
            return asset;
        }
        if !self.active.is_empty() && self.pages.len() > 1 && self.rng.percent(CONTINUE_PERCENT) {
            let v = self.active[self.rng.index(self.active.len())];
            return self.human_request(v, true);
        }
        let v = self.rng.index(self.visitors.len());
        if self.visitors[v].bot {
            let page = self.rng.index(self.pages.len());
            self.bot_request(v, page)
        } else {
            if !self.active.contains(&v) {
                if self.active.len() == MAX_ACTIVE {
                    self.active.pop_front();
                }
                self.active.push_back(v);
            }
            self.human_request(v, false)
        }
    }

    fn popular_page(&mut self) -> usize {
        let total = self.popularity.last().copied().unwrap_or(0);
        let pick = self.rng.below(total);
        self.popularity.partition_point(|&c| c <= pick)
    }

    fn bot_request(&mut self, v: usize, page: usize) -> Planned {
        let visitor = &self.visitors[v];
        let bot = &BOTS[visitor.agent];
        let path = self.pages[page].path.clone();
        Planned {
            kind: Kind::BotPage,
            target: path.clone(),
            headers: vec![
                ("user-agent", bot.user_agent.to_owned()),
                ("x-forwarded-for", visitor.address.clone()),
                ("cloudfront-viewer-country", visitor.country.to_owned()),
                ("accept", "*/*".to_owned()),
            ],
            visitor: v as u32,
            path,
            country: visitor.country,
            device: DeviceClass::Unknown,
            browser: Browser::Unknown,
            bot: Some(bot.name),
            referral: Referral::Direct,
            campaign: None,
        }
    }

    fn human_request(&mut self, v: usize, goes_on: bool) -> Planned {
        let on = self.visitors[v].on;
        let goes_on = goes_on && on.is_some() && self.pages.len() > 1;
        let mut page = self.popular_page();
        let (referer, referral, query, campaign) = if goes_on {
            let from = on.unwrap_or(0);
            // Another page than this one: the next in popularity order when the draw repeats it.
            if page == from {
                page = (page + 1) % self.pages.len();
            }
            let referer = format!("{}{}", self.origin, self.pages[from].path);
            (Some(referer), Referral::Internal, String::new(), None)
        } else if self.rng.percent(population::CAMPAIGN_PERCENT) {
            let (source, medium, campaign, _, referer) =
                *self.rng.weighted(population::CAMPAIGNS, |c| c.3);
            let query = format!("?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}");
            let referral = referer.map_or(Referral::Direct, |r| Referral::External(host_of(r)));
            (referer.map(str::to_owned), referral, query, Some(campaign))
        } else {
            let origin = self.rng.weighted(population::ORIGINS, |o| o.1).0;
            match origin {
                Origin::Direct => (None, Referral::Direct, String::new(), None),
                _ => {
                    let url = self.rng.weighted(population::referrers(origin), |r| r.1).0;
                    let referral = Referral::External(host_of(url));
                    (Some(url.to_owned()), referral, String::new(), None)
                }
            }
        };

        let visitor = &mut self.visitors[v];
        visitor.on = Some(page);
        let first_view = visitor.seen.insert(page);
        let browse = &BROWSERS[visitor.agent];
        let base_headers = vec![
            ("user-agent", browse.user_agent.to_owned()),
            ("x-forwarded-for", visitor.address.clone()),
            ("cloudfront-viewer-country", visitor.country.to_owned()),
            ("accept-language", visitor.language.to_owned()),
        ];
        let path = self.pages[page].path.clone();
        let mut headers = base_headers.clone();
        headers.push((
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".to_owned(),
        ));
        headers.extend(referer.map(|r| ("referer", r)));
        let planned = Planned {
            kind: Kind::Page,
            target: format!("{path}{query}"),
            headers,
            visitor: v as u32,
            path: path.clone(),
            country: visitor.country,
            device: browse.device,
            browser: browse.browser,
            bot: None,
            referral,
            campaign,
        };

        if first_view {
            let page_url = format!("{}{}", self.origin, planned.target);
            for asset in &self.pages[page].assets {
                if !self.rng.percent(ASSET_PERCENT) {
                    continue;
                }
                let mut headers = base_headers.clone();
                headers.push(("accept", "*/*".to_owned()));
                headers.push(("referer", page_url.clone()));
                self.pending_assets.push_back(Planned {
                    kind: Kind::Asset,
                    target: asset.clone(),
                    headers,
                    path: asset.clone(),
                    referral: Referral::Internal,
                    campaign: None,
                    ..planned.clone()
                });
            }
        }
        planned
    }
}

/// The host of an absolute URL from the population tables.
fn host_of(url: &'static str) -> &'static str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn site() -> Vec<Page> {
        ["/", "/about/", "/blog/", "/blog/first.html", "/contact/"]
            .iter()
            .map(|p| Page {
                path: (*p).to_owned(),
                assets: vec!["/style.css".to_owned(), "/logo.png".to_owned()],
            })
            .collect()
    }

    fn requests(seed: u64, n: usize) -> Vec<Planned> {
        let mut p = Planner::new("http://127.0.0.1:8080", site(), 100, seed);
        (0..n).map(|_| p.next_request()).collect()
    }

    #[test]
    fn addresses_are_documentation_addresses_and_distinct() {
        let all: HashSet<String> = (0..ADDRESSES).map(visitor_address).collect();
        assert_eq!(all.len(), ADDRESSES as usize);
        assert_eq!(visitor_address(ADDRESSES + 5), visitor_address(5));
        for a in &all {
            let (net, host) = a.rsplit_once('.').expect("dotted");
            assert!(RANGES.contains(&net), "{a}");
            let host: u32 = host.parse().expect("number");
            assert!((1..=254).contains(&host), "{a}");
        }
    }

    #[test]
    fn same_seed_same_requests() {
        let key = |r: &Planned| (r.target.clone(), r.headers.clone());
        let a: Vec<_> = requests(3, 500).iter().map(key).collect();
        let b: Vec<_> = requests(3, 500).iter().map(key).collect();
        let c: Vec<_> = requests(4, 500).iter().map(key).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn looks_like_traffic() {
        let rs = requests(1, 5000);
        let count = |f: &dyn Fn(&Planned) -> bool| rs.iter().filter(|r| f(r)).count();
        let pages = count(&|r| r.kind == Kind::Page);
        let bots = count(&|r| r.kind == Kind::BotPage);
        let assets = count(&|r| r.kind == Kind::Asset);
        assert!(
            pages > bots && bots > 100 && assets > 100,
            "{pages} {bots} {assets}"
        );
        // Popularity: `/` beats the last page of the crawl by far.
        let views = |p: &str| count(&|r| r.kind == Kind::Page && r.path == p);
        assert!(
            views("/") > 2 * views("/contact/"),
            "{} {}",
            views("/"),
            views("/contact/")
        );
        // Referrals of every kind, campaigns only with their query string.
        let mut referrals = BTreeMap::new();
        for r in rs.iter().filter(|r| r.kind == Kind::Page) {
            let kind = match r.referral {
                Referral::Direct => "direct",
                Referral::Internal => "internal",
                Referral::External(_) => "external",
            };
            *referrals.entry(kind).or_insert(0) += 1;
            assert_eq!(
                r.campaign.is_some(),
                r.target.contains("utm_campaign="),
                "{}",
                r.target
            );
        }
        assert_eq!(referrals.len(), 3, "{referrals:?}");
        assert!(count(&|r| r.campaign.is_some()) > 20);
        // Internal referrers name another page of the site.
        for r in rs
            .iter()
            .filter(|r| r.kind == Kind::Page && r.referral == Referral::Internal)
        {
            let referer = &r
                .headers
                .iter()
                .find(|h| h.0 == "referer")
                .expect("referer")
                .1;
            let from = referer
                .strip_prefix("http://127.0.0.1:8080")
                .expect("own site");
            assert_ne!(from, r.path);
        }
        // Assets are the page's, with the page as referrer, never a page view.
        for r in rs.iter().filter(|r| r.kind == Kind::Asset) {
            assert!(r.path == "/style.css" || r.path == "/logo.png");
            assert!(r.headers.iter().any(|h| h.0 == "referer"));
        }
    }

    #[test]
    fn one_page_sites_work() {
        let mut p = Planner::new(
            "http://h",
            vec![Page {
                path: "/".into(),
                assets: vec![],
            }],
            1,
            0,
        );
        for _ in 0..100 {
            assert_eq!(p.next_request().path, "/");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://www.google.com/"), "www.google.com");
        assert_eq!(
            host_of("https://news.ycombinator.com/item?id=1"),
            "news.ycombinator.com"
        );
        assert_eq!(host_of("https://t.co"), "t.co");
    }
}
