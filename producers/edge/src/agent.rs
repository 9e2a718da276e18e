//! The user agent, reduced to closed classes: bot or not (and why), OS family, browser family and
//! a fallback device class. The user agent itself never leaves this module's callers.
//!
//! - Bots: the [`isbot`] crate's pattern list (a Rust port of the widely used `isbot` list, one
//!   compiled regular expression, linear time), plus `woothee`'s crawler category, plus a
//!   headless-browser check and the configured trusted bot headers.
//! - OS and browser: the [`woothee`] crate (the Rust port of the Woothee project's shared
//!   user-agent dataset: small, no data files, knows Edge's `Edg/`, Samsung Internet, ChromeOS).
//!
//! Only the first [`MAX_UA_BYTES`] bytes of the user agent are classified, so a hostile header
//! costs bounded work. Parsing costs several microseconds, and a site sees the same few hundred
//! user agents again and again, so each thread remembers the last [`MEMO_ENTRIES`] results.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

use tally_schema::{BotReason, Browser, DeviceClass, Os};

use crate::headers::HeaderSource;

/// The part of a user agent that is classified, in bytes (cut on a character boundary).
pub const MAX_UA_BYTES: usize = 1024;

static BOTS: LazyLock<isbot::Bots> = LazyLock::new(isbot::Bots::default);
static PARSER: LazyLock<woothee::parser::Parser> = LazyLock::new(woothee::parser::Parser::new);

/// User agents each thread remembers the classification of, at most; when full, it forgets
/// them all (cheap, and bounded whatever the traffic).
pub const MEMO_ENTRIES: usize = 1024;

thread_local! {
    static MEMO: RefCell<HashMap<Box<str>, Agent>> = RefCell::new(HashMap::new());
}

/// Substrings (lower-case) naming a headless or automation browser.
const HEADLESS: [&str; 4] = ["headless", "phantomjs", "slimerjs", "puppeteer"];

/// What the user agent says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    /// Why it is a bot, if it is one.
    pub bot: Option<BotReason>,
    /// Operating-system family.
    pub os: Os,
    /// Browser family.
    pub browser: Browser,
    /// Device class from the user agent alone, for when CloudFront's flags say nothing.
    pub device: DeviceClass,
}

/// Classifies a user agent (`None` when the request has no `User-Agent`).
pub fn classify(user_agent: Option<&str>) -> Agent {
    let ua = user_agent.map(str::trim).unwrap_or_default();
    let ua = cut(ua, MAX_UA_BYTES);
    if ua.is_empty() {
        return Agent {
            bot: Some(BotReason::EmptyUserAgent),
            os: Os::Unknown,
            browser: Browser::Unknown,
            device: DeviceClass::Unknown,
        };
    }
    if let Some(agent) = MEMO.with(|m| m.borrow().get(ua).copied()) {
        return agent;
    }
    let agent = parse(ua);
    MEMO.with(|m| {
        let mut memo = m.borrow_mut();
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(ua.into(), agent);
    });
    agent
}

/// Classifies a non-empty user agent, cut to [`MAX_UA_BYTES`].
fn parse(ua: &str) -> Agent {
    let parsed = PARSER.parse(ua);
    let (category, name, os_name) = parsed
        .as_ref()
        .map(|r| (r.category, r.name, r.os))
        .unwrap_or(("UNKNOWN", "UNKNOWN", "UNKNOWN"));

    let lower = ua.to_ascii_lowercase();
    let bot = if HEADLESS.iter().any(|h| lower.contains(h)) {
        Some(BotReason::HeadlessBrowser)
    } else if category == "crawler" || BOTS.is_bot(ua) {
        Some(BotReason::UserAgentPattern)
    } else {
        None
    };

    Agent {
        bot,
        os: os_family(os_name),
        browser: browser_family(category, name),
        device: device_class(category, name, os_name, ua),
    }
}

/// Whether a trusted header says the request is a bot.
pub fn flagged<H: HeaderSource + ?Sized>(request: &H, bot_flag_headers: &[String]) -> bool {
    bot_flag_headers.iter().any(|h| {
        request.first(h).is_some_and(|v| {
            let v = v.trim();
            !(v.is_empty()
                || v.eq_ignore_ascii_case("false")
                || v == "0"
                || v.eq_ignore_ascii_case("no"))
        })
    })
}

fn os_family(os: &str) -> Os {
    match os {
        "UNKNOWN" | "" => Os::Unknown,
        "Mac OSX" => Os::Macos,
        "iPhone" | "iPad" | "iPod" | "iOS" => Os::Ios,
        "Android" => Os::Android,
        "Linux" => Os::Linux,
        "ChromeOS" => Os::Chromeos,
        "Windows Phone OS" | "Windows CE" => Os::Other,
        w if w.starts_with("Windows") => Os::Windows,
        _ => Os::Other,
    }
}

