//! The dashboard at `/_tally/`: one page, its script and its style, embedded in the binary. No
//! external resources, no cookies, no client-side tracking; the page reads the stats API.

use hyper::header;
use hyper::{Method, Response, StatusCode};

use super::server::{Body, set, text};

const INDEX: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");

/// Answers `/_tally/{rest}` (not the API).
pub fn handle(method: &Method, rest: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let (body, content_type) = match rest {
        "" | "index.html" => (INDEX, "text/html; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut r = text(StatusCode::OK, body);
    set(&mut r, header::CONTENT_TYPE, content_type);
    set(&mut r, header::CACHE_CONTROL, "no-cache");
    set(
        &mut r,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
    );
    set(&mut r, header::REFERRER_POLICY, "no-referrer");
    r
}
