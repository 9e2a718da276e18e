//! A batch of views applied in as few `TransactWriteItems` as fit, each event once.
//!
//! The batch's events are made distinct by `event_id` (a later copy gets its first copy's
//! outcome, as a duplicate), put in groups whose transaction fits 100 items ([`sums::groups`]),
//! and each group is one transaction: a conditional put of every event's dedupe record, a
//! conditional put of every new visitor marker, and one `ADD` per counter item with the group's
//! sum. When conditions fail, the cancellation reasons (in item order) say which: an event whose
//! dedupe record exists is a duplicate and leaves the group, a marker that exists means its
//! visitor was counted today and is left out; the transaction is sent again without them. A
//! conflict with a concurrent transaction is retried with backoff, [`ATTEMPTS`] times in all;
//! after that, or on any other error, the group's events fail with the error (nothing of the
//! group was written) and their messages go back to the queue.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::sums::{self, Key, Sums};
use super::{DynamoCounters, NEW_OR_EXPIRED, TTL_ATTRIBUTE, dynamo_err, n, s, sdk_err};
use crate::{Applied, CountedView, CountersError, Plan, retention};

/// How many times a transaction that conflicted with a concurrent one is tried.
pub const ATTEMPTS: u32 = 6;

/// What an item of a transaction is, to read its cancellation reason.
#[derive(Debug, Clone)]
enum Role {
    Dedupe(usize),
    Marker(Key),
    Counter,
}

/// One outcome per event of a batch, `None` until decided.
type Outcomes = Vec<Option<Result<Applied, CountersError>>>;

