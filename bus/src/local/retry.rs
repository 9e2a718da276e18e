//! Retry policy: EventBridge's `RetryPolicy` plus a local backoff schedule.

use std::time::Duration;

use super::error::ConfigError;

/// When to give up on a target, and how long to wait between attempts.
///
/// `maximum_retry_attempts` (0..=185) and `maximum_event_age` (60..=86400
/// seconds) are EventBridge's `RetryPolicy` fields, with its defaults (185,
/// 24 hours). EventBridge's backoff schedule is not published ("exponential
/// back off and jitter"); locally the delay before retry *n* (1-based) is
/// `base_delay * factor^(n-1)`, capped at `max_delay`, without jitter, so
/// tests are deterministic. Defaults: 1 s, factor 2, at most 60 s.
///
/// The event age counts from when the bus accepted the event. A retry that
/// would start after the maximum age is not attempted: the event is
/// dead-lettered at once.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    maximum_retry_attempts: u32,
    maximum_event_age: Duration,
    base_delay: Duration,
    factor: f64,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: 185,
            maximum_event_age: Duration::from_secs(86_400),
            base_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// EventBridge's `MaximumRetryAttempts` (0..=185) and
    /// `MaximumEventAgeInSeconds` (60..=86400), with the default backoff.
    pub fn new(
        maximum_retry_attempts: u32,
        maximum_event_age_in_seconds: u32,
    ) -> Result<RetryPolicy, ConfigError> {
        if maximum_retry_attempts > 185 {
            return Err(ConfigError::InvalidRetryPolicy(format!(
                "maximum retry attempts must be between 0 and 185, got {maximum_retry_attempts}"
            )));
        }
        if !(60..=86_400).contains(&maximum_event_age_in_seconds) {
            return Err(ConfigError::InvalidRetryPolicy(format!(
                "maximum event age must be between 60 and 86400 seconds, got {maximum_event_age_in_seconds}"
            )));
        }
        Ok(RetryPolicy {
            maximum_retry_attempts,
            maximum_event_age: Duration::from_secs(u64::from(maximum_event_age_in_seconds)),
            ..RetryPolicy::default()
        })
    }

    /// Sets the local backoff: first delay, growth factor (at least 1) and cap.
    pub fn with_backoff(
        mut self,
        base_delay: Duration,
        factor: f64,
        max_delay: Duration,
    ) -> Result<RetryPolicy, ConfigError> {
        if !factor.is_finite() || factor < 1.0 {
            return Err(ConfigError::InvalidRetryPolicy(format!(
                "backoff factor must be a finite number of at least 1, got {factor}"
            )));
        }
        if max_delay < base_delay {
            return Err(ConfigError::InvalidRetryPolicy(
                "maximum delay must not be less than the base delay".to_owned(),
            ));
        }
        self.base_delay = base_delay;
        self.factor = factor;
        self.max_delay = max_delay;
        Ok(self)
    }

    /// Retries after the first attempt.
    pub fn maximum_retry_attempts(&self) -> u32 {
        self.maximum_retry_attempts
    }

    /// How long after acceptance an event may still be retried.
    pub fn maximum_event_age(&self) -> Duration {
        self.maximum_event_age
    }

    /// The wait before retry `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.base_delay.as_secs_f64() * self.factor.powi(exp);
        if !secs.is_finite() || secs >= self.max_delay.as_secs_f64() {
            return self.max_delay;
        }
        Duration::try_from_secs_f64(secs).unwrap_or(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn validates_ranges_and_backs_off() {
        assert!(RetryPolicy::new(186, 60).is_err());
        assert!(RetryPolicy::new(0, 59).is_err());
        assert!(RetryPolicy::new(0, 86_401).is_err());
        let p = RetryPolicy::new(3, 60)
            .unwrap()
            .with_backoff(Duration::from_millis(10), 2.0, Duration::from_millis(35))
            .unwrap();
        assert_eq!(p.delay(1), Duration::from_millis(10));
        assert_eq!(p.delay(2), Duration::from_millis(20));
        assert_eq!(p.delay(3), Duration::from_millis(35));
        assert_eq!(p.delay(u32::MAX), Duration::from_millis(35));
        assert!(
            p.clone()
                .with_backoff(Duration::ZERO, 0.5, Duration::ZERO)
                .is_err()
        );
    }
}
