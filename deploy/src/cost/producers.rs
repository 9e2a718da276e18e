//! What each producer adds to the bill, beside the seed's design (the edge function on
//! origin-request with caching disabled for the whole site), and the pipeline after it, which
//! every producer shares (one Express execution and one event per view).
//!
//! CloudFront's own request and transfer fees are the same for every design and left out; so
//! are the few origin fetches of cached objects.

use std::fmt::Write as _;

use super::{CostError, DAYS_PER_MONTH, GB, Line, Price, Prices, Traffic, estimate, quantity};

/// Prices this module uses, beyond the pipeline's.
pub(crate) const KEYS: [&str; 6] = [
    "cloudfront_functions",
    "cloudfront_realtime_logs",
    "kinesis_shard_hours",
    "kinesis_put_payload_units",
    "s3_get_requests",
    "sqs_requests",
];

const SECONDS_PER_MONTH: f64 = DAYS_PER_MONTH * 86_400.0;
/// Standard-log objects are kept at most this long (1-day expiration, rounded to midnight).
const LOG_DAYS_KEPT: f64 = 2.0;

/// One way of counting, as priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// The seed: Lambda@Edge on origin-request, caching disabled for every path.
    Seed,
    /// The edge producer: Lambda@Edge on origin-response on the page behaviours, assets cached.
    Edge,
    /// The real-time log producer: Kinesis (provisioned shards) and its Lambda.
    RealtimeLogs,
    /// The standard-log producer: log objects in S3 and their Lambda.
    StandardLogs,
}

impl Design {
    /// Every design, the seed first.
    pub const ALL: [Design; 4] = [
        Design::Seed,
        Design::Edge,
        Design::RealtimeLogs,
        Design::StandardLogs,
    ];

    /// How the table names it.
    pub fn label(self) -> &'static str {
        match self {
            Design::Seed => "seed: edge, caching disabled",
            Design::Edge => "edge (origin-response)",
            Design::RealtimeLogs => "realtime-logs",
            Design::StandardLogs => "standard-logs",
        }
    }
}

/// How a site's traffic reaches the producers; every assumption with its default.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerTraffic {
    /// Requests one page view brings (the page and its assets): 10.
    pub requests_per_view: f64,
    /// Requests on the page behaviours per page view (the view and the page requests that are
    /// none: 404 probes, redirects, `HEAD`s, bots' misses): 1.5.
    pub page_requests_per_view: f64,
    /// Real-time: provisioned shards (1, the template's default).
    pub shards: f64,
    /// Real-time: records per Lambda batch at most (100) and the batching window, s (5).
    pub batch_records: f64,
    /// Real-time: the batching window, s.
    pub batch_window_s: f64,
    /// A log producer's billed ms per invocation before its lines and views (100).
    pub invocation_ms: f64,
    /// Billed ms per view: a `StartExecution` round trip (~50 ms), 32 at a time (2).
    pub view_ms: f64,
    /// Standard: billed ms per log line read and decided (0.005: ~400,000 lines/s measured).
    pub line_ms: f64,
    /// Standard: lines per log object (10,000) and objects a month at least (12 an hour).
    pub lines_per_object: f64,
    /// Standard: log objects a month at least.
    pub min_objects: f64,
    /// Standard: gzipped bytes per log line (60).
    pub log_line_bytes: f64,
    /// The real-time Lambda's memory, MB (128, the template's).
    pub realtime_memory_mb: f64,
    /// The standard-log Lambda's memory, MB (256, the template's).
    pub standard_memory_mb: f64,
    /// Records or lines sent to the failure queue per page request (1 in 10,000).
    pub failures_per_request: f64,
}

