//! The page-view detail, model 1.

mod classes;
pub mod path;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{SchemaVer, Timestamp};

pub use classes::{BotReason, Browser, DeviceClass, Os};

/// The version of the page-view schema these types generate.
pub const VERSION: SchemaVer = SchemaVer {
    model: 1,
    revision: 0,
    addition: 0,
};

/// Longest page path kept, in characters (see [`path::normalize`]).
pub const MAX_PATH_CHARS: usize = 1024;
/// Longest referrer path kept, in characters.
pub const MAX_REFERRER_PATH_CHARS: usize = 512;
/// Longest value kept for each `utm_*` parameter, in characters.
pub const MAX_UTM_CHARS: usize = 128;

/// One page view: what the edge saw, completed by enrichment.
///
/// Never carries a raw IP address, a full user-agent string or a cookie: the user agent is reduced
/// to closed classes ([`DeviceClass`], [`Os`], [`Browser`], [`BotReason`]) and the IP is used, if
/// at all, only inside the edge function to compute the optional `visitor_hash`.
///
/// The layout is flat (no nested objects) so that the same SQL reads it on Athena and DataFusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "PageView", transform = bot_reason_rule)]
pub struct PageView {
    /// Idempotency key: the CloudFront request id (`x-amz-cf-id`) where there is one, otherwise an
    /// id the producer derives deterministically from its input. Consumers count each id once.
    #[schemars(length(min = 1, max = 128), pattern(r"^[A-Za-z0-9_\-=.:]+$"))]
    pub event_id: String,

    /// The SchemaVer (`MODEL-REVISION-ADDITION`) this detail was written against. Rules select a
    /// model with a prefix match, e.g. `{"detail": {"schema_version": [{"prefix": "1-"}]}}`.
    #[schemars(
        length(max = 32),
        pattern(r"^1-(0|[1-9][0-9]{0,8})-(0|[1-9][0-9]{0,8})$")
    )]
    pub schema_version: String,

    /// The site's host name, lower-case, from the producer's configuration (not the Host header,
    /// which at origin-request names the origin).
    #[schemars(
        length(min = 1, max = 253),
        pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$")
    )]
    pub site: String,

    /// The page path, normalised by [`path::normalize`]: no query string or fragment,
    /// percent-decoded, dot segments resolved, `//` collapsed, a final `index.html` dropped, case
    /// and trailing slash kept.
    #[schemars(length(min = 1, max = 1024), pattern(r"^/"))]
    pub path: String,

    /// When the edge saw the request.
    pub occurred_at: Timestamp,

    /// When the pipeline accepted the event: the Step Functions execution's start time, RFC 3339
    /// as Step Functions writes it (AWS: `2026-11-29T06:40:19.180Z`; other implementations may
    /// give more digits or a `+00:00` offset, so any RFC 3339 form is accepted here).
    #[schemars(length(max = 40))]
    pub received_at: DateTime<Utc>,

    /// Viewer country, ISO 3166-1 alpha-2 (upper-case). Absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 2), pattern(r"^[A-Z]{2}$"))]
    pub country: Option<String>,

    /// Viewer country subdivision, the ISO 3166-2 code without the country prefix (e.g. `WA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8), pattern(r"^[A-Za-z0-9]+$"))]
    pub region: Option<String>,

    /// Viewer city, as CloudFront names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub city: Option<String>,

    /// Viewer time zone, IANA name (e.g. `Europe/Paris`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_+\-/]+$"))]
    pub timezone: Option<String>,

    /// Device class.
    pub device: DeviceClass,

    /// Operating-system family.
    pub os: Os,

    /// Browser family.
    pub browser: Browser,

    /// Whether the request came from a bot. Bots are flagged, not dropped, so a rule can route them.
    pub is_bot: bool,

    /// Why the request was classed as a bot; present exactly when `is_bot` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_reason: Option<BotReason>,

    /// Referrer host, lower-case, without scheme, credentials, port or path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub referrer_host: Option<String>,

    /// Referrer path, without query string or fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), pattern(r"^/"))]
    pub referrer_path: Option<String>,

    /// True when the referrer is the site itself (internal navigation); false when there is no
    /// referrer.
    pub referrer_same_site: bool,

    /// `utm_source` query parameter, percent-decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub utm_source: Option<String>,

    /// `utm_medium` query parameter, percent-decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub utm_medium: Option<String>,

    /// `utm_campaign` query parameter, percent-decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub utm_campaign: Option<String>,

    /// `utm_term` query parameter, percent-decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub utm_term: Option<String>,

    /// `utm_content` query parameter, percent-decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub utm_content: Option<String>,

    /// The viewer's preferred language, the first tag of `Accept-Language` (BCP 47, e.g. `en-GB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 35),
        pattern(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
    )]
    pub language: Option<String>,

    /// Optional daily visitor hash: a keyed hash of site, client IP, user agent and UTC day, as
    /// lower-case hex. It changes every day and cannot be reversed without the edge's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 16, max = 64), pattern(r"^[0-9a-f]+$"))]
    pub visitor_hash: Option<String>,
}

/// Adds to the schema: `bot_reason` is present exactly when `is_bot` is true.
///
/// Written with `oneOf` rather than `if`/`then`, which Draft 4 (the registry's dialect) lacks.
fn bot_reason_rule(schema: &mut schemars::Schema) {
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            {
                "description": "a bot, with its reason",
                "properties": { "is_bot": { "enum": [true] } },
                "required": ["bot_reason"]
            },
            {
                "description": "a human, with no bot reason",
                "properties": { "is_bot": { "enum": [false] } },
                "not": { "required": ["bot_reason"] }
            }
        ]),
    );
}
