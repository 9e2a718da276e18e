//! Every declared consumer on one local bus, over one data directory.
//!
//! `tally serve`, `tally replay --bus` and the tests build the same thing: the consumers opened
//! on `DATA` (default `./tally-data`), their rules from their declarations, and a ticker that
//! writes the archive's time-buffered objects. Shutting down drains the bus, then flushes every
//! consumer, so everything accepted is on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tally_archive::{ArchiveConsumer, Recovery};
use tally_bus::local::{LocalBus, TargetReport};
use tally_consumer::{LocalConsumer, Opened, local_rules};
use tally_counters::LocalCounters;
use tally_failures::FailedEvents;
use tally_journal::{DirLock, JournalError};

use super::{BUS_NAME, CONSUMERS, LocalQueue, bus_config, last_resort_queue};

/// The local data directory's layout.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (created when consumers open it).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The archive, laid out like its S3 bucket: `archive/events/year=…/…`.
    pub fn archive(&self) -> PathBuf {
        self.root.join(tally_archive::LOCAL_DIR)
    }

    /// The counters' redb file.
    pub fn counters(&self) -> PathBuf {
        self.root.join(tally_counters::LOCAL_FILE)
    }

    /// One dead-letter journal per bus rule (`DATA/dead-letters/RULE/`), for events its target
    /// could not take, and those of the serve feed, the last resort and `tally replay --aws`.
    pub fn dead_letters(&self) -> PathBuf {
        self.root.join("dead-letters")
    }

    /// The enrichment's last resort (`DATA/dead-letters/last-resort/`, a [`LocalQueue`]):
    /// page views whose dead letter the bus refused too, with the failure and the input.
    pub fn last_resort(&self) -> PathBuf {
        self.dead_letters().join("last-resort")
    }

    /// The journals: `serve-feed/` (every page view `tally serve` answered, until every consumer
    /// made it durable) and `bus/RULE/` (what a target's full queue could not take).
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// The event-id key (`DATA/event-id-key`, made on first use, owner-only): every local
    /// producer keys its page views' event ids with it ([`tally_edge::event_id`]).
    pub fn event_id_key(&self) -> anyhow::Result<tally_edge::Secret> {
        super::secret::create_private_dir(&self.root)?;
        super::secret::load_or_create(&self.root.join("event-id-key")).map(tally_edge::Secret)
    }

    /// The visitor hash's daily salts (`DATA/salts/`), those past their window deleted.
    pub fn salts(&self, now: DateTime<Utc>) -> anyhow::Result<super::DailySalts> {
        super::DailySalts::open(&self.root, now)
    }

    /// Locks the data directory for this process until the last clone of the lock is dropped
    /// (or the process dies); another process holding it is an error naming its pid. Within one
    /// process, a second call while the first lock lives shares it.
    pub fn lock(&self) -> anyhow::Result<Arc<DirLock>> {
        static HELD: Mutex<BTreeMap<PathBuf, Weak<DirLock>>> = Mutex::new(BTreeMap::new());
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        let key = self
            .root
            .canonicalize()
            .with_context(|| format!("cannot open {}", self.root.display()))?;
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = held.get(&key).and_then(Weak::upgrade) {
            return Ok(lock);
        }
        let lock = Arc::new(DirLock::acquire(&key).map_err(|e| match e {
            JournalError::Locked { pid, .. } => anyhow::anyhow!(
                "the data directory {} is in use by another tally command{}: stop it first, or give this one another --data",
                self.root.display(),
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
            ),
            e => anyhow::Error::new(e),
        })?);
        held.insert(key, Arc::downgrade(&lock));
        Ok(lock)
    }

    /// The `PageView.Failed` events, a `tally-journal` (`tally failed list`).
    pub fn failed(&self) -> PathBuf {
        self.root.join(tally_failures::LOCAL_DIR)
    }

    /// The directory of a consumer `tally new consumer` generated: `consumers/NAME`.
    pub fn consumer(&self, name: &str) -> PathBuf {
        self.root.join("consumers").join(name)
    }
}

/// Every consumer of [`CONSUMERS`], opened on one data directory.
#[derive(Clone)]
pub struct LocalConsumers {
    /// Every consumer, in the order of [`CONSUMERS`].
    opened: Vec<Opened>,
    /// The event log (the ticker writes its due objects; the dashboard reads its history).
    pub archive: Arc<ArchiveConsumer>,
    /// The real-time counters (the dashboard reads them).
    pub counters: Arc<LocalCounters>,
    /// The failed page views (`PageView.Failed`).
    pub failures: Arc<FailedEvents>,
    /// The data directory's lock, held while the consumers are open.
    _lock: Arc<DirLock>,
}

