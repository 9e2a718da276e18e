//! Targets: where matched events go, and how.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::dead_letter::{DeadLetter, StderrDeadLetter};
use super::error::DeliveryError;
use super::input::{InputConfig, TargetInput};
use super::retry::RetryPolicy;

/// A delivery sink, supplied by the caller (an SQS client, a Step Functions
/// runner, a channel in tests...).
///
/// `deliver` runs on the target's own worker thread; it may block. Return
/// [`DeliveryError::new`] for failures worth retrying and
/// [`DeliveryError::permanent`] for those that are not. A panic counts as a
/// retryable failure.
pub trait Deliver: Send + Sync + 'static {
    /// Delivers one input.
    fn deliver(&self, input: &TargetInput) -> Result<(), DeliveryError>;

    /// Delivers several inputs that were waiting together in the target's queue (at most
    /// [`Target::max_batch`]), returning one result per input, in order. The default delivers
    /// them one by one; a sink that can do better (one transaction, one fsync) overrides it.
    /// Inputs that fail are retried one by one with [`Deliver::deliver`], under the target's
    /// retry policy; a panic, or a result count that differs from the input count, fails the
    /// whole batch (so some inputs may be delivered twice, as EventBridge may).
    fn deliver_batch(&self, inputs: &[TargetInput]) -> Vec<Result<(), DeliveryError>> {
        inputs.iter().map(|input| self.deliver(input)).collect()
    }
}

impl<F> Deliver for F
where
    F: Fn(&TargetInput) -> Result<(), DeliveryError> + Send + Sync + 'static,
{
    fn deliver(&self, input: &TargetInput) -> Result<(), DeliveryError> {
        self(input)
    }
}

/// A rule target: id, input processing, sink, retry policy, dead-letter
/// destination and queue capacity.
#[derive(Clone)]
pub struct Target {
    pub(crate) id: String,
    pub(crate) input: InputConfig,
    pub(crate) sink: Arc<dyn Deliver>,
    pub(crate) retry: RetryPolicy,
    pub(crate) dead_letter: Arc<dyn DeadLetter>,
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) spill: Option<PathBuf>,
}

impl Target {
    /// Queue capacity unless set with [`Target::queue_capacity`].
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

    /// Inputs handed to [`Deliver::deliver_batch`] at once, at most, unless set with
    /// [`Target::max_batch`].
    pub const DEFAULT_MAX_BATCH: usize = 64;

    /// A target that receives the whole event, with the default retry policy,
    /// dead letters written to stderr ([`StderrDeadLetter`]) and a queue of
    /// [`Target::DEFAULT_QUEUE_CAPACITY`] events.
    pub fn new(id: impl Into<String>, sink: impl Deliver) -> Target {
        Target::with_sink(id, Arc::new(sink))
    }

    /// Like [`Target::new`], with a shared sink.
    pub fn with_sink(id: impl Into<String>, sink: Arc<dyn Deliver>) -> Target {
        Target {
            id: id.into(),
            input: InputConfig::Event,
            sink,
            retry: RetryPolicy::default(),
            dead_letter: Arc::new(StderrDeadLetter),
            queue_capacity: Target::DEFAULT_QUEUE_CAPACITY,
            max_batch: Target::DEFAULT_MAX_BATCH,
            spill: None,
        }
    }

    /// Sets how the input is produced (`Input`, `InputPath`, `InputTransformer`).
    pub fn input(mut self, input: InputConfig) -> Target {
        self.input = input;
        self
    }

    /// Sets the retry policy.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Target {
        self.retry = retry;
        self
    }

    /// Sets the dead-letter destination, e.g. a
    /// [`JsonJournal`](super::JsonJournal) (which may be shared).
    pub fn dead_letter(mut self, dead_letter: Arc<dyn DeadLetter>) -> Target {
        self.dead_letter = dead_letter;
        self
    }

    /// Sets how many events may wait for this target before `put` blocks.
    pub fn queue_capacity(mut self, capacity: usize) -> Target {
        self.queue_capacity = capacity;
        self
    }

    /// Sets how many queued inputs the worker hands to [`Deliver::deliver_batch`] at once, at
    /// most (1: one at a time). The worker never waits to fill a batch: it takes what is queued.
    pub fn max_batch(mut self, max: usize) -> Target {
        self.max_batch = max.max(1);
        self
    }

    /// Sends events that find the queue full to an overflow journal in `dir` (created; locked
    /// while the bus runs; what a killed process left there is delivered first), so a put never
    /// waits on this target. Without one, a put waits for room.
    pub fn spill_to(mut self, dir: impl Into<PathBuf>) -> Target {
        self.spill = Some(dir.into());
        self
    }

    /// The target id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("id", &self.id)
            .field("input", &self.input)
            .field("retry", &self.retry)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("spill", &self.spill)
            .finish_non_exhaustive()
    }
}
