//! A local, in-process EventBridge bus: rules, targets, input
//! transformation, per-target queues, retries and dead letters.
//!
//! ```
//! use std::sync::mpsc;
//! use tally_bus::Pattern;
//! use tally_bus::local::{BusConfig, LocalBus, Rule, Target, TargetInput};
//! use serde_json::json;
//!
//! let (tx, rx) = mpsc::channel();
//! let sink = move |input: &TargetInput| {
//!     tx.send(input.clone()).ok();
//!     Ok(())
//! };
//! let bus = LocalBus::builder(BusConfig::new("tally", "123456789012", "us-east-1"))
//!     .rule(Rule::new("views", Pattern::parse(r#"{"source": ["tally"]}"#)?).target(Target::new("log", sink)))
//!     .build()?;
//! let receipt = bus.put(json!({"source": "tally", "detail-type": "view", "detail": {}}))?;
//! assert_eq!(receipt.targets, 1);
//! bus.shutdown();
//! assert_eq!(rx.try_iter().count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each target has a bounded queue served by its own thread, so a slow or
//! failing target never holds up another, and a failed delivery waits for its
//! retry in the worker's schedule while the events behind it go on. When a
//! target's queue is full, the event goes to the target's overflow journal on
//! disk ([`Target::spill_to`]), delivered once the queue is empty; a target
//! without one makes [`LocalBus::put`] block until there is room
//! (backpressure). Either way no event is dropped for lack of space.
//! [`LocalBus::shutdown`] stops accepting events, lets the workers finish every
//! queued event (delivered or dead-lettered) and joins them.
//!
//! A [`Ticket`] given to [`LocalBus::put_with_ticket`] is held by every delivery
//! of that event and released when the last one ends (delivered, dead-lettered
//! or written to an overflow journal): the caller learns when the event is
//! safe without polling.

mod dead_letter;
mod error;
mod id;
pub mod input;
pub mod put_events;
mod retry;
mod rule;
mod schedule;
mod spill;
mod target;
mod time;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::Pattern;

pub use dead_letter::{
    DeadLetter, DeadLetterCondition, DeadLetterRecord, JsonJournal, StderrDeadLetter,
    read_dead_letters, read_json,
};
pub use error::{BusError, ConfigError, DeliveryError, PutEventsError};
pub use input::{InputConfig, InputTransformer, TargetInput};
pub use put_events::{
    EventTime, MAX_ENTRIES, MAX_REQUEST_SIZE, PutEventsRequest, PutEventsRequestEntry,
    PutEventsResponse, PutEventsResultEntry, entry_size,
};
pub use retry::RetryPolicy;
pub use rule::{MAX_TARGETS_PER_RULE, Rule};
pub use spill::SPILL_SYNC;
pub use target::{Deliver, Target};
pub use worker::TargetStats;

use spill::Spill;
use worker::{Abandon, Counters, Job, Worker};

/// Held by each delivery of one event, released (dropped) when the last one ends: give it a
/// `Drop` that does what should happen then. Jobs read back from an overflow journal carry
/// none: the journal itself keeps them.
pub type Ticket = Arc<dyn std::any::Any + Send + Sync>;

/// Which bus this is: its name, and the account and region written into
/// envelopes and ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// The bus name, e.g. `default` or `tally`.
    pub name: String,
    /// The 12-digit account id.
    pub account: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The ARN partition, `aws` unless changed.
    pub partition: String,
}

