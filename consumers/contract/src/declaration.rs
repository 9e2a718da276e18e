//! What a consumer declares.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tally_bus::Pattern;
use tally_bus::local::{InputConfig, InputTransformer, RetryPolicy};

/// Everything about one consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Declaration {
    /// The consumer's name: lower-case letters, digits and `-`; it prefixes its rules' names.
    pub name: String,
    /// One line on what it does.
    pub description: String,
    /// Its subscriptions.
    pub rules: Vec<RuleDeclaration>,
}

/// One rule of a consumer, with its one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct RuleDeclaration {
    /// The rule's name within the consumer (`[a-z0-9-]`); the bus rule is `{consumer}-{name}`.
    pub name: String,
    /// The EventBridge event pattern.
    pub pattern: Value,
    /// What receives matching events in the cloud.
    pub target: TargetKind,
    /// `Input`: constant JSON text sent instead of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// `InputPath`: the part of the event sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    /// `InputTransformer`: a template filled from the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    /// The target's retry policy; after it, the event goes to the dead-letter queue (in the
    /// cloud, an SQS queue per target; locally, a JSON-lines file per rule).
    #[serde(default)]
    pub retry: Retry,
}

/// The kind of target a rule has in the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum TargetKind {
    /// A Kinesis Data Firehose delivery stream the deploy stack defines.
    Firehose {
        /// The stream's logical name in the template.
        stream: String,
    },
    /// A Lambda function the deploy stack defines.
    Lambda {
        /// The function's logical name in the template.
        function: String,
    },
    /// An SQS queue the deploy stack defines.
    Sqs {
        /// The queue's logical name in the template.
        queue: String,
    },
}

/// EventBridge's target `RetryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Retry {
    /// `MaximumRetryAttempts`, 0 to 185.
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds`, 60 to 86,400.
    pub maximum_event_age_in_seconds: u32,
}

impl Default for Retry {
    /// EventBridge's defaults: 185 attempts over 24 hours.
    fn default() -> Self {
        Retry {
            maximum_retry_attempts: 185,
            maximum_event_age_in_seconds: 86_400,
        }
    }
}

/// A declaration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// A name breaks the naming rule.
    #[error("consumer {consumer:?}: invalid name {name:?}: use lower-case letters, digits and '-'")]
    Name {
        /// The consumer.
        consumer: String,
        /// The bad name.
        name: String,
    },
    /// A pattern, input or retry policy EventBridge would refuse.
    #[error("consumer {consumer:?}, rule {rule:?}: {message}")]
    Rule {
        /// The consumer.
        consumer: String,
        /// The rule.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// The local bus refused the rules.
    #[error("local bus: {0}")]
    Bus(String),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One rule, checked and compiled.
#[derive(Debug)]
pub(crate) struct CheckedRule {
    pub(crate) bus_name: String,
    pub(crate) pattern: Pattern,
    pub(crate) input: InputConfig,
    pub(crate) retry: RetryPolicy,
}

impl Declaration {
    /// Checks names, patterns, inputs and retry policies the way EventBridge would.
    pub fn validate(&self) -> Result<(), ContractError> {
        self.checked().map(|_| ())
    }

    /// The bus rule names, `{consumer}-{rule}`.
    pub fn rule_names(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| format!("{}-{}", self.name, r.name))
            .collect()
    }

    pub(crate) fn checked(&self) -> Result<Vec<CheckedRule>, ContractError> {
        if !valid_name(&self.name) {
            return Err(ContractError::Name {
                consumer: self.name.clone(),
                name: self.name.clone(),
            });
        }
        let mut out = Vec::new();
        for rule in &self.rules {
            if !valid_name(&rule.name) {
                return Err(ContractError::Name {
                    consumer: self.name.clone(),
                    name: rule.name.clone(),
                });
            }
            let err = |message: String| ContractError::Rule {
                consumer: self.name.clone(),
                rule: rule.name.clone(),
                message,
            };
            let pattern =
                Pattern::from_value(&rule.pattern).map_err(|e| err(format!("pattern: {e}")))?;
            let input = InputConfig::from_api(
                rule.input.as_deref(),
                rule.input_path.as_deref(),
                rule.input_transformer.as_ref(),
            )
            .map_err(|e| err(format!("input: {e}")))?;
            let retry = RetryPolicy::new(
                rule.retry.maximum_retry_attempts,
                rule.retry.maximum_event_age_in_seconds,
            )
            .map_err(|e| err(format!("retry: {e}")))?;
            out.push(CheckedRule {
                bus_name: format!("{}-{}", self.name, rule.name),
                pattern,
                input,
                retry,
            });
        }
        Ok(out)
    }
}
