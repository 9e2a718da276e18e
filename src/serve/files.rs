//! The static site, served the way an S3 website origin behind CloudFront serves it.
//!
//! - `/dir/` serves `dir/index.html`; `/dir` (a directory) redirects to `/dir/`;
//! - a missing file gets `404.html` from the root with status 404 (or a short text);
//! - content types by extension, `ETag` and `Last-Modified`, and conditional GET
//!   (`If-None-Match` first, else `If-Modified-Since`) answered with 304;
//! - percent-decoded paths with a `..` segment, a NUL or a backslash are refused (400), dot files
//!   other than `.well-known` are not served, and a path whose real location (symlinks resolved)
//!   is outside the root is answered as missing.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

/// What a request path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A regular file inside the root.
    File(PathBuf),
    /// A directory asked for without its trailing slash: redirect here.
    Redirect(String),
    /// Nothing to serve.
    NotFound,
    /// A path that cannot name a file of the site, and why.
    BadRequest(&'static str),
}

/// The site's root, canonical.
#[derive(Debug, Clone)]
pub struct Site {
    root: PathBuf,
}

impl Site {
    /// The site rooted at `root`, which must be a directory.
    pub fn open(root: &Path) -> anyhow::Result<Site> {
        let root = root
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("cannot open the site {}: {e}", root.display()))?;
        if !root.is_dir() {
            anyhow::bail!("the site {} is not a directory", root.display());
        }
        Ok(Site { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves the request path `raw` (as sent, percent-encoded, without the query).
    pub fn resolve(&self, raw: &str) -> Resolved {
        let Some(bytes) = percent_decode(raw) else {
            return Resolved::BadRequest("invalid percent-encoding");
        };
        let Ok(path) = String::from_utf8(bytes) else {
            return Resolved::BadRequest("path is not utf-8");
        };
        if !path.starts_with('/') {
            return Resolved::BadRequest("path does not start with /");
        }
        if path.contains(['\0', '\\']) {
            return Resolved::BadRequest("path has a nul or a backslash");
        }
        let mut file = self.root.clone();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => return Resolved::BadRequest("path has a .. segment"),
                s if s.starts_with('.') && s != ".well-known" => return Resolved::NotFound,
                s => file.push(s),
            }
        }
        let wants_index = path.ends_with('/');
        if wants_index {
            file.push("index.html");
        }
        match self.inside(&file) {
            Some(real) if real.is_file() => Resolved::File(real),
            Some(real) if real.is_dir() && !wants_index => {
                // One leading slash: `//host` would be a protocol-relative redirect elsewhere.
                Resolved::Redirect(format!("/{}/", raw.trim_start_matches('/')))
            }
            _ => Resolved::NotFound,
        }
    }

    /// The site's 404 page, if it has one.
    pub fn not_found_page(&self) -> Option<PathBuf> {
        self.inside(&self.root.join("404.html"))
            .filter(|p| p.is_file())
    }

    /// `path` with symlinks resolved, when it exists and is inside the root.
    fn inside(&self, path: &Path) -> Option<PathBuf> {
        let real = path.canonicalize().ok()?;
        if real.starts_with(&self.root) {
            Some(real)
        } else {
            tracing::warn!(path = %path.display(), "refused a path that leaves the site root");
            None
        }
    }
}

/// Files up to this size are read on the request's own worker thread; larger ones through
/// tokio's blocking pool.
///
/// A small file's read from the page cache takes microseconds, less than handing it to the
/// blocking pool and back (two thread wake-ups); a large one would hold the worker, and every
/// connection it serves, for as long as the read takes. [`Site::resolve`] already looks paths up
/// on the worker for the same reason.
pub const INLINE_READ_MAX: u64 = 256 << 10;

/// The whole of the file at `path`, which [`std::fs::metadata`] said is `len` bytes long.
pub async fn read(path: &Path, len: u64) -> io::Result<Vec<u8>> {
    if len <= INLINE_READ_MAX {
        std::fs::read(path)
    } else {
        tokio::fs::read(path).await
    }
}

/// Decodes `%XX` escapes; `None` when an escape is malformed.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The `Content-Type` of a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

/// A file's validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The strong entity tag, quoted: size and modification time.
    pub etag: String,
    /// The modification time, whole seconds.
    pub modified: DateTime<Utc>,
}

