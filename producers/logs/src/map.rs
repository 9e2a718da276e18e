//! One log line → a page-view event, by the edge's rules.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, SubsecRound, Utc};
use tally_edge::config::is_site_host;
use tally_edge::headers::{ViewerHeaders, country};
use tally_edge::{EdgeConfig, EdgeView, PageRequest, SkipReason, is_event_id, page_view};
use tally_schema::page_view::path::percent_decode;
use tally_schema::{Envelope, PageView};

use crate::record::{Field, LogLine};

/// Context string of the envelope-id derivation.
const ENVELOPE_ID_CONTEXT: &[u8] = b"tally cloudfront-logs envelope id v1\0";

/// How lines become events.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// The site every event names. `None`: each line's `x-host-header` (the `Host` the viewer
    /// sent), lower-cased, which must then be a host name.
    pub site: Option<String>,
    /// The edge's settings (page extensions, site aliases, trusted bot headers are unused: logs
    /// have no request headers beyond user agent and referrer; the visitor-hash secret, if set,
    /// hashes `c-ip` exactly as the edge hashes the client IP). Its `site` is replaced per line.
    pub edge: EdgeConfig,
    /// The envelope's `account` (local mode: `000000000000`).
    pub account: String,
    /// The envelope's `region` (local mode: `local`).
    pub region: String,
}

impl ImportConfig {
    /// This configuration with the edge's minimisation set to `minimise`.
    pub fn minimised(mut self, minimise: tally_edge::Minimise) -> Self {
        self.edge.minimise = minimise;
        self
    }

    /// This configuration with every event id keyed by `key` (the request id itself when `None`).
    pub fn keyed(mut self, key: Option<tally_edge::Secret>) -> Self {
        self.edge.event_id_key = key;
        self
    }

    /// Local-mode defaults, for `site` (or each line's host when `None`).
    pub fn new(site: Option<String>) -> Self {
        ImportConfig {
            edge: EdgeConfig::new(site.clone().unwrap_or_default()),
            site,
            account: "000000000000".into(),
            region: "local".into(),
        }
    }
}

/// The report's key of a skip: the edge's reason (`not_get`, `not_a_page`…), or `status_4xx`
/// for a status skip (by class, so the report stays short).
pub fn skip_key(reason: &SkipReason) -> String {
    reason.key()
}

/// What became of one line.
#[derive(Debug, Clone, PartialEq)]
// One per line, moved straight into the caller's batch.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// A page view: the whole envelope, as the bus would have delivered it.
    PageView(Envelope<PageView>),
    /// Not a page view, and why: the edge's reason ([`skip_key`] gives the report's key).
    Skipped(SkipReason),
    /// The line cannot be read as a request: a short key for the report, and the detail.
    Rejected {
        /// `bad_time`, `bad_status`, `no_request_id`, `no_site`, `missing_field`.
        key: &'static str,
        /// What was wrong, naming the field.
        message: String,
    },
}

/// Why a record gives no page view: [`Outcome`]'s two other cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAView {
    /// Not a page view, and the edge's reason.
    Skipped(SkipReason),
    /// The record cannot be read as a request: the report's key, and what was wrong.
    Rejected {
        /// As in [`Outcome::Rejected`].
        key: &'static str,
        /// What was wrong, naming the field.
        message: String,
    },
}

impl From<NotAView> for Outcome {
    fn from(not: NotAView) -> Self {
        match not {
            NotAView::Skipped(reason) => Outcome::Skipped(reason),
            NotAView::Rejected { key, message } => Outcome::Rejected { key, message },
        }
    }
}

fn reject(key: &'static str, message: impl Into<String>) -> NotAView {
    NotAView::Rejected {
        key,
        message: message.into(),
    }
}

/// The salt of the day of a view that occurred at the given time (`tally import`'s daily salts),
/// or `None` for none (no visitor hash, unless the edge configuration keys one).
pub type SaltOf = Box<dyn Fn(DateTime<Utc>) -> Option<Arc<str>> + Send + Sync>;

/// Maps log lines to page-view events.
pub struct Importer {
    config: ImportConfig,
    sites: HashMap<String, EdgeConfig>,
    salts: Option<SaltOf>,
}

impl std::fmt::Debug for Importer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("config", &self.config)
            .field("sites", &self.sites)
            .field("salts", &self.salts.as_ref().map(|_| "daily"))
            .finish()
    }
}

impl Importer {
    /// An importer with `config`.
    pub fn new(config: ImportConfig) -> Self {
        Importer {
            config,
            sites: HashMap::new(),
            salts: None,
        }
    }

    /// This importer with the visitor hash keyed by daily salts: `salt_of` gives the salt of a
    /// view's day (the edge's rules hash the client IP with it, as they do with a fixed secret).
    pub fn with_daily_salts(mut self, salt_of: SaltOf) -> Self {
        self.salts = Some(salt_of);
        self
    }

    /// Maps one line; `received_at` is when the pipeline accepted it (the import's time), as
    /// enrichment sets it from the execution's start.
    pub fn map(&mut self, line: &LogLine, received_at: DateTime<Utc>) -> Outcome {
        let view = match self.view(line) {
            Ok(view) => view,
            Err(not) => return not.into(),
        };
        Outcome::PageView(Envelope {
            version: "0".into(),
            id: envelope_id(&view.event_id),
            detail_type: "PageView".into(),
            source: "tally".into(),
            account: self.config.account.clone(),
            time: received_at.trunc_subsecs(0),
            region: self.config.region.clone(),
            resources: Vec::new(),
            detail: view.complete(received_at.trunc_subsecs(3)),
        })
    }

