//! One worker thread per target: take events from the target's queue,
//! render the input, deliver with retries, dead-letter what cannot be
//! delivered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use super::dead_letter::{DeadLetterCondition, DeadLetterRecord};
use super::error::DeliveryError;
use super::input::{RenderContext, TargetInput};
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
}

/// Per-target counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    dead_letter_failed: AtomicU64,
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
        }
    }

    pub(crate) fn accept(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn unaccept(&self) {
        self.accepted.fetch_sub(1, Ordering::SeqCst);
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

    fn is_set(&self) -> bool {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `d` unless abandoned first; returns whether abandoned.
    fn sleep(&self, d: Duration) -> bool {
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
    /// Serves the queue until every sender is gone and the queue is empty.
    /// `_done` is dropped on return, which tells the bus this worker finished.
    ///
    /// Takes what is queued, up to the target's `max_batch`, without waiting for more.
    pub(crate) fn run(self, queue: Receiver<Job>, _done: Sender<()>) {
        let max = self.target.max_batch.max(1);
        let mut jobs = Vec::with_capacity(max);
        while let Ok(first) = queue.recv() {
            jobs.push(first);
            while jobs.len() < max {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.process(&jobs);
            jobs.clear();
        }
    }

    /// Renders and delivers `jobs`: together first, then the failed ones one by one under the
    /// retry policy.
    fn process(&self, jobs: &[Job]) {
        if self.abandon.is_set() {
            for job in jobs {
                let outcome = dead(DeadLetterCondition::Shutdown, 0, shutdown_reason(), None);
                self.finish(job, outcome);
            }
            return;
        }
        // Per job, in queue order: the index of its input, or how it already ended.
        let mut slots = Vec::with_capacity(jobs.len());
        let mut inputs = Vec::with_capacity(jobs.len());
        for job in jobs {
            slots.push(match self.render(job) {
                Ok(input) => {
                    inputs.push(input);
                    Ok(inputs.len() - 1)
                }
                Err(outcome) => Err(outcome),
            });
        }
        // One result per input (`attempt_batch` guarantees the count).
        let mut first = match inputs.len() {
            0 => Vec::new(),
            1 => vec![self.attempt(&inputs[0])],
            _ => self.attempt_batch(&inputs),
        };
        for (job, slot) in jobs.iter().zip(slots) {
            let outcome = match slot {
                Ok(i) => {
                    let result = std::mem::replace(&mut first[i], Ok(()));
                    self.retry(job, &inputs[i], result)
                }
                Err(outcome) => outcome,
            };
            self.finish(job, outcome);
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

    /// Takes the first attempt's `result` and retries under the policy until delivered or dead.
    fn retry(&self, job: &Job, input: &TargetInput, first: Result<(), DeliveryError>) -> Outcome {
        let policy = &self.target.retry;
        let mut attempts: u32 = 1;
        let mut result = first;
        loop {
            let err = match result {
                Ok(()) => return Outcome::Delivered,
                Err(e) => e,
            };
            if err.is_permanent() {
                let condition = DeadLetterCondition::PermanentFailure;
                return dead(condition, attempts, err.message().to_owned(), Some(input));
            }
            if attempts > policy.maximum_retry_attempts() {
                let condition = DeadLetterCondition::MaximumRetryAttempts;
                return dead(condition, attempts, err.message().to_owned(), Some(input));
            }
            let delay = policy.delay(attempts);
            if job.accepted.elapsed() + delay > policy.maximum_event_age() {
                let condition = DeadLetterCondition::MaximumEventAge;
                return dead(condition, attempts, err.message().to_owned(), Some(input));
            }
            if self.abandon.sleep(delay) {
                let reason = format!("{}; last error: {}", shutdown_reason(), err.message());
                return dead(DeadLetterCondition::Shutdown, attempts, reason, Some(input));
            }
            self.counters.retried.fetch_add(1, Ordering::SeqCst);
            attempts += 1;
            result = self.attempt(input);
        }
    }

    fn finish(&self, job: &Job, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => {
                self.counters.delivered.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::Dead {
                condition,
                attempts,
                reason,
                input,
            } => self.dead_letter(job, condition, attempts, reason, input),
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
