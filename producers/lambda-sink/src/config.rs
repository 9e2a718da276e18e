//! The environment every producer Lambda reads: where views and failures go, and the site.

use tally_edge::config::MIN_SECRET_BYTES;
use tally_edge::config::is_site_host;
use tally_edge::{Detail, Minimise, Secret, TimePrecision};

/// The Express enrichment state machine's ARN.
pub const STATE_MACHINE_VAR: &str = "TALLY_STATE_MACHINE_ARN";
/// The SQS queue permanent failures go to.
pub const FAILURE_QUEUE_VAR: &str = "TALLY_FAILURE_QUEUE_URL";
/// The site every view names (default: each record's host).
pub const SITE_VAR: &str = "TALLY_SITE";
/// How many executions are started at once (default 32).
pub const CONCURRENCY_VAR: &str = "TALLY_CONCURRENCY";
/// Viewer details left out of every view, comma-separated (`city,region,timezone,language`).
pub const DROP_VAR: &str = "TALLY_DROP";
/// The precision of every view's time (`millisecond`, the default, `second`, `minute`, `hour`).
pub const TIME_PRECISION_VAR: &str = "TALLY_TIME_PRECISION";
/// The salts table (the pipeline stack's `SaltsTableName`): the visitor hash of every view, by
/// daily salts ([`crate::salts`]). Unset or empty: no visitor hash.
pub const SALTS_TABLE_VAR: &str = "TALLY_SALTS_TABLE";
/// The deployment's event-id key (at least 32 bytes): every view's `event_id` is the keyed hash
/// of its request id, as the edge and `tally import` make it. Unset or empty: the request id.
pub const EVENT_ID_KEY_VAR: &str = "TALLY_EVENT_ID_KEY";

/// A variable missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum SinkConfigError {
    /// A required variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable's value is not valid.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
}

/// Where a producer Lambda sends what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// The enrichment state machine.
    pub state_machine_arn: String,
    /// Where permanent failures go.
    pub failure_queue_url: String,
    /// The site every view names, when set.
    pub site: Option<String>,
    /// Executions started at once.
    pub concurrency: usize,
    /// What every view leaves out or coarsens.
    pub minimise: Minimise,
    /// The key of every view's event id, when set.
    pub event_id_key: Option<Secret>,
    /// The salts table, when set.
    pub salts_table: Option<String>,
}

impl SinkConfig {
    /// From `var` (the process environment in a Lambda).
    pub fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<Self, SinkConfigError> {
        let need = |name: &'static str| var(name).ok_or(SinkConfigError::Missing(name));
        let site = var(SITE_VAR).filter(|s| !s.is_empty());
        if let Some(site) = &site
            && !is_site_host(site)
        {
            return Err(SinkConfigError::Invalid(
                SITE_VAR,
                format!("not a lower-case host name: {site:?}"),
            ));
        }
        let concurrency = match var(CONCURRENCY_VAR) {
            None => 32,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    SinkConfigError::Invalid(CONCURRENCY_VAR, format!("{n:?} is not 1-1000"))
                })?,
        };
        Ok(SinkConfig {
            state_machine_arn: need(STATE_MACHINE_VAR)?,
            failure_queue_url: need(FAILURE_QUEUE_VAR)?,
            site,
            concurrency,
            minimise: minimise_from_vars(var)?,
            event_id_key: event_id_key_from_vars(var)?,
            salts_table: var(SALTS_TABLE_VAR).filter(|t| !t.is_empty()),
        })
    }
}

/// [`EVENT_ID_KEY_VAR`]: unset or empty is none, shorter than [`MIN_SECRET_BYTES`] an error.
fn event_id_key_from_vars(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, SinkConfigError> {
    match var(EVENT_ID_KEY_VAR).filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(k) if k.len() < MIN_SECRET_BYTES => Err(SinkConfigError::Invalid(
            EVENT_ID_KEY_VAR,
            format!("shorter than {MIN_SECRET_BYTES} bytes"),
        )),
        Some(k) => Ok(Some(Secret(k))),
    }
}

