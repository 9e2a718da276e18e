//! The pipeline feed: page views leave the request path through a bounded queue to worker
//! threads, each running the enrichment state machine (`state-machines/enrich.asl.json`) with its
//! `events:putEvents` task onto the local bus, where every declared consumer takes them.
//!
//! The response never waits on the pipeline. When the queue is full the view is appended to the
//! spool (`DATA/spool/serve-feed.jsonl`, see [`super::spool`]), which the workers work through
//! whenever the queue is empty: a burst beyond what the pipeline keeps up with is counted late,
//! not lost. An execution that fails (after the state machine's own dead-letter path), a view the
//! spool cannot take and an unreadable spool line go to `DATA/dead-letters/serve-feed.jsonl` with
//! the reason, and are counted.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use tally_bus::local::LocalBus;
use tally_edge::EdgeView;
use tally_states::{Definition, ExecutionContext, ExecutionResult, RealSleeper};

use super::priority::Backoff;
use super::spool::{Spool, Spooled};
use crate::local::{self, PutEventsTask};

/// The enrichment state machine's definition.
pub const ENRICH_ASL: &str = include_str!("../../state-machines/enrich.asl.json");

/// The feed's counts.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Page views handed to the queue.
    pub queued: AtomicU64,
    /// Page views written to the spool (the queue was full).
    pub spooled: AtomicU64,
    /// Executions that succeeded (the view, or its dead-letter event, is on the bus).
    pub executed: AtomicU64,
    /// Views written to the feed's dead-letter file (queue full, or the execution failed).
    pub dead_lettered: AtomicU64,
}

/// A snapshot of [`FeedStats`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FeedCounts {
    /// Page views handed to the queue.
    pub queued: u64,
    /// Page views written to the spool (the queue was full).
    pub spooled: u64,
    /// Page views in the spool now, waiting for the pipeline.
    pub backlog: u64,
    /// Executions that succeeded.
    pub executed: u64,
    /// Views in the feed's dead-letter file.
    pub dead_lettered: u64,
}

impl FeedStats {
    /// The counts now, with the spool's `backlog`.
    pub fn snapshot(&self, backlog: u64) -> FeedCounts {
        FeedCounts {
            queued: self.queued.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            backlog,
            executed: self.executed.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
        }
    }
}

/// Appends to the feed's dead-letter file, one JSON object per line.
#[derive(Debug)]
struct DeadLetters {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl DeadLetters {
    fn write(&self, reason: &str, view: &EdgeView) {
        self.write_value(json!({"reason": reason, "at": Utc::now(), "view": view}));
    }

    fn write_value(&self, value: serde_json::Value) {
        let line = value.to_string();
        let Ok(mut file) = self.file.lock() else {
            return;
        };
        if file.is_none() {
            *file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| tracing::error!(path = %self.path.display(), error = %e, "cannot open the feed's dead-letter file"))
                .ok();
        }
        if let Some(f) = file.as_mut()
            && let Err(e) = writeln!(f, "{line}")
        {
            tracing::error!(error = %e, "cannot write the feed's dead-letter file");
        }
    }
}

/// The queue's sending end and its workers.
#[derive(Debug)]
pub struct Feed {
    sender: Mutex<Option<SyncSender<EdgeView>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    stats: Arc<FeedStats>,
    dead: Arc<DeadLetters>,
    spool: Arc<Spool>,
}

impl Feed {
    /// Starts `workers` threads putting onto `bus`, behind a queue of `capacity` views that
    /// overflows into the spool at `spool`; the dead-letter file is
    /// `dead_letter_dir/serve-feed.jsonl`. Views a previous server left in the spool are run
    /// first. The workers inherit the calling thread's scheduling priority; with
    /// `yield_to_server` they also pause while the machine has less than half a core free of
    /// normal-priority work ([`Backoff`]).
    pub fn start(
        bus: Arc<LocalBus>,
        capacity: usize,
        workers: usize,
        dead_letter_dir: PathBuf,
        spool: &std::path::Path,
        yield_to_server: bool,
    ) -> anyhow::Result<Feed> {
        let subst = BTreeMap::from([("EventBusName".to_owned(), local::BUS_NAME.to_owned())]);
        let machine = Arc::new(
            Definition::load(ENRICH_ASL, &subst, &PutEventsTask::handles)
                .context("cannot load state-machines/enrich.asl.json")?,
        );
        std::fs::create_dir_all(&dead_letter_dir)
            .with_context(|| format!("cannot create {}", dead_letter_dir.display()))?;
        let dead = Arc::new(DeadLetters {
            path: dead_letter_dir.join("serve-feed.jsonl"),
            file: Mutex::new(None),
        });
        let (spool, left) = Spool::open(spool)
            .with_context(|| format!("cannot open the spool {}", spool.display()))?;
        if left > 0 {
            tracing::info!(views = left, path = %spool.path().display(), "spool: page views a previous server left, to be counted now");
        }
        let spool = Arc::new(spool);
        let stats = Arc::new(FeedStats::default());
        let (sender, receiver) = sync_channel::<EdgeView>(capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let worker = Worker {
                bus: Arc::clone(&bus),
                machine: Arc::clone(&machine),
                stats: Arc::clone(&stats),
                dead: Arc::clone(&dead),
                spool: Arc::clone(&spool),
                yield_to_server,
            };
            let receiver = Arc::clone(&receiver);
            let handle = std::thread::Builder::new()
                .name(format!("tally-serve-feed-{i}"))
                .spawn(move || worker.run(&receiver))
                .context("cannot start a pipeline worker")?;
            handles.push(handle);
        }
        Ok(Feed {
            sender: Mutex::new(Some(sender)),
            workers: Mutex::new(handles),
            stats,
            dead,
            spool,
        })
    }

