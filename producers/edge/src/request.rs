//! One request, as any producer can describe it: the input of the page-view rules.
//!
//! The edge fills a [`PageRequest`] from a CloudFront origin-request record
//! ([`PageRequest::from_cloudfront`]); the CloudFront access-log importer (`tally-logs`) fills one
//! from a log line, the real-time log producer from a Kinesis record, `tally serve` from a local
//! request. All of them call [`page_view`], so "is this a page view, and what is it" is decided by
//! one function: the response status, the method, page detection, bots, device precedence,
//! referrer, UTM, language and the visitor hash.

use chrono::{DateTime, Utc};
use tally_schema::page_view::path::normalize;
use tally_schema::{BotReason, Os, Timestamp};

use crate::agent;
use crate::config::{EdgeConfig, is_site_host};
use crate::decide::{EdgeView, MAX_EXTENSION_CHARS, SkipReason};
use crate::device::device_class;
use crate::event::CfRequest;
use crate::headers::{HeaderSource, ViewerHeaders};
use crate::language::first_language;
use crate::minimise::Detail;
use crate::query::Utm;
use crate::referrer;
use crate::visitor::visitor_hash;

/// Headers whose value, starting with `prefetch` (any case), marks a prefetch.
const PREFETCH_HEADERS: [&str; 4] = ["sec-purpose", "purpose", "x-purpose", "x-moz"];

/// What the page-view rules read of one request. Borrowed: nothing here outlives the call, and
/// the client IP enters only the keyed visitor hash.
#[derive(Debug, Clone, Default)]
pub struct PageRequest<'a> {
    /// The HTTP method, upper-case.
    pub method: &'a str,
    /// The status the viewer was answered with, where the producer knows it (logs, `tally
    /// serve`); `None` where it cannot (the edge's origin-request runs before the origin answers).
    pub status: Option<u16>,
    /// The path as the viewer sent it (percent-encoded).
    pub uri: &'a str,
    /// The query string without the `?` (percent-encoded), empty when none.
    pub querystring: &'a str,
    /// The `User-Agent` value, decoded.
    pub user_agent: Option<&'a str>,
    /// The `Referer` value, decoded.
    pub referer: Option<&'a str>,
    /// The `Accept-Language` value.
    pub accept_language: Option<&'a str>,
    /// The viewer's IP address: used only for the visitor hash, never kept.
    pub client_ip: &'a str,
    /// The salt of this request's day, from a producer that keeps daily salts (`tally serve`,
    /// `tally import`): the visitor hash is then keyed by it rather than by the configuration's
    /// `visitor_hash_secret`, and is on whatever `visitor_hash` says.
    pub visitor_salt: Option<&'a [u8]>,
    /// Whether the browser said it is prefetching.
    pub prefetch: bool,
    /// Whether a trusted header flagged the request as a bot.
    pub bot_flagged: bool,
    /// Country, region, city, time zone and device flags, each already checked.
    pub viewer: ViewerHeaders,
}

impl<'a> PageRequest<'a> {
    /// What an origin-request record says of its request.
    pub fn from_cloudfront(request: &'a CfRequest, config: &EdgeConfig) -> Self {
        PageRequest::from_headers(
            &request.method,
            &request.uri,
            &request.querystring,
            &request.client_ip,
            request,
            config,
        )
    }

    /// A request whose headers are those CloudFront would give the edge function (its viewer
    /// headers included): the user agent, referrer, language, prefetch and bot flags and the
    /// viewer headers are read from `headers` exactly as from an origin-request record.
    pub fn from_headers<H: HeaderSource + ?Sized>(
        method: &'a str,
        uri: &'a str,
        querystring: &'a str,
        client_ip: &'a str,
        headers: &'a H,
        config: &EdgeConfig,
    ) -> Self {
        PageRequest {
            method,
            status: None,
            uri,
            querystring,
            user_agent: headers.first("user-agent"),
            referer: headers.first("referer"),
            accept_language: headers.first("accept-language"),
            client_ip,
            visitor_salt: None,
            prefetch: is_prefetch(headers),
            bot_flagged: agent::flagged(headers, &config.bot_flag_headers),
            viewer: ViewerHeaders::read(headers),
        }
    }
}

