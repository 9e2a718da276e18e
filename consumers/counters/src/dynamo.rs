//! The cloud store: the same counting over DynamoDB, one `TransactWriteItems` per event, and the
//! Lambda handler that calls it.
//!
//! # Table
//!
//! One table, `pk` (S, partition key) and `sk` (S, sort key), on-demand, with TTL on the Number
//! attribute `expires_at` (Unix seconds):
//!
//! | item | `pk` | `sk` | attributes |
//! | --- | --- | --- | --- |
//! | day counter | `D#{site}#{YYYY-MM-DD}#{dimension}` | the value (see [`sort_key`]) | `n` (N); `v` (S), the whole value, when `sk` had to be shortened |
//! | minute counter | `M#{site}` | `YYYY-MM-DDTHH:MM` (UTC) | `n` (N), `expires_at` (minute + 48 h) |
//! | dedupe record | `E#{event_id}` | `-` | `expires_at` (applied + 7 days) |
//! | visitor marker | `V#{site}#{YYYY-MM-DD}` | the visitor hash | `expires_at` (end of day + 7 days) |

use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use crate::plan::{LIVE_MINUTES, TOTAL, day_key, minute_of};
use crate::{Applied, Count, CountedView, CountersError, Dimension, MinuteCount, Plan, retention};

/// The environment variable that names the table, read by [`DynamoCounters::from_env`].
pub const TABLE_ENV: &str = "TALLY_COUNTERS_TABLE";

/// The TTL attribute.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// DynamoDB's limit on a sort key, in bytes.
const MAX_SORT_KEY_BYTES: usize = 1024;

/// How many times a transaction that conflicted with a concurrent one is tried.
const ATTEMPTS: u32 = 6;

/// The condition on a dedupe record or visitor marker: absent, or present but expired (TTL
/// deletes expired items only eventually, so the condition must not trust their presence).
const NEW_OR_EXPIRED: &str = "attribute_not_exists(pk) OR expires_at <= :now";

/// The counters in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoCounters {
    client: Client,
    table: String,
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

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn dynamo_err(e: impl std::fmt::Display) -> CountersError {
    CountersError::Dynamo(e.to_string())
}

