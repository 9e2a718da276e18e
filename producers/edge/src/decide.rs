//! The decision: is this origin event a page view, and if so, what does the edge know of it?

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_schema::{BotReason, Browser, DeviceClass, Os, PageView, Timestamp};

use crate::config::EdgeConfig;
use crate::event::{CfResponse, CloudFrontRecord};
use crate::request::{PageRequest, page_view};
use crate::visitor::hex;

/// Longest extension quoted in a [`SkipReason::NotAPage`], in characters.
pub const MAX_EXTENSION_CHARS: usize = 16;
/// Longest event type quoted in a [`SkipReason::UnsupportedTrigger`], in characters.
pub const MAX_EVENT_TYPE_CHARS: usize = 32;
/// The `eventType` of an origin-request trigger: before the origin answers (status unknown).
pub const ORIGIN_REQUEST: &str = "origin-request";
/// The `eventType` of an origin-response trigger, the one `tally deploy` associates: the origin's
/// status is known, so redirects, 404s and errors are not counted.
pub const ORIGIN_RESPONSE: &str = "origin-response";

/// What the edge decided about one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// One decision per request, moved once into the sink: a box would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Decision {
    /// A page view: send it to the enrichment state machine.
    PageView(EdgeView),
    /// Not a page view, and why.
    Skip(SkipReason),
}

/// Why a request is not a page view. Closed: a new reason is a new variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// The record is neither an origin-request nor an origin-response event.
    UnsupportedTrigger {
        /// The record's `eventType`, cut to 32 characters.
        event_type: String,
    },
    /// The response status is known and not a success (2xx) or a 304.
    Status {
        /// The status code (`0` for CloudFront's `000`: the viewer left before the response).
        code: u16,
    },
    /// The method is not `GET`.
    NotGet,
    /// The path names an asset, not a page.
    NotAPage {
        /// The path's extension, lower-case, cut to 16 characters.
        extension: String,
    },
    /// The browser is prefetching; the viewer may never see the page.
    Prefetch,
    /// The configured site is not a lower-case host name, so no valid page view can be written.
    InvalidSite,
}

impl SkipReason {
    /// A short key for reports and metrics, without the reason's values (`not_a_page`,
    /// `status_4xx`): the serde tag, and the status's class.
    pub fn key(&self) -> String {
        match self {
            SkipReason::UnsupportedTrigger { .. } => "unsupported_trigger".into(),
            SkipReason::Status { code } => format!("status_{}xx", code / 100),
            SkipReason::NotGet => "not_get".into(),
            SkipReason::NotAPage { .. } => "not_a_page".into(),
            SkipReason::Prefetch => "prefetch".into(),
            SkipReason::InvalidSite => "invalid_site".into(),
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnsupportedTrigger { event_type } => {
                write!(
                    f,
                    "not an origin-request or origin-response event: {event_type:?}"
                )
            }
            SkipReason::Status { code } => {
                write!(f, "response status {code:03} is not 2xx or 304")
            }
            SkipReason::NotGet => f.write_str("not a GET request"),
            SkipReason::NotAPage { extension } => write!(f, "not a page: .{extension}"),
            SkipReason::Prefetch => f.write_str("prefetch request"),
            SkipReason::InvalidSite => f.write_str("configured site is not a valid host name"),
        }
    }
}

/// A page view as the edge knows it: every field of the v1 detail except `schema_version` and
/// `received_at`, which the enrichment state machine adds. Serialises to exactly the state
/// machine's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeView {
    /// The CloudFront request id, or an id derived from the record.
    pub event_id: String,
    /// The configured site.
    pub site: String,
    /// The normalised page path.
    pub path: String,
    /// When the edge saw the request.
    pub occurred_at: Timestamp,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// ISO 3166-2 subdivision without the country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// City name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Device class.
    pub device: DeviceClass,
    /// OS family.
    pub os: Os,
    /// Browser family.
    pub browser: Browser,
    /// Whether a bot.
    pub is_bot: bool,
    /// Why a bot; present exactly when `is_bot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_reason: Option<BotReason>,
    /// Referrer host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_host: Option<String>,
    /// Referrer path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_path: Option<String>,
    /// Whether the referrer is the site itself.
    pub referrer_same_site: bool,
    /// `utm_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    /// `utm_medium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    /// `utm_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
    /// First tag of `Accept-Language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Daily keyed visitor hash, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_hash: Option<String>,
}