fn browser_family(category: &str, name: &str) -> Browser {
    match name {
        "Chrome" => Browser::Chrome,
        "Edge" => Browser::Edge,
        "Firefox" => Browser::Firefox,
        "Safari" => Browser::Safari,
        "Opera" => Browser::Opera,
        "SamsungBrowser" => Browser::SamsungInternet,
        "UNKNOWN" | "" if category == "UNKNOWN" => Browser::Unknown,
        _ => Browser::Other,
    }
}

fn device_class(category: &str, name: &str, os: &str, ua: &str) -> DeviceClass {
    match category {
        "pc" => DeviceClass::Desktop,
        "smartphone" if os == "iPad" => DeviceClass::Tablet,
        // Android tablets leave `Mobile` out of the user agent; phones put it in.
        "smartphone" if os == "Android" && !ua.contains("Mobile") => DeviceClass::Tablet,
        "smartphone" | "mobilephone" => DeviceClass::Mobile,
        "appliance" if name == "InternetTVBrowser" => DeviceClass::Smarttv,
        _ => DeviceClass::Unknown,
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const WIN_EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0";
    const MAC_FIREFOX: &str =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0";
    const ANDROID_TABLET_SAMSUNG: &str = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36";
    const ANDROID_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
    const CHROMEBOOK: &str = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const LINUX_OPERA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0";

    #[test]
    fn remembered_answers_are_the_parsed_ones_even_past_the_memo_size() {
        let known = [
            IPHONE,
            WIN_EDGE,
            MAC_FIREFOX,
            ANDROID_TABLET_SAMSUNG,
            ANDROID_PHONE,
            CHROMEBOOK,
            LINUX_OPERA,
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/124.0.0.0 Safari/537.36",
        ];
        // More distinct agents than the memo holds, twice over, so it is cleared in between.
        let many: Vec<String> = (0..MEMO_ENTRIES * 2 + 7)
            .map(|i| format!("{} {i}", known[i % known.len()]))
            .collect();
        for round in 0..2 {
            for ua in known.iter().copied().chain(many.iter().map(String::as_str)) {
                assert_eq!(
                    classify(Some(ua)),
                    parse(cut(ua, MAX_UA_BYTES)),
                    "round {round}: {ua}"
                );
            }
        }
        MEMO.with(|m| assert!(m.borrow().len() <= MEMO_ENTRIES));
    }

    #[test]
    fn browsers_and_os() {
        let cases = [
            (IPHONE, Os::Ios, Browser::Safari, DeviceClass::Mobile),
            (WIN_EDGE, Os::Windows, Browser::Edge, DeviceClass::Desktop),
            (
                MAC_FIREFOX,
                Os::Macos,
                Browser::Firefox,
                DeviceClass::Desktop,
            ),
            (
                ANDROID_TABLET_SAMSUNG,
                Os::Android,
                Browser::SamsungInternet,
                DeviceClass::Tablet,
            ),
            (
                ANDROID_PHONE,
                Os::Android,
                Browser::Chrome,
                DeviceClass::Mobile,
            ),
            (
                CHROMEBOOK,
                Os::Chromeos,
                Browser::Chrome,
                DeviceClass::Desktop,
            ),
            (LINUX_OPERA, Os::Linux, Browser::Opera, DeviceClass::Desktop),
        ];
        for (ua, os, browser, device) in cases {
            let a = classify(Some(ua));
            assert_eq!(
                (a.os, a.browser, a.device, a.bot),
                (os, browser, device, None),
                "{ua}"
            );
        }
    }

    #[test]
    fn bots() {
        let cases = [
            (None, BotReason::EmptyUserAgent),
            (Some("   "), BotReason::EmptyUserAgent),
            (
                Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
                BotReason::UserAgentPattern,
            ),
            (
                Some(
                    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
                ),
                BotReason::UserAgentPattern,
            ),
            (Some("curl/8.5.0"), BotReason::UserAgentPattern),
            (Some("python-requests/2.31.0"), BotReason::UserAgentPattern),
            (Some("Go-http-client/2.0"), BotReason::UserAgentPattern),
            (
                Some(
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
                ),
                BotReason::HeadlessBrowser,
            ),
            (
                Some(
                    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
                ),
                BotReason::HeadlessBrowser,
            ),
        ];
        for (ua, reason) in cases {
            assert_eq!(classify(ua).bot, Some(reason), "{ua:?}");
        }
    }

    #[test]
    fn hostile_user_agents_are_bounded() {
        let huge = "Mozilla/5.0 ".repeat(100_000);
        let _ = classify(Some(&huge));
        let _ = classify(Some(&"é".repeat(10_000)));
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("abc", 10), "abc");
    }
}
