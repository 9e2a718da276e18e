//! The function's configuration, from its environment.

use tally_edge::config::is_site_host;
use tally_logs::{FieldListError, ImportConfig, RealtimeFields};

/// The real-time log configuration's fields, comma-separated, in its order.
pub const FIELDS_VAR: &str = "TALLY_REALTIME_FIELDS";
/// The Express enrichment state machine's ARN.
pub const STATE_MACHINE_VAR: &str = "TALLY_STATE_MACHINE_ARN";
/// The SQS queue permanent failures go to.
pub const FAILURE_QUEUE_VAR: &str = "TALLY_FAILURE_QUEUE_URL";
/// The site every view names (default: each record's `cs-host`).
pub const SITE_VAR: &str = "TALLY_SITE";
/// How many executions are started at once (default 32).
pub const CONCURRENCY_VAR: &str = "TALLY_CONCURRENCY";

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// The field list is unusable.
    #[error("{FIELDS_VAR}: {0}")]
    Fields(#[from] FieldListError),
    /// A variable's value is not valid.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
}

/// Everything the handler needs to know.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// How records are read.
    pub fields: RealtimeFields,
    /// How records become views (the edge's settings; the site, or each record's `cs-host`).
    pub import: ImportConfig,
    /// The enrichment state machine.
    pub state_machine_arn: String,
    /// Where permanent failures go.
    pub failure_queue_url: String,
    /// Executions started at once.
    pub concurrency: usize,
}

impl RealtimeConfig {
    /// From `var` (the process environment in the Lambda: [`RealtimeConfig::from_env`]).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let need = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));
        let fields = RealtimeFields::parse(&need(FIELDS_VAR)?)?;
        let site = var(SITE_VAR).filter(|s| !s.is_empty());
        if let Some(site) = &site
            && !is_site_host(site)
        {
            return Err(ConfigError::Invalid(
                SITE_VAR,
                format!("not a lower-case host name: {site:?}"),
            ));
        }
        if site.is_none() && !fields.has(tally_logs::Field::Host) {
            return Err(ConfigError::Invalid(
                FIELDS_VAR,
                format!("no cs-host field and no {SITE_VAR}: no view could name its site"),
            ));
        }
        let concurrency = match var(CONCURRENCY_VAR) {
            None => 32,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ConfigError::Invalid(CONCURRENCY_VAR, format!("{n:?} is not 1-1000"))
                })?,
        };
        Ok(RealtimeConfig {
            fields,
            import: ImportConfig::new(site),
            state_machine_arn: need(STATE_MACHINE_VAR)?,
            failure_queue_url: need(FAILURE_QUEUE_VAR)?,
            concurrency,
        })
    }

    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        RealtimeConfig::from_vars(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<RealtimeConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RealtimeConfig::from_vars(|name| vars.get(name).cloned())
    }

    const FIELDS: &str = "timestamp,sc-status,cs-method,cs-host,cs-uri-stem,x-edge-request-id";

    #[test]
    fn every_problem_is_named() {
        let base = [
            (FIELDS_VAR, FIELDS),
            (
                STATE_MACHINE_VAR,
                "arn:aws:states:us-east-1:123456789012:stateMachine:e",
            ),
            (
                FAILURE_QUEUE_VAR,
                "https://sqs.us-east-1.amazonaws.com/123456789012/f",
            ),
        ];
        let ok = config(&base).expect("valid");
        assert_eq!(ok.concurrency, 32);
        assert_eq!(ok.fields.names().len(), 6);
        let err = |vars: &[(&str, &str)]| config(vars).expect_err("an error").to_string();
        assert_eq!(err(&base[1..]), "TALLY_REALTIME_FIELDS is not set");
        assert_eq!(err(&base[..2]), "TALLY_FAILURE_QUEUE_URL is not set");
        let mut bad = base.to_vec();
        bad[0] = (
            FIELDS_VAR,
            "timestamp,sc-status,cs-method,cs-uri-stem,x-edge-request-id",
        );
        assert_eq!(
            err(&bad),
            "TALLY_REALTIME_FIELDS: no cs-host field and no TALLY_SITE: no view could name its site"
        );
        bad.push((SITE_VAR, "www.example.com"));
        assert!(
            config(&bad).is_ok(),
            "a configured site stands in for cs-host"
        );
        bad.push((CONCURRENCY_VAR, "0"));
        assert_eq!(err(&bad), "TALLY_CONCURRENCY: \"0\" is not 1-1000");
        let mut fields = base.to_vec();
        fields[0] = (FIELDS_VAR, "timestamp");
        assert!(err(&fields).starts_with("TALLY_REALTIME_FIELDS: the real-time field list lacks"));
    }
}