impl EdgeView {
    /// The whole v1 detail, as enrichment completes it (for tests and local mode).
    pub fn complete(self, received_at: DateTime<Utc>) -> PageView {
        PageView {
            event_id: self.event_id,
            schema_version: tally_schema::page_view::VERSION.to_string(),
            site: self.site,
            path: self.path,
            occurred_at: self.occurred_at,
            received_at,
            country: self.country,
            region: self.region,
            city: self.city,
            timezone: self.timezone,
            device: self.device,
            os: self.os,
            browser: self.browser,
            is_bot: self.is_bot,
            bot_reason: self.bot_reason,
            referrer_host: self.referrer_host,
            referrer_path: self.referrer_path,
            referrer_same_site: self.referrer_same_site,
            utm_source: self.utm_source,
            utm_medium: self.utm_medium,
            utm_campaign: self.utm_campaign,
            utm_term: self.utm_term,
            utm_content: self.utm_content,
            language: self.language,
            visitor_hash: self.visitor_hash,
        }
    }
}

/// Decides whether `record` is a page view of `config.site`, seen at `now`.
///
/// Pure and total: no I/O, no panic, work bounded by the size of the record. The record is not
/// changed; the handler returns it to CloudFront as it came. After the event type, the rules are
/// [`crate::page_view`]'s, shared with every other producer.
pub fn decide(record: &CloudFrontRecord, config: &EdgeConfig, now: DateTime<Utc>) -> Decision {
    decide_salted(record, config, None, now)
}

