//! The pipeline feed: every page view is appended to the serve journal
//! (`DATA/journal/serve-feed/`, [`tally_journal`]) before its response is sent (the views of
//! concurrent requests together, with one write: [`GroupCommit`]), and worker
//! threads read the journal in order, run the enrichment state machine
//! (`state-machines/enrich.asl.json`) with its `events:putEvents` task onto the local bus, and
//! acknowledge a view only once every consumer its event reached has made it durable (or
//! dead-lettered it): the bus releases the put's ticket then.
//!
//! A server killed at any moment loses nothing: the next one on the same data directory reads
//! every view not yet acknowledged again, and the consumers, idempotent per `event_id`, absorb
//! what had already reached them. What cannot be run (an execution that fails after the state
//! machine's own dead-letter path, an unreadable journal record) goes to
//! `DATA/dead-letters/serve-feed/` with the reason, and is counted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use tally_bus::local::{LocalBus, Ticket};
use tally_edge::EdgeView;
use tally_journal::{Durability, Journal, JournalConfig};
use tally_states::{Definition, ExecutionContext, ExecutionResult, RealSleeper};

use super::commit::GroupCommit;
use super::dead_letters::DeadLetters;
use super::priority::Backoff;
use crate::local::{self, LocalQueue, PutEventsTask};

/// The enrichment state machine's definition.
pub const ENRICH_ASL: &str = include_str!("../../state-machines/enrich.asl.json");

/// How often the serve journal is fsynced, at most: what a power loss can take.
pub const JOURNAL_SYNC: Duration = Duration::from_secs(1);

/// The feed's counts.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Executions that succeeded (the view, or its dead-letter event, is on the bus).
    pub executed: AtomicU64,
    /// Views written to the feed's dead-letter file.
    pub dead_lettered: AtomicU64,
}

/// A snapshot of [`FeedStats`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FeedCounts {
    /// Page views appended to the journal by this server.
    pub queued: u64,
    /// Views a previous server left unacknowledged in the journal, run again by this one.
    pub recovered: u64,
    /// Page views in the journal not yet run: the pipeline's backlog.
    pub backlog: u64,
    /// Views run and not yet durable in every consumer.
    pub in_flight: u64,
    /// Executions that succeeded.
    pub executed: u64,
    /// Views in the feed's dead-letter file.
    pub dead_lettered: u64,
    /// Writes to the journal that appended the views (group commit: several views a write).
    pub journal_writes: u64,
}

/// The journal and its workers.
#[derive(Debug)]
pub struct Feed {
    journal: Arc<Journal>,
    commit: Arc<GroupCommit>,
    recovered: u64,
    closed: Arc<AtomicBool>,
    workers: std::sync::Mutex<Vec<JoinHandle<()>>>,
    stats: Arc<FeedStats>,
    dead: Arc<DeadLetters>,
}

impl Feed {
    /// Opens the journal in `dir` and starts `workers` threads putting onto `bus`; the
    /// dead-letter file is `dead_letter_dir/serve-feed.jsonl`. Views a previous server left
    /// unacknowledged are run first. The workers inherit the calling thread's scheduling
    /// priority; with `yield_to_server` they also pause while the machine has less than half a
    /// core free of normal-priority work ([`Backoff`]).
    pub fn start(
        bus: Arc<LocalBus>,
        last_resort: Arc<LocalQueue>,
        dir: &Path,
        workers: usize,
        dead_letter_dir: &Path,
        yield_to_server: bool,
    ) -> anyhow::Result<Feed> {
        let subst = BTreeMap::from([("EventBusName".to_owned(), local::BUS_NAME.to_owned())]);
        let machine = Arc::new(
            Definition::load(ENRICH_ASL, &subst, &PutEventsTask::handles)
                .context("cannot load state-machines/enrich.asl.json")?,
        );
        let dead = Arc::new(DeadLetters::open(&dead_letter_dir.join("serve-feed"))?);
        let config = JournalConfig::new(dir, Durability::Interval(JOURNAL_SYNC));
        let (journal, opened) = Journal::open(config)
            .with_context(|| format!("cannot open the serve journal {}", dir.display()))?;
        if opened.pending > 0 {
            tracing::info!(views = opened.pending, path = %dir.display(), "journal: page views a previous server did not finish, to be counted now");
        }
        let journal = Arc::new(journal);
        let stats = Arc::new(FeedStats::default());
        let closed = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let worker = Worker {
                bus: Arc::clone(&bus),
                last_resort: Arc::clone(&last_resort),
                machine: Arc::clone(&machine),
                journal: Arc::clone(&journal),
                stats: Arc::clone(&stats),
                dead: Arc::clone(&dead),
                closed: Arc::clone(&closed),
                yield_to_server,
            };
            let handle = std::thread::Builder::new()
                .name(format!("tally-serve-feed-{i}"))
                .spawn(move || worker.run())
                .context("cannot start a pipeline worker")?;
            handles.push(handle);
        }
        let commit = Arc::new(GroupCommit::new(Arc::clone(&journal), Arc::clone(&dead)));
        Ok(Feed {
            journal,
            commit,
            recovered: opened.pending,
            closed,
            workers: std::sync::Mutex::new(handles),
            stats,
            dead,
        })
    }

    /// The journal record of `view`, or `None` when it cannot be serialised (then it is in the
    /// dead-letter file with the reason). Synchronous, so that a request's future does not keep
    /// the view across the wait for its write ([`Feed::append`]).
    pub fn record(&self, view: &EdgeView) -> Option<Vec<u8>> {
        // Room for a typical view, so serialising does not grow the buffer step by step.
        let mut payload = Vec::with_capacity(768);
        match serde_json::to_writer(&mut payload, view) {
            Ok(()) => Some(payload),
            Err(e) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                self.dead
                    .view(&format!("cannot serialise the view: {e}"), view);
                None
            }
        }
    }

    /// Appends a [`Feed::record`] to the journal, with the views of the requests served at the
    /// same moment ([`GroupCommit`]), and returns once it is written (no waiting on the
    /// pipeline). A record the journal cannot take goes to the dead-letter file with the
    /// reason. Runs on tokio.
    pub async fn append(&self, record: Vec<u8>) {
        self.commit.append(record).await;
    }

    /// The counts.
    pub fn stats(&self) -> FeedCounts {
        let backlog = self.journal.unread();
        let commit = self.commit.counts();
        FeedCounts {
            queued: commit.appended,
            recovered: self.recovered,
            backlog,
            in_flight: self.journal.unacknowledged().saturating_sub(backlog),
            executed: self.stats.executed.load(Ordering::Relaxed),
            dead_lettered: self.stats.dead_lettered.load(Ordering::Relaxed) + commit.refused,
            journal_writes: commit.writes,
        }
    }

    /// Lets the workers run what the journal holds, then waits for them to end. The views they
    /// ran are acknowledged as the bus drains.
    pub fn close(&self) {
        // Views a stopped runtime left in the open batch (their requests never got an answer).
        self.commit.commit();
        self.closed.store(true, Ordering::SeqCst);
        let handles = self
            .workers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        for h in handles {
            h.join().ok();
        }
    }

    /// Views appended and not yet durable in every consumer (0 after a full drain).
    pub fn unacknowledged(&self) -> u64 {
        self.journal.unacknowledged()
    }

    /// Fsyncs the journal and its position.
    pub fn sync(&self) -> anyhow::Result<()> {
        self.journal.sync().context("cannot sync the serve journal")
    }
}

