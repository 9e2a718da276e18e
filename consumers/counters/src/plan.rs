//! The counting logic, pure: which counters one page view increments.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::CountedView;

/// The value of the one-value dimensions (`views`, `visitors`).
pub const TOTAL: &str = "all";

/// How many minutes the live view shows.
pub const LIVE_MINUTES: u32 = 30;

/// A dimension of the per-day counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Human page views, one value: [`TOTAL`].
    Views,
    /// Distinct human `visitor_hash`es of the day, one value: [`TOTAL`].
    Visitors,
    /// Human views by page path.
    Page,
    /// Human views by country (views with no country are not counted here).
    Country,
    /// Human views by device class.
    Device,
    /// Human views by browser family.
    Browser,
    /// Human views by operating-system family.
    Os,
    /// Human views by referrer host, same-site referrers and direct views left out.
    Referrer,
    /// Human views by `utm_campaign`.
    Campaign,
    /// Human views by UTC hour of day, `00` to `23`.
    Hour,
    /// Bot requests by `bot_reason`; bots count nowhere else.
    Bots,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 11] = [
        Dimension::Views,
        Dimension::Visitors,
        Dimension::Page,
        Dimension::Country,
        Dimension::Device,
        Dimension::Browser,
        Dimension::Os,
        Dimension::Referrer,
        Dimension::Campaign,
        Dimension::Hour,
        Dimension::Bots,
    ];

    /// Its name in keys and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Views => "views",
            Dimension::Visitors => "visitors",
            Dimension::Page => "page",
            Dimension::Country => "country",
            Dimension::Device => "device",
            Dimension::Browser => "browser",
            Dimension::Os => "os",
            Dimension::Referrer => "referrer",
            Dimension::Campaign => "campaign",
            Dimension::Hour => "hour",
            Dimension::Bots => "bots",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dimension {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown dimension {s:?}"))
    }
}

/// The UTC day of an instant as the keys write it, `YYYY-MM-DD`.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The start of the minute of `t`.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

/// Everything one page view adds, each by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The idempotency key (`detail.event_id`).
    pub event_id: String,
    /// The site.
    pub site: String,
    /// The UTC day of `occurred_at`.
    pub day: NaiveDate,
    /// `(dimension, value)` pairs of the day to increment, at most one per dimension, never
    /// [`Dimension::Visitors`] (that one depends on the store: see [`Plan::visitor`]).
    pub increments: Vec<(Dimension, String)>,
    /// For a human view with a visitor hash: the hash. `visitors` is incremented only when the
    /// store has no live marker for `(site, day, hash)` yet, and the marker is written with it.
    pub visitor: Option<String>,
    /// For a human view: the start of its minute, for the live view.
    pub minute: Option<DateTime<Utc>>,
}

impl Plan {
    /// The increments of `view`.
    pub fn of(view: &CountedView) -> Plan {
        let at = view.occurred_at.0;
        let mut increments = Vec::with_capacity(10);
        let mut push = |d: Dimension, v: &str| {
            if !v.is_empty() {
                increments.push((d, v.to_owned()));
            }
        };
        if view.is_bot {
            push(
                Dimension::Bots,
                view.bot_reason.as_deref().unwrap_or("unknown"),
            );
            return Plan {
                event_id: view.event_id.clone(),
                site: view.site.clone(),
                day: at.date_naive(),
                increments,
                visitor: None,
                minute: None,
            };
        }
        push(Dimension::Views, TOTAL);
        push(Dimension::Page, &view.path);
        if let Some(country) = &view.country {
            push(Dimension::Country, country);
        }
        push(Dimension::Device, &view.device);
        push(Dimension::Browser, &view.browser);
        push(Dimension::Os, &view.os);
        if let Some(host) = &view.referrer_host
            && !view.referrer_same_site
            && !same_host(host, &view.site)
        {
            push(Dimension::Referrer, host);
        }
        if let Some(campaign) = &view.utm_campaign {
            push(Dimension::Campaign, campaign);
        }
        push(Dimension::Hour, &format!("{:02}", at.hour()));
        Plan {
            event_id: view.event_id.clone(),
            site: view.site.clone(),
            day: at.date_naive(),
            increments,
            visitor: view.visitor_hash.clone().filter(|h| !h.is_empty()),
            minute: Some(minute_of(at)),
        }
    }
}

/// The referrer is the site itself even when the producer did not say so (`referrer_host` has
/// no port; `site` may).
fn same_host(referrer: &str, site: &str) -> bool {
    let site_host = site.split(':').next().unwrap_or(site);
    referrer.eq_ignore_ascii_case(site_host)
}
