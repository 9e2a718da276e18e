//! The part of a page view the counters read.

use serde::Deserialize;
use serde_json::Value;
use tally_schema::{PageView, Timestamp};

use crate::CountersError;

/// The fields of a page-view detail (model 1) that the counters use.
///
/// Deliberately a lenient projection rather than [`PageView`] itself: `PageView` rejects unknown
/// fields and unknown enum values, so a counter built against `1-0-0` would refuse every event of
/// a later ADDITION (`1-0-1`, a new optional field or a new class). Here unknown fields are
/// ignored and the closed classes are read as their snake_case names, so an addition is counted
/// by an older deployment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CountedView {
    /// The idempotency key: each `event_id` is counted once.
    pub event_id: String,
    /// `MODEL-REVISION-ADDITION`; must be of model 1.
    pub schema_version: String,
    /// The site's host name.
    pub site: String,
    /// The normalised page path.
    pub path: String,
    /// When the edge saw the request; its UTC day and minute are the counters' time keys.
    pub occurred_at: Timestamp,
    /// ISO 3166-1 alpha-2 country, when known.
    #[serde(default)]
    pub country: Option<String>,
    /// Device class (`desktop`, `mobile`…).
    pub device: String,
    /// Operating-system family.
    pub os: String,
    /// Browser family.
    pub browser: String,
    /// Whether a bot made the request.
    pub is_bot: bool,
    /// Why it is a bot.
    #[serde(default)]
    pub bot_reason: Option<String>,
    /// Referrer host.
    #[serde(default)]
    pub referrer_host: Option<String>,
    /// Whether the referrer is the site itself.
    #[serde(default)]
    pub referrer_same_site: bool,
    /// `utm_campaign`.
    #[serde(default)]
    pub utm_campaign: Option<String>,
    /// The daily visitor hash, when the edge computes one.
    #[serde(default)]
    pub visitor_hash: Option<String>,
}

impl CountedView {
    /// Reads a page-view detail.
    pub fn from_detail(detail: &Value) -> Result<Self, CountersError> {
        let view = CountedView::deserialize(detail)
            .map_err(|e| CountersError::Invalid(format!("detail: {e}")))?;
        view.check()?;
        Ok(view)
    }

    /// Reads the detail of a whole EventBridge event.
    pub fn from_event(event: &Value) -> Result<Self, CountersError> {
        let detail = event
            .get("detail")
            .ok_or_else(|| CountersError::Invalid("the event has no detail".into()))?;
        CountedView::from_detail(detail)
    }

    /// The projection of a typed page view.
    pub fn from_page_view(view: &PageView) -> Self {
        fn name<T: serde::Serialize>(v: &T) -> String {
            serde_json::to_value(v)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".into())
        }
        CountedView {
            event_id: view.event_id.clone(),
            schema_version: view.schema_version.clone(),
            site: view.site.clone(),
            path: view.path.clone(),
            occurred_at: view.occurred_at,
            country: view.country.clone(),
            device: name(&view.device),
            os: name(&view.os),
            browser: name(&view.browser),
            is_bot: view.is_bot,
            bot_reason: view.bot_reason.as_ref().map(name),
            referrer_host: view.referrer_host.clone(),
            referrer_same_site: view.referrer_same_site,
            utm_campaign: view.utm_campaign.clone(),
            visitor_hash: view.visitor_hash.clone(),
        }
    }

    fn check(&self) -> Result<(), CountersError> {
        if !self.schema_version.starts_with("1-") {
            return Err(CountersError::Invalid(format!(
                "schema_version {:?} is not of model 1",
                self.schema_version
            )));
        }
        for (field, value) in [
            ("event_id", &self.event_id),
            ("site", &self.site),
            ("path", &self.path),
        ] {
            if value.is_empty() {
                return Err(CountersError::Invalid(format!("empty {field}")));
            }
        }
        Ok(())
    }
}

/// The page view an SQS message of the counters' queue holds: an EventBridge event (JSON text)
/// of source `tally` (or `tally.replay`, a re-put replay), detail-type `PageView`, whose detail
/// the counters can count. The error says why not (permanent): the Lambda names such a message
/// as failed, and `tally failed list --aws` gives it as a dead letter's reason.
pub fn read_message(body: &str) -> Result<CountedView, CountersError> {
    let event: Value = serde_json::from_str(body)
        .map_err(|e| CountersError::Invalid(format!("not an eventbridge event: {e}")))?;
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default();
    let (source, detail_type) = (text("source"), text("detail-type"));
    let source_ok = [tally_schema::SOURCE, tally_consumer::REPLAY_SOURCE].contains(&source);
    if !source_ok || detail_type != tally_schema::DETAIL_TYPE {
        return Err(CountersError::Invalid(format!(
            "not a page view: source {source:?}, detail-type {detail_type:?}"
        )));
    }
    CountedView::from_detail(event.get("detail").unwrap_or(&Value::Null))
}
