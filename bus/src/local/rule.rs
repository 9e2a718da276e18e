//! Rules: a name, an event pattern and up to five targets.

use crate::Pattern;

use super::error::ConfigError;
use super::target::Target;

/// EventBridge's quota of targets per rule.
pub const MAX_TARGETS_PER_RULE: usize = 5;

/// A rule: events matching `pattern` go to every target.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) pattern: Pattern,
    pub(crate) targets: Vec<Target>,
}

impl Rule {
    /// A rule with no targets yet.
    pub fn new(name: impl Into<String>, pattern: Pattern) -> Rule {
        Rule {
            name: name.into(),
            pattern,
            targets: Vec::new(),
        }
    }

    /// Adds a target.
    pub fn target(mut self, target: Target) -> Rule {
        self.targets.push(target);
        self
    }

    /// The rule name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Checks the name, target ids, target count and queue capacities.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !valid_name(&self.name) {
            return Err(ConfigError::InvalidRuleName(self.name.clone()));
        }
        if self.targets.len() > MAX_TARGETS_PER_RULE {
            return Err(ConfigError::TooManyTargets {
                rule: self.name.clone(),
                count: self.targets.len(),
            });
        }
        for (i, t) in self.targets.iter().enumerate() {
            if !valid_name(&t.id) {
                return Err(ConfigError::InvalidTargetId {
                    rule: self.name.clone(),
                    target: t.id.clone(),
                });
            }
            if self.targets[..i].iter().any(|o| o.id == t.id) {
                return Err(ConfigError::DuplicateTarget {
                    rule: self.name.clone(),
                    target: t.id.clone(),
                });
            }
            if t.queue_capacity == 0 {
                return Err(ConfigError::ZeroCapacity {
                    rule: self.name.clone(),
                    target: t.id.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Rule names and target ids: `[\.\-_A-Za-z0-9]+`, 1 to 64 characters.
pub(crate) fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}
