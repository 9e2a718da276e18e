//! The monthly AWS cost of a deployment, component by component, from `prices.json`.
//!
//! Sizes: 1 KB = 1,024 bytes, 1 GB = 2^30 bytes, 1 TB = 2^40 bytes. A month is 30 days. The
//! free tiers are ignored. Every assumption is a field of [`Traffic`], with its default.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;

mod producers;

pub use producers::{
    Comparison, Design, ProducerTraffic, compare, producer_lines, render_comparison,
};

/// The committed price table.
pub const PRICES: &str = include_str!("../../prices.json");

const KB: f64 = 1024.0;
pub(crate) const GB: f64 = 1024.0 * 1024.0 * 1024.0;
const TB: f64 = GB * 1024.0;
const MB: f64 = 1024.0 * 1024.0;
pub(crate) const DAYS_PER_MONTH: f64 = 30.0;

/// One price.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// US dollars per `per` units.
    pub usd: f64,
    /// How many units `usd` pays for.
    pub per: f64,
    /// The unit.
    pub unit: String,
    /// The page the price was read from.
    pub source: String,
    /// When it was read, where not the table's date.
    #[serde(default)]
    pub date: Option<String>,
    /// How sure the figure is, where it could not be read off the source page itself.
    #[serde(default)]
    pub note: Option<String>,
}

impl Price {
    /// Dollars for `quantity` units.
    pub fn of(&self, quantity: f64) -> f64 {
        self.usd * quantity / self.per
    }
}

/// The price table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// When the prices were read.
    pub date: String,
    /// Their region.
    pub region: String,
    /// Their currency.
    pub currency: String,
    /// What they are.
    pub note: String,
    /// By key.
    pub prices: BTreeMap<String, Price>,
}

/// Why the price table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// Not the expected JSON.
    #[error("prices.json: {0}")]
    Parse(#[from] serde_json::Error),
    /// A price the model needs is missing.
    #[error("prices.json has no price {0:?}")]
    Missing(&'static str),
}

impl Prices {
    /// The committed table.
    pub fn committed() -> Result<Prices, CostError> {
        Prices::parse(PRICES)
    }

    /// Parses a table and checks it has every price the model uses.
    pub fn parse(text: &str) -> Result<Prices, CostError> {
        let prices: Prices = serde_json::from_str(text)?;
        for key in KEYS.iter().chain(&producers::KEYS) {
            prices.get(key)?;
        }
        Ok(prices)
    }

    pub(crate) fn get(&self, key: &'static str) -> Result<&Price, CostError> {
        self.prices.get(key).ok_or(CostError::Missing(key))
    }
}

const KEYS: [&str; 16] = [
    "lambda_edge_requests",
    "lambda_edge_duration",
    "sfn_express_requests",
    "sfn_express_duration",
    "sfn_standard_transitions",
    "eventbridge_events",
    "eventbridge_archive_processing",
    "eventbridge_archive_storage",
    "firehose_ingestion",
    "s3_storage",
    "s3_put_requests",
    "athena_scanned",
    "dynamodb_writes",
    "dynamodb_storage",
    "lambda_requests",
    "lambda_arm_duration",
];

/// The traffic and how the deployment handles it.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Page views per month.
    pub views_per_month: f64,
    /// Origin requests the edge function sees per page view (1 when it is attached to the
    /// HTML behaviour only).
    pub edge_invocations_per_view: f64,
    /// The edge function's billed duration, ms (1 ms increments), and memory, MB.
    pub edge_duration_ms: f64,
    /// The edge function's memory, MB.
    pub edge_memory_mb: f64,
    /// An Express execution's duration (billed in 100 ms increments), ms.
    pub express_duration_ms: f64,
    /// An Express execution's memory (billed in 64 MB increments), MB.
    pub express_memory_mb: f64,
    /// State transitions of one execution as a Standard workflow (the states on the success
    /// path of the definition, [`success_path_states`]).
    pub standard_transitions_per_execution: f64,
    /// One page-view event, bytes of JSON (what PutEvents and Firehose receive; the schema's
    /// `envelope.json` example is 860 bytes compact).
    pub event_bytes: f64,
    /// Gzipped size of an event in the archive, bytes.
    pub archived_event_bytes: f64,
    /// Days archived events are kept (the bucket's lifecycle and the bus archive).
    pub retention_days: f64,
    /// The Firehose buffer interval, seconds, and size, MiB: how many objects a month makes.
    pub buffer_seconds: f64,
    /// The Firehose buffer size, MiB.
    pub buffer_mib: f64,
    /// Athena queries a month (a dashboard's panels times its refreshes), each scanning the
    /// whole retained archive (the named queries have no partition filter).
    pub athena_queries_per_month: f64,
    /// DynamoDB items written per view, each in one transaction (2 write units per item up to
    /// 1 KB).
    pub counter_items_per_view: f64,
    /// The counters' Lambda billed duration, ms, and memory, MB.
    pub counters_duration_ms: f64,
    /// The counters' Lambda memory, MB.
    pub counters_memory_mb: f64,
    /// DynamoDB storage, GB (per-day counters only; dedupe items expire after 7 days).
    pub counters_storage_gb: f64,
}

