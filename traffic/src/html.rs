//! Just enough HTML reading to crawl a static site: the targets of `<a href>` (pages) and of
//! `<link rel=stylesheet|icon href>`, `<script src>` and `<img src>` (assets), and resolving them
//! against the page they are on.
//!
//! A tolerant tag scanner, not a parser: comments are skipped, `<script>` and `<style>` bodies are
//! not read as markup, attribute values may be double-, single- or unquoted, and `&amp;` is
//! decoded. Anything it does not understand is passed over.

/// The link targets of one page, as written (not resolved).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// `<a href>` values.
    pub pages: Vec<String>,
    /// Stylesheet, icon, script and image URLs.
    pub assets: Vec<String>,
}

/// The links of an HTML document.
pub fn extract(html: &str) -> Links {
    let mut links = Links::default();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        let (attrs, after) = attributes(&rest[name_len..]);
        rest = after;
        let attr = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        match name.as_str() {
            "a" => links.pages.extend(attr("href")),
            "link" => {
                let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
                if rel
                    .split_ascii_whitespace()
                    .any(|r| r == "stylesheet" || r == "icon")
                {
                    links.assets.extend(attr("href"));
                }
            }
            "img" => links.assets.extend(attr("src")),
            "script" | "style" => {
                if name == "script" {
                    links.assets.extend(attr("src"));
                }
                let close = format!("</{name}");
                rest = find_ascii_ci(rest, &close).map_or("", |i| &rest[i..]);
            }
            _ => {}
        }
    }
    links
}

/// Reads a tag's attributes up to its `>`: `(lower-case name, decoded value)` pairs and the text
/// after the tag.
fn attributes(mut s: &str) -> (Vec<(String, String)>, &str) {
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if s.is_empty() {
            return (attrs, s);
        }
        if let Some(after) = s.strip_prefix('>') {
            return (attrs, after);
        }
        let name_len = s
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(s.len())
            .max(1);
        let name = s[..name_len].to_ascii_lowercase();
        s = s[name_len..].trim_start();
        let Some(after_eq) = s.strip_prefix('=') else {
            attrs.push((name, String::new()));
            continue;
        };
        let after_eq = after_eq.trim_start();
        let (value, after) = match after_eq.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let body = &after_eq[1..];
                match body.find(q) {
                    Some(end) => (&body[..end], &body[end + 1..]),
                    None => (body, ""),
                }
            }
            _ => {
                let end = after_eq
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(after_eq.len());
                (&after_eq[..end], &after_eq[end..])
            }
        };
        attrs.push((name, value.replace("&amp;", "&")));
        s = after;
    }
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The site-relative path (no query, no fragment, dot segments removed) that `href`, found on the
/// page at `base_path`, points to, when it stays on `origin` (`http://host:port`, lower-case);
/// `None` for other origins, other schemes and same-page references.
pub fn resolve(origin: &str, base_path: &str, href: &str) -> Option<String> {
    let href = href.trim();
    let href = href.split('#').next().unwrap_or_default();
    let href = href.split('?').next().unwrap_or_default();
    if href.is_empty() {
        return None;
    }
    let path = if let Some(rest) = href.strip_prefix("//") {
        let scheme = origin.split("://").next().unwrap_or("http");
        same_origin(origin, &format!("{scheme}://{rest}"))?
    } else if href.starts_with('/') {
        href.to_owned()
    } else if let Some(colon) = href.find(':')
        && !href[..colon].contains('/')
    {
        same_origin(origin, href)?
    } else {
        let dir = &base_path[..=base_path.rfind('/').unwrap_or(0)];
        format!("{dir}{href}")
    };
    Some(remove_dot_segments(&path))
}

/// The path of an absolute URL on `origin`.
fn same_origin(origin: &str, url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let candidate = format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    );
    (candidate == origin).then(|| if path.is_empty() { "/" } else { path }.to_owned())
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let last = segments.len() - 1;
    let mut trailing_slash = false;
    for (i, seg) in segments.into_iter().enumerate() {
        match seg {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut p = format!("/{}", out.join("/"));
    if trailing_slash && !p.ends_with('/') {
        p.push('/');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pages_and_assets() {
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="/style.css"><link rel='preload' href='/skip.woff2'>
            <link rel="shortcut icon" href=favicon.ico>
            <script src="/app.js"></script>
            <script>var s = "<a href='/not-a-link'>";</script>
            <style>a::after { content: "<img src=/nope.png>" }</style>
            <!-- <a href="/commented-out"> -->
            </head><body>
            <A HREF="/about/">About</A> <a class=x href=blog/first.html?x=1&amp;y=2#top>First</a>
            <a>no href</a><img alt="" src="img/logo.png"/><a href="mailto:a@b.c">mail</a>
            </body></html>"#;
        let links = extract(html);
        assert_eq!(
            links.pages,
            ["/about/", "blog/first.html?x=1&y=2#top", "mailto:a@b.c"]
        );
        assert_eq!(
            links.assets,
            ["/style.css", "favicon.ico", "/app.js", "img/logo.png"]
        );
    }

    #[test]
    fn survives_broken_markup() {
        for html in [
            "<",
            "<a",
            "<a href=",
            "<a href=\"/x",
            "<!-- never closed",
            "<script>",
        ] {
            let _ = extract(html);
        }
        assert_eq!(extract("<a href=\"/x").pages, ["/x"]);
    }

    #[test]
    fn resolves_against_the_page() {
        let o = "http://127.0.0.1:8080";
        let r = |base, href| resolve(o, base, href);
        assert_eq!(
            r("/blog/post.html", "other.html").as_deref(),
            Some("/blog/other.html")
        );
        assert_eq!(r("/blog/", "../about/").as_deref(), Some("/about/"));
        assert_eq!(r("/blog/", "./").as_deref(), Some("/blog/"));
        assert_eq!(r("/a/b/", "..").as_deref(), Some("/a/"));
        assert_eq!(r("/", "../../x").as_deref(), Some("/x"));
        assert_eq!(r("/", "/x?q=1#f").as_deref(), Some("/x"));
        assert_eq!(r("/", "http://127.0.0.1:8080").as_deref(), Some("/"));
        assert_eq!(r("/", "HTTP://127.0.0.1:8080/Y").as_deref(), Some("/Y"));
        assert_eq!(r("/", "//127.0.0.1:8080/z").as_deref(), Some("/z"));
        assert_eq!(r("/", "https://example.com/"), None);
        assert_eq!(r("/", "//example.com/"), None);
        assert_eq!(r("/", "mailto:a@b.c"), None);
        assert_eq!(r("/", "javascript:void(0)"), None);
        assert_eq!(r("/", "#top"), None);
        assert_eq!(r("/", "?page=2"), None);
    }
}
