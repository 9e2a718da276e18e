//! One worker thread per target: take events from the target's queue,
//! render the input, deliver with retries, dead-letter what cannot be
//! delivered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use super::Ticket;
use super::dead_letter::{DeadLetterCondition, DeadLetterRecord};
use super::error::DeliveryError;
use super::input::{RenderContext, TargetInput};
use super::schedule::{Pending, Schedule};
use super::spill::Spill;
use super::target::Target;
use super::time::format_rfc3339;

/// An accepted event waiting for one target.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) event: Arc<Value>,
    /// RFC 3339 time the bus accepted the event.
    pub(crate) ingestion_time: Arc<str>,
    /// The same moment, for the maximum-event-age check.
    pub(crate) accepted: Instant,
    /// The put's ticket: released (dropped) when this job ends.
    pub(crate) _ticket: Option<Ticket>,
    /// Its record in the target's overflow journal, acknowledged when the job ends.
    pub(crate) spilled: Option<u64>,
}

/// Per-target counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    dead_letter_failed: AtomicU64,
    spilled: AtomicU64,
}

/// A snapshot of one target's counters.
///
/// Every accepted event ends up in exactly one of `delivered`,
/// `dead_lettered` and `dead_letter_failed` (the dead-letter destination
/// failed too; the record was logged to stderr). `retried` counts retries,
/// not events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TargetStats {
    /// Events queued for the target.
    pub accepted: u64,
    /// Events the sink took.
    pub delivered: u64,
    /// Retries after failed attempts.
    pub retried: u64,
    /// Events written to the dead-letter destination.
    pub dead_lettered: u64,
    /// Events whose dead-letter write failed (logged to stderr instead).
    pub dead_letter_failed: u64,
    /// Events that found the queue full and waited in the target's overflow journal instead.
    pub spilled: u64,
}

