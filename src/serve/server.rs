//! The HTTP server: routing, limits and the graceful drain.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tally_archive::ArchiveConsumer;
use tally_counters::LocalCounters;
use tally_edge::EdgeConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::config::ServeConfig;
use super::feed::Feed;
use super::files::{self, Resolved, Site, Validators, content_type};
use super::viewer::{ViewerRules, page_view};
use super::{api, dashboard, example_site};
use crate::local::secret;
use crate::local::{DailySalts, DataDir, LocalPipeline};

/// The response body: whole, in memory.
pub type Body = Full<Bytes>;

/// What the request handlers share.
#[derive(Debug)]
pub struct App {
    /// The configuration.
    pub config: ServeConfig,
    /// The static site.
    pub site: Site,
    /// How viewer headers are derived.
    pub rules: ViewerRules,
    /// The edge core's configuration (event ids keyed by the data directory's key).
    pub edge: EdgeConfig,
    /// The visitor hash's daily salts.
    pub salts: DailySalts,
    /// The pipeline, unless `--no-pipeline`.
    pub pipeline: Option<Pipeline>,
    /// The API token, when the API requires one.
    pub token: Option<String>,
    /// Requests answered.
    pub served: AtomicU64,
    /// When the server started.
    pub started_at: DateTime<Utc>,
    /// Random per process: with [`App::requests`], makes each request's id unique.
    pub nonce: String,
    /// Requests numbered so far (the request id's counter).
    pub requests: AtomicU64,
}

/// The parts of the running pipeline the handlers use.
#[derive(Debug)]
pub struct Pipeline {
    /// The queue to the enrichment workers.
    pub feed: Feed,
    /// The live counters.
    pub counters: Arc<LocalCounters>,
    /// The archive (history).
    pub archive: Arc<ArchiveConsumer>,
    /// The data directory.
    pub data: DataDir,
}

