//! What a group of distinct events adds, summed per item: pure, no DynamoDB.
//!
//! A transaction may not touch one item twice, so the group's counter increments are summed
//! per `(pk, sk)` and its visitor markers written once per `(site, day, hash)`; `visitors` of a
//! `(site, day)` is incremented by the number of its markers the transaction writes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{day_pk, minute_pk, minute_sk, sort_key};
use crate::plan::{TOTAL, day_key};
use crate::{Dimension, Plan, retention};

/// DynamoDB's limit on the items of one `TransactWriteItems`.
pub(crate) const MAX_ITEMS: usize = 100;

/// An item's key, `(pk, sk)`.
pub(crate) type Key = (String, String);

/// What is added to one counter item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Add {
    /// The sum of the increments.
    pub n: i64,
    /// The whole value, when the sort key had to be shortened (`v`).
    pub whole: Option<String>,
    /// The TTL to set (minute counters; day counters under a retention).
    pub expires_at: Option<i64>,
}

/// The items of one transaction over a group of events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Sums {
    /// The events' dedupe records, by index in the batch (`E#{event_id}`).
    pub dedupe: Vec<(usize, String)>,
    /// Visitor markers to write, each with the first event (index) that brings it, and its
    /// expiry.
    pub markers: BTreeMap<Key, (usize, i64)>,
    /// Counter increments, summed per item.
    pub counters: BTreeMap<Key, Add>,
    /// Days a day counter is kept after its day.
    pub retention_days: Option<u32>,
}

impl Sums {
    /// The items of the events `live` (indices into `plans`), leaving out the markers in
    /// `present` (their visitor was counted already); day counters expire `retention_days`
    /// after their day when set.
    pub(crate) fn of(
        plans: &[Plan],
        live: &[usize],
        present: &BTreeSet<Key>,
        retention_days: Option<u32>,
    ) -> Sums {
        let mut sums = Sums {
            retention_days,
            ..Sums::default()
        };
        for &i in live {
            let plan = &plans[i];
            sums.dedupe.push((i, plan.event_id.clone()));
            if let Some(hash) = &plan.visitor {
                let key = marker_key(plan, hash);
                if !present.contains(&key) && !sums.markers.contains_key(&key) {
                    let expiry = retention::marker_expiry(plan.day).timestamp();
                    sums.markers.insert(key, (i, expiry));
                    sums.add_day(plan, Dimension::Visitors, TOTAL);
                }
            }
            for (dimension, value) in &plan.increments {
                sums.add_day(plan, *dimension, value);
            }
            if let Some(minute) = plan.minute {
                sums.add_minute(&plan.site, minute);
            }
        }
        sums
    }

    /// How many items the transaction has.
    pub(crate) fn items(&self) -> usize {
        self.dedupe.len() + self.markers.len() + self.counters.len()
    }

    /// Whether event `i` brings a marker the transaction writes (a new visitor of the day).
    pub(crate) fn new_visitor(&self, i: usize) -> bool {
        self.markers.values().any(|(first, _)| *first == i)
    }

    fn add_day(&mut self, plan: &Plan, dimension: Dimension, value: &str) {
        let sk = sort_key(value);
        let whole = (sk != value).then(|| value.to_owned());
        let key = (day_pk(&plan.site, plan.day, dimension), sk);
        let expires_at = self
            .retention_days
            .map(|days| retention::day_expiry(plan.day, days).timestamp());
        self.counters
            .entry(key)
            .or_insert(Add {
                n: 0,
                whole,
                expires_at,
            })
            .n += 1;
    }

    fn add_minute(&mut self, site: &str, minute: DateTime<Utc>) {
        let key = (minute_pk(site), minute_sk(minute));
        let expires_at = Some(retention::minute_expiry(minute).timestamp());
        self.counters
            .entry(key)
            .or_insert(Add {
                n: 0,
                whole: None,
                expires_at,
            })
            .n += 1;
    }
}

/// The key of a visitor marker.
pub(crate) fn marker_key(plan: &Plan, hash: &str) -> Key {
    (
        format!("V#{}#{}", plan.site, day_key(plan.day)),
        hash.to_owned(),
    )
}

