//! The local side: a consumer's implementation, and its rules on the local bus.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tally_bus::local::{Deliver, DeliveryError, JsonJournal, Rule, Target, TargetInput};

use crate::{ContractError, Declaration};

/// A consumer's local implementation.
pub trait LocalConsumer: Send + Sync + 'static {
    /// Its declaration.
    fn declaration(&self) -> Declaration;

    /// Handles one input from the rule named `rule` (the declaration's rule name). Must be
    /// idempotent: the bus delivers at least once, so the same event may come again.
    fn handle(&self, rule: &str, input: &TargetInput) -> Result<(), DeliveryError>;

    /// Handles several inputs of the rule `rule` that were queued together, returning one
    /// result per input, in order. The default calls [`LocalConsumer::handle`] for each; a
    /// consumer that can commit a batch at once (one transaction, one fsync) overrides it. What
    /// fails is retried alone, through `handle`.
    fn handle_batch(&self, rule: &str, inputs: &[TargetInput]) -> Vec<Result<(), DeliveryError>> {
        inputs
            .iter()
            .map(|input| self.handle(rule, input))
            .collect()
    }

    /// Makes everything accepted durable (called on shutdown, after the bus has drained).
    fn flush(&self) -> Result<(), FlushError> {
        Ok(())
    }
}

/// What [`LocalConsumer::flush`] could not make durable: the consumer's own error, kept whole.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct FlushError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl FlushError {
    /// The consumer's error `e`.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        FlushError(Box::new(e))
    }
}

/// The local bus rules for `consumer`, from its declaration: one rule per declared rule, with its
/// input processing and retry policy, a dead-letter journal `{dead_letters}/{bus rule}/`, and,
/// with `spill`, an overflow journal `{spill}/{bus rule}/` that takes what the target's queue
/// cannot (so a put never waits on this consumer).
///
/// Locally, retries back off from 100 ms (doubling, at most 30 s) rather than EventBridge's
/// unpublished schedule, within the declared attempts and event age.
pub fn local_rules(
    consumer: Arc<dyn LocalConsumer>,
    dead_letters: &Path,
    spill: Option<&Path>,
) -> Result<Vec<Rule>, ContractError> {
    let declaration = consumer.declaration();
    let checked = declaration.checked()?;
    let mut rules = Vec::new();
    for (decl, rule) in declaration.rules.iter().zip(checked) {
        let path = dead_letters.join(&rule.bus_name);
        let dead_letter =
            JsonJournal::open(&path).map_err(|e| ContractError::Bus(e.to_string()))?;
        let retry = rule
            .retry
            .with_backoff(Duration::from_millis(100), 2.0, Duration::from_secs(30))
            .map_err(|e| ContractError::Bus(e.to_string()))?;
        let sink = ConsumerSink {
            consumer: Arc::clone(&consumer),
            rule: decl.name.clone(),
        };
        let mut target = Target::new(&declaration.name, sink)
            .input(rule.input)
            .retry_policy(retry)
            .dead_letter(Arc::new(dead_letter));
        if let Some(spill) = spill {
            target = target.spill_to(spill.join(&rule.bus_name));
        }
        rules.push(Rule::new(rule.bus_name, rule.pattern).target(target));
    }
    Ok(rules)
}

/// One consumer rule's bus sink: single inputs to `handle`, batches to `handle_batch`.
struct ConsumerSink {
    consumer: Arc<dyn LocalConsumer>,
    rule: String,
}

impl Deliver for ConsumerSink {
    fn deliver(&self, input: &TargetInput) -> Result<(), DeliveryError> {
        self.consumer.handle(&self.rule, input)
    }

    fn deliver_batch(&self, inputs: &[TargetInput]) -> Vec<Result<(), DeliveryError>> {
        self.consumer.handle_batch(&self.rule, inputs)
    }
}