/// Runs the server until SIGINT or SIGTERM, then drains: stops accepting, lets open requests
/// finish (up to `drain_timeout`), runs every queued page view through the pipeline, drains the
/// bus and flushes every consumer.
pub fn run(config: ServeConfig) -> anyhow::Result<()> {
    let data = DataDir::new(&config.data);
    if let Some(site) = &config.site_dir {
        refuse_data_inside_site(data.root(), site)?;
    }
    std::fs::create_dir_all(data.root())
        .with_context(|| format!("cannot create {}", data.root().display()))?;
    let site_root = match &config.site_dir {
        Some(dir) => dir.clone(),
        None => example_site::materialise(&data.root().join("example-site"))?,
    };
    let site = Site::open(&site_root)?;
    let mut edge = EdgeConfig::new(config.site.clone());
    edge.site_aliases = local_names(&config);
    edge.minimise = config.minimise.clone();
    edge.event_id_key = Some(data.event_id_key()?);
    edge.validate().context("invalid --site")?;
    let salts = data.salts(Utc::now())?;
    forget_the_fixed_secret(&data)?;
    let token = match (&config.api_token, config.exposed()) {
        (Some(t), _) => Some(t.clone()),
        (None, true) => Some(secret::load_or_create(&data.root().join("api-token"))?),
        (None, false) => None,
    };

    let (local_pipeline, pipeline) = if config.no_pipeline {
        (None, None)
    } else {
        let _lock = data.lock()?;
        let pruned = crate::local::prune::prune(&data, config.retention_days, Utc::now())?;
        tracing::info!(?pruned, "pruned what is past the retention");
        let (data, workers) = (data.clone(), config.workers);
        let yield_to_server = config.pipeline_nice > 0;
        let (lp, pipeline) = super::priority::start_lowered(config.pipeline_nice, move || {
            open_pipeline(data, workers, yield_to_server)
        })??;
        prune_daily(&pipeline, config.retention_days)?;
        (Some(lp), Some(pipeline))
    };
    let app = Arc::new(App {
        rules: ViewerRules {
            trust_proxy: config.trust_proxy,
            trusted_hops: config.trusted_hops,
            country_header: config.country_header.to_ascii_lowercase(),
        },
        config,
        site,
        edge,
        salts,
        pipeline,
        token,
        served: AtomicU64::new(0),
        started_at: Utc::now(),
        nonce: secret::random_hex(8)?,
        requests: AtomicU64::new(0),
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tally-serve")
        .build()
        .context("cannot start the runtime")?;
    let served = rt.block_on(serve(Arc::clone(&app)));
    // Every connection has finished or outlived the drain timeout: nothing left to wait for.
    rt.shutdown_background();
    served?;

    if let Some(p) = &app.pipeline {
        p.feed.close();
        let counts = p.feed.stats();
        eprintln!(
            "tally serve: drained {} page view(s) ({} executed, {} dead-lettered, {} left by a previous server)",
            counts.executed + counts.dead_lettered,
            counts.executed,
            counts.dead_lettered,
            counts.recovered
        );
    }
    if let Some(lp) = local_pipeline {
        lp.shutdown().context("cannot drain the pipeline")?;
    }
    if let Some(p) = &app.pipeline {
        p.feed.sync()?;
        let left = p.feed.unacknowledged();
        if left > 0 {
            // Not lost: the next `tally serve` on this data directory runs them.
            eprintln!("tally serve: {left} page view(s) not acknowledged stay in the journal");
        }
    }
    eprintln!(
        "tally serve: stopped after {} request(s)",
        app.served.load(Ordering::Relaxed)
    );
    Ok(())
}

/// While the server runs, prunes the archive and the counters' day counts past the retention
/// once a day (the first minute of each UTC day), through the pipeline's own counters: `tally
/// prune` cannot run beside the server, which holds the data directory.
fn prune_daily(pipeline: &Pipeline, retention_days: u32) -> anyhow::Result<()> {
    let (data, counters) = (pipeline.data.clone(), Arc::clone(&pipeline.counters));
    let days = chrono::Duration::days(i64::from(retention_days));
    let mut last = Utc::now().date_naive();
    std::thread::Builder::new()
        .name("tally-retention".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
                let now = Utc::now();
                if now.date_naive() == last {
                    continue;
                }
                last = now.date_naive();
                match crate::local::prune::prune_history(&data, &counters, now - days, now) {
                    Ok((objects, rows)) => {
                        tracing::info!(objects, rows, "pruned what is past the retention")
                    }
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot prune"),
                }
            }
        })
        .context("cannot start the retention thread")?;
    Ok(())
}

/// The names the server is reached by on this machine besides `--site`: `localhost`, the
/// loopback address, and the listening address when it is one machine's. A link followed from
/// a page served under any of them is same-site, not a referrer.
fn local_names(config: &ServeConfig) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let ip = config.addr.ip();
    if ip.is_ipv4() && !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    names.retain(|n| *n != config.site);
    names.sort();
    names.dedup();
    names
}

/// Deletes `DATA/visitor-secret`, the fixed visitor-hash key of earlier versions: with it, every
/// visitor hash it made could be recomputed from an address and a user agent. The daily salts
/// replace it.
fn forget_the_fixed_secret(data: &DataDir) -> anyhow::Result<()> {
    let path = data.root().join("visitor-secret");
    match std::fs::remove_file(&path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "deleted the fixed visitor-hash secret: daily salts replace it");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
    }
}

/// The data directory holds the event-id key, the day's visitor salts, the API token, the
/// counters and the archive: inside the site it would be served. Compared as canonical paths, so `.`, `..` and
/// symlinks do not hide it; a data directory that does not exist yet is placed by its nearest
/// existing ancestor.
fn refuse_data_inside_site(data: &Path, site: &Path) -> anyhow::Result<()> {
    let site = site
        .canonicalize()
        .with_context(|| format!("cannot open the site {}", site.display()))?;
    let data_abs = canonical_to_be(data)?;
    if data_abs.starts_with(&site) {
        anyhow::bail!(
            "the data directory {} is inside the site {}: its secrets, counters and archive would be served; give --data a directory outside the site (for example --data {})",
            data.display(),
            site.display(),
            site.parent().unwrap_or(&site).join("tally-data").display()
        );
    }
    Ok(())
}