impl std::fmt::Debug for LocalConsumers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConsumers")
            .field("opened", &self.opened)
            .finish_non_exhaustive()
    }
}

/// The consumer of type `T` among `opened`, which the local runtime needs.
fn required<T: LocalConsumer>(opened: &[Opened], what: &str) -> anyhow::Result<Arc<T>> {
    opened.iter().find_map(Opened::get::<T>).with_context(|| {
        format!(
            "the consumer list (src/local/consumers.rs) has no {what}: the local runtime needs it"
        )
    })
}

impl LocalConsumers {
    /// Opens every consumer of [`CONSUMERS`] on `data`; each recovers what a killed process
    /// left, and what the archive recovered is returned.
    pub fn open(data: &DataDir) -> anyhow::Result<(LocalConsumers, Recovery)> {
        let lock = data.lock()?;
        let opened = CONSUMERS
            .iter()
            .map(|c| c.open_local(data.root()))
            .collect::<Result<Vec<_>, _>>()?;
        let consumers = LocalConsumers {
            archive: required(&opened, "archive")?,
            counters: required(&opened, "counters")?,
            failures: required(&opened, "failed-events store")?,
            opened,
            _lock: lock,
        };
        log_failures_recovery(consumers.failures.recovery(), data);
        let recovery = consumers.archive.recovery().clone();
        Ok((consumers, recovery))
    }

    /// Opens every consumer on `data` for a bulk load (`tally replay`): the counters commit
    /// without an fsync per event and are made durable at each [`LocalConsumers::flush`].
    pub fn open_bulk(data: &DataDir) -> anyhow::Result<(LocalConsumers, Recovery)> {
        let (consumers, recovery) = Self::open(data)?;
        consumers.counters.set_sync_each_event(false);
        Ok((consumers, recovery))
    }

    /// Every consumer, as the bus sees them, in the order of [`CONSUMERS`].
    pub fn all(&self) -> Vec<Arc<dyn LocalConsumer>> {
        self.opened.iter().map(|o| Arc::clone(o.local())).collect()
    }

    /// Only the consumer declared as `name`.
    pub fn named(&self, name: &str) -> Option<Arc<dyn LocalConsumer>> {
        self.all()
            .into_iter()
            .find(|c| c.declaration().name == name)
    }

    /// Makes everything accepted durable.
    pub fn flush(&self) -> anyhow::Result<()> {
        for consumer in self.all() {
            let name = consumer.declaration().name;
            consumer
                .flush()
                .with_context(|| format!("cannot flush consumer {name}"))?;
        }
        Ok(())
    }
}

/// Says what opening the failed-events store found: a torn tail cut off, damage, files moved in.
fn log_failures_recovery(found: tally_failures::Recovery, data: &DataDir) {
    if found.torn_bytes > 0 {
        tracing::warn!(
            bytes = found.torn_bytes,
            "failures: cut off a torn last record (never acknowledged)"
        );
    }
    if found.lost > 0 {
        tracing::error!(records = found.lost, dir = %data.failed().display(), "failures: records lost to damage");
    }
    if found.imported > 0 {
        tracing::info!(
            events = found.imported,
            "failures: moved the day files of an older tally into the journal"
        );
    }
}

/// Ticks (seconds) between two purges of the counters' expired records: hourly.
const PURGE_EVERY_TICKS: u64 = 3600;

/// Ticks (seconds) between two prunes of the visitor salts: a day's salt goes within a minute
/// of its window's end, even when no view comes to make the next one.
const PRUNE_SALTS_EVERY_TICKS: u64 = 60;

/// Deletes the visitor salts of `root` past their window.
fn prune_salts(root: &Path) {
    if let Err(e) = super::DailySalts::open(root, Utc::now()) {
        tracing::warn!(error = %format!("{e:#}"), "salts: cannot prune");
    }
}

/// Removes the counters' expired dedupe records, visitor markers and minutes (what DynamoDB's
/// TTL does in the cloud): when the pipeline opens, then hourly.
fn purge_counters(counters: &LocalCounters) {
    match counters.purge_expired(Utc::now()) {
        Ok(0) => {}
        Ok(n) => tracing::info!(records = n, "counters: purged expired records"),
        Err(e) => tracing::warn!(error = %e, "counters: cannot purge expired records"),
    }
}

