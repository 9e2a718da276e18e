//! Tally's edge producer as a Lambda@Edge function: a Python extension module (`tally_edge`)
//! whose `handler(event, context)` CloudFront calls on each origin response (as `tally deploy`
//! associates it; an origin-request association works too, without the status).
//!
//! Lambda@Edge runs only AWS's managed Node.js and Python runtimes and takes no environment
//! variables, so the handler is Rust behind PyO3 and the configuration is baked in at build time
//! (`build.rs`, `TALLY_EDGE_CONFIG`). For each event the handler decides (`tally_edge::decide`)
//! whether the request is a page view, sends the view to the enrichment state machine
//! ([`sink`]), and returns the object CloudFront expects back, unchanged, whatever happens: the
//! response for a response event, the request otherwise. Every failure (including a panic) is
//! logged as JSON on stderr and counted in `stats()`, and every call prints one CloudWatch
//! embedded-metric-format line on stdout (`tally-metrics`, function `edge`: the view sent, the
//! skip or the failure by reason, the call's latency), which cannot fail the call.

pub mod salts;
pub mod sink;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tally_edge::{Decision, EdgeConfig};
use tally_metrics::Invocation;

use crate::sink::{Sent, Sink, SinkError};

/// The configuration file baked in at build time (validated by `build.rs`).
pub const CONFIG_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/edge-config.json"));

/// Counters of what the handler did, since the container started.
#[derive(Debug)]
struct Counters {
    invocations: AtomicU64,
    sent: AtomicU64,
    already_sent: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    timeouts: AtomicU64,
    invalid_events: AtomicU64,
    panics: AtomicU64,
}

static COUNTERS: Counters = Counters {
    invocations: AtomicU64::new(0),
    sent: AtomicU64::new(0),
    already_sent: AtomicU64::new(0),
    skipped: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    timeouts: AtomicU64::new(0),
    invalid_events: AtomicU64::new(0),
    panics: AtomicU64::new(0),
};

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The function's name in its metrics (the `Function` dimension).
pub const FUNCTION: &str = "edge";

/// The baked-in configuration, parsed once.
fn config() -> Result<&'static EdgeConfig, &'static str> {
    static CONFIG: OnceLock<Result<EdgeConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| EdgeConfig::from_json(CONFIG_JSON).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(String::as_str)
}

/// The sink, built once per container (the first page view builds it).
fn sink(config: &EdgeConfig) -> Result<&'static Sink, &'static str> {
    static SINK: OnceLock<Result<Sink, String>> = OnceLock::new();
    SINK.get_or_init(|| Sink::new(config).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(String::as_str)
}

/// JSON logs on stderr (CloudWatch Logs picks them up), installed once.
fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::INFO)
            .try_init();
    });
}

/// What happened to one event, for the counters, the log and `metrics`.
fn process(event_json: &str, metrics: &mut Invocation) {
    let config = match config() {
        Ok(c) => c,
        Err(e) => {
            count(&COUNTERS.failed);
            metrics.failed("config", 1);
            tracing::error!(error = e, "invalid baked-in configuration");
            return;
        }
    };
    let event = match tally_edge::parse_event(event_json) {
        Ok(e) => e,
        Err(e) => {
            count(&COUNTERS.invalid_events);
            metrics.failed("invalid_event", 1);
            tracing::error!(error = %e, "not a cloudfront request event");
            return;
        }
    };
    let Some(record) = event.record() else {
        count(&COUNTERS.invalid_events);
        metrics.failed("invalid_event", 1);
        tracing::error!("cloudfront event without a record");
        return;
    };
    let now = chrono::Utc::now();
    let salt = visitor_salt(config, now);
    let salt = salt.as_deref().map(str::as_bytes);
    let view = match tally_edge::decide_salted(record, config, salt, now) {
        Decision::PageView(view) => view,
        Decision::Skip(reason) => {
            count(&COUNTERS.skipped);
            metrics.skipped(&reason.key(), 1);
            tracing::debug!(%reason, "skipped");
            return;
        }
    };
    let event_id = view.event_id.clone();
    let result = serde_json::to_string(&view)
        .map_err(SinkError::from)
        .and_then(|input| {
            sink(config)
                .map_err(|e| SinkError::Call(e.to_owned()))?
                .send(&event_id, input)
        });
    match result {
        Ok(Sent::Started) => {
            count(&COUNTERS.sent);
            metrics.views(1);
        }
        Ok(Sent::AlreadySent) => {
            count(&COUNTERS.already_sent);
            metrics.skipped("already_sent", 1);
            tracing::debug!(event_id, "execution already exists: page view sent before");
        }
        Err(e @ SinkError::Timeout(_)) => {
            count(&COUNTERS.timeouts);
            metrics.failed("timeout", 1);
            tracing::error!(event_id, error = %e, "page view not sent");
        }
        Err(e) => {
            count(&COUNTERS.failed);
            metrics.failed("start_execution", 1);
            tracing::error!(event_id, error = %e, "page view not sent");
        }
    }
}