impl Default for ProducerTraffic {
    fn default() -> Self {
        ProducerTraffic {
            requests_per_view: 10.0,
            page_requests_per_view: 1.5,
            shards: 1.0,
            batch_records: 100.0,
            batch_window_s: 5.0,
            invocation_ms: 100.0,
            view_ms: 2.0,
            line_ms: 0.005,
            lines_per_object: 10_000.0,
            min_objects: 12.0 * 24.0 * DAYS_PER_MONTH,
            log_line_bytes: 60.0,
            realtime_memory_mb: 128.0,
            standard_memory_mb: 256.0,
            failures_per_request: 1e-4,
        }
    }
}

struct Lines<'a> {
    prices: &'a Prices,
    lines: Vec<Line>,
}

impl Lines<'_> {
    fn add(
        &mut self,
        component: &'static str,
        quantity: f64,
        unit: &'static str,
        key: &'static str,
    ) -> Result<(), CostError> {
        let price: &Price = self.prices.get(key)?;
        self.lines.push(Line {
            component,
            quantity,
            unit,
            usd: price.of(quantity),
        });
        Ok(())
    }
}

fn gb_s(ms: f64, memory_mb: f64) -> f64 {
    ms / 1000.0 * memory_mb / 1024.0
}

fn edge_lines(l: &mut Lines<'_>, t: &Traffic, invocations: f64) -> Result<(), CostError> {
    l.add(
        "Lambda@Edge requests",
        invocations,
        "requests",
        "lambda_edge_requests",
    )?;
    let ms = invocations * t.edge_duration_ms.ceil();
    l.add(
        "Lambda@Edge duration",
        gb_s(ms, t.edge_memory_mb),
        "GB-s",
        "lambda_edge_duration",
    )?;
    l.add(
        "S3 GET requests (origin fetches)",
        invocations,
        "requests",
        "s3_get_requests",
    )
}

fn realtime_lines(l: &mut Lines<'_>, views: f64, p: &ProducerTraffic) -> Result<(), CostError> {
    let records = views * p.page_requests_per_view;
    l.add(
        "CloudFront real-time log lines",
        records,
        "lines",
        "cloudfront_realtime_logs",
    )?;
    l.add(
        "Kinesis shard hours",
        p.shards * 24.0 * DAYS_PER_MONTH,
        "shard-hours",
        "kinesis_shard_hours",
    )?;
    l.add(
        "Kinesis PUT payload units (25 KB)",
        records,
        "units",
        "kinesis_put_payload_units",
    )?;
    // A batch when it is full, or when the window closes with records in it.
    let by_window = (SECONDS_PER_MONTH / p.batch_window_s * p.shards).min(records);
    let invocations = (records / p.batch_records).ceil().max(by_window);
    l.add(
        "Lambda requests (Kinesis batches)",
        invocations,
        "requests",
        "lambda_requests",
    )?;
    let ms = invocations * p.invocation_ms + views * p.view_ms;
    l.add(
        "Lambda duration (arm64)",
        gb_s(ms, p.realtime_memory_mb),
        "GB-s",
        "lambda_arm_duration",
    )?;
    l.add(
        "SQS (failures)",
        records * p.failures_per_request,
        "requests",
        "sqs_requests",
    )
}

fn standard_lines(l: &mut Lines<'_>, views: f64, p: &ProducerTraffic) -> Result<(), CostError> {
    let lines = views * p.requests_per_view;
    let objects = (lines / p.lines_per_object).ceil().max(p.min_objects);
    l.add(
        "S3 PUT requests (log objects)",
        objects,
        "requests",
        "s3_put_requests",
    )?;
    l.add(
        "S3 GET requests (log objects)",
        objects,
        "requests",
        "s3_get_requests",
    )?;
    let stored = lines * p.log_line_bytes / GB * LOG_DAYS_KEPT / DAYS_PER_MONTH;
    l.add(
        "S3 storage (logs, 2 days)",
        stored,
        "GB-months",
        "s3_storage",
    )?;
    l.add(
        "Lambda requests (log objects)",
        objects,
        "requests",
        "lambda_requests",
    )?;
    let ms = objects * p.invocation_ms + lines * p.line_ms + views * p.view_ms;
    l.add(
        "Lambda duration (arm64)",
        gb_s(ms, p.standard_memory_mb),
        "GB-s",
        "lambda_arm_duration",
    )?;
    l.add(
        "SQS (failures)",
        lines * p.failures_per_request,
        "requests",
        "sqs_requests",
    )
}

