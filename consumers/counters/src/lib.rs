//! The real-time counters: per-day and per-minute page-view counts, applied once per event.
//!
//! A rule sends every page view of model 1 (human and bot) to the counters. For each event,
//! [`Plan::of`] (pure) says which counters it increments: per `(site, UTC day, dimension, value)`
//! for the dimensions of [`Dimension`], the distinct visitors of the day through a per-visitor
//! marker, and per `(site, minute)` for the live view. A store applies the plan **once per
//! `event_id`**, atomically with a dedupe record:
//!
//! - locally, [`LocalCounters`] over redb, one write transaction per event (or per batch);
//! - in the cloud (feature `cloud`), [`dynamo::DynamoCounters`] over DynamoDB, one
//!   `TransactWriteItems` per batch of events that fits (their increments summed per item),
//!   called by the `counters-lambda` binary on each SQS batch, which answers with the messages
//!   that failed and prints one CloudWatch embedded-metric-format line per batch ([`metrics`]).
//!
//! Key layout, idempotency, TTLs and the query API are described in the crate's README.

mod error;
mod local;
mod plan;
mod view;

#[cfg(feature = "cloud")]
pub mod dynamo;
#[cfg(feature = "cloud")]
pub mod metrics;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tally_consumer::{Declaration, Retry, RuleDeclaration, TargetKind};

pub use error::CountersError;
pub use local::LocalCounters;
pub use plan::{Dimension, LIVE_MINUTES, Plan, TOTAL, day_key, minute_of};
pub use view::{CountedView, read_message};

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Applied {
    /// Its increments were applied.
    Counted {
        /// Whether it was the first view of its visitor that day (`visitors` incremented).
        new_visitor: bool,
    },
    /// Its `event_id` had been applied already (and its dedupe record has not expired): nothing
    /// changed.
    Duplicate,
}

/// One value of a dimension and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value (a path, a country code…).
    pub value: String,
    /// Its count.
    pub count: u64,
}

/// One day counter, as [`LocalCounters::counters`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCounter {
    /// The site.
    pub site: String,
    /// The dimension's name.
    pub dimension: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The value.
    pub value: String,
    /// Its count.
    pub count: u64,
}

/// Human views in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinuteCount {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    /// Human views in it.
    pub count: u64,
}

/// How long the records that make counting idempotent live.
pub mod retention {
    use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

    /// How long a dedupe record lives after its event was applied: longer than EventBridge
    /// retries a target (24 hours at most) and than the counters' queue redelivers a message
    /// (5 receives), with margin for a replay of the last few days.
    pub const DEDUPE_DAYS: i64 = 7;

    /// How long the minute counters live after their minute (the live view needs 30 minutes).
    pub const MINUTE_HOURS: i64 = 48;

    /// When a dedupe record written at `now` expires.
    pub fn dedupe_expiry(now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::days(DEDUPE_DAYS)
    }

    /// When the visitor marker of `day` expires: [`DEDUPE_DAYS`] after the day ends, so a late
    /// or redelivered event of the day still finds it.
    pub fn marker_expiry(day: NaiveDate) -> DateTime<Utc> {
        let end = day.and_time(NaiveTime::MIN).and_utc() + Duration::days(1);
        end + Duration::days(DEDUPE_DAYS)
    }

    /// When the counter of `day` expires under a retention of `days`: `days` after the day
    /// ends, as `tally prune` removes a day's counts locally.
    pub fn day_expiry(day: NaiveDate, days: u32) -> DateTime<Utc> {
        day.and_time(NaiveTime::MIN).and_utc() + Duration::days(1 + i64::from(days))
    }

    /// When the counter of `minute` expires.
    pub fn minute_expiry(minute: DateTime<Utc>) -> DateTime<Utc> {
        minute + Duration::hours(MINUTE_HOURS)
    }

    /// The oldest minute still kept at `now`.
    pub fn oldest_kept_minute(now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::hours(MINUTE_HOURS)
    }
}

/// The consumer's name.
pub const NAME: &str = "counters";

/// The counters' file in a local data directory: `DATA/counters.redb`.
pub const LOCAL_FILE: &str = "counters.redb";

/// The counters in the workspace's consumer list.
pub const CONSUMER: &dyn tally_consumer::Consumer = &tally_consumer::Listing {
    name: NAME,
    declaration,
    open_local,
};

/// Opens the counters in `DATA/counters.redb`.
fn open_local(data: &std::path::Path) -> Result<tally_consumer::Opened, tally_consumer::OpenError> {
    let path = data.join(LOCAL_FILE);
    let counters =
        LocalCounters::open(&path).map_err(|e| tally_consumer::OpenError::new(NAME, path, e))?;
    Ok(tally_consumer::Opened::new(counters))
}

/// The counters' declaration: one rule, every page view of model 1, human and bot (bots are
/// counted in their own dimension), to the `CountersQueue` SQS queue, whole event; the
/// `CountersFunction` Lambda reads it in batches (the pipeline template's event source mapping).
/// Events an EventBridge archive replays match too: they carry the original `event_id`, so those
/// already counted (within the dedupe TTL) change nothing.
pub fn declaration() -> Declaration {
    Declaration {
        name: NAME.into(),
        description: "real-time counters: per-day dimensions, distinct visitors and the last 30 minutes, once per event".into(),
        rules: vec![RuleDeclaration {
            name: "page-views".into(),
            // Live views and re-put replays (`tally replay --aws`): the counters rebuild from both.
            pattern: json!({
                "source": [tally_consumer::SOURCE, tally_consumer::REPLAY_SOURCE],
                "detail-type": ["PageView"],
                "detail": {"schema_version": [{"prefix": "1-"}]}
            }),
            target: TargetKind::Sqs {
                queue: "CountersQueue".into(),
            },
            input: None,
            input_path: None,
            input_transformer: None,
            retry: Retry::default(),
        }],
    }
}

/// The `n` largest of `sums`, largest first, ties by value.
pub(crate) fn top_n(sums: BTreeMap<String, u64>, n: usize) -> Vec<Count> {
    let mut out: Vec<Count> = sums
        .into_iter()
        .map(|(value, count)| Count { value, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out.truncate(n);
    out
}