/// The canonical form of `path`, which may not exist yet: its nearest existing ancestor,
/// canonicalised, with the rest appended.
fn canonical_to_be(path: &Path) -> anyhow::Result<PathBuf> {
    let absolute =
        std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    let mut rest = Vec::new();
    let mut at = absolute.as_path();
    loop {
        if let Ok(real) = at.canonicalize() {
            return Ok(rest.iter().rev().fold(real, |p, c| p.join(c)));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                at = parent;
            }
            _ => return Ok(absolute),
        }
    }
}

/// Opens the consumers, the bus and the feed (on the lowered-priority thread: every thread they
/// start inherits its priority).
fn open_pipeline(
    data: DataDir,
    workers: usize,
    yield_to_server: bool,
) -> anyhow::Result<(LocalPipeline, Pipeline)> {
    let (lp, recovery) = LocalPipeline::open(&data)?;
    if recovery.records > 0 {
        tracing::info!(
            records = recovery.records,
            "archive: recovered buffered records"
        );
    }
    let feed = Feed::start(
        Arc::clone(lp.bus()),
        Arc::clone(lp.last_resort()),
        &data.journal().join("serve-feed"),
        workers,
        &data.dead_letters(),
        yield_to_server,
    )?;
    let pipeline = Pipeline {
        feed,
        counters: Arc::clone(&lp.consumers().counters),
        archive: Arc::clone(&lp.consumers().archive),
        data,
    };
    Ok((lp, pipeline))
}

async fn serve(app: Arc<App>) -> anyhow::Result<()> {
    let config = &app.config;
    let mut shutdown = Box::pin(shutdown_signal()?);
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let local = listener.local_addr()?;
    if let Some(token) = &app.token {
        eprintln!(
            "tally serve: the api requires a token (exposed beyond loopback); dashboard: http://{local}/_tally/#token={token}"
        );
    }
    println!("tally serve: http://{local}/ (dashboard http://{local}/_tally/)");
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_headers(config.max_headers)
        .max_header_size(config.max_header_bytes)
        .max_buf_size(config.max_header_bytes.max(8192) * 2);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    tracing::warn!("too many open connections: closing a new one");
                    continue;
                };
                let app = Arc::clone(&app);
                let service = hyper::service::service_fn(move |req| {
                    let app = Arc::clone(&app);
                    async move { Ok::<_, Infallible>(handle(&app, req, peer).await) }
                });
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                let lifetime = config.connection_timeout;
                tokio::spawn(async move {
                    if let Ok(Err(e)) = tokio::time::timeout(lifetime, conn).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within the drain timeout");
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; the handlers are installed before it returns.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            tokio::signal::ctrl_c().await.ok();
        })
    }
}

async fn handle(app: &App, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    app.served.fetch_add(1, Ordering::Relaxed);
    let target_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > app.config.max_uri_bytes {
        return text(StatusCode::URI_TOO_LONG, "request target too long\n");
    }
    let path = req.uri().path();
    if path == "/_tally" {
        return redirect("/_tally/");
    }
    if let Some(rest) = path.strip_prefix("/_tally/") {
        return if let Some(endpoint) = rest.strip_prefix("api/") {
            api::handle(app, &req, endpoint).await
        } else {
            dashboard::handle(req.method(), rest)
        };
    }
    let response = static_file(app, &req).await;
    if let Some(p) = &app.pipeline {
        feed_view(app, p, &req, response.status().as_u16(), peer).await;
    }
    response
}

