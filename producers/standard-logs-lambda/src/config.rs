//! The function's configuration, from its environment.

use tally_lambda_sink::{SinkConfig, SinkConfigError};
use tally_logs::ImportConfig;

/// The objects' format: `auto` (the default: a first line starting `{` is v2 JSON, anything
/// else W3C), `standard` (W3C, legacy or v2) or `v2-json`.
pub const FORMAT_VAR: &str = "TALLY_LOG_FORMAT";

/// Which format objects are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// Detected per object from its first line.
    Auto,
    /// W3C: `#Version` and `#Fields` headers, tab-separated lines.
    Standard,
    /// Standard logging v2's JSON output: one object a line.
    V2Json,
}

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `TALLY_LOG_FORMAT` is not one of the three.
    #[error("{FORMAT_VAR}: {0:?} is not auto, standard or v2-json")]
    Format(String),
    /// Where views and failures go (`TALLY_STATE_MACHINE_ARN`, `TALLY_FAILURE_QUEUE_URL`,
    /// `TALLY_SITE`, `TALLY_CONCURRENCY`).
    #[error(transparent)]
    Sink(#[from] SinkConfigError),
}

/// Everything the handler needs to know.
#[derive(Debug, Clone)]
pub struct StandardConfig {
    /// The objects' format.
    pub format: FormatChoice,
    /// How lines become views (the site, or each line's `x-host-header`).
    pub import: ImportConfig,
    /// Where views and failures go.
    pub sink: SinkConfig,
}

impl StandardConfig {
    /// From `var` (the process environment in the Lambda: [`StandardConfig::from_env`]).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let format = match var(FORMAT_VAR).as_deref() {
            None | Some("" | "auto") => FormatChoice::Auto,
            Some("standard") => FormatChoice::Standard,
            Some("v2-json") => FormatChoice::V2Json,
            Some(other) => return Err(ConfigError::Format(other.to_owned())),
        };
        let sink = SinkConfig::from_vars(&var)?;
        Ok(StandardConfig {
            format,
            import: ImportConfig::new(sink.site.clone())
                .minimised(sink.minimise.clone())
                .keyed(sink.event_id_key.clone()),
            sink,
        })
    }

    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        StandardConfig::from_vars(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(format: Option<&'static str>) -> Result<StandardConfig, ConfigError> {
        StandardConfig::from_vars(|name| match name {
            "TALLY_STATE_MACHINE_ARN" => Some("arn:aws:states:us-east-1:1:stateMachine:e".into()),
            "TALLY_FAILURE_QUEUE_URL" => Some("https://sqs.us-east-1.amazonaws.com/1/f".into()),
            FORMAT_VAR => format.map(str::to_owned),
            _ => None,
        })
    }

    #[test]
    fn the_format_is_auto_unless_named() {
        assert_eq!(config(None).expect("valid").format, FormatChoice::Auto);
        assert_eq!(
            config(Some("v2-json")).expect("valid").format,
            FormatChoice::V2Json
        );
        assert_eq!(
            config(Some("parquet")).expect_err("invalid").to_string(),
            "TALLY_LOG_FORMAT: \"parquet\" is not auto, standard or v2-json"
        );
    }
}
