//! The stacks `tally deploy` makes, and where each stands.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;

use super::{Clients, RegionClients, sdk_error};

/// One stack `tally deploy` makes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stack {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// CloudFormation's status (`CREATE_COMPLETE`…); `None`: not deployed.
    pub status: Option<String>,
    /// Why, when CloudFormation says (a failed update's reason).
    pub reason: Option<String>,
    /// When it was last created or updated (RFC 3339).
    pub updated: Option<String>,
    /// Its outputs.
    pub outputs: BTreeMap<String, String>,
}

/// The stacks of the home region: the pipeline, its artifacts and the log producers.
pub(crate) fn home_stacks(prefix: &str) -> Vec<String> {
    ["", "-artifacts", "-realtime-logs", "-standard-logs"]
        .iter()
        .map(|suffix| format!("{prefix}{suffix}"))
        .collect()
}

/// The stacks of us-east-1: the edge function, its artifacts and the site.
pub(crate) fn edge_stacks(prefix: &str) -> Vec<String> {
    ["-artifacts", "-edge", "-site"]
        .iter()
        .map(|suffix| format!("{prefix}{suffix}"))
        .collect()
}

/// Whether a stack status means the last change failed (the stack may still serve its old
/// version: `UPDATE_ROLLBACK_COMPLETE`).
pub(crate) fn is_failed(status: &str) -> bool {
    status.ends_with("_FAILED") || status.contains("ROLLBACK")
}

/// Every stack of `prefix`, deployed or not, home region first.
pub(crate) async fn read(clients: &Clients, prefix: &str) -> anyhow::Result<Vec<Stack>> {
    let mut out = Vec::new();
    match &clients.edge {
        Some(edge) => {
            out.extend(in_region(&clients.home, &home_stacks(prefix)).await?);
            out.extend(in_region(edge, &edge_stacks(prefix)).await?);
        }
        None => {
            let mut names = home_stacks(prefix);
            names.extend(
                edge_stacks(prefix)
                    .into_iter()
                    .filter(|n| !n.ends_with("-artifacts")),
            );
            out.extend(in_region(&clients.home, &names).await?);
        }
    }
    Ok(out)
}

/// The stacks named `names` in one region, in that order.
async fn in_region(region: &RegionClients, names: &[String]) -> anyhow::Result<Vec<Stack>> {
    let mut found = BTreeMap::new();
    let mut pages = region.cfn.describe_stacks().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(sdk_error)
            .with_context(|| format!("cannot list the stacks of {}", region.region))?;
        for stack in page.stacks.unwrap_or_default() {
            let name = stack.stack_name.clone().unwrap_or_default();
            if names.contains(&name) {
                found.insert(name, stack);
            }
        }
    }
    Ok(names
        .iter()
        .map(|name| {
            let stack = found.remove(name);
            let stack = stack.as_ref();
            Stack {
                name: name.clone(),
                region: region.region.clone(),
                status: stack
                    .and_then(|s| s.stack_status.as_ref())
                    .map(|s| s.as_str().to_owned()),
                reason: stack.and_then(|s| s.stack_status_reason.clone()),
                updated: stack
                    .and_then(|s| s.last_updated_time.or(s.creation_time))
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
                outputs: stack
                    .and_then(|s| s.outputs.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|o| Some((o.output_key.clone()?, o.output_value.clone()?)))
                    .collect(),
            }
        })
        .collect())
}
