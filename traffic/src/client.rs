//! The HTTP/1.1 client: hyper-util's pooled client (already in the dependency tree through the
//! AWS SDK), plain `http://` only, every request bounded by a timeout.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::TrafficError;

/// Where the traffic goes: `http://host:port`, lower-case, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    origin: String,
}

impl Target {
    /// Parses `--target`: an `http://` URL with a host, and no path beyond `/`.
    pub fn parse(url: &str) -> Result<Self, TrafficError> {
        let bad = |why: String| Err(TrafficError::Invalid(format!("--target {url:?}{why}")));
        let uri: Uri = match url.parse() {
            Ok(uri) => uri,
            Err(e) => return bad(format!(" is not a URL: {e}")),
        };
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return bad(format!(": only http:// is supported, not {other}://")),
            None => return bad(" has no scheme (use http://host:port)".into()),
        }
        let Some(authority) = uri.authority() else {
            return bad(" has no host".into());
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return bad(": give the site's root (http://host:port), without a path".into());
        }
        Ok(Target {
            origin: format!("http://{}", authority.as_str().to_ascii_lowercase()),
        })
    }

    /// `http://host:port`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The absolute URL of a site path (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.origin)
    }
}

/// A response, read to its end.
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The `Content-Type`, if any and readable.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// A pooled HTTP/1.1 client for one target.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Empty<Bytes>>,
    target: Target,
    timeout: Duration,
}

impl HttpClient {
    /// A client for `target`; each request (with its body) must finish within `timeout`.
    pub fn new(target: Target, timeout: Duration) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        HttpClient {
            client,
            target,
            timeout,
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `GET path_and_query` with `headers`; the error says what failed, in one line.
    pub async fn get(
        &self,
        path_and_query: &str,
        headers: &[(&'static str, String)],
    ) -> Result<Response, String> {
        let url = self.target.url(path_and_query);
        let mut request = Request::get(&url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| format!("cannot build a request for {url}: {e}"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                // The client's own message is only "client error (Connect)": say why.
                let mut message = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    message.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                message
            })?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            Ok(Response {
                status,
                content_type,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result.map_err(|e: String| format!("GET {url}: {e}")),
            Err(_) => Err(format!("GET {url}: no answer within {:?}", self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("http://LocalHost:8080/").expect("valid");
        assert_eq!(t.origin(), "http://localhost:8080");
        assert_eq!(t.url("/a?b=1"), "http://localhost:8080/a?b=1");
        assert_eq!(
            Target::parse("http://127.0.0.1:9").expect("valid").origin(),
            "http://127.0.0.1:9"
        );
        for (bad, says) in [
            ("https://x.org", "only http://"),
            ("127.0.0.1:8080", "no scheme"),
            ("http://x.org/blog/", "without a path"),
            ("http://x.org/?a=1", "without a path"),
            ("not a url", "not a URL"),
        ] {
            let e = Target::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