fn sdk_err<E, R>(e: SdkError<E, R>) -> CountersError
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
        }
    }

    /// The Lambda's store: the table named by `TALLY_COUNTERS_TABLE`, the SDK's default
    /// configuration.
    pub async fn from_env() -> Result<Self, CountersError> {
        let table = std::env::var(TABLE_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CountersError::Config(format!("{TABLE_ENV} is not set")))?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(DynamoCounters::new(Client::new(&config), table))
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

    /// Applies one page view, once per `event_id`, as if at `now`.
    ///
    /// One `TransactWriteItems`: a conditional put of the dedupe record, for a human view with a
    /// visitor hash a conditional put of the visitor marker with the `visitors` ADD, and an ADD per
    /// counter (at most 13 items, far below the limit of 100). When the dedupe condition fails the
    /// event was counted already: [`Applied::Duplicate`]. When only the marker's fails, the
    /// visitor was counted today: the transaction is sent again without the marker and without
    /// `visitors`. A conflict with a concurrent transaction on the same counters is retried with
    /// backoff, six times in all; after that the error goes back to the Lambda, nothing written
    /// (Lambda retries the asynchronous invocation twice, then sends the event to the function's
    /// on-failure queue).
    pub async fn apply(
        &self,
        view: &CountedView,
        now: DateTime<Utc>,
    ) -> Result<Applied, CountersError> {
        let plan = Plan::of(view);
        let mut with_visitor = plan.visitor.is_some();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let items = self.transaction(&plan, with_visitor, now)?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => {
                    return Ok(Applied::Counted {
                        new_visitor: with_visitor,
                    });
                }
                Err(e) => e,
            };
            let reasons: Vec<String> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_owned())
                    .collect(),
                _ => return Err(sdk_err(err)),
            };
            let failed = |i: usize| {
                reasons
                    .get(i)
                    .is_some_and(|c| c == "ConditionalCheckFailed")
            };
            if failed(0) {
                return Ok(Applied::Duplicate);
            }
            if with_visitor && failed(1) {
                with_visitor = false;
                continue;
            }
            let conflict = reasons.iter().any(|c| c == "TransactionConflict");
            if conflict && attempt < ATTEMPTS {
                let backoff = 25u64 << attempt.min(6);
                tokio::time::sleep(StdDuration::from_millis(backoff)).await;
                continue;
            }
            return Err(CountersError::Dynamo(format!(
                "transaction cancelled after {attempt} attempt(s): [{}]",
                reasons.join(", ")
            )));
        }
    }

    fn transaction(
        &self,
        plan: &Plan,
        with_visitor: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, CountersError> {
        let now_v = n(now.timestamp());
        let mut items = Vec::with_capacity(13);
        // 0: the dedupe record.
        items.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .item("pk", s(format!("E#{}", plan.event_id)))
                        .item("sk", s("-"))
                        .item(TTL_ATTRIBUTE, n(retention::dedupe_expiry(now).timestamp()))
                        .condition_expression(NEW_OR_EXPIRED)
                        .expression_attribute_values(":now", now_v.clone())
                        .build()
                        .map_err(dynamo_err)?,
                )
                .build(),
        );
        // 1: the visitor marker, and `visitors`.
        if let (true, Some(hash)) = (with_visitor, &plan.visitor) {
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .item("pk", s(format!("V#{}#{}", plan.site, day_key(plan.day))))
                            .item("sk", s(hash.clone()))
                            .item(
                                TTL_ATTRIBUTE,
                                n(retention::marker_expiry(plan.day).timestamp()),
                            )
                            .condition_expression(NEW_OR_EXPIRED)
                            .expression_attribute_values(":now", now_v.clone())
                            .build()
                            .map_err(dynamo_err)?,
                    )
                    .build(),
            );
            items.push(self.day_add(plan, Dimension::Visitors, TOTAL)?);
        }
        for (dimension, value) in &plan.increments {
            items.push(self.day_add(plan, *dimension, value)?);
        }
        if let Some(minute) = plan.minute {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .key("pk", s(minute_pk(&plan.site)))
                            .key("sk", s(minute_sk(minute)))
                            .update_expression("ADD n :one SET expires_at = :exp")
                            .expression_attribute_values(":one", n(1))
                            .expression_attribute_values(
                                ":exp",
                                n(retention::minute_expiry(minute).timestamp()),
                            )
                            .build()
                            .map_err(dynamo_err)?,
                    )
                    .build(),
            );
        }
        Ok(items)
    }

    fn day_add(
        &self,
        plan: &Plan,
        dimension: Dimension,
        value: &str,
    ) -> Result<TransactWriteItem, CountersError> {
        let sk = sort_key(value);
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(day_pk(&plan.site, plan.day, dimension)))
            .expression_attribute_values(":one", n(1));
        update = if sk == value {
            update.update_expression("ADD n :one")
        } else {
            update
                .update_expression("ADD n :one SET v = :v")
                .expression_attribute_values(":v", s(value))
        };
        let update = update.key("sk", s(sk)).build().map_err(dynamo_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Every item of one partition (all pages of a Query), optionally within a sort-key range.
    async fn query(
        &self,
        pk: String,
        between: Option<(String, String)>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, CountersError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            q = match &between {
                None => q.key_condition_expression("pk = :pk"),
                Some((a, b)) => q
                    .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
                    .expression_attribute_values(":a", s(a.clone()))
                    .expression_attribute_values(":b", s(b.clone())),
            };
            let page = q.send().await.map_err(sdk_err)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The `n` largest values of `dimension` for `site` over the UTC days `from..=to` (one Query
    /// per day): largest count first, ties by value. Same answer as [`crate::LocalCounters::top`].
    pub async fn top(
        &self,
        site: &str,
        from: NaiveDate,
        to: NaiveDate,
        dimension: Dimension,
        n: usize,
    ) -> Result<Vec<Count>, CountersError> {
        let mut sums: BTreeMap<String, u64> = BTreeMap::new();
        let mut day = from;
        while day <= to {
            for item in self.query(day_pk(site, day, dimension), None).await? {
                let value = item
                    .get("v")
                    .or_else(|| item.get("sk"))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                *sums.entry(value).or_default() += count_of(&item);
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        Ok(crate::top_n(sums, n))
    }

    /// Human views per minute for the [`LIVE_MINUTES`] minutes up to the minute of `now`,
    /// oldest first, zeros included. Same answer as [`crate::LocalCounters::last_minutes`].
    pub async fn last_minutes(
        &self,
        site: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<MinuteCount>, CountersError> {
        let last = minute_of(now);
        let first = last - Duration::minutes(i64::from(LIVE_MINUTES) - 1);
        let items = self
            .query(minute_pk(site), Some((minute_sk(first), minute_sk(last))))
            .await?;
        let mut out: Vec<MinuteCount> = (0..i64::from(LIVE_MINUTES))
            .map(|i| MinuteCount {
                minute: first + Duration::minutes(i),
                count: 0,
            })
            .collect();
        for item in items {
            let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            if let Some(slot) = out.iter_mut().find(|m| minute_sk(m.minute) == *sk) {
                slot.count = count_of(&item);
            }
        }
        Ok(out)
    }
}

fn count_of(item: &HashMap<String, AttributeValue>) -> u64 {
    item.get("n")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The Lambda's handler: one EventBridge event, applied once. The `counters-lambda` binary calls
/// it for each invocation; tests call it directly.
pub async fn handle(
    store: &DynamoCounters,
    event: EventBridgeEvent<Value>,
) -> Result<Applied, CountersError> {
    if event.source != tally_schema::SOURCE || event.detail_type != tally_schema::DETAIL_TYPE {
        return Err(CountersError::Invalid(format!(
            "not a page view: source {:?}, detail-type {:?}",
            event.source, event.detail_type
        )));
    }
    let view = CountedView::from_detail(&event.detail)?;
    store.apply(&view, Utc::now()).await
}
