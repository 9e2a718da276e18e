//! Who the simulated viewers are: user agents (with the classes they belong to), countries,
//! languages, referrers and campaigns, each with a weight.
//!
//! The weights are rough shares of real web traffic, good enough to make a dashboard look like a
//! site's; they are not measurements. Every user agent carries the device class, browser, OS and
//! bot name it stands for, and a unit test checks that the edge's own classifier
//! (`tally_edge::agent`) agrees, so the summary predicts what the pipeline will count.

use tally_schema::{Browser, DeviceClass, Os};

/// A browser's user agent and the classes it stands for.
#[derive(Debug, Clone, Copy)]
pub struct Browse {
    /// The `User-Agent` header.
    pub user_agent: &'static str,
    /// Share among human visitors (relative).
    pub weight: u32,
    /// Device class.
    pub device: DeviceClass,
    /// Browser family.
    pub browser: Browser,
    /// OS family.
    pub os: Os,
}

/// A bot's user agent.
#[derive(Debug, Clone, Copy)]
pub struct Bot {
    /// The name the summary counts it under.
    pub name: &'static str,
    /// The `User-Agent` header.
    pub user_agent: &'static str,
    /// Share among bot visitors (relative).
    pub weight: u32,
}

/// Human browsers: desktop, mobile and tablet, several families.
pub const BROWSERS: &[Browse] = &[
    Browse {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        weight: 24,
        device: DeviceClass::Desktop,
        browser: Browser::Chrome,
        os: Os::Windows,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        weight: 7,
        device: DeviceClass::Desktop,
        browser: Browser::Edge,
        os: Os::Windows,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        weight: 4,
        device: DeviceClass::Desktop,
        browser: Browser::Firefox,
        os: Os::Windows,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        weight: 6,
        device: DeviceClass::Desktop,
        browser: Browser::Safari,
        os: Os::Macos,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        weight: 6,
        device: DeviceClass::Desktop,
        browser: Browser::Chrome,
        os: Os::Macos,
    },
    Browse {
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        weight: 2,
        device: DeviceClass::Desktop,
        browser: Browser::Firefox,
        os: Os::Linux,
    },
    Browse {
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
        weight: 1,
        device: DeviceClass::Desktop,
        browser: Browser::Opera,
        os: Os::Linux,
    },
    Browse {
        user_agent: "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        weight: 1,
        device: DeviceClass::Desktop,
        browser: Browser::Chrome,
        os: Os::Chromeos,
    },
    Browse {
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        weight: 20,
        device: DeviceClass::Mobile,
        browser: Browser::Safari,
        os: Os::Ios,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        weight: 14,
        device: DeviceClass::Mobile,
        browser: Browser::Chrome,
        os: Os::Android,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        weight: 4,
        device: DeviceClass::Mobile,
        browser: Browser::SamsungInternet,
        os: Os::Android,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        weight: 1,
        device: DeviceClass::Mobile,
        browser: Browser::Firefox,
        os: Os::Android,
    },
    Browse {
        user_agent: "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
        weight: 4,
        device: DeviceClass::Tablet,
        browser: Browser::Safari,
        os: Os::Ios,
    },
    Browse {
        user_agent: "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36",
        weight: 1,
        device: DeviceClass::Tablet,
        browser: Browser::SamsungInternet,
        os: Os::Android,
    },
];

/// Crawlers, monitors and tools.
pub const BOTS: &[Bot] = &[
    Bot {
        name: "Googlebot",
        user_agent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        weight: 30,
    },
    Bot {
        name: "bingbot",
        user_agent: "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        weight: 15,
    },
    Bot {
        name: "GPTBot",
        user_agent: "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        weight: 10,
    },
    Bot {
        name: "AhrefsBot",
        user_agent: "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        weight: 10,
    },
    Bot {
        name: "YandexBot",
        user_agent: "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        weight: 5,
    },
    Bot {
        name: "facebookexternalhit",
        user_agent: "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        weight: 5,
    },
    Bot {
        name: "HeadlessChrome",
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
        weight: 5,
    },
    Bot {
        name: "curl",
        user_agent: "curl/8.11.0",
        weight: 10,
    },
    Bot {
        name: "python-requests",
        user_agent: "python-requests/2.32.3",
        weight: 5,
    },
    Bot {
        name: "Go-http-client",
        user_agent: "Go-http-client/1.1",
        weight: 5,
    },
];

/// Share of visitors that are bots, in percent.
pub const BOT_PERCENT: u32 = 12;

