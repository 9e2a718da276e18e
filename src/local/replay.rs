//! Replay: the local archive, in event-time order, delivered again to consumers.
//!
//! The archive's objects that can hold events of the UTC days `from..=to` are read hour
//! partition by hour partition (each partition's events sorted by `occurred_at`, then envelope
//! id), the events of those days are delivered to a [`ReplaySink`], the sink makes them durable
//! ([`ReplaySink::commit`]), and only then are the partition's objects recorded in the checkpoint
//! ([`Checkpoint`], `DATA/replay/NAME/`, one object key a record, fsynced). An interrupted replay run
//! again with the same name skips the objects recorded, so no object is skipped and none is
//! delivered twice; an object that arrives later in a partition already replayed is delivered on
//! the next run. If the process dies between delivering a partition and recording it, that
//! partition is delivered again: the consumers are idempotent per event id, so nothing is
//! counted twice.
//!
//! Replayed envelopes are the archived ones, unchanged except for a `replay-name` field, which
//! EventBridge adds to the events an archive replays: the archive's rule excludes them, so a
//! replay through the bus is not archived a second time.

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use tally_archive::{
    ArchiveConfig, ArchiveObject, event_time, objects_for_days, read_in_event_order,
};
use tally_bus::Pattern;
use tally_bus::local::{DeadLetter, DeadLetterCondition, DeadLetterRecord, JsonJournal};
use tally_counters::{Applied, CountedView, LocalCounters};

pub use super::checkpoint::Checkpoint;
use super::{BUS_NAME, DataDir, LocalConsumers, LocalPipeline};

/// Events applied to the counters per write transaction on the direct path.
const COUNTERS_BATCH: usize = 20_000;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// First UTC day of `occurred_at`.
    pub from: NaiveDate,
    /// Last UTC day of `occurred_at`, included.
    pub to: NaiveDate,
    /// The replay's name: its checkpoint, and the `replay-name` of its events.
    pub name: String,
    /// Forget the checkpoint and start over.
    pub restart: bool,
}

/// What a sink did with the events it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Delivered {
    /// Events handed to the consumer(s).
    pub delivered: u64,
    /// Of those, events the consumer had applied before (direct counters path only).
    pub duplicates: u64,
    /// Events no rule of the consumer(s) matched (direct path only).
    pub not_matched: u64,
    /// Events written to a dead-letter file, with the reason.
    pub dead_lettered: u64,
}

impl std::ops::AddAssign for Delivered {
    fn add_assign(&mut self, o: Delivered) {
        self.delivered += o.delivered;
        self.duplicates += o.duplicates;
        self.not_matched += o.not_matched;
        self.dead_lettered += o.dead_lettered;
    }
}

/// Where replayed events go.
pub trait ReplaySink {
    /// Delivers events, in order.
    fn deliver(&mut self, events: Vec<Value>) -> anyhow::Result<Delivered>;
    /// Returns once everything delivered so far is applied and durable.
    fn commit(&mut self) -> anyhow::Result<()>;
}

/// What a replay did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    /// The replay's name.
    pub name: String,
    /// Archive objects that can hold events of the days.
    pub objects: usize,
    /// Of those, objects a previous run with this name had replayed: skipped.
    pub objects_already_replayed: usize,
    /// Objects replayed by this run.
    pub objects_replayed: usize,
    /// Events read from them.
    pub events_read: u64,
    /// Events outside the days, not delivered.
    pub events_outside_days: u64,
    /// What the sink did.
    #[serde(flatten)]
    pub sink: Delivered,
    /// Whether every object was replayed (false when stopped early).
    pub complete: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Events read per second.
    pub events_per_second: f64,
}