    /// What the edge would send of the line: the page view as the enrichment's input
    /// ([`EdgeView`]), or why there is none.
    pub fn view(&mut self, line: &LogLine) -> Result<EdgeView, NotAView> {
        let at = occurred_at(line)?;
        let Some(status) = line.get(Field::Status) else {
            return Err(reject("missing_field", "no sc-status"));
        };
        let Ok(status) = status.parse::<u16>() else {
            return Err(reject("bad_status", format!("sc-status {status:?}")));
        };
        let (Some(method), Some(stem)) = (line.get(Field::Method), line.get(Field::UriStem)) else {
            return Err(reject("missing_field", "no cs-method or cs-uri-stem"));
        };
        // Real-time logs' cs-uri-stem carries the query string; standard logs' never does.
        let (uri, stem_query) = stem.split_once('?').unwrap_or((stem, ""));
        let Some(request_id) = line.get(Field::RequestId).filter(|id| is_event_id(id)) else {
            return Err(reject(
                "no_request_id",
                "x-edge-request-id is missing or not an event id",
            ));
        };
        let salt = self.salts.as_ref().and_then(|salt_of| salt_of(at));
        let edge = self.edge_for(line)?;
        let user_agent = line.get(Field::UserAgent).map(percent_decode);
        let referer = line.get(Field::Referer).map(percent_decode);
        let request = PageRequest {
            method,
            status: Some(status),
            uri,
            querystring: line.get(Field::Query).unwrap_or(stem_query),
            user_agent: user_agent.as_deref(),
            referer: referer.as_deref(),
            accept_language: None,
            client_ip: line.get(Field::ClientIp).unwrap_or_default(),
            visitor_salt: salt.as_deref().map(str::as_bytes),
            prefetch: false,
            bot_flagged: false,
            viewer: ViewerHeaders {
                country: line.get(Field::Country).and_then(country),
                ..ViewerHeaders::default()
            },
        };
        page_view(&request, edge, request_id.to_owned(), at).map_err(NotAView::Skipped)
    }

    /// The edge settings for the line's site: the configured one, else the viewer's `Host`.
    fn edge_for(&mut self, line: &LogLine) -> Result<&EdgeConfig, NotAView> {
        let site = match &self.config.site {
            Some(site) => site.clone(),
            None => match line.get(Field::Host).map(str::to_ascii_lowercase) {
                Some(host) if is_site_host(&host) => host,
                _ => {
                    return Err(reject(
                        "no_site",
                        "the viewer's host (x-host-header, cs-host) is not a host name and no --site",
                    ));
                }
            },
        };
        Ok(self.sites.entry(site.clone()).or_insert_with(|| {
            let mut edge = self.config.edge.clone();
            edge.site = site;
            edge
        }))
    }
}

/// When the request was answered: `date` + `time` (standard logs, whole seconds), else
/// `timestamp(ms)` (v2), else `timestamp` (real-time logs: seconds since the epoch, to the
/// millisecond).
fn occurred_at(line: &LogLine) -> Result<DateTime<Utc>, NotAView> {
    if let (Some(date), Some(time)) = (line.get(Field::Date), line.get(Field::Time)) {
        return date_time(date, time)
            .ok_or_else(|| reject("bad_time", format!("date and time {date:?} {time:?}")));
    }
    if let Some(ms) = line.get(Field::TimestampMs) {
        return ms
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| reject("bad_time", format!("timestamp(ms) {ms:?}")));
    }
    if let Some(ts) = line.get(Field::Timestamp) {
        return epoch_seconds(ts)
            .or_else(|| DateTime::parse_from_rfc3339(ts).ok().map(|t| t.to_utc()))
            .ok_or_else(|| reject("bad_time", format!("timestamp {ts:?}")));
    }
    Err(reject("missing_field", "no date and time, nor a timestamp"))
}

/// `1700000000.123` (seconds since the epoch, up to nanoseconds after the point).
fn epoch_seconds(text: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    DateTime::from_timestamp(secs, nanos)
}

/// The envelope id of the event imported from the line with CloudFront request id `request_id`:
/// a UUID-shaped hex form of a BLAKE3 hash of it, so every import of the line gives the same id.
pub fn envelope_id(request_id: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(ENVELOPE_ID_CONTEXT);
    hasher.update(request_id.as_bytes());
    let hex: String = hasher.finalize().as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn date_time(date: &str, time: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S").ok()?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_ids_are_stable_and_distinct() {
        let a = envelope_id("abc==");
        assert_eq!(a, envelope_id("abc=="));
        assert_ne!(a, envelope_id("abd=="));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn epoch_timestamps() {
        let at = |t| epoch_seconds(t).map(|t| t.to_rfc3339());
        assert_eq!(
            at("1700000000.123").as_deref(),
            Some("2023-11-14T22:13:20.123+00:00")
        );
        assert_eq!(
            at("1700000000").as_deref(),
            Some("2023-11-14T22:13:20+00:00")
        );
        for bad in ["", ".5", "17e9", "1.-2", "1.1234567890", "x"] {
            assert_eq!(at(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn skip_keys() {
        assert_eq!(skip_key(&SkipReason::Status { code: 404 }), "status_4xx");
        assert_eq!(skip_key(&SkipReason::Status { code: 0 }), "status_0xx");
        assert_eq!(skip_key(&SkipReason::NotGet), "not_get");
        assert_eq!(
            skip_key(&SkipReason::NotAPage {
                extension: "css".into()
            }),
            "not_a_page"
        );
    }
}