/// What `design` costs a month for `traffic` (the pipeline's assumptions, for the edge's
/// duration and memory) and `p`, component by component.
pub fn producer_lines(
    prices: &Prices,
    design: Design,
    traffic: &Traffic,
    p: &ProducerTraffic,
) -> Result<Vec<Line>, CostError> {
    let views = traffic.views_per_month;
    let mut l = Lines {
        prices,
        lines: Vec::new(),
    };
    match design {
        Design::Seed => edge_lines(&mut l, traffic, views * p.requests_per_view)?,
        Design::Edge => edge_lines(&mut l, traffic, views * p.page_requests_per_view)?,
        Design::RealtimeLogs => realtime_lines(&mut l, views, p)?,
        Design::StandardLogs => standard_lines(&mut l, views, p)?,
    }
    if design != Design::Seed {
        // On the default behaviour: the page requests without an extension, at most.
        l.add(
            "CloudFront Functions (index rewrite)",
            views * p.page_requests_per_view,
            "invocations",
            "cloudfront_functions",
        )?;
    }
    Ok(l.lines)
}

/// Every design's monthly cost at several traffics.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Page views a month, one column each.
    pub views: Vec<f64>,
    /// Per design, what the producer costs at each traffic.
    pub producers: Vec<(Design, Vec<f64>)>,
    /// The pipeline after the producer (enrichment, bus, archive, Athena, counters), at each.
    pub pipeline: Vec<f64>,
}

/// Compares the designs at each of `views`, with `traffic` giving the pipeline's model of each.
pub fn compare(
    prices: &Prices,
    views: &[f64],
    traffic: impl Fn(f64) -> Traffic,
    p: &ProducerTraffic,
) -> Result<Comparison, CostError> {
    let mut producers: Vec<(Design, Vec<f64>)> =
        Design::ALL.iter().map(|d| (*d, Vec::new())).collect();
    let mut pipeline = Vec::new();
    for &n in views {
        let t = traffic(n);
        let e = estimate(prices, &t)?;
        let edge: f64 = e
            .lines
            .iter()
            .filter(|l| l.component.starts_with("Lambda@Edge"))
            .map(|l| l.usd)
            .sum();
        pipeline.push(e.total - edge);
        for (design, costs) in &mut producers {
            let lines = producer_lines(prices, *design, &t, p)?;
            costs.push(lines.iter().map(|l| l.usd).sum());
        }
    }
    Ok(Comparison {
        views: views.to_vec(),
        producers,
        pipeline,
    })
}

fn row(out: &mut String, label: &str, values: impl Iterator<Item = f64>) {
    let _ = write!(out, "{label:<34}");
    for v in values {
        let _ = write!(out, " {v:>12.2}");
    }
    out.push('\n');
}

/// The comparison as a table: the producers alone, then each with the pipeline.
pub fn render_comparison(prices: &Prices, c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Monthly cost by producer ({}, {} prices of {}, no free tier; CloudFront's own fees left out)\n",
        prices.region, prices.currency, prices.date
    );
    let _ = write!(out, "{:<34}", "page views a month");
    for v in &c.views {
        let _ = write!(out, " {:>12}", quantity(*v));
    }
    out.push('\n');
    for (design, costs) in &c.producers {
        row(&mut out, design.label(), costs.iter().copied());
    }
    row(
        &mut out,
        "pipeline after the producer",
        c.pipeline.iter().copied(),
    );
    out.push_str("\ntotal (producer + pipeline)\n");
    for (design, costs) in &c.producers {
        let totals = costs.iter().zip(&c.pipeline).map(|(a, b)| a + b);
        row(&mut out, design.label(), totals);
    }
    out
}
