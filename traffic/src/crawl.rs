//! Finding the site's pages: a bounded breadth-first crawl of same-site `<a href>` links from `/`.
//!
//! A page is a path answered `200` with an HTML content type. Links to paths with an extension
//! other than `.html`/`.htm` are not followed (they are files, not pages). Assets are the same-site
//! stylesheets, icons, scripts and images a page references whose path has an extension (the edge
//! would count an extension-less path as a page). When `/` itself is not an HTML page, the site is
//! taken to be that one path.
//!
//! Crawl requests say `Sec-Purpose: prefetch` (and `Purpose: prefetch`), which the edge skips, so
//! the crawl is not counted as page views; they are not in the summary either.

use std::collections::{HashSet, VecDeque};

use hyper::StatusCode;

use super::client::HttpClient;
use super::html::{extract, resolve};
use super::plan::Page;
use crate::TrafficError;

/// The crawl's `User-Agent`.
pub const CRAWL_USER_AGENT: &str =
    concat!("tally-traffic/", env!("CARGO_PKG_VERSION"), " (site crawl)");

/// Crawls the site from `/`, fetching at most `max_pages` pages.
///
/// Fails only when `/` cannot be fetched at all (nothing answers there); other failures end that
/// branch of the crawl.
pub async fn crawl(client: &HttpClient, max_pages: usize) -> Result<Vec<Page>, TrafficError> {
    let origin = client.target().origin().to_owned();
    let headers = [
        ("user-agent", CRAWL_USER_AGENT.to_owned()),
        ("sec-purpose", "prefetch".to_owned()),
        ("purpose", "prefetch".to_owned()),
        ("accept", "text/html".to_owned()),
    ];
    let mut queue = VecDeque::from(["/".to_owned()]);
    let mut queued: HashSet<String> = queue.iter().cloned().collect();
    let mut pages = Vec::new();
    let mut fetched = 0;
    while let Some(path) = queue.pop_front() {
        if fetched == max_pages.max(1) {
            break;
        }
        fetched += 1;
        let response = match client.get(&path, &headers).await {
            Ok(r) => r,
            Err(e) if path == "/" => return Err(TrafficError::Crawl(e.to_string())),
            Err(e) => {
                tracing::warn!("crawl: {e}");
                continue;
            }
        };
        let is_html = response
            .content_type
            .as_deref()
            .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
        if response.status != StatusCode::OK || !is_html {
            continue;
        }
        let html = String::from_utf8_lossy(&response.body);
        let links = extract(&html);
        for href in &links.pages {
            if let Some(target) = resolve(&origin, &path, href)
                && is_page_path(&target)
                && queued.insert(target.clone())
            {
                queue.push_back(target);
            }
        }
        let mut assets: Vec<String> = Vec::new();
        for src in &links.assets {
            if let Some(asset) = resolve(&origin, &path, src)
                && !is_page_path(&asset)
                && !assets.contains(&asset)
            {
                assets.push(asset);
            }
        }
        pages.push(Page { path, assets });
    }
    if pages.is_empty() {
        pages.push(Page {
            path: "/".to_owned(),
            assets: Vec::new(),
        });
    }
    Ok(pages)
}

/// Whether a path names a page: it ends in `/`, or its last segment has no extension (or only a
/// leading dot), or the extension is `html`/`htm`.
fn is_page_path(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    match last.rsplit_once('.') {
        None => true,
        Some(("", _)) => true,
        Some((_, ext)) => ext.eq_ignore_ascii_case("html") || ext.eq_ignore_ascii_case("htm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_files() {
        for page in [
            "/",
            "/about/",
            "/about",
            "/a/b.html",
            "/x.HTM",
            "/.well-known",
        ] {
            assert!(is_page_path(page), "{page}");
        }
        for file in ["/style.css", "/img/logo.png", "/doc.pdf", "/feed.xml"] {
            assert!(!is_page_path(file), "{file}");
        }
    }
}
