//! One log line → a page-view event, by the edge's rules.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, SubsecRound, Utc};
use tally_edge::config::is_site_host;
use tally_edge::headers::{ViewerHeaders, country};
use tally_edge::{EdgeConfig, PageRequest, SkipReason, is_event_id, page_view};
use tally_schema::page_view::path::percent_decode;
use tally_schema::{Envelope, PageView};

use crate::parse::LogLine;

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
    match reason {
        SkipReason::Status { code } => format!("status_{}xx", code / 100),
        reason => serde_json::to_value(reason)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "rule".into()),
    }
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

fn reject(key: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Rejected {
        key,
        message: message.into(),
    }
}

/// Maps log lines to page-view events.
#[derive(Debug)]
pub struct Importer {
    config: ImportConfig,
    sites: HashMap<String, EdgeConfig>,
}

impl Importer {
    /// An importer with `config`.
    pub fn new(config: ImportConfig) -> Self {
        Importer {
            config,
            sites: HashMap::new(),
        }
    }

    /// Maps one line; `received_at` is when the pipeline accepted it (the import's time), as
    /// enrichment sets it from the execution's start.
    pub fn map(&mut self, line: &LogLine, received_at: DateTime<Utc>) -> Outcome {
        let c = &*line.columns;
        let (Some(date), Some(time)) = (line.at(c.date), line.at(c.time)) else {
            return reject("missing_field", "no date or time");
        };
        let Some(at) = timestamp(date, time) else {
            return reject("bad_time", format!("date and time {date:?} {time:?}"));
        };
        let Some(status) = line.at(c.status) else {
            return reject("missing_field", "no sc-status");
        };
        let Ok(status) = status.parse::<u16>() else {
            return reject("bad_status", format!("sc-status {status:?}"));
        };
        let (Some(method), Some(uri)) = (line.at(c.method), line.at(c.uri_stem)) else {
            return reject("missing_field", "no cs-method or cs-uri-stem");
        };
        let Some(request_id) = line.at(c.request_id).filter(|id| is_event_id(id)) else {
            return reject(
                "no_request_id",
                "x-edge-request-id is missing or not an event id",
            );
        };
        let site = match &self.config.site {
            Some(site) => site.clone(),
            None => match line.at(c.host_header).map(str::to_ascii_lowercase) {
                Some(host) if is_site_host(&host) => host,
                _ => return reject("no_site", "x-host-header is not a host name and no --site"),
            },
        };
        let edge = self.sites.entry(site.clone()).or_insert_with(|| {
            let mut edge = self.config.edge.clone();
            edge.site = site;
            edge
        });
        let user_agent = line.at(c.user_agent).map(percent_decode);
        let referer = line.at(c.referer).map(percent_decode);
        let request = PageRequest {
            method,
            status: Some(status),
            uri,
            querystring: line.at(c.query).unwrap_or_default(),
            user_agent: user_agent.as_deref(),
            referer: referer.as_deref(),
            accept_language: None,
            client_ip: line.at(c.c_ip).unwrap_or_default(),
            prefetch: false,
            bot_flagged: false,
            viewer: ViewerHeaders {
                country: line.at(c.country).and_then(country),
                ..ViewerHeaders::default()
            },
        };
        match page_view(&request, edge, request_id.to_owned(), at) {
            Ok(view) => Outcome::PageView(Envelope {
                version: "0".into(),
                id: envelope_id(request_id),
                detail_type: "PageView".into(),
                source: "tally".into(),
                account: self.config.account.clone(),
                time: received_at.trunc_subsecs(0),
                region: self.config.region.clone(),
                resources: Vec::new(),
                detail: view.complete(received_at.trunc_subsecs(3)),
            }),
            Err(reason) => Outcome::Skipped(reason),
        }
    }
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

fn timestamp(date: &str, time: &str) -> Option<DateTime<Utc>> {
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
