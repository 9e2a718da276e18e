//! The JSON stats API under `/_tally/api/` (documented in `src/serve/README.md`).
//!
//! Live figures come from the counters, history from the named queries over the archive.

use chrono::{Duration, NaiveDate, Utc};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tally_athena::{Query, QueryError, Range, named_queries, named_query, to_rows};
use tally_counters::{Dimension, LIVE_MINUTES};

use super::files::percent_decode;
use super::server::{App, Body, Pipeline, set};

/// Days a range covers when the request gives none: the last 7, today included.
pub const DEFAULT_DAYS: i64 = 7;
/// Longest range accepted, in days.
pub const MAX_DAYS: i64 = 366;
/// Values per dimension in `/counters`, unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 10;

/// Answers `GET /_tally/api/{endpoint}`.
pub async fn handle(app: &App, req: &Request<Incoming>, endpoint: &str) -> Response<Body> {
    if let Some(token) = &app.token
        && !authorized(req, token)
    {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "this api requires Authorization: Bearer TOKEN",
        );
        set(&mut r, header::WWW_AUTHENTICATE, "Bearer");
        return r;
    }
    if req.method() != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed");
    }
    let params = params(req.uri().query().unwrap_or_default());
    if endpoint == "status" {
        return ok(&status(app));
    }
    if endpoint == "queries" {
        let names: Vec<&str> = named_queries().iter().map(|q| q.name).collect();
        return ok(&json!({ "queries": names }));
    }
    let Some(pipeline) = &app.pipeline else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline is off (--no-pipeline)",
        );
    };
    let range = match DayRange::from_params(&params) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let result = match endpoint {
        "live" => live(app, pipeline),
        "counters" => {
            let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
                None => Ok(DEFAULT_LIMIT),
                Some(Ok(l)) if (1..=1000).contains(&l) => Ok(l),
                Some(_) => Err("limit must be a whole number from 1 to 1000".to_owned()),
            };
            match limit {
                Ok(limit) => counters(app, pipeline, &range, limit),
                Err(e) => return error(StatusCode::BAD_REQUEST, &e),
            }
        }
        _ => match endpoint.strip_prefix("query/") {
            Some(name) => match named_query(name) {
                Some(q) => history(pipeline, q.name, q.sql, &range).await,
                None => return error(StatusCode::NOT_FOUND, &format!("no named query {name:?}")),
            },
            None => return error(StatusCode::NOT_FOUND, &format!("no endpoint {endpoint:?}")),
        },
    };
    match result {
        Ok(v) => ok(&v),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

fn authorized(req: &Request<Incoming>, token: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Constant time in the token's content.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn status(app: &App) -> Value {
    json!({
        "site": app.edge.site,
        "started_at": app.started_at,
        "requests": app.served.load(std::sync::atomic::Ordering::Relaxed),
        "pipeline": app.pipeline.as_ref().map(|p| p.feed.stats()),
        "trust_proxy": app.config.trust_proxy,
        "country_header": app.config.trust_proxy.then_some(&app.config.country_header),
    })
}

fn live(app: &App, p: &Pipeline) -> Result<Value, String> {
    let now = Utc::now();
    let minutes = p
        .counters
        .last_minutes(&app.edge.site, now)
        .map_err(|e| format!("cannot read the counters: {e}"))?;
    let total: u64 = minutes.iter().map(|m| m.count).sum();
    Ok(json!({
        "site": app.edge.site,
        "now": now,
        "minutes_shown": LIVE_MINUTES,
        "total": total,
        "minutes": minutes,
    }))
}

/// The dimensions `/counters` lists.
const TOP: [Dimension; 9] = [
    Dimension::Page,
    Dimension::Referrer,
    Dimension::Campaign,
    Dimension::Country,
    Dimension::Device,
    Dimension::Browser,
    Dimension::Os,
    Dimension::Hour,
    Dimension::Bots,
];

fn counters(app: &App, p: &Pipeline, range: &DayRange, limit: usize) -> Result<Value, String> {
    let site = &app.edge.site;
    let err = |e: tally_counters::CountersError| format!("cannot read the counters: {e}");
    let views = p
        .counters
        .total(site, range.from, range.to, Dimension::Views)
        .map_err(err)?;
    let visitors = p
        .counters
        .total(site, range.from, range.to, Dimension::Visitors)
        .map_err(err)?;
    let mut top = serde_json::Map::new();
    for d in TOP {
        let n = if d == Dimension::Hour { 24 } else { limit };
        let values = p
            .counters
            .top(site, range.from, range.to, d, n)
            .map_err(err)?;
        top.insert(d.as_str().to_owned(), json!(values));
    }
    Ok(json!({
        "site": site,
        "from": range.from,
        "to": range.to,
        "views": views,
        "visitors": visitors,
        "top": top,
    }))
}

async fn history(p: &Pipeline, name: &str, sql: &str, range: &DayRange) -> Result<Value, String> {
    // History reads archive objects: write what is buffered first, so it includes every view
    // the pipeline has taken.
    p.archive
        .archive()
        .flush()
        .map_err(|e| format!("cannot flush the archive: {e}"))?;
    let q_range = Range::new(Some(range.from.to_string()), Some(range.to.to_string()))
        .map_err(|e| e.to_string())?;
    let rows = match Query::open(&p.data.archive(), &q_range).await {
        Ok(q) => {
            let batches = q.run(sql).await.map_err(|e| format!("query {name}: {e}"))?;
            to_rows(&batches).map_err(|e| format!("query {name}: {e}"))?
        }
        Err(QueryError::NoArchive(_)) => Vec::new(),
        Err(e) => return Err(format!("query {name}: {e}")),
    };
    Ok(json!({"name": name, "from": range.from, "to": range.to, "rows": rows}))
}

/// UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// The first day.
    pub from: NaiveDate,
    /// The last day.
    pub to: NaiveDate,
}

impl DayRange {
    /// From `from` and `to` (`YYYY-MM-DD`); missing ends default to the last [`DEFAULT_DAYS`].
    pub fn from_params(
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<DayRange, String> {
        let day = |k: &str| -> Result<Option<NaiveDate>, String> {
            params
                .get(k)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    NaiveDate::parse_from_str(v, "%Y-%m-%d")
                        .map_err(|_| format!("{k} is not a date YYYY-MM-DD: {v:?}"))
                })
                .transpose()
        };
        let to = day("to")?.unwrap_or_else(|| Utc::now().date_naive());
        let from = day("from")?.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
        if from > to {
            return Err(format!("from ({from}) is after to ({to})"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(format!("the range is longer than {MAX_DAYS} days"));
        }
        Ok(DayRange { from, to })
    }
}

/// The query string's parameters (the last of a repeated name wins).
pub fn params(query: &str) -> std::collections::BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode(&s.replace('+', " ")).and_then(|b| String::from_utf8(b).ok())
            };
            Some((dec(k)?, dec(v)?))
        })
        .collect()
}

fn ok(v: &Value) -> Response<Body> {
    json_response(StatusCode::OK, v)
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "application/json");
    set(&mut r, header::CACHE_CONTROL, "no-store");
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    r
}