impl Traffic {
    /// The defaults for `views` page views a month; see each field.
    pub fn new(views: f64) -> Traffic {
        Traffic {
            views_per_month: views,
            edge_invocations_per_view: 1.0,
            edge_duration_ms: 50.0,
            edge_memory_mb: 128.0,
            express_duration_ms: 100.0,
            express_memory_mb: 64.0,
            standard_transitions_per_execution: 5.0,
            event_bytes: 1000.0,
            archived_event_bytes: 200.0,
            retention_days: 400.0,
            buffer_seconds: 60.0,
            buffer_mib: 1.0,
            athena_queries_per_month: 8.0 * 30.0,
            counter_items_per_view: 12.0,
            counters_duration_ms: 30.0,
            counters_memory_mb: 128.0,
            counters_storage_gb: 1.0,
        }
    }
}

/// The states an execution of `definition` (Amazon States Language) enters on its success
/// path: from `StartAt`, following `Next` (a Choice's first choice) to the first `End` or
/// terminal state. Each is one Standard state transition.
pub fn success_path_states(definition: &Value) -> usize {
    let states = &definition["States"];
    let mut current = definition["StartAt"].as_str();
    let mut count = 0;
    while let Some(name) = current {
        let state = &states[name];
        if state.is_null() || count > 1000 {
            break;
        }
        count += 1;
        current = match state["Type"].as_str() {
            Some("Choice") => state["Choices"][0]["Next"].as_str(),
            Some("Succeed" | "Fail") => None,
            _ if state["End"] == true => None,
            _ => state["Next"].as_str(),
        };
    }
    count
}

/// One component's monthly cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What.
    pub component: &'static str,
    /// How much of it, in its unit.
    pub quantity: f64,
    /// The unit.
    pub unit: &'static str,
    /// US dollars a month.
    pub usd: f64,
}

/// The monthly cost of one traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Component by component, with Express enrichment.
    pub lines: Vec<Line>,
    /// The sum of `lines`.
    pub total: f64,
    /// The enrichment as a Standard workflow instead (replacing the two Express lines).
    pub standard: Line,
    /// The total with a Standard workflow.
    pub total_standard: f64,
}

pub(crate) fn round_up(value: f64, step: f64) -> f64 {
    (value / step).ceil() * step
}