/// The local pipeline's back half: the bus with every consumer's rules.
#[derive(Debug)]
pub struct LocalPipeline {
    bus: Arc<LocalBus>,
    consumers: LocalConsumers,
    last_resort: Arc<LocalQueue>,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl LocalPipeline {
    /// Opens the consumers on `data` and puts their rules on a new local bus (dead letters in
    /// `data/dead-letters/`). A ticker writes the archive's due objects every second, purges the counters' expired records hourly and the salts past their window every minute.
    pub fn open(data: &DataDir) -> anyhow::Result<(LocalPipeline, Recovery)> {
        let (consumers, recovery) = LocalConsumers::open(data)?;
        Ok((Self::with_consumers(data, consumers)?, recovery))
    }

    /// The bus over `consumers` only (`tally replay --consumer` passes one).
    pub fn with_consumers(data: &DataDir, consumers: LocalConsumers) -> anyhow::Result<Self> {
        Self::build(data, consumers.clone(), consumers.all())
    }

    /// The bus over one consumer of `consumers`.
    pub fn with_one(data: &DataDir, consumers: LocalConsumers, name: &str) -> anyhow::Result<Self> {
        let one = consumers.named(name).with_context(|| {
            let names: Vec<String> = consumers
                .all()
                .iter()
                .map(|c| c.declaration().name)
                .collect();
            format!(
                "no consumer named {name:?}: the consumers are {}",
                names.join(", ")
            )
        })?;
        Self::build(data, consumers, vec![one])
    }

    fn build(
        data: &DataDir,
        consumers: LocalConsumers,
        subscribed: Vec<Arc<dyn LocalConsumer>>,
    ) -> anyhow::Result<Self> {
        let mut builder = LocalBus::builder(bus_config());
        for consumer in subscribed {
            let spill = data.journal().join("bus");
            for rule in local_rules(consumer, &data.dead_letters(), Some(&spill))? {
                builder = builder.rule(rule);
            }
        }
        let bus = Arc::new(builder.build()?);
        let last_resort = LocalQueue::open(last_resort_queue(BUS_NAME), &data.last_resort())?;
        purge_counters(&consumers.counters);
        let (stop, stopped) = mpsc::channel::<()>();
        let (archive, counters, root) = (
            Arc::clone(&consumers.archive),
            Arc::clone(&consumers.counters),
            data.root().to_path_buf(),
        );
        let ticker = std::thread::Builder::new()
            .name("tally-archive-ticker".into())
            .spawn(move || {
                for tick in 1u64.. {
                    match stopped.recv_timeout(Duration::from_secs(1)) {
                        Err(RecvTimeoutError::Timeout) => {
                            if let Err(e) = archive.archive().flush_due() {
                                tracing::warn!(error = %e, "archive: cannot write a due object");
                            }
                            if tick % PURGE_EVERY_TICKS == 0 {
                                purge_counters(&counters);
                            }
                            if tick % PRUNE_SALTS_EVERY_TICKS == 0 {
                                prune_salts(&root);
                            }
                        }
                        _ => return,
                    }
                }
            })
            .context("cannot start the archive ticker")?;
        Ok(LocalPipeline {
            bus,
            consumers,
            last_resort: Arc::new(last_resort),
            ticker: Some((stop, ticker)),
        })
    }

    /// The bus: put envelopes here.
    pub fn bus(&self) -> &Arc<LocalBus> {
        &self.bus
    }

    /// The enrichment's last-resort queue: give it to [`super::PutEventsTask::last_resort`].
    pub fn last_resort(&self) -> &Arc<LocalQueue> {
        &self.last_resort
    }

    /// The consumers behind it.
    pub fn consumers(&self) -> &LocalConsumers {
        &self.consumers
    }

    /// Drains the bus (every queued delivery is made, retried or dead-lettered), stops the
    /// ticker and flushes every consumer.
    pub fn shutdown(mut self) -> anyhow::Result<Vec<TargetReport>> {
        let reports = self.bus.shutdown();
        self.stop_ticker();
        self.consumers.flush()?;
        Ok(reports)
    }

    fn stop_ticker(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            drop(stop);
            handle.join().ok();
        }
    }
}

impl Drop for LocalPipeline {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}