/// Decides whether `request` is a page view of `config.site` that happened at `at`, with the
/// given `event_id` (the request's id, keyed here when the configuration has an `event_id_key`,
/// [`EdgeConfig::event_id`]): the page view, or why it is not one. Pure and total.
///
/// The rules, in order: the response status, when known, is a success ([`is_counted_status`]),
/// the method is `GET`, the path is a page, it is not a prefetch, the configured site is a host
/// name (see the crate's README).
pub fn page_view(
    request: &PageRequest<'_>,
    config: &EdgeConfig,
    event_id: String,
    at: DateTime<Utc>,
) -> Result<EdgeView, SkipReason> {
    if let Some(code) = request.status
        && !is_counted_status(code)
    {
        return Err(SkipReason::Status { code });
    }
    if request.method != "GET" {
        return Err(SkipReason::NotGet);
    }
    let path = normalize(request.uri);
    if let Some(extension) = path_extension(&path, &config.page_extensions) {
        return Err(SkipReason::NotAPage { extension });
    }
    if request.prefetch {
        return Err(SkipReason::Prefetch);
    }
    if !is_site_host(&config.site) {
        return Err(SkipReason::InvalidSite);
    }
    Ok(view(request, config, path, config.event_id(event_id), at))
}

/// Whether a response with status `code` shows the viewer a page: 2xx, or 304 (the browser shows
/// its cached copy). Redirects, client and server errors and CloudFront's `000` (the viewer left
/// before the response) are not views.
pub fn is_counted_status(code: u16) -> bool {
    (200..300).contains(&code) || code == 304
}

/// [`path_extension`] of a raw URI (for the tests).
#[cfg(test)]
pub(crate) fn asset_extension(uri: &str, page_extensions: &[String]) -> Option<String> {
    path_extension(&normalize(uri), page_extensions)
}

/// The extension of a normalised path when it is not a page: `None` for a path ending in `/`, a
/// last segment without a dot (or whose only dot leads it, as in `.well-known`), or a listed
/// extension.
fn path_extension(path: &str, page_extensions: &[String]) -> Option<String> {
    let last = path.rsplit('/').next().unwrap_or_default();
    let (stem, ext) = last.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    let ext = ext.to_lowercase();
    if page_extensions.contains(&ext) {
        return None;
    }
    Some(ext.chars().take(MAX_EXTENSION_CHARS).collect())
}

fn is_prefetch<H: HeaderSource + ?Sized>(request: &H) -> bool {
    PREFETCH_HEADERS.iter().any(|name| {
        request.any_value(name, &mut |v| {
            let v = v.trim_start().as_bytes();
            v.len() >= 8 && v[..8].eq_ignore_ascii_case(b"prefetch")
        })
    })
}

fn view(
    request: &PageRequest<'_>,
    config: &EdgeConfig,
    path: String,
    event_id: String,
    at: DateTime<Utc>,
) -> EdgeView {
    let viewer = &request.viewer;
    let agent = agent::classify(request.user_agent);
    let bot_reason = agent
        .bot
        .or_else(|| request.bot_flagged.then_some(BotReason::HeaderFlag));
    let os = if viewer.flags.ios {
        Os::Ios
    } else if viewer.flags.android {
        Os::Android
    } else {
        agent.os
    };
    let referrer = request.referer.and_then(|r| referrer::parse(r, config));
    let utm = Utm::parse(request.querystring);
    let visitor_hash = request
        .visitor_salt
        .or_else(|| config.secret())
        .map(|secret| {
            visitor_hash(
                secret,
                &config.site,
                request.client_ip,
                request.user_agent.unwrap_or_default(),
                at,
            )
        });

    let minimise = &config.minimise;
    EdgeView {
        event_id,
        site: config.site.clone(),
        path,
        occurred_at: Timestamp(minimise.time_precision.cut(at)),
        country: viewer.country.clone(),
        region: minimise.keep(Detail::Region, viewer.region.clone()),
        city: minimise.keep(Detail::City, viewer.city.clone()),
        timezone: minimise.keep(Detail::Timezone, viewer.timezone.clone()),
        device: device_class(viewer.flags, agent.device),
        os,
        browser: agent.browser,
        is_bot: bot_reason.is_some(),
        bot_reason,
        referrer_same_site: referrer.as_ref().is_some_and(|r| r.same_site),
        referrer_host: referrer.as_ref().map(|r| r.host.clone()),
        referrer_path: referrer.map(|r| r.path),
        utm_source: utm.source,
        utm_medium: utm.medium,
        utm_campaign: utm.campaign,
        utm_term: utm.term,
        utm_content: utm.content,
        language: minimise.keep(
            Detail::Language,
            request.accept_language.and_then(first_language),
        ),
        visitor_hash,
    }
}
