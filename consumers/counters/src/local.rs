//! The local store: the same counting over redb, an embedded ACID database in one file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde_json::{Value, json};
use tally_bus::local::{DeliveryError, TargetInput};
use tally_consumer::compliance::Probe;
use tally_consumer::{Declaration, FlushError, LocalConsumer};

use crate::plan::{LIVE_MINUTES, TOTAL, day_key, minute_of};
use crate::{
    Applied, Count, CountedView, CountersError, DayCounter, Dimension, MinuteCount, Plan, retention,
};

/// `(site, dimension, day, value)` → count. Dimension before day, so one dimension over a day
/// range is one contiguous key range.
const COUNTERS: TableDefinition<(&str, &str, &str, &str), u64> = TableDefinition::new("counters");
/// `(site, minute as Unix seconds)` → human views in that minute.
const MINUTES: TableDefinition<(&str, i64), u64> = TableDefinition::new("minutes");
/// `event_id` → when its dedupe record expires (Unix seconds).
const EVENTS: TableDefinition<&str, i64> = TableDefinition::new("events");
/// `(site, day, visitor_hash)` → when the marker expires (Unix seconds).
const VISITORS: TableDefinition<(&str, &str, &str), i64> = TableDefinition::new("visitors");

/// The counters in a local redb file, and the counters consumer of the local bus.
///
/// Every event is applied in one write transaction: the dedupe check and record, the visitor
/// marker and every increment commit together or not at all. By default a commit is durable
/// (fsynced) when [`LocalCounters::apply`] returns; with [`LocalCounters::sync_each_event`] off,
/// commits are durable at the next [`LocalConsumer::flush`] (a crash loses the last events
/// whole, their dedupe records with them, never half of one). A delivery whose events were all
/// duplicates writes nothing and syncs nothing.
pub struct LocalCounters {
    db: Database,
    path: PathBuf,
    sync_each_event: AtomicBool,
}