/// Viewer countries (ISO 3166-1 alpha-2), their share, and the `Accept-Language` a browser there
/// typically sends.
pub const COUNTRIES: &[(&str, u32, &str)] = &[
    ("US", 300, "en-US,en;q=0.9"),
    ("DE", 80, "de-DE,de;q=0.9,en;q=0.8"),
    ("GB", 70, "en-GB,en;q=0.9"),
    ("IN", 60, "en-IN,en;q=0.9,hi;q=0.8"),
    ("FR", 50, "fr-FR,fr;q=0.9,en;q=0.8"),
    ("CA", 40, "en-CA,en;q=0.9,fr-CA;q=0.8"),
    ("BR", 40, "pt-BR,pt;q=0.9,en;q=0.8"),
    ("JP", 30, "ja-JP,ja;q=0.9"),
    ("NL", 30, "nl-NL,nl;q=0.9,en;q=0.8"),
    ("AU", 25, "en-AU,en;q=0.9"),
    ("ES", 25, "es-ES,es;q=0.9"),
    ("IT", 25, "it-IT,it;q=0.9,en;q=0.8"),
    ("PL", 20, "pl-PL,pl;q=0.9,en;q=0.8"),
    ("SE", 15, "sv-SE,sv;q=0.9,en;q=0.8"),
    ("MX", 15, "es-MX,es;q=0.9"),
    ("KR", 15, "ko-KR,ko;q=0.9"),
    ("CH", 10, "de-CH,de;q=0.9,fr;q=0.8"),
    ("NG", 10, "en-NG,en;q=0.9"),
    ("ID", 10, "id-ID,id;q=0.9"),
    ("ZA", 8, "en-ZA,en;q=0.9"),
];

/// Where bots say they are.
pub const BOT_COUNTRIES: &[(&str, u32)] = &[("US", 80), ("DE", 8), ("IE", 6), ("SG", 6)];

/// Kinds of referrer a landing request comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Typed or bookmarked: no `Referer`.
    Direct,
    /// A search engine.
    Search,
    /// A social network.
    Social,
    /// A news site or aggregator.
    News,
}

/// Shares of landing requests by origin (percent).
pub const ORIGINS: &[(Origin, u32)] = &[
    (Origin::Direct, 35),
    (Origin::Search, 40),
    (Origin::Social, 15),
    (Origin::News, 10),
];

/// Referrer URLs by origin, with their share within it.
pub fn referrers(origin: Origin) -> &'static [(&'static str, u32)] {
    match origin {
        Origin::Direct => &[],
        Origin::Search => &[
            ("https://www.google.com/", 80),
            ("https://www.bing.com/", 8),
            ("https://duckduckgo.com/", 7),
            ("https://www.ecosia.org/", 3),
            ("https://search.brave.com/", 2),
        ],
        Origin::Social => &[
            ("https://t.co/", 30),
            ("https://www.reddit.com/r/programming/", 25),
            ("https://www.linkedin.com/", 20),
            ("https://www.facebook.com/", 15),
            ("https://mastodon.social/", 10),
        ],
        Origin::News => &[
            ("https://news.ycombinator.com/item?id=4211", 50),
            ("https://lobste.rs/", 25),
            ("https://www.theguardian.com/technology", 25),
        ],
    }
}

/// A campaign: `utm_source`, `utm_medium`, `utm_campaign`, its share among tagged landings, and
/// the referrer it arrives with (`None`: an e-mail client sends none).
pub const CAMPAIGNS: &[(&str, &str, &str, u32, Option<&str>)] = &[
    ("newsletter", "email", "spring-launch", 40, None),
    (
        "twitter",
        "social",
        "spring-launch",
        20,
        Some("https://t.co/"),
    ),
    (
        "google",
        "cpc",
        "brand-search",
        25,
        Some("https://www.google.com/"),
    ),
    ("partner-blog", "referral", "guest-post", 15, None),
];

/// Share of landing requests that carry a campaign, in percent.
pub const CAMPAIGN_PERCENT: u32 = 15;

#[cfg(test)]
mod tests {
    use tally_edge::agent::classify;
    use tally_schema::BotReason;

    use super::*;

    /// The labels the summary counts under are the ones the edge's classifier gives.
    #[test]
    fn the_edge_agrees_with_every_label() {
        for b in BROWSERS {
            let a = classify(Some(b.user_agent));
            assert_eq!(
                (a.bot, a.device, a.browser, a.os),
                (None, b.device, b.browser, b.os),
                "{}",
                b.user_agent
            );
        }
        for b in BOTS {
            let a = classify(Some(b.user_agent));
            assert!(
                matches!(
                    a.bot,
                    Some(BotReason::UserAgentPattern | BotReason::HeadlessBrowser)
                ),
                "{}: {:?}",
                b.user_agent,
                a.bot
            );
        }
    }

    #[test]
    fn every_device_class_a_browser_can_have_is_present() {
        for device in [
            DeviceClass::Desktop,
            DeviceClass::Mobile,
            DeviceClass::Tablet,
        ] {
            assert!(BROWSERS.iter().any(|b| b.device == device), "{device:?}");
        }
    }
}
