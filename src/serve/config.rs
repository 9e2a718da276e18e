//! The server's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Configuration of `tally serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The site's root directory; `None` serves the bundled example site.
    pub site_dir: Option<PathBuf>,
    /// The data directory: archive, counters, dead letters, the visitor-hash secret.
    pub data: PathBuf,
    /// Where to listen; loopback by default.
    pub addr: SocketAddr,
    /// The site's host name, written into every page view (`EdgeConfig::site`).
    pub site: String,
    /// Serve the files only: no page views, no pipeline (the benchmark's "pipeline off").
    pub no_pipeline: bool,
    /// Behind a trusted proxy: the client is taken from `X-Forwarded-For` (see
    /// [`ServeConfig::trusted_hops`]) and the country from [`ServeConfig::country_header`].
    /// Off: both headers are ignored.
    pub trust_proxy: bool,
    /// Trusted proxies in front, each appending to `X-Forwarded-For`: the client is the entry
    /// this far from the right (as nginx's `real_ip_recursive` and ALB take it).
    pub trusted_hops: usize,
    /// The header carrying the viewer's country (ISO 3166-1 alpha-2) when `trust_proxy` is on.
    pub country_header: String,
    /// The API token; required (generated when not given) when the server is exposed beyond
    /// loopback (a non-loopback address, or `trust_proxy`).
    pub api_token: Option<String>,
    /// Pipeline worker threads (each runs the enrichment state machine).
    pub workers: usize,
    /// The nice value of every pipeline thread (Linux; 0 to 19). The default, 19, the lowest
    /// priority, lets serving win when the machine is saturated, and the feed workers pause while
    /// normal-priority work leaves less than half a core free: the views wait in the journal and
    /// the pipeline catches up when the load drops. 0: the server's own priority, no pausing.
    pub pipeline_nice: i32,
    /// Open connections, at most; beyond, new connections are closed at once.
    pub max_connections: usize,
    /// Request headers, at most (more: `431`).
    pub max_headers: usize,
    /// Bytes of the request line and headers, at most (more: `431`).
    pub max_header_bytes: usize,
    /// Bytes of the request target (path and query), at most (more: `414`).
    pub max_uri_bytes: usize,
    /// Time a client has to send a request's headers (slow clients are cut off).
    pub header_timeout: Duration,
    /// Time a connection may stay open, at most.
    pub connection_timeout: Duration,
    /// Time the shutdown waits for open connections before it drains the pipeline.
    pub drain_timeout: Duration,
    /// What every page view leaves out or coarsens (`--drop`, `--time-precision`).
    pub minimise: tally_edge::Minimise,
    /// Days kept: what is older is pruned on start (`--retention-days`, `tally prune`).
    pub retention_days: u32,
}

impl ServeConfig {
    /// The defaults, serving `site_dir` with data in `data` on `addr`.
    pub fn new(site_dir: Option<PathBuf>, data: PathBuf, addr: SocketAddr) -> Self {
        ServeConfig {
            site_dir,
            data,
            addr,
            site: "localhost".into(),
            no_pipeline: false,
            trust_proxy: false,
            trusted_hops: 1,
            country_header: "CloudFront-Viewer-Country".into(),
            api_token: None,
            workers: 2,
            pipeline_nice: 19,
            max_connections: 1024,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_uri_bytes: 4096,
            header_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(120),
            drain_timeout: Duration::from_secs(10),
            minimise: tally_edge::Minimise::default(),
            retention_days: crate::local::prune::DEFAULT_RETENTION_DAYS,
        }
    }

    /// Whether the server is reachable beyond this machine: then the API requires a token.
    pub fn exposed(&self) -> bool {
        self.trust_proxy || !self.addr.ip().is_loopback()
    }
}