impl TargetStats {
    /// Events accepted but not yet delivered or dead-lettered.
    pub fn pending(&self) -> u64 {
        self.accepted
            .saturating_sub(self.delivered + self.dead_lettered + self.dead_letter_failed)
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> TargetStats {
        TargetStats {
            accepted: self.accepted.load(Ordering::SeqCst),
            delivered: self.delivered.load(Ordering::SeqCst),
            retried: self.retried.load(Ordering::SeqCst),
            dead_lettered: self.dead_lettered.load(Ordering::SeqCst),
            dead_letter_failed: self.dead_letter_failed.load(Ordering::SeqCst),
            spilled: self.spilled.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn accept(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn unaccept(&self) {
        self.accepted.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn spill(&self) {
        self.spilled.fetch_add(1, Ordering::SeqCst);
    }
}

/// Set by a time-limited shutdown: stop retrying, dead-letter the rest.
#[derive(Debug, Default)]
pub(crate) struct Abandon {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Abandon {
    pub(crate) fn set(&self) {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }

    pub(crate) fn is_set(&self) -> bool {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `d` unless abandoned first; returns whether abandoned.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let guard = self.flag.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, d, |abandoned| !*abandoned)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// Everything a worker needs about its target.
pub(crate) struct Worker {
    pub(crate) bus: String,
    pub(crate) rule: String,
    pub(crate) rule_arn: String,
    pub(crate) target: Target,
    pub(crate) counters: Arc<Counters>,
    pub(crate) abandon: Arc<Abandon>,
    /// The target's overflow journal, if it has one.
    pub(crate) spill: Option<Arc<Spill>>,
}

/// How one event ended.
enum Outcome {
    Delivered,
    Dead {
        condition: DeadLetterCondition,
        attempts: u32,
        reason: String,
        input: Option<Value>,
    },
}

impl Worker {
    /// Serves the queue (and the overflow journal, when the queue is empty) until every sender
    /// is gone and nothing is left, retries included. `_done` is dropped on return, which tells
    /// the bus this worker finished.
    ///
    /// Takes what is queued, up to the target's `max_batch`, without waiting for more. A failed
    /// delivery waits for its retry in the worker's schedule, not in the worker: the events
    /// after it go on being delivered meanwhile.
    pub(crate) fn run(self, queue: Receiver<Job>, _done: Sender<()>) {
        let mut retries = Schedule::default();
        let mut open = true;
        // At most a queue's worth of events wait for a retry in memory; beyond, new events stay
        // in the queue and the overflow journal until retries clear.
        let room = self.target.queue_capacity.max(1);
        loop {
            self.run_due(&mut retries);
            if retries.len() >= room {
                if self.abandon.sleep(retries.wait().unwrap_or_default()) {
                    self.abandon_all(&mut retries);
                }
                continue;
            }
            let wait = retries.wait();
            let jobs = match self.next_batch(&queue, &mut open, wait) {
                Some(jobs) => jobs,
                None if retries.is_empty() => return,
                None => {
                    // Closed, and only retries left: wait for the next one (or the abandon).
                    if self.abandon.sleep(retries.wait().unwrap_or_default()) {
                        self.abandon_all(&mut retries);
                    }
                    continue;
                }
            };
            self.process(jobs, &mut retries);
        }
    }

    /// The next jobs: queued ones first, then the overflow journal's; waits up to `wait` (for
    /// ever with `None`) while both are empty and the queue is open. `None`: closed and empty.
    fn next_batch(
        &self,
        queue: &Receiver<Job>,
        open: &mut bool,
        wait: Option<Duration>,
    ) -> Option<Vec<Job>> {
        let max = self.target.max_batch.max(1);
        let mut jobs = Vec::with_capacity(max);
        if *open {
            let first = match (self.spill_pending(), wait) {
                (true, _) => queue
                    .try_recv()
                    .map_err(|e| e == TryRecvError::Disconnected),
                (false, None) => queue.recv().map_err(|_| true),
                (false, Some(w)) => queue
                    .recv_timeout(w)
                    .map_err(|e| e == RecvTimeoutError::Disconnected),
            };
            match first {
                Ok(job) => jobs.push(job),
                Err(disconnected) => *open = !disconnected,
            }
            while !jobs.is_empty() && jobs.len() < max {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        if jobs.is_empty()
            && let Some(spill) = &self.spill
        {
            jobs = spill.take(max, &mut |reason| self.dead_letter_unreadable(reason));
        }
        if jobs.is_empty() && !*open {
            return None;
        }
        Some(jobs)
    }

    fn spill_pending(&self) -> bool {
        self.spill.as_ref().is_some_and(|s| s.pending())
    }

    /// Renders and delivers `jobs` together; what fails retryably goes to the schedule.
    fn process(&self, jobs: Vec<Job>, retries: &mut Schedule) {
        if self.abandon.is_set() {
            for job in jobs {
                let outcome = dead(DeadLetterCondition::Shutdown, 0, shutdown_reason(), None);
                self.finish(job, outcome);
            }
            self.abandon_all(retries);
            return;
        }
        // Per job, in queue order: its input, or how it already ended.
        let rendered: Vec<(Job, Result<TargetInput, Outcome>)> = jobs
            .into_iter()
            .map(|job| {
                let input = self.render(&job);
                (job, input)
            })
            .collect();
        let inputs: Vec<&TargetInput> = rendered
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .collect();
        let mut results = match inputs.len() {
            0 => Vec::new(),
            1 => vec![self.attempt(inputs[0])],
            _ => {
                let owned: Vec<TargetInput> = inputs.into_iter().cloned().collect();
                self.attempt_batch(&owned)
            }
        }
        .into_iter();
        for (job, input) in rendered {
            match input {
                Ok(input) => {
                    let result = results.next().unwrap_or(Ok(()));
                    self.settle(Pending::first(job, input), result, retries);
                }
                Err(outcome) => self.finish(job, outcome),
            }
        }
    }

    /// Attempts every retry that is due.
    fn run_due(&self, retries: &mut Schedule) {
        if self.abandon.is_set() {
            self.abandon_all(retries);
            return;
        }
        while let Some(pending) = retries.pop_due(Instant::now()) {
            self.counters.retried.fetch_add(1, Ordering::SeqCst);
            let result = self.attempt(&pending.input);
            self.settle(pending.next(), result, retries);
        }
    }

    /// Ends `pending` after an attempt with `result`, or schedules its next retry under the
    /// policy.
    fn settle(&self, pending: Pending, result: Result<(), DeliveryError>, retries: &mut Schedule) {
        let err = match result {
            Ok(()) => return self.finish(pending.job, Outcome::Delivered),
            Err(e) => e,
        };
        let (policy, attempts) = (&self.target.retry, pending.attempts);
        let condition = if err.is_permanent() {
            Some(DeadLetterCondition::PermanentFailure)
        } else if attempts > policy.maximum_retry_attempts() {
            Some(DeadLetterCondition::MaximumRetryAttempts)
        } else if pending.job.accepted.elapsed() + policy.delay(attempts)
            > policy.maximum_event_age()
        {
            Some(DeadLetterCondition::MaximumEventAge)
        } else {
            None
        };
        match condition {
            Some(c) => {
                let outcome = dead(c, attempts, err.message().to_owned(), Some(&pending.input));
                self.finish(pending.job, outcome);
            }
            None => {
                let due = Instant::now() + policy.delay(attempts);
                retries.push(
                    due,
                    Pending {
                        last: Some(err),
                        ..pending
                    },
                );
            }
        }
    }

    /// A time-limited shutdown gave up: every scheduled retry is dead-lettered.
    fn abandon_all(&self, retries: &mut Schedule) {
        while let Some(p) = retries.pop_any() {
            let last = p.last.as_ref().map_or("", DeliveryError::message);
            let reason = format!("{}; last error: {last}", shutdown_reason());
            let outcome = dead(
                DeadLetterCondition::Shutdown,
                p.attempts,
                reason,
                Some(&p.input),
            );
            self.finish(p.job, outcome);
        }
    }

    fn render(&self, job: &Job) -> Result<TargetInput, Outcome> {
        let ctx = RenderContext {
            rule_name: &self.rule,
            rule_arn: &self.rule_arn,
            ingestion_time: &job.ingestion_time,
        };
        self.target.input.render(&job.event, &ctx).map_err(|e| {
            let reason = format!("{e}; output was: {}", e.output);
            dead(DeadLetterCondition::InvalidInput, 0, reason, None)
        })
    }

    /// Ends `job`: counted, its overflow record acknowledged, its ticket released.
    fn finish(&self, job: Job, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => {
                self.counters.delivered.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::Dead {
                condition,
                attempts,
                reason,
                input,
            } => self.dead_letter(&job, condition, attempts, reason, input),
        }
        if let (Some(seq), Some(spill)) = (job.spilled, &self.spill) {
            spill.ack(seq);
        }
    }

    fn attempt(&self, input: &TargetInput) -> Result<(), DeliveryError> {
        match catch_unwind(AssertUnwindSafe(|| self.target.sink.deliver(input))) {
            Ok(result) => result,
            Err(panic) => Err(panicked(&*panic)),
        }
    }

    fn attempt_batch(&self, inputs: &[TargetInput]) -> Vec<Result<(), DeliveryError>> {
        let n = inputs.len();
        let all = |e: DeliveryError| (0..n).map(|_| Err(e.clone())).collect();
        match catch_unwind(AssertUnwindSafe(|| self.target.sink.deliver_batch(inputs))) {
            Ok(results) if results.len() == n => results,
            Ok(results) => all(DeliveryError::new(format!(
                "target returned {} results for a batch of {n} inputs",
                results.len()
            ))),
            Err(panic) => all(panicked(&*panic)),
        }
    }

    fn dead_letter(
        &self,
        job: &Job,
        condition: DeadLetterCondition,
        attempts: u32,
        reason: String,
        input: Option<Value>,
    ) {
        let record = DeadLetterRecord {
            time: format_rfc3339(SystemTime::now()),
            bus: self.bus.clone(),
            rule: self.rule.clone(),
            rule_arn: self.rule_arn.clone(),
            target: self.target.id.clone(),
            attempts,
            condition,
            reason,
            ingestion_time: job.ingestion_time.to_string(),
            event: (*job.event).clone(),
            input,
        };
        let written = catch_unwind(AssertUnwindSafe(|| self.target.dead_letter.write(&record)))
            .unwrap_or_else(|_| Err(std::io::Error::other("dead-letter destination panicked")));
        match written {
            Ok(()) => {
                self.counters.dead_lettered.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                self.counters
                    .dead_letter_failed
                    .fetch_add(1, Ordering::SeqCst);
                let line =
                    serde_json::to_string(&record).unwrap_or_else(|_| format!("{:?}", record));
                eprintln!(
                    "tally-bus: could not write dead letter for rule {:?}, target {:?}: {e}; record: {line}",
                    self.rule, self.target.id
                );
            }
        }
    }
}

impl Worker {
    /// Something in the overflow journal that is not an event: kept in the dead letters.
    fn dead_letter_unreadable(&self, reason: String) {
        let now = format_rfc3339(SystemTime::now());
        let job = Job {
            event: Arc::new(Value::Null),
            ingestion_time: now.into(),
            accepted: Instant::now(),
            _ticket: None,
            spilled: None,
        };
        self.dead_letter(&job, DeadLetterCondition::InvalidInput, 0, reason, None);
    }
}

fn dead(
    condition: DeadLetterCondition,
    attempts: u32,
    reason: String,
    input: Option<&TargetInput>,
) -> Outcome {
    Outcome::Dead {
        condition,
        attempts,
        reason,
        input: input.map(TargetInput::to_value),
    }
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> DeliveryError {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    DeliveryError::new(format!("target panicked: {msg}"))
}

fn shutdown_reason() -> String {
    "the bus shut down before the event could be delivered".to_owned()
}
