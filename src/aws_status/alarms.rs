//! The alarms of the stacks (CloudFormation names them `STACK-LOGICALID-SUFFIX`, and every
//! stack's name starts with the prefix).

use anyhow::Context;
use serde::Serialize;

use super::{RegionClients, sdk_error};

/// One alarm named `PREFIX-…`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// CloudWatch's reason for the state.
    pub reason: String,
    /// What it watches (the template's description).
    pub description: String,
}

/// The metric alarms named `PREFIX-…` in `region`.
pub(crate) async fn read(region: &RegionClients, prefix: &str) -> anyhow::Result<Vec<Alarm>> {
    let mut out = Vec::new();
    let mut pages = region
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{prefix}-"))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(sdk_error)
            .with_context(|| format!("cannot list the alarms of {}", region.region))?;
        for alarm in page.metric_alarms.unwrap_or_default() {
            out.push(Alarm {
                name: alarm.alarm_name.unwrap_or_default(),
                region: region.region.clone(),
                state: alarm
                    .state_value
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: alarm.state_reason.unwrap_or_default(),
                description: alarm.alarm_description.unwrap_or_default(),
            });
        }
    }
    Ok(out)
}
