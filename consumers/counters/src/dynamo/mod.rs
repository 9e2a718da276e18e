//! The cloud store: the same counting over DynamoDB, one `TransactWriteItems` per batch of
//! events that fits (`batch.rs`, the sums in `sums.rs`), its queries (`query.rs`) and the
//! Lambda's handler of an SQS batch (`handler.rs`).
//!
//! # Table
//!
//! One table, `pk` (S, partition key) and `sk` (S, sort key), on-demand, with TTL on the Number
//! attribute `expires_at` (Unix seconds):
//!
//! | item | `pk` | `sk` | attributes |
//! | --- | --- | --- | --- |
//! | day counter | `D#{site}#{YYYY-MM-DD}#{dimension}` | the value (see [`sort_key`]) | `n` (N); `v` (S), the whole value, when `sk` had to be shortened; `expires_at` (end of day + the retention, when `TALLY_RETENTION_DAYS` is set) |
//! | minute counter | `M#{site}` | `YYYY-MM-DDTHH:MM` (UTC) | `n` (N), `expires_at` (minute + 48 h) |
//! | dedupe record | `E#{event_id}` | `-` | `expires_at` (applied + 7 days) |
//! | visitor marker | `V#{site}#{YYYY-MM-DD}` | the visitor hash | `expires_at` (end of day + 7 days) |

mod batch;
mod handler;
mod query;
mod sums;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use chrono::{DateTime, NaiveDate, Utc};

use crate::plan::day_key;
use crate::{Applied, CountedView, CountersError, Dimension};

pub use batch::ATTEMPTS;
pub use handler::{Handled, handle};

/// The environment variable that names the table, read by [`DynamoCounters::from_env`].
pub const TABLE_ENV: &str = "TALLY_COUNTERS_TABLE";

/// The environment variable that holds the retention in days (the pipeline's `RetentionDays`):
/// day counters expire that long after their day; unset or empty, they are kept.
pub const RETENTION_ENV: &str = "TALLY_RETENTION_DAYS";

/// The TTL attribute.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// DynamoDB's limit on a sort key, in bytes.
const MAX_SORT_KEY_BYTES: usize = 1024;

/// The condition on a dedupe record or visitor marker: absent, or present but expired (TTL
/// deletes expired items only eventually, so the condition must not trust their presence).
pub(crate) const NEW_OR_EXPIRED: &str = "attribute_not_exists(pk) OR expires_at <= :now";

/// The counters in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoCounters {
    client: Client,
    table: String,
    /// Days a day counter is kept after its day, when set.
    retention_days: Option<u32>,
}

/// The sort key of a day counter's value: the value itself when it fits DynamoDB's 1,024 bytes,
/// otherwise its first bytes (at a character boundary), `#`, and the BLAKE3 hash of the whole
/// value (32 hex digits), so distinct values stay distinct; the whole value is then kept in `v`.
pub fn sort_key(value: &str) -> String {
    if value.len() <= MAX_SORT_KEY_BYTES {
        return value.to_owned();
    }
    let mut cut = MAX_SORT_KEY_BYTES - 33;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = blake3::hash(value.as_bytes()).to_hex();
    format!("{}#{}", &value[..cut], &hash.as_str()[..32])
}

/// The partition key of a day counter.
pub fn day_pk(site: &str, day: NaiveDate, dimension: Dimension) -> String {
    format!("D#{site}#{}#{dimension}", day_key(day))
}

/// The partition key of a site's minute counters.
pub fn minute_pk(site: &str) -> String {
    format!("M#{site}")
}

/// The sort key of a minute counter.
pub fn minute_sk(minute: DateTime<Utc>) -> String {
    minute.format("%Y-%m-%dT%H:%M").to_string()
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn dynamo_err(e: impl std::fmt::Display) -> CountersError {
    CountersError::Dynamo(e.to_string())
}

pub(crate) fn sdk_err<E, R>(e: SdkError<E, R>) -> CountersError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    CountersError::Dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

impl DynamoCounters {
    /// Counters in `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoCounters {
            client,
            table: table.into(),
            retention_days: None,
        }
    }

    /// This store with day counters expiring `days` after their day ([`crate::retention::day_expiry`]).
    pub fn with_retention_days(mut self, days: Option<u32>) -> Self {
        self.retention_days = days;
        self
    }

    /// The Lambda's store: the table named by `TALLY_COUNTERS_TABLE`, the SDK's default
    /// configuration.
    pub async fn from_env() -> Result<Self, CountersError> {
        let table = std::env::var(TABLE_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CountersError::Config(format!("{TABLE_ENV} is not set")))?;
        let retention = match std::env::var(RETENTION_ENV).ok().filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => Some(d.parse::<u32>().ok().filter(|d| *d > 0).ok_or_else(|| {
                CountersError::Config(format!("{RETENTION_ENV}: {d:?} is not a number of days"))
            })?),
        };
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(DynamoCounters::new(Client::new(&config), table).with_retention_days(retention))
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with the documented key schema (on-demand) and turns TTL on; for tests
    /// and local set-ups (the deploy stack declares the same in its template).
    pub async fn create_table(&self) -> Result<(), CountersError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(dynamo_err)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(dynamo_err)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(sdk_err)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .map_err(dynamo_err)?,
            )
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Applies one page view, once per `event_id`, as if at `now`: a batch of one
    /// ([`DynamoCounters::apply_batch`]).
    pub async fn apply(
        &self,
        view: &CountedView,
        now: DateTime<Utc>,
    ) -> Result<Applied, CountersError> {
        self.apply_batch(std::slice::from_ref(view), now)
            .await
            .pop()
            .unwrap_or_else(|| Err(CountersError::Dynamo("not applied".into())))
    }
}
