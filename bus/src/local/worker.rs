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
    pub(crate) fn run(self, queue: Receiver<Job>, _done: Sender<()>) {
        while let Ok(job) = queue.recv() {
            match self.process(&job) {
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
        }
    }

    fn process(&self, job: &Job) -> Outcome {
        let dead =
            |condition, attempts, reason: String, input: Option<&TargetInput>| Outcome::Dead {
                condition,
                attempts,
                reason,
                input: input.map(TargetInput::to_value),
            };
        if self.abandon.is_set() {
            return dead(DeadLetterCondition::Shutdown, 0, shutdown_reason(), None);
        }
        let ctx = RenderContext {
            rule_name: &self.rule,
            rule_arn: &self.rule_arn,
            ingestion_time: &job.ingestion_time,
        };
        let input = match self.target.input.render(&job.event, &ctx) {
            Ok(input) => input,
            Err(e) => {
                let reason = format!("{e}; output was: {}", e.output);
                return dead(DeadLetterCondition::InvalidInput, 0, reason, None);
            }
        };
        let policy = &self.target.retry;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let err = match self.attempt(&input) {
                Ok(()) => return Outcome::Delivered,
                Err(e) => e,
            };
            if err.is_permanent() {
                let condition = DeadLetterCondition::PermanentFailure;
                return dead(condition, attempts, err.message().to_owned(), Some(&input));
            }
            if attempts > policy.maximum_retry_attempts() {
                let condition = DeadLetterCondition::MaximumRetryAttempts;
                return dead(condition, attempts, err.message().to_owned(), Some(&input));
            }
            let delay = policy.delay(attempts);
            if job.accepted.elapsed() + delay > policy.maximum_event_age() {
                let condition = DeadLetterCondition::MaximumEventAge;
                return dead(condition, attempts, err.message().to_owned(), Some(&input));
            }
            if self.abandon.sleep(delay) {
                let reason = format!("{}; last error: {}", shutdown_reason(), err.message());
                return dead(
                    DeadLetterCondition::Shutdown,
                    attempts,
                    reason,
                    Some(&input),
                );
            }
            self.counters.retried.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn attempt(&self, input: &TargetInput) -> Result<(), DeliveryError> {
        match catch_unwind(AssertUnwindSafe(|| self.target.sink.deliver(input))) {
            Ok(result) => result,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Err(DeliveryError::new(format!("target panicked: {msg}")))
            }
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

fn shutdown_reason() -> String {
    "the bus shut down before the event could be delivered".to_owned()
}