/// [`DROP_VAR`] and [`TIME_PRECISION_VAR`]; unset or empty: everything kept, to the millisecond.
fn minimise_from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<Minimise, SinkConfigError> {
    let invalid = |name| {
        move |e: tally_edge::minimise::ParseError| SinkConfigError::Invalid(name, e.to_string())
    };
    let drop = var(DROP_VAR)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<Detail>().map_err(invalid(DROP_VAR)))
        .collect::<Result<Vec<_>, _>>()?;
    let time_precision = match var(TIME_PRECISION_VAR).filter(|p| !p.is_empty()) {
        None => TimePrecision::default(),
        Some(p) => p.parse().map_err(invalid(TIME_PRECISION_VAR))?,
    };
    Ok(Minimise {
        drop,
        time_precision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimisation_comes_from_two_variables() {
        let with = |drop: &'static str, precision: &'static str| {
            SinkConfig::from_vars(&move |name: &str| match name {
                STATE_MACHINE_VAR => Some("arn:aws:states:us-east-1:1:stateMachine:e".into()),
                FAILURE_QUEUE_VAR => Some("https://sqs.us-east-1.amazonaws.com/1/f".into()),
                DROP_VAR => Some(drop.into()),
                TIME_PRECISION_VAR => Some(precision.into()),
                _ => None,
            })
        };
        let m = with("city, language", "minute").expect("valid").minimise;
        assert_eq!(m.drop, vec![Detail::City, Detail::Language]);
        assert_eq!(m.time_precision, TimePrecision::Minute);
        assert_eq!(with("", "").expect("valid").minimise, Minimise::default());
        let err = with("city,ip", "").expect_err("ip").to_string();
        assert_eq!(
            err,
            "TALLY_DROP: \"ip\" is not one of city, region, timezone, language"
        );
        let err = with("", "day").expect_err("day").to_string();
        assert_eq!(
            err,
            "TALLY_TIME_PRECISION: \"day\" is not one of millisecond, second, minute, hour"
        );
    }

    #[test]
    fn each_problem_is_named() {
        let vars = |extra: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                [
                    (
                        STATE_MACHINE_VAR,
                        "arn:aws:states:us-east-1:1:stateMachine:e",
                    ),
                    (FAILURE_QUEUE_VAR, "https://sqs.us-east-1.amazonaws.com/1/f"),
                ]
                .iter()
                .chain(extra)
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
            }
        };
        let ok = SinkConfig::from_vars(&vars(&[])).expect("valid");
        assert_eq!((ok.concurrency, ok.site), (32, None));
        let err = |extra| {
            SinkConfig::from_vars(&vars(extra))
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            err(&[(SITE_VAR, "Example.COM")]),
            "TALLY_SITE: not a lower-case host name: \"Example.COM\""
        );
        assert_eq!(
            err(&[(CONCURRENCY_VAR, "0")]),
            "TALLY_CONCURRENCY: \"0\" is not 1-1000"
        );
        assert_eq!(
            err(&[(EVENT_ID_KEY_VAR, "short")]),
            "TALLY_EVENT_ID_KEY: shorter than 32 bytes"
        );
        const KEY: &[(&str, &str)] = &[(EVENT_ID_KEY_VAR, "0123456789abcdef0123456789abcdef")];
        let key = KEY[0].1;
        let keyed = SinkConfig::from_vars(&vars(KEY)).expect("valid");
        assert_eq!(keyed.event_id_key, Some(Secret(key.into())));
        assert_eq!(ok.event_id_key, None);
        let missing = SinkConfig::from_vars(&|name: &str| {
            (name == STATE_MACHINE_VAR).then(|| "arn".to_owned())
        });
        assert_eq!(
            missing.expect_err("missing").to_string(),
            "TALLY_FAILURE_QUEUE_URL is not set"
        );
    }
}