/// Replays `options.from..=options.to` from `data`'s archive into `sink`. `progress` is called
/// after each partition with the report so far; `stop` after each partition's checkpoint, and a
/// `true` ends the replay there (it is resumed by running it again).
pub fn replay(
    data: &DataDir,
    options: &ReplayOptions,
    sink: &mut dyn ReplaySink,
    progress: &mut dyn FnMut(&ReplayReport),
    stop: &mut dyn FnMut(&ReplayReport) -> bool,
) -> anyhow::Result<ReplayReport> {
    anyhow::ensure!(
        options.from <= options.to,
        "--from {} is after --to {}",
        options.from,
        options.to
    );
    let started = Instant::now();
    let archive = ArchiveConfig::new(data.archive());
    let mut checkpoint = Checkpoint::open(data, &options.name, options.restart)?;
    let objects = objects_for_days(&archive.root, &archive.layout, options.from, options.to)
        .with_context(|| format!("cannot list the archive in {}", archive.root.display()))?;
    let mut report = ReplayReport {
        name: options.name.clone(),
        objects: objects.len(),
        complete: true,
        ..ReplayReport::default()
    };
    let mut groups: Vec<Vec<ArchiveObject>> = Vec::new();
    for object in objects {
        if checkpoint.is_done(&object.key) {
            report.objects_already_replayed += 1;
            continue;
        }
        match groups.last_mut() {
            Some(g) if g[0].hour == object.hour => g.push(object),
            _ => groups.push(vec![object]),
        }
    }
    let total = groups.len();
    // The next partition is read and sorted on another thread while this one is delivered.
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = mpsc::sync_channel(1);
        scope.spawn(move || {
            for group in groups {
                let events = read_in_event_order(&group);
                if tx.send((group, events)).is_err() {
                    return;
                }
            }
        });
        for (n, (group, events)) in rx.iter().enumerate() {
            let events = events.context("cannot read the archive")?;
            report.events_read += events.len() as u64;
            let mut batch = Vec::with_capacity(events.len());
            for (_, mut event) in events {
                let day = event_time(&event).map(|t| t.date_naive());
                if !day.is_some_and(|d| options.from <= d && d <= options.to) {
                    report.events_outside_days += 1;
                    continue;
                }
                if let Value::Object(map) = &mut event {
                    map.insert("replay-name".into(), Value::String(options.name.clone()));
                }
                batch.push(event);
            }
            report.sink += sink.deliver(batch)?;
            sink.commit()?;
            checkpoint.record(group.iter().map(|o| o.key.as_str()))?;
            report.objects_replayed += group.len();
            report.seconds = started.elapsed().as_secs_f64();
            report.events_per_second = report.events_read as f64 / report.seconds.max(1e-9);
            progress(&report);
            if n + 1 < total && stop(&report) {
                report.complete = false;
                break;
            }
        }
        Ok(())
    })?;
    report.seconds = started.elapsed().as_secs_f64();
    report.events_per_second = report.events_read as f64 / report.seconds.max(1e-9);
    Ok(report)
}

/// The counters, straight from the archive: the counters' rule patterns decide which events
/// they take (as the bus would), and events are applied in large batches, each one write
/// transaction, durable at each commit. Events the counters refuse go to
/// `DATA/dead-letters/counters-<rule>/` with the reason, as the bus would put them.
#[derive(Debug)]
pub struct CountersSink {
    counters: LocalCounters,
    rules: Vec<(String, Pattern, JsonJournal)>,
}

impl CountersSink {
    /// Opens the counters of `data` for a bulk load.
    pub fn open(data: &DataDir) -> anyhow::Result<CountersSink> {
        let counters = LocalCounters::open(data.counters())
            .with_context(|| format!("cannot open the counters {}", data.counters().display()))?
            .sync_each_event(false);
        let declaration = tally_counters::declaration();
        let mut rules = Vec::new();
        for rule in &declaration.rules {
            let name = format!("{}-{}", declaration.name, rule.name);
            let pattern = Pattern::from_value(&rule.pattern)
                .with_context(|| format!("the counters' rule {name} has an invalid pattern"))?;
            let path = data.dead_letters().join(&name);
            let file = JsonJournal::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            rules.push((name, pattern, file));
        }
        Ok(CountersSink { counters, rules })
    }