    /// Hands `view` to the pipeline without waiting; a full queue sends it to the spool.
    pub fn send(&self, view: EdgeView) {
        let sent = match self.sender.lock() {
            Ok(s) => match s.as_ref() {
                Some(s) => s.try_send(view),
                None => Err(TrySendError::Disconnected(view)),
            },
            Err(_) => return,
        };
        match sent {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(view)) => match self.spool.push(&view) {
                Ok(()) => {
                    self.stats.spooled.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    let reason = format!("queue full, and the spool cannot take the view: {e}");
                    self.dead.write(&reason, &view);
                }
            },
            Err(TrySendError::Disconnected(view)) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                self.dead.write("the pipeline is shut down", &view);
            }
        }
    }

    /// The counts.
    pub fn stats(&self) -> FeedCounts {
        self.stats.snapshot(self.spool.pending())
    }

    /// Closes the queue and waits until the workers have run every queued and spooled view.
    pub fn close(&self) {
        if let Ok(mut s) = self.sender.lock() {
            s.take();
        }
        let handles = self
            .workers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        for h in handles {
            h.join().ok();
        }
    }
}

/// How long an idle worker waits on the queue before it looks at the spool again.
const IDLE: Duration = Duration::from_millis(100);

/// Spooled views a worker takes at a time.
const SPOOL_BATCH: usize = 64;

/// One pipeline worker.
struct Worker {
    bus: Arc<LocalBus>,
    machine: Arc<Definition>,
    stats: Arc<FeedStats>,
    dead: Arc<DeadLetters>,
    spool: Arc<Spool>,
    /// Whether to yield to the server while the machine is busy (see [`Backoff`]).
    yield_to_server: bool,
}

impl Worker {
    /// Runs queued views, and spooled ones whenever the queue is empty, until the queue is
    /// closed and both are empty.
    fn run(&self, receiver: &Mutex<Receiver<EdgeView>>) {
        let task = PutEventsTask::new(&self.bus);
        let mut backoff = if self.yield_to_server {
            Backoff::new()
        } else {
            Backoff::off()
        };
        loop {
            let wait = if self.spool.pending() > 0 {
                Duration::ZERO
            } else {
                IDLE
            };
            let next = match receiver.lock() {
                Ok(r) => r.recv_timeout(wait),
                Err(_) => return,
            };
            match next {
                Ok(view) => self.execute(&task, &view, &mut backoff),
                Err(RecvTimeoutError::Timeout) => {
                    self.run_spooled(&task, &mut backoff);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Shutting down: the server no longer serves, run the rest at full speed.
                    backoff = Backoff::off();
                    if !self.run_spooled(&task, &mut backoff) {
                        return;
                    }
                }
            }
        }
    }

    /// Runs a batch of spooled views; false when the spool is empty (or unreadable).
    fn run_spooled(&self, task: &PutEventsTask<'_>, backoff: &mut Backoff) -> bool {
        let taken = match self.spool.take(SPOOL_BATCH) {
            Ok(taken) => taken,
            Err(e) => {
                tracing::error!(path = %self.spool.path().display(), error = %e, "cannot read the spool");
                // Not a busy loop on a failing disk: the views stay in the spool for later.
                std::thread::sleep(IDLE);
                return false;
            }
        };
        if taken.is_empty() {
            return false;
        }
        for spooled in taken {
            match spooled {
                Spooled::View(view) => self.execute(task, &view, backoff),
                Spooled::Unreadable { line, reason } => {
                    self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    self.dead.write_value(
                        json!({"reason": format!("spool: {reason}"), "at": Utc::now(), "line": line}),
                    );
                }
            }
        }
        true
    }

    /// Runs one view, after pausing while the machine is busy ([`Backoff::pace`]).
    fn execute(&self, task: &PutEventsTask<'_>, view: &EdgeView, backoff: &mut Backoff) {
        backoff.pace();
        let (stats, dead) = (&self.stats, &self.dead);
        let input = match serde_json::to_value(view) {
            Ok(v) => v,
            Err(e) => {
                stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                dead.write(&format!("cannot serialise the view: {e}"), view);
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
        match self.machine.execute(input, &exec, task, &RealSleeper) {
            ExecutionResult::Succeeded { .. } => {
                stats.executed.fetch_add(1, Ordering::Relaxed);
            }
            ExecutionResult::Failed { error, cause, .. } => {
                stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                dead.write(&format!("enrichment failed: {error}: {cause}"), view);
            }
        }
    }
}
