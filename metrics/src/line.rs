//! One invocation's counts and latency, and its EMF line.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every Tally metric.
pub const NAMESPACE: &str = "Tally";
/// The one dimension: which function the line is from (`realtime-logs`, `edge`…).
pub const FUNCTION_DIMENSION: &str = "Function";
/// Views handed on (unit `Count`).
pub const VIEWS: &str = "Views";
/// Records that are not views, all reasons (unit `Count`); `Skipped.{reason}` per reason.
pub const SKIPPED: &str = "Skipped";
/// Records or calls that failed, all reasons (unit `Count`); `Failed.{reason}` per reason.
pub const FAILED: &str = "Failed";
/// How long the invocation took (unit `Milliseconds`).
pub const LATENCY: &str = "Latency";
/// The most reasons a line names per group; any further reason counts as `other`, so a line
/// stays below EMF's 100 metrics per directive.
pub const MAX_REASONS: usize = 40;

/// What one invocation did, by reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    function: &'static str,
    views: u64,
    skipped: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
}

impl Invocation {
    /// An invocation of `function` that has done nothing yet.
    pub fn new(function: &'static str) -> Self {
        Invocation {
            function,
            views: 0,
            skipped: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }

    /// An invocation of `function` from a handler's tallies: views handed on, and records
    /// skipped and failed by reason.
    pub fn from_counts<'a>(
        function: &'static str,
        views: usize,
        skipped: impl IntoIterator<Item = (&'a String, &'a usize)>,
        failed: impl IntoIterator<Item = (&'a String, &'a usize)>,
    ) -> Self {
        let mut metrics = Invocation::new(function);
        metrics.views(views as u64);
        for (reason, n) in skipped {
            metrics.skipped(reason, *n as u64);
        }
        for (reason, n) in failed {
            metrics.failed(reason, *n as u64);
        }
        metrics
    }

    /// `n` more views handed on.
    pub fn views(&mut self, n: u64) -> &mut Self {
        self.views += n;
        self
    }

    /// `n` more records skipped for `reason` (a key such as `not_a_page`).
    pub fn skipped(&mut self, reason: &str, n: u64) -> &mut Self {
        add(&mut self.skipped, reason, n);
        self
    }

    /// `n` more failures for `reason` (a key such as `start_execution`).
    pub fn failed(&mut self, reason: &str, n: u64) -> &mut Self {
        add(&mut self.failed, reason, n);
        self
    }

    /// The EMF document, one line without its newline, stamped `timestamp_ms` (milliseconds
    /// since the Unix epoch).
    pub fn line(&self, timestamp_ms: u64, latency_ms: f64) -> String {
        let mut root = Map::new();
        root.insert(FUNCTION_DIMENSION.into(), self.function.into());
        let mut metrics = Vec::new();
        let mut metric = |name: String, unit: &str, value: Value| {
            metrics.push(json!({ "Name": name, "Unit": unit }));
            root.insert(name, value);
        };
        metric(VIEWS.into(), "Count", self.views.into());
        for (group, reasons) in [(SKIPPED, &self.skipped), (FAILED, &self.failed)] {
            metric(group.into(), "Count", reasons.values().sum::<u64>().into());
            for (reason, n) in reasons {
                metric(format!("{group}.{reason}"), "Count", (*n).into());
            }
        }
        metric(LATENCY.into(), "Milliseconds", latency_ms.max(0.0).into());
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[FUNCTION_DIMENSION]],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(root).to_string()
    }

    /// Writes the line, stamped now with the time since `started`, to stdout (where the Lambda
    /// log agent reads it). A write that fails is ignored: metrics never fail an invocation.
    pub fn emit(&self, started: Instant) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut line = self.line(now, latency_ms);
        line.push('\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// Adds `n` to `reason`'s count, the reason made a metric-name key (`[a-z0-9_]`, at most 64
/// characters, `other` when empty or when the group is full).
fn add(reasons: &mut BTreeMap<String, u64>, reason: &str, n: u64) {
    let mut key: String = reason
        .chars()
        .take(64)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    // A new key must leave room for `other`.
    let room = MAX_REASONS - usize::from(!reasons.contains_key("other"));
    if key.is_empty() || (!reasons.contains_key(&key) && reasons.len() >= room) {
        key = "other".into();
    }
    *reasons.entry(key).or_default() += n;
}
