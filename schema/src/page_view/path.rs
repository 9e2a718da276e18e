//! Page-path normalisation: one page, one path.
//!
//! [`normalize`] applies these rules, in order:
//!
//! 1. **No query string or fragment**: everything from the first `?` or `#` is dropped.
//! 2. **Percent-decoding**: `%XX` sequences are decoded once; a `%` not followed by two hex digits
//!    is kept as it is. The decoded bytes are read as UTF-8, invalid sequences becoming U+FFFD.
//!    An encoded `%2F` therefore becomes a path separator, as S3 keys see it.
//! 3. **No control characters**: C0 controls and DEL are removed.
//! 4. **Segments**: the path starts with `/`; empty segments (`//`) collapse; `.` segments are
//!    removed and `..` removes the segment before it, never climbing above the root.
//! 5. **Index documents**: a final `index.html` segment is dropped, leaving the trailing slash, so
//!    `/blog/index.html` and `/blog/` count as one page.
//! 6. **Trailing slash kept**: `/blog` and `/blog/` stay distinct, as they are distinct objects in
//!    S3 (a website endpoint redirects one to the other).
//! 7. **Case kept**: S3 keys are case-sensitive, so `/About` and `/about` are different pages.
//! 8. **Bounded**: the result is cut to [`MAX_PATH_CHARS`](super::MAX_PATH_CHARS) characters.

use super::MAX_PATH_CHARS;

/// Normalises a request URI (path, optionally with a query string) into a page path.
///
/// ```
/// use tally_schema::page_view::path::normalize;
/// assert_eq!(normalize("/blog//a/../Caf%C3%A9/index.html?utm_source=x"), "/blog/Café/");
/// ```
pub fn normalize(uri: &str) -> String {
    let raw = uri.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(raw);
    let cleaned: String = decoded.chars().filter(|c| !c.is_ascii_control()).collect();

    let mut segments: Vec<&str> = Vec::new();
    let mut last = "";
    for segment in cleaned.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
        last = segment;
    }
    // `/a/`, `/a/.` and `/a/b/..` all name a directory.
    let mut ends_in_dir = matches!(last, "" | "." | "..");
    if segments.last() == Some(&"index.html") {
        segments.pop();
        ends_in_dir = true;
    }

    let mut out = String::with_capacity(cleaned.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if ends_in_dir || out.is_empty() {
        out.push('/');
    }
    truncate_chars(out, MAX_PATH_CHARS)
}

/// Cuts `s` to at most `max` characters, on a character boundary.
pub fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
    }
    s
}

/// Decodes `%XX` sequences once; malformed ones are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("/index.html", "/"),
            ("/blog/", "/blog/"),
            ("/blog", "/blog"),
            ("/blog/index.html", "/blog/"),
            ("/blog/index.htm", "/blog/index.htm"),
            ("/About", "/About"),
            ("/a?b=c#d", "/a"),
            ("/a#frag?x", "/a"),
            ("//a///b", "/a/b"),
            ("/a/./b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/caf%C3%A9", "/café"),
            ("/caf%c3%a9", "/café"),
            ("/100%", "/100%"),
            ("/%zz", "/%zz"),
            ("/a%2Fb", "/a/b"),
            ("/a%2e%2e/b", "/a../b"),
            ("/%2e%2e/x", "/x"),
            ("/bad%FF", "/bad\u{FFFD}"),
            ("/tab%09here", "/tabhere"),
            ("no-slash", "/no-slash"),
            ("/日本語/", "/日本語/"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "normalize({input:?})");
        }
    }

    #[test]
    fn bounded_on_char_boundary() {
        let long = format!("/{}", "é".repeat(5000));
        let out = normalize(&long);
        assert_eq!(out.chars().count(), MAX_PATH_CHARS);
        assert!(out.starts_with("/é"));
    }

    #[test]
    fn idempotent() {
        for input in [
            "/a/b/",
            "/caf%C3%A9/index.html",
            "/x/../y",
            "//a/./b/..",
            "/About?x=1",
        ] {
            let once = normalize(input);
            assert_eq!(
                normalize(&once),
                once,
                "normalize is not idempotent on {input:?}"
            );
        }
    }
}