/// The events `distinct` (indices into `plans`) in groups whose transaction fits
/// [`MAX_ITEMS`], in order; a group's count assumes every marker is new, so it only shrinks.
pub(crate) fn groups(plans: &[Plan], distinct: &[usize]) -> Vec<Vec<usize>> {
    let none = BTreeSet::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for &i in distinct {
        current.push(i);
        if current.len() > 1 && Sums::of(plans, &current, &none, None).items() > MAX_ITEMS {
            current.pop();
            out.push(std::mem::replace(&mut current, vec![i]));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CountedView;
    use serde_json::json;

    fn plan(id: &str, path: &str, visitor: &str) -> Plan {
        let detail = json!({
            "event_id": id, "schema_version": "1-0-0", "site": "www.example.com", "path": path,
            "occurred_at": "2026-11-29T08:00:10.000Z", "device": "desktop", "os": "linux",
            "browser": "firefox", "is_bot": false, "visitor_hash": visitor,
        });
        Plan::of(&CountedView::from_detail(&detail).expect("a view"))
    }

    #[test]
    fn a_hot_key_is_one_item_with_the_sum() {
        let plans = vec![
            plan("a", "/", "v1"),
            plan("b", "/", "v1"),
            plan("c", "/x", "v2"),
        ];
        let sums = Sums::of(&plans, &[0, 1, 2], &BTreeSet::new(), None);
        let views = (
            day_pk("www.example.com", plans[0].day, Dimension::Views),
            TOTAL.to_owned(),
        );
        assert_eq!(sums.counters[&views].n, 3);
        let visitors = (
            day_pk("www.example.com", plans[0].day, Dimension::Visitors),
            TOTAL.into(),
        );
        assert_eq!(sums.counters[&visitors].n, 2, "two distinct visitors");
        assert_eq!(sums.markers.len(), 2);
        assert!(sums.new_visitor(0) && !sums.new_visitor(1) && sums.new_visitor(2));
        let minute = (minute_pk("www.example.com"), "2026-11-29T08:00".to_owned());
        assert_eq!(sums.counters[&minute].n, 3);
        assert!(sums.counters[&minute].expires_at.is_some());
        // A marker known present adds no visitor.
        let present = BTreeSet::from([marker_key(&plans[0], "v1")]);
        let sums = Sums::of(&plans, &[0, 1, 2], &present, None);
        assert_eq!(sums.counters[&visitors].n, 1);
        assert_eq!(sums.items(), 3 + 1 + sums.counters.len());
    }

    #[test]
    fn under_a_retention_day_counters_expire_after_their_day() {
        let plans = vec![plan("a", "/", "v1")];
        let views = (
            day_pk("www.example.com", plans[0].day, Dimension::Views),
            TOTAL.to_owned(),
        );
        let kept = Sums::of(&plans, &[0], &BTreeSet::new(), None);
        assert_eq!(kept.counters[&views].expires_at, None);
        let sums = Sums::of(&plans, &[0], &BTreeSet::new(), Some(30));
        let end_of_day: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().expect("a time");
        assert_eq!(
            sums.counters[&views].expires_at,
            Some((end_of_day + chrono::Duration::days(30)).timestamp())
        );
        let minute = (minute_pk("www.example.com"), "2026-11-29T08:00".to_owned());
        assert_eq!(
            sums.counters[&minute].expires_at, kept.counters[&minute].expires_at,
            "minutes keep their own expiry"
        );
    }

    #[test]
    fn groups_fit_a_transaction() {
        let plans: Vec<Plan> = (0..40)
            .map(|i| plan(&format!("e{i}"), &format!("/p{i}"), &format!("v{i}")))
            .collect();
        let all: Vec<usize> = (0..40).collect();
        let groups = groups(&plans, &all);
        assert!(groups.len() > 1, "{groups:?}");
        let none = BTreeSet::new();
        for g in &groups {
            assert!(Sums::of(&plans, g, &none, None).items() <= MAX_ITEMS);
        }
        assert_eq!(groups.concat(), all, "every event once, in order");
    }
}
