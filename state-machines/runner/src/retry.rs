//! `Retry` and `Catch`, and the injectable clock that retries sleep on.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{STATES_ALL, error_matches};
use crate::intrinsics::random_u64;
use crate::path::Path;

/// The clock an execution reads (`$$.State.EnteredTime`) and sleeps on
/// (between retries). Use [`RealSleeper`] to really wait, [`RecordingSleeper`]
/// in tests.
pub trait Sleeper: Send + Sync {
    /// Waits for `delay`.
    fn sleep(&self, delay: Duration);
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// Sleeps the thread and reads the system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSleeper;

impl Sleeper for RealSleeper {
    fn sleep(&self, delay: Duration) {
        std::thread::sleep(delay);
    }
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Records each requested delay without sleeping. Its clock starts at a
/// given instant and moves forward only by the recorded delays, so
/// timestamps are deterministic.
#[derive(Debug)]
pub struct RecordingSleeper {
    start: DateTime<Utc>,
    delays: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    /// A recorder whose clock starts at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        RecordingSleeper {
            start,
            delays: Mutex::new(Vec::new()),
        }
    }

    /// The delays requested so far, in order.
    pub fn delays(&self) -> Vec<Duration> {
        match self.delays.lock() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, delay: Duration) {
        match self.delays.lock() {
            Ok(mut d) => d.push(delay),
            Err(poisoned) => poisoned.into_inner().push(delay),
        }
    }
    fn now(&self) -> DateTime<Utc> {
        let total: Duration = self.delays().iter().sum();
        self.start + chrono::Duration::from_std(total).unwrap_or(chrono::Duration::zero())
    }
}

/// `JitterStrategy` of a retrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    None,
    Full,
}

/// One compiled retrier.
#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

impl Retrier {
    pub(crate) fn matches(&self, error: &str) -> bool {
        self.error_equals.iter().any(|p| error_matches(p, error))
    }

    /// The delay before retry number `attempt` (0-based):
    /// `IntervalSeconds * BackoffRate^attempt`, capped by `MaxDelaySeconds`,
    /// then drawn uniformly from `[0, delay]` under `"FULL"` jitter.
    pub(crate) fn delay(&self, attempt: u64) -> Duration {
        let exp = i32::try_from(attempt).unwrap_or(i32::MAX);
        let mut secs = self.interval_seconds as f64 * self.backoff_rate.powi(exp);
        if let Some(max) = self.max_delay_seconds {
            secs = secs.min(max as f64);
        }
        if !secs.is_finite() || secs > 1.0e9 {
            secs = 1.0e9;
        }
        if self.jitter == Jitter::Full {
            let unit = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
            secs *= unit;
        }
        Duration::from_secs_f64(secs)
    }

    pub(crate) fn compile(v: &Value) -> Result<Retrier, String> {
        let Value::Object(m) = v else {
            return Err("a retrier must be an object".into());
        };
        let mut r = Retrier {
            error_equals: Vec::new(),
            interval_seconds: 1,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: None,
            jitter: Jitter::None,
        };
        let positive_int = |k: &str, v: &Value, min: u64| -> Result<u64, String> {
            v.as_u64()
                .filter(|n| *n >= min && *n <= 99_999_999)
                .ok_or_else(|| {
                    format!("retrier field \"{k}\" must be an integer from {min} to 99999999")
                })
        };
        for (k, v) in m {
            match k.as_str() {
                "ErrorEquals" => r.error_equals = error_equals(v)?,
                "IntervalSeconds" => r.interval_seconds = positive_int(k, v, 1)?,
                "MaxAttempts" => r.max_attempts = positive_int(k, v, 0)?,
                "MaxDelaySeconds" => r.max_delay_seconds = Some(positive_int(k, v, 1)?),
                "BackoffRate" => {
                    r.backoff_rate = v
                        .as_f64()
                        .filter(|b| *b >= 1.0)
                        .ok_or("retrier field \"BackoffRate\" must be a number of at least 1.0")?;
                }
                "JitterStrategy" => {
                    r.jitter = match v.as_str() {
                        Some("FULL") => Jitter::Full,
                        Some("NONE") => Jitter::None,
                        _ => {
                            return Err(
                                "retrier field \"JitterStrategy\" must be \"FULL\" or \"NONE\""
                                    .into(),
                            );
                        }
                    }
                }
                "Comment" => {}
                other => return Err(format!("unsupported field \"{other}\" in retrier")),
            }
        }
        if r.error_equals.is_empty() {
            return Err("a retrier needs \"ErrorEquals\"".into());
        }
        Ok(r)
    }
}

/// One compiled catcher.
#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    /// `None` means `"ResultPath": null` (keep the input, drop the error).
    pub result_path: Option<Path>,
}

impl Catcher {
    pub(crate) fn matches(&self, error: &str) -> bool {
        self.error_equals.iter().any(|p| error_matches(p, error))
    }

    pub(crate) fn compile(v: &Value) -> Result<Catcher, String> {
        let Value::Object(m) = v else {
            return Err("a catcher must be an object".into());
        };
        let mut error_eq = Vec::new();
        let mut next = None;
        let mut result_path = Some(crate::definition::root_path());
        for (k, v) in m {
            match k.as_str() {
                "ErrorEquals" => error_eq = error_equals(v)?,
                "Next" => {
                    next = Some(
                        v.as_str()
                            .ok_or("catcher field \"Next\" must be a string")?
                            .to_owned(),
                    )
                }
                "ResultPath" => result_path = crate::definition::result_path(v)?,
                "Comment" => {}
                other => return Err(format!("unsupported field \"{other}\" in catcher")),
            }
        }
        if error_eq.is_empty() {
            return Err("a catcher needs \"ErrorEquals\"".into());
        }
        let next = next.ok_or("a catcher needs \"Next\"")?;
        Ok(Catcher {
            error_equals: error_eq,
            next,
            result_path,
        })
    }
}

fn error_equals(v: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = v else {
        return Err("\"ErrorEquals\" must be a non-empty array of strings".into());
    };
    let names: Vec<String> = items
        .iter()
        .map(|i| i.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or("\"ErrorEquals\" must be a non-empty array of strings")?;
    if names.is_empty() {
        return Err("\"ErrorEquals\" must be a non-empty array of strings".into());
    }
    if names.len() > 1 && names.iter().any(|n| n == STATES_ALL) {
        return Err("\"States.ALL\" must appear alone in \"ErrorEquals\"".into());
    }
    Ok(names)
}
