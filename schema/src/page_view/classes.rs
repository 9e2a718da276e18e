//! Closed classes the user agent and viewer headers are reduced to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Device class, from CloudFront's `CloudFront-Is-*-Viewer` headers or the user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// A desktop or laptop computer.
    Desktop,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A television or set-top box.
    Smarttv,
    /// Nothing said which.
    Unknown,
}

/// Operating-system family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Os {
    /// Microsoft Windows.
    Windows,
    /// Apple macOS.
    Macos,
    /// Apple iOS and iPadOS.
    Ios,
    /// Google Android.
    Android,
    /// Linux desktops.
    Linux,
    /// Google ChromeOS.
    Chromeos,
    /// Recognised but none of the above.
    Other,
    /// Not recognised.
    Unknown,
}

/// Browser family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Browser {
    /// Google Chrome and Chromium.
    Chrome,
    /// Microsoft Edge.
    Edge,
    /// Mozilla Firefox.
    Firefox,
    /// Apple Safari.
    Safari,
    /// Opera.
    Opera,
    /// Samsung Internet.
    SamsungInternet,
    /// Recognised but none of the above.
    Other,
    /// Not recognised.
    Unknown,
}

/// Why a request was classed as a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotReason {
    /// No `User-Agent` header, or an empty one.
    EmptyUserAgent,
    /// The user agent matches a known crawler, spider, monitor or tool.
    UserAgentPattern,
    /// The user agent names a headless browser.
    HeadlessBrowser,
    /// CloudFront or a trusted proxy said so in a header.
    HeaderFlag,
}