/// The day's salt when the configuration has a salts table (read once a day per container,
/// cached after), `None` without one or when it cannot be read (logged: the view goes on
/// without a visitor hash).
fn visitor_salt(
    config: &EdgeConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<std::sync::Arc<str>> {
    if !config.visitor_hash || config.salts_table.is_none() {
        return None;
    }
    let salt = sink(config)
        .map_err(|e| SinkError::Call(e.to_owned()))
        .and_then(|sink| sink.visitor_salt(now));
    salt.unwrap_or_else(|e| {
        tracing::error!(error = %e, "no visitor hash: cannot read the day's salt");
        None
    })
}

/// What the handler returns, the very object: `event["Records"][0]["cf"]["response"]` when the
/// event has one (origin-response and viewer-response triggers), else `…["cf"]["request"]`.
fn returned_of<'py>(event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let cf = event.get_item("Records")?.get_item(0)?.get_item("cf")?;
    match cf.get_item("response") {
        Ok(response) if !response.is_none() => Ok(response),
        _ => cf.get_item("request"),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

/// The Lambda@Edge handler (`tally_edge.handler`): counts the request if it is a page view and
/// returns `event["Records"][0]["cf"]["response"]` (a response event) or `…["request"]`, the same
/// object, unchanged; prints the call's metrics line. Never raises.
#[pyfunction]
#[pyo3(signature = (event, context = None))]
fn handler<'py>(
    py: Python<'py>,
    event: Bound<'py, PyAny>,
    context: Option<Bound<'py, PyAny>>,
) -> Bound<'py, PyAny> {
    let _ = context;
    let started = Instant::now();
    init_logging();
    count(&COUNTERS.invocations);
    let mut metrics = Invocation::new(FUNCTION);
    let returned = handle(py, event, &mut metrics);
    // A panic while writing the line is caught, and a failed write ignored: the call goes on.
    let _ = catch_unwind(AssertUnwindSafe(|| metrics.emit(started)));
    returned
}

/// The handler's work, its outcome added to `metrics`.
fn handle<'py>(
    py: Python<'py>,
    event: Bound<'py, PyAny>,
    metrics: &mut Invocation,
) -> Bound<'py, PyAny> {
    let request = match returned_of(&event) {
        Ok(r) => r,
        Err(e) => {
            count(&COUNTERS.invalid_events);
            metrics.failed("invalid_event", 1);
            tracing::error!(error = %e, "event has no Records[0].cf.request or response");
            return py.None().into_bound(py);
        }
    };
    let json = match py
        .import("json")
        .and_then(|json| json.getattr("dumps"))
        .and_then(|dumps| dumps.call1((&event,)))
        .and_then(|s| s.extract::<String>())
    {
        Ok(j) => j,
        Err(e) => {
            count(&COUNTERS.invalid_events);
            metrics.failed("invalid_event", 1);
            tracing::error!(error = %e, "event is not json");
            return request;
        }
    };
    // The Python objects are not touched again: release the interpreter while deciding and
    // sending.
    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let mut outcome = Invocation::new(FUNCTION);
            process(&json, &mut outcome);
            outcome
        }))
    });
    match outcome {
        Ok(outcome) => *metrics = outcome,
        Err(payload) => {
            count(&COUNTERS.panics);
            metrics.failed("panic", 1);
            tracing::error!(panic = panic_message(payload.as_ref()), "handler panicked");
        }
    }
    request
}

/// The counters since the container started: `invocations`, `sent`, `already_sent`, `skipped`,
/// `failed`, `timeouts` (failed by the time budget; not in `failed`), `invalid_events`, `panics`.
#[pyfunction]
fn stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    let c = &COUNTERS;
    for (name, counter) in [
        ("invocations", &c.invocations),
        ("sent", &c.sent),
        ("already_sent", &c.already_sent),
        ("skipped", &c.skipped),
        ("failed", &c.failed),
        ("timeouts", &c.timeouts),
        ("invalid_events", &c.invalid_events),
        ("panics", &c.panics),
    ] {
        dict.set_item(name, counter.load(Ordering::Relaxed))?;
    }
    Ok(dict)
}

/// The baked-in configuration file, as text.
#[pyfunction]
fn config_json() -> &'static str {
    CONFIG_JSON
}

/// The Step Functions execution name used for an event id.
#[pyfunction]
fn execution_name(event_id: &str) -> String {
    sink::execution_name(event_id)
}

/// Tally's edge producer for Lambda@Edge.
#[pymodule]
#[pyo3(name = "tally_edge")]
fn python_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(handler, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(config_json, m)?)?;
    m.add_function(wrap_pyfunction!(execution_name, m)?)?;
    Ok(())
}
