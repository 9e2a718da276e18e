//! Errors of the local bus.

use thiserror::Error;

use super::input::InputError;

/// A bus, rule or target configuration was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A target's overflow journal cannot be opened.
    #[error("cannot open an overflow journal: {0}")]
    Spill(String),
    /// A bad bus name, account or region.
    #[error("invalid bus config: {0}")]
    InvalidBus(String),
    /// A rule name outside `[.\-_A-Za-z0-9]{1,64}`.
    #[error("invalid rule name {0:?}: must be 1 to 64 characters from [.-_A-Za-z0-9]")]
    InvalidRuleName(String),
    /// Two rules with one name.
    #[error("duplicate rule name {0:?}")]
    DuplicateRule(String),
    /// A target id outside `[.\-_A-Za-z0-9]{1,64}`.
    #[error(
        "rule {rule:?}: invalid target id {target:?}: must be 1 to 64 characters from [.-_A-Za-z0-9]"
    )]
    InvalidTargetId {
        /// The rule.
        rule: String,
        /// The id as given.
        target: String,
    },
    /// Two targets with one id in a rule.
    #[error("rule {rule:?}: duplicate target id {target:?}")]
    DuplicateTarget {
        /// The rule.
        rule: String,
        /// The repeated id.
        target: String,
    },
    /// More than 5 targets on a rule (EventBridge's quota).
    #[error("rule {rule:?} has {count} targets; at most 5 are allowed")]
    TooManyTargets {
        /// The rule.
        rule: String,
        /// How many were given.
        count: usize,
    },
    /// A queue capacity of 0.
    #[error("rule {rule:?}, target {target:?}: queue capacity must be at least 1")]
    ZeroCapacity {
        /// The rule.
        rule: String,
        /// The target.
        target: String,
    },
    /// A retry policy value out of range.
    #[error("invalid retry policy: {0}")]
    InvalidRetryPolicy(String),
    /// An invalid target input configuration.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A worker thread could not be started.
    #[error("could not start a worker thread: {0}")]
    Spawn(String),
}

/// An envelope could not be put on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BusError {
    /// `shutdown` has been called; no new events are accepted.
    #[error("the bus has been shut down")]
    ShutDown,
    /// The envelope is not a JSON object.
    #[error("the event envelope must be a json object")]
    NotAnObject,
}

/// A PutEvents request failed as a whole (the API's `ValidationException`),
/// as opposed to per-entry failures, which are in the response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PutEventsError {
    /// The request breaks an API constraint; the message is the API's.
    #[error("validation exception: {0}")]
    Validation(String),
    /// The bus has been shut down.
    #[error("the bus has been shut down")]
    ShutDown,
}

/// A target could not take an input. Retryable unless made with
/// [`DeliveryError::permanent`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct DeliveryError {
    message: String,
    permanent: bool,
}

impl DeliveryError {
    /// A failure worth retrying (timeouts, throttling, a target that is down).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure that retrying cannot fix (EventBridge's example: missing
    /// permissions, or a target that no longer exists). The event goes to the
    /// dead-letter destination at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the event should be dead-lettered without retries.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
}