impl DynamoCounters {
    /// Applies a batch of page views, each `event_id` once, as if at `now`: one outcome per
    /// view, in order. See the module's documentation.
    pub async fn apply_batch(
        &self,
        views: &[CountedView],
        now: DateTime<Utc>,
    ) -> Vec<Result<Applied, CountersError>> {
        let plans: Vec<Plan> = views.iter().map(Plan::of).collect();
        let mut first: HashMap<&str, usize> = HashMap::new();
        let copy_of: Vec<Option<usize>> = plans
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = *first.entry(p.event_id.as_str()).or_insert(i);
                (at != i).then_some(at)
            })
            .collect();
        let distinct: Vec<usize> = (0..plans.len()).filter(|i| copy_of[*i].is_none()).collect();
        let mut outcomes: Outcomes = (0..plans.len()).map(|_| None).collect();
        for group in sums::groups(&plans, &distinct) {
            self.apply_group(&plans, group, now, &mut outcomes).await;
        }
        // Copies first: they read their first copy's outcome, which is then taken.
        let copies: Vec<Option<Result<Applied, CountersError>>> = copy_of
            .iter()
            .map(|at| {
                at.map(|at| match &outcomes[at] {
                    Some(Ok(_)) => Ok(Applied::Duplicate),
                    Some(Err(e)) => Err(CountersError::Dynamo(format!("first copy: {e}"))),
                    None => Err(CountersError::Dynamo("not applied".into())),
                })
            })
            .collect();
        copies
            .into_iter()
            .zip(outcomes)
            .map(|(copy, outcome)| {
                copy.or(outcome)
                    .unwrap_or_else(|| Err(CountersError::Dynamo("not applied".into())))
            })
            .collect()
    }

    async fn apply_group(
        &self,
        plans: &[Plan],
        mut live: Vec<usize>,
        now: DateTime<Utc>,
        outcomes: &mut Outcomes,
    ) {
        let mut present: BTreeSet<Key> = BTreeSet::new();
        let mut conflicts = 0;
        while !live.is_empty() {
            let sums = Sums::of(plans, &live, &present, self.retention_days);
            let reasons = match self.send(&sums, now).await {
                Ok(Ok(())) => {
                    for &i in &live {
                        let new_visitor = sums.new_visitor(i);
                        outcomes[i] = Some(Ok(Applied::Counted { new_visitor }));
                    }
                    return;
                }
                Ok(Err(reasons)) => reasons,
                Err(e) => return fail(&live, &e.to_string(), outcomes),
            };
            let mut progressed = false;
            for (role, code) in roles(&sums).into_iter().zip(&reasons) {
                match (role, code.as_str()) {
                    (Role::Dedupe(i), "ConditionalCheckFailed") => {
                        outcomes[i] = Some(Ok(Applied::Duplicate));
                        live.retain(|&l| l != i);
                        progressed = true;
                    }
                    (Role::Marker(key), "ConditionalCheckFailed") => {
                        present.insert(key);
                        progressed = true;
                    }
                    _ => {}
                }
            }
            if progressed {
                continue;
            }
            conflicts += 1;
            let conflict = reasons.iter().any(|c| c == "TransactionConflict");
            if conflict && conflicts < ATTEMPTS {
                tokio::time::sleep(backoff(conflicts)).await;
                continue;
            }
            let why = format!(
                "transaction cancelled after {conflicts} attempt(s): [{}]",
                reasons.join(", ")
            );
            return fail(&live, &why, outcomes);
        }
    }

    /// Sends the transaction of `sums`: `Ok(Err(reasons))` when it was cancelled, with one
    /// reason code per item, in item order.
    async fn send(
        &self,
        sums: &Sums,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Vec<String>>, CountersError> {
        let items = self.items(sums, now)?;
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(Ok(())),
            Err(e) => e,
        };
        match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => Ok(Err(c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect())),
            _ => Err(sdk_err(err)),
        }
    }

    /// The transaction's items, in the order of [`roles`].
    fn items(
        &self,
        sums: &Sums,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, CountersError> {
        let now_v = n(now.timestamp());
        let conditional_put = |pk: String, sk: String, expires: i64| {
            Put::builder()
                .table_name(&self.table)
                .item("pk", s(pk))
                .item("sk", s(sk))
                .item(TTL_ATTRIBUTE, n(expires))
                .condition_expression(NEW_OR_EXPIRED)
                .expression_attribute_values(":now", now_v.clone())
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(dynamo_err)
        };
        let mut items = Vec::with_capacity(sums.items());
        let dedupe_expiry = retention::dedupe_expiry(now).timestamp();
        for (_, event_id) in &sums.dedupe {
            items.push(conditional_put(
                format!("E#{event_id}"),
                "-".into(),
                dedupe_expiry,
            )?);
        }
        for ((pk, sk), (_, expiry)) in &sums.markers {
            items.push(conditional_put(pk.clone(), sk.clone(), *expiry)?);
        }
        for ((pk, sk), add) in &sums.counters {
            let mut update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(pk.clone()))
                .key("sk", s(sk.clone()))
                .expression_attribute_values(":k", n(add.n));
            let mut expression = "ADD n :k".to_owned();
            let mut sets = Vec::new();
            if let Some(whole) = &add.whole {
                sets.push("v = :v");
                update = update.expression_attribute_values(":v", s(whole.clone()));
            }
            if let Some(expires) = add.expires_at {
                sets.push("expires_at = :exp");
                update = update.expression_attribute_values(":exp", n(expires));
            }
            if !sets.is_empty() {
                expression = format!("{expression} SET {}", sets.join(", "));
            }
            let update = update
                .update_expression(expression)
                .build()
                .map_err(dynamo_err)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(items)
    }
}

/// What each item of the transaction of `sums` is, in item order.
fn roles(sums: &Sums) -> Vec<Role> {
    let dedupe = sums.dedupe.iter().map(|(i, _)| Role::Dedupe(*i));
    let markers = sums.markers.keys().map(|k| Role::Marker(k.clone()));
    let counters = sums.counters.keys().map(|_| Role::Counter);
    dedupe.chain(markers).chain(counters).collect()
}

fn fail(live: &[usize], why: &str, outcomes: &mut Outcomes) {
    for &i in live {
        outcomes[i] = Some(Err(CountersError::Dynamo(why.to_owned())));
    }
}

/// The wait before the `attempt`th retry of a conflict: 25 ms doubling, with jitter (the
/// clock's nanoseconds) so concurrent batches part.
fn backoff(attempt: u32) -> StdDuration {
    let base = 25u64 << attempt.min(6);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) % base)
        .unwrap_or(0);
    StdDuration::from_millis(base + jitter)
}
