//! The day's visitor salt at the edge: the home region's salts table (`salts_table` in the
//! configuration), through the log producers' own reader (`tally_lambda_sink::salts`), so every
//! producer of a deployment hashes a day's visitors with the same salt, made by whichever needs it
//! first and deleted after two days.
//!
//! A container reads the salts once a day (two items, yesterday's and today's, made when
//! missing): the first page view of the day in each container waits for that read, bounded by
//! the configured total timeout, on top of its `StartExecution`. A read that fails leaves the
//! view without a visitor hash, logged; the view is still sent.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_smithy_types::retry::RetryConfig;
use chrono::{DateTime, Utc};
use tally_edge::EdgeConfig;
use tally_lambda_sink::salts::SaltStore;
use tally_lambda_sink::salts::dynamo::DynamoSalts;

use crate::sink::{SinkError, http_client, lambda_credentials, region, timeouts};

/// The salts table's reader, with its cache.
#[derive(Debug)]
pub struct EdgeSalts {
    salts: DynamoSalts,
}

impl EdgeSalts {
    /// The reader of the configured salts table, when the visitor hash is on and has one; makes
    /// no call.
    pub fn new(
        config: &EdgeConfig,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Option<EdgeSalts>, SinkError> {
        let Some(table) = config.salts_table.clone().filter(|_| config.visitor_hash) else {
            return Ok(None);
        };
        let mut builder = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region(config)))
            .credentials_provider(lambda_credentials()?)
            .timeout_config(timeouts(config))
            .retry_config(RetryConfig::disabled())
            .http_client(http_client());
        if let Some(endpoint) = &config.endpoint_url {
            builder = builder.endpoint_url(endpoint);
        }
        let client = {
            let _guard = runtime.enter();
            aws_sdk_dynamodb::Client::from_conf(builder.build())
        };
        Ok(Some(EdgeSalts {
            salts: DynamoSalts::new(client, table),
        }))
    }

    /// The salt of `now`'s day, within `budget`.
    pub fn salt(
        &self,
        runtime: &tokio::runtime::Runtime,
        budget: Duration,
        now: DateTime<Utc>,
    ) -> Result<Arc<str>, SinkError> {
        let read = async { tokio::time::timeout(budget, self.salts.day_salts(now)).await };
        match runtime.block_on(read) {
            Ok(Ok(salts)) => salts
                .salt_of(now)
                .ok_or_else(|| SinkError::Call("the salts table has no salt for today".into())),
            Ok(Err(e)) => Err(SinkError::Call(e.to_string())),
            Err(_) => Err(SinkError::Timeout(format!(
                "the day's salt was not read in {} ms",
                budget.as_millis()
            ))),
        }
    }
}