/// Prices `traffic`.
pub fn estimate(prices: &Prices, traffic: &Traffic) -> Result<Estimate, CostError> {
    let t = traffic;
    let n = t.views_per_month;
    let p = |key| prices.get(key);
    let mut lines = Vec::new();
    let mut line = |component, quantity: f64, unit, price: &Price| {
        lines.push(Line {
            component,
            quantity,
            unit,
            usd: price.of(quantity),
        })
    };

    let edge_requests = n * t.edge_invocations_per_view;
    line(
        "Lambda@Edge requests",
        edge_requests,
        "requests",
        p("lambda_edge_requests")?,
    );
    let edge_gb_s = edge_requests * t.edge_duration_ms.ceil() / 1000.0 * t.edge_memory_mb / 1024.0;
    line(
        "Lambda@Edge duration",
        edge_gb_s,
        "GB-s",
        p("lambda_edge_duration")?,
    );

    line(
        "Step Functions Express requests",
        n,
        "requests",
        p("sfn_express_requests")?,
    );
    let express_gb_s = n * round_up(t.express_duration_ms, 100.0) / 1000.0
        * round_up(t.express_memory_mb, 64.0)
        / 1024.0;
    line(
        "Step Functions Express duration",
        express_gb_s,
        "GB-s",
        p("sfn_express_duration")?,
    );

    let chunks = (t.event_bytes / (64.0 * KB)).ceil().max(1.0);
    line(
        "EventBridge events",
        n * chunks,
        "events",
        p("eventbridge_events")?,
    );
    let archived_gb = n * t.event_bytes / GB;
    line(
        "EventBridge archive (processing)",
        archived_gb,
        "GB",
        p("eventbridge_archive_processing")?,
    );
    let months_kept = t.retention_days / DAYS_PER_MONTH;
    line(
        "EventBridge archive (storage, steady state)",
        archived_gb * months_kept,
        "GB-months",
        p("eventbridge_archive_storage")?,
    );

    let billed_record = round_up(t.event_bytes, 5.0 * KB);
    line(
        "Firehose ingestion (5 KB per record)",
        n * billed_record / GB,
        "GB",
        p("firehose_ingestion")?,
    );

    let archive_gb = n * t.archived_event_bytes / GB;
    line(
        "S3 storage (steady state)",
        archive_gb * months_kept,
        "GB-months",
        p("s3_storage")?,
    );
    let by_time = DAYS_PER_MONTH * 86_400.0 / t.buffer_seconds;
    let by_size = (n * t.event_bytes / (t.buffer_mib * MB)).ceil();
    line(
        "S3 PUT requests (Firehose objects)",
        by_time.max(by_size),
        "requests",
        p("s3_put_requests")?,
    );

    let per_query = (archive_gb * months_kept * GB).max(10.0 * MB);
    line(
        "Athena scans",
        t.athena_queries_per_month * per_query / TB,
        "TB",
        p("athena_scanned")?,
    );

    line(
        "DynamoDB writes",
        n * t.counter_items_per_view * 2.0,
        "write units",
        p("dynamodb_writes")?,
    );
    line(
        "DynamoDB storage",
        t.counters_storage_gb,
        "GB-months",
        p("dynamodb_storage")?,
    );
    line(
        "Counters Lambda requests",
        n,
        "requests",
        p("lambda_requests")?,
    );
    let counters_gb_s = n * t.counters_duration_ms.ceil() / 1000.0 * t.counters_memory_mb / 1024.0;
    line(
        "Counters Lambda duration",
        counters_gb_s,
        "GB-s",
        p("lambda_arm_duration")?,
    );

    let total: f64 = lines.iter().map(|l| l.usd).sum();
    let transitions = n * t.standard_transitions_per_execution;
    let price = p("sfn_standard_transitions")?;
    let standard = Line {
        component: "Step Functions Standard transitions",
        quantity: transitions,
        unit: "transitions",
        usd: price.of(transitions),
    };
    let express: f64 = lines
        .iter()
        .filter(|l| l.component.starts_with("Step Functions Express"))
        .map(|l| l.usd)
        .sum();
    let total_standard = total - express + standard.usd;
    Ok(Estimate {
        lines,
        total,
        standard,
        total_standard,
    })
}

pub(crate) fn quantity(q: f64) -> String {
    if q >= 1000.0 {
        let whole = format!("{:.0}", q);
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if q >= 1.0 {
        format!("{q:.2}")
    } else {
        format!("{q:.6}")
    }
}

/// The estimate as a table.
pub fn render(prices: &Prices, traffic: &Traffic, estimate: &Estimate) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Monthly cost of {} page views ({}, {} prices of {}, no free tier)\n",
        quantity(traffic.views_per_month),
        prices.region,
        prices.currency,
        prices.date
    );
    let _ = writeln!(
        out,
        "{:<44} {:>24}  {:>10}",
        "component", "quantity", "USD/month"
    );
    for l in &estimate.lines {
        let q = format!("{} {}", quantity(l.quantity), l.unit);
        let _ = writeln!(out, "{:<44} {:>24}  {:>10.2}", l.component, q, l.usd);
    }
    let _ = writeln!(
        out,
        "{:<44} {:>24}  {:>10.2}",
        "total (Express enrichment)", "", estimate.total
    );
    let s = &estimate.standard;
    let _ = writeln!(
        out,
        "\nSame traffic with a Standard workflow: {} {} = {:.2} instead of {:.2} for Express; total {:.2}",
        quantity(s.quantity),
        s.unit,
        s.usd,
        estimate.total - estimate.total_standard + s.usd,
        estimate.total_standard
    );
    out
}
