//! The pipeline feed: page views leave the request path through a bounded queue to worker
//! threads, each running the enrichment state machine (`state-machines/enrich.asl.json`) with its
//! `events:putEvents` task onto the local bus, where every declared consumer takes them.
//!
//! The response never waits on the pipeline. When the queue is full the view is not dropped: it
//! is appended to `DATA/dead-letters/serve-feed.jsonl` with the reason, and counted. An execution
//! that fails (after the state machine's own dead-letter path) is written there too.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use tally_bus::local::LocalBus;
use tally_edge::EdgeView;
use tally_states::{Definition, ExecutionContext, ExecutionResult, RealSleeper};

use crate::local::{self, PutEventsTask};

/// The enrichment state machine's definition.
pub const ENRICH_ASL: &str = include_str!("../../state-machines/enrich.asl.json");

/// The feed's counts.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Page views handed to the queue.
    pub queued: AtomicU64,
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
    /// Executions that succeeded.
    pub executed: u64,
    /// Views in the feed's dead-letter file.
    pub dead_lettered: u64,
}

impl FeedStats {
    /// The counts now.
    pub fn snapshot(&self) -> FeedCounts {
        FeedCounts {
            queued: self.queued.load(Ordering::Relaxed),
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
        let line = json!({"reason": reason, "at": Utc::now(), "view": view}).to_string();
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
}

impl Feed {
    /// Starts `workers` threads putting onto `bus`, behind a queue of `capacity` views; the
    /// dead-letter file is `dead_letter_dir/serve-feed.jsonl`.
    pub fn start(
        bus: Arc<LocalBus>,
        capacity: usize,
        workers: usize,
        dead_letter_dir: PathBuf,
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
        let stats = Arc::new(FeedStats::default());
        let (sender, receiver) = sync_channel::<EdgeView>(capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let (bus, machine, receiver, stats, dead) = (
                Arc::clone(&bus),
                Arc::clone(&machine),
                Arc::clone(&receiver),
                Arc::clone(&stats),
                Arc::clone(&dead),
            );
            let handle = std::thread::Builder::new()
                .name(format!("tally-serve-feed-{i}"))
                .spawn(move || work(&bus, &machine, &receiver, &stats, &dead))
                .context("cannot start a pipeline worker")?;
            handles.push(handle);
        }
        Ok(Feed {
            sender: Mutex::new(Some(sender)),
            workers: Mutex::new(handles),
            stats,
            dead,
        })
    }

    /// Hands `view` to the pipeline without waiting; a full queue sends it to the dead letters.
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
            Err(TrySendError::Full(view)) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                self.dead.write("queue full: the pipeline is behind", &view);
            }
            Err(TrySendError::Disconnected(view)) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                self.dead.write("the pipeline is shut down", &view);
            }
        }
    }

    /// The counts.
    pub fn stats(&self) -> FeedCounts {
        self.stats.snapshot()
    }

    /// Closes the queue and waits until the workers have run every queued view.
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

fn work(
    bus: &LocalBus,
    machine: &Definition,
    receiver: &Mutex<Receiver<EdgeView>>,
    stats: &FeedStats,
    dead: &DeadLetters,
) {
    let task = PutEventsTask::new(bus);
    loop {
        let next = match receiver.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(view) = next else {
            return;
        };
        let input = match serde_json::to_value(&view) {
            Ok(v) => v,
            Err(e) => {
                stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                dead.write(&format!("cannot serialise the view: {e}"), &view);
                continue;
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
        match machine.execute(input, &exec, &task, &RealSleeper) {
            ExecutionResult::Succeeded { .. } => {
                stats.executed.fetch_add(1, Ordering::Relaxed);
            }
            ExecutionResult::Failed { error, cause, .. } => {
                stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                dead.write(&format!("enrichment failed: {error}: {cause}"), &view);
            }
        }
    }
}