impl std::fmt::Debug for LocalCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCounters")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalCounters {
    /// Opens the store at `path`, creating it if it does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CountersError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CountersError::Store(redb::Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", dir.display()),
                )))
            })?;
        }
        let db = Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(COUNTERS)?;
            txn.open_table(MINUTES)?;
            txn.open_table(EVENTS)?;
            txn.open_table(VISITORS)?;
        }
        txn.commit()?;
        Ok(LocalCounters {
            db,
            path,
            sync_each_event: AtomicBool::new(true),
        })
    }

    /// Whether each commit is fsynced before `apply` returns (the default), or only at
    /// [`LocalConsumer::flush`]: about 70 times the throughput on this machine (see the
    /// bench), for bulk loads and local replays.
    pub fn sync_each_event(self, sync: bool) -> Self {
        self.set_sync_each_event(sync);
        self
    }

    /// [`LocalCounters::sync_each_event`] on a shared store (a bulk load through the bus).
    pub fn set_sync_each_event(&self, sync: bool) {
        self.sync_each_event.store(sync, Ordering::Relaxed);
    }

    /// Makes every commit so far durable.
    pub fn sync(&self) -> Result<(), CountersError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(redb::Error::from)?;
        txn.commit()?;
        Ok(())
    }

    /// The file it lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies one page view, once per `event_id`, at the current time.
    pub fn apply(&self, view: &CountedView) -> Result<Applied, CountersError> {
        self.apply_at(view, Utc::now())
    }

    /// Applies one page view as if at `now` (which decides what has expired).
    pub fn apply_at(
        &self,
        view: &CountedView,
        now: DateTime<Utc>,
    ) -> Result<Applied, CountersError> {
        let mut out = self.apply_batch_at(std::slice::from_ref(view), now)?;
        Ok(out.pop().unwrap_or(Applied::Duplicate))
    }

    /// Applies several page views in one transaction (one fsync), each once per `event_id`.
    ///
    /// The dedupe records and visitor markers are written per event (a later event of the batch
    /// sees an earlier one's, as the transaction reads its own writes); the counter increments
    /// are summed in memory and written once per key at the end, which is what makes large
    /// batches fast (a replay applies tens of thousands of events per transaction).
    pub fn apply_batch_at(
        &self,
        views: &[CountedView],
        now: DateTime<Utc>,
    ) -> Result<Vec<Applied>, CountersError> {
        let now_s = now.timestamp();
        let mut txn = self.db.begin_write()?;
        if !self.sync_each_event.load(Ordering::Relaxed) {
            txn.set_durability(redb::Durability::None)
                .map_err(redb::Error::from)?;
        }
        let mut out = Vec::with_capacity(views.len());
        // (site, day) → (dimension, value) → increment; (site, minute) → increment.
        let mut increments: HashMap<(String, String), HashMap<(Dimension, String), u64>> =
            HashMap::new();
        let mut minute_increments: HashMap<(String, i64), u64> = HashMap::new();
        {
            let mut events = txn.open_table(EVENTS)?;
            let mut visitors = txn.open_table(VISITORS)?;
            for view in views {
                let plan = Plan::of(view);
                let seen = events
                    .get(plan.event_id.as_str())?
                    .is_some_and(|exp| exp.value() > now_s);
                if seen {
                    out.push(Applied::Duplicate);
                    continue;
                }
                events.insert(
                    plan.event_id.as_str(),
                    retention::dedupe_expiry(now).timestamp(),
                )?;
                let day = day_key(plan.day);
                let mut new_visitor = false;
                if let Some(hash) = &plan.visitor {
                    let key = (plan.site.as_str(), day.as_str(), hash.as_str());
                    let known = visitors.get(key)?.is_some_and(|exp| exp.value() > now_s);
                    if !known {
                        visitors.insert(key, retention::marker_expiry(plan.day).timestamp())?;
                        new_visitor = true;
                    }
                }
                if let Some(minute) = plan.minute {
                    *minute_increments
                        .entry((plan.site.clone(), minute.timestamp()))
                        .or_default() += 1;
                }
                let of_day = increments.entry((plan.site, day)).or_default();
                for (dimension, value) in plan.increments {
                    *of_day.entry((dimension, value)).or_default() += 1;
                }
                if new_visitor {
                    *of_day
                        .entry((Dimension::Visitors, TOTAL.to_owned()))
                        .or_default() += 1;
                }
                out.push(Applied::Counted { new_visitor });
            }
            let mut counters = txn.open_table(COUNTERS)?;
            for ((site, day), of_day) in &increments {
                for ((dimension, value), n) in of_day {
                    add(&mut counters, (site, dimension.as_str(), day, value), *n)?;
                }
            }
            let mut minutes = txn.open_table(MINUTES)?;
            for ((site, minute), n) in &minute_increments {
                let key = (site.as_str(), *minute);
                let before = minutes.get(key)?.map_or(0, |v| v.value());
                minutes.insert(key, before + n)?;
            }
        }
        if out.iter().all(|a| *a == Applied::Duplicate) {
            txn.abort()?;
        } else {
            txn.commit()?;
        }
        Ok(out)
    }

    /// Removes dedupe records, visitor markers and minutes that expired at `now` (what
    /// DynamoDB's TTL does in the cloud). Returns how many records it removed.
    pub fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, CountersError> {
        let now_s = now.timestamp();
        let oldest_minute = retention::oldest_kept_minute(now).timestamp();
        let txn = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut events = txn.open_table(EVENTS)?;
            let before = events.len()?;
            events.retain(|_, exp| exp > now_s)?;
            removed += before - events.len()?;
            let mut visitors = txn.open_table(VISITORS)?;
            let before = visitors.len()?;
            visitors.retain(|_, exp| exp > now_s)?;
            removed += before - visitors.len()?;
            let mut minutes = txn.open_table(MINUTES)?;
            let before = minutes.len()?;
            minutes.retain(|(_, m), _| m >= oldest_minute)?;
            removed += before - minutes.len()?;
        }
        txn.commit()?;
        Ok(removed)
    }

    /// Removes the day counts of the UTC days before `first_kept` (retention); returns how many
    /// it removed. Dedupe records, markers and minutes keep their own expiry
    /// ([`LocalCounters::purge_expired`]).
    pub fn prune_days_before(&self, first_kept: NaiveDate) -> Result<u64, CountersError> {
        let first = day_key(first_kept);
        let txn = self.db.begin_write()?;
        let removed = {
            let mut counters = txn.open_table(COUNTERS)?;
            let before = counters.len()?;
            counters.retain(|(_, _, day, _), _| day >= first.as_str())?;
            before - counters.len()?
        };
        txn.commit()?;
        Ok(removed)
    }

    /// The `n` largest values of `dimension` for `site`, summed over the UTC days `from..=to`:
    /// largest count first, ties by value.
    pub fn top(
        &self,
        site: &str,
        from: NaiveDate,
        to: NaiveDate,
        dimension: Dimension,
        n: usize,
    ) -> Result<Vec<Count>, CountersError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(COUNTERS)?;
        let (from, to) = (day_key(from), day_key(to));
        let mut sums: std::collections::BTreeMap<String, u64> = Default::default();
        // Days are fixed-width, so "to" followed by any value sorts below (to + "\u{1}", "").
        let upper = format!("{to}\u{1}");
        for entry in table.range(
            (site, dimension.as_str(), from.as_str(), "")
                ..(site, dimension.as_str(), upper.as_str(), ""),
        )? {
            let (key, count) = entry?;
            let (_, _, _, value) = key.value();
            *sums.entry(value.to_owned()).or_default() += count.value();
        }
        Ok(crate::top_n(sums, n))
    }

    /// The count of a one-value dimension (`views`, `visitors`) over `from..=to`; for
    /// `visitors`, the sum of each day's distinct visitors.
    pub fn total(
        &self,
        site: &str,
        from: NaiveDate,
        to: NaiveDate,
        dimension: Dimension,
    ) -> Result<u64, CountersError> {
        Ok(self
            .top(site, from, to, dimension, usize::MAX)?
            .iter()
            .map(|c| c.count)
            .sum())
    }

    /// Human views per minute for the [`LIVE_MINUTES`] minutes up to and including the minute of
    /// `now`, oldest first, minutes without views included as zero.
    pub fn last_minutes(
        &self,
        site: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<MinuteCount>, CountersError> {
        let last = minute_of(now);
        let first = last - Duration::minutes(i64::from(LIVE_MINUTES) - 1);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MINUTES)?;
        let mut out: Vec<MinuteCount> = (0..i64::from(LIVE_MINUTES))
            .map(|i| MinuteCount {
                minute: first + Duration::minutes(i),
                count: 0,
            })
            .collect();
        for entry in table.range((site, first.timestamp())..=(site, last.timestamp()))? {
            let (key, count) = entry?;
            let (_, m) = key.value();
            if let Some(slot) = out.iter_mut().find(|s| s.minute.timestamp() == m) {
                slot.count = count.value();
            }
        }
        Ok(out)
    }

    /// Every day counter, sorted by `(site, dimension, day, value)`.
    pub fn counters(&self) -> Result<Vec<DayCounter>, CountersError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(COUNTERS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, count) = entry?;
            let (site, dimension, day, value) = key.value();
            out.push(DayCounter {
                site: site.into(),
                dimension: dimension.into(),
                day: day.into(),
                value: value.into(),
                count: count.value(),
            });
        }
        Ok(out)
    }

    fn dump(&self) -> Result<Value, CountersError> {
        let counters = self.counters()?;
        let txn = self.db.begin_read()?;
        let mut minutes = Vec::new();
        for entry in txn.open_table(MINUTES)?.iter()? {
            let (key, count) = entry?;
            let (site, m) = key.value();
            let minute = Utc.timestamp_opt(m, 0).single().map(|t| t.to_rfc3339());
            minutes.push(json!([site, minute, count.value()]));
        }
        let events = txn.open_table(EVENTS)?.len()?;
        let visitors = txn.open_table(VISITORS)?.len()?;
        Ok(json!({
            "counters": counters
                .iter()
                .map(|c| json!([c.site, c.dimension, c.day, c.value, c.count]))
                .collect::<Vec<_>>(),
            "minutes": minutes,
            "dedupe_records": events,
            "visitor_markers": visitors,
        }))
    }
}