    /// The counters it writes.
    pub fn counters(&self) -> &LocalCounters {
        &self.counters
    }
}

impl ReplaySink for CountersSink {
    fn deliver(&mut self, events: Vec<Value>) -> anyhow::Result<Delivered> {
        let mut out = Delivered::default();
        let mut views = Vec::with_capacity(events.len().min(COUNTERS_BATCH));
        for event in &events {
            let Some((rule, _, dead_letters)) =
                self.rules.iter().find(|(_, p, _)| p.matches(event))
            else {
                out.not_matched += 1;
                continue;
            };
            match CountedView::from_event(event) {
                Ok(view) => views.push(view),
                Err(e) => {
                    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
                    dead_letters
                        .write(&DeadLetterRecord {
                            time: now.clone(),
                            bus: BUS_NAME.into(),
                            rule: rule.clone(),
                            rule_arn: super::bus_config().rule_arn(rule),
                            target: "counters".into(),
                            attempts: 1,
                            condition: DeadLetterCondition::PermanentFailure,
                            reason: e.to_string(),
                            ingestion_time: now,
                            event: event.clone(),
                            input: None,
                        })
                        .context("cannot write a dead letter")?;
                    out.dead_lettered += 1;
                }
            }
            if views.len() == COUNTERS_BATCH {
                out += self.apply(&views)?;
                views.clear();
            }
        }
        out += self.apply(&views)?;
        Ok(out)
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        self.counters.sync().context("cannot sync the counters")
    }
}

impl CountersSink {
    fn apply(&self, views: &[CountedView]) -> anyhow::Result<Delivered> {
        if views.is_empty() {
            return Ok(Delivered::default());
        }
        let applied = self
            .counters
            .apply_batch_at(views, Utc::now())
            .context("cannot apply events to the counters")?;
        Ok(Delivered {
            delivered: views.len() as u64,
            duplicates: applied.iter().filter(|a| **a == Applied::Duplicate).count() as u64,
            ..Delivered::default()
        })
    }
}

/// Through the local bus, to every consumer (`--bus`) or one (`--consumer NAME`), with the
/// consumers' rules, retries and dead letters; a commit waits until the bus has delivered (or
/// dead-lettered) everything, then flushes the consumers.
#[derive(Debug)]
pub struct BusSink {
    pipeline: Option<LocalPipeline>,
}

impl BusSink {
    /// The bus over every consumer of `data`, or only the one named.
    pub fn open(data: &DataDir, only: Option<&str>) -> anyhow::Result<BusSink> {
        let (consumers, _) = LocalConsumers::open_bulk(data)?;
        let pipeline = match only {
            Some(name) => LocalPipeline::with_one(data, consumers, name)?,
            None => LocalPipeline::with_consumers(data, consumers)?,
        };
        Ok(BusSink {
            pipeline: Some(pipeline),
        })
    }

    /// Drains the bus and flushes the consumers.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(p) = self.pipeline.take() {
            p.shutdown()?;
        }
        Ok(())
    }

    fn pipeline(&self) -> anyhow::Result<&LocalPipeline> {
        self.pipeline
            .as_ref()
            .context("the replay's bus is shut down")
    }
}

impl ReplaySink for BusSink {
    fn deliver(&mut self, events: Vec<Value>) -> anyhow::Result<Delivered> {
        let bus = Arc::clone(self.pipeline()?.bus());
        let mut out = Delivered::default();
        for event in events {
            bus.put(event)
                .context("cannot put an event on the local bus")?;
            out.delivered += 1;
        }
        Ok(out)
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        let pipeline = self.pipeline()?;
        while pipeline.bus().stats().iter().any(|t| t.stats.pending() > 0) {
            std::thread::sleep(Duration::from_millis(2));
        }
        pipeline.consumers().flush()
    }
}
