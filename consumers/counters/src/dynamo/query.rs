//! The query API over the table: the same answers as the local store's.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{DynamoCounters, day_pk, minute_pk, minute_sk, s, sdk_err};
use crate::plan::{LIVE_MINUTES, minute_of};
use crate::{Count, CountersError, Dimension, MinuteCount};

impl DynamoCounters {
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
