//! The edge producer's configuration: [`EdgeConfig`].
//!
//! Lambda@Edge functions take no environment variables, so the configuration is baked into the
//! deployment package at build time. The JSON Schema of this struct ([`EdgeConfig::json_schema`])
//! documents the file; its doc comments are the schema's descriptions.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::minimise::Minimise;

/// Shortest visitor-hash secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Extensions counted as pages when none are configured.
pub const DEFAULT_PAGE_EXTENSIONS: [&str; 2] = ["html", "htm"];

/// Default connect and total timeout for the sink's call, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 300;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not a configuration.
    #[error("invalid edge configuration: {0}")]
    Json(#[from] serde_json::Error),
    /// The site (or an alias) is not a lower-case host name.
    #[error("{field} is not a lower-case host name: {value:?}")]
    Host {
        /// `site` or `site_aliases`.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A page extension is empty, has a dot or is not lower-case ASCII alphanumeric.
    #[error("page extension must be lower-case ascii letters or digits without a dot: {0:?}")]
    Extension(String),
    /// The visitor hash is on but has no secret, or too short a one.
    #[error(
        "visitor_hash is on but visitor_hash_secret is missing or shorter than {MIN_SECRET_BYTES} bytes"
    )]
    Secret,
    /// The event-id key is shorter than the shortest secret accepted.
    #[error("event_id_key is shorter than {MIN_SECRET_BYTES} bytes")]
    EventIdKey,
    /// A timeout of zero.
    #[error("{0} must be greater than zero")]
    Timeout(&'static str),
}

/// A secret that does not show in `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Configuration of the edge producer, baked into the function at build time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "EdgeConfig")]
pub struct EdgeConfig {
    /// The site's host name, lower-case (e.g. `www.example.com`), written into every page view.
    /// Taken from here, never from the Host header, which at origin-request names the origin.
    pub site: String,

    /// Other host names of the same site (e.g. `example.com`): a referrer from any of them counts
    /// as internal navigation (`referrer_same_site`).
    #[serde(default)]
    pub site_aliases: Vec<String>,

    /// Extensions (lower-case, without the dot) of the paths counted as pages, besides paths with
    /// no extension and paths ending in `/`.
    #[serde(default = "default_page_extensions")]
    pub page_extensions: Vec<String>,

    /// Whether to add the daily visitor hash (a keyed hash of site, client IP, user agent and UTC
    /// day). Off by default; needs `visitor_hash_secret`.
    #[serde(default)]
    pub visitor_hash: bool,

    /// The visitor hash's secret key material, at least 32 bytes; rotate it to unlink past hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_hash_secret: Option<Secret>,

    /// The key of the event id, at least 32 bytes: each page view's `event_id` is then a keyed
    /// hash of CloudFront's request id, which CloudFront's logs print beside the client's
    /// address, so no stored event can be joined to its log line. Every producer of one
    /// deployment must have the same key for a request two of them see to count once (`tally
    /// deploy` makes one per deployment and gives it to all). Without it the event id is the
    /// request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id_key: Option<Secret>,

    /// Sink: the home region's salts table (the pipeline stack's output `SaltsTableName`; `tally
    /// deploy` sets it when `visitor_hash` is on): the visitor hash is then keyed by the day's
    /// random salt, read from it once a day per container and deleted after two days, and
    /// `visitor_hash_secret` is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salts_table: Option<String>,

    /// Lower-case names of headers set by a trusted proxy (e.g. an AWS WAF Bot Control
    /// custom-request-header rule) that mark the request as a bot when present with a value other
    /// than empty, `false`, `0` or `no`.
    #[serde(default)]
    pub bot_flag_headers: Vec<String>,

    /// Data minimisation: viewer details left out of every page view and the precision of its
    /// time; by default everything is kept, to the millisecond (PRIVACY.md says what that leaves
    /// identifying).
    #[serde(default)]
    pub minimise: Minimise,

    /// Sink: ARN of the Express state machine that enriches page views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine_arn: Option<String>,

    /// Sink: AWS region of the state machine (Lambda@Edge runs in many regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// Sink: connect timeout of the call to the state machine, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub connect_timeout_ms: u64,

    /// Sink: total timeout of the call to the state machine, in milliseconds; the viewer's request
    /// waits at most this long.
    #[serde(default = "default_timeout_ms")]
    pub total_timeout_ms: u64,