/// Decides whether the request is a page view, as the edge would, and hands it on.
async fn feed_view(
    app: &App,
    pipeline: &Pipeline,
    req: &Request<Incoming>,
    status: u16,
    peer: SocketAddr,
) {
    let uri = req.uri();
    // Unique like CloudFront's request id, so identical requests in the same millisecond are
    // distinct page views.
    let n = app.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("serve-{}-{n}", app.nonce);
    let now = Utc::now();
    let salt = app
        .salts
        .salt(now, now)
        .inspect_err(|e| tracing::warn!(error = %format!("{e:#}"), "no visitor hash: cannot read the day's salt"))
        .ok();
    let record = match page_view(
        &app.rules,
        &app.edge,
        salt.as_deref().map(str::as_bytes),
        request_id,
        req.method().as_str(),
        status,
        uri.path(),
        uri.query().unwrap_or_default(),
        req.headers(),
        peer,
        now,
    ) {
        Ok(view) => pipeline.feed.record(&view),
        Err(reason) => {
            tracing::trace!(%reason, "not a page view");
            None
        }
    };
    if let Some(record) = record {
        pipeline.feed.append(record).await;
    }
}

async fn static_file(app: &App, req: &Request<Incoming>) -> Response<Body> {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
    };
    match app.site.resolve(req.uri().path()) {
        Resolved::BadRequest(why) => {
            text(StatusCode::BAD_REQUEST, &format!("bad request: {why}\n"))
        }
        Resolved::Redirect(to) => {
            let to = match req.uri().query() {
                Some(q) => format!("{to}?{q}"),
                None => to,
            };
            redirect(&to)
        }
        Resolved::NotFound => not_found(app, head).await,
        Resolved::File(path) => file_response(&path, StatusCode::OK, req, head).await,
    }
}

async fn not_found(app: &App, head: bool) -> Response<Body> {
    match app.site.not_found_page() {
        Some(page) => match read_whole(&page).await {
            Ok(bytes) => {
                let mut r = body_response(StatusCode::NOT_FOUND, Bytes::from(bytes), head);
                set(&mut r, header::CONTENT_TYPE, "text/html; charset=utf-8");
                r
            }
            Err(_) => text(StatusCode::NOT_FOUND, "not found\n"),
        },
        None => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The file at `path`, read as [`files::read`] reads.
async fn read_whole(path: &Path) -> std::io::Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    files::read(path, len).await
}

async fn file_response(
    path: &Path,
    status: StatusCode,
    req: &Request<Incoming>,
    head: bool,
) -> Response<Body> {
    // On the worker, like `Site::resolve`'s lookups: a `statx` costs less than a thread handoff.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let validators = Validators::of(
        meta.len(),
        meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH),
    );
    let h = req.headers();
    let get = |n: header::HeaderName| h.get(n).and_then(|v| v.to_str().ok());
    let mut response =
        if validators.not_modified(get(header::IF_NONE_MATCH), get(header::IF_MODIFIED_SINCE)) {
            body_response(StatusCode::NOT_MODIFIED, Bytes::new(), true)
        } else {
            match files::read(path, meta.len()).await {
                Ok(bytes) => {
                    let mut r = body_response(status, Bytes::from(bytes), head);
                    set(&mut r, header::CONTENT_TYPE, content_type(path));
                    r
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read a file");
                    return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n");
                }
            }
        };
    set(&mut response, header::ETAG, &validators.etag);
    set(
        &mut response,
        header::LAST_MODIFIED,
        &validators.last_modified(),
    );
    response
}

fn body_response(status: StatusCode, bytes: Bytes, head: bool) -> Response<Body> {
    let len = bytes.len();
    let mut r = Response::new(Full::new(if head { Bytes::new() } else { bytes }));
    *r.status_mut() = status;
    if head && status != StatusCode::NOT_MODIFIED {
        set(&mut r, header::CONTENT_LENGTH, &len.to_string());
    }
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    r
}

/// Sets a header; values that are not valid header text are left out.
pub fn set(r: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// A short plain-text response.
pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    r
}

fn redirect(to: &str) -> Response<Body> {
    let mut r = text(StatusCode::MOVED_PERMANENTLY, "moved\n");
    set(&mut r, header::LOCATION, to);
    r
}