fn add(
    table: &mut redb::Table<'_, (&str, &str, &str, &str), u64>,
    key: (&str, &str, &str, &str),
    by: u64,
) -> Result<(), CountersError> {
    let n = table.get(key)?.map_or(0, |v| v.value());
    table.insert(key, n + by)?;
    Ok(())
}

impl LocalConsumer for LocalCounters {
    fn declaration(&self) -> Declaration {
        crate::declaration()
    }

    fn handle(&self, rule: &str, input: &TargetInput) -> Result<(), DeliveryError> {
        // One input, one result.
        self.handle_batch(rule, std::slice::from_ref(input))
            .pop()
            .unwrap_or(Ok(()))
    }

    /// The batch's views in one transaction: one commit (and, by default, one fsync) for all.
    /// An input that is not a page view fails alone; a failed commit fails every view.
    fn handle_batch(&self, _rule: &str, inputs: &[TargetInput]) -> Vec<Result<(), DeliveryError>> {
        let mut views = Vec::with_capacity(inputs.len());
        // Per input: why it is not a page view, or `None` when it is in `views`.
        let mut rejected = Vec::with_capacity(inputs.len());
        for input in inputs {
            let view = match input {
                TargetInput::Json(event) => CountedView::from_event(event)
                    .map_err(|e| DeliveryError::permanent(e.to_string())),
                TargetInput::Text(_) => Err(DeliveryError::permanent(
                    "the counters take whole events, not text",
                )),
            };
            rejected.push(view.map(|v| views.push(v)).err());
        }
        let committed = if views.is_empty() {
            Ok(())
        } else {
            self.apply_batch_at(&views, Utc::now())
                .map(|_| ())
                .map_err(|e| {
                    if e.is_permanent() {
                        DeliveryError::permanent(e.to_string())
                    } else {
                        DeliveryError::new(e.to_string())
                    }
                })
        };
        rejected
            .into_iter()
            .map(|r| match (r, &committed) {
                (Some(e), _) => Err(e),
                (None, result) => result.clone(),
            })
            .collect()
    }

    fn flush(&self) -> Result<(), FlushError> {
        self.sync().map_err(FlushError::new)
    }
}

impl Probe for LocalCounters {
    /// Every counter and minute, sorted by key, with the number of dedupe records and visitor
    /// markers.
    fn snapshot(&self) -> Value {
        self.dump()
            .unwrap_or_else(|e| json!({"error": e.to_string()}))
    }
}
