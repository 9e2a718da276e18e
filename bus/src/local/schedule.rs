//! A target's retry schedule: failed deliveries wait here for their next attempt, so the
//! worker goes on with the events behind them.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::error::DeliveryError;
use super::input::TargetInput;
use super::worker::Job;

/// A job between attempts.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) job: Job,
    pub(crate) input: TargetInput,
    /// Attempts made so far.
    pub(crate) attempts: u32,
    /// The last attempt's error.
    pub(crate) last: Option<DeliveryError>,
}

impl Pending {
    /// A job whose first attempt is being made.
    pub(crate) fn first(job: Job, input: TargetInput) -> Self {
        Pending {
            job,
            input,
            attempts: 1,
            last: None,
        }
    }

    /// The same job, one attempt later.
    pub(crate) fn next(self) -> Self {
        Pending {
            attempts: self.attempts + 1,
            ..self
        }
    }
}

struct Entry {
    due: Instant,
    n: u64,
    pending: Pending,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.n) == (other.due, other.n)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.n).cmp(&(other.due, other.n))
    }
}

/// Jobs by the time of their next attempt, earliest first (ties in the order scheduled).
#[derive(Default)]
pub(crate) struct Schedule {
    heap: BinaryHeap<Reverse<Entry>>,
    n: u64,
}

impl Schedule {
    pub(crate) fn push(&mut self, due: Instant, pending: Pending) {
        self.n += 1;
        let n = self.n;
        self.heap.push(Reverse(Entry { due, n, pending }));
    }

    /// The earliest job due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Pending> {
        if self.heap.peek().is_some_and(|e| e.0.due <= now) {
            return self.heap.pop().map(|e| e.0.pending);
        }
        None
    }

    /// Any job, due or not.
    pub(crate) fn pop_any(&mut self) -> Option<Pending> {
        self.heap.pop().map(|e| e.0.pending)
    }

    /// Time until the earliest job is due; `None` when there is none.
    pub(crate) fn wait(&self) -> Option<Duration> {
        let first = self.heap.peek()?;
        Some(first.0.due.saturating_duration_since(Instant::now()))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
