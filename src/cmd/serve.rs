//! `tally serve`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cmd::minimise::MinimiseArgs;
use crate::local::prune::DEFAULT_RETENTION_DAYS;
use crate::serve::{self, ServeConfig};

/// `tally serve [SITE_DIR] [--data DIR] [--addr ADDR] [--no-pipeline] [--trust-proxy]`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The static site to serve (default: the bundled example site).
    site_dir: Option<PathBuf>,
    /// The data directory: archive, counters, dead letters, secrets.
    #[arg(long, default_value = "tally-data")]
    data: PathBuf,
    /// Where to listen. Beyond loopback, the stats API requires a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The site's host name in every page view.
    #[arg(long, default_value = "localhost")]
    site: String,
    /// Serve the files only: no page views, no pipeline.
    #[arg(long)]
    no_pipeline: bool,
    /// Behind a trusted proxy: the client comes from X-Forwarded-For (--trusted-hops from the
    /// right) and the country from --country-header. Without it both are ignored and the
    /// country is unknown.
    #[arg(long)]
    trust_proxy: bool,
    /// With --trust-proxy: how many trusted proxies append to X-Forwarded-For; the client is
    /// the entry this far from the right (entries further left are the client's own claims).
    #[arg(long, default_value_t = 1, requires = "trust_proxy", value_parser = clap::value_parser!(u64).range(1..=16))]
    trusted_hops: u64,
    /// The header holding the viewer's country (ISO 3166-1 alpha-2), with --trust-proxy.
    #[arg(
        long,
        default_value = "CloudFront-Viewer-Country",
        requires = "trust_proxy"
    )]
    country_header: String,
    /// The stats API's bearer token (env TALLY_API_TOKEN). Required beyond loopback or with
    /// --trust-proxy; generated into DATA/api-token when not given.
    #[arg(long)]
    api_token: Option<String>,
    /// Pipeline worker threads, each running the enrichment state machine.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
    /// The pipeline threads' nice value (Linux): 19, the lowest priority, lets serving win on a
    /// saturated machine, and the workers pause while normal-priority work leaves less than half
    /// a core free (the pipeline catches up later); 0 runs them at the server's priority, without
    /// pausing.
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(i32).range(0..=19))]
    pipeline_nice: i32,
    /// Seconds a client has to send a request's headers; slower clients are cut off.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Open connections, at most; beyond, new connections are closed at once.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Days kept: on start, older page views go from the archive, the counters' day counts,
    /// the dead letters and the failed events (as `tally prune`).
    #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    retention_days: u32,
    /// What every page view leaves out or coarsens.
    #[command(flatten)]
    minimise: MinimiseArgs,
}

/// Runs `tally serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = ServeConfig::new(args.site_dir, args.data, args.addr);
    config.site = args.site;
    config.no_pipeline = args.no_pipeline;
    config.trust_proxy = args.trust_proxy;
    config.country_header = args.country_header;
    config.api_token = args
        .api_token
        .or_else(|| std::env::var("TALLY_API_TOKEN").ok())
        .filter(|t| !t.is_empty());
    config.trusted_hops = usize::try_from(args.trusted_hops).unwrap_or(1);
    config.pipeline_nice = args.pipeline_nice;
    config.workers = usize::try_from(args.workers).unwrap_or(1);
    config.header_timeout = std::time::Duration::from_secs(args.header_timeout);
    config.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    config.minimise = args.minimise.minimise();
    config.retention_days = args.retention_days;
    serve::run(config)?;
    Ok(ExitCode::SUCCESS)
}
