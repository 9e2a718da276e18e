//! The function's configuration, from its environment.

use tally_lambda_sink::{SITE_VAR, SinkConfig, SinkConfigError};
use tally_logs::{FieldListError, ImportConfig, RealtimeFields};

/// The real-time log configuration's fields, comma-separated, in its order.
pub const FIELDS_VAR: &str = "TALLY_REALTIME_FIELDS";

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The field list is not set.
    #[error("{FIELDS_VAR} is not set")]
    NoFields,
    /// The field list is unusable.
    #[error("{FIELDS_VAR}: {0}")]
    Fields(#[from] FieldListError),
    /// The field list cannot name a view's site.
    #[error("{FIELDS_VAR}: no cs-host field and no {SITE_VAR}: no view could name its site")]
    NoSite,
    /// Where views and failures go (`TALLY_STATE_MACHINE_ARN`, `TALLY_FAILURE_QUEUE_URL`,
    /// `TALLY_SITE`, `TALLY_CONCURRENCY`).
    #[error(transparent)]
    Sink(#[from] SinkConfigError),
}

/// Everything the handler needs to know.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// How records are read.
    pub fields: RealtimeFields,
    /// How records become views (the edge's settings; the site, or each record's `cs-host`).
    pub import: ImportConfig,
    /// Where views and failures go.
    pub sink: SinkConfig,
}

impl RealtimeConfig {
    /// From `var` (the process environment in the Lambda: [`RealtimeConfig::from_env`]).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let fields = RealtimeFields::parse(&var(FIELDS_VAR).ok_or(ConfigError::NoFields)?)?;
        let sink = SinkConfig::from_vars(&var)?;
        if sink.site.is_none() && !fields.has(tally_logs::Field::Host) {
            return Err(ConfigError::NoSite);
        }
        Ok(RealtimeConfig {
            fields,
            import: ImportConfig::new(sink.site.clone())
                .minimised(sink.minimise.clone())
                .keyed(sink.event_id_key.clone()),
            sink,
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
    use tally_lambda_sink::{CONCURRENCY_VAR, FAILURE_QUEUE_VAR, STATE_MACHINE_VAR};

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
        assert_eq!(ok.sink.concurrency, 32);
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
