//! The referrer, from the `Referer` header: host and path only.
//!
//! - The header must be an absolute URL, `scheme://authority/path…`; anything else (a relative
//!   reference, `about:blank`, garbage) gives no referrer.
//! - Host: the authority without credentials (`user:pass@`) or port, lower-case, a trailing dot
//!   removed; ASCII letters, digits, `-`, `.`, `_`, or a bracketed IPv6 literal; at most 253
//!   characters. A host that breaks these rules gives no referrer at all.
//! - Path: without query string or fragment, normalised like a page path
//!   ([`tally_schema::page_view::path::normalize`]) and cut to 512 characters; `/` when empty.
//! - Same site: the host equals the configured site's host, or one of its aliases' (ports are
//!   ignored on both sides).

use tally_schema::page_view::MAX_REFERRER_PATH_CHARS;
use tally_schema::page_view::path::{normalize, truncate_chars};

use crate::config::EdgeConfig;

/// Longest referrer host kept, in characters (the schema's bound).
pub const MAX_HOST_CHARS: usize = 253;

/// A referrer reduced to what the page view keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// Lower-case host.
    pub host: String,
    /// Normalised path, starting with `/`.
    pub path: String,
    /// Whether the host is the site's (or an alias's).
    pub same_site: bool,
}

/// Parses a `Referer` header value.
pub fn parse(value: &str, config: &EdgeConfig) -> Option<Referrer> {
    let value = value.trim();
    let (scheme, rest) = value.split_once("://")?;
    if scheme.is_empty()
        || !scheme.as_bytes()[0].is_ascii_alphabetic()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = host_of(authority)?;

    let path_part = tail.split(['?', '#']).next().unwrap_or_default();
    let path = if path_part.is_empty() {
        "/".to_owned()
    } else {
        truncate_chars(normalize(path_part), MAX_REFERRER_PATH_CHARS)
    };

    let same_site = std::iter::once(&config.site)
        .chain(&config.site_aliases)
        .any(|s| strip_port(s) == host);
    Some(Referrer {
        host,
        path,
        same_site,
    })
}

/// The lower-case host of an authority, without credentials or port.
fn host_of(authority: &str) -> Option<String> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        // IPv6 literal: `[::1]:8080`.
        let end = host_port.find(']')?;
        let literal = &host_port[..=end];
        let inner = &literal[1..end];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        literal
    } else {
        strip_port(host_port)
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && host.len() <= MAX_HOST_CHARS
        && (host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    valid.then(|| host.to_ascii_lowercase())
}

fn strip_port(host_port: &str) -> &str {
    match host_port.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EdgeConfig {
        let mut c = EdgeConfig::new("www.example.com");
        c.site_aliases = vec!["example.com".into()];
        c
    }

    fn r(v: &str) -> Option<(String, String, bool)> {
        parse(v, &config()).map(|r| (r.host, r.path, r.same_site))
    }

    #[test]
    fn host_and_path_only() {
        let own = |h: &str, p: &str, s| Some((h.to_owned(), p.to_owned(), s));
        assert_eq!(
            r("https://News.YCombinator.com/item?id=1#x"),
            own("news.ycombinator.com", "/item", false)
        );
        assert_eq!(
            r("https://www.example.com/"),
            own("www.example.com", "/", true)
        );
        assert_eq!(
            r("https://example.com:443/a/index.html"),
            own("example.com", "/a/", true)
        );
        assert_eq!(
            r("http://user:pw@WWW.EXAMPLE.COM./x"),
            own("www.example.com", "/x", true)
        );
        assert_eq!(
            r("https://www.google.com"),
            own("www.google.com", "/", false)
        );
        assert_eq!(r("https://t.co?x"), own("t.co", "/", false));
        assert_eq!(
            r("android-app://com.google.android.gm/"),
            own("com.google.android.gm", "/", false)
        );
        assert_eq!(
            r("http://[2001:db8::1]:8080/p"),
            own("[2001:db8::1]", "/p", false)
        );
        assert_eq!(
            r("https://x.org/caf%C3%A9/%FF"),
            own("x.org", "/café/\u{FFFD}", false)
        );
        assert_eq!(
            r("https://sub.www.example.com/"),
            own("sub.www.example.com", "/", false)
        );
    }

    #[test]
    fn rejects_non_urls() {
        for bad in [
            "",
            "about:blank",
            "/relative",
            "://x.org/",
            "1http://x.org/",
            "https://",
            "https://bad host/",
            "https://exämple.com/",
            "https://[zz]/",
        ] {
            assert_eq!(r(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bounded() {
        let long = format!("https://x.org/{}", "a/".repeat(2000));
        let (_, path, _) = r(&long).expect("referrer");
        assert_eq!(path.chars().count(), MAX_REFERRER_PATH_CHARS);
        assert_eq!(r(&format!("https://{}.com/", "a".repeat(300))), None);
    }
}