    /// Sink: endpoint URL overriding the SDK's (a local stand-in in tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

fn default_page_extensions() -> Vec<String> {
    DEFAULT_PAGE_EXTENSIONS.map(String::from).to_vec()
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl EdgeConfig {
    /// A configuration for `site` with every other field at its default.
    pub fn new(site: impl Into<String>) -> Self {
        EdgeConfig {
            site: site.into(),
            site_aliases: Vec::new(),
            page_extensions: default_page_extensions(),
            visitor_hash: false,
            visitor_hash_secret: None,
            event_id_key: None,
            salts_table: None,
            bot_flag_headers: Vec::new(),
            minimise: Minimise::default(),
            state_machine_arn: None,
            region: None,
            connect_timeout_ms: DEFAULT_TIMEOUT_MS,
            total_timeout_ms: DEFAULT_TIMEOUT_MS,
            endpoint_url: None,
        }
    }

    /// Parses a configuration from JSON and validates it.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: EdgeConfig = serde_json::from_str(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: host names, extensions, the secret, timeouts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_site_host(&self.site) {
            return Err(ConfigError::Host {
                field: "site",
                value: self.site.clone(),
            });
        }
        if let Some(alias) = self.site_aliases.iter().find(|a| !is_site_host(a)) {
            return Err(ConfigError::Host {
                field: "site_aliases",
                value: alias.clone(),
            });
        }
        if let Some(ext) = self.page_extensions.iter().find(|e| {
            e.is_empty()
                || e.len() > 16
                || !e
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }) {
            return Err(ConfigError::Extension(ext.clone()));
        }
        if self.visitor_hash && self.secret().is_none() && self.salts_table.is_none() {
            return Err(ConfigError::Secret);
        }
        if self
            .event_id_key
            .as_ref()
            .is_some_and(|k| k.0.len() < MIN_SECRET_BYTES)
        {
            return Err(ConfigError::EventIdKey);
        }
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError::Timeout("connect_timeout_ms"));
        }
        if self.total_timeout_ms == 0 {
            return Err(ConfigError::Timeout("total_timeout_ms"));
        }
        Ok(())
    }

    /// The visitor-hash secret, when the hash is on, keyed by no salts table, and the secret
    /// long enough.
    pub(crate) fn secret(&self) -> Option<&[u8]> {
        if !self.visitor_hash || self.salts_table.is_some() {
            return None;
        }
        self.visitor_hash_secret
            .as_ref()
            .map(|s| s.0.as_bytes())
            .filter(|s| s.len() >= MIN_SECRET_BYTES)
    }

    /// The page view's event id for the request `request_id`: keyed when an `event_id_key` is
    /// set ([`crate::event_id`]), the request id itself otherwise.
    pub fn event_id(&self, request_id: String) -> String {
        match &self.event_id_key {
            Some(key) => crate::keyed_event_id(key.0.as_bytes(), &request_id),
            None => request_id,
        }
    }

    /// The JSON Schema of the configuration file (Draft 2020-12).
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(EdgeConfig)
    }
}

/// Whether `s` matches the page-view schema's `site` pattern: lower-case DNS labels of at most 63
/// characters, not starting or ending with `-`, optionally `:port`; at most 253 characters.
pub fn is_site_host(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b.first() != Some(&b'-')
                && b.last() != Some(&b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = EdgeConfig::from_json(r#"{"site":"www.example.com"}"#).expect("valid");
        assert_eq!(c, EdgeConfig::new("www.example.com"));
        assert_eq!(c.page_extensions, ["html", "htm"]);
        assert_eq!((c.connect_timeout_ms, c.total_timeout_ms), (300, 300));
        assert!(!c.visitor_hash);
    }

    #[test]
    fn refuses_bad_config() {
        for json in [
            r#"{"site":"WWW.example.com"}"#,
            r#"{"site":"example.com/blog"}"#,
            r#"{"site":"example.com","site_aliases":["-bad.com"]}"#,
            r#"{"site":"example.com","page_extensions":[".html"]}"#,
            r#"{"site":"example.com","visitor_hash":true}"#,
            r#"{"site":"example.com","visitor_hash":true,"visitor_hash_secret":"short"}"#,
            r#"{"site":"example.com","event_id_key":"short"}"#,
            r#"{"site":"example.com","total_timeout_ms":0}"#,
            r#"{"site":"example.com","unknown":1}"#,
            r#"{}"#,
        ] {
            assert!(EdgeConfig::from_json(json).is_err(), "accepted {json}");
        }
    }

    #[test]
    fn secret_is_not_debug_printed() {
        let mut c = EdgeConfig::new("example.com");
        c.visitor_hash_secret = Some(Secret("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t".into()));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn schema_documents_every_field() {
        let schema = serde_json::to_value(EdgeConfig::json_schema()).expect("schema");
        let props = schema["properties"].as_object().expect("properties");
        assert_eq!(props.len(), 14);
        for (name, prop) in props {
            assert!(
                prop.get("description").is_some(),
                "{name} has no description"
            );
        }
    }

    #[test]
    fn site_hosts() {
        for ok in ["example.com", "a.b-c.d", "localhost:8080", "x1"] {
            assert!(is_site_host(ok), "{ok}");
        }
        for bad in [
            "",
            "Example.com",
            "a..b",
            "-a.com",
            "a-.com",
            "a.com:",
            "a.com:123456",
            "a b",
        ] {
            assert!(!is_site_host(bad), "{bad}");
        }
    }
}