/// How long an idle worker waits before it looks at the journal again.
const IDLE: Duration = Duration::from_millis(20);

/// Journal records a worker takes at a time.
const BATCH: usize = 64;

/// Released when every delivery of one view's event has ended: acknowledges its record.
struct Ack {
    journal: Arc<Journal>,
    seq: u64,
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Err(e) = self.journal.ack(self.seq) {
            // Not lost: the view is run again by the next server, and absorbed by idempotency.
            tracing::error!(seq = self.seq, error = %e, "cannot acknowledge a journal record");
        }
    }
}

/// One pipeline worker.
struct Worker {
    bus: Arc<LocalBus>,
    /// Where a view goes when the bus refuses its dead letter too.
    last_resort: Arc<LocalQueue>,
    machine: Arc<Definition>,
    journal: Arc<Journal>,
    stats: Arc<FeedStats>,
    dead: Arc<DeadLetters>,
    closed: Arc<AtomicBool>,
    /// Whether to yield to the server while the machine is busy (see [`Backoff`]).
    yield_to_server: bool,
}

impl Worker {
    /// Runs journal records in order until the feed is closed and nothing is left unread.
    fn run(&self) {
        let mut backoff = if self.yield_to_server {
            Backoff::new()
        } else {
            Backoff::off()
        };
        loop {
            let closing = self.closed.load(Ordering::SeqCst);
            if closing {
                // The server no longer serves: run the rest at full speed.
                backoff = Backoff::off();
            }
            let records = match self.journal.read(BATCH) {
                Ok(records) => records,
                Err(e) => {
                    // Damage: the records it cost are reported and skipped; go on with the rest.
                    self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    self.dead.note(&format!("journal: {e}"));
                    continue;
                }
            };
            if records.is_empty() {
                if closing {
                    return;
                }
                std::thread::sleep(IDLE);
                continue;
            }
            for record in records {
                let ticket: Ticket = Arc::new(Ack {
                    journal: Arc::clone(&self.journal),
                    seq: record.seq,
                });
                match serde_json::from_slice::<EdgeView>(&record.payload) {
                    Ok(view) => {
                        backoff.pace();
                        self.execute(&view, ticket);
                    }
                    Err(e) => {
                        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                        let line = String::from_utf8_lossy(&record.payload);
                        self.dead
                            .raw(&format!("journal: not a page view: {e}"), &line);
                    }
                }
            }
        }
    }

    /// Runs one view; `ticket` is held by every delivery of what it puts on the bus.
    fn execute(&self, view: &EdgeView, ticket: Ticket) {
        let input = match serde_json::to_value(view) {
            Ok(v) => v,
            Err(e) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                self.dead
                    .view(&format!("cannot serialise the view: {e}"), view);
                return;
            }
        };
        let exec = ExecutionContext {
            name: view.event_id.clone(),
            execution_arn: format!(
                "arn:aws:states:local:000000000000:express:enrich:{}",
                view.event_id
            ),
            state_machine_arn: "arn:aws:states:local:000000000000:stateMachine:enrich".into(),
            state_machine_name: "enrich".into(),
            start_time: Utc::now(),
        };
        let task = PutEventsTask::with_ticket(&self.bus, ticket).last_resort(&self.last_resort);
        match self.machine.execute(input, &exec, &task, &RealSleeper) {
            ExecutionResult::Succeeded { .. } => {
                self.stats.executed.fetch_add(1, Ordering::Relaxed);
            }
            ExecutionResult::Failed { error, cause, .. } => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                let reason = format!("enrichment failed: {error}: {cause}");
                self.dead.view(&reason, view);
            }
        }
    }
}