impl Validators {
    /// The validators of a file of `len` bytes modified at `modified`.
    pub fn of(len: u64, modified: SystemTime) -> Validators {
        let modified: DateTime<Utc> = modified.into();
        let nanos = modified.timestamp_nanos_opt().unwrap_or_default();
        let secs = DateTime::from_timestamp(modified.timestamp(), 0).unwrap_or_default();
        Validators {
            etag: format!("\"{len:x}-{nanos:x}\""),
            modified: secs,
        }
    }

    /// `Last-Modified`, as HTTP writes dates.
    pub fn last_modified(&self) -> String {
        http_date(self.modified)
    }

    /// Whether a conditional GET with these request headers gets 304: `If-None-Match` when
    /// present (`*` or a matching tag, weak comparison), else `If-Modified-Since`.
    pub fn not_modified(
        &self,
        if_none_match: Option<&str>,
        if_modified_since: Option<&str>,
    ) -> bool {
        if let Some(inm) = if_none_match {
            return inm
                .split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == self.etag);
        }
        if let Some(ims) = if_modified_since.and_then(parse_http_date) {
            return self.modified <= ims;
        }
        false
    }
}

/// An HTTP date (IMF-fixdate).
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses an IMF-fixdate.
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_files_inline_and_large_ones_through_the_pool_the_same() {
        let dir = tempfile::tempdir().expect("dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for len in [
            0,
            1,
            INLINE_READ_MAX,
            INLINE_READ_MAX + 1,
            3 * INLINE_READ_MAX,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &bytes).expect("write");
            let read = rt.block_on(read(&path, len)).expect("read");
            assert!(read == bytes, "a file of {len} bytes read back differently");
        }
        let missing = rt.block_on(read(&dir.path().join("missing"), 1));
        assert_eq!(
            missing.expect_err("missing").kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn decodes_and_refuses_bad_escapes() {
        assert_eq!(percent_decode("/a%20b"), Some(b"/a b".to_vec()));
        assert_eq!(percent_decode("/%2e%2E/"), Some(b"/../".to_vec()));
        assert_eq!(percent_decode("/%zz"), None);
        assert_eq!(percent_decode("/%2"), None);
    }

    #[test]
    fn validators() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_500);
        let v = Validators::of(10, t);
        assert!(v.not_modified(Some(&v.etag), None));
        assert!(v.not_modified(Some(&format!("\"x\", W/{}", v.etag)), None));
        assert!(!v.not_modified(Some("\"other\""), Some(&v.last_modified())));
        assert!(v.not_modified(None, Some(&v.last_modified())));
        assert!(!v.not_modified(None, Some("Thu, 01 Jan 1970 00:00:00 GMT")));
        assert!(!v.not_modified(None, Some("garbage")));
        assert_eq!(v.last_modified(), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn resolves_inside_the_root_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("blog")).expect("mkdir");
        std::fs::write(root.join("index.html"), "home").expect("write");
        std::fs::write(root.join("blog/index.html"), "blog").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "no").expect("write");
        let site = Site::open(&root).expect("site");
        let real = |p: &str| site.root().join(p);
        assert_eq!(site.resolve("/"), Resolved::File(real("index.html")));
        assert_eq!(
            site.resolve("/blog/"),
            Resolved::File(real("blog/index.html"))
        );
        assert_eq!(site.resolve("/blog"), Resolved::Redirect("/blog/".into()));
        assert_eq!(site.resolve("/nope"), Resolved::NotFound);
        assert!(matches!(
            site.resolve("/../secret.txt"),
            Resolved::BadRequest(_)
        ));
        assert!(matches!(
            site.resolve("/%2e%2e/secret.txt"),
            Resolved::BadRequest(_)
        ));
        assert!(matches!(
            site.resolve("/..%5csecret.txt"),
            Resolved::BadRequest(_)
        ));
        assert!(matches!(site.resolve("/a%00b"), Resolved::BadRequest(_)));
        assert_eq!(site.resolve("/.git/config"), Resolved::NotFound);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt"))
                .expect("symlink");
            assert_eq!(site.resolve("/leak.txt"), Resolved::NotFound);
        }
    }
}