/// [`decide`], with the visitor hash keyed by `visitor_salt`, the day's salt, when given (the
/// edge function reads it from the configured `salts_table`).
pub fn decide_salted(
    record: &CloudFrontRecord,
    config: &EdgeConfig,
    visitor_salt: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Decision {
    let event_type = record.cf.config.event_type.as_str();
    let status = match event_type {
        ORIGIN_REQUEST => None,
        ORIGIN_RESPONSE => record.cf.response.as_ref().and_then(CfResponse::code),
        _ => {
            return Decision::Skip(SkipReason::UnsupportedTrigger {
                event_type: event_type.chars().take(MAX_EVENT_TYPE_CHARS).collect(),
            });
        }
    };
    let mut request = PageRequest::from_cloudfront(&record.cf.request, config);
    request.status = status;
    request.visitor_salt = visitor_salt;
    match page_view(&request, config, event_id(record, now), now) {
        Ok(view) => Decision::PageView(view),
        Err(reason) => Decision::Skip(reason),
    }
}

/// The CloudFront request id when it fits the schema's pattern; otherwise `edge-` and 32 hex
/// digits of an unkeyed BLAKE3 hash of the time and the request's non-identifying parts
/// (distribution, method, URI, query string, user agent, referrer, language). The client IP is
/// left out, so the id reveals nothing the event does not already say.
pub fn event_id(record: &CloudFrontRecord, now: DateTime<Utc>) -> String {
    if let Some(id) = record.cf.config.request_id.as_deref()
        && is_event_id(id)
    {
        return id.to_owned();
    }
    let config = &record.cf.config;
    let request = &record.cf.request;
    let mut hasher = blake3::Hasher::new();
    let millis = now.timestamp_millis().to_le_bytes();
    let parts = [
        &millis[..],
        config.distribution_id.as_bytes(),
        config.distribution_domain_name.as_bytes(),
        request.method.as_bytes(),
        request.uri.as_bytes(),
        request.querystring.as_bytes(),
        request.header("user-agent").unwrap_or_default().as_bytes(),
        request.header("referer").unwrap_or_default().as_bytes(),
        request
            .header("accept-language")
            .unwrap_or_default()
            .as_bytes(),
    ];
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("edge-{}", hex(&hasher.finalize().as_bytes()[..16]))
}

/// Longest Step Functions execution name.
pub const MAX_EXECUTION_NAME_CHARS: usize = 80;

/// Characters of the event id kept before the hash when the id must be mapped.
const NAME_PREFIX_CHARS: usize = MAX_EXECUTION_NAME_CHARS - 1 - 32;

/// The enrichment execution's name for an event id, the same from every producer: Step Functions
/// takes 1 to 80 characters of `[A-Za-z0-9_-]`. An id that fits is used as is; any other is
/// mapped deterministically: each other character becomes `_`, the result is cut to 47
/// characters, and `-` and 32 hex digits of the id's BLAKE3 hash are appended, so distinct ids
/// keep distinct names and the name still starts with the id for tracing.
pub fn execution_name(event_id: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !event_id.is_empty()
        && event_id.len() <= MAX_EXECUTION_NAME_CHARS
        && event_id.chars().all(allowed)
    {
        return event_id.to_owned();
    }
    let mut name: String = event_id
        .chars()
        .take(NAME_PREFIX_CHARS)
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    name.push('-');
    name.push_str(&blake3::hash(event_id.as_bytes()).to_hex()[..32]);
    name
}

/// Whether `id` fits the schema's `event_id`: 1–128 of `A-Za-z0-9_-=.:`.
pub fn is_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::asset_extension;

    #[test]
    fn skip_keys_are_the_serde_tag_without_values() {
        let with_values = [
            SkipReason::UnsupportedTrigger {
                event_type: "viewer-request".into(),
            },
            SkipReason::NotAPage {
                extension: "css".into(),
            },
            SkipReason::NotGet,
            SkipReason::Prefetch,
            SkipReason::InvalidSite,
        ];
        for reason in with_values {
            let tag = serde_json::to_value(&reason).expect("json")["reason"].clone();
            assert_eq!(tag, reason.key().as_str(), "{reason:?}");
        }
        assert_eq!(SkipReason::Status { code: 404 }.key(), "status_4xx");
        assert_eq!(SkipReason::Status { code: 0 }.key(), "status_0xx");
    }

    #[test]
    fn page_detection() {
        let exts = ["html".to_owned(), "htm".to_owned()];
        let page = |uri: &str| asset_extension(uri, &exts);
        for uri in [
            "/",
            "/blog/",
            "/blog",
            "/a.html",
            "/A.HTML",
            "/a.htm",
            "/blog/index.html",
            "/.well-known",
            "/v1.2/",
            "/caf%C3%A9",
            "",
            "/a.css?x=.html/",
        ] {
            if uri == "/a.css?x=.html/" {
                assert_eq!(page(uri).as_deref(), Some("css"));
                continue;
            }
            assert_eq!(page(uri), None, "{uri}");
        }
        assert_eq!(page("/style.CSS").as_deref(), Some("css"));
        assert_eq!(page("/favicon.ico").as_deref(), Some("ico"));
        assert_eq!(page("/a.tar.gz").as_deref(), Some("gz"));
        assert_eq!(page("/x.").as_deref(), Some(""));
        assert_eq!(
            page(&format!("/x.{}", "a".repeat(100))).map(|e| e.len()),
            Some(MAX_EXTENSION_CHARS)
        );
        let php = ["php".to_owned()];
        assert_eq!(asset_extension("/index.php", &php), None);
        assert_eq!(asset_extension("/a.html", &php).as_deref(), Some("html"));
    }

    #[test]
    fn skip_reasons_display_and_serialise() {
        let r = SkipReason::NotAPage {
            extension: "css".into(),
        };
        assert_eq!(r.to_string(), "not a page: .css");
        assert_eq!(
            serde_json::to_value(Decision::Skip(r)).expect("json"),
            serde_json::json!({"skip": {"reason": "not_a_page", "extension": "css"}})
        );
        assert_eq!(
            serde_json::to_value(SkipReason::NotGet).expect("json"),
            serde_json::json!({"reason": "not_get"})
        );
        let status = SkipReason::Status { code: 404 };
        assert_eq!(status.to_string(), "response status 404 is not 2xx or 304");
        assert_eq!(
            serde_json::to_value(&status).expect("json"),
            serde_json::json!({"reason": "status", "code": 404})
        );
        assert_eq!(
            SkipReason::Status { code: 0 }.to_string(),
            "response status 000 is not 2xx or 304"
        );
    }

    #[test]
    fn execution_names() {
        assert_eq!(execution_name("serve-abc-1"), "serve-abc-1");
        let cf = "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==";
        let name = execution_name(cf);
        assert!(
            name.starts_with("4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26-"),
            "{name}"
        );
        assert_eq!(name.len(), MAX_EXECUTION_NAME_CHARS);
        assert_ne!(
            name,
            execution_name("4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=:")
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn event_ids() {
        assert!(is_event_id(
            "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="
        ));
        for bad in ["", "a b", "a/b", &"a".repeat(129), "é"] {
            assert!(!is_event_id(bad), "{bad}");
        }
    }
}