impl BusConfig {
    /// A bus in the `aws` partition.
    pub fn new(
        name: impl Into<String>,
        account: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            account: account.into(),
            region: region.into(),
            partition: "aws".to_owned(),
        }
    }

    /// `arn:aws:events:REGION:ACCOUNT:event-bus/NAME`.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:events:{}:{}:event-bus/{}",
            self.partition, self.region, self.account, self.name
        )
    }

    /// A rule's ARN: `...:rule/NAME` on the default bus, `...:rule/BUS/NAME`
    /// on any other.
    pub fn rule_arn(&self, rule: &str) -> String {
        let prefix = format!(
            "arn:{}:events:{}:{}:rule/",
            self.partition, self.region, self.account
        );
        if self.name == "default" {
            format!("{prefix}{rule}")
        } else {
            format!("{prefix}{}/{rule}", self.name)
        }
    }

    /// Whether `name_or_arn` (an `EventBusName` value) names this bus.
    pub fn is_named(&self, name_or_arn: &str) -> bool {
        name_or_arn == self.name || name_or_arn == self.arn()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = (1..=256).contains(&self.name.len())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
        if !name_ok {
            return Err(ConfigError::InvalidBus(format!(
                "bus name {:?} must be 1 to 256 characters from [/.-_A-Za-z0-9]",
                self.name
            )));
        }
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::InvalidBus(format!(
                "account {:?} must be 12 digits",
                self.account
            )));
        }
        if self.region.is_empty() || self.partition.is_empty() {
            return Err(ConfigError::InvalidBus(
                "region and partition must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// Collects rules, then starts the bus.
#[derive(Debug)]
pub struct LocalBusBuilder {
    config: BusConfig,
    rules: Vec<Rule>,
}

impl LocalBusBuilder {
    /// Adds a rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Validates the configuration and starts one worker thread per target.
    pub fn build(self) -> Result<LocalBus, ConfigError> {
        self.config.validate()?;
        for (i, rule) in self.rules.iter().enumerate() {
            rule.validate()?;
            if self.rules[..i].iter().any(|r| r.name == rule.name) {
                return Err(ConfigError::DuplicateRule(rule.name.clone()));
            }
        }
        let abandon = Arc::new(Abandon::default());
        let (done_tx, done_rx) = mpsc::channel();
        let mut routes = Vec::new();
        let mut senders = Vec::new();
        let mut targets = Vec::new();
        let mut workers = Vec::new();
        // If a spawn fails, dropping `senders` lets the started workers exit.
        for rule in self.rules {
            let rule_arn = self.config.rule_arn(&rule.name);
            let mut indexes = Vec::new();
            for target in rule.targets {
                let (tx, rx) = mpsc::sync_channel(target.queue_capacity);
                let counters = Arc::new(Counters::default());
                let spill = match &target.spill {
                    Some(dir) => Some(Arc::new(Spill::open(dir).map_err(|e| {
                        ConfigError::Spill(format!("target {:?}: {e}", target.id))
                    })?)),
                    None => None,
                };
                targets.push(TargetEntry {
                    rule: rule.name.clone(),
                    target: target.id.clone(),
                    counters: Arc::clone(&counters),
                    spill: spill.clone(),
                });
                let worker = Worker {
                    bus: self.config.name.clone(),
                    rule: rule.name.clone(),
                    rule_arn: rule_arn.clone(),
                    target,
                    counters,
                    abandon: Arc::clone(&abandon),
                    spill,
                };
                let done = done_tx.clone();
                let name = format!("bus-{}-{}", rule.name, worker.target.id);
                let handle = std::thread::Builder::new()
                    .name(name)
                    .spawn(move || worker.run(rx, done))
                    .map_err(|e| ConfigError::Spawn(e.to_string()))?;
                indexes.push(senders.len());
                senders.push(tx);
                workers.push(handle);
            }
            routes.push(Route {
                pattern: rule.pattern,
                targets: indexes,
            });
        }
        Ok(LocalBus {
            config: self.config,
            routes,
            targets,
            senders: RwLock::new(Some(senders)),
            closed: AtomicBool::new(false),
            workers: Mutex::new(workers),
            done: Mutex::new(Some(done_rx)),
            abandon,
        })
    }
}

struct Route {
    pattern: Pattern,
    /// Indexes into `senders` and `targets`.
    targets: Vec<usize>,
}

#[derive(Debug)]
struct TargetEntry {
    rule: String,
    target: String,
    counters: Arc<Counters>,
    spill: Option<Arc<Spill>>,
}

/// What [`LocalBus::put`] did with an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    /// The envelope's `id`, if it has a string one.
    pub event_id: Option<String>,
    /// Rules whose pattern matched.
    pub rules: usize,
    /// Target queues the event was placed on.
    pub targets: usize,
}

/// One target's counters, with its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReport {
    /// The rule name.
    pub rule: String,
    /// The target id.
    pub target: String,
    /// The counters.
    pub stats: TargetStats,
}

/// A running local bus. Dropping it shuts it down (see [`LocalBus::shutdown`]).
pub struct LocalBus {
    config: BusConfig,
    routes: Vec<Route>,
    targets: Vec<TargetEntry>,
    /// `None` once shut down; dropping the senders ends the workers.
    senders: RwLock<Option<Vec<SyncSender<Job>>>>,
    closed: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Disconnects when every worker has returned.
    done: Mutex<Option<mpsc::Receiver<()>>>,
    abandon: Arc<Abandon>,
}

impl fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBus")
            .field("config", &self.config)
            .field("targets", &self.targets)
            .field("closed", &self.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl LocalBus {
    /// Starts configuring a bus.
    pub fn builder(config: BusConfig) -> LocalBusBuilder {
        LocalBusBuilder {
            config,
            rules: Vec::new(),
        }
    }

    /// The bus configuration.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Routes one envelope to the queue of every target whose rule matches.
    ///
    /// Blocks while a matching target's queue is full (backpressure); the
    /// event is already on the queues of the targets before it. Fails only if
    /// the bus is shut down or the envelope is not a JSON object. The
    /// envelope is taken as is; [`LocalBus::put_events`] builds one from API
    /// fields.
    pub fn put(&self, envelope: Value) -> Result<PutReceipt, BusError> {
        self.put_with_ticket(envelope, None)
    }

    /// Like [`LocalBus::put`]; every delivery of the event holds `ticket`, which is released
    /// once all of them have ended.
    pub fn put_with_ticket(
        &self,
        envelope: Value,
        ticket: Option<Ticket>,
    ) -> Result<PutReceipt, BusError> {
        if !envelope.is_object() {
            return Err(BusError::NotAnObject);
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(BusError::ShutDown);
        }
        let guard = self.senders.read().unwrap_or_else(PoisonError::into_inner);
        let Some(senders) = guard.as_ref() else {
            return Err(BusError::ShutDown);
        };
        let event_id = envelope
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let event = Arc::new(envelope);
        let ingestion_time: Arc<str> = time::format_rfc3339(SystemTime::now()).into();
        let accepted = Instant::now();
        let mut receipt = PutReceipt {
            event_id,
            rules: 0,
            targets: 0,
        };
        for route in &self.routes {
            if !route.pattern.matches(&event) {
                continue;
            }
            receipt.rules += 1;
            for &t in &route.targets {
                let counters = &self.targets[t].counters;
                counters.accept();
                let job = Job {
                    event: Arc::clone(&event),
                    ingestion_time: Arc::clone(&ingestion_time),
                    accepted,
                    _ticket: ticket.clone(),
                    spilled: None,
                };
                if self.enqueue(t, &senders[t], job).is_err() {
                    // Only if the worker is gone, which cannot happen while
                    // the senders exist (sink panics are caught).
                    counters.unaccept();
                    return Err(BusError::ShutDown);
                }
                receipt.targets += 1;
            }
        }
        Ok(receipt)
    }

    /// Puts `job` on target `t`'s queue; when it is full, in the target's overflow journal, or
    /// (without one, or when the journal fails) waits for room.
    fn enqueue(&self, t: usize, sender: &SyncSender<Job>, job: Job) -> Result<(), ()> {
        let entry = &self.targets[t];
        let job = match (&entry.spill, sender.try_send(job)) {
            (_, Ok(())) => return Ok(()),
            (_, Err(TrySendError::Disconnected(_))) => return Err(()),
            (Some(spill), Err(TrySendError::Full(job))) => match spill.push(&job) {
                Ok(()) => {
                    entry.counters.spill();
                    return Ok(());
                }
                Err(e) => {
                    eprintln!(
                        "tally-bus: target {:?}: cannot spill, waiting for room: {e}",
                        entry.target
                    );
                    job
                }
            },
            (None, Err(TrySendError::Full(job))) => job,
        };
        sender.send(job).map_err(|_| ())
    }

    /// The PutEvents API: builds an envelope for each entry (version `0`, a
    /// fresh id, this bus's account and region, `time` from the entry or now)
    /// and puts it. See the [`put_events`] module for validation.
    pub fn put_events(
        &self,
        entries: &[PutEventsRequestEntry],
    ) -> Result<PutEventsResponse, PutEventsError> {
        self.put_events_with_ticket(entries, None)
    }

    /// Like [`LocalBus::put_events`]; every delivery of every entry holds `ticket`.
    pub fn put_events_with_ticket(
        &self,
        entries: &[PutEventsRequestEntry],
        ticket: Option<&Ticket>,
    ) -> Result<PutEventsResponse, PutEventsError> {
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(PutEventsError::Validation(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: \
                 Member must have length between 1 and {MAX_ENTRIES}, got {}",
                entries.len()
            )));
        }
        let total: usize = entries.iter().map(entry_size).sum();
        if total > MAX_REQUEST_SIZE {
            return Err(PutEventsError::Validation(
                "Total size of the entries in the request is over the limit.".to_owned(),
            ));
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(PutEventsError::ShutDown);
        }
        let now = SystemTime::now();
        let mut response = PutEventsResponse::default();
        for entry in entries {
            let result = self.put_entry(entry, now, ticket);
            if result.error_code.is_some() {
                response.failed_entry_count += 1;
            }
            response.entries.push(result);
        }
        Ok(response)
    }

    fn put_entry(
        &self,
        entry: &PutEventsRequestEntry,
        now: SystemTime,
        ticket: Option<&Ticket>,
    ) -> PutEventsResultEntry {
        let id = id::new_event_id();
        let envelope = match put_events::build_envelope(
            entry,
            id.clone(),
            &self.config.account,
            &self.config.region,
            now,
        ) {
            Ok(e) => e,
            Err(failed) => return failed,
        };
        let bus = entry.event_bus_name.as_deref().unwrap_or("default");
        if !self.config.is_named(bus) {
            return PutEventsResultEntry::failed(
                "ResourceNotFoundException",
                format!("Event bus {bus} does not exist."),
            );
        }
        match self.put_with_ticket(envelope, ticket.cloned()) {
            Ok(_) => PutEventsResultEntry::ok(id),
            Err(e) => PutEventsResultEntry::failed("InternalFailure", e.to_string()),
        }
    }

    /// Counters of every target, in configuration order.
    pub fn stats(&self) -> Vec<TargetReport> {
        self.targets
            .iter()
            .map(|t| TargetReport {
                rule: t.rule.clone(),
                target: t.target.clone(),
                stats: t.counters.snapshot(),
            })
            .collect()
    }

    /// Counters of one target.
    pub fn target_stats(&self, rule: &str, target: &str) -> Option<TargetStats> {
        self.targets
            .iter()
            .find(|t| t.rule == rule && t.target == target)
            .map(|t| t.counters.snapshot())
    }

    /// Whether `shutdown` has been called.
    pub fn is_shut_down(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Stops accepting events (later `put`s fail with [`BusError::ShutDown`]),
    /// waits until every accepted event has been delivered or dead-lettered,
    /// and joins the workers. With a target that keeps failing this takes as
    /// long as its retry policy allows; see [`LocalBus::shutdown_within`].
    /// Calling it again does nothing.
    pub fn shutdown(&self) -> Vec<TargetReport> {
        self.close();
        self.join();
        self.stats()
    }

    /// Like [`LocalBus::shutdown`], but after `grace` stops retrying: events
    /// still queued, and events waiting for a retry, are dead-lettered with
    /// condition `Shutdown` (a delivery already under way is waited for).
    /// Nothing accepted is lost.
    pub fn shutdown_within(&self, grace: Duration) -> Vec<TargetReport> {
        self.close();
        let done = self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(done) = done {
            // Workers never send; the channel disconnects when all have returned.
            if let Err(RecvTimeoutError::Timeout) | Ok(()) = done.recv_timeout(grace) {
                self.abandon.set();
            }
        }
        self.join();
        self.stats()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // Waits for `put`s in progress (they hold the read lock), then drops
        // the senders so each worker ends after draining its queue.
        let senders = self
            .senders
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(senders);
    }

    fn join(&self) {
        let workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in workers {
            if handle.join().is_err() {
                eprintln!("tally-bus: a target worker panicked");
            }
        }
    }
}

impl Drop for LocalBus {
    fn drop(&mut self) {
        self.shutdown();
    }
}
